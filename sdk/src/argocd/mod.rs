//! Argo CD in a cluster: the pinned install manifest applied with server-side apply, its
//! repositories, settings and root App-of-Apps Application seeded, the live state read back,
//! and removal in a safe order. Knows nothing of Terraform.
//!
//! Ownership: the install and the seeded Secrets and root Application are applied under
//! [`INSTALL_MANAGER`], the settings in `argocd-cm` / `argocd-cmd-params-cm` under
//! [`SETTINGS_MANAGER`]. What Argo CD writes at runtime (`argocd-secret`'s keys,
//! `argocd-initial-admin-secret`, the `default` AppProject, `argocd-redis`) is never applied,
//! so it is never taken over or overwritten.
//!
//! ```no_run
//! # async fn demo(kubeconfig: k3s_sdk::Secret) -> Result<(), Box<dyn std::error::Error>> {
//! use k3s_sdk::argocd::{self, Bootstrap, Deadline, RootApplication, Seed, Source, WaitFor};
//! use k3s_sdk::kubernetes::ApiClient;
//! use std::time::Duration;
//!
//! let api = ApiClient::from_kubeconfig(&kubeconfig).await?;
//! let text = Source::Url(argocd::release_url("v3.5.1")).load(None, Duration::from_secs(60)).await?;
//! let seed = Seed {
//!     repositories: vec![],
//!     settings: Default::default(),
//!     params: Default::default(),
//!     application_health: true,
//!     root: RootApplication::new("root", "https://git.example/platform.git", "apps"),
//! };
//! let bootstrap = Bootstrap::new(&text, "argocd", seed)?;
//! let deadline = Deadline::after(Duration::from_secs(600), Default::default());
//! let applied = bootstrap.apply(&api, &[], WaitFor::Installed, &deadline).await?;
//! println!("{} objects written", applied.written.objects.len());
//! let seen = bootstrap.observe(&api).await?;
//! println!("running {:?}, missing {:?}", seen.installed_version, seen.missing);
//! # Ok(()) }
//! ```

mod adopt;
mod error;
mod install;
mod live;
mod manifest;
mod observe;
mod remove;
mod seed;

pub use adopt::{adopt, Adopted};
pub use error::{Error, Invalid};
pub use install::{
    install, namespace_object, not_rolled_out, wait_rolled_out, Deadline, Written, INSTALL_MANAGER,
};
pub use live::{needs_write, Live, PART_OF};
pub use manifest::{
    release_url, release_url_at, Manifest, Source, DEFAULT_NAMESPACE, RELEASE_BASE_URL,
};
pub use observe::{observe, ApplicationStatus, Desired, Observation};
pub use remove::{prune, remove, Removal};
pub use seed::{
    Automated, Credentials, Repository, RootApplication, Seed, APPLICATION_HEALTH_KEY,
    APPLICATION_HEALTH_LUA, CASCADE_FINALIZER, RUNTIME_OBJECTS, SETTINGS_MANAGER,
};

use crate::kubernetes::{ApiClient, ObjectRef};
use serde_json::Value;

/// How far an apply waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor {
    /// Argo CD's workloads have rolled out and the root Application is applied.
    Installed,
    /// …and the root Application is `Synced`.
    RootSynced,
    /// …and it is `Synced` and `Healthy`.
    RootHealthy,
}

/// What an apply did.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// The objects written, with why.
    pub written: Written,
    /// Objects of an earlier inventory deleted because the new set no longer has them.
    pub pruned: Vec<ObjectRef>,
}

/// One Argo CD: the manifest in its namespace, and what is seeded into it. Its `Debug` leaves
/// out the seeded objects (the repository Secrets hold credentials).
#[derive(Clone)]
pub struct Bootstrap {
    namespace: String,
    manifest: Manifest,
    secrets: Vec<Value>,
    overlays: Vec<Value>,
    root: Value,
    seed: Seed,
}

impl std::fmt::Debug for Bootstrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bootstrap")
            .field("namespace", &self.namespace)
            .field("objects", &self.manifest.objects().len())
            .field("repositories", &self.secrets.len())
            .field("root", &self.seed.root.name)
            .finish_non_exhaustive()
    }
}

impl Bootstrap {
    /// The manifest `text` installed in `namespace`, with `seed`. Keys the seed sets in
    /// `argocd-cm` and `argocd-cmd-params-cm` are taken out of the install's ConfigMaps (the
    /// setting wins, and the two managers never fight over a key). Seeded names may not be
    /// the manifest's or those of the objects Argo CD writes at runtime.
    pub fn new(text: &str, namespace: &str, seed: Seed) -> Result<Bootstrap, Error> {
        let settings = seed.settings_with_health();
        let manifest = Manifest::parse(text, namespace)?
            .without_config_keys("argocd-cm", settings.keys())
            .without_config_keys("argocd-cmd-params-cm", seed.params.keys());
        for repo in &seed.repositories {
            if RUNTIME_OBJECTS.contains(&repo.name.as_str())
                || manifest.find("Secret", &repo.name).is_some()
            {
                return Err(Error::Invalid(Invalid::ReservedSecretName {
                    name: repo.name.clone(),
                }));
            }
        }
        Ok(Bootstrap {
            namespace: namespace.to_owned(),
            secrets: seed.secrets(namespace),
            overlays: seed.overlays(namespace),
            root: seed.root.object(namespace),
            manifest,
            seed,
        })
    }

