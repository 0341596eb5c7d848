//! Server-side apply as the stand-in serves it, written from the Kubernetes documentation's
//! contract (not from any client's code): each field manager's last applied configuration is
//! kept; an apply merges the configuration over the live object, maps key by key and lists of
//! named objects item by item (`name` is the key, as `containers`, `env`, `volumes` and the
//! like declare it; other lists are atomic and replaced whole); fields the manager applied
//! before and no longer applies are removed unless another manager still applies them; and a
//! field another manager applies with a different value is a conflict (409) unless the apply
//! forces, which takes the field over. Update operations (PUT, the patch types) are not
//! tracked as managers: they change values, and appliers keep their records.

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// One step of a field path: a map key, or a list item by its `name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// `f:<key>`.
    Field(String),
    /// `k:{"name":…}`.
    Item(String),
}

/// Whether a list is a map keyed by `name` (every item an object with a string `name`).
fn keyed(items: &[Value]) -> bool {
    !items.is_empty()
        && items
            .iter()
            .all(|i| i["name"].as_str().is_some_and(|n| !n.is_empty()))
}

fn item_named<'a>(items: &'a [Value], name: &str) -> Option<&'a Value> {
    items.iter().find(|i| i["name"] == name)
}

/// Every leaf field `config` sets, with its value (objects recurse, keyed lists recurse by
/// item, everything else is a leaf). `apiVersion` and `kind` are not fields.
pub fn leaves(config: &Value) -> Vec<(Vec<Step>, Value)> {
    let mut out = Vec::new();
    walk(config, &mut Vec::new(), &mut out, true);
    out
}

fn walk(v: &Value, at: &mut Vec<Step>, out: &mut Vec<(Vec<Step>, Value)>, top: bool) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, inner) in m {
                if top && (k == "apiVersion" || k == "kind") {
                    continue;
                }
                at.push(Step::Field(k.clone()));
                walk(inner, at, out, false);
                at.pop();
            }
        }
        Value::Array(items) if keyed(items) => {
            for item in items {
                at.push(Step::Item(
                    item["name"].as_str().unwrap_or_default().to_owned(),
                ));
                walk(item, at, out, false);
                at.pop();
            }
        }
        leaf => out.push((at.clone(), leaf.clone())),
    }
}

/// The value at `path` in `config`, if it sets it.
pub fn value_at<'a>(config: &'a Value, path: &[Step]) -> Option<&'a Value> {
    let mut v = config;
    for step in path {
        v = match step {
            Step::Field(k) => v.get(k)?,
            Step::Item(name) => item_named(v.as_array()?, name)?,
        };
    }
    Some(v)
}

/// `.data.key`, `.spec.template.spec.containers[name="a"].image`: as the API names fields in
/// conflict messages.
pub fn describe(path: &[Step]) -> String {
    path.iter()
        .map(|s| match s {
            Step::Field(k) => format!(".{k}"),
            Step::Item(n) => format!("[name=\"{n}\"]"),
        })
        .collect()
}

/// The fields `config` (applied by `manager`) would take from other managers' applied
/// configurations in `records` because they set them to other values: `(manager, field)`.
pub fn conflicts(
    manager: &str,
    config: &Value,
    records: &BTreeMap<String, Value>,
) -> Vec<(String, Vec<Step>)> {
    let mine = leaves(config);
    let mut found = Vec::new();
    for (other, theirs) in records {
        if other == manager {
            continue;
        }
        for (path, value) in &mine {
            if value_at(theirs, path).is_some_and(|v| v != value) {
                found.push((other.clone(), path.clone()));
            }
        }
    }
    found
}

/// Takes `path` out of an applied configuration (the field is another manager's now).
pub fn release(config: &mut Value, path: &[Step]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut v = config;
    for step in parents {
        v = match step {
            Step::Field(k) => match v.get_mut(k) {
                Some(inner) => inner,
                None => return,
            },
            Step::Item(name) => match v
                .as_array_mut()
                .and_then(|a| a.iter_mut().find(|i| i["name"] == *name))
            {
                Some(inner) => inner,
                None => return,
            },
        };
    }
    match last {
        Step::Field(k) => {
            if let Some(m) = v.as_object_mut() {
                m.remove(k);
            }
        }
        Step::Item(name) => {
            if let Some(a) = v.as_array_mut() {
                a.retain(|i| i["name"] != *name);
            }
        }
    }
}

/// Applies `config` for a manager whose previous configuration was `previous`, over `live`:
/// fields it stopped applying are removed unless one of `others` (the other managers'
/// configurations) applies them, then `config` is merged in.
pub fn apply(live: &mut Value, previous: Option<&Value>, config: &Value, others: &[&Value]) {
    if let Some(previous) = previous {
        drop_unapplied(live, previous, config, others);
    }
    overlay(live, config);
}

