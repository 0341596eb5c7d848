//! The plan rules every node follows: the hashes of `config.yaml` and `registries.yaml` are
//! known from the configuration (when everything rendered into them is), the service is
//! planned active at the configured release, and a change leaves unknown what only the node
//! can tell afterwards.
//!
//! Which input can change which computed attribute:
//! - `config_sha256`: `config`, `node_labels`, `node_taints`, the role (`cluster_init`,
//!   `server_url`) and the token;
//! - `registries_sha256`: `registry_mirror`, `registry_auth`;
//! - `installed_version`: `version`; `service_active`: planned `true`;
//! - `env_sha256`, `node_ready`: any change (the node tells after the apply).

use super::NodeModel;
use k3s_sdk::k3s::{sha256_hex, Desired};
use tfplugin_runtime::{model, Known, MaybeUnknown, Planned};

/// The planned node read as a state: `None` where a value is still unknown (`None` overall
/// when one the model requires is).
pub fn known(node: &NodeModel<Planned>) -> Option<NodeModel<Known>> {
    model::from_planned(&model::to_value(node).ok()?).ok()
}

/// Whether everything the node renders into `config.yaml` and `registries.yaml` is known.
pub fn files_known(node: &NodeModel<Planned>) -> bool {
    !(node.config.is_unknown()
        || node.node_labels.is_unknown()
        || node.node_taints.is_unknown()
        || node.registry_mirror.is_unknown()
        || node.registry_auth.is_unknown())
}

/// Sets what the configuration determines: the service active at `desired`'s release, and
/// (when `files_known`) the files' hashes.
pub fn refine(node: &mut NodeModel<Planned>, desired: &Desired, files_known: bool) {
    node.service_active = MaybeUnknown::Known(Some(true));
    node.installed_version = MaybeUnknown::Known(Some(desired.install.version.to_string()));
    if !files_known {
        return;
    }
    if let Ok(config) = desired.config.render() {
        node.config_sha256 = MaybeUnknown::Known(Some(sha256_hex(&config)));
    }
    node.registries_sha256 = MaybeUnknown::Known(
        (!desired.registries.is_empty()).then(|| sha256_hex(&desired.registries.render())),
    );
}

/// What a change leaves unknown: what the node reports only after it.
pub fn unknown_after_change(node: &mut NodeModel<Planned>) {
    node.env_sha256 = MaybeUnknown::unknown();
    node.node_ready = MaybeUnknown::unknown();
}
