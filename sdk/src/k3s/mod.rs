//! K3s on a node: the desired configuration turned into the files K3s reads, the installer run
//! that puts K3s in place, and the parsing of what a node reports back for drift detection.
//!
//! The pure part (no I/O) renders `config.yaml` and `registries.yaml`, builds the install
//! script, and parses versions, env files and configs read from a node. On top of it,
//! [`observe`], [`converge`] and [`uninstall`] drive a node over [`crate::ssh`];
//! [`node_ready`] and [`remove_from_cluster`] (drain through the Eviction API, then delete)
//! read and remove its Node object through the API with a [`crate::kubernetes::ApiClient`]
//! reached through the node itself ([`ApiAccess::client`]); [`wait_ready`] and [`remove_node`]
//! are the node's lifecycle in one call each (wait for Ready; the last-server rule, drain,
//! Node deletion, uninstall and OS-prep undo); and [`DirectApi`] deletes the Node object of a
//! host that does not answer from this machine. [`cluster_health`] reads every Node's health
//! and the API's readiness (`/readyz`); [`wait_for_all_ready`] waits, bounded, until every Node
//! is Ready.
//!
//! ```
//! use k3s_sdk::k3s::{json, K3sVersion, NodeConfig, Role};
//!
//! let mut config = NodeConfig::new(Role::Server { cluster_init: true, join: None });
//! config.node_labels.insert("role".into(), "control-plane".into());
//! config.settings.insert("tls-san".into(), json!(["k3s.example.com"]));
//! let yaml = String::from_utf8(config.render().unwrap()).unwrap();
//! assert!(yaml.contains("cluster-init: true"));
//!
//! let installed: K3sVersion = "v1.33.4+k3s1".parse().unwrap();
//! assert!(installed < "v1.34.0+k3s1".parse().unwrap());
//! ```
//!
//! A node read back, compared and converged (the drift is what `converge` acts on):
//!
//! ```no_run
//! use k3s_sdk::k3s::{self, Desired, Installer, InstallPlan, Mirror, NodeConfig, Registries, Role};
//! use k3s_sdk::ssh::{Credentials, HostKeyPolicy, Session, Target};
//! use k3s_sdk::Secret;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let target = Target::new("10.0.0.6", "root", Credentials::key_file("/root/.ssh/id_ed25519"),
//!     HostKeyPolicy::known_hosts("/root/.ssh/known_hosts"));
//! let node = Session::connect(&target).await?;
//!
//! let mut config = NodeConfig::new(Role::Agent { server_url: "https://10.0.0.241:6443".into() });
//! config.token = Some(Secret::new("K10…::server:…"));
//! let install = InstallPlan {
//!     version: "v1.33.4+k3s1".parse()?,
//!     installer: Installer::Download { script_url: "https://get.k3s.io".into(), release_base: None },
//! };
//! let mut registries = Registries::default();
//! registries.mirrors.push(Mirror::new("docker.io", ["https://zot.internal:5000"]));
//! let desired = Desired::new(config, install).registries(registries);
//!
//! let observed = k3s::observe(&node).await?;
//! let drift = observed.drift(&desired)?;
//! if !drift.is_empty() {
//!     let applied = k3s::converge(&node, &desired, &observed).await?;
//!     println!("restarted: {}", applied.restarted);
//! }
//! # Ok(())
//! # }
//! ```

mod api;
mod cluster;
mod config;
mod converge;
mod error;
mod health;
mod install;
mod labels;
mod lifecycle;
mod observe;
mod registries;
mod version;

pub use api::{DirectApi, DirectApiError, NodeDeletion};
pub use cluster::{
    control_plane_count, drain, node_ready, remove_from_cluster, ApiAccess, Drained, Removal,
    StuckPod, DEFAULT_DRAIN_TIMEOUT,
};
pub use config::{reserved_setting, ConfigError, NodeConfig, ReservedBy, Role, Settings};
pub use converge::{
    converge, restart, undo_os_prep, uninstall, Applied, Desired, OS_PREP_FILES, STEP_DEADLINE,
};
pub use error::K3sError;
pub use health::{
    cluster_health, node_health, node_roles, parse_readyz, wait_for_all_ready, ApiCheck,
    ClusterHealth, NodeHealth, ROLE_LABEL_PREFIX,
};
pub use install::{parse_env_file, InstallPlan, Installer, Unit};
pub use labels::{
    check_label_value, check_node_label, check_node_taint, check_qualified_name, TAINT_EFFECTS,
};
pub use lifecycle::{
    remove_node, wait_ready, ClusterOutcome, OsPrepUndo, RemoveError, RemoveOptions, Removed,
};
pub use observe::{observe, Drift, Observed, VersionChange};
pub use registries::{Mirror, Registries, RegistryAuth};
/// Re-exported: a [`Settings`] value is JSON-like; `json!` writes one.
pub use serde_json::{json, Value as SettingValue};
pub use version::{K3sVersion, VersionError};

/// Where K3s reads its configuration.
pub const CONFIG_PATH: &str = "/etc/rancher/k3s/config.yaml";
/// Where K3s reads registry mirrors and credentials.
pub const REGISTRIES_PATH: &str = "/etc/rancher/k3s/registries.yaml";
/// The admin kubeconfig a server writes.
pub const KUBECONFIG_PATH: &str = "/etc/rancher/k3s/k3s.yaml";
/// The server's join token, in the secure `K10…` form.
pub const SERVER_TOKEN_PATH: &str = "/var/lib/rancher/k3s/server/token";
/// Where the K3s binary is installed.
pub const BINARY_PATH: &str = "/usr/local/bin/k3s";
/// The port a server serves the Kubernetes API and the agents' join endpoint on (TLS only).
pub const API_PORT: u16 = 6443;

/// The URL of the API a server at `host` (a name or an IP address) serves, which agents
/// join and kubeconfigs point at.
///
/// ```
/// assert_eq!(k3s_sdk::k3s::api_url("10.0.0.241"), "https://10.0.0.241:6443");
/// assert_eq!(k3s_sdk::k3s::api_url("fd00::1"), "https://[fd00::1]:6443");
/// ```
pub fn api_url(host: &str) -> String {
    if host.contains(':') {
        format!("https://[{host}]:{API_PORT}")
    } else {
        format!("https://{host}:{API_PORT}")
    }
}

/// SHA-256 of some bytes, as lowercase hex (how file contents are compared for drift).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
