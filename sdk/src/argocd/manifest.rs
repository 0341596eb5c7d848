//! The Argo CD install manifest: where it comes from (the release's URL, a local file, or
//! content given inline, with an optional sha256 pin), and the objects in it made ready to
//! apply in one namespace — multi-document YAML parsed, `List` kinds expanded, the namespace
//! set on namespaced objects and the ClusterRoleBinding subjects pointed at it.

use super::Error;
use crate::kubernetes::ObjectRef;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The namespace Argo CD's manifests are written for.
pub const DEFAULT_NAMESPACE: &str = "argocd";

/// Where Argo CD's release manifests are published, by tag.
pub const RELEASE_BASE_URL: &str = "https://raw.githubusercontent.com/argoproj/argo-cd";

/// The release's non-HA `install.yaml` for `version` (`v3.5.1`).
pub fn release_url(version: &str) -> String {
    release_url_at(RELEASE_BASE_URL, version)
}

/// The non-HA `install.yaml` for `version` under `base`, laid out as the release's
/// (`<base>/<version>/manifests/install.yaml`): a mirror keeps the same paths.
pub fn release_url_at(base: &str, version: &str) -> String {
    format!(
        "{}/{version}/manifests/install.yaml",
        base.trim_end_matches('/')
    )
}

/// Where the manifest comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Fetched over http(s), or read from a `file://` URL.
    Url(String),
    /// Given as YAML text.
    Inline(String),
}

impl Source {
    /// The manifest's text, checked against `sha256` (lowercase hex) when given.
    pub async fn load(&self, sha256: Option<&str>, timeout: Duration) -> Result<String, Error> {
        let (what, text) = match self {
            Source::Inline(text) => ("the inline manifest".to_owned(), text.clone()),
            Source::Url(url) => (url.clone(), fetch(url, timeout).await?),
        };
        if let Some(want) = sha256.map(str::trim) {
            let got = hex(&Sha256::digest(text.as_bytes()));
            if !got.eq_ignore_ascii_case(want) {
                return Err(Error::Manifest(format!(
                    "{what} has sha256 {got}, not the pinned {want}"
                )));
            }
        }
        Ok(text)
    }
}

