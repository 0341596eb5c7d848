//! `k3s_server`: K3s running as a server on one host: OS preparation, `config.yaml`,
//! `registries.yaml`, the token, the service; outputs the API endpoint, the observed join token
//! and the kubeconfig parts, and reads all of it back for drift.

use super::shared::{self, not_implemented};
use crate::runtime::cty::{Type, Value};
use crate::runtime::schema::{Attribute, Block, NestedBlock, Schema};
use crate::runtime::{Context, Diagnostics, Resource};
use async_trait::async_trait;

/// The `k3s_server` resource type.
pub struct K3sServer;

/// Attributes and blocks `k3s_server` and `k3s_agent` share: where the host is, how to reach
/// it, what to install and how the node is set up.
pub fn node_block(description: &str) -> Block {
    Block::new(description)
        .attribute(Attribute::computed("id", Type::String).stable().describe("`ssh://user@host:port` of the node."))
        .attribute(Attribute::optional("host", Type::String).validate(shared::host()).requires_replace().describe("Address of the host, reachable over SSH. Set this or `oci_instance_id`."))
        .attribute(
            Attribute::optional("oci_instance_id", Type::String)
                .validate(shared::ocid(&["instance"]))
                .requires_replace()
                .describe("OCI instance whose address the provider looks up (a terminated instance reads as gone). Set this or `host`."),
        )
        .attribute(Attribute::optional("oci_profile", Type::String).describe("Which provider `oci_profile` resolves `oci_instance_id`. Defaults to the first."))
        .attribute(Attribute::optional("oci_address", Type::String).default(Value::string("private")).validate(shared::oci_address_kind()).describe("Which address of the OCI instance to connect to: `private` or `public`."))
        .attribute(Attribute::required("version", Type::String).validate(shared::k3s_version()).describe("The K3s release, pinned: `vX.Y.Z+k3sN`. Raising it upgrades in place; lowering it is refused."))
        .attribute(Attribute::optional("config", Type::Dynamic).describe("Settings for `/etc/rancher/k3s/config.yaml` (mode 0600), as an object: `{ \"tls-san\" = [\"k3s.example.com\"], disable = [\"traefik\"] }`."))
        .attribute(Attribute::optional("node_labels", Type::map(Type::String)).describe("Labels the node registers with."))
        .attribute(Attribute::optional("node_taints", Type::list(Type::String)).describe("Taints the node registers with, as `key=value:Effect`."))
        .attribute(Attribute::optional("os_prep", Type::Bool).default(Value::Bool(true)).describe("Enable IP forwarding, bridge sysctls and kernel modules before installing."))
        .attribute(Attribute::optional("open_firewall", Type::Bool).default(Value::Bool(true)).describe("Insert ACCEPT rules for the K3s ports before the REJECT rule of OCI Ubuntu images' `/etc/iptables/rules.v4`, and persist them."))
        .attribute(Attribute::optional("installer_url", Type::String).validate(shared::http_url()).describe("Where to fetch the install script. Defaults to the provider's `installer_url`."))
        .attribute(Attribute::optional("airgap_binary", Type::String).describe("Path of a K3s binary on this machine to upload instead of downloading one."))
        .attribute(Attribute::optional("airgap_binary_sha256", Type::String).describe("SHA-256 of `airgap_binary`; the upload is refused when it differs."))
        .attribute(Attribute::optional("orphan_on_destroy", Type::Bool).default(Value::Bool(false)).describe("On destroy, forget the node without draining or uninstalling it."))
        .attribute(Attribute::optional("drain_timeout", Type::String).default(Value::string("5m")).validate(shared::duration()).describe("How long draining the node may take on destroy."))
        .attribute(Attribute::computed("installed_version", Type::String).describe("The K3s version found on the host."))
        .attribute(Attribute::computed("service_active", Type::Bool).describe("Whether the K3s service is active."))
        .attribute(Attribute::computed("node_ready", Type::Bool).describe("Whether the node is Ready according to the Kubernetes API."))
        .attribute(Attribute::computed("config_sha256", Type::String).describe("SHA-256 of `config.yaml` on the host."))
        .attribute(Attribute::computed("registries_sha256", Type::String).describe("SHA-256 of `registries.yaml` on the host."))
        .attribute(Attribute::computed("env_sha256", Type::String).describe("SHA-256 of the service's env file on the host."))
        .block(shared::ssh_block())
        .block(registry_mirror_block())
        .block(registry_auth_block())
        .block(shared::timeouts_block())
}

