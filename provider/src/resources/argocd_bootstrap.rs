//! `argocd_bootstrap`: Argo CD installed into the cluster at a pinned version with server-side
//! apply, repository credentials, and the root App-of-Apps Application; reads back the
//! installed version, missing objects and the root application's sync and health.

use super::shared::{self, not_implemented};
use crate::runtime::cty::{Type, Value};
use crate::runtime::schema::{one_of, Attribute, Block, NestedBlock, Schema};
use crate::runtime::{Context, Diagnostics, Resource};
use async_trait::async_trait;

/// The `argocd_bootstrap` resource type.
pub struct ArgocdBootstrap;

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
            .attribute(Attribute::required("version", Type::String).validate(shared::semver_tag()).describe("The Argo CD release, pinned: `vX.Y.Z`."))
            .attribute(Attribute::optional("manifest_url", Type::String).validate(shared::http_url()).describe("Where to fetch `install.yaml`. Defaults to the release's manifest on GitHub."))
            .attribute(Attribute::optional("namespace", Type::String).default(Value::string("argocd")).requires_replace().describe("Namespace Argo CD is installed in."))
            .attribute(Attribute::optional("wait_timeout", Type::String).default(Value::string("10m")).validate(shared::duration()).describe("How long to wait for Argo CD to become available."))
            .attribute(Attribute::computed("installed_version", Type::String).describe("The Argo CD version running in the cluster."))
            .attribute(Attribute::computed("missing_objects", Type::list(Type::String)).describe("Objects of the manifest missing from the cluster."))
            .attribute(Attribute::computed("root_sync_status", Type::String).describe("Sync status of the root Application (`Synced`, `OutOfSync`, …)."))
            .attribute(Attribute::computed("root_health_status", Type::String).describe("Health of the root Application (`Healthy`, `Degraded`, …)."))
            .block(NestedBlock::list("repository", repository))
            .block(NestedBlock::single("root_application", root).required())
            .block(shared::timeouts_block());
        Schema::new(block)
    }

    async fn create(&self, _ctx: &Context, _planned: &Value) -> Result<Value, Diagnostics> {
        Err(not_implemented(self.type_name(), "create"))
    }

    async fn read(&self, _ctx: &Context, current: &Value) -> Result<Option<Value>, Diagnostics> {
        Ok(Some(current.clone()))
    }

    async fn update(
        &self,
        _ctx: &Context,
        _prior: &Value,
        _planned: &Value,
    ) -> Result<Value, Diagnostics> {
        Err(not_implemented(self.type_name(), "update"))
    }

    async fn delete(&self, _ctx: &Context, _prior: &Value) -> Result<(), Diagnostics> {
        Err(not_implemented(self.type_name(), "delete"))
    }
}
