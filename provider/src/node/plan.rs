//! The plan rules every node follows: the hashes of `config.yaml` and `registries.yaml` are
//! known from the configuration (when everything rendered into them is), the service is
//! planned active at the configured release, and a change leaves unknown what only the node
//! can tell afterwards.
//!
//! Which input can change which computed attribute (a computed value is kept, known, when
//! nothing that can change it changes, so a plan does not ripple "known after apply" into
//! every resource and output that refers to it):
//! - `config_sha256`: `config`, `node_labels`, `node_taints`, the role (`cluster_init`,
//!   `server_url`) and the token;
//! - `registries_sha256`: `registry_mirror`, `registry_auth`;
//! - `installed_version`: `version`; `service_active`: planned `true`;
//! - `env_sha256`: an install or upgrade (the installer writes the env file);
//! - `node_ready`: a restart (a change of either file, an install or upgrade, a stopped
//!   service); settings that do not touch the node (`drain_timeout`, `ready_timeout`,
//!   `orphan_on_destroy`, `timeouts`, an agent's `kubeconfig`) keep it;
//! - a server's `kubeconfig`, `client_certificate`, `client_key`: `api_endpoint`, and a
//!   restart when the admin certificate is within 90 days of expiry (K3s keeps its
//!   certificates across restarts and upgrades, and renews those due at start);
//! - an agent's `joined_server_url`: `server_url`; `nlb_backend_name`: see `nlb_backend`.

use super::desired::desired;
use super::versions::change_refused;
use super::NodeModel;
use crate::provider::ProviderConfig;
use k3s_sdk::k3s::{sha256_hex, Desired, K3sVersion, Role};
use k3s_sdk::Secret;
use tfplugin_runtime::cty::AttributePath;
use tfplugin_runtime::{field_name, model, Context, Diagnostics, Known, MaybeUnknown, Planned};

/// The planned node read as a state: `None` where a value is still unknown (`None` overall
/// when one the model requires is).
pub fn known(node: &NodeModel<Planned>) -> Option<NodeModel<Known>> {
    model::from_planned(&model::to_value(node).ok()?).ok()
}

/// The state the planned node asks for, as `role` (`None` while the role is unknown) with
/// `token`, when every value it needs is known. What keeps it from being built (air-gap
/// settings in halves, a path that does not resolve) is an error at plan, so that it does not
/// first show at apply.
pub fn planned_desired(
    ctx: &Context,
    node: &NodeModel<Planned>,
    role: Option<Role>,
    token: Option<Secret>,
    diagnostics: &mut Diagnostics,
) -> Option<Desired> {
    let (Some(known), Some(role)) = (known(node), role) else {
        return None;
    };
    let built = ctx
        .provider::<ProviderConfig>()
        .and_then(|provider| desired(&known, &provider, role, token));
    match built {
        Ok(desired) => Some(desired),
        Err(problems) => {
            diagnostics.extend(problems);
            None
        }
    }
}

/// Whether everything the node renders into `config.yaml` and `registries.yaml` is known.
pub fn files_known(node: &NodeModel<Planned>) -> bool {
    !(node.config.is_unknown()
        || node.node_labels.is_unknown()
        || node.node_taints.is_unknown()
        || node.registry_mirror.is_unknown()
        || node.registry_auth.is_unknown())
}

/// Sets what the configuration determines whatever else is unknown: the service active, at
/// the configured release.
pub fn refine_service(node: &mut NodeModel<Planned>) {
    node.service_active = MaybeUnknown::Known(Some(true));
    if let Some(version) = planned_version(node) {
        node.installed_version = MaybeUnknown::Known(Some(version.to_string()));
    }
}

