//! The resources and data sources the provider serves: one file each, reading as its model,
//! its schema and its lifecycle. Adding one is its file, its `mod` line and its line in
//! [`resources`] or [`data_sources`]; every schema, model and docs test then checks it.
//!
//! The modules are declared here as plain items (not by a macro) so that `cargo fmt` reaches
//! their files.

pub mod argocd_bootstrap;
pub mod k3s_agent;
pub mod k3s_cluster;
pub mod k3s_oci_instances;
pub mod k3s_server;

use std::sync::Arc;
use tfplugin_runtime::erased::{AnyDataSource, AnyResource};
use tfplugin_runtime::{data_source, resource};

/// Every resource type, as the provider lists them.
pub fn resources() -> Vec<Arc<dyn AnyResource>> {
    vec![
        resource(k3s_server::K3sServer),
        resource(k3s_agent::K3sAgent),
        resource(argocd_bootstrap::ArgocdBootstrap),
    ]
}

/// Every data source type, as the provider lists them.
pub fn data_sources() -> Vec<Arc<dyn AnyDataSource>> {
    vec![
        data_source(k3s_oci_instances::K3sOciInstances),
        data_source(k3s_cluster::K3sCluster),
    ]
}

#[cfg(test)]
mod tests;
