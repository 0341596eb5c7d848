//! The protocol's plan and apply rules, applied for every resource so resource code does not
//! have to: computed attributes become unknown (or their default) when they will change,
//! write-only attributes are planned null, requires-replace paths are found, a plan a resource
//! customised is checked against the configuration, and what apply returns is checked against
//! the plan before Terraform sees it.

use super::cty::{AttributePath, Value};
use super::schema::{Block, Mode, Nesting};
use std::collections::BTreeMap;

/// Fills in the computed parts of a proposed new state. `prior` is null on create. On update,
/// `changed` says whether the proposed state differs from the prior one; unchanged resources
/// keep their prior values exactly.
pub fn mark_computed(
    block: &Block,
    prior: &Value,
    proposed: &Value,
    config: &Value,
    changed: bool,
) -> Value {
    let Value::Object(proposed_attrs) = proposed else {
        return proposed.clone();
    };
    let empty = BTreeMap::new();
    let config_attrs = match config {
        Value::Object(m) => m,
        _ => &empty,
    };
    let prior_attrs = match prior {
        Value::Object(m) => Some(m),
        _ => None,
    };
    let mut planned = proposed_attrs.clone();
    for attribute in &block.attributes {
        let slot = planned.entry(attribute.name.clone()).or_insert(Value::Null);
        if attribute.write_only {
            *slot = Value::Null;
            continue;
        }
        let configured = config_attrs
            .get(&attribute.name)
            .is_some_and(|v| !v.is_null());
        if configured || !attribute.is_computed() {
            continue;
        }
        match (prior_attrs, &attribute.default) {
            (_, Some(default)) => *slot = default.clone(),
            (None, None) => *slot = Value::unknown(),
            (Some(_), None) if changed && !attribute.stable => *slot = Value::unknown(),
            (Some(_), None) => {}
        }
    }
    for nested in &block.blocks {
        let Some(value) = planned.get(&nested.name).cloned() else {
            continue;
        };
        let prior_nested = prior_attrs
            .and_then(|m| m.get(&nested.name))
            .cloned()
            .unwrap_or(Value::Null);
        let config_nested = config_attrs
            .get(&nested.name)
            .cloned()
            .unwrap_or(Value::Null);
        let marked = match (nested.nesting, value) {
            (Nesting::Single | Nesting::Group, v @ Value::Object(_)) => {
                mark_computed(&nested.block, &prior_nested, &v, &config_nested, changed)
            }
            (Nesting::List, Value::List(items)) => Value::List(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let p = element(&prior_nested, i);
                        let c = element(&config_nested, i);
                        mark_computed(&nested.block, &p, item, &c, changed)
                    })
                    .collect(),
            ),
            (_, other) => other,
        };
        planned.insert(nested.name.clone(), marked);
    }
    Value::Object(planned)
}

/// A configuration with the schema's defaults in place of nulls, all the way down (nested
/// blocks included): what validation reads, so a model field with a default always has a
/// value.
pub fn with_defaults(block: &Block, config: &Value) -> Value {
    let Value::Object(attributes) = config else {
        return config.clone();
    };
    let mut out = attributes.clone();
    for attribute in &block.attributes {
        if let Some(default) = &attribute.default {
            let slot = out.entry(attribute.name.clone()).or_insert(Value::Null);
            if slot.is_null() {
                *slot = default.clone();
            }
        }
    }
    for nested in &block.blocks {
        if let Some(value) = out.get_mut(&nested.name) {
            *value = match &*value {
                Value::Object(_) => with_defaults(&nested.block, value),
                Value::List(items) => Value::List(
                    items
                        .iter()
                        .map(|i| with_defaults(&nested.block, i))
                        .collect(),
                ),
                Value::Set(items) => Value::Set(
                    items
                        .iter()
                        .map(|i| with_defaults(&nested.block, i))
                        .collect(),
                ),
                other => other.clone(),
            };
        }
    }
    Value::Object(out)
}

/// A stored state brought up to the schema's defaults: a null where an attribute has a default
/// becomes the default, and a null group block becomes its unset value (its defaults), all the
/// way down. What a newer schema declares is thus filled into state written before it.
pub fn upgrade_defaults(block: &Block, state: &Value) -> Value {
    let Value::Object(_) = state else {
        return state.clone();
    };
    let mut upgraded = with_defaults(block, state);
    if let Value::Object(attributes) = &mut upgraded {
        for nested in &block.blocks {
            let slot = attributes.entry(nested.name.clone()).or_insert(Value::Null);
            *slot = match (nested.nesting, &*slot) {
                (Nesting::Group, Value::Null) => nested.block.unset_value(),
                (_, Value::Object(_)) => upgrade_defaults(&nested.block, slot),
                (_, Value::List(items)) => Value::List(
                    items
                        .iter()
                        .map(|i| upgrade_defaults(&nested.block, i))
                        .collect(),
                ),
                (_, other) => other.clone(),
            };
        }
    }
    upgraded
}

