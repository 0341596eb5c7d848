//! `k3s_server`: K3s running as a server on one host: OS preparation, `config.yaml`,
//! `registries.yaml`, the token, the service; outputs the API endpoint, the observed join token
//! and the kubeconfig parts, and reads all of it back for drift.

use super::node;
use super::shared;
use super::ProviderConfig;
use crate::runtime::cty::{Type, Value};
use crate::runtime::schema::{Attribute, Block, NestedBlock, Schema};
use crate::runtime::{Context, Diagnostics, PlanRequest, Resource};
use async_trait::async_trait;
use k3s_sdk::k3s::{self, Role, Service};
use k3s_sdk::ssh::Secret;

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
        .attribute(Attribute::optional("ready_timeout", Type::String).default(Value::string("5m")).validate(shared::duration()).describe("How long the K3s service may take to become active after an install, upgrade or configuration change; past it the apply fails with the service's journal."))
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
            .attribute(Attribute::optional_computed("api_endpoint", Type::String)
                    .stable().validate(shared::http_url()).describe("The API server URL written into the kubeconfig, e.g. a load balancer's. Defaults to `https://<host>:6443`."))
            .attribute(Attribute::computed("join_token", Type::String)
                    .stable().sensitive().describe("The token agents and servers join with, as read from the server (`K10…` form)."))
            .attribute(Attribute::computed("kubeconfig", Type::String).sensitive().describe("A kubeconfig for the cluster pointing at `api_endpoint`."))
            .attribute(Attribute::computed("cluster_ca_certificate", Type::String)
                    .stable().describe("The cluster's CA certificate (PEM)."))
            .attribute(Attribute::computed("client_certificate", Type::String).sensitive().describe("The admin client certificate (PEM)."))
            .attribute(Attribute::computed("client_key", Type::String).sensitive().describe("The admin client key (PEM)."));
        Schema::new(block)
    }

    async fn validate(&self, config: &Value, diagnostics: &mut Diagnostics) {
        shared::require_host_or_instance(config, diagnostics);
    }

    async fn modify_plan(
        &self,
        ctx: &Context,
        request: PlanRequest<'_>,
        _diagnostics: &mut Diagnostics,
    ) {
        if request.planned.is_null()
            || !request.planned.is_wholly_known()
                && request.planned.attr("host").is_some_and(Value::is_unknown)
        {
            return;
        }
        // The token is in config.yaml: the file's hash is known only when the token is (a token
        // generated at create is not known before apply).
        let token = request
            .planned
            .attr("token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| private_token(&ctx.private()));
        let token_known = token.is_some();
        let desired = ctx.provider::<ProviderConfig>().ok().and_then(|p| {
            node::desired(
                request.planned,
                &p,
                role(request.planned),
                Service::Server,
                token.map(Secret::new),
            )
            .ok()
        });
        if let (Some(host), true) = (
            request.planned.attr("host").and_then(Value::as_str),
            request
                .planned
                .attr("api_endpoint")
                .is_some_and(Value::is_unknown),
        ) {
            if request.prior.is_null()
                || request
                    .prior
                    .attr("api_endpoint")
                    .is_some_and(Value::is_null)
            {
                *request.planned = node::with(
                    request.planned,
                    [("api_endpoint", Value::string(default_endpoint(host)))],
                );
            }
        }
        let planned = &mut *request.planned;
        node::plan(
            PlanRequest {
                prior: request.prior,
                config: request.config,
                planned,
                requires_replace: request.requires_replace,
            },
            desired,
            &[],
        );
        // A token generated at create is not known before apply.
        if !token_known && request.prior.is_null() {
            *request.planned = node::with(request.planned, [("config_sha256", Value::unknown())]);
        }
    }

    async fn create(&self, ctx: &Context, planned: &Value) -> Result<Value, Diagnostics> {
        let token = match planned.attr("token").and_then(Value::as_str) {
            Some(token) => token.to_owned(),
            None => generated_token(),
        };
        ctx.set_private(
            serde_json::to_vec(&serde_json::json!({ "token": token })).unwrap_or_default(),
        );
        let (session, observed, id) = node::apply(
            ctx,
            planned,
            role(planned),
            Service::Server,
            Some(Secret::new(token)),
            node::Operation::Create,
        )
        .await?;
        read_back(&session, &observed, planned, &id, Some(node::READY_WAIT)).await
    }

    async fn read(&self, ctx: &Context, current: &Value) -> Result<Option<Value>, Diagnostics> {
        let Some((session, id)) = node::connect_for_read(ctx, current).await? else {
            return Ok(None);
        };
        let observed = node::observe(&session).await?;
        if observed.service != Some(Service::Server) {
            return Ok(None);
        }
        read_back(&session, &observed, current, &id, None)
            .await
            .map(Some)
    }

    async fn update(
        &self,
        ctx: &Context,
        _prior: &Value,
        planned: &Value,
    ) -> Result<Value, Diagnostics> {
        let token = planned
            .attr("token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| private_token(&ctx.private()));
        let (session, observed, id) = node::apply(
            ctx,
            planned,
            role(planned),
            Service::Server,
            token.map(Secret::new),
            node::Operation::Update,
        )
        .await?;
        read_back(&session, &observed, planned, &id, Some(node::READY_WAIT)).await
    }

    async fn delete(&self, ctx: &Context, prior: &Value) -> Result<(), Diagnostics> {
        node::destroy(ctx, prior, Service::Server, node::ClusterApi::OwnServer).await
    }

    /// Imports by `ssh://user@host:port`; the token found on the node is kept in private state,
    /// like a generated one, so `token` stays unset.
    async fn import(&self, ctx: &Context, id: &str) -> Result<Value, Diagnostics> {
        let imported = node::import(ctx, id, &self.schema().block, Service::Server).await?;
        if let Some(token) = &imported.token {
            ctx.set_private(
                serde_json::to_vec(&serde_json::json!({ "token": token })).unwrap_or_default(),
            );
        }
        let endpoint = imported
            .state
            .attr("host")
            .and_then(Value::as_str)
            .map(default_endpoint)
            .map(Value::String)
            .unwrap_or(Value::Null);
        Ok(node::with(&imported.state, [("api_endpoint", endpoint)]))
    }
}

fn role(state: &Value) -> Role {
    Role::Server {
        cluster_init: state
            .attr("cluster_init")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        join: state
            .attr("server_url")
            .and_then(Value::as_str)
            .map(str::to_owned),
    }
}

fn default_endpoint(host: &str) -> String {
    if host.contains(':') {
        format!("https://[{host}]:6443")
    } else {
        format!("https://{host}:6443")
    }
}

fn generated_token() -> String {
    let mut bytes = [0u8; 24];
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn private_token(private: &[u8]) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(private)
        .ok()?
        .get("token")?
        .as_str()
        .map(str::to_owned)
}

/// Reads the server back: the common attributes, the join token, and a kubeconfig for
/// `api_endpoint` built from `k3s.yaml` (parsed, not string-replaced).
async fn read_back(
    session: &k3s_sdk::ssh::Session,
    observed: &k3s::Observed,
    state: &Value,
    id: &str,
    wait: Option<std::time::Duration>,
) -> Result<Value, Diagnostics> {
    let mut value = node::observed_attributes(state, observed, id);
    let endpoint = state
        .attr("api_endpoint")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| {
            default_endpoint(
                &state
                    .attr("host")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or_else(|| node::host_of_id(id))
                    .unwrap_or_else(|| "127.0.0.1".into()),
            )
        });
    let token = session
        .read_file(k3s::SERVER_TOKEN_PATH)
        .await
        .map_err(|e| node::failed("Cannot read the join token", e))?;
    let kubeconfig = session
        .read_file(k3s::KUBECONFIG_PATH)
        .await
        .map_err(|e| node::failed("Cannot read k3s.yaml", e))?;
    let parts = kubeconfig::parse(&kubeconfig, &endpoint)
        .map_err(|e| node::failed("Cannot read k3s.yaml", e))?;
    let ready = node::ready(session, state, observed, Some(k3s::ApiAccess::Local), wait).await;
    value = node::with(
        &value,
        [
            ("api_endpoint", Value::string(endpoint)),
            (
                "join_token",
                Value::string(String::from_utf8_lossy(&token).trim()),
            ),
            ("kubeconfig", Value::string(parts.kubeconfig)),
            ("cluster_ca_certificate", Value::string(parts.ca)),
            (
                "client_certificate",
                Value::string(parts.client_certificate),
            ),
            ("client_key", Value::string(parts.client_key)),
            ("node_ready", ready.map(Value::Bool).unwrap_or(Value::Null)),
        ],
    );
    Ok(value)
}

