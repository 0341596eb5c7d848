//! Reading a node back: which K3s unit is there, whether it runs, which release, and the
//! files it reads, in one SSH round trip; and how that differs from a desired state.

use super::config::parse_settings;
use super::{
    parse_env_file, sha256_hex, ConfigError, Desired, K3sError, K3sVersion, NodeConfig, Registries,
    Role, SettingValue, Settings, Unit, CONFIG_PATH, REGISTRIES_PATH,
};
use crate::ssh::{Command, Secret, Session};

/// What a node has, as read back for drift detection. Everything is `None`/`false` on a node
/// without K3s.
///
/// The configuration's hash is of its *effective* content: `config.yaml` with the server URL
/// and token the unit's env file supplies (`K3S_URL`, `K3S_TOKEN`) when the file does not,
/// rendered the way [`NodeConfig::render`] writes it. A file this library wrote hashes to its
/// own bytes' hash; one written by hand with the same meaning hashes the same, so a node
/// installed by other means and imported does not show a spurious change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// Which K3s unit is installed, if any.
    pub unit: Option<Unit>,
    /// Whether it is active.
    pub active: bool,
    /// The installed release (of `/usr/local/bin/k3s`).
    pub version: Option<K3sVersion>,
    /// The release the service runs (its process's own executable): other than `version` after
    /// an upgrade whose restart did not happen. `None` when the service is not running.
    pub running_version: Option<K3sVersion>,
    /// SHA-256 of the effective `config.yaml` (see above).
    pub config_sha256: Option<String>,
    /// SHA-256 of `registries.yaml`, canonically rendered.
    pub registries_sha256: Option<String>,
    /// SHA-256 of the unit's env file.
    pub env_sha256: Option<String>,
    /// The server an agent is joined to (`server` in config.yaml, else `K3S_URL` in its env file).
    pub server_url: Option<String>,
    /// The text of `config.yaml` (it holds the token).
    pub config_yaml: Option<Secret>,
    /// The text of `registries.yaml` (it may hold passwords).
    pub registries_yaml: Option<Secret>,
    /// The text of the unit's env file (it may hold the token).
    pub env_file: Option<Secret>,
    /// Arguments on the unit's command line after `server`/`agent` (settings that are not in
    /// config.yaml).
    pub exec_args: Vec<String>,
    /// The host's name, which K3s registers the node under unless `node-name` is set.
    pub hostname: Option<String>,
}

impl Observed {
    /// The node's effective configuration: `config.yaml`, with the settings on the unit's
    /// command line over it (a flag wins over the file, as in K3s), completed with `K3S_URL`
    /// and `K3S_TOKEN` from the env file. `None` without K3s or when config.yaml is unreadable.
    pub fn effective_config(&self) -> Option<NodeConfig> {
        let unit = self.unit?;
        let yaml = self.config_yaml.as_ref().map(Secret::expose).unwrap_or("");
        let mut settings = parse_settings(yaml).ok()?;
        settings.extend(command_line_settings(&self.exec_args));
        let mut config = NodeConfig::from_settings(settings, unit == Unit::Server).ok()?;
        let env = parse_env_file(self.env_file.as_ref().map(Secret::expose).unwrap_or(""));
        if config.token.is_none() {
            config.token = env.get("K3S_TOKEN").map(|t| Secret::new(t.as_str()));
        }
        match &mut config.role {
            Role::Agent { server_url } if server_url.is_empty() => {
                *server_url = env.get("K3S_URL").cloned().unwrap_or_default();
            }
            Role::Server {
                join: join @ None, ..
            } => *join = env.get("K3S_URL").cloned(),
            _ => {}
        }
        Some(config)
    }

    /// The node's name in the cluster: `configured` (a `node-name` setting) when given,
    /// otherwise the hostname read with the rest.
    pub fn node_name(&self, configured: Option<&str>) -> Option<String> {
        configured
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .or_else(|| self.hostname.clone())
    }

