//! What is seeded into an installed Argo CD: repository credentials Secrets, settings in
//! `argocd-cm` and `argocd-cmd-params-cm` (applied under their own field manager, so the
//! install keeps its keys), the health check that lets Applications gate sync waves, and the
//! root App-of-Apps Application.

use super::live::PART_OF;
use crate::Secret;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The field manager settings in Argo CD's ConfigMaps are applied under.
pub const SETTINGS_MANAGER: &str = "k3s-argocd-bootstrap-settings";

/// The `argocd-cm` key of the health check for `argoproj.io/Application`.
pub const APPLICATION_HEALTH_KEY: &str = "resource.customizations.health.argoproj.io_Application";

/// The health of an Application as Argo CD sees a child Application: its own reported
/// health, `Progressing` until it has one. With it, a parent waits for the children of one
/// sync wave to be Healthy before the next wave.
pub const APPLICATION_HEALTH_LUA: &str = r#"local result = {status = "Progressing", message = ""}
local health = obj.status and obj.status.health
if health and health.status then
  result.status = health.status
  result.message = health.message or ""
end
return result
"#;

/// The finalizer that makes deleting an Application delete what it manages.
pub const CASCADE_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";

/// Objects Argo CD itself writes at runtime; nothing seeded may take their names.
pub const RUNTIME_OBJECTS: &[&str] = &[
    "argocd-secret",
    "argocd-initial-admin-secret",
    "argocd-redis",
    "argocd-notifications-secret",
];

/// How Argo CD authenticates to a repository.
#[derive(Debug, Clone, PartialEq)]
pub enum Credentials {
    /// A public repository.
    None,
    /// https with a user name and a password or token.
    Https {
        /// The user name.
        username: String,
        /// The password or token.
        password: Secret,
    },
    /// ssh with a private key.
    Ssh {
        /// The private key, OpenSSH or PEM.
        private_key: Secret,
    },
}

/// A repository Argo CD may pull from.
#[derive(Debug, Clone, PartialEq)]
pub struct Repository {
    /// The Secret's name.
    pub name: String,
    /// The repository URL.
    pub url: String,
    /// `git` or `helm`.
    pub kind: String,
    /// How to authenticate.
    pub credentials: Credentials,
}

/// Automated sync of the root Application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Automated {
    /// Delete what is no longer in Git.
    pub prune: bool,
    /// Revert changes made in the cluster.
    pub self_heal: bool,
}

/// The root Application of the App-of-Apps.
#[derive(Debug, Clone, PartialEq)]
pub struct RootApplication {
    /// Its name.
    pub name: String,
    /// The repository holding the child Applications.
    pub repo_url: String,
    /// Their directory in it.
    pub path: String,
    /// Branch, tag or commit.
    pub target_revision: String,
    /// The Argo CD project.
    pub project: String,
    /// The destination cluster's API URL.
    pub destination_server: String,
    /// The destination namespace.
    pub destination_namespace: String,
    /// Automated sync, if any.
    pub automated: Option<Automated>,
    /// `syncOptions` (`CreateNamespace=true`, `ServerSideApply=true`, …).
    pub sync_options: Vec<String>,
    /// Deleting the root deletes what it manages (the cascade finalizer is set).
    pub cascade_delete: bool,
}

impl RootApplication {
    /// The root Application `name` syncing `path` of `repo_url` at `HEAD` into this cluster's
    /// `argocd` namespace, in the `default` project, without automated sync or cascade delete;
    /// change the fields for anything else.
    pub fn new(name: &str, repo_url: &str, path: &str) -> RootApplication {
        RootApplication {
            name: name.into(),
            repo_url: repo_url.into(),
            path: path.into(),
            target_revision: "HEAD".into(),
            project: "default".into(),
            destination_server: "https://kubernetes.default.svc".into(),
            destination_namespace: super::DEFAULT_NAMESPACE.into(),
            automated: None,
            sync_options: Vec::new(),
            cascade_delete: false,
        }
    }
}

/// Everything seeded.
#[derive(Debug, Clone, PartialEq)]
pub struct Seed {
    /// Repository Secrets.
    pub repositories: Vec<Repository>,
    /// Keys set in `argocd-cm`.
    pub settings: BTreeMap<String, String>,
    /// Keys set in `argocd-cmd-params-cm`.
    pub params: BTreeMap<String, String>,
    /// Set the Application health check in `argocd-cm`.
    pub application_health: bool,
    /// The root Application.
    pub root: RootApplication,
}

/// Labels of a seeded object. Settings ConfigMaps keep Argo CD's `part-of` label (Argo CD
/// reads only labelled ConfigMaps); the repository Secrets and the root Application carry only
/// what Argo CD needs, as hand-written ones would, so that those are adopted as they are.
fn labels(part_of: bool, extra: &[(&str, &str)]) -> Value {
    let mut m = Map::new();
    if part_of {
        m.insert(PART_OF.0.into(), json!(PART_OF.1));
    }
    for (k, v) in extra {
        m.insert((*k).into(), json!(v));
    }
    Value::Object(m)
}

fn b64(text: &str) -> Value {
    json!(base64::engine::general_purpose::STANDARD.encode(text))
}