fn element(list: &Value, index: usize) -> Value {
    match list {
        Value::List(items) => items.get(index).cloned().unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

/// The top-level attribute and block paths whose change replaces the resource.
pub fn requires_replace(block: &Block, prior: &Value, planned: &Value) -> Vec<AttributePath> {
    if prior.is_null() || planned.is_null() {
        return Vec::new();
    }
    let differs = |name: &str| {
        let before = prior.attr(name).unwrap_or(&Value::Null);
        let after = planned.attr(name).unwrap_or(&Value::Null);
        !after.is_wholly_known() || before != after
    };
    let attributes = block
        .attributes
        .iter()
        .filter(|a| a.requires_replace)
        .map(|a| a.name.as_str());
    let blocks = block
        .blocks
        .iter()
        .filter(|b| b.requires_replace)
        .map(|b| b.name.as_str());
    attributes
        .chain(blocks)
        .filter(|name| differs(name))
        .map(AttributePath::attribute)
        .collect()
}

/// Checks a plan against the configuration the way Terraform will: an attribute the provider
/// does not compute must be planned as configured (or keep its prior value when both are set),
/// and write-only attributes must be null. Returns each violation with its path.
pub fn check_plan(
    block: &Block,
    prior: &Value,
    config: &Value,
    planned: &Value,
    path: &AttributePath,
) -> Vec<(AttributePath, String)> {
    let mut problems = Vec::new();
    if config.is_null() || planned.is_null() {
        if config.is_null() != planned.is_null() {
            problems.push((
                path.clone(),
                "planned object must be null exactly when configuration is".into(),
            ));
        }
        return problems;
    }
    for attribute in &block.attributes {
        let at = path.attr(&attribute.name);
        let c = config.attr(&attribute.name).unwrap_or(&Value::Null);
        let p = planned.attr(&attribute.name).unwrap_or(&Value::Null);
        let before = prior.attr(&attribute.name).unwrap_or(&Value::Null);
        if attribute.write_only {
            if !p.is_null() {
                problems.push((at, "write-only attribute must be planned null".into()));
            }
            continue;
        }
        let must_match_config = match attribute.mode {
            Mode::Required | Mode::Optional => true,
            Mode::OptionalComputed => !c.is_null(),
            Mode::Computed => false,
        };
        let equivalent_prior = !before.is_null() && !c.is_null() && p == before;
        if must_match_config && p != c && !equivalent_prior {
            problems.push((
                at,
                format!("planned {} but configuration says {}", short(p), short(c)),
            ));
        }
    }
    problems
}

/// Checks the state apply produced against the plan: every value the plan knew must come back
/// unchanged, nothing may stay unknown, and write-only attributes must be null.
pub fn check_applied(
    block: &Block,
    planned: &Value,
    applied: &Value,
    path: &AttributePath,
) -> Vec<(AttributePath, String)> {
    let mut problems = Vec::new();
    compare(planned, applied, path, &mut problems);
    for attribute in block.attributes.iter().filter(|a| a.write_only) {
        if applied.attr(&attribute.name).is_some_and(|v| !v.is_null()) {
            problems.push((
                path.attr(&attribute.name),
                "write-only attribute must not be stored".into(),
            ));
        }
    }
    problems
}

fn compare(
    planned: &Value,
    applied: &Value,
    path: &AttributePath,
    problems: &mut Vec<(AttributePath, String)>,
) {
    match (planned, applied) {
        (Value::Unknown(_), a) if a.is_wholly_known() => {}
        (Value::Object(p), Value::Object(a)) => {
            for (name, pv) in p {
                compare(
                    pv,
                    a.get(name).unwrap_or(&Value::Null),
                    &path.attr(name),
                    problems,
                );
            }
        }
        (Value::List(p), Value::List(a)) if p.len() == a.len() => {
            for (i, (pv, av)) in p.iter().zip(a).enumerate() {
                compare(pv, av, &path.index(i as i64), problems);
            }
        }
        (Value::Map(p), Value::Map(a)) if p.len() == a.len() && p.keys().eq(a.keys()) => {
            for (key, pv) in p {
                compare(pv, &a[key], &path.key(key), problems);
            }
        }
        (p, a) if p.is_wholly_known() && p == a => {}
        (_, a) if !a.is_wholly_known() => {
            problems.push((path.clone(), "value is still unknown after apply".into()))
        }
        (p, a) if p.is_wholly_known() => problems.push((
            path.clone(),
            format!("planned {} but apply produced {}", short(p), short(a)),
        )),
        // A partly known collection may change shape: its unknown parts allowed that.
        _ => {}
    }
}

fn short(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Unknown(_) => "(known after apply)".into(),
        Value::String(s) if s.len() <= 40 => format!("{s:?}"),
        Value::String(_) => "a different string".into(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => "a different value".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cty::Type;
    use crate::schema::{Attribute, Block};

    fn block() -> Block {
        Block::new("test")
            .attribute(Attribute::computed("id", Type::String).stable())
            .attribute(Attribute::required("name", Type::String).requires_replace())
            .attribute(Attribute::optional("note", Type::String))
            .attribute(Attribute::optional("port", Type::Number).default(Value::int(22)))
            .attribute(Attribute::computed("observed", Type::String))
            .attribute(Attribute::optional("secret", Type::String).write_only())
    }

    fn obj(pairs: &[(&str, Value)]) -> Value {
        let mut m: BTreeMap<String, Value> = ["id", "name", "note", "port", "observed", "secret"]
            .iter()
            .map(|n| (n.to_string(), Value::Null))
            .collect();
        for (k, v) in pairs {
            m.insert(k.to_string(), v.clone());
        }
        Value::Object(m)
    }

    #[test]
    fn create_marks_computed_unknown_applies_defaults_and_nulls_write_only() {
        let config = obj(&[("name", Value::string("a")), ("secret", Value::string("s"))]);
        let planned = mark_computed(&block(), &Value::Null, &config, &config, true);
        assert_eq!(planned.attr("id"), Some(&Value::unknown()));
        assert_eq!(planned.attr("observed"), Some(&Value::unknown()));
        assert_eq!(planned.attr("port"), Some(&Value::int(22)));
        assert_eq!(planned.attr("secret"), Some(&Value::Null));
        assert_eq!(planned.attr("name"), Some(&Value::string("a")));
        assert!(check_plan(
            &block(),
            &Value::Null,
            &config,
            &planned,
            &AttributePath::root()
        )
        .is_empty());
    }

    #[test]
    fn update_keeps_stable_values_and_unknowns_the_rest_only_when_changed() {
        let prior = obj(&[
            ("id", Value::string("x")),
            ("name", Value::string("a")),
            ("port", Value::int(22)),
            ("observed", Value::string("o")),
        ]);
        let config = obj(&[("name", Value::string("a")), ("note", Value::string("n"))]);
        let proposed = obj(&[
            ("id", Value::string("x")),
            ("name", Value::string("a")),
            ("note", Value::string("n")),
            ("port", Value::int(22)),
            ("observed", Value::string("o")),
        ]);
        let planned = mark_computed(&block(), &prior, &proposed, &config, true);
        assert_eq!(planned.attr("id"), Some(&Value::string("x")));
        assert_eq!(planned.attr("observed"), Some(&Value::unknown()));
        let unchanged = mark_computed(
            &block(),
            &prior,
            &prior,
            &obj(&[("name", Value::string("a"))]),
            false,
        );
        assert_eq!(unchanged, prior);
        assert!(requires_replace(&block(), &prior, &planned).is_empty());
        let renamed = obj(&[("id", Value::string("x")), ("name", Value::string("b"))]);
        assert_eq!(
            requires_replace(&block(), &prior, &renamed),
            vec![AttributePath::attribute("name")]
        );
    }

    #[test]
    fn apply_results_that_break_the_plan_are_caught_with_their_path() {
        let planned = obj(&[
            ("id", Value::unknown()),
            ("name", Value::string("a")),
            ("port", Value::int(22)),
        ]);
        let good = obj(&[
            ("id", Value::string("x")),
            ("name", Value::string("a")),
            ("port", Value::int(22)),
        ]);
        assert!(check_applied(&block(), &planned, &good, &AttributePath::root()).is_empty());
        let bad = obj(&[
            ("id", Value::unknown()),
            ("name", Value::string("b")),
            ("port", Value::int(22)),
        ]);
        let problems: Vec<String> = check_applied(&block(), &planned, &bad, &AttributePath::root())
            .into_iter()
            .map(|(p, _)| p.to_string())
            .collect();
        assert_eq!(problems, vec!["id".to_string(), "name".to_string()]);
    }

    #[test]
    fn state_from_before_a_default_or_a_group_block_gets_them() {
        let block = block().block(crate::timeouts::block("15m", "15m", "10m"));
        let old = obj(&[("name", Value::string("a")), ("timeouts", Value::Null)]);
        let upgraded = upgrade_defaults(&block, &old);
        assert_eq!(upgraded.attr("port"), Some(&Value::int(22)));
        let timeouts = upgraded.attr("timeouts").unwrap();
        assert_eq!(timeouts.attr("delete"), Some(&Value::string("10m")));
        let partly = obj(&[(
            "timeouts",
            Value::object([
                ("create", Value::string("30m")),
                ("update", Value::Null),
                ("delete", Value::Null),
            ]),
        )]);
        let upgraded = upgrade_defaults(&block, &partly);
        let timeouts = upgraded.attr("timeouts").unwrap();
        assert_eq!(timeouts.attr("create"), Some(&Value::string("30m")));
        assert_eq!(timeouts.attr("update"), Some(&Value::string("15m")));
    }

    #[test]
    fn a_plan_that_ignores_configuration_is_caught() {
        let config = obj(&[("name", Value::string("a"))]);
        let planned = obj(&[("name", Value::string("other")), ("id", Value::unknown())]);
        let problems = check_plan(
            &block(),
            &Value::Null,
            &config,
            &planned,
            &AttributePath::root(),
        );
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0.to_string(), "name");
    }
}
