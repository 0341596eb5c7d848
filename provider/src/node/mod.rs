//! What `k3s_server` and `k3s_agent` share: the attributes every K3s node has ([`NodeModel`],
//! embedded in both resources' models, and [`node_block`], its schema), and the parts of their
//! lifecycle that do not depend on the role:
//!
//! - [`checks`]: what a configuration must get right, checked at validate;
//! - [`desired`]: the model turned into the SDK's desired state;
//! - [`plan`]: the plan rules (file hashes known from the configuration, what a change leaves
//!   unknown);
//! - [`lifecycle`]: converge, read back, destroy (drain, delete the Node, uninstall);
//! - [`private`]: the private state (a server's token, what OS preparation created);
//! - [`import`]: import IDs (`ssh://…`, OCI OCIDs) and the state read from a node;
//! - [`versions`]: K3s's version rules (no downgrade, one minor at a time, agents not newer
//!   than their server).

pub mod checks;
pub mod desired;
pub mod import;
pub mod lifecycle;
pub mod plan;
pub mod private;
pub mod versions;

use crate::host_location::{HostSpec, OciAddress};
use crate::ssh_target::{self, SshBlock};
use crate::validators;
use k3s_sdk::k3s::{Desired, DEFAULT_DRAIN_TIMEOUT};
use k3s_sdk::Secret;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tfplugin_runtime::cty::{Type, Value};
use tfplugin_runtime::schema::{one_of, Attribute, Block, NestedBlock};
use tfplugin_runtime::timeouts::{self, Timeouts};
use tfplugin_runtime::{Duration, Form, Known};

/// The attributes of every K3s node resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct NodeModel<F: Form = Known> {
    /// `ssh://user@host:port`.
    pub id: F::Of<Option<String>>,
    /// The host's address.
    pub host: F::Of<Option<String>>,
    /// Or its OCI instance.
    pub oci_instance_id: F::Of<Option<String>>,
    /// The OCI profile that resolves the instance.
    pub oci_profile: F::Of<Option<String>>,
    /// Which address of the instance.
    pub oci_address: F::Of<OciAddress>,
    /// The K3s release.
    pub version: F::Of<String>,
    /// Further `config.yaml` settings.
    pub config: F::Of<Value>,
    /// Node labels.
    pub node_labels: F::Of<Option<BTreeMap<String, String>>>,
    /// Node taints.
    pub node_taints: F::Of<Option<Vec<String>>>,
    /// Prepare the OS.
    pub os_prep: F::Of<bool>,
    /// Open the firewall.
    pub open_firewall: F::Of<bool>,
    /// Where the install script is.
    pub installer_url: F::Of<Option<String>>,
    /// A local K3s binary to upload.
    pub airgap_binary: F::Of<Option<String>>,
    /// Its SHA-256.
    pub airgap_binary_sha256: F::Of<Option<String>>,
    /// Forget the node on destroy.
    pub orphan_on_destroy: F::Of<bool>,
    /// How long draining may take.
    pub drain_timeout: F::Of<Duration>,
    /// How long the service may take to become active.
    pub ready_timeout: F::Of<Duration>,
    /// The release found on the host.
    pub installed_version: F::Of<Option<String>>,
    /// Whether the service is active.
    pub service_active: F::Of<Option<bool>>,
    /// Whether the Node is Ready.
    pub node_ready: F::Of<Option<bool>>,
    /// SHA-256 of the effective `config.yaml`.
    pub config_sha256: F::Of<Option<String>>,
    /// SHA-256 of `registries.yaml`.
    pub registries_sha256: F::Of<Option<String>>,
    /// SHA-256 of the unit's env file.
    pub env_sha256: F::Of<Option<String>>,
    /// How to reach the host.
    pub ssh: F::Of<Option<SshBlock>>,
    /// Registry mirrors.
    pub registry_mirror: F::Of<Vec<RegistryMirror>>,
    /// Registry credentials.
    pub registry_auth: F::Of<Vec<RegistryAuthBlock>>,
    /// Deadlines.
    pub timeouts: F::Of<Timeouts>,
}

/// A `registry_mirror` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryMirror {
    /// The registry mirrored.
    pub registry: String,
    /// Mirror endpoints.
    pub endpoints: Vec<String>,
    /// Repository rewrites.
    pub rewrites: Option<BTreeMap<String, String>>,
}

/// A `registry_auth` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryAuthBlock {
    /// Registry host.
    pub registry: String,
    /// User name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<Secret>,
    /// Skip TLS verification.
    pub insecure_skip_verify: Option<bool>,
    /// CA bundle on the node.
    pub ca_file: Option<String>,
}

impl NodeModel {
    /// This node with its id set: what exists once the host is reached.
    pub fn with_id(&self, id: &str) -> NodeModel {
        NodeModel {
            id: Some(id.to_owned()),
            ..self.clone()
        }
    }

    /// Where the host is, as this node names it.
    pub fn host_spec(&self) -> HostSpec<'_> {
        HostSpec {
            host: self.host.as_deref(),
            oci_instance_id: self.oci_instance_id.as_deref(),
            oci_profile: self.oci_profile.as_deref(),
            oci_address: self.oci_address,
        }
    }

    /// The host, for messages: its address or its OCI instance.
    pub fn shown(&self) -> &str {
        self.host
            .as_deref()
            .or(self.oci_instance_id.as_deref())
            .unwrap_or("the node")
    }

    /// The `node-name` set in `config`, if any.
    pub fn configured_node_name(&self) -> Option<String> {
        self.config
            .to_plain_json()?
            .get("node-name")?
            .as_str()
            .map(str::to_owned)
    }
}

