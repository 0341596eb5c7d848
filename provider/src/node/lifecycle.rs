//! A node's lifecycle on its host, for both roles: connect, converge to the desired state and
//! read back (create and update, within the `timeouts` deadline), read for drift, and destroy
//! (drain and delete the Node through the API, then uninstall K3s). The API is reached through
//! the node's own SSH session (so it only has to be reachable from the nodes); only for a host
//! that does not answer is it asked from this machine.

use super::private::NodePrivate;
use super::NodeModel;
use crate::host_location::{locate, Location, Whereabouts};
use crate::lifecycle::PrivateState;
pub use crate::lifecycle::{failed, Operation};
use crate::provider::ProviderConfig;
use crate::ssh_target;
use k3s_sdk::k3s::{
    self, ApiAccess, ClusterOutcome, Desired, Observed, OsPrepUndo, RemoveError, RemoveOptions,
    Unit,
};
use k3s_sdk::ssh::{Session, Target};
use std::time::Duration;
use tfplugin_runtime::timeouts::Timeouts;
use tfplugin_runtime::{field_name, Context, Diagnostics};

/// How long create and update wait for a converged node to report Ready.
pub const READY_WAIT: Duration = Duration::from_secs(90);

/// The SSH target of `node` at `address`, and its id (`ssh://user@host:port`).
pub fn target_at(
    node: &NodeModel,
    provider: &ProviderConfig,
    address: &str,
) -> Result<(Target, String), Diagnostics> {
    ssh_target::target(node.ssh.as_ref(), &provider.ssh, address)
}

/// Connects to the node, or explains why not.
pub async fn connect(target: &Target) -> Result<Session, Diagnostics> {
    Session::connect(target)
        .await
        .map_err(|e| failed(&format!("Cannot connect to {}", target.host), e))
}

/// Reads the node's K3s state, with the error a user sees when that fails.
pub async fn observe(session: &Session) -> Result<Observed, Diagnostics> {
    k3s::observe(session)
        .await
        .map_err(|e| failed("Cannot read K3s on the host", e))
}

impl Operation {
    /// The summary shown when converging the node fails.
    fn failure(self, unit: Unit) -> String {
        let what = match unit {
            Unit::Server => "server",
            Unit::Agent => "agent",
        };
        match self {
            Operation::Create => format!("Installing the K3s {what} failed"),
            Operation::Update => format!("Updating the K3s {what} failed"),
        }
    }
}

fn timed_out(node: &NodeModel, operation: &str, deadline: Duration) -> Diagnostics {
    Diagnostics::from_error(
        format!("Timed out after {deadline:?}"),
        format!(
            "The {operation} of the node at {} did not finish within timeouts.{operation}. Raise \
                it, or look at the node: nothing is lost, the next apply continues from what is \
                there.",
            node.shown()
        ),
    )
}

/// The create/update path of both roles: connect, converge to `desired`, and read the node
/// back, within the `timeouts` deadline of `operation`. `touching` is called with the node's
/// id once connected, before anything on the host changes (a create records its partial state
/// there, so that a failure from then on leaves the node tracked, tainted).
pub async fn apply(
    ctx: &Context,
    node: &NodeModel,
    desired: &Desired,
    operation: Operation,
    touching: &(dyn Fn(&str) + Send + Sync),
) -> Result<(Session, Observed, String), Diagnostics> {
    let (deadline, name) = operation.deadline(&node.timeouts);
    let failure = operation.failure(desired.config.role.unit());
    tokio::time::timeout(
        deadline,
        apply_unbounded(ctx, node, desired, &failure, touching),
    )
    .await
    .unwrap_or_else(|_| Err(timed_out(node, name, deadline)))
}

async fn apply_unbounded(
    ctx: &Context,
    node: &NodeModel,
    desired: &Desired,
    failure: &str,
    touching: &(dyn Fn(&str) + Send + Sync),
) -> Result<(Session, Observed, String), Diagnostics> {
    let provider = ctx.provider::<ProviderConfig>()?;
    let location = match locate(node.host_spec(), &provider.oci).await? {
        Whereabouts::At(location) => location,
        Whereabouts::Gone(why) => {
            return Err(Diagnostics::from_error(
                "The node's OCI instance is gone",
                format!("{why} Point `oci_instance_id` at a running instance."),
            ))
        }
    };
    let (target, id) = target_at(node, &provider, &location.address)?;
    let session = connect(&target).await?;
    touching(&id);
    let before = observe(&session).await?;
    let applied = k3s::converge(&session, desired, &before)
        .await
        .map_err(|e| failed(failure, e))?;
    let mut private = NodePrivate::of(ctx);
    private.record(&applied);
    private.save(ctx);
    let after = observe(&session).await?;
    NodePrivate::remember_name(ctx, after.node_name(node.configured_node_name().as_deref()));
    Ok((session, after, id))
}