/// Rewrites K3s's admin kubeconfig for another API endpoint.
mod kubeconfig {
    use base64::Engine;
    use serde_json::Value as J;

    pub struct Parts {
        pub kubeconfig: String,
        pub ca: String,
        pub client_certificate: String,
        pub client_key: String,
    }

    pub fn parse(yaml: &[u8], endpoint: &str) -> Result<Parts, String> {
        let mut doc: J = serde_yaml_ng::from_slice(yaml).map_err(|e| format!("not YAML: {e}"))?;
        let decode = |v: &J| -> Result<String, String> {
            let text = v.as_str().ok_or("missing certificate data")?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| e.to_string())?;
            String::from_utf8(bytes).map_err(|e| e.to_string())
        };
        let cluster = doc
            .pointer_mut("/clusters/0/cluster")
            .ok_or("no cluster in k3s.yaml")?;
        let ca = decode(&cluster["certificate-authority-data"])?;
        cluster["server"] = J::String(endpoint.to_owned());
        let user = doc.pointer("/users/0/user").ok_or("no user in k3s.yaml")?;
        let client_certificate = decode(&user["client-certificate-data"])?;
        let client_key = decode(&user["client-key-data"])?;
        let kubeconfig = serde_yaml_ng::to_string(&doc).map_err(|e| e.to_string())?;
        Ok(Parts {
            kubeconfig,
            ca,
            client_certificate,
            client_key,
        })
    }
}
