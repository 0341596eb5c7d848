//! The resources and data sources the provider serves: one file each, reading as its model,
//! its schema and its lifecycle. Adding one is adding its file and one line to the list below.

use std::sync::Arc;
use tfplugin_runtime::erased::{AnyDataSource, AnyResource};

/// Declares each resource's and data source's module and lists them for the provider.
macro_rules! served {
    (resources: $($resource:ident::$r_type:ident),* $(,)?; data_sources: $($source:ident::$d_type:ident),* $(,)?;) => {
        $(pub mod $resource;)*
        $(pub mod $source;)*

        /// Every resource type, as the provider lists them.
        pub fn resources() -> Vec<Arc<dyn AnyResource>> {
            vec![$(tfplugin_runtime::resource($resource::$r_type)),*]
        }

        /// Every data source type, as the provider lists them.
        pub fn data_sources() -> Vec<Arc<dyn AnyDataSource>> {
            vec![$(tfplugin_runtime::data_source($source::$d_type)),*]
        }
    };
}

served! {
    resources:
        k3s_server::K3sServer,
        k3s_agent::K3sAgent,
        argocd_bootstrap::ArgocdBootstrap;
    data_sources:
        k3s_oci_instances::K3sOciInstances;
}

#[cfg(test)]
mod tests;
