//! A node's lifecycle in its cluster, one call per step, on top of [`converge`](super::converge):
//! [`wait_ready`] waits for a converged node's Node object to report Ready, and [`remove_node`]
//! takes a node out of its cluster and off its host in the safe order: the last-server rule,
//! the drain and the deletion of its Node object through the API, the uninstall, and undoing
//! what OS preparation created.
//!
//! ```no_run
//! # async fn demo(node: k3s_sdk::ssh::Session) -> Result<(), Box<dyn std::error::Error>> {
//! use k3s_sdk::k3s::{self, ApiAccess, ClusterOutcome, RemoveOptions, Unit};
//! use std::time::Duration;
//!
//! let ready = k3s::wait_ready(&node, &ApiAccess::Local, "server-1", Duration::from_secs(90)).await?;
//! println!("ready: {ready:?}");
//!
//! let options = RemoveOptions::new(Unit::Server, Some(ApiAccess::Local))
//!     .drain_timeout(Duration::from_secs(120))
//!     .deadline(Duration::from_secs(600));
//! let removed = k3s::remove_node(&node, &options).await?;
//! if let ClusterOutcome::Removed { removal, .. } = &removed.cluster {
//!     for pod in &removal.stuck {
//!         println!("was still on the node: {pod}");
//!     }
//! }
//! # Ok(()) }
//! ```

use super::cluster::{control_plane_count, node_ready, remove_from_cluster};
use super::{observe, undo_os_prep, uninstall, ApiAccess, K3sError, Removal, Unit};
use super::{DEFAULT_DRAIN_TIMEOUT, KUBECONFIG_PATH};
use crate::kubernetes;
use crate::ssh::{CancellationToken, Session};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often [`wait_ready`] asks again.
const READY_POLL: Duration = Duration::from_secs(2);

/// Waits up to `within` for the Node `node` to report Ready, asking the API through
/// `session`'s node with `access` every two seconds (once, with a zero `within`). `Ok(Some(true))`
/// as soon as it is Ready; at the deadline, the last answer: `Ok(Some(false))` (not Ready),
/// `Ok(None)` (no such Node, or no Ready condition yet), or the last error when the API did not
/// answer the last time it was asked. Dropping the future stops the wait.
pub async fn wait_ready(
    session: &Session,
    access: &ApiAccess,
    node: &str,
    within: Duration,
) -> Result<Option<bool>, kubernetes::Error> {
    let deadline = Instant::now() + within;
    let mut api = None;
    loop {
        if api.is_none() {
            match access.client(session).await {
                Ok(client) => api = Some(client),
                Err(e) => {
                    tracing::debug!(host = %session.host(), "no API client to read Ready with: {e}");
                    if Instant::now() >= deadline {
                        return Err(e);
                    }
                }
            }
        }
        if let Some(client) = &api {
            let answer = node_ready(client, node).await;
            if let Err(e) = &answer {
                tracing::debug!(host = %session.host(), "Ready not read: {e}");
            }
            if matches!(answer, Ok(Some(true))) || Instant::now() >= deadline {
                return answer;
            }
        }
        tokio::time::sleep(READY_POLL).await;
    }
}

/// What [`remove_node`] undoes of OS preparation: the files it created (as
/// [`Applied::created_files`](super::Applied::created_files) listed them) and whether it
/// inserted the firewall rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsPrepUndo {
    /// Files OS preparation created; other paths are ignored.
    pub created_files: Vec<String>,
    /// Remove the firewall rules it inserted.
    pub firewall: bool,
}

