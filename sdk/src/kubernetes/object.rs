//! Naming objects of any kind, and the comparison that says whether a live object already
//! holds everything a configuration sets.

use super::Error;
use serde_json::Value;
use std::fmt;

/// One object: its kind, namespace and name.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct ObjectRef {
    /// `group/version` (`v1` for the core group).
    pub api_version: String,
    /// The kind.
    pub kind: String,
    /// The namespace, for namespaced kinds.
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
}

impl ObjectRef {
    /// The reference of an object value (`apiVersion`, `kind`, `metadata.name` and
    /// `metadata.namespace`).
    pub fn of(object: &Value) -> Result<ObjectRef, Error> {
        let text = |v: &Value, what: &str| {
            v.as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| Error::Malformed(format!("an object without {what}")))
        };
        Ok(ObjectRef {
            api_version: text(&object["apiVersion"], "apiVersion")?,
            kind: text(&object["kind"], "kind")?,
            namespace: object["metadata"]["namespace"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            name: text(&object["metadata"]["name"], "metadata.name")?,
        })
    }

    /// The API group (empty for the core group).
    pub fn group(&self) -> &str {
        match self.api_version.split_once('/') {
            Some((group, _)) => group,
            None => "",
        }
    }

    /// Parses the form [`Display`](fmt::Display) writes back, given the version of the group.
    pub fn parse(text: &str) -> Option<(String, String, Option<String>, String)> {
        let mut parts = text.splitn(4, '/');
        let group = parts.next()?.to_owned();
        let kind = parts.next()?.to_owned();
        let namespace = parts.next()?;
        let name = parts.next()?.to_owned();
        let namespace = (!namespace.is_empty()).then(|| namespace.to_owned());
        Some((group, kind, namespace, name))
    }
}

impl fmt::Display for ObjectRef {
    /// `group/Kind/namespace/name`; the core group and cluster scope are empty:
    /// `apps/Deployment/argocd/argocd-server`, `/Namespace//argocd`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let namespace = self.namespace.as_deref().unwrap_or("");
        write!(
            f,
            "{}/{}/{}/{}",
            self.group(),
            self.kind,
            namespace,
            self.name
        )
    }
}

/// True when `live` holds every field `wanted` sets, with the same value, as server-side apply
/// merges: maps compare key by key (extra live keys are defaults or other owners' fields);
/// lists of named objects (`containers`, `env`, `volumes`, …) item by item by name (extra live
/// items are other owners'); `finalizers` as a set; other lists item by item in order (an
/// item the server extended with defaults still matches); scalars exactly — except that a
/// number the configuration gives as a string (`"1"`) or the reverse is the same value, as the
/// API stores quantities either way.
pub fn is_subset(wanted: &Value, live: &Value) -> bool {
    match (wanted, live) {
        (Value::Object(w), Value::Object(l)) => w.iter().all(|(k, v)| {
            v.is_null()
                || l.get(k).is_some_and(|lv| match (k.as_str(), v, lv) {
                    ("finalizers", Value::Array(w), Value::Array(l)) => {
                        w.iter().all(|f| l.contains(f))
                    }
                    _ => is_subset(v, lv),
                })
        }),
        (Value::Array(w), Value::Array(l)) if named(w) && named(l) => w.iter().all(|item| {
            l.iter()
                .find(|x| x["name"] == item["name"])
                .is_some_and(|li| is_subset(item, li))
        }),
        (Value::Array(w), Value::Array(l)) => {
            w.len() == l.len() && w.iter().zip(l).all(|(a, b)| is_subset(a, b))
        }
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            n.to_string() == *s
        }
        _ => wanted == live,
    }
}

/// Whether a list is keyed by `name`, as server-side apply merges the lists of the built-in
/// kinds that have one (every item an object with a string `name`).
pub fn named(items: &[Value]) -> bool {
    !items.is_empty()
        && items
            .iter()
            .all(|i| i["name"].as_str().is_some_and(|n| !n.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_print_and_parse_back() {
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": "argocd-server", "namespace": "argocd"}});
        let r = ObjectRef::of(&d).unwrap();
        assert_eq!(r.to_string(), "apps/Deployment/argocd/argocd-server");
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}});
        assert_eq!(
            ObjectRef::of(&ns).unwrap().to_string(),
            "/Namespace//argocd"
        );
        assert_eq!(
            ObjectRef::parse("/Namespace//argocd"),
            Some(("".into(), "Namespace".into(), None, "argocd".into()))
        );
        assert!(ObjectRef::of(&json!({"kind": "X"})).is_err());
    }

    #[test]
    fn a_live_object_with_defaults_still_holds_the_configuration() {
        let wanted = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "a", "image": "x:1"}]}}}});
        let live = json!({"spec": {"replicas": 1, "strategy": {}, "template": {"spec": {
            "containers": [{"name": "a", "image": "x:1", "imagePullPolicy": "Always"}]}}}});
        assert!(is_subset(&wanted, &live));
        let changed = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "a", "image": "x:2"}]}}}});
        assert!(!is_subset(&changed, &live));
        assert!(!is_subset(
            &json!({"data": {"k": "v"}}),
            &json!({"data": {}})
        ));
        assert!(!is_subset(&json!({"a": [1, 2]}), &json!({"a": [1]})));
        assert!(is_subset(&json!({"port": 80}), &json!({"port": "80"})));
        // Another manager's sidecar and finalizer are theirs, not a difference.
        let sidecar = json!({"spec": {"containers": [{"name": "proxy", "image": "p:1"},
            {"name": "a", "image": "x:1"}]}, "metadata": {"finalizers": ["theirs", "mine"]}});
        let mine = json!({"spec": {"containers": [{"name": "a", "image": "x:1"}]}, "metadata": {"finalizers": ["mine"]}});
        assert!(is_subset(&mine, &sidecar));
        let other_image = json!({"spec": {"containers": [{"name": "a", "image": "x:2"}]}});
        assert!(!is_subset(&other_image, &sidecar));
    }
}
