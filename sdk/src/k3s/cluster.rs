//! The node's side of the cluster: its Node object read and removed through the Kubernetes
//! API, by running K3s's embedded `kubectl` on the node itself (so the API only has to be
//! reachable from the node, not from where this library runs).
//!
//! A server uses its own admin kubeconfig (`/etc/rancher/k3s/k3s.yaml`); an agent has none,
//! so the caller hands it one ([`ApiAccess::Kubeconfig`]), which lives on the node only for
//! the command's duration in a 0600 temporary file, passed on stdin, never in argv.

use super::KUBECONFIG_PATH;
use crate::ssh::{self, shell_quote, Command, Secret, Session};
use std::time::Duration;

/// How long draining a node may take unless told otherwise.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(300);

/// How `kubectl` on the node reaches the API.
#[derive(Debug, Clone)]
pub enum ApiAccess {
    /// The server's own admin kubeconfig.
    Local,
    /// A kubeconfig the caller supplies (for agents).
    Kubeconfig(Secret),
}

/// What removing a node from the cluster did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removal {
    /// The drain finished within its timeout.
    pub drained: bool,
    /// The Node object is gone (deleted now, or it was not there).
    pub deleted: bool,
    /// Why a step did not complete: kubectl's own words, for a warning.
    pub problems: Vec<String>,
}

/// Whether the node's `Ready` condition is `True`; `None` when the API cannot tell (not
/// reachable, no such node).
pub async fn node_ready(
    session: &Session,
    access: &ApiAccess,
    node: &str,
) -> Result<Option<bool>, ssh::Error> {
    let jsonpath = "{.status.conditions[?(@.type==\"Ready\")].status}";
    let args = format!(
        "get node {} -o jsonpath={} --request-timeout=20s",
        shell_quote(node),
        shell_quote(jsonpath)
    );
    let out = session
        .output(kubectl(
            access,
            "read the node's Ready condition",
            &args,
            60,
        ))
        .await?;
    if !out.status.success() {
        return Ok(None);
    }
    Ok(match out.stdout_text().trim() {
        "True" => Some(true),
        "" => None,
        _ => Some(false),
    })
}

/// How many control-plane nodes the cluster has, `None` when the API cannot tell.
pub async fn control_plane_count(
    session: &Session,
    access: &ApiAccess,
) -> Result<Option<usize>, ssh::Error> {
    let out = session
        .output(kubectl(
            access,
            "count the control-plane nodes",
            "get nodes -l node-role.kubernetes.io/control-plane=true -o name --request-timeout=20s",
            60,
        ))
        .await?;
    if !out.status.success() {
        return Ok(None);
    }
    Ok(Some(
        out.stdout_text()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count(),
    ))
}

/// Drains the node (bounded by `drain_timeout`) and deletes its Node object, which also
/// removes its node-password secret and, for an etcd server, its etcd member. A drain that
/// times out does not stop the deletion; both outcomes are reported, not raised, so a
/// destroy can go on to uninstall and warn.
pub async fn remove_node(
    session: &Session,
    access: &ApiAccess,
    node: &str,
    drain_timeout: Duration,
) -> Result<Removal, ssh::Error> {
    let seconds = drain_timeout.as_secs().max(1);
    let mut removal = Removal::default();
    let drain = format!(
        "drain {} --ignore-daemonsets --delete-emptydir-data --force --timeout={seconds}s --request-timeout=30s",
        shell_quote(node)
    );
    let out = session
        .output(kubectl(access, "drain the node", &drain, seconds + 60))
        .await?;
    if out.status.success() {
        removal.drained = true;
    } else {
        removal
            .problems
            .push(format!("drain: {}", last_lines(&out.stderr_text())));
    }
    let delete = format!(
        "delete node {} --ignore-not-found --request-timeout=30s",
        shell_quote(node)
    );
    let out = session
        .output(kubectl(access, "delete the Node object", &delete, 90))
        .await?;
    if out.status.success() {
        removal.deleted = true;
    } else {
        removal
            .problems
            .push(format!("delete node: {}", last_lines(&out.stderr_text())));
    }
    Ok(removal)
}

/// A `k3s kubectl` command with the given access. A supplied kubeconfig arrives on stdin
/// and is written to a private temporary file removed when the command ends.
fn kubectl(access: &ApiAccess, purpose: &str, args: &str, timeout_secs: u64) -> Command {
    let timeout = Duration::from_secs(timeout_secs);
    match access {
        ApiAccess::Local => Command::new(
            purpose,
            format!("k3s kubectl --kubeconfig {KUBECONFIG_PATH} {args}"),
        )
        .timeout(timeout),
        ApiAccess::Kubeconfig(kubeconfig) => Command::new(
            purpose,
            format!(
                "umask 077; kc=$(mktemp /tmp/k3s-sdk-kubeconfig.XXXXXX) || exit 1\n\
                 trap 'rm -f \"$kc\"' EXIT\n\
                 cat > \"$kc\"\n\
                 k3s kubectl --kubeconfig \"$kc\" {args}\n"
            ),
        )
        .stdin(kubeconfig.expose().as_bytes().to_vec())
        .timeout(timeout),
    }
}

fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(3);
    lines[start..].join(" / ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_supplied_kubeconfig_goes_on_stdin_and_never_into_the_script() {
        let secret = "apiVersion: v1\nusers:\n- user:\n    client-key-data: U0VDUkVU\n";
        let command = kubectl(
            &ApiAccess::Kubeconfig(Secret::new(secret)),
            "read",
            "get nodes",
            10,
        );
        let debug = format!("{command:?}");
        assert!(!debug.contains("U0VDUkVU"), "{debug}");
        let local = kubectl(&ApiAccess::Local, "read", "get nodes", 10);
        assert!(format!("{local:?}").contains("--kubeconfig /etc/rancher/k3s/k3s.yaml"));
    }

    #[test]
    fn kubectl_errors_are_cut_to_their_last_lines() {
        assert_eq!(
            last_lines("a\n\nb\nc\nerror: timed out\n"),
            "b / c / error: timed out"
        );
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
