//! Driving K3s on a node over SSH: read what is there (for drift), converge it to a desired
//! configuration (files, install or upgrade, restart without blocking, readiness with a
//! deadline), and remove it.

use super::{
    sha256_hex, InstallPlan, K3sVersion, NodeConfig, Registries, Service, CONFIG_PATH,
    REGISTRIES_PATH, SERVER_TOKEN_PATH,
};
use crate::ssh::{self, Command, FileOptions, Session};
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// Which K3s unit is installed, if any.
    pub service: Option<Service>,
    /// Whether it is active.
    pub active: bool,
    /// The installed release.
    pub version: Option<K3sVersion>,
    /// SHA-256 of `config.yaml`.
    pub config_sha256: Option<String>,
    /// SHA-256 of `registries.yaml`.
    pub registries_sha256: Option<String>,
    /// SHA-256 of the unit's env file.
    pub env_sha256: Option<String>,
    /// The server an agent is joined to (`K3S_URL` in its env file, else `server` in config.yaml).
    pub server_url: Option<String>,
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
           [ -f \"$f\" ] && echo \"sha=$(sha256sum \"$f\" | cut -d' ' -f1) $f\"\n\
         done\n\
         for f in /etc/systemd/system/k3s-agent.service.env /etc/systemd/system/k3s.service.env; do\n\
           [ -f \"$f\" ] && sed -n 's/^K3S_URL=/k3s_url=/p' \"$f\"\n\
         done\n\
         [ -f {CONFIG_PATH} ] && sed -n 's/^server: */config_server=/p' {CONFIG_PATH}\n\
         true\n"
    );
    let out = session
        .exec(Command::new("read the K3s state", script).timeout(Duration::from_secs(60)))
        .await?;
    Ok(parse_observed(&out.stdout_text()))
}

fn parse_observed(text: &str) -> Observed {
    let mut observed = Observed::default();
    let unquote = |v: &str| v.trim().trim_matches('"').trim_matches('\'').to_owned();
    let mut config_server = None;
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
            "sha" => {
                if let Some((hash, file)) = value.split_once(' ') {
                    let hash = Some(hash.to_owned());
                    match file {
                        CONFIG_PATH => observed.config_sha256 = hash,
                        REGISTRIES_PATH => observed.registries_sha256 = hash,
                        _ if file.ends_with(".service.env") && observed.env_sha256.is_none() => {
                            observed.env_sha256 = hash
                        }
                        _ => {}
                    }
                }
            }
            "k3s_url" => observed.server_url = Some(unquote(value)),
            "config_server" => config_server = Some(unquote(value)),
            _ => {}
        }
    }
    if observed.server_url.is_none() && observed.service == Some(Service::Agent) {
        observed.server_url = config_server;
    }
    observed
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

    #[test]
    fn observed_state_is_parsed_from_one_report() {
        let report = "unit=k3s-agent\nactive=active\nversion=k3s version v1.33.4+k3s1 (1a2b3c4d)\n\
                      sha=aaa /etc/rancher/k3s/config.yaml\nsha=ccc /etc/systemd/system/k3s-agent.service.env\n\
                      k3s_url='https://10.0.0.241:6443'\n";
        let observed = parse_observed(report);
        assert_eq!(observed.service, Some(Service::Agent));
        assert!(observed.active);
        assert_eq!(observed.version.unwrap().to_string(), "v1.33.4+k3s1");
        assert_eq!(observed.config_sha256.as_deref(), Some("aaa"));
        assert_eq!(observed.registries_sha256, None);
        assert_eq!(observed.env_sha256.as_deref(), Some("ccc"));
        assert_eq!(
            observed.server_url.as_deref(),
            Some("https://10.0.0.241:6443")
        );
        assert_eq!(parse_observed(""), Observed::default());
        let from_config =
            parse_observed("unit=k3s-agent\nactive=failed\nconfig_server=https://s:6443\n");
        assert_eq!(from_config.server_url.as_deref(), Some("https://s:6443"));
        assert!(!from_config.active);
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
