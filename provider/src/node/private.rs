//! What a node resource keeps in private state (opaque to users, never shown): the token a server
//! was created or imported with, and what the provider created on the host beyond K3s itself (files
//! OS preparation wrote where there were none, firewall rules it inserted), so that destroy removes
//! exactly that and leaves what was there before, and the node's name in the cluster.

use crate::lifecycle::PrivateState;
use k3s_sdk::k3s::Applied;
use k3s_sdk::Secret;
use serde::{Deserialize, Serialize};
use tfplugin_runtime::Context;

/// A node's private state.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct NodePrivate {
    /// A server's token, generated at create (or found on the node at import).
    #[serde(default)]
    pub token: Option<Secret>,
    /// Files OS preparation created.
    #[serde(default)]
    pub created_files: Vec<String>,
    /// Whether the firewall rules were inserted by the provider.
    #[serde(default)]
    pub opened_firewall: bool,
    /// The node's name in the cluster, as last read from the host (so that its Node object
    /// can be deleted through the API when the host no longer answers).
    #[serde(default)]
    pub node_name: Option<String>,
}

impl PrivateState for NodePrivate {
    const FORGOTTEN: &'static str = "a server's generated token (set `token`, or import the node \
        again to read it back), the files OS preparation created and whether the provider inserted \
        the firewall rules (destroy leaves both), and the node's name in the cluster";
}

impl NodePrivate {
    /// Records the node's name as read from the host, saving only when it changed.
    pub fn remember_name(ctx: &Context, name: Option<String>) {
        let mut private = NodePrivate::of(ctx);
        if name.is_some() && private.node_name != name {
            private.node_name = name;
            private.save(ctx);
        }
    }

    /// Adds what a converge created.
    pub fn record(&mut self, applied: &Applied) {
        for file in &applied.created_files {
            if !self.created_files.contains(file) {
                self.created_files.push(file.clone());
            }
        }
        self.opened_firewall |= applied.opened_firewall;
    }
}
