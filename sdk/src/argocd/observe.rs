//! Reading an installed Argo CD back without writing anything: the version running (from
//! `argocd-server`'s rolled-out image), the objects of the desired set that are missing or
//! differ, the root Application's sync and health, every Application in the namespace (what
//! `kubectl get applications` shows), and the initial admin password when Argo CD wrote one.

use super::install::not_rolled_out;
use super::live::{needs_write, Live};
use super::manifest::server_image_tag;
use super::Error;
use crate::kubernetes::{ApiClient, ObjectRef};
use crate::Secret;
use base64::Engine;
use serde_json::Value;

/// One Application as Argo CD reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationStatus {
    /// Its name.
    pub name: String,
    /// `Synced`, `OutOfSync`, `Unknown`, or empty before Argo CD looked at it.
    pub sync_status: String,
    /// `Healthy`, `Progressing`, `Degraded`, `Suspended`, `Missing`, `Unknown`, or empty.
    pub health_status: String,
    /// Its `argocd.argoproj.io/sync-wave` (0 when unset).
    pub wave: i64,
}

/// What is live.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The namespace exists.
    pub namespace_exists: bool,
    /// The version `argocd-server` runs, once it has rolled out.
    pub installed_version: Option<String>,
    /// Desired objects that are not there (`group/Kind/namespace/name`).
    pub missing: Vec<String>,
    /// Desired objects that are there but differ from what was applied.
    pub changed: Vec<String>,
    /// The root Application's sync status, when it exists and Argo CD reported one.
    pub root_sync: Option<String>,
    /// The root Application's health, likewise.
    pub root_health: Option<String>,
    /// Every Application in the namespace, by wave then name.
    pub applications: Vec<ApplicationStatus>,
    /// `argocd-initial-admin-secret`'s password, while Argo CD keeps it.
    pub initial_admin_password: Option<Secret>,
}

/// The desired state to compare with: objects and the field manager each set is applied
/// under.
pub struct Desired<'a> {
    /// `(objects, manager)` pairs.
    pub sets: Vec<(&'a [serde_json::Value], &'a str)>,
    /// The root Application's name.
    pub root: &'a str,
}

/// Reads the live state in `namespace` against `desired`: one list per kind.
pub async fn observe(
    api: &ApiClient,
    namespace: &str,
    desired: &Desired<'_>,
) -> Result<Observation, Error> {
    let mut wanted: Vec<Value> = desired
        .sets
        .iter()
        .flat_map(|(o, _)| o.iter().cloned())
        .collect();
    let extra = [
        app_template(namespace),
        serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "argocd-initial-admin-secret", "namespace": namespace}}),
    ];
    wanted.extend(extra.iter().cloned());
    let live = Live::read(api, &wanted).await?;
    let mut missing = Vec::new();
    let mut changed = Vec::new();
    for (objects, manager) in &desired.sets {
        for o in objects.iter() {
            let r = ObjectRef::of(o)?;
            match needs_write(o, live.get(&r), manager) {
                None => {}
                Some("missing") => missing.push(r.to_string()),
                Some(_) => changed.push(r.to_string()),
            }
        }
    }
    // `argocd-cm` is in both sets (the install's and the settings'): name it once.
    missing.sort();
    missing.dedup();
    changed.retain(|c| !missing.contains(c));
    changed.sort();
    changed.dedup();
    let server = ObjectRef {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        namespace: Some(namespace.into()),
        name: "argocd-server".into(),
    };
    let installed_version = live
        .get(&server)
        .filter(|d| not_rolled_out(d).is_none())
        .and_then(server_image_tag);
    let root_ref = ObjectRef {
        api_version: "argoproj.io/v1alpha1".into(),
        kind: "Application".into(),
        namespace: Some(namespace.into()),
        name: desired.root.into(),
    };
    let root = live.get(&root_ref);
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    let mut applications: Vec<ApplicationStatus> = live
        .all_of("argoproj.io", "Application")
        .map(|a| ApplicationStatus {
            name: a["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            sync_status: a["status"]["sync"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            health_status: a["status"]["health"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            wave: a["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
                .as_str()
                .and_then(|w| w.trim().parse().ok())
                .unwrap_or(0),
        })
        .collect();
    applications.sort_by(|a, b| (a.wave, &a.name).cmp(&(b.wave, &b.name)));
    let admin = ObjectRef::of(&extra[1])?;
    let initial_admin_password = live
        .get(&admin)
        .and_then(|s| s["data"]["password"].as_str())
        .and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok())
        .and_then(|p| String::from_utf8(p).ok())
        .map(Secret::new);
    let namespace_ref = ObjectRef {
        api_version: "v1".into(),
        kind: "Namespace".into(),
        namespace: None,
        name: namespace.into(),
    };
    let namespace_exists = match live.get(&namespace_ref) {
        Some(_) => true,
        None => api.get(&namespace_ref).await?.is_some(),
    };
    Ok(Observation {
        namespace_exists,
        installed_version,
        missing,
        changed,
        root_sync: root.and_then(|r| text(&r["status"]["sync"]["status"])),
        root_health: root.and_then(|r| text(&r["status"]["health"]["status"])),
        applications,
        initial_admin_password,
    })
}

/// A template that makes [`Live::read`] list every Application in `namespace`.
fn app_template(namespace: &str) -> Value {
    serde_json::json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                       "metadata": {"name": "*", "namespace": namespace}})
}
