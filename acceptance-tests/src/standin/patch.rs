//! The patch formats the stand-in API server accepts: JSON merge patch (RFC 7386), strategic
//! merge patch (merge patch plus merging of object lists by a well-known key and the `$patch`
//! and `$setElementOrder` directives stripped) and JSON patch (RFC 6902). Server-side apply is
//! [`super::ssa`]'s.

use serde_json::{Map, Value};

/// RFC 7386: objects merge recursively, `null` deletes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let target = target.as_object_mut().expect("an object");
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// The keys object lists are merged by in a strategic merge patch, in order of preference.
const MERGE_KEYS: &[&str] = &[
    "name",
    "type",
    "containerPort",
    "port",
    "mountPath",
    "uid",
    "ip",
];

/// A strategic merge patch, approximated: like a merge patch, but lists whose items are all
/// objects carrying the same well-known key (`name`, `type`, …) in both the patch and the
/// target merge item by item; `$patch: delete` items are removed; `$`-directives are dropped.
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if patch.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replacement = Value::Object(patch.clone());
        strip_directives(&mut replacement);
        *target = replacement;
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let target = target.as_object_mut().expect("an object");
    for (key, value) in patch {
        if key.starts_with('$') {
            continue;
        }
        if value.is_null() {
            target.remove(key);
            continue;
        }
        match (target.get_mut(key), value) {
            (Some(Value::Array(live)), Value::Array(items)) => {
                if let Some(merge_key) = list_merge_key(live, items) {
                    merge_list(live, items, merge_key);
                } else {
                    let mut replacement = value.clone();
                    strip_directives(&mut replacement);
                    *live = replacement.as_array().cloned().unwrap_or_default();
                }
            }
            (Some(existing), Value::Object(_)) if existing.is_object() => {
                strategic_merge_patch(existing, value);
            }
            _ => {
                let mut replacement = value.clone();
                strip_directives(&mut replacement);
                target.insert(key.clone(), replacement);
            }
        }
    }
}

fn list_merge_key(live: &[Value], items: &[Value]) -> Option<&'static str> {
    if items.is_empty() || !items.iter().chain(live).all(Value::is_object) {
        return None;
    }
    MERGE_KEYS.iter().copied().find(|k| {
        items.iter().chain(live).all(|i| {
            i.get(*k).is_some() || i.get("$patch").and_then(Value::as_str) == Some("delete")
        }) && items.iter().any(|i| i.get(*k).is_some())
    })
}

fn merge_list(live: &mut Vec<Value>, items: &[Value], key: &str) {
    for item in items {
        let Some(id) = item.get(key) else { continue };
        let position = live.iter().position(|l| l.get(key) == Some(id));
        if item.get("$patch").and_then(Value::as_str) == Some("delete") {
            if let Some(p) = position {
                live.remove(p);
            }
            continue;
        }
        match position {
            Some(p) => strategic_merge_patch(&mut live[p], item),
            None => {
                let mut added = item.clone();
                strip_directives(&mut added);
                live.push(added);
            }
        }
    }
}

fn strip_directives(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with('$'));
            m.values_mut().for_each(strip_directives);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

/// Why a JSON patch failed.
#[derive(Debug)]
pub struct PatchError(pub String);

