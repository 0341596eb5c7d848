//! K3s on a node: the desired configuration turned into the files K3s reads, the installer run
//! that puts K3s in place, and the parsing of what a node reports back for drift detection.
//!
//! The pure part (no I/O) renders `config.yaml` and `registries.yaml`, builds the install
//! script, and parses versions, env files and configs read from a node. On top of it,
//! [`observe`], [`converge`] and [`uninstall`] drive a node over [`crate::ssh`], and
//! [`node_ready`] and [`remove_node`] read and remove its Node object through the API.
//!
//! ```
//! use k3s_sdk::k3s::{K3sVersion, NodeConfig, Role};
//!
//! let mut config = NodeConfig::new(Role::Server { cluster_init: true, join: None });
//! config.node_labels.insert("role".into(), "control-plane".into());
//! config.settings.insert("tls-san".into(), serde_json::json!(["k3s.example.com"]));
//! let yaml = String::from_utf8(config.render().unwrap()).unwrap();
//! assert!(yaml.contains("cluster-init: true"));
//!
//! let installed: K3sVersion = "v1.33.4+k3s1".parse().unwrap();
//! assert!(installed < "v1.34.0+k3s1".parse().unwrap());
//! ```

mod cluster;
mod config;
mod install;
mod node;
mod registries;
mod version;

pub use cluster::{control_plane_count, node_ready, remove_node, ApiAccess, Removal};
pub use config::{ConfigError, NodeConfig, Role};
pub use install::{parse_env_file, InstallPlan, Installer, Service};
pub use node::{converge, observe, restart, uninstall, Applied, Desired, K3sError, Observed};
pub use registries::{Mirror, Registries, RegistryAuth};
pub use version::{K3sVersion, VersionError};

/// Where K3s reads its configuration.
pub const CONFIG_PATH: &str = "/etc/rancher/k3s/config.yaml";
/// Where K3s reads registry mirrors and credentials.
pub const REGISTRIES_PATH: &str = "/etc/rancher/k3s/registries.yaml";
/// The admin kubeconfig a server writes.
pub const KUBECONFIG_PATH: &str = "/etc/rancher/k3s/k3s.yaml";
/// The server's join token, in the secure `K10…` form.
pub const SERVER_TOKEN_PATH: &str = "/var/lib/rancher/k3s/server/token";

/// SHA-256 of some bytes, as lowercase hex (how file contents are compared for drift).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
