//! `argocd_bootstrap`: Argo CD installed into the cluster at a pinned version with server-side
//! apply, its repository credentials, settings and the root App-of-Apps Application; reads back
//! the version running, the objects missing or changed, and every Application's sync and
//! health, so that `terraform plan` shows drift.
//!
//! The cluster is reached with a `kubeconfig` or through a `server` node over SSH
//! ([`cluster_access`]). No API call is made at plan: refresh reads the live state, and the plan
//! asks for the version configured with nothing missing or changed, so drift plans an update
//! that writes exactly the objects that differ. What was applied (the inventory) is kept in
//! private state, so an upgrade deletes what the new version no longer ships.

mod checks;
mod convert;
mod manifest;

use crate::cluster_access::{self, Attempt, Reached, ServerAccess};
use crate::lifecycle::{failed, Operation, PrivateState};
use crate::node::import::{parse_ssh_id, ssh_settings};
use crate::provider::ProviderConfig;
use crate::validators;
use async_trait::async_trait;
use checks::check_config;
use convert::{recorded, repository_model, root_model};
use k3s_sdk::argocd::{self, Deadline, WaitFor};
use k3s_sdk::kubernetes::ObjectRef;
use k3s_sdk::Secret;
use manifest::{bootstrap_of, warn_if_too_few_nodes};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tfplugin_runtime::cty::Value;
use tfplugin_runtime::schema::{one_of, ModelSchema};
use tfplugin_runtime::timeouts::{self, Timeouts};
use tfplugin_runtime::{
    Context, Diagnostics, Form, Known, MaybeUnknown, Models, Plan, Planned, Resource,
};

/// The `argocd_bootstrap` resource type.
pub struct ArgocdBootstrap;

/// Argo CD installed into a cluster at a pinned version, with its repositories, settings and the
/// root App-of-Apps Application; the live state read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ModelSchema)]
#[serde(bound = "")]
pub struct ArgocdModel<F: Form = Known> {
    /// `<namespace>/<root application>`.
    #[tf(computed, stable)]
    pub id: F::Of<Option<String>>,
    /// Kubeconfig of the cluster, e.g. `k3s_server.main.kubeconfig`. Exactly one of this and a
    /// `server` block.
    #[tf(sensitive)]
    pub kubeconfig: F::Of<Option<Secret>>,
    /// The Argo CD release, pinned: `vX.Y.Z`. The manifest's argocd-server image must carry this
    /// tag.
    #[tf(validate = validators::semver_tag())]
    pub version: F::Of<String>,
    /// Where to read `install.yaml` (`https://`, `http://` or `file:///path` for air-gapped sites).
    /// Defaults to the release's manifest under the provider's `argocd_release_base_url`.
    #[tf(validate = validators::manifest_url())]
    pub manifest_url: F::Of<Option<String>>,
    /// The manifest's sha256 (hex), checked before anything is applied.
    #[tf(validate = validators::sha256())]
    pub manifest_sha256: F::Of<Option<String>>,
    /// Namespace Argo CD is installed in.
    #[tf(default = Value::string(argocd::DEFAULT_NAMESPACE), requires_replace)]
    pub namespace: F::Of<String>,
    /// How far create and update wait, within `timeouts`: `installed` (Argo CD rolled out and the
    /// root Application applied), `root_synced` or `root_healthy`.
    #[tf(default = "installed", validate = one_of(WAIT_FOR))]
    pub wait_for: F::Of<String>,
    /// Delete Argo CD's CRDs on destroy, which deletes every Application, AppProject and
    /// ApplicationSet in the cluster.
    #[tf(default = false)]
    pub delete_crds: F::Of<bool>,
    /// Set the health check for `argoproj.io/Application` in `argocd-cm`, so that child
    /// Applications in sync waves gate each other.
    #[tf(default = true)]
    pub application_health_check: F::Of<bool>,
    /// Keys set in `argocd-cm` (applied under their own field manager; the install's keys are
    /// kept).
    pub settings: F::Of<Option<BTreeMap<String, String>>>,
    /// Keys set in `argocd-cmd-params-cm`, e.g. `server.insecure`.
    pub cmd_params: F::Of<Option<BTreeMap<String, String>>>,
    /// The version argocd-server runs, once rolled out.
    #[tf(computed)]
    pub installed_version: F::Of<Option<String>>,
    /// Objects applied by this resource that are missing from the cluster
    /// (`group/Kind/namespace/name`).
    #[tf(computed)]
    pub missing_objects: F::Of<Option<Vec<String>>>,
    /// Objects applied by this resource whose fields differ from what was applied.
    #[tf(computed)]
    pub changed_objects: F::Of<Option<Vec<String>>>,
    /// Sync status of the root Application (`Synced`, `OutOfSync`, …).
    #[tf(computed)]
    pub root_sync_status: F::Of<Option<String>>,
    /// Health of the root Application (`Healthy`, `Progressing`, `Degraded`, …).
    #[tf(computed)]
    pub root_health_status: F::Of<Option<String>>,
    /// Every Application in the namespace with its sync status, health and sync wave, by wave.
    #[tf(computed)]
    pub applications: F::Of<Option<Vec<ApplicationRow>>>,
    /// The `admin` password Argo CD generated (`argocd-initial-admin-secret`), while it keeps it.
    #[tf(computed, sensitive)]
    pub initial_admin_password: F::Of<Option<Secret>>,
    /// Repositories.
    #[tf(block)]
    pub repository: F::Of<Vec<Repository>>,
    /// The root Application.
    #[tf(block, required)]
    pub root_application: F::Of<RootApplication>,
    /// Or, instead of `kubeconfig`, a server node to reach the cluster through.
    #[tf(block)]
    pub server: F::Of<Option<ServerAccess>>,
    /// Deadlines.
    #[tf(schema = timeouts::block("15m", "15m", "10m"))]
    pub timeouts: F::Of<Timeouts>,
}

