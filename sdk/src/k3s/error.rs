//! [`K3sError`]: why observing, converging or removing K3s on a node failed, naming the host,
//! the step, and what to do about it.

use super::K3sVersion;
use crate::ssh;
use std::time::Duration;

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