    /// The install manifest as it is applied.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Every object applied under [`INSTALL_MANAGER`], in the order applied: the namespace,
    /// the manifest's objects, the repository Secrets, the root Application. (The settings
    /// overlays are not in it: their ConfigMaps are the install's.)
    pub fn inventory(&self) -> Vec<ObjectRef> {
        let mut refs = vec![ObjectRef::of(&namespace_object(&self.namespace)).expect("valid")];
        refs.extend(self.manifest.refs());
        for o in self.secrets.iter().chain([&self.root]) {
            refs.push(ObjectRef::of(o).expect("valid"));
        }
        refs
    }

    /// Applies everything, writing only what is missing or differs: install, wait for the
    /// roll-out, seed, root Application; then deletes what `previous` (an earlier
    /// inventory) has and this one does not, and waits as `wait_for` says.
    pub async fn apply(
        &self,
        api: &ApiClient,
        previous: &[ObjectRef],
        wait_for: WaitFor,
        deadline: &Deadline,
    ) -> Result<Applied, Error> {
        let mut written = install(api, &self.manifest, &self.namespace, deadline).await?;
        wait_rolled_out(api, &self.manifest, deadline).await?;
        let mut seeded: Vec<Value> = self.secrets.clone();
        seeded.push(self.root.clone());
        let mut live = Live::read(api, &[seeded.clone(), self.overlays.clone()].concat()).await?;
        install::apply_needed(
            api,
            &self.secrets,
            INSTALL_MANAGER,
            &mut live,
            &mut written,
            deadline,
        )
        .await?;
        install::apply_needed(
            api,
            &self.overlays,
            SETTINGS_MANAGER,
            &mut live,
            &mut written,
            deadline,
        )
        .await?;
        self.wait_for_project(api, deadline).await?;
        install::apply_needed(
            api,
            std::slice::from_ref(&self.root),
            INSTALL_MANAGER,
            &mut live,
            &mut written,
            deadline,
        )
        .await?;
        let pruned = prune(api, previous, &self.inventory(), deadline).await?;
        if wait_for != WaitFor::Installed {
            self.wait_for_root(api, wait_for, deadline).await?;
        }
        Ok(Applied { written, pruned })
    }

    /// The project the root Application names must exist before it is applied (Argo CD's
    /// server creates `default` when it starts).
    async fn wait_for_project(&self, api: &ApiClient, deadline: &Deadline) -> Result<(), Error> {
        let project = ObjectRef {
            api_version: "argoproj.io/v1alpha1".into(),
            kind: "AppProject".into(),
            namespace: Some(self.namespace.clone()),
            name: self.seed.root.project.clone(),
        };
        loop {
            if api.get(&project).await?.is_some() {
                return Ok(());
            }
            if !deadline
                .tick("waiting for the root Application's project")
                .await?
            {
                let who = if project.name == "default" {
                    "argocd-server creates it when it starts; check that it runs"
                } else {
                    "create it, or name a project that exists"
                };
                return Err(deadline.timeout(
                    format!("the AppProject {:?} did not appear", project.name),
                    format!("- {project}: it is not there; {who}"),
                ));
            }
        }
    }

    async fn wait_for_root(
        &self,
        api: &ApiClient,
        wait_for: WaitFor,
        deadline: &Deadline,
    ) -> Result<(), Error> {
        let root = ObjectRef::of(&self.root)?;
        loop {
            let live = api.get(&root).await?.unwrap_or(Value::Null);
            let sync = live["status"]["sync"]["status"].as_str().unwrap_or("");
            let health = live["status"]["health"]["status"].as_str().unwrap_or("");
            let done = sync == "Synced" && (wait_for == WaitFor::RootSynced || health == "Healthy");
            if done {
                return Ok(());
            }
            if !deadline.tick("waiting for the root Application").await? {
                let phase = live["status"]["operationState"]["phase"]
                    .as_str()
                    .unwrap_or("none");
                let message = live["status"]["operationState"]["message"]
                    .as_str()
                    .unwrap_or("");
                let conditions = install::condition_messages(&live, false);
                let what = match wait_for {
                    WaitFor::RootSynced => "the root Application was not Synced",
                    _ => "the root Application was not Synced and Healthy",
                };
                return Err(deadline.timeout(
                    what,
                    format!(
                        "- {root}: sync {:?}, health {:?}, last operation {phase} {message}; conditions: [{}]",
                        sync,
                        health,
                        conditions.join("; ")
                    ),
                ));
            }
        }
    }

    /// Reads the live state back (no writes).
    pub async fn observe(&self, api: &ApiClient) -> Result<Observation, Error> {
        let mut install: Vec<Value> = vec![namespace_object(&self.namespace)];
        install.extend(self.manifest.objects().iter().cloned());
        install.extend(self.secrets.iter().cloned());
        install.push(self.root.clone());
        let desired = Desired {
            sets: vec![
                (&install, INSTALL_MANAGER),
                (&self.overlays, SETTINGS_MANAGER),
            ],
            root: &self.seed.root.name,
        };
        observe(api, &self.namespace, &desired).await
    }
}