/// One Application, as `kubectl get applications` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplicationRow {
    /// Its name.
    pub name: String,
    /// Sync status.
    pub sync_status: String,
    /// Health.
    pub health_status: String,
    /// Sync wave.
    pub wave: i64,
}

/// A repository Argo CD may pull from, stored as a labelled Secret in the Argo CD namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ModelSchema)]
pub struct Repository {
    /// Name of the repository Secret.
    pub name: String,
    /// Repository URL: `https://…`, `ssh://…` or `user@host:path`.
    #[tf(validate = validators::git_url())]
    pub url: String,
    /// `git` or `helm`.
    #[tf(default = "git", validate = one_of(&["git", "helm"]))]
    pub r#type: String,
    /// User name, for an https URL.
    pub username: Option<String>,
    /// Password or token, for an https URL.
    #[tf(sensitive)]
    pub password: Option<Secret>,
    /// Private key, for an ssh URL.
    #[tf(sensitive)]
    pub ssh_private_key: Option<Secret>,
}

/// The root Application of the App-of-Apps: it points at the directory holding the other
/// Applications.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ModelSchema)]
pub struct RootApplication {
    /// Application name.
    #[tf(default = "root", requires_replace)]
    pub name: String,
    /// Repository holding the Applications.
    #[tf(validate = validators::git_url())]
    pub repo_url: String,
    /// Directory of the Applications in the repository.
    pub path: String,
    /// Branch, tag or commit.
    #[tf(default = "HEAD")]
    pub target_revision: String,
    /// Argo CD project.
    #[tf(default = "default")]
    pub project: String,
    /// The cluster the Applications are deployed to.
    #[tf(default = "https://kubernetes.default.svc")]
    pub destination_server: String,
    /// The namespace they are deployed to. Defaults to Argo CD's namespace.
    pub destination_namespace: Option<String>,
    /// Sync automatically when Git changes.
    #[tf(default = true)]
    pub automated_sync: bool,
    /// Delete objects removed from Git when syncing (opt-in, as in Argo CD).
    #[tf(default = false)]
    pub prune: bool,
    /// Revert live changes (hot-fixes) to what Git says (opt-in, as in Argo CD).
    #[tf(default = false)]
    pub self_heal: bool,
    /// Sync options, e.g. `["CreateNamespace=true", "ServerSideApply=true"]`.
    pub sync_options: Option<Vec<String>>,
    /// Deleting the root Application deletes everything it manages (the cascade finalizer is set).
    /// Off by default: destroy then leaves the Applications' workloads running.
    #[tf(default = false)]
    pub cascade_delete: bool,
}

