//! `config.yaml`: every K3s setting of a node in one file (mode 0600, since it holds the token),
//! rendered deterministically so its hash identifies it, and parsed back on import.

use super::labels::{check_node_label, check_node_taint};
use crate::Secret;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What the node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// A server: the first of a cluster (`cluster_init` starts embedded etcd), or one joining
    /// the server at `join` (`https://host:6443`).
    Server {
        /// Start a new cluster with embedded etcd.
        cluster_init: bool,
        /// The server to join, for a further server.
        join: Option<String>,
    },
    /// An agent joined to the server at `server_url`.
    Agent {
        /// The server to join (`https://host:6443`).
        server_url: String,
    },
}

/// The settings of a `config.yaml`'s text (none for an empty or comment-only file).
pub fn parse_settings(yaml: &str) -> Result<Settings, ConfigError> {
    if yaml
        .trim()
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Ok(Map::new());
    }
    match serde_yaml_ng::from_str(yaml).map_err(|e| ConfigError::Unreadable(e.to_string()))? {
        Value::Object(settings) => Ok(settings),
        _ => Err(ConfigError::Unreadable("the top level is not a map".into())),
    }
}

impl Role {
    /// The systemd unit K3s runs as for this role: the role says server or agent once, and
    /// the unit, the installer's command and the uninstall script follow from it.
    ///
    /// ```
    /// use k3s_sdk::k3s::{Role, Unit};
    ///
    /// let agent = Role::Agent { server_url: "https://10.0.0.241:6443".into() };
    /// assert_eq!(agent.unit(), Unit::Agent);
    /// assert_eq!(agent.unit().name(), "k3s-agent");
    /// assert_eq!(Role::Server { cluster_init: true, join: None }.unit().command(), "server");
    /// ```
    pub fn unit(&self) -> super::Unit {
        match self {
            Role::Server { .. } => super::Unit::Server,
            Role::Agent { .. } => super::Unit::Agent,
        }
    }
}

/// Why a configuration cannot be rendered or read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A setting that has its own field was also given as a free-form setting.
    #[error("`{key}` is set through its own argument ({field}), not in the settings map")]
    Reserved {
        /// The config.yaml key.
        key: String,
        /// Where to set it instead.
        field: ReservedBy,
    },
    /// A node label or taint that K3s would reject.
    #[error("{what} {value:?} is refused: {problem}")]
    Malformed {
        /// "node label" or "node taint".
        what: &'static str,
        /// The value.
        value: String,
        /// What is wrong with it.
        problem: String,
    },
    /// config.yaml on a node is not a YAML map.
    #[error("config.yaml is not a YAML map of settings: {0}")]
    Unreadable(String),
}

/// Every other K3s setting of a node, keyed as the CLI flag without `--` (`tls-san`,
/// `disable`, …), each a JSON-like value ([`SettingValue`](super::SettingValue)).
pub type Settings = Map<String, Value>;

/// The typed field of a [`NodeConfig`] that owns a `config.yaml` key, so that the key is
/// refused in [`NodeConfig::settings`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservedBy {
    /// [`NodeConfig::token`] (`token`, `token-file`).
    Token,
    /// The server URL of the [`Role`] (`server`).
    ServerUrl,
    /// A server [`Role`]'s `cluster_init` (`cluster-init`).
    ClusterInit,
    /// [`NodeConfig::node_labels`] (`node-label`).
    NodeLabels,
    /// [`NodeConfig::node_taints`] (`node-taint`).
    NodeTaints,
}

impl std::fmt::Display for ReservedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReservedBy::Token => "token",
            ReservedBy::ServerUrl => "the role's server URL",
            ReservedBy::ClusterInit => "the role's cluster_init",
            ReservedBy::NodeLabels => "node_labels",
            ReservedBy::NodeTaints => "node_taints",
        })
    }
}

/// Keys the typed fields own, and the field that sets each.
const RESERVED: &[(&str, ReservedBy)] = &[
    ("token", ReservedBy::Token),
    ("token-file", ReservedBy::Token),
    ("server", ReservedBy::ServerUrl),
    ("cluster-init", ReservedBy::ClusterInit),
    ("node-label", ReservedBy::NodeLabels),
    ("node-taint", ReservedBy::NodeTaints),
];

