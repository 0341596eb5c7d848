//! `argocd_bootstrap`: Argo CD installed into the cluster at a pinned version with server-side
//! apply, repository credentials, and the root App-of-Apps Application; reads back the
//! installed version, missing objects and the root application's sync and health.
//!
//! Declared and validated; its apply answers "not implemented yet" and changes nothing.

use crate::validators;
use async_trait::async_trait;
use k3s_sdk::Secret;
use serde::{Deserialize, Serialize};
use tfplugin_runtime::cty::{Type, Value};
use tfplugin_runtime::schema::{one_of, Attribute, Block, NestedBlock, Schema};
use tfplugin_runtime::timeouts::{self, Timeouts};
use tfplugin_runtime::{field_name, Context, Diagnostics, Duration, Form, Known, Models, Resource};

/// The `argocd_bootstrap` resource type.
pub struct ArgocdBootstrap;

/// Argo CD in a cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct ArgocdModel<F: Form = Known> {
    /// `<namespace>/<root application>`.
    pub id: F::Of<Option<String>>,
    /// The cluster's kubeconfig.
    pub kubeconfig: F::Of<Secret>,
    /// The Argo CD release.
    pub version: F::Of<String>,
    /// Where `install.yaml` is.
    pub manifest_url: F::Of<Option<String>>,
    /// Argo CD's namespace.
    pub namespace: F::Of<String>,
    /// How long to wait for Argo CD.
    pub wait_timeout: F::Of<Duration>,
    /// The version running.
    pub installed_version: F::Of<Option<String>>,
    /// Objects of the manifest missing from the cluster.
    pub missing_objects: F::Of<Option<Vec<String>>>,
    /// The root Application's sync status.
    pub root_sync_status: F::Of<Option<String>>,
    /// The root Application's health.
    pub root_health_status: F::Of<Option<String>>,
    /// Repositories.
    pub repository: F::Of<Vec<Repository>>,
    /// The root Application.
    pub root_application: F::Of<RootApplication>,
    /// Deadlines.
    pub timeouts: F::Of<Timeouts>,
}

/// A `repository` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Repository {
    /// Secret name.
    pub name: String,
    /// Repository URL.
    pub url: String,
    /// `git` or `helm`.
    pub r#type: String,
    /// User name.
    pub username: Option<String>,
    /// Password or token.
    pub password: Option<Secret>,
    /// SSH private key.
    pub ssh_private_key: Option<Secret>,
}

/// The `root_application` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootApplication {
    /// Application name.
    pub name: String,
    /// Repository of the Applications.
    pub repo_url: String,
    /// Directory of the Applications.
    pub path: String,
    /// Branch, tag or commit.
    pub target_revision: String,
    /// Argo CD project.
    pub project: String,
    /// Sync automatically.
    pub automated_sync: bool,
    /// Prune when syncing.
    pub prune: bool,
    /// Revert live changes.
    pub self_heal: bool,
}

impl Models for ArgocdBootstrap {
    type Model<F: Form> = ArgocdModel<F>;
}

/// The answer to `operation` (named as in the `timeouts` block) until it is implemented.
fn not_implemented(operation: &str) -> Diagnostics {
    Diagnostics::from_error(
        format!("argocd_bootstrap: {operation} is not implemented yet"),
        format!(
            "This version of terraform-provider-k3s declares argocd_bootstrap and validates its \
             configuration, but cannot {operation} it yet. Plans are accurate; apply will fail \
             here without changing anything."
        ),
    )
}

