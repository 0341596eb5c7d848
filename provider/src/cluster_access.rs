//! How a resource that works through the Kubernetes API reaches a cluster: a kubeconfig held
//! as a sensitive string, or a `server` block naming a K3s server node reached over SSH, whose
//! admin kubeconfig is read into this process's memory and whose API is reached at the node's
//! own 127.0.0.1:6443 through an SSH port forward. The second needs no cluster credential in
//! Terraform's state and works wherever the node answers SSH, even when the API listens on
//! loopback only. Knows nothing of what the resource does with the API.

use crate::provider::ProviderConfig;
use crate::ssh_target::{self, SshBlock};
use crate::validators;
use k3s_sdk::k3s::KUBECONFIG_PATH;
use k3s_sdk::kubernetes::ApiClient;
use k3s_sdk::ssh::Session;
use k3s_sdk::Secret;
use serde::{Deserialize, Serialize};
use tfplugin_runtime::cty::AttributePath;
use tfplugin_runtime::schema::ModelSchema;
use tfplugin_runtime::{field_name, Context, Diagnostics, MaybeUnknown};

/// A K3s server node to reach the cluster through, instead of a `kubeconfig`: the provider logs in
/// over SSH, reads the server's admin kubeconfig into memory (never into state or onto disk) and
/// reaches the API at the node's own `127.0.0.1:6443` through an SSH port forward. Takes the same
/// `ssh` settings as `k3s_server`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ModelSchema)]
pub struct ServerAccess {
    /// Address of the server node, e.g. `k3s_server.main.host`.
    #[tf(validate = validators::host())]
    pub host: String,
    /// How to log in to it.
    #[tf(block)]
    pub ssh: Option<SshBlock>,
}

/// How the API was reached, or why not.
pub enum Reached {
    /// A client for the cluster's API (through the node, the forward lives as long as it).
    Api(Box<ApiClient>),
    /// The cluster did not answer (a warning says so); a read keeps its state.
    Unreachable,
}

/// When a connection is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// For a read: one SSH attempt; a host that does not answer is [`Reached::Unreachable`].
    Once,
    /// For a data source, which has no state to keep: one SSH attempt; a host that does not
    /// answer is an error.
    OnceOrFail,
    /// For an apply: SSH retries for the `ssh.connect_timeout` while a host boots; a host that
    /// does not answer is an error.
    Retrying,
    /// For a destroy: retries as for an apply, then a host that does not answer is
    /// [`Reached::Unreachable`] (a warning names what is left behind).
    Destroying,
}

/// A client for the cluster `kubeconfig` or `server` names (exactly one is set; validation
/// says so). `Ok(None)` when neither is set (an import in kubeconfig mode, before the
/// configuration supplies the kubeconfig).
pub async fn connect(
    ctx: &Context,
    kubeconfig: Option<&Secret>,
    server: Option<&ServerAccess>,
    attempt: Attempt,
) -> Result<Option<Reached>, Diagnostics> {
    if let Some(kubeconfig) = kubeconfig {
        return ApiClient::from_kubeconfig(kubeconfig)
            .await
            .map(|api| Some(Reached::Api(Box::new(api))))
            .map_err(|e| Diagnostics::from_error("Cannot use the kubeconfig", e.to_string()));
    }
    let Some(server) = server else {
        return Ok(None);
    };
    let provider = ctx.provider::<ProviderConfig>()?;
    let (mut target, _) = ssh_target::target(server.ssh.as_ref(), &provider.ssh, &server.host)?;
    if matches!(attempt, Attempt::Once | Attempt::OnceOrFail) {
        target.timeouts.retry_for = std::time::Duration::ZERO;
    }
    let session = match Session::connect(&target).await {
        Ok(session) => session,
        Err(e @ k3s_sdk::ssh::Error::Unreachable { .. })
            if matches!(attempt, Attempt::Once | Attempt::Destroying) =>
        {
            if attempt == Attempt::Destroying {
                left_behind(ctx, &server.host, &e);
            } else {
                unreachable(ctx, &server.host, &e);
            }
            return Ok(Some(Reached::Unreachable));
        }
        Err(e) => {
            return Err(Diagnostics::from_error(
                format!("Cannot connect to {}", server.host),
                e.to_string(),
            ))
        }
    };
    ApiClient::through_node(&session, KUBECONFIG_PATH)
        .await
        .map(|api| Some(Reached::Api(Box::new(api))))
        .map_err(|e| {
            Diagnostics::from_error(
                format!("Cannot reach the cluster's API through {}", server.host),
                format!(
                    "{e}. The node must be a K3s server (it holds {KUBECONFIG_PATH}); with a \
                    non-root `ssh.user`, set `ssh.sudo`."
                ),
            )
        })
}