impl Repository {
    /// The repository Secret in `namespace`. Values are in `data` (base64), which the API
    /// returns, so the Secret reads back as applied.
    pub fn object(&self, namespace: &str) -> Value {
        let mut data = Map::new();
        data.insert("type".into(), b64(&self.kind));
        data.insert("url".into(), b64(&self.url));
        match &self.credentials {
            Credentials::None => {}
            Credentials::Https { username, password } => {
                data.insert("username".into(), b64(username));
                data.insert("password".into(), b64(password.expose()));
            }
            Credentials::Ssh { private_key } => {
                data.insert("sshPrivateKey".into(), b64(private_key.expose()));
            }
        }
        json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
               "metadata": {"name": self.name, "namespace": namespace,
                            "labels": labels(false, &[("argocd.argoproj.io/secret-type", "repository")])},
               "data": data})
    }
}

impl RootApplication {
    /// The Application in `namespace`.
    pub fn object(&self, namespace: &str) -> Value {
        let mut sync_policy = Map::new();
        if let Some(a) = self.automated {
            sync_policy.insert(
                "automated".into(),
                json!({"prune": a.prune, "selfHeal": a.self_heal}),
            );
        }
        if !self.sync_options.is_empty() {
            sync_policy.insert("syncOptions".into(), json!(self.sync_options));
        }
        let mut metadata = json!({"name": self.name, "namespace": namespace});
        if self.cascade_delete {
            metadata["finalizers"] = json!([CASCADE_FINALIZER]);
        }
        let mut spec = json!({
            "project": self.project,
            "source": {"repoURL": self.repo_url, "path": self.path, "targetRevision": self.target_revision},
            "destination": {"server": self.destination_server, "namespace": self.destination_namespace},
        });
        if !sync_policy.is_empty() {
            spec["syncPolicy"] = Value::Object(sync_policy);
        }
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
               "metadata": metadata, "spec": spec})
    }
}

impl Seed {
    /// The keys of `argocd-cm` this seed sets (the settings and the health check).
    pub fn settings_with_health(&self) -> BTreeMap<String, String> {
        let mut settings = self.settings.clone();
        if self.application_health {
            settings
                .entry(APPLICATION_HEALTH_KEY.to_owned())
                .or_insert_with(|| APPLICATION_HEALTH_LUA.to_owned());
        }
        settings
    }

    /// The objects applied under the install's manager: the repository Secrets.
    pub fn secrets(&self, namespace: &str) -> Vec<Value> {
        self.repositories
            .iter()
            .map(|r| r.object(namespace))
            .collect()
    }

    /// The settings overlays, applied under [`SETTINGS_MANAGER`]; always both, so that keys
    /// removed from the configuration are released.
    pub fn overlays(&self, namespace: &str) -> Vec<Value> {
        let overlay = |name: &str, data: &BTreeMap<String, String>| {
            let mut o = json!({"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": name, "namespace": namespace, "labels": labels(true, &[])}});
            if !data.is_empty() {
                o["data"] = json!(data);
            }
            o
        };
        vec![
            overlay("argocd-cm", &self.settings_with_health()),
            overlay("argocd-cmd-params-cm", &self.params),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(cascade: bool) -> RootApplication {
        RootApplication {
            automated: Some(Automated {
                prune: false,
                self_heal: true,
            }),
            sync_options: vec!["CreateNamespace=true".into()],
            cascade_delete: cascade,
            ..RootApplication::new("root", "https://git.example/apps.git", "apps")
        }
    }

    #[test]
    fn the_root_application_has_the_finalizer_only_for_cascade_delete() {
        let app = root(false).object("argocd");
        assert!(app["metadata"]["finalizers"].is_null());
        assert_eq!(
            app["spec"]["syncPolicy"]["automated"],
            json!({"prune": false, "selfHeal": true})
        );
        assert_eq!(
            app["spec"]["source"]["repoURL"],
            "https://git.example/apps.git"
        );
        assert_eq!(
            root(true).object("argocd")["metadata"]["finalizers"],
            json!([CASCADE_FINALIZER])
        );
    }

    #[test]
    fn repository_secrets_are_labelled_and_hold_base64_data() {
        let repo = Repository {
            name: "apps".into(),
            url: "https://git.example/apps.git".into(),
            kind: "git".into(),
            credentials: Credentials::Https {
                username: "bot".into(),
                password: Secret::new("tok"),
            },
        };
        let s = repo.object("argocd");
        assert_eq!(
            s["metadata"]["labels"]["argocd.argoproj.io/secret-type"],
            "repository"
        );
        assert_eq!(s["data"]["password"], "dG9r");
        assert!(s.get("stringData").is_none());
    }

    #[test]
    fn overlays_carry_the_health_check_and_are_always_both_there() {
        let seed = Seed {
            repositories: vec![],
            settings: BTreeMap::from([("timeout.reconciliation".into(), "60s".into())]),
            params: BTreeMap::new(),
            application_health: true,
            root: root(false),
        };
        let o = seed.overlays("argocd");
        assert_eq!(o.len(), 2);
        assert_eq!(o[0]["data"][APPLICATION_HEALTH_KEY], APPLICATION_HEALTH_LUA);
        assert_eq!(o[0]["data"]["timeout.reconciliation"], "60s");
        assert!(o[1]["data"].is_null());
    }
}