fn registry_mirror_block() -> NestedBlock {
    NestedBlock::list(
        "registry_mirror",
        Block::new("A registry mirror in `registries.yaml`, for example a Zot registry in front of `docker.io`.")
            .attribute(Attribute::required("registry", Type::String).describe("The registry mirrored, e.g. `docker.io`."))
            .attribute(Attribute::required("endpoints", Type::list(Type::String)).describe("Mirror endpoints, tried in order."))
            .attribute(Attribute::optional("rewrites", Type::map(Type::String)).describe("Repository rewrites (regular expression to replacement).")),
    )
}

fn registry_auth_block() -> NestedBlock {
    NestedBlock::list(
        "registry_auth",
        Block::new("Credentials and TLS settings for a registry in `registries.yaml`.")
            .attribute(
                Attribute::required("registry", Type::String)
                    .describe("Registry host, e.g. `zot.example.com:5000`."),
            )
            .attribute(Attribute::optional("username", Type::String).describe("User name."))
            .attribute(
                Attribute::optional("password", Type::String)
                    .sensitive()
                    .describe("Password."),
            )
            .attribute(
                Attribute::optional("insecure_skip_verify", Type::Bool)
                    .describe("Skip TLS verification of the registry."),
            )
            .attribute(
                Attribute::optional("ca_file", Type::String)
                    .describe("CA bundle on the node for the registry's certificate."),
            ),
    )
}

#[async_trait]
impl Resource for K3sServer {
    fn type_name(&self) -> &'static str {
        "k3s_server"
    }

    fn schema(&self) -> Schema {
        let block = node_block("A K3s server on one host, installed and read back over SSH.")
            .attribute(Attribute::optional("cluster_init", Type::Bool).default(Value::Bool(false)).requires_replace().describe("Start a new cluster with embedded etcd (`cluster-init`)."))
            .attribute(Attribute::optional("server_url", Type::String).validate(shared::http_url()).requires_replace().describe("Join the cluster of this server (`https://host:6443`) instead of starting one."))
            .attribute(Attribute::optional("token", Type::String).sensitive().requires_replace().describe("Join token to start the cluster with (or to join `server_url`). Generated when omitted."))
            .attribute(Attribute::optional_computed("api_endpoint", Type::String).validate(shared::http_url()).describe("The API server URL written into the kubeconfig, e.g. a load balancer's. Defaults to `https://<host>:6443`."))
            .attribute(Attribute::computed("join_token", Type::String).sensitive().describe("The token agents and servers join with, as read from the server (`K10…` form)."))
            .attribute(Attribute::computed("kubeconfig", Type::String).sensitive().describe("A kubeconfig for the cluster pointing at `api_endpoint`."))
            .attribute(Attribute::computed("cluster_ca_certificate", Type::String).describe("The cluster's CA certificate (PEM)."))
            .attribute(Attribute::computed("client_certificate", Type::String).sensitive().describe("The admin client certificate (PEM)."))
            .attribute(Attribute::computed("client_key", Type::String).sensitive().describe("The admin client key (PEM)."));
        Schema::new(block)
    }

    async fn validate(&self, config: &Value, diagnostics: &mut Diagnostics) {
        shared::require_host_or_instance(config, diagnostics);
    }

    async fn create(&self, _ctx: &Context, _planned: &Value) -> Result<Value, Diagnostics> {
        Err(not_implemented(self.type_name(), "create"))
    }

    async fn read(&self, _ctx: &Context, current: &Value) -> Result<Option<Value>, Diagnostics> {
        Ok(Some(current.clone()))
    }

    async fn update(
        &self,
        _ctx: &Context,
        _prior: &Value,
        _planned: &Value,
    ) -> Result<Value, Diagnostics> {
        Err(not_implemented(self.type_name(), "update"))
    }

    async fn delete(&self, _ctx: &Context, _prior: &Value) -> Result<(), Diagnostics> {
        Err(not_implemented(self.type_name(), "delete"))
    }
}