    /// `registries.yaml`, parsed. `None` when there is none or it is unreadable.
    pub fn registries(&self) -> Option<Registries> {
        Registries::parse(self.registries_yaml.as_ref()?.expose()).ok()
    }
}

/// How a node differs from a [`Desired`] state: what [`converge`](super::converge) would change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drift {
    /// `config.yaml` differs from the desired one (or is missing).
    pub config: bool,
    /// `registries.yaml` differs, is missing, or is there when none is wanted.
    pub registries: bool,
    /// The installed release differs from the desired one, or K3s is not installed as the desired
    /// unit.
    pub version: Option<VersionChange>,
    /// The service is not active.
    pub inactive: bool,
    /// The service runs another release than the one installed (an upgrade whose restart did
    /// not happen): it needs a restart.
    pub stale: bool,
}

/// How the installed K3s differs from the desired release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionChange {
    /// Nothing is installed as the desired unit: install it.
    Install,
    /// An older release is installed: upgrade it.
    Upgrade {
        /// The release installed now.
        from: K3sVersion,
    },
    /// A newer release is installed: refused, K3s does not support downgrades.
    Downgrade {
        /// The release installed now.
        from: K3sVersion,
    },
}

impl Drift {
    /// Nothing differs.
    pub fn is_empty(&self) -> bool {
        *self == Drift::default()
    }
}

impl Observed {
    /// How this node differs from `desired` (rendering the desired files to compare them).
    ///
    /// ```
    /// use k3s_sdk::k3s::{Desired, Installer, InstallPlan, NodeConfig, Observed, Role, VersionChange};
    ///
    /// let config = NodeConfig::new(Role::Server { cluster_init: true, join: None });
    /// let install = InstallPlan {
    ///     version: "v1.33.4+k3s1".parse().unwrap(),
    ///     installer: Installer::Download { script_url: "https://get.k3s.io".into(), release_base: None },
    /// };
    /// let desired = Desired::new(config, install);
    /// // A host without K3s: everything is to be done.
    /// let drift = Observed::default().drift(&desired).unwrap();
    /// assert!(drift.config && drift.inactive);
    /// assert_eq!(drift.version, Some(VersionChange::Install));
    /// ```
    pub fn drift(&self, desired: &Desired) -> Result<Drift, ConfigError> {
        let config = desired.config.render()?;
        let registries = if desired.registries.is_empty() {
            self.registries_sha256.is_some()
        } else {
            self.registries_sha256.as_deref()
                != Some(sha256_hex(&desired.registries.render()).as_str())
        };
        let unit = desired.config.role.unit();
        let wanted = desired.install.version;
        // A newer K3s on the host is never replaced by an older one, whatever unit it has.
        let version = match self.version {
            Some(from) if from > wanted => Some(VersionChange::Downgrade { from }),
            _ if self.unit != Some(unit) => Some(VersionChange::Install),
            None => Some(VersionChange::Install),
            Some(from) if from < wanted => Some(VersionChange::Upgrade { from }),
            Some(_) => None,
        };
        Ok(Drift {
            config: self.config_sha256.as_deref() != Some(sha256_hex(&config).as_str()),
            registries,
            version,
            inactive: !self.active,
            stale: matches!(
                (self.running_version, self.version),
                (Some(running), Some(installed)) if running != installed
            ),
        })
    }
}

