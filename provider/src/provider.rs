//! The `k3s` provider block: its model, its schema, and what `configure` makes of it
//! ([`ProviderConfig`], which every resource call gets through its context). The resources
//! and data sources it serves are listed in [`crate::resources`].

use crate::node::versions::ServerVersions;
use crate::oci_profiles::{OciProfileBlock, OciProfiles};
use crate::ssh_target::{self, SshDefaults};
use crate::validators;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tfplugin_runtime::cty::AttributePath;
use tfplugin_runtime::erased::{AnyDataSource, AnyResource};
use tfplugin_runtime::schema::ModelSchema;
use tfplugin_runtime::{
    field_name, Diagnostics, Form, Known, MaybeUnknown, Models, Planned, ProviderData,
};

/// Where the K3s install script is fetched from unless the configuration says otherwise.
pub const DEFAULT_INSTALLER_URL: &str = "https://get.k3s.io";

/// The provider.
pub struct K3sProvider;

/// Turns Linux hosts into a K3s cluster with Argo CD bootstrapped, over SSH.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ModelSchema)]
#[serde(bound = "")]
pub struct ProviderModel<F: Form = Known> {
    /// Where to fetch the install script.
    #[tf(
        validate = validators::http_url(),
        description = format!(
            "Where to fetch the K3s install script. Defaults to `{DEFAULT_INSTALLER_URL}`."
        ),
    )]
    pub installer_url: F::Of<Option<String>>,
    /// Where K3s releases are downloaded from, for mirrors (the install script's `GITHUB_URL`).
    /// Defaults to GitHub.
    #[tf(validate = validators::http_url())]
    pub release_base_url: F::Of<Option<String>>,
    /// Where Argo CD's release manifests are mirrored.
    #[tf(
        validate = validators::http_url(),
        description = format!(
            "Where Argo CD's release manifests are fetched from, for mirrors and air-gapped \
             sites: `argocd_bootstrap` reads `<base>/<version>/manifests/install.yaml` unless \
             it sets `manifest_url`. Defaults to `{}`.",
            k3s_sdk::argocd::RELEASE_BASE_URL
        ),
    )]
    pub argocd_release_base_url: F::Of<Option<String>>,
    /// SSH defaults.
    #[tf(block)]
    pub ssh: F::Of<Option<SshDefaults>>,
    /// OCI tenancies.
    #[tf(block)]
    pub oci_profile: F::Of<Vec<OciProfileBlock>>,
}

/// What the provider block configures, shared with every resource call.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Where resources fetch the K3s install script unless they say otherwise.
    pub installer_url: String,
    /// Where K3s releases are downloaded from, when not GitHub (the install script's `GITHUB_URL`).
    pub release_base_url: Option<String>,
    /// Where `argocd_bootstrap` fetches a release's `install.yaml` unless it names a manifest.
    pub argocd_release_base_url: String,
    /// Defaults for every resource's `ssh` block.
    pub ssh: SshDefaults,
    /// The `oci_profile` blocks, with their API clients made on first use.
    pub oci: Arc<OciProfiles>,
    /// The K3s servers' versions this provider run has seen, for the agents' version rule.
    pub servers: Arc<ServerVersions>,
}

impl Models for K3sProvider {
    type Model<F: Form> = ProviderModel<F>;
}

#[async_trait]
impl tfplugin_runtime::Provider for K3sProvider {
    fn name(&self) -> &'static str {
        "k3s"
    }

    fn resources(&self) -> Vec<Arc<dyn AnyResource>> {
        crate::resources::resources()
    }

    fn data_sources(&self) -> Vec<Arc<dyn AnyDataSource>> {
        crate::resources::data_sources()
    }

    async fn validate(&self, config: &ProviderModel<Planned>, diagnostics: &mut Diagnostics) {
        // Known parts of a partly unknown block are checked too (unknowns read as unset).
        let ssh = match &config.ssh {
            MaybeUnknown::Known(ssh) => ssh.clone(),
            MaybeUnknown::Unknown(partly) => partly.known_parts::<Option<SshDefaults>>().flatten(),
        };
        if let Some(ssh) = ssh {
            let at = AttributePath::attribute(field_name!(ProviderModel, ssh));
            ssh_target::validate_defaults(&ssh, &at, diagnostics);
        }
        // Names of a partly unknown list are checked too (an unknown name is skipped).
        #[derive(Deserialize)]
        struct Named {
            name: Option<String>,
        }
        let names: Vec<Option<String>> = match &config.oci_profile {
            MaybeUnknown::Known(profiles) => {
                profiles.iter().map(|p| Some(p.name.clone())).collect()
            }
            MaybeUnknown::Unknown(partly) => partly
                .known_parts::<Vec<Named>>()
                .unwrap_or_default()
                .into_iter()
                .map(|n| n.name)
                .collect(),
        };
        for (index, name) in duplicates(&names) {
            diagnostics.error_at(
                AttributePath::attribute(field_name!(ProviderModel, oci_profile))
                    .index(index as i64)
                    .attr(field_name!(OciProfileBlock, name)),
                format!("Duplicate OCI profile {name:?}"),
                "Each `oci_profile` block needs a name of its own.",
            );
        }
    }

    async fn configure(
        &self,
        config: ProviderModel,
        _terraform_version: &str,
    ) -> Result<ProviderData, Diagnostics> {
        let names: Vec<Option<String>> = config
            .oci_profile
            .iter()
            .map(|p| Some(p.name.clone()))
            .collect();
        if let Some((_, name)) = duplicates(&names).into_iter().next() {
            return Err(Diagnostics::from_error(
                format!("Duplicate OCI profile {name:?}"),
                "Each `oci_profile` block needs a name of its own.",
            ));
        }
        Ok(Arc::new(ProviderConfig {
            installer_url: config
                .installer_url
                .unwrap_or_else(|| DEFAULT_INSTALLER_URL.to_owned()),
            release_base_url: config.release_base_url,
            argocd_release_base_url: config
                .argocd_release_base_url
                .map(|base| base.trim_end_matches('/').to_owned())
                .unwrap_or_else(|| k3s_sdk::argocd::RELEASE_BASE_URL.to_owned()),
            ssh: config.ssh.unwrap_or_default(),
            oci: Arc::new(OciProfiles::new(config.oci_profile)),
            servers: Arc::default(),
        }))
    }
}

/// The names that repeat an earlier one, with their index.
fn duplicates(names: &[Option<String>]) -> Vec<(usize, String)> {
    let mut seen = Vec::new();
    let mut repeated = Vec::new();
    for (index, name) in names.iter().enumerate() {
        if let Some(name) = name {
            if seen.contains(&name) {
                repeated.push((index, name.clone()));
            }
            seen.push(name);
        }
    }
    repeated
}
