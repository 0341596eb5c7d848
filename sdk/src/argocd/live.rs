//! The live objects of an object set, read in one list call per kind (by the label every
//! Argo CD object carries, when all of the kind's objects carry it), and the decision whether
//! an object needs writing: it is missing, a field it sets has another value live, or the
//! field manager still owns a field it no longer sets.

use crate::kubernetes::{is_subset, ApiClient, Error, ObjectRef};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// The label every object of Argo CD's manifests carries, and that this layer puts on the
/// objects it seeds.
pub const PART_OF: (&str, &str) = ("app.kubernetes.io/part-of", "argocd");

/// Live objects by reference (`group/Kind/namespace/name`). Its `Debug` names the objects
/// only (some are Secrets).
#[derive(Default)]
pub struct Live {
    objects: HashMap<String, Value>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.objects.keys().collect();
        names.sort();
        f.debug_struct("Live").field("objects", &names).finish()
    }
}

impl Live {
    /// Reads the live objects of `wanted` (objects or templates carrying `apiVersion`, `kind`
    /// and `metadata`): one list per kind and namespace. A kind the API does not serve (a CRD
    /// not installed yet) has no live objects.
    pub async fn read(api: &ApiClient, wanted: &[Value]) -> Result<Live, Error> {
        let mut kinds: BTreeMap<(String, String, Option<String>), bool> = BTreeMap::new();
        for object in wanted {
            let r = ObjectRef::of(object)?;
            let labelled = object["metadata"]["labels"][PART_OF.0] == PART_OF.1;
            let all = kinds
                .entry((r.api_version, r.kind, r.namespace))
                .or_insert(true);
            *all &= labelled;
        }
        let selector = format!("{}={}", PART_OF.0, PART_OF.1);
        let mut live = Live::default();
        for ((api_version, kind, namespace), labelled) in kinds {
            let filter = labelled.then_some(selector.as_str());
            let items = match api
                .list(&api_version, &kind, namespace.as_deref(), filter)
                .await
            {
                Ok(items) => items,
                Err(Error::UnknownKind { .. }) => continue,
                Err(e) => return Err(e),
            };
            for item in items {
                let key = ObjectRef::of(&item)?.to_string();
                live.objects.insert(key, item);
            }
        }
        Ok(live)
    }

    /// The live object `r`.
    pub fn get(&self, r: &ObjectRef) -> Option<&Value> {
        self.objects.get(&r.to_string())
    }

    /// Every live object of `kind` in `group` that was read.
    pub fn all_of<'a>(
        &'a self,
        group: &'a str,
        kind: &'a str,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects.values().filter(move |o| {
            let g = o["apiVersion"]
                .as_str()
                .and_then(|v| v.split_once('/'))
                .map_or("", |(g, _)| g);
            g == group && o["kind"] == kind
        })
    }

    /// Records an object as it is live now.
    pub fn put(&mut self, object: Value) {
        if let Ok(r) = ObjectRef::of(&object) {
            self.objects.insert(r.to_string(), object);
        }
    }
}

/// Why an object needs writing, or `None` when the live object already is what `wanted`
/// says under `manager`.
pub fn needs_write(wanted: &Value, live: Option<&Value>, manager: &str) -> Option<&'static str> {
    let Some(live) = live else {
        return Some("missing");
    };
    if !is_subset(wanted, live) {
        return Some("changed");
    }
    let owned = live["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| {
            e["manager"] == manager && e["operation"] == "Apply" && e["subresource"].is_null()
        })
        .any(|e| owns_more(&e["fieldsV1"], wanted));
    owned.then_some("holds fields no longer set")
}

/// True when `fields` (a `fieldsV1` set) names a field `wanted` does not set: a map key, or an
/// item of a list keyed by name (`k:{"name":…}`). Other list item keys (`v:`, `i:`, other
/// `k:` keys) are not followed: such lists are compared whole by [`is_subset`].
fn owns_more(fields: &Value, wanted: &Value) -> bool {
    let Some(fields) = fields.as_object() else {
        return false;
    };
    fields.iter().any(|(key, inner)| {
        if let Some(name) = key.strip_prefix("f:") {
            return match wanted.get(name) {
                None => true,
                Some(v @ (Value::Object(_) | Value::Array(_))) => owns_more(inner, v),
                Some(_) => false,
            };
        }
        let Some(item) = key
            .strip_prefix("k:")
            .and_then(|k| serde_json::from_str::<Value>(k).ok())
        else {
            return false;
        };
        let Some(items) = wanted.as_array() else {
            return false;
        };
        match item
            .as_object()
            .filter(|o| o.len() == 1)
            .and_then(|o| o.get("name"))
        {
            Some(name) => match items.iter().find(|i| &i["name"] == name) {
                None => true,
                Some(found) => owns_more(inner, found),
            },
            None => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn live(data: Value, owned: Value) -> Value {
        json!({"metadata": {"name": "argocd-cm", "managedFields": [
            {"manager": "me", "operation": "Apply", "fieldsV1": owned},
            {"manager": "other", "operation": "Apply", "fieldsV1": {"f:data": {"f:x": {}}}}]},
            "data": data})
    }

    #[test]
    fn an_object_is_written_only_when_it_differs_or_holds_released_fields() {
        let wanted = json!({"metadata": {"name": "argocd-cm"}, "data": {"a": "1"}});
        let owned = json!({"f:metadata": {"f:name": {}}, "f:data": {"f:a": {}}});
        assert_eq!(needs_write(&wanted, None, "me"), Some("missing"));
        let same = live(json!({"a": "1", "x": "2"}), owned.clone());
        assert_eq!(needs_write(&wanted, Some(&same), "me"), None);
        let changed = live(json!({"a": "9", "x": "2"}), owned);
        assert_eq!(needs_write(&wanted, Some(&changed), "me"), Some("changed"));
        let released = live(
            json!({"a": "1", "b": "1"}),
            json!({"f:data": {"f:a": {}, "f:b": {}}}),
        );
        assert_eq!(
            needs_write(&wanted, Some(&released), "me"),
            Some("holds fields no longer set")
        );
        let lists =
            json!({"f:spec": {"f:containers": {"k:{\"name\":\"a\"}": {".": {}, "f:image": {}}}}});
        let wanted = json!({"spec": {"containers": [{"name": "a", "image": "i"}]}});
        assert!(!owns_more(&lists, &wanted));
        // A container this manager applied before and no longer does is still its own.
        let two = json!({"f:spec": {"f:containers": {"k:{\"name\":\"a\"}": {}, "k:{\"name\":\"b\"}": {}}}});
        assert!(owns_more(&two, &wanted));
    }
}