/// The typed field that owns a `config.yaml` key, when one does: `token` (and `token-file`)
/// belong to the token, `server` and `cluster-init` to the role, `node-label` and `node-taint`
/// (also with K3s's `+` suffix) to the labels and taints. Such a key in
/// [`NodeConfig::settings`] is refused.
///
/// ```
/// use k3s_sdk::k3s::{reserved_setting, ReservedBy};
/// assert_eq!(reserved_setting("token"), Some(ReservedBy::Token));
/// assert_eq!(reserved_setting("node-label+"), Some(ReservedBy::NodeLabels));
/// assert_eq!(reserved_setting("tls-san"), None);
/// ```
pub fn reserved_setting(key: &str) -> Option<ReservedBy> {
    RESERVED
        .iter()
        .find(|(k, _)| *k == key || key.strip_suffix('+') == Some(k))
        .map(|(_, field)| *field)
}

/// The first line of every rendered file.
const HEADER: &str = "# Written by k3s-sdk. Edits made here are reported as drift and replaced.\n";

/// A node's K3s configuration.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Server or agent, and what it joins.
    pub role: Role,
    /// The join token (written into the file, never passed on a command line).
    pub token: Option<Secret>,
    /// Labels the node registers with.
    pub node_labels: BTreeMap<String, String>,
    /// Taints the node registers with, as `key=value:Effect`.
    pub node_taints: Vec<String>,
    /// Every other setting, keyed as the CLI flag without `--` (`tls-san`, `disable`, …).
    pub settings: Settings,
}

impl NodeConfig {
    /// A configuration with nothing but a role.
    pub fn new(role: Role) -> NodeConfig {
        NodeConfig {
            role,
            token: None,
            node_labels: BTreeMap::new(),
            node_taints: Vec::new(),
            settings: Map::new(),
        }
    }

    /// The file's bytes: a header line, then the settings as YAML with keys in sorted order.
    pub fn render(&self) -> Result<Vec<u8>, ConfigError> {
        let mut map: BTreeMap<String, Value> = BTreeMap::new();
        for (key, value) in &self.settings {
            if let Some(field) = reserved_setting(key) {
                return Err(ConfigError::Reserved {
                    key: key.clone(),
                    field,
                });
            }
            map.insert(key.clone(), value.clone());
        }
        match &self.role {
            Role::Server { cluster_init, join } => {
                if *cluster_init {
                    map.insert("cluster-init".into(), Value::Bool(true));
                }
                if let Some(url) = join {
                    map.insert("server".into(), Value::String(url.clone()));
                }
            }
            Role::Agent { server_url } => {
                map.insert("server".into(), Value::String(server_url.clone()));
            }
        }
        if let Some(token) = &self.token {
            map.insert("token".into(), Value::String(token.expose().to_owned()));
        }
        if !self.node_labels.is_empty() {
            let mut labels = Vec::new();
            for (k, v) in &self.node_labels {
                check_node_label(k, v).map_err(|problem| ConfigError::Malformed {
                    what: "node label",
                    value: k.clone(),
                    problem,
                })?;
                labels.push(Value::String(format!("{k}={v}")));
            }
            map.insert("node-label".into(), Value::Array(labels));
        }
        if !self.node_taints.is_empty() {
            for taint in &self.node_taints {
                check_node_taint(taint).map_err(|problem| ConfigError::Malformed {
                    what: "node taint",
                    value: taint.clone(),
                    problem,
                })?;
            }
            map.insert(
                "node-taint".into(),
                Value::Array(
                    self.node_taints
                        .iter()
                        .cloned()
                        .map(Value::String)
                        .collect(),
                ),
            );
        }
        let body = if map.is_empty() {
            String::new()
        } else {
            serde_yaml_ng::to_string(&map).map_err(|e| ConfigError::Unreadable(e.to_string()))?
        };
        Ok(format!("{HEADER}{body}").into_bytes())
    }

    /// Reads a `config.yaml` found on a node (for import): the typed fields are taken out, the
    /// rest stays in `settings`. `is_server` comes from which K3s unit the node runs.
    pub fn parse(yaml: &str, is_server: bool) -> Result<NodeConfig, ConfigError> {
        NodeConfig::from_settings(parse_settings(yaml)?, is_server)
    }