/// Sets the files' hashes from `desired` (when `files_known`: everything rendered into them
/// is); a `config.yaml` that cannot be rendered is an error at `config`.
pub fn refine_files(
    node: &mut NodeModel<Planned>,
    desired: &Desired,
    files_known: bool,
    diagnostics: &mut Diagnostics,
) {
    if !files_known {
        return;
    }
    match desired.config.render() {
        Ok(config) => node.config_sha256 = MaybeUnknown::Known(Some(sha256_hex(&config))),
        Err(e) => diagnostics.error_at(
            AttributePath::attribute(field_name!(NodeModel, config)),
            "Invalid config",
            format!("config.yaml cannot be written: {e}."),
        ),
    }
    node.registries_sha256 = MaybeUnknown::Known(
        (!desired.registries.is_empty()).then(|| sha256_hex(&desired.registries.render())),
    );
}

/// What a change does to the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Touch {
    /// K3s is installed or upgraded (the installer rewrites the env file).
    pub installs: bool,
    /// The service restarts (the node may be briefly not Ready).
    pub restarts: bool,
}

/// What going from `prior` to `planned` does to the node.
pub fn touch(prior: &NodeModel, planned: &NodeModel) -> Touch {
    let installs =
        planned.installed_version != prior.installed_version || planned.version != prior.version;
    Touch {
        installs,
        restarts: installs
            || planned.config_sha256 != prior.config_sha256
            || planned.registries_sha256 != prior.registries_sha256
            || prior.service_active != Some(true),
    }
}

/// [`touch`] at plan time, where a value still unknown counts as changing.
pub fn touch_planned(prior: &NodeModel, planned: &NodeModel<Planned>) -> Touch {
    let known = known(planned);
    let unknown_install = planned.installed_version.is_unknown() || planned.version.is_unknown();
    let unknown_files =
        planned.config_sha256.is_unknown() || planned.registries_sha256.is_unknown();
    match known {
        Some(known) => {
            let t = touch(prior, &known);
            let installs = t.installs || unknown_install;
            Touch {
                installs,
                restarts: t.restarts || installs || unknown_files,
            }
        }
        None => Touch {
            installs: true,
            restarts: true,
        },
    }
}

/// After [`refine_service`] and [`refine_files`], what a change of the node leaves unknown (what
/// the node reports only after it) and what it keeps: `env_sha256` unless K3s is (re)installed,
/// `node_ready` unless the node restarts.
pub fn unknown_after_change(node: &mut NodeModel<Planned>, prior: &NodeModel) {
    let t = touch_planned(prior, node);
    node.env_sha256 = if t.installs {
        MaybeUnknown::unknown()
    } else {
        MaybeUnknown::Known(prior.env_sha256.clone())
    };
    node.node_ready = if t.restarts {
        MaybeUnknown::unknown()
    } else {
        MaybeUnknown::Known(prior.node_ready)
    };
}

/// After an update, the values the plan kept (see [`unknown_after_change`]) are what the state
/// says, as the plan promised; the next refresh reads them anew.
pub fn keep_after_update(state: &mut NodeModel, prior: &NodeModel, planned: &NodeModel) {
    let t = touch(prior, planned);
    if !t.installs {
        state.env_sha256 = prior.env_sha256.clone();
    }
    if !t.restarts {
        state.node_ready = prior.node_ready;
    }
}

/// The planned release, when known and well-formed.
pub fn planned_version(node: &NodeModel<Planned>) -> Option<K3sVersion> {
    node.version.known()?.parse().ok()
}

/// Refuses, at `version`, a planned release the node cannot go to from the one it runs
/// (`prior`, a node in state): a downgrade, or more than one minor release at once.
pub fn check_change(
    prior: Option<&NodeModel>,
    planned: &NodeModel<Planned>,
    diagnostics: &mut Diagnostics,
) {
    let running = prior.and_then(|p| p.version.parse::<K3sVersion>().ok());
    if let (Some(from), Some(to)) = (running, planned_version(planned)) {
        if let Some(problem) = change_refused(from, to) {
            diagnostics.error_at(
                AttributePath::attribute(field_name!(NodeModel, version)),
                "Version change refused",
                problem,
            );
        }
    }
}