/// How [`remove_node`] removes a node.
#[derive(Debug, Clone)]
pub struct RemoveOptions {
    /// The unit to uninstall; for [`Unit::Server`] the last-server rule applies.
    pub unit: Unit,
    /// The node's name in the cluster when it is not the host name (K3s's `node-name`).
    pub node_name: Option<String>,
    /// How the node reaches the API to be drained and deleted (`None`: K3s is only
    /// uninstalled).
    pub api: Option<ApiAccess>,
    /// How long the drain may take before the Node object is deleted anyway.
    pub drain_timeout: Duration,
    /// What of OS preparation to undo after the uninstall (`None`: nothing).
    pub undo_os_prep: Option<OsPrepUndo>,
    /// How long the whole removal may take ([`RemoveError::TimedOut`] after that).
    pub deadline: Option<Duration>,
    /// Stops the removal at once, wherever it is, even in the middle of a command over SSH
    /// ([`RemoveError::Cancelled`]); what was done stays done.
    pub cancel: Option<CancellationToken>,
}

impl RemoveOptions {
    /// Removes a node of `unit`, reaching the API with `api`: the host name as node name,
    /// [`DEFAULT_DRAIN_TIMEOUT`], nothing of OS preparation undone, no deadline.
    pub fn new(unit: Unit, api: Option<ApiAccess>) -> RemoveOptions {
        RemoveOptions {
            unit,
            node_name: None,
            api,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            undo_os_prep: None,
            deadline: None,
            cancel: None,
        }
    }

    /// With the node's name in the cluster.
    pub fn node_name(mut self, name: Option<String>) -> RemoveOptions {
        self.node_name = name;
        self
    }

    /// With another drain timeout.
    pub fn drain_timeout(mut self, timeout: Duration) -> RemoveOptions {
        self.drain_timeout = timeout;
        self
    }

    /// Undoing this much of OS preparation.
    pub fn undo_os_prep(mut self, undo: OsPrepUndo) -> RemoveOptions {
        self.undo_os_prep = Some(undo);
        self
    }

    /// Within this deadline.
    pub fn deadline(mut self, deadline: Duration) -> RemoveOptions {
        self.deadline = Some(deadline);
        self
    }

    /// Stopped by this token.
    pub fn cancel(mut self, token: CancellationToken) -> RemoveOptions {
        self.cancel = Some(token);
        self
    }
}

/// What [`remove_node`] did.
#[derive(Debug)]
pub struct Removed {
    /// What became of the node in the cluster.
    pub cluster: ClusterOutcome,
    /// Whether K3s was installed (the uninstall script ran either way, doing nothing without it).
    pub was_installed: bool,
}

/// What became of a node in its cluster when it was removed. Only [`ClusterOutcome::Removed`]
/// with no problems and [`ClusterOutcome::NotInstalled`] and [`ClusterOutcome::LastServer`] left
/// nothing behind; the others leave the Node object in the cluster's node list.
#[derive(Debug)]
pub enum ClusterOutcome {
    /// K3s was not installed on the host: nothing to remove from a cluster.
    NotInstalled,
    /// It was the last server: removing it takes the cluster with it, nothing to drain to.
    LastServer,
    /// No API access was given: the node was neither drained nor deleted.
    NoApiAccess,
    /// The API could not be reached through the node: neither drained nor deleted.
    ApiUnreachable(kubernetes::Error),
    /// The node's name could not be read: neither drained nor deleted.
    NameUnknown,
    /// Drained and deleted, as far as [`Removal`] says.
    Removed {
        /// The node's name.
        name: String,
        /// What the drain and the deletion did.
        removal: Removal,
        /// For a server: counting the control-plane nodes failed with this error, so the node
        /// was drained as if other servers remained (see [`remove_node`]).
        uncounted: Option<kubernetes::Error>,
    },
}