/// The node's read-back attributes from what was observed. `version` takes the release
/// that runs (else the installed one), so a node changed behind Terraform's back, or left
/// running the old release by an upgrade that did not restart it, plans an upgrade (or a
/// refusal); `installed_version` is the binary's.
pub fn record(node: &mut NodeModel, observed: &Observed, id: &str) {
    node.id = Some(id.to_owned());
    node.installed_version = observed.version.map(|v| v.to_string());
    if let Some(version) = observed.running_version.or(observed.version) {
        node.version = version.to_string();
    }
    node.service_active = Some(observed.active);
    node.config_sha256 = observed.config_sha256.clone();
    node.registries_sha256 = observed.registries_sha256.clone();
    node.env_sha256 = observed.env_sha256.clone();
}

/// What a read finds when it goes to the node.
pub enum Reached {
    /// Connected.
    Connected(Session, String, Location),
    /// The host did not answer: keep the state as it is (a warning says so).
    Unreachable,
    /// The node's OCI instance is terminated or unknown: the node is gone.
    Gone,
}

/// Connects for a read, with one attempt (a read never waits for a host to boot): a host that
/// does not answer keeps its state as it is, with a warning, because a link that is down for a
/// while must not make Terraform forget a node (and plan to create it again); a terminated (or
/// unknown) OCI instance reads as gone. A host that answers but refuses the login or presents
/// another host key is an error.
pub async fn connect_for_read(ctx: &Context, node: &NodeModel) -> Result<Reached, Diagnostics> {
    let provider = ctx.provider::<ProviderConfig>()?;
    let location = match locate(node.host_spec(), &provider.oci).await? {
        Whereabouts::At(location) => location,
        Whereabouts::Gone(why) => {
            ctx.warn("The node's OCI instance is gone; it reads as gone", why);
            return Ok(Reached::Gone);
        }
    };
    let (mut target, id) = target_at(node, &provider, &location.address)?;
    target.timeouts.retry_for = Duration::ZERO;
    match Session::connect(&target).await {
        Ok(session) => Ok(Reached::Connected(session, id, location)),
        Err(e @ k3s_sdk::ssh::Error::Unreachable { .. }) => {
            ctx.warn(
                format!(
                    "{} is unreachable; its state is kept as it was",
                    target.host
                ),
                format!(
                    "{e}. Terraform plans nothing for this node until it answers again (a host \
                    that answers without K3s reads as gone)."
                ),
            );
            Ok(Reached::Unreachable)
        }
        Err(e) => Err(failed(&format!("Cannot connect to {}", target.host), e)),
    }
}

/// Whether the node is Ready according to the API, reached through the node's own session
/// with `access` (`None` when there is no way to ask, or the API does not answer). With
/// `wait`, waits until Ready or the deadline ([`k3s::wait_ready`]).
pub async fn ready(
    session: &Session,
    node: &NodeModel,
    observed: &Observed,
    access: Option<ApiAccess>,
    wait: Option<Duration>,
) -> Option<bool> {
    let access = access?;
    let name = observed.node_name(node.configured_node_name().as_deref())?;
    k3s::wait_ready(session, &access, &name, wait.unwrap_or_default())
        .await
        .unwrap_or_else(|e| {
            tracing::debug!(host = %session.host(), "node_ready not read: {e}");
            None
        })
}

/// Destroys a node's K3s: nothing with `orphan_on_destroy`; otherwise [`k3s::remove_node`]
/// drains the node and deletes its Node object through `api` (when given; for a server, only
/// when other servers remain), then uninstalls K3s and undoes OS preparation. An unreachable
/// host or API only warns, so a host that is gone does not block destroy.
pub async fn destroy(
    ctx: &Context,
    node: &NodeModel,
    unit: Unit,
    api: Option<ApiAccess>,
) -> Result<(), Diagnostics> {
    let deadline = node.timeouts.delete.get();
    tokio::time::timeout(deadline, destroy_unbounded(ctx, node, unit, api))
        .await
        .unwrap_or_else(|_| Err(timed_out(node, field_name!(Timeouts, delete), deadline)))
}

async fn destroy_unbounded(
    ctx: &Context,
    node: &NodeModel,
    unit: Unit,
    api: Option<ApiAccess>,
) -> Result<(), Diagnostics> {
    if node.orphan_on_destroy {
        return Ok(());
    }
    let provider = ctx.provider::<ProviderConfig>()?;
    let location = match locate(node.host_spec(), &provider.oci).await? {
        Whereabouts::At(location) => location,
        Whereabouts::Gone(why) => {
            ctx.warn(
                "The node's OCI instance is gone; there is no K3s to uninstall",
                why,
            );
            return Ok(());
        }
    };
    let (target, _) = target_at(node, &provider, &location.address)?;
    let session = match Session::connect(&target).await {
        Ok(session) => session,
        Err(e @ k3s_sdk::ssh::Error::Unreachable { .. }) => {
            ctx.warn(
                format!(
                    "{} is unreachable; K3s was not uninstalled from it",
                    target.host
                ),
                format!(
                    "{e}. Still on the host: K3s ({unit}.service, {binary}) and the cluster's join \
                        token in {config}, so the node rejoins the cluster if it comes back. When \
                        it is back, run {script} on it (or delete the host). As for the cluster: \
                        {node}.",
                    unit = unit.name(),
                    binary = k3s::BINARY_PATH,
                    config = k3s::CONFIG_PATH,
                    script = unit.uninstall_script(),
                    node = deleted_through_api(api.as_ref(), node, NodePrivate::of(ctx)).await,
                ),
            );
            return Ok(());
        }
        Err(e) => return Err(failed(&format!("Cannot connect to {}", target.host), e)),
    };
    let private = NodePrivate::of(ctx);
    let options = RemoveOptions::new(unit, api)
        .node_name(node.configured_node_name())
        .drain_timeout(node.drain_timeout.get())
        .undo_os_prep(OsPrepUndo {
            created_files: private.created_files,
            firewall: private.opened_firewall,
        });
    // Ctrl-C and the delete deadline stop the whole destroy around this call.
    let removed = k3s::remove_node(&session, &options)
        .await
        .map_err(removal_failed)?;
    warn_left_in_cluster(ctx, &session, unit, removed.cluster);
    Ok(())
}