/// Reads the node's K3s state in one round trip. It fails with the same [`K3sError`] as
/// [`converge`](super::converge), so the two chain with `?`:
///
/// ```no_run
/// use k3s_sdk::k3s::{self, Desired, K3sError};
/// use k3s_sdk::ssh::Session;
///
/// async fn bring_up(node: &Session, desired: &Desired) -> Result<bool, K3sError> {
///     let observed = k3s::observe(node).await?;
///     let applied = k3s::converge(node, desired, &observed).await?;
///     Ok(applied.restarted)
/// }
/// ```
pub async fn observe(session: &Session) -> Result<Observed, K3sError> {
    let script = format!(
        "for u in k3s k3s-agent; do [ -f /etc/systemd/system/$u.service ] && echo \"unit=$u\" && echo \"active=$(systemctl is-active $u 2>/dev/null)\"; done\n\
         [ -x /usr/local/bin/k3s ] && echo \"version=$(/usr/local/bin/k3s --version 2>/dev/null | head -n1)\"\n\
         for u in k3s k3s-agent; do [ -f /etc/systemd/system/$u.service ] && pid=$(systemctl show -p MainPID --value $u 2>/dev/null) && [ -n \"$pid\" ] && [ \"$pid\" != 0 ] && echo \"running=$(/proc/$pid/exe --version 2>/dev/null | head -n1)\"; done\n\
         for f in {CONFIG_PATH} {REGISTRIES_PATH} /etc/systemd/system/k3s.service.env /etc/systemd/system/k3s-agent.service.env; do\n\
           [ -f \"$f\" ] && echo \"sha=$(sha256sum \"$f\" | cut -d' ' -f1) $f\" && echo \"b64=$(base64 -w0 \"$f\") $f\"\n\
         done\n\
         for u in k3s k3s-agent; do [ -f /etc/systemd/system/$u.service ] && sed -n '/^ExecStart=/,$p' /etc/systemd/system/$u.service | sed 's/^/exec=/'; done\n\
         echo \"hostname=$(hostname)\"\n\
         true\n"
    );
    let out = session
        .exec(
            Command::new("read the K3s state", script)
                .timeout(super::STEP_DEADLINE)
                .deadline_note(super::converge::FIXED_STEP),
        )
        .await?;
    Ok(parse_observed(&out.stdout_text()))
}

fn parse_observed(text: &str) -> Observed {
    use base64::Engine;
    let mut observed = Observed::default();
    let mut raw_config_sha = None;
    let mut raw_registries_sha = None;
    let mut exec_lines = Vec::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match key {
            // A server unit wins when both exist.
            "unit" if observed.unit != Some(Unit::Server) => {
                observed.unit = Some(if value == "k3s" {
                    Unit::Server
                } else {
                    Unit::Agent
                });
            }
            "active" => observed.active |= value.trim() == "active",
            "version" => observed.version = K3sVersion::from_version_output(value),
            "running" => observed.running_version = K3sVersion::from_version_output(value),
            "sha" | "b64" => {
                let Some((data, file)) = value.split_once(' ') else {
                    continue;
                };
                if key == "sha" {
                    let hash = Some(data.to_owned());
                    match file {
                        CONFIG_PATH => raw_config_sha = hash,
                        REGISTRIES_PATH => raw_registries_sha = hash,
                        _ if file.ends_with(".service.env") && observed.env_sha256.is_none() => {
                            observed.env_sha256 = hash
                        }
                        _ => {}
                    }
                    continue;
                }
                let text = base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .ok()
                    .map(|b| Secret::new(String::from_utf8_lossy(&b).into_owned()));
                match file {
                    CONFIG_PATH => observed.config_yaml = text,
                    REGISTRIES_PATH => observed.registries_yaml = text,
                    _ if file.ends_with(".service.env") && observed.env_file.is_none() => {
                        observed.env_file = text
                    }
                    _ => {}
                }
            }
            "exec" => exec_lines.push(value.to_owned()),
            "hostname" if !value.trim().is_empty() => {
                observed.hostname = Some(value.trim().to_owned())
            }
            _ => {}
        }
    }
    observed.exec_args = exec_args(&exec_lines);
    let effective = observed.effective_config();
    if observed.unit == Some(Unit::Agent) {
        observed.server_url = effective.as_ref().and_then(|c| match &c.role {
            Role::Agent { server_url } if !server_url.is_empty() => Some(server_url.clone()),
            _ => None,
        });
    }
    observed.config_sha256 = match effective.map(|c| c.render()) {
        Some(Ok(bytes)) => Some(sha256_hex(&bytes)),
        _ => raw_config_sha,
    };
    observed.registries_sha256 = match (&observed.registries_yaml, observed.registries()) {
        (Some(_), Some(r)) if !r.is_empty() => Some(sha256_hex(&r.render())),
        (Some(_), Some(_)) => None,
        _ => raw_registries_sha,
    };
    observed
}