async fn fetch(url: &str, timeout: Duration) -> Result<String, Error> {
    if let Some(path) = url.strip_prefix("file://") {
        return tokio::fs::read_to_string(path)
            .await
            .map_err(|e| Error::Manifest(format!("reading {path}: {e}")));
    }
    let failed = |why: String| Error::Manifest(format!("fetching {url}: {why}"));
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| failed(e.to_string()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(failed(format!("the server answered {status}")));
    }
    response.text().await.map_err(|e| failed(e.to_string()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Kinds of the built-in API groups that are cluster-scoped; every other built-in kind, and
/// a custom kind whose CRD says `scope: Namespaced`, is namespaced.
const CLUSTER_KINDS: &[&str] = &[
    "Namespace",
    "Node",
    "PersistentVolume",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "StorageClass",
    "CSIDriver",
    "CSINode",
    "VolumeAttachment",
    "PriorityClass",
    "RuntimeClass",
    "IngressClass",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "CertificateSigningRequest",
    "FlowSchema",
    "PriorityLevelConfiguration",
];

/// The objects of one manifest, ready to apply in one namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    objects: Vec<Value>,
}

impl Manifest {
    /// Parses multi-document YAML (empty documents skipped, `List` kinds expanded) and makes
    /// the objects ready for `namespace`.
    pub fn parse(text: &str, namespace: &str) -> Result<Manifest, Error> {
        let mut objects = Vec::new();
        for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
            let value = Value::deserialize(document)
                .map_err(|e| Error::Manifest(format!("document {}: {e}", index + 1)))?;
            expand(value, &mut objects, index + 1)?;
        }
        let cluster_custom: Vec<(String, String)> = objects
            .iter()
            .filter(|o| o["kind"] == "CustomResourceDefinition" && o["spec"]["scope"] == "Cluster")
            .map(|o| {
                let group = o["spec"]["group"].as_str().unwrap_or_default().to_owned();
                let kind = o["spec"]["names"]["kind"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                (group, kind)
            })
            .collect();
        for object in &mut objects {
            let r = ObjectRef::of(object).map_err(|e| Error::Manifest(e.to_string()))?;
            let builtin = r.group().is_empty() || r.group().ends_with("k8s.io");
            let cluster_scoped = (builtin && CLUSTER_KINDS.contains(&r.kind.as_str()))
                || cluster_custom
                    .iter()
                    .any(|(g, k)| g == r.group() && *k == r.kind);
            let meta = object["metadata"]
                .as_object_mut()
                .expect("metadata is an object");
            if cluster_scoped {
                meta.remove("namespace");
            } else {
                meta.insert("namespace".into(), json!(namespace));
            }
            if r.kind == "ClusterRoleBinding" {
                point_subjects_at(object, namespace);
            }
        }
        Ok(Manifest { objects })
    }

    /// The objects, in the manifest's order.
    pub fn objects(&self) -> &[Value] {
        &self.objects
    }

    /// The references of the objects.
    pub fn refs(&self) -> Vec<ObjectRef> {
        self.objects
            .iter()
            .map(|o| ObjectRef::of(o).expect("checked when parsed"))
            .collect()
    }

    /// The object named `name` of `kind`.
    pub fn find(&self, kind: &str, name: &str) -> Option<&Value> {
        self.objects
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
    }

    /// Drops `keys` from the `data` of the ConfigMap `name` (keys another field manager sets).
    pub fn without_config_keys<'a>(
        mut self,
        name: &str,
        keys: impl IntoIterator<Item = &'a String>,
    ) -> Manifest {
        let keys: Vec<&String> = keys.into_iter().collect();
        for object in &mut self.objects {
            if object["kind"] == "ConfigMap" && object["metadata"]["name"] == name {
                if let Some(data) = object["data"].as_object_mut() {
                    data.retain(|k, _| !keys.contains(&k));
                }
            }
        }
        self
    }

    /// The workloads Argo CD is ready when rolled out: the Deployments and StatefulSets.
    pub fn workloads(&self) -> Vec<ObjectRef> {
        self.refs()
            .into_iter()
            .filter(|r| r.group() == "apps" && (r.kind == "Deployment" || r.kind == "StatefulSet"))
            .collect()
    }

    /// The version of Argo CD this manifest runs: the tag of `argocd-server`'s image.
    pub fn version(&self) -> Option<String> {
        self.find("Deployment", "argocd-server")
            .and_then(server_image_tag)
    }

    /// Workloads whose pods must be on distinct nodes (`requiredDuringScheduling…`
    /// anti-affinity), with the replicas each needs: the HA manifest's.
    pub fn spread_workloads(&self) -> Vec<(String, u64)> {
        self.objects
            .iter()
            .filter(|o| {
                !o["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
                    ["requiredDuringSchedulingIgnoredDuringExecution"]
                    .is_null()
            })
            .map(|o| {
                let name = o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                (name, o["spec"]["replicas"].as_u64().unwrap_or(1))
            })
            .collect()
    }
}

/// The tag of the `argocd-server` container's image in a Deployment.
pub(crate) fn server_image_tag(deployment: &Value) -> Option<String> {
    let containers = deployment["spec"]["template"]["spec"]["containers"].as_array()?;
    let image = containers
        .iter()
        .find(|c| c["name"] == "argocd-server")
        .or_else(|| containers.first())?["image"]
        .as_str()?;
    let image = image.split('@').next()?;
    let (repo, tag) = image.rsplit_once(':')?;
    (!tag.contains('/') && !repo.is_empty()).then(|| tag.to_owned())
}

fn expand(value: Value, out: &mut Vec<Value>, document: usize) -> Result<(), Error> {
    match &value {
        Value::Null => Ok(()),
        Value::Object(map) if map.is_empty() => Ok(()),
        Value::Object(map) => {
            let kind = map.get("kind").and_then(Value::as_str).unwrap_or_default();
            if kind == "List"
                || (kind.ends_with("List") && map.get("items").is_some_and(Value::is_array))
            {
                for item in map["items"].as_array().into_iter().flatten() {
                    expand(item.clone(), out, document)?;
                }
                return Ok(());
            }
            if !map.get("metadata").is_some_and(Value::is_object) {
                return Err(Error::Manifest(format!(
                    "document {document} ({kind}) has no metadata"
                )));
            }
            ObjectRef::of(&value)
                .map_err(|e| Error::Manifest(format!("document {document}: {e}")))?;
            out.push(value);
            Ok(())
        }
        _ => Err(Error::Manifest(format!(
            "document {document} is not an object"
        ))),
    }
}

fn point_subjects_at(binding: &mut Value, namespace: &str) {
    for subject in binding["subjects"].as_array_mut().into_iter().flatten() {
        if subject["kind"] == "ServiceAccount" {
            subject["namespace"] = json!(namespace);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "# comment
apiVersion: v1
kind: ServiceAccount
metadata:
  name: argocd-server
---
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: argocd-cm}
  data: {a: '1', b: '2'}
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRoleBinding
  metadata: {name: argocd-server}
  subjects:
  - {kind: ServiceAccount, name: argocd-server, namespace: argocd}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com, namespace: stray}
spec: {group: example.com, scope: Cluster, names: {kind: Widget}}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: argocd-server}
spec:
  template:
    spec:
      containers:
      - {name: argocd-server, image: 'quay.io/argoproj/argocd:v3.5.1'}
";

    #[test]
    fn documents_are_expanded_and_set_in_the_namespace() {
        let m = Manifest::parse(SMALL, "gitops").unwrap();
        let refs: Vec<String> = m.refs().iter().map(ToString::to_string).collect();
        assert_eq!(
            refs,
            [
                "/ServiceAccount/gitops/argocd-server",
                "/ConfigMap/gitops/argocd-cm",
                "rbac.authorization.k8s.io/ClusterRoleBinding//argocd-server",
                "apiextensions.k8s.io/CustomResourceDefinition//widgets.example.com",
                "example.com/Widget//w",
                "apps/Deployment/gitops/argocd-server",
            ]
        );
        let crb = m.find("ClusterRoleBinding", "argocd-server").unwrap();
        assert_eq!(crb["subjects"][0]["namespace"], "gitops");
        assert_eq!(m.version().as_deref(), Some("v3.5.1"));
        assert_eq!(m.workloads().len(), 1);
        let m = m.without_config_keys("argocd-cm", &["a".to_owned()]);
        assert_eq!(
            m.find("ConfigMap", "argocd-cm").unwrap()["data"],
            json!({"b": "2"})
        );
    }

    #[test]
    fn workloads_that_must_spread_over_nodes_are_found() {
        let ha = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: argocd-redis-ha-server}\n\
                  spec:\n  replicas: 3\n  template:\n    spec:\n      affinity:\n        podAntiAffinity:\n          \
                  requiredDuringSchedulingIgnoredDuringExecution: [{topologyKey: kubernetes.io/hostname}]\n";
        let m = Manifest::parse(&format!("{SMALL}---\n{ha}"), "argocd").unwrap();
        assert_eq!(
            m.spread_workloads(),
            [("argocd-redis-ha-server".to_owned(), 3)]
        );
        assert!(Manifest::parse(SMALL, "argocd")
            .unwrap()
            .spread_workloads()
            .is_empty());
    }

    #[test]
    fn bad_documents_are_named() {
        let e = Manifest::parse("a: b\n---\n- 1\n", "argocd")
            .unwrap_err()
            .to_string();
        assert!(e.contains("document 1"), "{e}");
        let e = Manifest::parse("kind: X\napiVersion: v1\nmetadata: {}\n", "argocd").unwrap_err();
        assert!(e.to_string().contains("metadata.name"), "{e}");
    }

    #[test]
    fn image_tags_are_read_with_registry_ports_and_digests() {
        let d = |image: &str| {
            json!({"spec": {"template": {"spec": {"containers": [
            {"name": "argocd-server", "image": image}]}}}})
        };
        assert_eq!(
            server_image_tag(&d("r:5000/argocd:v3.5.1")).as_deref(),
            Some("v3.5.1")
        );
        assert_eq!(server_image_tag(&d("r:5000/argocd")), None);
        assert_eq!(
            server_image_tag(&d("q/argocd:v3.4.0@sha256:ab")).as_deref(),
            Some("v3.4.0")
        );
    }

    #[tokio::test]
    async fn a_pinned_digest_is_checked() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n";
        let digest = hex(&Sha256::digest(text.as_bytes()));
        let source = Source::Inline(text.into());
        assert!(source
            .load(Some(&digest), Duration::from_secs(1))
            .await
            .is_ok());
        let e = source
            .load(Some("00"), Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("not the pinned 00"), "{e}");
    }
}
