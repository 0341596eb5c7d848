//! Converging a node: the desired state ([`Desired`]) turned into files, an install or upgrade,
//! and a restart without blocking, with readiness under a deadline; and removing K3s again.

use super::{
    sha256_hex, InstallPlan, Installer, K3sError, K3sVersion, NodeConfig, Observed, Registries,
    Unit, VersionChange, CONFIG_PATH, REGISTRIES_PATH, SERVER_TOKEN_PATH,
};
use crate::ssh::{Command, FileOptions, Session};
use std::time::{Duration, Instant};

/// What a node should have.
#[derive(Debug, Clone)]
pub struct Desired {
    /// `config.yaml`; its role says whether the node is a server or an agent.
    pub config: NodeConfig,
    /// `registries.yaml` (removed when empty).
    pub registries: Registries,
    /// Which release, from where.
    pub install: InstallPlan,
    /// Enable IP forwarding and bridge sysctls, load `br_netfilter` and `overlay`.
    pub os_prep: bool,
    /// Insert ACCEPT rules for K3s's ports before the REJECT of `/etc/iptables/rules.v4`.
    pub open_firewall: bool,
    /// How long the service may take to become active.
    pub ready_timeout: Duration,
}

impl Desired {
    /// How long the service may take to become active unless told otherwise.
    pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(300);

    /// `config` installed with `install`: no registries, OS preparation and the firewall
    /// rules on, [`Desired::DEFAULT_READY_TIMEOUT`].
    pub fn new(config: NodeConfig, install: InstallPlan) -> Desired {
        Desired {
            config,
            registries: Registries::default(),
            install,
            os_prep: true,
            open_firewall: true,
            ready_timeout: Desired::DEFAULT_READY_TIMEOUT,
        }
    }

    /// With these registry mirrors and credentials.
    pub fn registries(mut self, registries: Registries) -> Desired {
        self.registries = registries;
        self
    }

    /// With or without OS preparation.
    pub fn os_prep(mut self, on: bool) -> Desired {
        self.os_prep = on;
        self
    }

    /// With or without the firewall rules.
    pub fn open_firewall(mut self, on: bool) -> Desired {
        self.open_firewall = on;
        self
    }

    /// With another deadline for the service to become active.
    pub fn ready_timeout(mut self, timeout: Duration) -> Desired {
        self.ready_timeout = timeout;
        self
    }
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
    /// Files OS preparation created (that were not there before): what
    /// [`undo_os_prep`] removes.
    pub created_files: Vec<String>,
    /// The firewall rules were inserted into `/etc/iptables/rules.v4` now.
    pub opened_firewall: bool,
    /// Settings on the unit's command line were moved into config.yaml and the unit's
    /// `ExecStart` rewritten the way the installer writes it, without them.
    pub unit_flags_removed: bool,
}