/// Why [`remove_node`] failed. Each names the host and the step; K3s may be partly removed,
/// and calling [`remove_node`] again continues from what is there.
#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    /// K3s on the node could not be read.
    #[error("{host}: reading K3s before removing it failed: {source}")]
    Observe {
        /// The node.
        host: String,
        /// Why.
        source: K3sError,
    },
    /// The uninstall script failed.
    #[error("{host}: uninstalling {unit} failed: {source}")]
    Uninstall {
        /// The node.
        host: String,
        /// The unit's name.
        unit: &'static str,
        /// Why.
        source: K3sError,
    },
    /// Removing what OS preparation created failed (K3s itself is uninstalled).
    #[error("{host}: removing what OS preparation created failed: {source}")]
    UndoOsPrep {
        /// The node.
        host: String,
        /// Why.
        source: K3sError,
    },
    /// The deadline passed.
    #[error("{host}: removing the node did not finish within {after:?} (it was {step}). Raise the deadline or look at the node; removing it again continues from what is there.")]
    TimedOut {
        /// The node.
        host: String,
        /// What was under way.
        step: &'static str,
        /// The deadline.
        after: Duration,
    },
    /// The token was cancelled.
    #[error("{host}: removing the node was cancelled while {step}")]
    Cancelled {
        /// The node.
        host: String,
        /// What was under way.
        step: &'static str,
    },
}

impl RemoveError {
    /// The node the error is about.
    pub fn host(&self) -> &str {
        match self {
            RemoveError::Observe { host, .. }
            | RemoveError::Uninstall { host, .. }
            | RemoveError::UndoOsPrep { host, .. }
            | RemoveError::TimedOut { host, .. }
            | RemoveError::Cancelled { host, .. } => host,
        }
    }
}

/// Removes the node `session` is connected to from its cluster and its host, within
/// [`RemoveOptions::deadline`] and until [`RemoveOptions::cancel`]:
///
/// 1. reads K3s on the node; when it is installed and [`RemoveOptions::api`] is given, reaches
///    the API through the node;
/// 2. for a server, the last-server rule: with no other control-plane node, nothing is drained
///    or deleted ([`ClusterOutcome::LastServer`]). When the count itself fails (the API answered
///    the connection but not the list), that is *not* read as "the last server": the node is
///    drained and deleted as if other servers remained, and the error is kept in
///    [`ClusterOutcome::Removed::uncounted`]. That is the safe side: skipping the drain of a
///    server that is not the last would drop its pods without eviction (ignoring
///    PodDisruptionBudgets) and leave its Node object and etcd member behind, whereas draining
///    the last server only waits up to the drain timeout for pods with nowhere to go; and failing
///    instead would block the removal for as long as the API misbehaves;
/// 3. drains the node and deletes its Node object ([`remove_from_cluster`]); what did not work
///    there is reported in the outcome, not raised, so that the host is still cleaned;
/// 4. runs the uninstall script, then undoes [`RemoveOptions::undo_os_prep`].
pub async fn remove_node(
    session: &Session,
    options: &RemoveOptions,
) -> Result<Removed, RemoveError> {
    let host = session.host().to_owned();
    let step = Mutex::new("reading K3s on the node");
    let run = remove_unbounded(session, options, &step);
    let step_now = || *step.lock().expect("step");
    let bounded = async {
        match options.deadline {
            Some(after) => match tokio::time::timeout(after, run).await {
                Ok(result) => result,
                Err(_) => Err(RemoveError::TimedOut {
                    host: host.clone(),
                    step: step_now(),
                    after,
                }),
            },
            None => run.await,
        }
    };
    match &options.cancel {
        Some(token) => {
            tokio::select! {
                result = bounded => result,
                () = token.cancelled() => Err(RemoveError::Cancelled { host: host.clone(), step: step_now() }),
            }
        }
        None => bounded.await,
    }
}