impl std::fmt::Display for PatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn pointer_parts(path: &str) -> Result<Vec<String>, PatchError> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(PatchError(format!("invalid JSON pointer {path:?}")));
    };
    Ok(rest
        .split('/')
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn parent_mut<'a>(
    doc: &'a mut Value,
    parts: &[String],
) -> Result<(&'a mut Value, String), PatchError> {
    let (last, parents) = parts
        .split_last()
        .ok_or_else(|| PatchError("the whole document cannot be the target".into()))?;
    let mut cur = doc;
    for p in parents {
        cur = match cur {
            Value::Object(m) => m.get_mut(p),
            Value::Array(a) => p.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| PatchError(format!("path element {p:?} does not exist")))?;
    }
    Ok((cur, last.clone()))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), PatchError> {
    let parts = pointer_parts(path)?;
    if parts.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, last) = parent_mut(doc, &parts)?;
    match parent {
        Value::Object(m) => {
            m.insert(last, value);
        }
        Value::Array(a) => {
            let index = if last == "-" {
                a.len()
            } else {
                last.parse::<usize>()
                    .ok()
                    .filter(|i| *i <= a.len())
                    .ok_or_else(|| PatchError(format!("invalid array index {last:?}")))?
            };
            a.insert(index, value);
        }
        _ => return Err(PatchError(format!("cannot add at {path:?}"))),
    }
    Ok(())
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, PatchError> {
    let parts = pointer_parts(path)?;
    let (parent, last) = parent_mut(doc, &parts)?;
    match parent {
        Value::Object(m) => m.remove(&last),
        Value::Array(a) => last
            .parse::<usize>()
            .ok()
            .filter(|i| *i < a.len())
            .map(|i| a.remove(i)),
        _ => None,
    }
    .ok_or_else(|| PatchError(format!("path {path:?} does not exist")))
}

/// Applies an RFC 6902 JSON patch (add, remove, replace, move, copy, test).
pub fn json_patch(doc: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let ops = patch
        .as_array()
        .ok_or_else(|| PatchError("a JSON patch must be an array of operations".into()))?;
    for op in ops {
        let path = op["path"]
            .as_str()
            .ok_or_else(|| PatchError("an operation needs a path".into()))?;
        match op["op"].as_str() {
            Some("add") => add(doc, path, op["value"].clone())?,
            Some("remove") => {
                remove(doc, path)?;
            }
            Some("replace") => {
                if doc.pointer(path).is_none() {
                    return Err(PatchError(format!(
                        "replace operation does not apply: doc is missing key: {path}"
                    )));
                }
                *doc.pointer_mut(path).expect("checked") = op["value"].clone();
            }
            Some("move") => {
                let from = op["from"]
                    .as_str()
                    .ok_or_else(|| PatchError("move needs from".into()))?;
                let value = remove(doc, from)?;
                add(doc, path, value)?;
            }
            Some("copy") => {
                let from = op["from"]
                    .as_str()
                    .ok_or_else(|| PatchError("copy needs from".into()))?;
                let value = doc
                    .pointer(from)
                    .cloned()
                    .ok_or_else(|| PatchError(format!("path {from:?} does not exist")))?;
                add(doc, path, value)?;
            }
            Some("test") => {
                if doc.pointer(path) != Some(&op["value"]) {
                    return Err(PatchError(format!("test failed at {path}")));
                }
            }
            other => return Err(PatchError(format!("unsupported operation {other:?}"))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut doc, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}}));
    }

    #[test]
    fn strategic_merge_merges_conditions_by_type() {
        let mut doc = json!({"status": {"conditions": [
            {"type": "Ready", "status": "True"}, {"type": "MemoryPressure", "status": "False"}]}});
        strategic_merge_patch(
            &mut doc,
            &json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}],
                    "$setElementOrder/conditions": [{"type": "Ready"}]}}),
        );
        assert_eq!(doc["status"]["conditions"][0]["status"], "Unknown");
        assert_eq!(doc["status"]["conditions"].as_array().unwrap().len(), 2);
        strategic_merge_patch(&mut doc, &json!({"spec": {"unschedulable": true}}));
        assert_eq!(doc["spec"]["unschedulable"], true);
    }

    #[test]
    fn json_patch_adds_replaces_and_removes() {
        let mut doc = json!({"spec": {"taints": [{"key": "a"}]}, "x": 1});
        json_patch(
            &mut doc,
            &json!([
                {"op": "add", "path": "/spec/taints/-", "value": {"key": "b"}},
                {"op": "replace", "path": "/x", "value": 2},
                {"op": "remove", "path": "/spec/taints/0"},
                {"op": "test", "path": "/x", "value": 2}
            ]),
        )
        .unwrap();
        assert_eq!(doc, json!({"spec": {"taints": [{"key": "b"}]}, "x": 2}));
        assert!(json_patch(
            &mut doc,
            &json!([{"op": "replace", "path": "/nope", "value": 1}])
        )
        .is_err());
    }
}