/// The settings the unit's command line arguments set, keyed as config.yaml keys them:
/// `--key=value` and `--key value` are strings, a `--flag` alone is `true`, a repeated flag is a
/// list.
pub(crate) fn command_line_settings(args: &[String]) -> Settings {
    let mut settings = Settings::new();
    let mut words = args.iter().peekable();
    while let Some(word) = words.next() {
        let Some(flag) = word.strip_prefix("--").or_else(|| word.strip_prefix('-')) else {
            continue;
        };
        let (key, value) = match flag.split_once('=') {
            Some((key, value)) => (key.to_owned(), SettingValue::String(value.to_owned())),
            None => match words.next_if(|next| !next.starts_with('-')) {
                Some(value) => (flag.to_owned(), SettingValue::String(value.clone())),
                None => (flag.to_owned(), SettingValue::Bool(true)),
            },
        };
        match settings.get_mut(&key) {
            Some(SettingValue::Array(values)) => values.push(value),
            Some(first) => *first = SettingValue::Array(vec![first.take(), value]),
            None => {
                settings.insert(key, value);
            }
        }
    }
    settings
}

/// The arguments after `server`/`agent` in the unit's `ExecStart=` (which continues over
/// lines ending in `\`).
fn exec_args(lines: &[String]) -> Vec<String> {
    let mut joined = String::new();
    for line in lines {
        let line = line.trim();
        let continued = line.ends_with('\\');
        joined.push(' ');
        joined.push_str(line.trim_end_matches('\\'));
        if !continued {
            break;
        }
    }
    let words: Vec<String> = joined
        .split_whitespace()
        .map(|w| w.trim_matches('\'').trim_matches('"').to_owned())
        .filter(|w| !w.is_empty())
        .collect();
    match words.iter().position(|w| w == "server" || w == "agent") {
        Some(i) => words[i + 1..].to_vec(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    #[test]
    fn observed_state_is_parsed_from_one_report() {
        let env = "K3S_TOKEN='K10abc::server:def'\nK3S_URL='https://10.0.0.241:6443'\n";
        let report = format!(
            "unit=k3s-agent\nactive=active\nversion=k3s version v1.33.4+k3s1 (1a2b3c4d)\n\
             sha=aaa /etc/rancher/k3s/config.yaml\nb64={} /etc/rancher/k3s/config.yaml\n\
             sha=ccc /etc/systemd/system/k3s-agent.service.env\nb64={} /etc/systemd/system/k3s-agent.service.env\n\
             exec=ExecStart=/usr/local/bin/k3s \\\nexec=    agent \\\nexec=    '--node-ip=10.0.0.5' \\\nexec=\nexec=[Install]\n",
            b64("node-label:\n- role=worker\n"),
            b64(env)
        );
        let observed = parse_observed(&report);
        assert_eq!(observed.unit, Some(Unit::Agent));
        assert!(observed.active);
        assert_eq!(observed.version.unwrap().to_string(), "v1.33.4+k3s1");
        assert_eq!(observed.registries_sha256, None);
        assert_eq!(observed.env_sha256.as_deref(), Some("ccc"));
        assert_eq!(
            observed.server_url.as_deref(),
            Some("https://10.0.0.241:6443")
        );
        assert_eq!(observed.exec_args, vec!["--node-ip=10.0.0.5".to_owned()]);
        // The hash is of the effective configuration: the file plus the env file's URL and
        // token and the unit's command line, as this library would write it.
        let mut expected = NodeConfig::new(Role::Agent {
            server_url: "https://10.0.0.241:6443".into(),
        });
        expected.token = Some(Secret::new("K10abc::server:def"));
        expected.node_labels.insert("role".into(), "worker".into());
        expected
            .settings
            .insert("node-ip".into(), serde_json::json!("10.0.0.5"));
        assert_eq!(
            observed.config_sha256,
            Some(sha256_hex(&expected.render().unwrap()))
        );
        // The file this library writes hashes to its own bytes.
        let own = String::from_utf8(expected.render().unwrap()).unwrap();
        let again = parse_observed(&format!(
            "unit=k3s-agent\nb64={} /etc/rancher/k3s/config.yaml\n",
            b64(&own)
        ));
        assert_eq!(again.config_sha256, Some(sha256_hex(own.as_bytes())));
        assert_eq!(parse_observed(""), Observed::default());
        assert_eq!(
            parse_observed("hostname=node-7\n")
                .node_name(None)
                .as_deref(),
            Some("node-7")
        );
        assert_eq!(
            parse_observed("hostname=node-7\n")
                .node_name(Some("edge-1"))
                .as_deref(),
            Some("edge-1")
        );
        let edited = parse_observed(&format!(
            "unit=k3s-agent\nb64={} /etc/rancher/k3s/config.yaml\n",
            b64(&format!("{own}debug: true\n"))
        ));
        assert_ne!(edited.config_sha256, again.config_sha256);
        assert!(!edited.active);
    }

    #[test]
    fn the_running_release_and_the_unit_flags_are_read_too() {
        let report = "unit=k3s\nactive=active\nversion=k3s version v1.34.1+k3s1 (aa)\n\
                      running=k3s version v1.33.4+k3s1 (bb)\n\
                      exec=ExecStart=/usr/local/bin/k3s \\\nexec=    server \\\n\
                      exec=    '--disable' \\\nexec=    'traefik' \\\nexec=    '--disable=servicelb' \\\n\
                      exec=    '--cluster-init' \\\nexec=    '--node-label=zone=a' \\\nexec=\n";
        let observed = parse_observed(report);
        assert_eq!(
            observed.running_version.unwrap().to_string(),
            "v1.33.4+k3s1"
        );
        assert_eq!(observed.version.unwrap().to_string(), "v1.34.1+k3s1");
        let config = observed.effective_config().unwrap();
        assert_eq!(
            config.settings["disable"],
            serde_json::json!(["traefik", "servicelb"])
        );
        assert_eq!(
            config.role,
            Role::Server {
                cluster_init: true,
                join: None
            }
        );
        assert_eq!(config.node_labels["zone"], "a");
        let desired = Desired::new(
            NodeConfig::new(Role::Server {
                cluster_init: true,
                join: None,
            }),
            super::super::InstallPlan {
                version: "v1.34.1+k3s1".parse().unwrap(),
                installer: super::super::Installer::Download {
                    script_url: "https://get.k3s.io".into(),
                    release_base: None,
                },
            },
        );
        let drift = observed.drift(&desired).unwrap();
        assert!(drift.stale, "the old release still runs: a restart is due");
        assert_eq!(drift.version, None, "the binary is the one wanted");
    }

    #[test]
    fn a_newer_release_on_the_host_is_never_replaced_by_an_older_one() {
        let observed = Observed {
            unit: Some(Unit::Agent),
            version: Some("v1.34.1+k3s1".parse().unwrap()),
            ..Observed::default()
        };
        let desired = Desired::new(
            NodeConfig::new(Role::Server {
                cluster_init: false,
                join: None,
            }),
            super::super::InstallPlan {
                version: "v1.33.4+k3s1".parse().unwrap(),
                installer: super::super::Installer::Download {
                    script_url: "https://get.k3s.io".into(),
                    release_base: None,
                },
            },
        );
        assert!(matches!(
            observed.drift(&desired).unwrap().version,
            Some(VersionChange::Downgrade { .. })
        ));
    }
}