impl Models for ArgocdBootstrap {
    type Model<F: Form> = ArgocdModel<F>;
}

/// What `argocd_bootstrap` keeps in private state: the objects it applied.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Private {
    #[serde(default)]
    inventory: Vec<ObjectRef>,
}

impl PrivateState for Private {
    const FORGOTTEN: &'static str = "the inventory of objects applied (an upgrade prunes nothing \
        the new version dropped; a destroy removes what this configuration would apply)";
}

const WAIT_FOR: &[&str] = &["installed", "root_synced", "root_healthy"];

#[async_trait]
impl Resource for ArgocdBootstrap {
    fn type_name(&self) -> &'static str {
        "argocd_bootstrap"
    }

    async fn validate(&self, config: &ArgocdModel<Planned>, diagnostics: &mut Diagnostics) {
        check_config(config, diagnostics);
    }

    async fn modify_plan(
        &self,
        _ctx: &Context,
        plan: &mut Plan<Self>,
        _diagnostics: &mut Diagnostics,
    ) {
        let planned = &mut plan.planned;
        if let (MaybeUnknown::Known(namespace), MaybeUnknown::Known(root)) =
            (&planned.namespace, &planned.root_application)
        {
            planned.id = MaybeUnknown::Known(Some(format!("{namespace}/{}", root.name)));
        }
        // What apply brings about: the version configured, nothing missing or changed. A
        // refresh that found otherwise makes this an update.
        planned.installed_version = match &planned.version {
            MaybeUnknown::Known(version) => MaybeUnknown::Known(Some(version.clone())),
            MaybeUnknown::Unknown(_) => MaybeUnknown::unknown(),
        };
        planned.missing_objects = MaybeUnknown::Known(Some(Vec::new()));
        planned.changed_objects = MaybeUnknown::Known(Some(Vec::new()));
        if plan.prior.is_some() && plan.changes() {
            let planned = &mut plan.planned;
            planned.root_sync_status = MaybeUnknown::unknown();
            planned.root_health_status = MaybeUnknown::unknown();
            planned.applications = MaybeUnknown::unknown();
            planned.initial_admin_password = MaybeUnknown::unknown();
        }
    }

    async fn create(
        &self,
        ctx: &Context,
        planned: ArgocdModel,
    ) -> Result<ArgocdModel, Diagnostics> {
        apply(ctx, planned, Operation::Create).await
    }

    async fn read(
        &self,
        ctx: &Context,
        current: ArgocdModel,
    ) -> Result<Option<ArgocdModel>, Diagnostics> {
        let api = match cluster_access::connect(
            ctx,
            current.kubeconfig.as_ref(),
            current.server.as_ref(),
            Attempt::Once,
        )
        .await?
        {
            Some(Reached::Api(api)) => api,
            None | Some(Reached::Unreachable) => return Ok(Some(current)),
        };
        let bootstrap = match bootstrap_of(ctx, &current).await {
            Ok(b) => b,
            Err(e) => {
                ctx.warn(
                    "Cannot read the Argo CD manifest; the state is kept as it was",
                    e.to_string(),
                );
                return Ok(Some(current));
            }
        };
        match bootstrap.observe(&api).await {
            Ok(seen) if !seen.namespace_exists => Ok(None),
            Ok(seen) => Ok(Some(recorded(current, seen))),
            Err(argocd::Error::Api(e @ k3s_sdk::kubernetes::Error::Unreachable { .. })) => {
                cluster_access::unreachable(ctx, api.server(), &e);
                Ok(Some(current))
            }
            Err(e) => Err(failed("Cannot read Argo CD", e)),
        }
    }

    async fn update(
        &self,
        ctx: &Context,
        _prior: ArgocdModel,
        planned: ArgocdModel,
    ) -> Result<ArgocdModel, Diagnostics> {
        apply(ctx, planned, Operation::Update).await
    }

    async fn delete(&self, ctx: &Context, prior: ArgocdModel) -> Result<(), Diagnostics> {
        let Some(Reached::Api(api)) = cluster_access::connect(
            ctx,
            prior.kubeconfig.as_ref(),
            prior.server.as_ref(),
            Attempt::Destroying,
        )
        .await?
        else {
            return Ok(());
        };
        let mut inventory = Private::of(ctx).inventory;
        if inventory.is_empty() {
            // Imported: what this configuration would have applied.
            inventory = bootstrap_of(ctx, &prior).await?.inventory();
        }
        let removal = argocd::Removal {
            namespace: prior.namespace.clone(),
            root: prior.root_application.name.clone(),
            cascade: prior.root_application.cascade_delete,
            inventory,
            delete_crds: prior.delete_crds,
        };
        // A cluster that does not answer the first request is gone (or never coming back):
        // say what is left and let the resource go. A failure after that keeps the state, so
        // the next destroy finishes the removal.
        match cluster_access::answers(&api).await {
            Ok(_) => {}
            Err(e @ k3s_sdk::kubernetes::Error::Unreachable { .. }) => {
                cluster_access::left_behind(ctx, api.server(), &e);
                return Ok(());
            }
            Err(e) => return Err(failed("Cannot remove Argo CD", e)),
        }
        let deadline = Deadline::after(prior.timeouts.delete.get(), ctx.cancelled().clone());
        argocd::remove(&api, &removal, &deadline)
            .await
            .map_err(|e| failed("Cannot remove Argo CD", e))
    }

    /// `ssh://user@host:port/<namespace>/<root application>` (through a server node, read
    /// whole so the first plan is empty), or `<namespace>/<root application>` (kubeconfig
    /// mode: the first apply adopts it, writing only what differs).
    async fn import(
        &self,
        ctx: &Context,
        id: &str,
        blank: ArgocdModel,
    ) -> Result<ArgocdModel, Diagnostics> {
        let (server, path) = match id.strip_prefix("ssh://") {
            Some(_) => {
                let (address, path) = split_ssh_path(id)?;
                (Some(server_of(ctx, &address)?), path)
            }
            None => (None, id.to_owned()),
        };
        let (namespace, root) = match path.split_once('/') {
            Some((ns, root)) if !ns.is_empty() && !root.is_empty() && !root.contains('/') => {
                (ns.to_owned(), root.to_owned())
            }
            _ => {
                return Err(Diagnostics::from_error(
                    "Invalid import ID",
                    format!(
                        "{id:?}: import \
                IDs look like <namespace>/<root application> (with a kubeconfig in the \
                configuration) or ssh://user@host:port/<namespace>/<root application> (through a \
                server node)."
                    ),
                ))
            }
        };
        let placeholder = RootApplication {
            name: root.clone(),
            repo_url: String::new(),
            path: String::new(),
            target_revision: String::new(),
            project: String::new(),
            destination_server: String::new(),
            destination_namespace: None,
            automated_sync: false,
            prune: false,
            self_heal: false,
            sync_options: None,
            cascade_delete: false,
        };
        let Some(server) = server else {
            return Ok(ArgocdModel {
                id: Some(format!("{namespace}/{root}")),
                namespace,
                root_application: placeholder,
                ..blank
            });
        };
        let Some(Reached::Api(api)) =
            cluster_access::connect(ctx, None, Some(&server), Attempt::Retrying).await?
        else {
            return Err(Diagnostics::from_error(
                "Cannot import",
                "the server node did not answer",
            ));
        };
        let adopted = argocd::adopt(&api, &namespace, &root)
            .await
            .map_err(|e| failed(&format!("Cannot import {id}"), e))?;
        let version = adopted.version.clone().ok_or_else(|| {
            Diagnostics::from_error(
                format!("Cannot import {id}"),
                "argocd-server is not rolled out, so the version Argo CD runs cannot be read; \
                 import once it runs.",
            )
        })?;
        Ok(ArgocdModel {
            id: Some(format!("{namespace}/{root}")),
            server: Some(server),
            version,
            root_application: root_model(&adopted.root, &namespace),
            repository: adopted.repositories.iter().map(repository_model).collect(),
            settings: (!adopted.settings.is_empty()).then_some(adopted.settings),
            cmd_params: (!adopted.params.is_empty()).then_some(adopted.params),
            application_health_check: adopted.application_health,
            namespace,
            ..blank
        })
    }
}