fn duration_text(d: std::time::Duration) -> Value {
    Value::string(Duration::from_std(d).as_str())
}

/// What every node resource's page says about hosts that do not answer, failed creates and
/// Ctrl-C (the node lifecycle guide says it at length).
const ON_A_BAD_DAY: &str = "A host that does not answer (SSH unreachable, a link down) is a warning naming it, never a deletion: refresh keeps the prior state, so a plan proposes no create and no node leaves state because it was briefly away; only a host that answers without K3s, or a terminated OCI instance, reads as gone. A create that fails after it touched the host is kept in state tainted, so the next apply replaces it and a destroy cleans it up. On Ctrl-C every wait (readiness, drain, connect retries, OCI work requests) returns at once, and the provider exits when the Terraform process that started it dies. Destroying a node whose host does not answer is bounded by `ssh.connect_timeout`: the output says what is left on the host (K3s and the join token), and with a `kubeconfig` its Node object is deleted through the API from this machine. See the [node lifecycle guide](../guides/node-lifecycle.md).";

/// The schema of [`NodeModel`], to which each resource adds its own attributes.
pub fn node_block(description: &str) -> Block {
    Block::new(&format!("{description}\n\n{ON_A_BAD_DAY}"))
        .attribute(Attribute::computed("id", Type::String).stable().describe("`ssh://user@host:port` of the node."))
        .attribute(Attribute::optional("host", Type::String).validate(validators::host()).requires_replace().describe("Address of the host, reachable over SSH. Set this or `oci_instance_id`."))
        .attribute(
            Attribute::optional("oci_instance_id", Type::String)
                .validate(validators::ocid(&["instance"]))
                .requires_replace()
                .describe("OCI instance whose address the provider looks up (a terminated instance reads as gone). Set this or `host`."),
        )
        .attribute(Attribute::optional("oci_profile", Type::String).describe("Which provider `oci_profile` resolves `oci_instance_id`. Defaults to the first."))
        .attribute(Attribute::optional("oci_address", Type::String).default(Value::string(OciAddress::NAMES[0])).validate(one_of(&OciAddress::NAMES)).describe("Which address of the OCI instance to connect to: `private` or `public`."))
        .attribute(Attribute::required("version", Type::String).validate(validators::k3s_version()).describe("The K3s release, pinned: `vX.Y.Z+k3sN`. Raising it upgrades in place; lowering it is refused."))
        .attribute(Attribute::optional("config", Type::Dynamic).describe("Settings for `/etc/rancher/k3s/config.yaml` (mode 0600), as an object: `{ \"tls-san\" = [\"k3s.example.com\"], disable = [\"traefik\"] }`."))
        .attribute(Attribute::optional("node_labels", Type::map(Type::String)).describe("Labels the node registers with."))
        .attribute(Attribute::optional("node_taints", Type::list(Type::String)).describe("Taints the node registers with, as `key=value:Effect`."))
        .attribute(Attribute::optional("os_prep", Type::Bool).default(Value::Bool(true)).describe("Enable IP forwarding, bridge sysctls and kernel modules before installing."))
        .attribute(Attribute::optional("open_firewall", Type::Bool).default(Value::Bool(true)).describe("Insert ACCEPT rules for the K3s ports before the REJECT rule of OCI Ubuntu images' `/etc/iptables/rules.v4`, and persist them."))
        .attribute(Attribute::optional("installer_url", Type::String).validate(validators::http_url()).describe("Where to fetch the install script. Defaults to the provider's `installer_url`."))
        .attribute(Attribute::optional("airgap_binary", Type::String).describe("Path of a K3s binary on this machine to upload instead of downloading one."))
        .attribute(Attribute::optional("airgap_binary_sha256", Type::String).validate(validators::sha256()).describe("SHA-256 of `airgap_binary`; the upload is refused when it differs."))
        .attribute(Attribute::optional("orphan_on_destroy", Type::Bool).default(Value::Bool(false)).describe("On destroy, forget the node without draining or uninstalling it."))
        .attribute(Attribute::optional("drain_timeout", Type::String).default(duration_text(DEFAULT_DRAIN_TIMEOUT)).validate(validators::duration()).describe("How long draining the node may take on destroy."))
        .attribute(Attribute::optional("ready_timeout", Type::String).default(duration_text(Desired::DEFAULT_READY_TIMEOUT)).validate(validators::duration()).describe("How long the K3s service may take to become active after an install, upgrade or configuration change; past it the apply fails with the service's journal."))
        .attribute(Attribute::computed("installed_version", Type::String).describe("The K3s version found on the host."))
        .attribute(Attribute::computed("service_active", Type::Bool).describe("Whether the K3s service is active."))
        .attribute(Attribute::computed("node_ready", Type::Bool).describe("Whether the node is Ready according to the Kubernetes API."))
        .attribute(Attribute::computed("config_sha256", Type::String).describe("SHA-256 of `config.yaml` on the host."))
        .attribute(Attribute::computed("registries_sha256", Type::String).describe("SHA-256 of `registries.yaml` on the host."))
        .attribute(Attribute::computed("env_sha256", Type::String).describe("SHA-256 of the service's env file on the host."))
        .block(ssh_target::ssh_block())
        .block(registry_mirror_block())
        .block(registry_auth_block())
        .block(timeouts::block("15m", "15m", "10m"))
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