/// The diagnostic for a removal that failed, with the summary of its step.
fn removal_failed(e: RemoveError) -> Diagnostics {
    match e {
        RemoveError::Observe { source, .. } => failed("Cannot read K3s on the host", source),
        RemoveError::Uninstall { unit, source, .. } => {
            failed(&format!("Uninstalling {unit} failed"), source)
        }
        RemoveError::UndoOsPrep { source, .. } => {
            failed("Removing what OS preparation created failed", source)
        }
        e @ (RemoveError::TimedOut { .. } | RemoveError::Cancelled { .. }) => {
            failed("Removing the node was stopped", e)
        }
    }
}

/// Warns about what the removal left in the cluster.
fn warn_left_in_cluster(ctx: &Context, session: &Session, unit: Unit, outcome: ClusterOutcome) {
    match outcome {
        ClusterOutcome::NotInstalled | ClusterOutcome::LastServer | ClusterOutcome::NoApiAccess => {
        }
        // A server's own API: the SDK logged it (the server is going anyway).
        ClusterOutcome::ApiUnreachable(_) if unit == Unit::Server => {}
        ClusterOutcome::ApiUnreachable(e) => ctx.warn(
            "The node was not removed from the cluster",
            format!(
                "The API could not be reached through {}: {e}. K3s is uninstalled anyway; its Node \
                    object stays in the cluster's node list until deleted (`kubectl delete node \
                    …`).",
                session.host()
            ),
        ),
        ClusterOutcome::NameUnknown => ctx.warn(
            "The node was not removed from the cluster",
            "Its name could not be read; K3s is uninstalled anyway.",
        ),
        ClusterOutcome::Removed {
            name,
            removal,
            uncounted,
        } => {
            if let Some(e) = uncounted {
                ctx.warn(
                    format!("The control-plane nodes could not be counted before removing {name}"),
                    format!(
                        "{e}. The server was drained and its Node object deleted as if other \
                        servers remained (skipping that for a server that is not the last would \
                        drop its pods without eviction)."
                    ),
                );
            }
            if !removal.problems.is_empty() {
                let advice = if removal.stuck.is_empty() {
                    ""
                } else {
                    " The pods named were still on the node when drain_timeout passed; where a \
                        PodDisruptionBudget refused their eviction, give the budget room (more \
                        replicas on other nodes) or raise drain_timeout."
                };
                ctx.warn(
                    format!("Node {name} was not cleanly removed from the cluster"),
                    format!(
                        "K3s is uninstalled anyway. {}{advice}",
                        removal.problems.join("; ")
                    ),
                );
            }
        }
    }
}

/// How long one request to the API from this machine may take (deleting the Node object of an
/// unreachable host, asking the server's version before an agent joins it).
pub const DIRECT_API_TIMEOUT: Duration = Duration::from_secs(10);

/// For a host that does not answer: deletes its Node object from this machine through the
/// API, when there is a kubeconfig to do it with, and says what became of it.
async fn deleted_through_api(
    api: Option<&ApiAccess>,
    node: &NodeModel,
    private: NodePrivate,
) -> String {
    let name = node.configured_node_name().or(private.node_name);
    let (Some(ApiAccess::Kubeconfig(kubeconfig)), Some(name)) = (api, &name) else {
        let object = match &name {
            Some(name) => format!("its Node object {name:?}"),
            None => "its Node object".to_owned(),
        };
        return format!(
            "{object} stays in the cluster's node list until deleted (`kubectl delete node …`)"
        );
    };
    let deleted = match k3s::DirectApi::from_kubeconfig(kubeconfig, DIRECT_API_TIMEOUT) {
        Ok(client) => client.delete_node(name).await,
        Err(e) => Err(e),
    };
    match deleted {
        Ok(k3s::NodeDeletion::Deleted) => {
            format!(
                "its Node object {name:?} was deleted through the API (it registers again if \
                the host comes back with K3s)"
            )
        }
        Ok(k3s::NodeDeletion::Absent) => {
            format!("there was no Node object {name:?} in the cluster")
        }
        Err(e) => format!(
            "its Node object {name:?} could not be deleted through the API ({e}) and stays in the \
                cluster's node list until deleted (`kubectl delete node {name}`)"
        ),
    }
}
