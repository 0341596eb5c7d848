//! Reading an Argo CD that is already in a cluster (installed by hand, by `kubectl apply
//! --server-side`, or by an earlier run) in this layer's terms, so that it can be adopted:
//! the version it runs, its root Application, its repository Secrets and the settings this
//! layer's settings manager owns. Reads only.

use super::install::not_rolled_out;
use super::manifest::server_image_tag;
use super::seed::{
    Automated, Credentials, Repository, RootApplication, APPLICATION_HEALTH_KEY, CASCADE_FINALIZER,
    SETTINGS_MANAGER,
};
use super::{Error, Invalid};
use crate::kubernetes::{ApiClient, ObjectRef};
use crate::Secret;
use base64::Engine;
use serde_json::Value;
use std::collections::BTreeMap;

/// What an adopted Argo CD holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Adopted {
    /// The version `argocd-server` runs, once rolled out.
    pub version: Option<String>,
    /// The root Application.
    pub root: RootApplication,
    /// The repository Secrets (label `argocd.argoproj.io/secret-type: repository`).
    pub repositories: Vec<Repository>,
    /// `argocd-cm` keys the settings manager owns (the health check aside).
    pub settings: BTreeMap<String, String>,
    /// `argocd-cmd-params-cm` keys the settings manager owns.
    pub params: BTreeMap<String, String>,
    /// `argocd-cm` holds the Application health check.
    pub application_health: bool,
}

fn object(api_version: &str, kind: &str, namespace: &str, name: &str) -> ObjectRef {
    ObjectRef {
        api_version: api_version.into(),
        kind: kind.into(),
        namespace: Some(namespace.into()),
        name: name.into(),
    }
}

/// Reads the Argo CD in `namespace` whose root Application is `root`.
pub async fn adopt(api: &ApiClient, namespace: &str, root: &str) -> Result<Adopted, Error> {
    let app = api
        .get(&object(
            "argoproj.io/v1alpha1",
            "Application",
            namespace,
            root,
        ))
        .await
        .map_err(|e| match e {
            source @ crate::kubernetes::Error::UnknownKind { .. } => {
                Error::Invalid(Invalid::NotInstalled {
                    namespace: namespace.to_owned(),
                    source,
                })
            }
            other => other.into(),
        })?
        .ok_or_else(|| {
            Error::Invalid(Invalid::NoRootApplication {
                namespace: namespace.to_owned(),
                root: root.to_owned(),
            })
        })?;
    let server = api
        .get(&object("apps/v1", "Deployment", namespace, "argocd-server"))
        .await?;
    let version = server
        .as_ref()
        .filter(|d| not_rolled_out(d).is_none())
        .and_then(server_image_tag);
    let secrets = api
        .list(
            "v1",
            "Secret",
            Some(namespace),
            Some("argocd.argoproj.io/secret-type=repository"),
        )
        .await?;
    let cm = api
        .get(&object("v1", "ConfigMap", namespace, "argocd-cm"))
        .await?;
    let params = api
        .get(&object(
            "v1",
            "ConfigMap",
            namespace,
            "argocd-cmd-params-cm",
        ))
        .await?;
    let mut settings = owned_keys(cm.as_ref());
    let application_health = cm
        .as_ref()
        .is_some_and(|c| c["data"][APPLICATION_HEALTH_KEY].is_string());
    settings.remove(APPLICATION_HEALTH_KEY);
    Ok(Adopted {
        version,
        root: root_of(&app),
        repositories: secrets.iter().map(repository_of).collect(),
        settings,
        params: owned_keys(params.as_ref()),
        application_health,
    })
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn root_of(app: &Value) -> RootApplication {
    let spec = &app["spec"];
    let automated = &spec["syncPolicy"]["automated"];
    let finalizers = app["metadata"]["finalizers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    RootApplication {
        name: text(&app["metadata"]["name"]),
        repo_url: text(&spec["source"]["repoURL"]),
        path: text(&spec["source"]["path"]),
        target_revision: text(&spec["source"]["targetRevision"]),
        project: text(&spec["project"]),
        destination_server: text(&spec["destination"]["server"]),
        destination_namespace: text(&spec["destination"]["namespace"]),
        automated: automated.is_object().then(|| Automated {
            prune: automated["prune"] == true,
            self_heal: automated["selfHeal"] == true,
        }),
        sync_options: spec["syncPolicy"]["syncOptions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect(),
        cascade_delete: finalizers.iter().any(|f| f == CASCADE_FINALIZER),
    }
}

fn decoded(secret: &Value, key: &str) -> Option<String> {
    let raw = secret["data"][key].as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
    String::from_utf8(bytes).ok()
}

fn repository_of(secret: &Value) -> Repository {
    let credentials = match (
        decoded(secret, "username"),
        decoded(secret, "password"),
        decoded(secret, "sshPrivateKey"),
    ) {
        (_, _, Some(key)) => Credentials::Ssh {
            private_key: Secret::new(key),
        },
        (Some(username), Some(password), None) => Credentials::Https {
            username,
            password: Secret::new(password),
        },
        _ => Credentials::None,
    };
    Repository {
        name: text(&secret["metadata"]["name"]),
        url: decoded(secret, "url").unwrap_or_default(),
        kind: decoded(secret, "type").unwrap_or_else(|| "git".into()),
        credentials,
    }
}

/// The `data` keys of a ConfigMap that [`SETTINGS_MANAGER`] owns, with their values.
fn owned_keys(cm: Option<&Value>) -> BTreeMap<String, String> {
    let Some(cm) = cm else {
        return BTreeMap::new();
    };
    let owned: Vec<String> = cm["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["manager"] == SETTINGS_MANAGER)
        .filter_map(|e| e["fieldsV1"]["f:data"].as_object())
        .flat_map(|m| {
            m.keys()
                .filter_map(|k| k.strip_prefix("f:"))
                .map(str::to_owned)
        })
        .collect();
    owned
        .into_iter()
        .filter_map(|k| cm["data"][&k].as_str().map(|v| (k.clone(), v.to_owned())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_live_root_application_reads_back_as_configured() {
        let wanted = RootApplication {
            name: "root".into(),
            repo_url: "ssh://git@git.example:2222/platform.git".into(),
            path: "apps".into(),
            target_revision: "main".into(),
            project: "default".into(),
            destination_server: "https://kubernetes.default.svc".into(),
            destination_namespace: "argocd".into(),
            automated: Some(Automated {
                prune: true,
                self_heal: false,
            }),
            sync_options: vec!["CreateNamespace=true".into()],
            cascade_delete: true,
        };
        assert_eq!(root_of(&wanted.object("argocd")), wanted);
    }

    #[test]
    fn repository_secrets_and_owned_settings_read_back() {
        let repo = Repository {
            name: "apps".into(),
            url: "https://git.example/apps.git".into(),
            kind: "git".into(),
            credentials: Credentials::Https {
                username: "bot".into(),
                password: Secret::new("tok"),
            },
        };
        assert_eq!(repository_of(&repo.object("argocd")), repo);
        let cm = json!({"metadata": {"managedFields": [
            {"manager": SETTINGS_MANAGER, "fieldsV1": {"f:data": {"f:a": {}}}},
            {"manager": "kubectl", "fieldsV1": {"f:data": {"f:b": {}}}}]},
            "data": {"a": "1", "b": "2"}});
        assert_eq!(
            owned_keys(Some(&cm)),
            BTreeMap::from([("a".to_owned(), "1".to_owned())])
        );
    }
}