#[async_trait]
impl Resource for ArgocdBootstrap {
    fn type_name(&self) -> &'static str {
        "argocd_bootstrap"
    }

    fn schema(&self) -> Schema {
        let repository = Block::new("A repository Argo CD may pull from, stored as a labelled Secret in the Argo CD namespace.")
            .attribute(Attribute::required("name", Type::String).describe("Name of the repository Secret."))
            .attribute(Attribute::required("url", Type::String).describe("Repository URL (https or ssh)."))
            .attribute(Attribute::optional("type", Type::String).default(Value::string("git")).validate(one_of(&["git", "helm"])).describe("`git` or `helm`."))
            .attribute(Attribute::optional("username", Type::String).describe("User name for https."))
            .attribute(Attribute::optional("password", Type::String).sensitive().describe("Password or token for https."))
            .attribute(Attribute::optional("ssh_private_key", Type::String).sensitive().describe("Private key for ssh URLs."));
        let root = Block::new("The root Application of the App-of-Apps: it points at the directory holding the other Applications.")
            .attribute(Attribute::optional("name", Type::String).default(Value::string("root")).describe("Application name."))
            .attribute(Attribute::required("repo_url", Type::String).describe("Repository holding the Applications."))
            .attribute(Attribute::required("path", Type::String).describe("Directory of the Applications in the repository."))
            .attribute(Attribute::optional("target_revision", Type::String).default(Value::string("HEAD")).describe("Branch, tag or commit."))
            .attribute(Attribute::optional("project", Type::String).default(Value::string("default")).describe("Argo CD project."))
            .attribute(Attribute::optional("automated_sync", Type::Bool).default(Value::Bool(true)).describe("Sync automatically."))
            .attribute(Attribute::optional("prune", Type::Bool).default(Value::Bool(false)).describe("Delete objects removed from Git when syncing."))
            .attribute(Attribute::optional("self_heal", Type::Bool).default(Value::Bool(false)).describe("Revert live changes (hot-fixes) to what Git says."));
        let block = Block::new("Argo CD installed into a cluster, with its repositories and the root App-of-Apps Application.")
            .attribute(Attribute::computed("id", Type::String).stable().describe("`<namespace>/<root application>`."))
            .attribute(Attribute::required("kubeconfig", Type::String).sensitive().describe("Kubeconfig of the cluster, e.g. `k3s_server.main.kubeconfig`."))
            .attribute(Attribute::required("version", Type::String).validate(validators::semver_tag()).describe("The Argo CD release, pinned: `vX.Y.Z`."))
            .attribute(Attribute::optional("manifest_url", Type::String).validate(validators::http_url()).describe("Where to fetch `install.yaml`. Defaults to the release's manifest on GitHub."))
            .attribute(Attribute::optional("namespace", Type::String).default(Value::string("argocd")).requires_replace().describe("Namespace Argo CD is installed in."))
            .attribute(Attribute::optional("wait_timeout", Type::String).default(Value::string("10m")).validate(validators::duration()).describe("How long to wait for Argo CD to become available."))
            .attribute(Attribute::computed("installed_version", Type::String).describe("The Argo CD version running in the cluster."))
            .attribute(Attribute::computed("missing_objects", Type::list(Type::String)).describe("Objects of the manifest missing from the cluster."))
            .attribute(Attribute::computed("root_sync_status", Type::String).describe("Sync status of the root Application (`Synced`, `OutOfSync`, …)."))
            .attribute(Attribute::computed("root_health_status", Type::String).describe("Health of the root Application (`Healthy`, `Degraded`, …)."))
            .block(NestedBlock::list("repository", repository))
            .block(NestedBlock::single("root_application", root).required())
            .block(timeouts::block("15m", "15m", "10m"));
        Schema::new(block)
    }

    async fn create(&self, _ctx: &Context, _planned: ArgocdModel) -> Result<ArgocdModel, Diagnostics> {
        Err(not_implemented(field_name!(Timeouts, create)))
    }

    async fn read(
        &self,
        _ctx: &Context,
        current: ArgocdModel,
    ) -> Result<Option<ArgocdModel>, Diagnostics> {
        Ok(Some(current))
    }

    async fn update(
        &self,
        _ctx: &Context,
        _prior: ArgocdModel,
        _planned: ArgocdModel,
    ) -> Result<ArgocdModel, Diagnostics> {
        Err(not_implemented(field_name!(Timeouts, update)))
    }

    async fn delete(&self, _ctx: &Context, _prior: ArgocdModel) -> Result<(), Diagnostics> {
        Err(not_implemented(field_name!(Timeouts, delete)))
    }
}