    /// A configuration from settings keyed as config.yaml keys them (the typed fields are
    /// taken out of `settings`).
    pub fn from_settings(
        mut settings: Settings,
        is_server: bool,
    ) -> Result<NodeConfig, ConfigError> {
        let text = |v: Option<Value>| v.and_then(|v| v.as_str().map(str::to_owned));
        let list = |v: Option<Value>| -> Vec<String> {
            match v {
                Some(Value::Array(items)) => items
                    .into_iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect(),
                Some(Value::String(s)) => vec![s],
                _ => Vec::new(),
            }
        };
        let server = text(settings.remove("server"));
        let cluster_init = settings
            .remove("cluster-init")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        let role = match (is_server, server) {
            (true, join) => Role::Server { cluster_init, join },
            (false, Some(server_url)) => Role::Agent { server_url },
            (false, None) => Role::Agent {
                server_url: String::new(),
            },
        };
        let token = text(settings.remove("token")).map(Secret::new);
        let node_labels = list(settings.remove("node-label"))
            .into_iter()
            .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect();
        let node_taints = list(settings.remove("node-taint"));
        Ok(NodeConfig {
            role,
            token,
            node_labels,
            node_taints,
            settings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn server() -> NodeConfig {
        let mut c = NodeConfig::new(Role::Server {
            cluster_init: true,
            join: None,
        });
        c.token = Some(Secret::new("s3cr3t-token"));
        c.node_labels.insert("role".into(), "control-plane".into());
        c.node_taints.push("dedicated=infra:NoSchedule".into());
        c.settings
            .insert("tls-san".into(), json!(["k3s.example.com", "10.0.0.241"]));
        c.settings.insert("disable".into(), json!(["traefik"]));
        c.settings
            .insert("write-kubeconfig-mode".into(), json!("0600"));
        c
    }

    #[test]
    fn renders_deterministic_yaml_with_every_setting() {
        let yaml = String::from_utf8(server().render().unwrap()).unwrap();
        assert!(yaml.starts_with(HEADER));
        let parsed: Value = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(parsed["cluster-init"], json!(true));
        assert_eq!(parsed["token"], json!("s3cr3t-token"));
        assert_eq!(parsed["node-label"], json!(["role=control-plane"]));
        assert_eq!(parsed["node-taint"], json!(["dedicated=infra:NoSchedule"]));
        assert_eq!(parsed["tls-san"], json!(["k3s.example.com", "10.0.0.241"]));
        assert_eq!(parsed["write-kubeconfig-mode"], json!("0600"));
        // Same input, same bytes: the hash identifies the configuration.
        assert_eq!(server().render().unwrap(), server().render().unwrap());
        let keys: Vec<&str> = yaml
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with(' ') && !l.starts_with('-'))
            .filter_map(|l| l.split(':').next())
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn agents_carry_their_server_and_reserved_keys_are_refused() {
        let agent = NodeConfig::new(Role::Agent {
            server_url: "https://10.0.0.241:6443".into(),
        });
        let yaml = String::from_utf8(agent.render().unwrap()).unwrap();
        assert!(yaml.contains("server: https://10.0.0.241:6443"), "{yaml}");
        let mut bad = server();
        bad.settings.insert("token".into(), json!("x"));
        assert!(matches!(bad.render(), Err(ConfigError::Reserved { .. })));
        let mut bad = server();
        bad.settings.insert("node-label+".into(), json!(["a=b"]));
        assert!(matches!(bad.render(), Err(ConfigError::Reserved { .. })));
        let mut bad = server();
        bad.node_taints = vec!["no-effect".into()];
        assert!(matches!(bad.render(), Err(ConfigError::Malformed { .. })));
    }

    #[test]
    fn a_rendered_file_parses_back_to_the_same_configuration() {
        let original = server();
        let yaml = String::from_utf8(original.render().unwrap()).unwrap();
        let read = NodeConfig::parse(&yaml, true).unwrap();
        assert_eq!(read.role, original.role);
        assert_eq!(
            read.token.as_ref().map(Secret::expose),
            Some("s3cr3t-token")
        );
        assert_eq!(read.node_labels, original.node_labels);
        assert_eq!(read.node_taints, original.node_taints);
        assert_eq!(read.settings, original.settings);
        assert_eq!(read.render().unwrap(), original.render().unwrap());
        assert!(NodeConfig::parse("# nothing\n", false)
            .unwrap()
            .settings
            .is_empty());
        assert!(NodeConfig::parse("- a list\n", true).is_err());
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        assert!(!format!("{:?}", server()).contains("s3cr3t-token"));
    }
}