/// What `terraform validate` checks of a resource's cluster access, each error at its
/// attribute: exactly one of `kubeconfig` (named `kubeconfig_attr`) and a `server` block
/// (`server_attr`), and the server's `ssh` block's own rules. An unknown kubeconfig counts as
/// set only next to a server block (then both are set, whatever its value).
pub fn check_access(
    kubeconfig: &MaybeUnknown<Option<Secret>>,
    server: &MaybeUnknown<Option<ServerAccess>>,
    kubeconfig_attr: &str,
    server_attr: &str,
    diagnostics: &mut Diagnostics,
) {
    let at = AttributePath::attribute;
    let kubeconfig_set = match kubeconfig {
        MaybeUnknown::Known(k) => Some(k.is_some()),
        MaybeUnknown::Unknown(_) => None,
    };
    let server_set = match server {
        MaybeUnknown::Known(s) => Some(s.is_some()),
        MaybeUnknown::Unknown(_) => Some(true),
    };
    match (kubeconfig_set, server_set) {
        (Some(true), Some(true)) | (None, Some(true)) => diagnostics.error_at(
            at(server_attr),
            "Conflicting cluster access",
            format!("Set either `{kubeconfig_attr}` or a `{server_attr}` block, not both."),
        ),
        (Some(false), Some(false)) => diagnostics.error_at(
            at(kubeconfig_attr),
            "Missing cluster access",
            format!(
                "Set `{kubeconfig_attr}` (e.g. `k3s_server.main.kubeconfig`) or a `{server_attr}` \
                block naming a K3s server node to reach the API through over SSH."
            ),
        ),
        _ => {}
    }
    let ssh = match server {
        MaybeUnknown::Known(s) => s.as_ref().and_then(|s| s.ssh.clone()),
        MaybeUnknown::Unknown(partly) => partly
            .known_parts::<Option<ServerParts>>()
            .flatten()
            .and_then(|p| p.ssh),
    };
    if let Some(ssh) = ssh {
        ssh_target::validate_block(
            &ssh,
            &at(server_attr).attr(field_name!(ServerAccess, ssh)),
            diagnostics,
        );
    }
}

/// The known parts of a `server` block.
#[derive(Deserialize)]
struct ServerParts {
    ssh: Option<SshBlock>,
}

/// The first request to a cluster, which changes nothing: whether its API answers (the core
/// group's discovery, which every later request needs anyway).
pub async fn answers(api: &ApiClient) -> Result<(), k3s_sdk::kubernetes::Error> {
    api.resource("v1", "Namespace").await.map(|_| ())
}

/// Warns that the cluster at `place` did not answer at destroy: what was applied stays there.
pub fn left_behind(ctx: &Context, place: &str, error: &dyn std::fmt::Display) {
    ctx.warn(
        format!("The cluster at {place} is unreachable; what this resource applied is left in it"),
        format!(
            "{error}. The resource is removed from the state; what it applied stays in the \
            cluster until it is removed there."
        ),
    );
}

/// Warns that the cluster at `place` did not answer and the state is kept.
pub fn unreachable(ctx: &Context, place: &str, error: &dyn std::fmt::Display) {
    ctx.warn(
        format!("The cluster at {place} is unreachable; the state is kept as it was"),
        format!(
            "{error}. Terraform plans no change for what this resource owns until the cluster \
            answers again."
        ),
    );
}
