//! The object rules every write goes through: kind and scope checks, metadata the server owns,
//! managed fields, CRD validation and status, deletions held by finalizers, and the Status
//! errors (Invalid, Conflict, apply conflicts) those rules answer with.

use super::*;

pub(super) fn invalid(rt: &ResourceType, name: &str, cause: &str) -> ApiError {
    ApiError {
        code: 422,
        reason: "Invalid",
        message: format!("{}.{} \"{name}\" is invalid: {cause}", rt.kind, rt.group)
            .replace(". \"", " \""),
        details: details(rt, name),
    }
}

/// A server-side apply that would take fields other managers apply, without `force`: 409 with
/// the fields named as the API names them.
pub(super) fn apply_conflict(
    rt: &ResourceType,
    name: &str,
    found: &[(String, Vec<ssa::Step>)],
) -> ApiError {
    let listed: Vec<String> = found
        .iter()
        .map(|(manager, path)| format!("conflict with \"{manager}\": {}", ssa::describe(path)))
        .collect();
    let causes: Vec<Value> = found
        .iter()
        .map(|(manager, path)| json!({"type": "FieldManagerConflict", "message": format!("conflict with \"{manager}\""), "field": ssa::describe(path)}))
        .collect();
    let mut details = details(rt, name);
    details["causes"] = json!(causes);
    ApiError {
        code: 409,
        reason: "Conflict",
        message: format!(
            "Apply failed with {} conflict{}: {}",
            found.len(),
            if found.len() == 1 { "" } else { "s" },
            listed.join(", ")
        ),
        details,
    }
}

/// Stores `object` (a deletion in progress) and returns it as clients see it.
pub(super) fn store_and_present(
    rt: &ResourceType,
    mut txn: super::super::store::Txn<'_>,
    ns: &str,
    name: &str,
    object: Value,
    applied: BTreeMap<String, Value>,
) -> Value {
    let mut stored = txn.put(&rt.storage_key(), ns, name, Entry { object, applied });
    drop(txn);
    present(rt, &mut stored);
    stored
}

pub(super) fn has_finalizers(object: &Value) -> bool {
    object["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty())
}

/// Completes the deletion of a Terminating namespace once nothing is left in it.
pub(super) fn finish_namespace_if_empty(txn: &mut super::super::store::Txn<'_>, ns: &str) {
    let terminating = txn
        .get(NAMESPACE_KEY, "", ns)
        .is_some_and(|e| !e.object["metadata"]["deletionTimestamp"].is_null());
    if terminating && txn.ids_in_namespace(ns).is_empty() {
        txn.delete(NAMESPACE_KEY, "", ns);
    }
}

pub(super) fn conflict(rt: &ResourceType, name: &str) -> ApiError {
    ApiError {
        code: 409,
        reason: "Conflict",
        message: format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
            rt.qualified()
        ),
        details: details(rt, name),
    }
}

pub(super) fn check_kind(rt: &ResourceType, body: &Value) -> Result<(), ApiError> {
    if let Some(kind) = body["kind"].as_str() {
        if kind != rt.kind {
            return Err(ApiError::bad_request(format!(
                "the kind of the object ({kind}) does not match the resource ({})",
                rt.kind
            )));
        }
    }
    Ok(())
}

pub(super) fn scope_namespace(
    rt: &ResourceType,
    path_ns: Option<&str>,
    body: &Value,
) -> Result<String, ApiError> {
    if !rt.namespaced {
        return Ok(String::new());
    }
    let body_ns = body["metadata"]["namespace"]
        .as_str()
        .filter(|n| !n.is_empty());
    match (path_ns, body_ns) {
        (Some(p), Some(b)) if p != b => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        (Some(p), _) => Ok(p.to_owned()),
        (None, _) => Err(unknown_resource()),
    }
}

pub(super) fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    obj["metadata"].as_object_mut().expect("an object")
}

/// Sets apiVersion and kind to the version the object is served as.
pub(super) fn present(rt: &ResourceType, obj: &mut Value) {
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), json!(rt.api_version()));
        m.insert("kind".into(), json!(rt.kind));
    }
}

/// The object without what does not count for `metadata.generation`.
pub(super) fn strip_for_generation(obj: &Value) -> Value {
    let mut c = obj.clone();
    if let Some(m) = c.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
        m.remove("apiVersion");
        m.remove("kind");
    }
    c
}

pub(super) fn set_managed_fields(
    rt: &ResourceType,
    obj: &mut Value,
    applied: &BTreeMap<String, Value>,
) {
    if applied.is_empty() {
        return;
    }
    let now = now_rfc3339();
    let previous = obj["metadata"]["managedFields"].clone();
    let entries: Vec<Value> = applied
        .iter()
        .map(|(manager, config)| {
            let fields = ssa::fields_v1(config);
            let time = previous
                .as_array()
                .and_then(|p| {
                    p.iter()
                        .find(|e| e["manager"] == json!(manager) && e["fieldsV1"] == fields)
                })
                .and_then(|e| e["time"].as_str().map(String::from))
                .unwrap_or_else(|| now.clone());
            json!({"manager": manager, "operation": "Apply", "apiVersion": rt.api_version(),
                   "time": time, "fieldsType": "FieldsV1", "fieldsV1": fields})
        })
        .collect();
    obj["metadata"]["managedFields"] = json!(entries);
}

pub(super) fn prepare_crd(
    rt: &ResourceType,
    obj: &mut Value,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_owned();
    let group = obj["spec"]["group"].as_str().unwrap_or("").to_owned();
    let plural = obj["spec"]["names"]["plural"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let kind = obj["spec"]["names"]["kind"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    if group.is_empty() || plural.is_empty() || kind.is_empty() {
        return Err(invalid(
            rt,
            &name,
            "spec.group, spec.names.plural and spec.names.kind are required",
        ));
    }
    if name != format!("{plural}.{group}") {
        return Err(invalid(
            rt,
            &name,
            &format!("metadata.name: Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    let versions = obj["spec"]["versions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let storage: Vec<String> = versions
        .iter()
        .filter(|v| v["storage"] == true)
        .filter_map(|v| v["name"].as_str().map(String::from))
        .collect();
    if versions.is_empty() || storage.len() != 1 {
        return Err(invalid(
            rt,
            &name,
            "spec.versions: Invalid value: must have exactly one version marked as storage version",
        ));
    }
    let names = &mut obj["spec"]["names"];
    if names["singular"].is_null() {
        names["singular"] = json!(kind.to_lowercase());
    }
    if names["listKind"].is_null() {
        names["listKind"] = json!(format!("{kind}List"));
    }
    if obj["spec"]["scope"].is_null() {
        obj["spec"]["scope"] = json!("Namespaced");
    }
    let mut stored: Vec<String> = old
        .and_then(|o| o["status"]["storedVersions"].as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if !stored.contains(&storage[0]) {
        stored.push(storage[0].clone());
    }
    let since = old
        .and_then(|o| o["status"]["conditions"][0]["lastTransitionTime"].as_str())
        .map(String::from)
        .unwrap_or_else(now_rfc3339);
    obj["status"] = json!({
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": since},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": since},
        ],
        "acceptedNames": obj["spec"]["names"].clone(),
        "storedVersions": stored,
    });
    Ok(())
}

pub(super) fn scale_of(obj: &Value) -> Value {
    let meta = &obj["metadata"];
    let selector = obj["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
                     "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"]},
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector},
    })
}
