//! Driving K3s on a node over SSH: read what is there (for drift), converge it to a desired
//! configuration (files, install or upgrade, restart without blocking, readiness with a
//! deadline), and remove it.

use super::{
    parse_env_file, sha256_hex, InstallPlan, Installer, K3sVersion, NodeConfig, Registries, Role,
    Service, CONFIG_PATH, REGISTRIES_PATH, SERVER_TOKEN_PATH,
};
use crate::ssh::{self, Command, FileOptions, Secret, Session};
use std::time::{Duration, Instant};

/// Why converging or inspecting a node failed.
#[derive(Debug, thiserror::Error)]
pub enum K3sError {
    /// An SSH step failed (its message names the host, the step and the remote output).
    #[error(transparent)]
    Ssh(#[from] ssh::Error),
    /// The desired configuration cannot be rendered.
    #[error("{host}: invalid K3s configuration: {source}")]
    Config {
        /// The node.
        host: String,
        /// What is wrong.
        source: super::ConfigError,
    },
    /// The desired version is older than the installed one.
    #[error("{host}: K3s {installed} is installed and {desired} is older; downgrades are not supported. Pin {installed} or newer, or replace the node.")]
    Downgrade {
        /// The node.
        host: String,
        /// What runs there.
        installed: K3sVersion,
        /// What was asked for.
        desired: K3sVersion,
    },
    /// The air-gap binary cannot be used.
    #[error("{host}: air-gap binary {binary}: {problem}")]
    AirGap {
        /// The node.
        host: String,
        /// The local file.
        binary: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The service did not become active in time.
    #[error("{host}: {unit}.service did not become active within {waited:?} (state: {state}). Last lines of its journal:\n{journal}\nCheck the token and server URL in config.yaml and that the server is reachable on port 6443.")]
    NotActive {
        /// The node.
        host: String,
        /// The unit.
        unit: &'static str,
        /// How long it was given.
        waited: Duration,
        /// The last `systemctl is-active` answer.
        state: String,
        /// The tail of `journalctl -u <unit>`.
        journal: String,
    },
}

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
    pub service: Option<Service>,
    /// Whether it is active.
    pub active: bool,
    /// The installed release.
    pub version: Option<K3sVersion>,
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
    /// The node's effective configuration: `config.yaml`, completed with `K3S_URL` and
    /// `K3S_TOKEN` from the env file. `None` without K3s or when config.yaml is unreadable.
    pub fn effective_config(&self) -> Option<NodeConfig> {
        let service = self.service?;
        let yaml = self.config_yaml.as_ref().map(Secret::expose).unwrap_or("");
        let mut config = NodeConfig::parse(yaml, service == Service::Server).ok()?;
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

/// What a node should have.
#[derive(Debug, Clone)]
pub struct Desired {
    /// `config.yaml`.
    pub config: NodeConfig,
    /// `registries.yaml` (removed when empty).
    pub registries: Registries,
    /// How to install, and which release.
    pub install: InstallPlan,
    /// Enable IP forwarding and bridge sysctls, load `br_netfilter` and `overlay`.
    pub os_prep: bool,
    /// Insert ACCEPT rules for K3s's ports before the REJECT of `/etc/iptables/rules.v4`.
    pub open_firewall: bool,
    /// How long the service may take to become active.
    pub ready_timeout: Duration,
}

/// What converging changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// config.yaml was (re)written.
    pub config_written: bool,
    /// registries.yaml was (re)written or removed.
    pub registries_written: bool,
    /// The installer ran (install or upgrade).
    pub installed: bool,
    /// The service was restarted.
    pub restarted: bool,
}

/// Reads the node's K3s state in one round trip.
pub async fn observe(session: &Session) -> Result<Observed, ssh::Error> {
    let script = format!(
        "for u in k3s k3s-agent; do [ -f /etc/systemd/system/$u.service ] && echo \"unit=$u\" && echo \"active=$(systemctl is-active $u 2>/dev/null)\"; done\n\
         [ -x /usr/local/bin/k3s ] && echo \"version=$(/usr/local/bin/k3s --version 2>/dev/null | head -n1)\"\n\
         for f in {CONFIG_PATH} {REGISTRIES_PATH} /etc/systemd/system/k3s.service.env /etc/systemd/system/k3s-agent.service.env; do\n\
           [ -f \"$f\" ] && echo \"sha=$(sha256sum \"$f\" | cut -d' ' -f1) $f\" && echo \"b64=$(base64 -w0 \"$f\") $f\"\n\
         done\n\
         for u in k3s k3s-agent; do [ -f /etc/systemd/system/$u.service ] && sed -n '/^ExecStart=/,$p' /etc/systemd/system/$u.service | sed 's/^/exec=/'; done\n\
         echo \"hostname=$(hostname)\"\n\
         true\n"
    );
    let out = session
        .exec(Command::new("read the K3s state", script).timeout(Duration::from_secs(60)))
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
            "unit" if observed.service != Some(Service::Server) => {
                observed.service = Some(if value == "k3s" {
                    Service::Server
                } else {
                    Service::Agent
                });
            }
            "active" => observed.active |= value.trim() == "active",
            "version" => observed.version = K3sVersion::from_version_output(value),
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
    if observed.service == Some(Service::Agent) {
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

/// Converges the node to `desired`: OS preparation, files, install or upgrade, and a restart
/// whenever something changed or the service is not active (the installer does not notice
/// configuration changes). Fails with the journal's tail when the service does not come up.
pub async fn converge(
    session: &Session,
    desired: &Desired,
    observed: &Observed,
) -> Result<Applied, K3sError> {
    let host = session.host().to_owned();
    let mut applied = Applied::default();
    if let Some(installed) = observed.version {
        if desired.install.version < installed {
            return Err(K3sError::Downgrade {
                host,
                installed,
                desired: desired.install.version,
            });
        }
    }
    if desired.os_prep {
        session
            .exec(
                Command::new("prepare the OS for K3s (sysctls, kernel modules)", OS_PREP)
                    .timeout(Duration::from_secs(60)),
            )
            .await?;
    }
    if desired.open_firewall {
        session
            .exec(
                Command::new(
                    "open the K3s ports in /etc/iptables/rules.v4",
                    OPEN_FIREWALL,
                )
                .timeout(Duration::from_secs(60)),
            )
            .await?;
    }
    let config = desired.config.render().map_err(|source| K3sError::Config {
        host: host.clone(),
        source,
    })?;
    if observed.config_sha256.as_deref() != Some(sha256_hex(&config).as_str()) {
        session
            .write_file(
                CONFIG_PATH,
                &config,
                &FileOptions::new().mode(0o600).create_parents(true),
            )
            .await?;
        applied.config_written = true;
    }
    if desired.registries.is_empty() {
        if observed.registries_sha256.is_some() {
            session
                .exec(Command::new(
                    "remove registries.yaml",
                    format!("rm -f {REGISTRIES_PATH}"),
                ))
                .await?;
            applied.registries_written = true;
        }
    } else {
        let registries = desired.registries.render();
        if observed.registries_sha256.as_deref() != Some(sha256_hex(&registries).as_str()) {
            session
                .write_file(
                    REGISTRIES_PATH,
                    &registries,
                    &FileOptions::new().mode(0o600).create_parents(true),
                )
                .await?;
            applied.registries_written = true;
        }
    }
    let service = desired.install.service;
    if observed.version != Some(desired.install.version) || observed.service != Some(service) {
        let purpose = match observed.version {
            Some(v) if observed.service == Some(service) => {
                format!("upgrade K3s from {v} to {}", desired.install.version)
            }
            _ => format!("install K3s {}", desired.install.version),
        };
        if let Installer::AirGap { binary, sha256, .. } = &desired.install.installer {
            upload_binary(session, binary, sha256, desired.install.version).await?;
        }
        session
            .exec(Command::new(purpose, desired.install.script()).timeout(Duration::from_secs(600)))
            .await?;
        applied.installed = true;
    }
    if applied.config_written || applied.registries_written || applied.installed || !observed.active
    {
        restart(session, service, desired.ready_timeout).await?;
        applied.restarted = true;
    }
    if service == Service::Server {
        wait_for_file(session, SERVER_TOKEN_PATH, desired.ready_timeout).await?;
    }
    Ok(applied)
}

/// Uploads an air-gap K3s binary to `/usr/local/bin/k3s` after checking it against the
/// expected SHA-256, unless the node already has exactly that file; then checks that it is the
/// release asked for (otherwise every later read would report a different version).
async fn upload_binary(
    session: &Session,
    binary: &std::path::Path,
    expected: &str,
    version: K3sVersion,
) -> Result<(), K3sError> {
    let fail = |problem: String| K3sError::AirGap {
        host: session.host().to_owned(),
        binary: binary.display().to_string(),
        problem,
    };
    let bytes = tokio::fs::read(binary)
        .await
        .map_err(|e| fail(format!("cannot be read: {e}")))?;
    let actual = sha256_hex(&bytes);
    if !actual.eq_ignore_ascii_case(expected.trim()) {
        return Err(fail(format!(
            "its SHA-256 is {actual}, not the expected {}; nothing was uploaded",
            expected.trim()
        )));
    }
    let present = session
        .output(Command::new(
            "hash the installed K3s binary",
            "sha256sum /usr/local/bin/k3s 2>/dev/null | cut -d' ' -f1",
        ))
        .await?;
    if present.stdout_text().trim() != actual {
        session
            .write_file(
                "/usr/local/bin/k3s",
                &bytes,
                &FileOptions::new()
                    .mode(0o755)
                    .create_parents(true)
                    .timeout(Duration::from_secs(600)),
            )
            .await?;
    }
    let out = session
        .exec(Command::new(
            "read the uploaded K3s binary's version",
            "/usr/local/bin/k3s --version",
        ))
        .await?;
    match K3sVersion::from_version_output(&out.stdout_text()) {
        Some(found) if found == version => Ok(()),
        found => Err(fail(format!(
            "it is K3s {}, but version {version} is configured",
            found.map_or_else(|| "of unknown version".to_owned(), |v| v.to_string())
        ))),
    }
}

/// Restarts the unit without blocking (a `Type=notify` unit that never gets ready would block
/// `systemctl restart` forever), then polls `is-active` until the deadline.
pub async fn restart(
    session: &Session,
    service: Service,
    timeout: Duration,
) -> Result<(), K3sError> {
    let unit = service.unit();
    session
        .exec(Command::new(format!("restart {unit}"), format!("systemctl daemon-reload && systemctl reset-failed {unit} 2>/dev/null; systemctl enable {unit} >/dev/null 2>&1; systemctl --no-block restart {unit}")))
        .await?;
    let started = Instant::now();
    let mut state = String::new();
    while started.elapsed() < timeout {
        let out = session
            .output(
                Command::new(
                    format!("check {unit}"),
                    format!("systemctl is-active {unit}"),
                )
                .timeout(Duration::from_secs(30)),
            )
            .await?;
        state = out.stdout_text().trim().to_owned();
        if state == "active" {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let journal = session
        .output(
            Command::new(
                format!("read the journal of {unit}"),
                format!("journalctl -u {unit} -n 30 --no-pager -o cat"),
            )
            .timeout(Duration::from_secs(30)),
        )
        .await
        .map(|o| o.stdout_text())
        .unwrap_or_default();
    Err(K3sError::NotActive {
        host: session.host().to_owned(),
        unit,
        waited: timeout,
        state,
        journal,
    })
}

async fn wait_for_file(session: &Session, path: &str, timeout: Duration) -> Result<(), K3sError> {
    let seconds = timeout.as_secs().max(1);
    session
        .exec(
            Command::new(format!("wait for {path}"), format!("i=0; while [ ! -s {path} ] && [ $i -lt {seconds} ]; do sleep 1; i=$((i+1)); done; test -s {path}"))
                .timeout(timeout + Duration::from_secs(10)),
        )
        .await?;
    Ok(())
}

/// Runs the unit's uninstall script when K3s is there; leaves the node password so a node that
/// rejoins under the same name is not refused.
pub async fn uninstall(session: &Session, service: Service) -> Result<(), ssh::Error> {
    let script = service.uninstall_script();
    session
        .exec(
            Command::new(
                format!("uninstall {}", service.unit()),
                format!("if [ -x {script} ]; then {script} >&2; fi"),
            )
            .timeout(Duration::from_secs(300)),
        )
        .await?;
    Ok(())
}

/// The OS preparation K3s needs, idempotent.
const OS_PREP: &str = r#"set -e
for m in br_netfilter overlay; do modprobe "$m" 2>/dev/null || true; done
mkdir -p /etc/modules-load.d /etc/sysctl.d
printf 'br_netfilter\noverlay\n' > /etc/modules-load.d/k3s.conf
printf 'net.ipv4.ip_forward = 1\nnet.ipv6.conf.all.forwarding = 1\nnet.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\n' > /etc/sysctl.d/90-k3s.conf
sysctl -q -p /etc/sysctl.d/90-k3s.conf >/dev/null 2>&1 || true
"#;

/// Inserts ACCEPT rules for K3s's ports before the first REJECT of the INPUT chain in OCI
/// Ubuntu's `/etc/iptables/rules.v4`, once (each rule carries a comment that marks it), and
/// loads the file. Does nothing where the file does not exist.
const OPEN_FIREWALL: &str = r#"set -e
rules=/etc/iptables/rules.v4
[ -f "$rules" ] || exit 0
grep -q 'k3s-sdk' "$rules" && exit 0
tmp=$(mktemp "$rules.XXXXXX")
awk '
  !done && /^-A INPUT .*-j REJECT/ {
    print "-A INPUT -p tcp -m tcp --dport 6443 -m comment --comment k3s-sdk -j ACCEPT"
    print "-A INPUT -p udp -m udp --dport 8472 -m comment --comment k3s-sdk -j ACCEPT"
    print "-A INPUT -p tcp -m tcp --dport 10250 -m comment --comment k3s-sdk -j ACCEPT"
    print "-A INPUT -p tcp -m tcp --dport 2379:2380 -m comment --comment k3s-sdk -j ACCEPT"
    print "-A INPUT -p udp -m udp --dport 51820:51821 -m comment --comment k3s-sdk -j ACCEPT"
    done = 1
  }
  { print }
' "$rules" > "$tmp"
chmod 0640 "$tmp"
mv -f "$tmp" "$rules"
if command -v iptables-restore >/dev/null 2>&1; then iptables-restore < "$rules"; fi
"#;

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
        assert_eq!(observed.service, Some(Service::Agent));
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
        // token, as this library would write it.
        let mut expected = NodeConfig::new(Role::Agent {
            server_url: "https://10.0.0.241:6443".into(),
        });
        expected.token = Some(Secret::new("K10abc::server:def"));
        expected.node_labels.insert("role".into(), "worker".into());
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
    fn the_firewall_rules_go_before_the_reject_once() {
        let dir = std::env::temp_dir().join(format!("k3s-fw-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("etc/iptables")).unwrap();
        let rules = dir.join("etc/iptables/rules.v4");
        std::fs::write(&rules, "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\n-A INPUT -j REJECT --reject-with icmp-host-prohibited\n-A FORWARD -j REJECT --reject-with icmp-host-prohibited\nCOMMIT\n").unwrap();
        let script = OPEN_FIREWALL
            .replace("/etc/iptables/rules.v4", &rules.display().to_string())
            .replace("iptables-restore", "true");
        for _ in 0..2 {
            let status = std::process::Command::new("sh")
                .arg("-c")
                .arg(&script)
                .status()
                .unwrap();
            assert!(status.success());
        }
        let text = std::fs::read_to_string(&rules).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let reject = lines
            .iter()
            .position(|l| l.starts_with("-A INPUT -j REJECT"))
            .unwrap();
        let accept = lines
            .iter()
            .position(|l| l.contains("--dport 6443"))
            .unwrap();
        assert!(accept < reject, "{text}");
        assert_eq!(
            text.matches("--dport 6443").count(),
            1,
            "rules added twice:\n{text}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
