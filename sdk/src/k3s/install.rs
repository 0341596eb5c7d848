//! Installing K3s with its install script, the way that cannot hang: everything K3s is
//! configured with is already in `config.yaml`, the installer is told only the version, the role
//! and to skip starting the service (its restart blocks forever on a node that never becomes
//! ready); the caller then restarts the unit without blocking and polls it with a deadline.

use crate::ssh::shell_quote;
use std::collections::BTreeMap;

/// The systemd unit a node's K3s runs as; which one follows from the node's [`Role`]
/// ([`Role::unit`]).
///
/// [`Role`]: super::Role
/// [`Role::unit`]: super::Role::unit
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// `k3s.service`: a server.
    Server,
    /// `k3s-agent.service`: an agent.
    Agent,
}

impl Unit {
    /// The unit's name without `.service`.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Server => "k3s",
            Unit::Agent => "k3s-agent",
        }
    }
    /// The installer's command (`INSTALL_K3S_EXEC`).
    pub fn command(self) -> &'static str {
        match self {
            Unit::Server => "server",
            Unit::Agent => "agent",
        }
    }
    /// The unit's env file, which the installer fills with `K3S_*` variables (mode 0600).
    pub fn env_file(self) -> String {
        format!("/etc/systemd/system/{}.service.env", self.name())
    }
    /// The uninstall script the installer leaves.
    pub fn uninstall_script(self) -> String {
        format!("/usr/local/bin/{}-uninstall.sh", self.name())
    }
}

/// Where K3s comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installer {
    /// Download the install script from this URL (normally `https://get.k3s.io`); it downloads the
    /// release binary and checks its sha256. `release_base` overrides where releases come from
    /// (the script's `GITHUB_URL`), for mirrors.
    Download {
        /// The install script's URL.
        script_url: String,
        /// Where releases are downloaded from, when not GitHub.
        release_base: Option<String>,
    },
    /// Upload `binary` (a file on the machine running this library, checked against
    /// `sha256`) to `/usr/local/bin/k3s`; the install script, downloaded from `script_url`, then
    /// only writes the unit. The node needs no access to the release downloads.
    AirGap {
        /// The install script's URL.
        script_url: String,
        /// The K3s binary to upload.
        binary: std::path::PathBuf,
        /// Its expected SHA-256 (lowercase hex); the upload is refused when it differs.
        sha256: String,
    },
}

/// What to install: which release, from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallPlan {
    /// The release, `vX.Y.Z+k3sN`.
    pub version: super::K3sVersion,
    /// Where K3s comes from.
    pub installer: Installer,
}

impl InstallPlan {
    /// The shell script (run as root) that fetches the installer (with curl, else wget) and
    /// runs it for `unit`. It carries no secret: the token is in `config.yaml`. The installer's
    /// output goes to stderr so a failure shows its `[ERROR]` line.
    pub fn script(&self, unit: Unit) -> String {
        let (script_url, release_base, skip_download) = match &self.installer {
            Installer::Download {
                script_url,
                release_base,
            } => (script_url, release_base.as_deref(), false),
            Installer::AirGap { script_url, .. } => (script_url, None, true),
        };
        let mut env = vec![
            ("INSTALL_K3S_VERSION", self.version.to_string()),
            ("INSTALL_K3S_EXEC", unit.command().to_string()),
            ("INSTALL_K3S_SKIP_START", "true".to_string()),
        ];
        if let Some(base) = release_base {
            env.push(("GITHUB_URL", base.to_string()));
        }
        if skip_download {
            env.push(("INSTALL_K3S_SKIP_DOWNLOAD", "true".to_string()));
        }
        let assignments: Vec<String> = env
            .iter()
            .map(|(k, v)| format!("{k}={}", shell_quote(v)))
            .collect();
        format!(
            "set -eu\n\
             installer=$(mktemp /tmp/k3s-install.XXXXXX)\n\
             trap 'rm -f \"$installer\"' EXIT\n\
             if command -v curl >/dev/null 2>&1; then curl -sSfL --retry 3 --max-time 120 -o \"$installer\" {url}\n\
             elif command -v wget >/dev/null 2>&1; then wget -q -T 120 -t 3 -O \"$installer\" {url}\n\
             else echo 'neither curl nor wget is on the node to fetch the K3s install script with; install one on the node' >&2; exit 1; fi\n\
             {assignments} sh \"$installer\" >&2\n",
            url = shell_quote(script_url),
            assignments = assignments.join(" "),
        )
    }
}

/// Parses a systemd env file (`KEY=value` or `KEY="value"` lines; `#` comments).
pub fn parse_env_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let unquoted = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            (k.trim().to_owned(), unquoted.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_install_script_pins_the_version_skips_the_start_and_carries_no_secret() {
        let plan = InstallPlan {
            version: "v1.33.4+k3s1".parse().unwrap(),
            installer: Installer::Download {
                script_url: "https://get.k3s.io".into(),
                release_base: Some("http://10.231.1.1:8080/k3s-io/k3s/releases".into()),
            },
        };
        let script = plan.script(Unit::Agent);
        assert!(
            script.contains("INSTALL_K3S_VERSION=v1.33.4+k3s1 "),
            "{script}"
        );
        assert!(script.contains("INSTALL_K3S_EXEC=agent "));
        assert!(script.contains("INSTALL_K3S_SKIP_START=true "));
        assert!(script.contains("GITHUB_URL=http://10.231.1.1:8080/k3s-io/k3s/releases "));
        assert!(!script.contains("K3S_TOKEN") && !script.contains("K3S_URL"));
        let airgap = InstallPlan {
            installer: Installer::AirGap {
                script_url: "https://get.k3s.io".into(),
                binary: "/tmp/k3s".into(),
                sha256: "00".repeat(32),
            },
            ..plan
        };
        assert!(airgap
            .script(Unit::Agent)
            .contains("INSTALL_K3S_SKIP_DOWNLOAD=true "));
        assert_eq!(
            Unit::Agent.env_file(),
            "/etc/systemd/system/k3s-agent.service.env"
        );
        assert_eq!(
            Unit::Server.uninstall_script(),
            "/usr/local/bin/k3s-uninstall.sh"
        );
    }

    #[test]
    fn env_files_parse_with_and_without_quotes() {
        let env = parse_env_file("# comment\nK3S_URL='https://10.0.0.241:6443'\nK3S_TOKEN=\"abc\"\nHTTP_PROXY=http://p:3128\n\n");
        assert_eq!(env["K3S_URL"], "https://10.0.0.241:6443");
        assert_eq!(env["K3S_TOKEN"], "abc");
        assert_eq!(env["HTTP_PROXY"], "http://p:3128");
    }
}
