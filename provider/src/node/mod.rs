//! What `k3s_server` and `k3s_agent` share: the attributes every K3s node has ([`NodeModel`],
//! embedded in both resources' models, which is also its schema), and the parts of their
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
use crate::ssh_target::SshBlock;
use crate::validators;
use k3s_sdk::k3s::{Desired, DEFAULT_DRAIN_TIMEOUT};
use k3s_sdk::Secret;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tfplugin_runtime::cty::Value;
use tfplugin_runtime::schema::{one_of, ModelSchema};
use tfplugin_runtime::timeouts::{self, Timeouts};
use tfplugin_runtime::{Duration, Form, Known};

/// The attributes of every K3s node resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ModelSchema)]
#[serde(bound = "")]
pub struct NodeModel<F: Form = Known> {
    /// `ssh://user@host:port` of the node.
    #[tf(computed, stable)]
    pub id: F::Of<Option<String>>,
    /// Address of the host, reachable over SSH. Set this or `oci_instance_id`.
    #[tf(validate = validators::host(), requires_replace)]
    pub host: F::Of<Option<String>>,
    /// OCI instance whose address the provider looks up (a terminated instance reads as gone). Set
    /// this or `host`.
    #[tf(validate = validators::ocid(&["instance"]), requires_replace)]
    pub oci_instance_id: F::Of<Option<String>>,
    /// Which provider `oci_profile` resolves `oci_instance_id`. Defaults to the first.
    pub oci_profile: F::Of<Option<String>>,
    /// Which address of the OCI instance to connect to: `private` or `public`.
    #[tf(default = Value::string(OciAddress::NAMES[0]), validate = one_of(&OciAddress::NAMES))]
    pub oci_address: F::Of<OciAddress>,
    /// The K3s release, pinned: `vX.Y.Z+k3sN`. Raising it upgrades in place; lowering it is
    /// refused.
    #[tf(validate = validators::k3s_version())]
    pub version: F::Of<String>,
    /// Settings for `/etc/rancher/k3s/config.yaml` (mode 0600), as an object: `{ "tls-san" =
    /// ["k3s.example.com"], disable = ["traefik"] }`.
    pub config: F::Of<Value>,
    /// Labels the node registers with.
    pub node_labels: F::Of<Option<BTreeMap<String, String>>>,
    /// Taints the node registers with, as `key=value:Effect`.
    pub node_taints: F::Of<Option<Vec<String>>>,
    /// Enable IP forwarding, bridge sysctls and kernel modules before installing.
    #[tf(default = true)]
    pub os_prep: F::Of<bool>,
    /// Insert ACCEPT rules for the K3s ports before the REJECT rule of OCI Ubuntu images'
    /// `/etc/iptables/rules.v4`, and persist them.
    #[tf(default = true)]
    pub open_firewall: F::Of<bool>,
    /// Where to fetch the install script. Defaults to the provider's `installer_url`.
    #[tf(validate = validators::http_url())]
    pub installer_url: F::Of<Option<String>>,
    /// Path of a K3s binary on this machine to upload instead of downloading one.
    pub airgap_binary: F::Of<Option<String>>,
    /// SHA-256 of `airgap_binary`; the upload is refused when it differs.
    #[tf(validate = validators::sha256())]
    pub airgap_binary_sha256: F::Of<Option<String>>,
    /// On destroy, forget the node without draining or uninstalling it.
    #[tf(default = false)]
    pub orphan_on_destroy: F::Of<bool>,
    /// How long draining the node may take on destroy.
    #[tf(default = duration_text(DEFAULT_DRAIN_TIMEOUT), validate = validators::duration())]
    pub drain_timeout: F::Of<Duration>,
    /// How long the K3s service may take to become active after an install, upgrade or
    /// configuration change; past it the apply fails with the service's journal.
    #[tf(
        default = duration_text(Desired::DEFAULT_READY_TIMEOUT),
        validate = validators::duration(),
    )]
    pub ready_timeout: F::Of<Duration>,
    /// The K3s version found on the host.
    #[tf(computed)]
    pub installed_version: F::Of<Option<String>>,
    /// Whether the K3s service is active.
    #[tf(computed)]
    pub service_active: F::Of<Option<bool>>,
    /// Whether the node is Ready according to the Kubernetes API.
    #[tf(computed)]
    pub node_ready: F::Of<Option<bool>>,
    /// SHA-256 of `config.yaml` on the host.
    #[tf(computed)]
    pub config_sha256: F::Of<Option<String>>,
    /// SHA-256 of `registries.yaml` on the host.
    #[tf(computed)]
    pub registries_sha256: F::Of<Option<String>>,
    /// SHA-256 of the service's env file on the host.
    #[tf(computed)]
    pub env_sha256: F::Of<Option<String>>,
    /// How to reach the host.
    #[tf(block)]
    pub ssh: F::Of<Option<SshBlock>>,
    /// Registry mirrors.
    #[tf(block)]
    pub registry_mirror: F::Of<Vec<RegistryMirror>>,
    /// Registry credentials.
    #[tf(block)]
    pub registry_auth: F::Of<Vec<RegistryAuthBlock>>,
    /// Deadlines.
    #[tf(schema = timeouts::block("15m", "15m", "10m"))]
    pub timeouts: F::Of<Timeouts>,
}

/// A registry mirror in `registries.yaml`, for example a Zot registry in front of `docker.io`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ModelSchema)]
pub struct RegistryMirror {
    /// The registry mirrored, e.g. `docker.io`.
    pub registry: String,
    /// Mirror endpoints, tried in order.
    pub endpoints: Vec<String>,
    /// Repository rewrites (regular expression to replacement).
    pub rewrites: Option<BTreeMap<String, String>>,
}

/// Credentials and TLS settings for a registry in `registries.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ModelSchema)]
pub struct RegistryAuthBlock {
    /// Registry host, e.g. `zot.example.com:5000`.
    pub registry: String,
    /// User name.
    pub username: Option<String>,
    /// Password.
    #[tf(sensitive)]
    pub password: Option<Secret>,
    /// Skip TLS verification of the registry.
    pub insecure_skip_verify: Option<bool>,
    /// CA bundle on the node for the registry's certificate.
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
const ON_A_BAD_DAY: &str = "A host that does not answer (SSH unreachable, a link down) is a \
    warning naming it, never a deletion: refresh keeps the prior state, so a plan proposes no \
    create and no node leaves state because it was briefly away; only a host that answers without \
    K3s, or a terminated OCI instance, reads as gone. A create that fails after it touched the \
    host is kept in state tainted, so the next apply replaces it and a destroy cleans it up. On \
    Ctrl-C every wait (readiness, drain, connect retries, OCI work requests) returns at once, and \
    the provider exits when the Terraform process that started it dies. Destroying a node whose \
    host does not answer is bounded by `ssh.connect_timeout`: the output says what is left on the \
    host (K3s and the join token), and with a `kubeconfig` its Node object is deleted through the \
    API from this machine. See the [node lifecycle guide](../guides/node-lifecycle.md).";

/// A node resource's description: what it is, then what every node's page says about hosts
/// that do not answer, failed creates and Ctrl-C.
pub fn described(what: &str) -> String {
    format!("{what}\n\n{ON_A_BAD_DAY}")
}