async fn remove_unbounded(
    session: &Session,
    options: &RemoveOptions,
    step: &Mutex<&'static str>,
) -> Result<Removed, RemoveError> {
    let host = || session.host().to_owned();
    let at = |now: &'static str| *step.lock().expect("step") = now;
    let observed = observe(session)
        .await
        .map_err(|source| RemoveError::Observe {
            host: host(),
            source,
        })?;
    let was_installed = observed.unit.is_some();
    let cluster = if !was_installed {
        ClusterOutcome::NotInstalled
    } else {
        at("removing the node from the cluster");
        let name = observed.node_name(options.node_name.as_deref());
        from_cluster(session, options, name).await
    };
    at("uninstalling K3s");
    uninstall(session, options.unit)
        .await
        .map_err(|source| RemoveError::Uninstall {
            host: host(),
            unit: options.unit.name(),
            source,
        })?;
    if let Some(undo) = &options.undo_os_prep {
        at("undoing the OS preparation");
        undo_os_prep(session, &undo.created_files, undo.firewall)
            .await
            .map_err(|source| RemoveError::UndoOsPrep {
                host: host(),
                source,
            })?;
    }
    Ok(Removed {
        cluster,
        was_installed,
    })
}

/// Steps 1 to 3 of [`remove_node`] for an installed node.
async fn from_cluster(
    session: &Session,
    options: &RemoveOptions,
    name: Option<String>,
) -> ClusterOutcome {
    let Some(access) = &options.api else {
        return ClusterOutcome::NoApiAccess;
    };
    let api = match access.client(session).await {
        Ok(api) => api,
        Err(e) => {
            if matches!(access, ApiAccess::Local) {
                tracing::warn!(host = %session.host(), "the server's API ({KUBECONFIG_PATH}) is not reachable through the node; the node is not drained and its Node object is left: {e}");
            }
            return ClusterOutcome::ApiUnreachable(e);
        }
    };
    let uncounted = if options.unit == Unit::Server {
        match last_server_rule(control_plane_count(&api).await) {
            ServerRemoval::LastServer => return ClusterOutcome::LastServer,
            ServerRemoval::Drain { uncounted } => uncounted,
        }
    } else {
        None
    };
    let Some(name) = name else {
        return ClusterOutcome::NameUnknown;
    };
    let removal = remove_from_cluster(&api, &name, options.drain_timeout).await;
    ClusterOutcome::Removed {
        name,
        removal,
        uncounted,
    }
}

/// What the last-server rule decides for a server.
#[derive(Debug)]
enum ServerRemoval {
    /// No other control-plane node: nothing to drain to.
    LastServer,
    /// Drain and delete it; `uncounted` when the count failed.
    Drain {
        uncounted: Option<kubernetes::Error>,
    },
}

/// The last-server rule on the answer to [`control_plane_count`]: only a count of one (or
/// none, the server not registered) is the last server; an error is not (see [`remove_node`]).
fn last_server_rule(count: Result<usize, kubernetes::Error>) -> ServerRemoval {
    match count {
        Ok(n) if n > 1 => ServerRemoval::Drain { uncounted: None },
        Ok(_) => ServerRemoval::LastServer,
        Err(e) => {
            tracing::warn!("counting the control-plane nodes failed; draining the server as if others remained: {e}");
            ServerRemoval::Drain { uncounted: Some(e) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unanswered() -> kubernetes::Error {
        kubernetes::Error::Refused {
            what: "list the control-plane Nodes".into(),
            code: 503,
            reason: "ServiceUnavailable".into(),
            message: "etcd is not ready".into(),
        }
    }

    #[test]
    fn an_error_counting_the_servers_is_not_the_last_server() {
        match last_server_rule(Err(unanswered())) {
            ServerRemoval::Drain { uncounted: Some(e) } => {
                assert!(e.to_string().contains("etcd is not ready"), "{e}")
            }
            other => panic!("an API error read as {other:?}"),
        }
    }

    #[test]
    fn only_one_control_plane_node_is_the_last_server() {
        assert!(matches!(last_server_rule(Ok(1)), ServerRemoval::LastServer));
        assert!(matches!(last_server_rule(Ok(0)), ServerRemoval::LastServer));
        assert!(matches!(
            last_server_rule(Ok(2)),
            ServerRemoval::Drain { uncounted: None }
        ));
    }
}