/// Create and update: install or upgrade, seed, prune, wait; then read back.
async fn apply(
    ctx: &Context,
    planned: ArgocdModel,
    operation: Operation,
) -> Result<ArgocdModel, Diagnostics> {
    let Some(Reached::Api(api)) = cluster_access::connect(
        ctx,
        planned.kubeconfig.as_ref(),
        planned.server.as_ref(),
        Attempt::Retrying,
    )
    .await?
    else {
        return Err(Diagnostics::from_error(
            "No cluster to apply to",
            "Set `kubeconfig` or a `server` block.",
        ));
    };
    let bootstrap = bootstrap_of(ctx, &planned).await?;
    // The first request: a cluster that does not answer fails here, before anything is
    // written (so a failed create records nothing).
    if let Err(e) = cluster_access::answers(&api).await {
        return Err(Diagnostics::from_error(
            format!("Cannot reach the cluster at {}", api.server()),
            format!(
                "{e}. Nothing was applied; check the kubeconfig's server address (or the \
                `server` node) and try again."
            ),
        ));
    }
    warn_if_too_few_nodes(ctx, &api, &bootstrap).await;
    let wait_for = match planned.wait_for.as_str() {
        "root_synced" => WaitFor::RootSynced,
        "root_healthy" => WaitFor::RootHealthy,
        _ => WaitFor::Installed,
    };
    let previous = Private::of(ctx).inventory;
    // Before the first write: what is about to be applied is tracked, so that an apply that
    // fails or is interrupted (Ctrl-C) anywhere after this point leaves nothing untracked — a
    // create is kept (tainted), the next apply replaces it and a destroy removes it.
    let mut tracked = previous.clone();
    for r in bootstrap.inventory() {
        if !tracked.contains(&r) {
            tracked.push(r);
        }
    }
    Private { inventory: tracked }.save(ctx);
    operation.touching(ctx, &planned);
    let deadline = Deadline::after(
        operation.deadline(&planned.timeouts).0,
        ctx.cancelled().clone(),
    );
    let applied = bootstrap
        .apply(&api, &previous, wait_for, &deadline)
        .await
        .map_err(|e| failed(&format!("Cannot {} Argo CD", operation.verb()), e))?;
    tracing::info!(
        written = applied.written.objects.len(),
        pruned = applied.pruned.len(),
        "argocd_bootstrap applied"
    );
    Private {
        inventory: bootstrap.inventory(),
    }
    .save(ctx);
    let seen = bootstrap
        .observe(&api)
        .await
        .map_err(|e| failed("Cannot read Argo CD back", e))?;
    if !seen.missing.is_empty()
        || !seen.changed.is_empty()
        || seen.installed_version.as_deref() != Some(planned.version.as_str())
    {
        return Err(Diagnostics::from_error(
            "Argo CD does not hold what was applied",
            format!(
                "After the apply: missing {:?}, changed {:?}, running {:?} (wanted {}). \
                Another controller may be rewriting these objects.",
                seen.missing, seen.changed, seen.installed_version, planned.version
            ),
        ));
    }
    Ok(recorded(planned, seen))
}

/// `ssh://user@host:port/<namespace>/<root>?host_key=…` split into the node's ID (with its
/// query) and the path.
fn split_ssh_path(id: &str) -> Result<(String, String), Diagnostics> {
    let (before, query) = match id.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (id, None),
    };
    let rest = &before["ssh://".len()..];
    let (address, path) = rest.split_once('/').unwrap_or((rest, ""));
    let node = match query {
        Some(q) => format!("ssh://{address}?{q}"),
        None => format!("ssh://{address}"),
    };
    Ok((node, path.to_owned()))
}

/// The `server` block an `ssh://` import ID describes (settings equal to the provider's are
/// left unset, as a configuration would leave them).
fn server_of(ctx: &Context, node_id: &str) -> Result<ServerAccess, Diagnostics> {
    let provider = ctx.provider::<ProviderConfig>()?;
    let parsed =
        parse_ssh_id(node_id).map_err(|e| Diagnostics::from_error("Invalid import ID", e))?;
    let (host, ssh) = ssh_settings(&provider, parsed);
    Ok(ServerAccess { host, ssh })
}