fn drop_unapplied(live: &mut Value, previous: &Value, config: &Value, others: &[&Value]) {
    match (live, previous) {
        (Value::Object(live), Value::Object(previous)) => {
            for (key, prev) in previous {
                let kept: Vec<&Value> = others.iter().filter_map(|o| o.get(key)).collect();
                match config.get(key) {
                    None if kept.is_empty() => {
                        live.remove(key);
                    }
                    None => {}
                    Some(now) => {
                        if let Some(l) = live.get_mut(key) {
                            drop_unapplied(l, prev, now, &kept);
                        }
                    }
                }
            }
        }
        (Value::Array(live), Value::Array(previous)) if keyed(previous) => {
            let now = config.as_array().map(Vec::as_slice).unwrap_or_default();
            for prev in previous {
                let name = prev["name"].as_str().unwrap_or_default();
                let kept: Vec<&Value> = others
                    .iter()
                    .filter_map(|o| o.as_array().and_then(|a| item_named(a, name)))
                    .collect();
                match item_named(now, name) {
                    None if kept.is_empty() => live.retain(|i| i["name"] != name),
                    None => {}
                    Some(now_item) => {
                        if let Some(l) = live.iter_mut().find(|i| i["name"] == name) {
                            drop_unapplied(l, prev, now_item, &kept);
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

fn overlay(live: &mut Value, config: &Value) {
    match (live, config) {
        (Value::Object(l), Value::Object(c)) => {
            for (k, v) in c {
                match l.get_mut(k) {
                    Some(existing)
                        if (existing.is_object() && v.is_object())
                            || (existing.is_array() && v.is_array()) =>
                    {
                        overlay(existing, v)
                    }
                    _ => {
                        l.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(l), Value::Array(c)) if keyed(c) && (l.is_empty() || keyed(l)) => {
            for item in c {
                let name = item["name"].as_str().unwrap_or_default();
                match l.iter_mut().find(|i| i["name"] == name) {
                    Some(existing) => overlay(existing, item),
                    None => l.push(item.clone()),
                }
            }
        }
        (live, config) => *live = config.clone(),
    }
}

/// The `fieldsV1` set of an applied configuration, as managedFields shows it.
pub fn fields_v1(config: &Value) -> Value {
    fn set(v: &Value, top: bool) -> Value {
        match v {
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, inner) in m {
                    if top && (k == "apiVersion" || k == "kind") {
                        continue;
                    }
                    out.insert(format!("f:{k}"), set(inner, false));
                }
                Value::Object(out)
            }
            Value::Array(items) if keyed(items) => {
                let mut out = Map::new();
                for item in items {
                    let key = format!("k:{}", json!({"name": item["name"]}));
                    let mut inner = set(item, false);
                    inner["."] = json!({});
                    out.insert(key, inner);
                }
                Value::Object(out)
            }
            _ => Value::Object(Map::new()),
        }
    }
    set(config, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_drops_fields_the_manager_stopped_applying_unless_another_applies_them() {
        let first = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "data": {"k": "v"}});
        let mut live = json!({"metadata": {"labels": {"other": "x"}}});
        apply(&mut live, None, &first, &[]);
        assert_eq!(
            live["metadata"]["labels"],
            json!({"a": "1", "b": "2", "other": "x"})
        );
        let second = json!({"metadata": {"labels": {"a": "1"}}});
        let co_owner = json!({"data": {"k": "v"}});
        apply(&mut live, Some(&first), &second, &[&co_owner]);
        assert_eq!(
            live,
            json!({"metadata": {"labels": {"a": "1", "other": "x"}}, "data": {"k": "v"}})
        );
    }

    #[test]
    fn named_lists_merge_item_by_item_and_others_are_atomic() {
        let mine =
            json!({"spec": {"containers": [{"name": "app", "image": "a:1"}], "args": ["x"]}});
        let sidecar = json!({"spec": {"containers": [{"name": "proxy", "image": "p:1"}]}});
        let mut live = json!({});
        apply(&mut live, None, &mine, &[]);
        apply(&mut live, None, &sidecar, &[&mine]);
        assert_eq!(
            live["spec"]["containers"],
            json!([{"name": "app", "image": "a:1"}, {"name": "proxy", "image": "p:1"}])
        );
        let mine_again =
            json!({"spec": {"containers": [{"name": "app", "image": "a:2"}], "args": ["y"]}});
        apply(&mut live, Some(&mine), &mine_again, &[&sidecar]);
        assert_eq!(
            live["spec"]["containers"],
            json!([{"name": "app", "image": "a:2"}, {"name": "proxy", "image": "p:1"}])
        );
        assert_eq!(live["spec"]["args"], json!(["y"]));
        let fields = fields_v1(&sidecar);
        assert!(
            fields["f:spec"]["f:containers"]["k:{\"name\":\"proxy\"}"]["f:image"].is_object(),
            "{fields}"
        );
    }

    #[test]
    fn a_field_another_manager_sets_otherwise_is_a_conflict_until_released() {
        let records = BTreeMap::from([
            ("alpha".to_owned(), json!({"data": {"a": "1", "b": "2"}})),
            ("beta".to_owned(), json!({"data": {"c": "3"}})),
        ]);
        let config = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "9", "b": "2"}});
        let found = conflicts("beta", &config, &records);
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].0.as_str(), describe(&found[0].1).as_str()),
            ("alpha", ".data.a")
        );
        let mut alpha = records["alpha"].clone();
        release(&mut alpha, &found[0].1);
        assert_eq!(alpha, json!({"data": {"b": "2"}}));
        let items = json!({"spec": {"containers": [{"name": "app", "image": "a:1"}]}});
        let mine = json!({"spec": {"containers": [{"name": "app", "image": "a:2"}]}});
        let found = conflicts("me", &mine, &BTreeMap::from([("them".to_owned(), items)]));
        assert_eq!(
            describe(&found[0].1),
            ".spec.containers[name=\"app\"].image"
        );
    }
}
