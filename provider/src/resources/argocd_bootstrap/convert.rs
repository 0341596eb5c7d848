//! `argocd_bootstrap`'s model in the SDK's terms and back: the seed it applies, the root
//! Application and repositories an import reads, and the attributes an observation fills.

use super::{ApplicationRow, ArgocdModel, Repository, RootApplication};
use k3s_sdk::argocd::{self, Observation, Seed};

pub(super) fn seed_of(model: &ArgocdModel) -> Seed {
    let root = &model.root_application;
    Seed {
        repositories: model
            .repository
            .iter()
            .map(|r| argocd::Repository {
                name: r.name.clone(),
                url: r.url.clone(),
                kind: r.r#type.clone(),
                credentials: match (&r.ssh_private_key, &r.username, &r.password) {
                    (Some(key), _, _) => argocd::Credentials::Ssh {
                        private_key: key.clone(),
                    },
                    (None, Some(username), Some(password)) => argocd::Credentials::Https {
                        username: username.clone(),
                        password: password.clone(),
                    },
                    _ => argocd::Credentials::None,
                },
            })
            .collect(),
        settings: model.settings.clone().unwrap_or_default(),
        params: model.cmd_params.clone().unwrap_or_default(),
        application_health: model.application_health_check,
        root: argocd::RootApplication {
            name: root.name.clone(),
            repo_url: root.repo_url.clone(),
            path: root.path.clone(),
            target_revision: root.target_revision.clone(),
            project: root.project.clone(),
            destination_server: root.destination_server.clone(),
            destination_namespace: root
                .destination_namespace
                .clone()
                .unwrap_or_else(|| model.namespace.clone()),
            automated: root.automated_sync.then_some(argocd::Automated {
                prune: root.prune,
                self_heal: root.self_heal,
            }),
            sync_options: root.sync_options.clone().unwrap_or_default(),
            cascade_delete: root.cascade_delete,
        },
    }
}

pub(super) fn root_model(root: &argocd::RootApplication, namespace: &str) -> RootApplication {
    RootApplication {
        name: root.name.clone(),
        repo_url: root.repo_url.clone(),
        path: root.path.clone(),
        target_revision: root.target_revision.clone(),
        project: root.project.clone(),
        destination_server: root.destination_server.clone(),
        destination_namespace: (root.destination_namespace != namespace)
            .then(|| root.destination_namespace.clone()),
        automated_sync: root.automated.is_some(),
        prune: root.automated.is_some_and(|a| a.prune),
        self_heal: root.automated.is_some_and(|a| a.self_heal),
        sync_options: (!root.sync_options.is_empty()).then(|| root.sync_options.clone()),
        cascade_delete: root.cascade_delete,
    }
}

pub(super) fn repository_model(repo: &argocd::Repository) -> Repository {
    let (username, password, ssh_private_key) = match &repo.credentials {
        argocd::Credentials::None => (None, None, None),
        argocd::Credentials::Https { username, password } => {
            (Some(username.clone()), Some(password.clone()), None)
        }
        argocd::Credentials::Ssh { private_key } => (None, None, Some(private_key.clone())),
    };
    Repository {
        name: repo.name.clone(),
        url: repo.url.clone(),
        r#type: repo.kind.clone(),
        username,
        password,
        ssh_private_key,
    }
}

/// The model with what was observed.
pub(super) fn recorded(mut model: ArgocdModel, seen: Observation) -> ArgocdModel {
    model.id = Some(format!(
        "{}/{}",
        model.namespace, model.root_application.name
    ));
    model.installed_version = seen.installed_version;
    model.missing_objects = Some(seen.missing);
    model.changed_objects = Some(seen.changed);
    model.root_sync_status = seen.root_sync;
    model.root_health_status = seen.root_health;
    model.applications = Some(
        seen.applications
            .into_iter()
            .map(|a| ApplicationRow {
                name: a.name,
                sync_status: a.sync_status,
                health_status: a.health_status,
                wave: a.wave,
            })
            .collect(),
    );
    model.initial_admin_password = seen.initial_admin_password;
    model
}