/// Converges the node to `desired`, given `observed`, what [`observe`](super::observe) read from
/// this node just before: only what differs between the two is changed ([`Observed::drift`]):
/// OS preparation (always, idempotent), the files, an install or upgrade, and a restart whenever
/// something changed or the service is not active (the installer does not notice configuration
/// changes). Fails with the journal's tail when the service does not come up.
pub async fn converge(
    session: &Session,
    desired: &Desired,
    observed: &Observed,
) -> Result<Applied, K3sError> {
    let host = session.host().to_owned();
    let config_error = |source| K3sError::Config {
        host: host.clone(),
        source,
    };
    let drift = observed.drift(desired).map_err(config_error)?;
    if let Some(VersionChange::Downgrade { from }) = drift.version {
        return Err(K3sError::Downgrade {
            host,
            installed: from,
            desired: desired.install.version,
        });
    }
    let mut applied = Applied::default();
    if desired.os_prep {
        let out = session
            .exec(
                Command::new("prepare the OS for K3s (sysctls, kernel modules)", OS_PREP)
                    .timeout(STEP_DEADLINE)
                    .deadline_note(FIXED_STEP),
            )
            .await?;
        applied.created_files = out
            .stdout_text()
            .lines()
            .filter_map(|l| l.strip_prefix("created="))
            .map(str::to_owned)
            .collect();
    }
    if desired.open_firewall {
        let out = session
            .exec(
                Command::new(
                    "open the K3s ports in /etc/iptables/rules.v4",
                    OPEN_FIREWALL,
                )
                .timeout(STEP_DEADLINE)
                .deadline_note(FIXED_STEP),
            )
            .await?;
        applied.opened_firewall = out.stdout_text().lines().any(|l| l == "opened");
    }
    // Settings on the unit's command line go into config.yaml when the node changes anyway
    // (the unit is then rewritten without them), so config.yaml is all K3s reads.
    let touching = drift.config
        || drift.registries
        || drift.version.is_some()
        || drift.inactive
        || drift.stale;
    let drop_flags = touching && !observed.exec_args.is_empty();
    if drift.config || drop_flags {
        let config = desired.config.render().map_err(config_error)?;
        session
            .write_file(
                CONFIG_PATH,
                &config,
                &FileOptions::new().mode(0o600).create_parents(true),
            )
            .await?;
        applied.config_written = true;
    }
    if drift.registries {
        if desired.registries.is_empty() {
            session
                .exec(Command::new(
                    "remove registries.yaml",
                    format!("rm -f {REGISTRIES_PATH}"),
                ))
                .await?;
        } else {
            session
                .write_file(
                    REGISTRIES_PATH,
                    &desired.registries.render(),
                    &FileOptions::new().mode(0o600).create_parents(true),
                )
                .await?;
        }
        applied.registries_written = true;
    }
    let unit = desired.config.role.unit();
    if drop_flags {
        session
            .exec(
                Command::new(
                    format!(
                        "remove the settings from {}.service's command line",
                        unit.name()
                    ),
                    drop_unit_flags(unit),
                )
                .timeout(STEP_DEADLINE)
                .deadline_note(FIXED_STEP),
            )
            .await?;
        applied.unit_flags_removed = true;
    }
    if let Some(change) = drift.version {
        let purpose = match change {
            VersionChange::Upgrade { from } => {
                format!("upgrade K3s from {from} to {}", desired.install.version)
            }
            _ => format!("install K3s {}", desired.install.version),
        };
        if let Installer::AirGap { binary, sha256, .. } = &desired.install.installer {
            upload_binary(session, binary, sha256, desired.install.version).await?;
        }
        session
            .exec(
                Command::new(purpose, desired.install.script(unit))
                    .timeout(Duration::from_secs(600))
                    .deadline_note("the installer's deadline is fixed at 10 minutes (it downloads the release to the node); for a slow link use an air-gap binary or a mirror closer to the node"),
            )
            .await?;
        applied.installed = true;
    }
    if applied.config_written
        || applied.registries_written
        || applied.installed
        || applied.unit_flags_removed
        || drift.inactive
        || drift.stale
    {
        restart(session, unit, desired.ready_timeout).await?;
        applied.restarted = true;
    }
    if unit == Unit::Server {
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
            format!(
                "sha256sum {} 2>/dev/null | cut -d' ' -f1",
                super::BINARY_PATH
            ),
        ))
        .await?;
    if present.stdout_text().trim() != actual {
        session
            .write_file(
                super::BINARY_PATH,
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
pub async fn restart(session: &Session, unit: Unit, timeout: Duration) -> Result<(), K3sError> {
    let unit = unit.name();
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
pub async fn uninstall(session: &Session, unit: Unit) -> Result<(), K3sError> {
    let script = unit.uninstall_script();
    session
        .exec(
            Command::new(
                format!("uninstall {}", unit.name()),
                format!("if [ -x {script} ]; then {script} >&2; fi"),
            )
            .timeout(Duration::from_secs(300))
            .deadline_note("the uninstall script's deadline is fixed at 5 minutes (it stops K3s and its containers); look at what still runs on the node"),
        )
        .await?;
    Ok(())
}

/// How long one fixed step (OS preparation, the firewall, reading the node) may take; the whole
/// operation is bounded by its caller's deadline.
pub const STEP_DEADLINE: Duration = Duration::from_secs(60);

/// What a fixed step's timeout says about its deadline.
pub(crate) const FIXED_STEP: &str = "this step's deadline is fixed (it takes a second or two on a healthy host): the host is overloaded or the command hangs; see its output above";

/// The files OS preparation writes.
pub const OS_PREP_FILES: [&str; 2] = ["/etc/modules-load.d/k3s.conf", "/etc/sysctl.d/90-k3s.conf"];

/// The OS preparation K3s needs, idempotent; prints `created=<path>` for each file it creates
/// (one that was not there before).
const OS_PREP: &str = r#"set -e
for m in br_netfilter overlay; do modprobe "$m" 2>/dev/null || true; done
mkdir -p /etc/modules-load.d /etc/sysctl.d
for f in /etc/modules-load.d/k3s.conf /etc/sysctl.d/90-k3s.conf; do [ -e "$f" ] || echo "created=$f"; done
printf 'br_netfilter\noverlay\n' > /etc/modules-load.d/k3s.conf
printf 'net.ipv4.ip_forward = 1\nnet.ipv6.conf.all.forwarding = 1\nnet.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\n' > /etc/sysctl.d/90-k3s.conf
sysctl -q -p /etc/sysctl.d/90-k3s.conf >/dev/null 2>&1 || true
"#;

/// Rewrites the unit's `ExecStart` the way the installer writes it, without arguments after
/// the command (they are in config.yaml by then).
fn drop_unit_flags(unit: Unit) -> String {
    format!(
        r#"set -e
file=/etc/systemd/system/{name}.service
tmp=$(mktemp "$file.XXXXXX")
awk '
  more {{ if ($0 !~ /\\$/) more = 0; next }}
  /^ExecStart=/ {{ print "ExecStart=/usr/local/bin/k3s \\"; print "    {command}"; if ($0 ~ /\\$/) more = 1; next }}
  {{ print }}
' "$file" > "$tmp"
chmod 0644 "$tmp"
mv -f "$tmp" "$file"
"#,
        name = unit.name(),
        command = unit.command()
    )
}

/// Undoes what OS preparation and the firewall step did on this node and nothing else: removes
/// `created_files` (files it created, as [`Applied::created_files`] listed them; other paths
/// are ignored) and, with `firewall`, the rules it inserted into `/etc/iptables/rules.v4`.
pub async fn undo_os_prep(
    session: &Session,
    created_files: &[String],
    firewall: bool,
) -> Result<(), K3sError> {
    let files: Vec<&str> = created_files
        .iter()
        .map(String::as_str)
        .filter(|f| OS_PREP_FILES.contains(f))
        .collect();
    let mut script = String::from("set -e\n");
    if !files.is_empty() {
        script.push_str(&format!("rm -f {}\n", files.join(" ")));
    }
    if firewall {
        script.push_str(CLOSE_FIREWALL);
    }
    if script.len() > "set -e\n".len() {
        session
            .exec(
                Command::new("undo the OS preparation for K3s", script)
                    .timeout(STEP_DEADLINE)
                    .deadline_note(FIXED_STEP),
            )
            .await?;
    }
    Ok(())
}

/// Removes the rules [`OPEN_FIREWALL`] inserted (they carry its comment) and reloads the file.
const CLOSE_FIREWALL: &str = r#"rules=/etc/iptables/rules.v4
if [ -f "$rules" ] && grep -q 'k3s-sdk' "$rules"; then
  tmp=$(mktemp "$rules.XXXXXX")
  grep -v -- '--comment k3s-sdk' "$rules" > "$tmp" || true
  chmod 0640 "$tmp"
  mv -f "$tmp" "$rules"
  if command -v iptables-restore >/dev/null 2>&1; then iptables-restore < "$rules"; fi
fi
"#;

/// Inserts ACCEPT rules for K3s's ports before the first REJECT of the INPUT chain in OCI
/// Ubuntu's `/etc/iptables/rules.v4`, once (each rule carries a comment that marks it), and
/// loads the file. Does nothing where the file does not exist.
const OPEN_FIREWALL: &str = r#"set -e
rules=/etc/iptables/rules.v4
[ -f "$rules" ] || exit 0
grep -q 'k3s-sdk' "$rules" && exit 0
echo opened
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
    fn the_firewall_rules_go_before_the_reject_once() {
        let dir = std::env::temp_dir().join(format!("k3s-fw-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("etc/iptables")).unwrap();
        let rules = dir.join("etc/iptables/rules.v4");
        let original = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\n-A INPUT -j REJECT --reject-with icmp-host-prohibited\n-A FORWARD -j REJECT --reject-with icmp-host-prohibited\nCOMMIT\n";
        std::fs::write(&rules, original).unwrap();
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
        // Closing removes exactly what opening inserted.
        let close = CLOSE_FIREWALL
            .replace("/etc/iptables/rules.v4", &rules.display().to_string())
            .replace("iptables-restore", "true");
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(&close)
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(std::fs::read_to_string(&rules).unwrap(), original);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_unit_is_rewritten_without_its_flags_as_the_installer_writes_it() {
        let dir = std::env::temp_dir().join(format!("k3s-unit-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("etc/systemd/system")).unwrap();
        let unit = dir.join("etc/systemd/system/k3s.service");
        std::fs::write(&unit, "[Service]\nType=notify\nRestart=always\nExecStart=/usr/local/bin/k3s \\\n    server \\\n    '--disable' \\\n    'traefik' \\\n\n").unwrap();
        let script = drop_unit_flags(Unit::Server).replace(
            "/etc/systemd/system",
            &dir.join("etc/systemd/system").display().to_string(),
        );
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(
            std::fs::read_to_string(&unit).unwrap(),
            "[Service]\nType=notify\nRestart=always\nExecStart=/usr/local/bin/k3s \\\n    server\n"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
