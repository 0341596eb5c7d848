//! Label selectors (`a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x,y)`) and
//! field selectors (`metadata.name=x`, `spec.nodeName!=y`, any dotted path) for list and
//! watch requests, and the `LabelSelector` objects (`matchLabels`, `matchExpressions`) that
//! objects such as PodDisruptionBudgets hold.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// A parsed label or field selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selector {
    requirements: Vec<Requirement>,
    fields: bool,
}

impl Selector {
    /// Parses a label selector.
    pub fn labels(text: &str) -> Result<Selector, String> {
        Self::parse(text, false)
    }

    /// Parses a field selector (only `=`, `==` and `!=`).
    pub fn fields(text: &str) -> Result<Selector, String> {
        Self::parse(text, true)
    }

    fn parse(text: &str, fields: bool) -> Result<Selector, String> {
        let mut requirements = Vec::new();
        for term in split_terms(text) {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            let requirement = if let Some((k, v)) = term.split_once("!=") {
                Requirement::NotEquals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = term.split_once("==") {
                Requirement::Equals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = term.split_once('=') {
                Requirement::Equals(k.trim().into(), v.trim().into())
            } else if fields {
                return Err(format!("invalid field selector term {term:?}"));
            } else if let Some(k) = term.strip_prefix('!') {
                Requirement::NotExists(k.trim().into())
            } else if let Some((k, set)) = term.split_once(" notin ") {
                Requirement::NotIn(k.trim().into(), parse_set(set)?)
            } else if let Some((k, set)) = term.split_once(" in ") {
                Requirement::In(k.trim().into(), parse_set(set)?)
            } else if term.contains(' ') || term.contains('(') {
                return Err(format!("invalid label selector term {term:?}"));
            } else {
                Requirement::Exists(term.into())
            };
            requirements.push(requirement);
        }
        Ok(Selector {
            requirements,
            fields,
        })
    }

    /// A `LabelSelector` object: every `matchLabels` entry and every `matchExpressions`
    /// requirement (`In`, `NotIn`, `Exists`, `DoesNotExist`) must hold; `{}` matches
    /// everything.
    pub fn from_object(selector: &Value) -> Result<Selector, String> {
        let mut requirements = Vec::new();
        if let Some(labels) = selector.get("matchLabels").filter(|v| !v.is_null()) {
            let labels = labels
                .as_object()
                .ok_or_else(|| "matchLabels is not a map".to_owned())?;
            for (k, v) in labels {
                let v = v
                    .as_str()
                    .ok_or_else(|| format!("matchLabels.{k} is not a string"))?;
                requirements.push(Requirement::Equals(k.clone(), v.to_owned()));
            }
        }
        for e in selector["matchExpressions"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let key = e["key"]
                .as_str()
                .ok_or_else(|| "a matchExpression without a key".to_owned())?
                .to_owned();
            let values: Vec<String> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            requirements.push(match e["operator"].as_str() {
                Some("In") => Requirement::In(key, values),
                Some("NotIn") => Requirement::NotIn(key, values),
                Some("Exists") => Requirement::Exists(key),
                Some("DoesNotExist") => Requirement::NotExists(key),
                other => return Err(format!("{other:?} is not a valid selector operator")),
            });
        }
        Ok(Selector {
            requirements,
            fields: false,
        })
    }

    /// Whether `object` matches.
    pub fn matches(&self, object: &Value) -> bool {
        self.requirements.iter().all(|r| {
            let get = |key: &str| -> Option<String> {
                if self.fields {
                    field_value(object, key)
                } else {
                    object["metadata"]["labels"][key].as_str().map(String::from)
                }
            };
            match r {
                Requirement::Equals(k, v) => get(k).as_deref() == Some(v.as_str()),
                Requirement::NotEquals(k, v) => get(k).as_deref() != Some(v.as_str()),
                Requirement::Exists(k) => get(k).is_some(),
                Requirement::NotExists(k) => get(k).is_none(),
                Requirement::In(k, set) => get(k).is_some_and(|v| set.contains(&v)),
                Requirement::NotIn(k, set) => !get(k).is_some_and(|v| set.contains(&v)),
            }
        })
    }
}

/// A field's value as the API server compares it: strings as is, other scalars printed,
/// a missing field as the empty string.
fn field_value(object: &Value, path: &str) -> Option<String> {
    let mut cur = object;
    for part in path.split('.') {
        cur = &cur[part];
    }
    Some(match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    })
}

/// Splits on commas outside parentheses.
fn split_terms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

fn parse_set(set: &str) -> Result<Vec<String>, String> {
    let inner = set
        .trim()
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| format!("invalid set {set:?}"))?;
    Ok(inner
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors_match_like_kubernetes() {
        let obj = json!({"metadata": {"labels": {"app": "web", "tier": "front"}}});
        for (sel, want) in [
            ("", true),
            ("app=web", true),
            ("app==web,tier=front", true),
            ("app!=web", false),
            ("tier", true),
            ("!tier", false),
            ("app in (web, db)", true),
            ("app notin (web)", false),
            ("missing notin (x)", true),
        ] {
            assert_eq!(Selector::labels(sel).unwrap().matches(&obj), want, "{sel}");
        }
    }

    #[test]
    fn label_selector_objects_match_like_kubernetes() {
        let obj = json!({"metadata": {"labels": {"app": "web", "tier": "front"}}});
        for (sel, want) in [
            (json!({}), true),
            (json!({"matchLabels": {"app": "web"}}), true),
            (json!({"matchLabels": {"app": "db"}}), false),
            (
                json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front", "back"]}]}),
                true,
            ),
            (
                json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["front"]}]}),
                false,
            ),
            (
                json!({"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}),
                true,
            ),
            (
                json!({"matchExpressions": [{"key": "zone", "operator": "Exists"}]}),
                false,
            ),
        ] {
            assert_eq!(
                Selector::from_object(&sel).unwrap().matches(&obj),
                want,
                "{sel}"
            );
        }
        assert!(Selector::from_object(
            &json!({"matchExpressions": [{"key": "a", "operator": "Near"}]})
        )
        .is_err());
    }

    #[test]
    fn field_selectors_read_dotted_paths() {
        let pod = json!({"metadata": {"name": "p", "namespace": "default"}, "spec": {"nodeName": "node-2"}});
        assert!(Selector::fields("spec.nodeName=node-2")
            .unwrap()
            .matches(&pod));
        assert!(
            Selector::fields("metadata.name=p,metadata.namespace!=kube-system")
                .unwrap()
                .matches(&pod)
        );
        assert!(!Selector::fields("spec.nodeName=node-1")
            .unwrap()
            .matches(&pod));
        assert!(Selector::fields("app").is_err());
    }
}
