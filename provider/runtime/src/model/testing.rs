//! Random values a schema admits, for property tests of models (a provider's
//! `tests/model_round_trip.rs`), and the round trip they must survive. The runtime itself
//! never uses this module.
//!
//! Values follow the schema's rules for a state or a plan: null only where the schema allows
//! it (optional and computed attributes without a default, single blocks that are not
//! required), nested blocks of every nesting, and in the planned form unknowns (plain and
//! refined) anywhere. A string or number attribute with validators takes a value from the
//! caller's samples that passes them, so the values are ones Terraform would send.

use super::shape::FormKind;
use super::{from_value, to_typed_value};
use crate::cty::testing::{arbitrary_refinements, arbitrary_string, Entropy};
use crate::cty::{Number, Type, Value};
use crate::schema::{Attribute, Block, Mode, NestedBlock, Nesting};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;

/// Values to pick from for attributes with validators.
#[derive(Debug, Clone, Copy)]
pub struct Samples<'a> {
    /// Candidate strings.
    pub strings: &'a [&'a str],
    /// Candidate whole numbers.
    pub numbers: &'a [i64],
}

/// A random value of `block` in `form`; an error names an attribute whose validators no
/// sample passes (add one).
pub fn arbitrary_object(
    e: &mut Entropy<'_>,
    block: &Block,
    form: FormKind,
    samples: &Samples<'_>,
) -> Result<Value, String> {
    let mut attributes = BTreeMap::new();
    for attribute in &block.attributes {
        attributes.insert(
            attribute.name.clone(),
            arbitrary_attribute(e, attribute, form, samples)?,
        );
    }
    for nested in &block.blocks {
        attributes.insert(
            nested.name.clone(),
            arbitrary_blocks(e, nested, form, samples)?,
        );
    }
    Ok(Value::Object(attributes))
}

fn unknown_now(e: &mut Entropy<'_>, form: FormKind) -> bool {
    form == FormKind::Planned && e.below(8) == 0
}

fn arbitrary_attribute(
    e: &mut Entropy<'_>,
    attribute: &Attribute,
    form: FormKind,
    samples: &Samples<'_>,
) -> Result<Value, String> {
    if unknown_now(e, form) {
        return Ok(Value::Unknown(arbitrary_refinements(e, &attribute.ty)));
    }
    let nullable = match attribute.mode {
        Mode::Required => false,
        Mode::OptionalComputed => attribute.default.is_none(),
        Mode::Optional | Mode::Computed => true,
    };
    if nullable && e.below(4) == 0 {
        return Ok(Value::Null);
    }
    if attribute.validators.is_empty() {
        return Ok(arbitrary_of_type(e, &attribute.ty, form));
    }
    // A list or set with validators holds samples that pass them one by one.
    let wrap: fn(Vec<Value>) -> Value = match &attribute.ty {
        Type::List(_) => Value::List,
        Type::Set(_) => Value::Set,
        _ => |mut one| one.remove(0),
    };
    let candidates: Vec<Value> = samples
        .strings
        .iter()
        .map(|s| Value::string(*s))
        .chain(samples.numbers.iter().map(|n| Value::int(*n)))
        .filter(|v| {
            attribute
                .validators
                .iter()
                .all(|check| check.validate(&wrap(vec![v.clone()])).is_ok())
        })
        .collect();
    if candidates.is_empty() {
        return Err(format!(
            "no sample passes the validators of {}; add one",
            attribute.name
        ));
    }
    let pick = |e: &mut Entropy<'_>| candidates[e.below(candidates.len())].clone();
    Ok(match &attribute.ty {
        Type::List(_) | Type::Set(_) => {
            let mut picked: Vec<Value> = Vec::new();
            for _ in 0..e.below(3) {
                let v = pick(e);
                if matches!(attribute.ty, Type::List(_)) || !picked.contains(&v) {
                    picked.push(v);
                }
            }
            wrap(picked)
        }
        _ => pick(e),
    })
}

fn arbitrary_blocks(
    e: &mut Entropy<'_>,
    nested: &NestedBlock,
    form: FormKind,
    samples: &Samples<'_>,
) -> Result<Value, String> {
    if unknown_now(e, form) && nested.nesting != Nesting::Group {
        return Ok(Value::unknown());
    }
    let objects = |n: usize, e: &mut Entropy<'_>| -> Result<Vec<Value>, String> {
        (0..n)
            .map(|_| arbitrary_object(e, &nested.block, form, samples))
            .collect()
    };
    Ok(match nested.nesting {
        Nesting::Single if nested.min_items == 0 && e.flip() => Value::Null,
        Nesting::Single | Nesting::Group => arbitrary_object(e, &nested.block, form, samples)?,
        Nesting::List => {
            let n = e.below(3);
            Value::List(objects(n, e)?)
        }
        Nesting::Set => {
            let n = e.below(3);
            Value::Set(objects(n, e)?)
        }
        Nesting::Map => {
            let n = e.below(3);
            Value::Map(
                objects(n, e)?
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (format!("k{i}"), v))
                    .collect(),
            )
        }
    })
}

/// A value of `ty` without nulls in it (collections of a model hold values), unknown parts
/// only in the planned form.
fn arbitrary_of_type(e: &mut Entropy<'_>, ty: &Type, form: FormKind) -> Value {
    if unknown_now(e, form) {
        return Value::Unknown(arbitrary_refinements(e, ty));
    }
    match ty {
        Type::String => Value::String(arbitrary_string(e)),
        Type::Number => Value::Number(Number::from(e.below(256) as i64 - 128)),
        Type::Bool => Value::Bool(e.flip()),
        Type::Dynamic => match e.below(3) {
            0 => Value::Null,
            1 => Value::from_plain_json(&serde_json::Value::String(arbitrary_string(e))),
            _ => {
                let members: serde_json::Map<String, serde_json::Value> = (0..e.below(3))
                    .map(|i| {
                        (
                            format!("k{i}"),
                            serde_json::Value::String(arbitrary_string(e)),
                        )
                    })
                    .collect();
                Value::from_plain_json(&serde_json::Value::Object(members))
            }
        },
        Type::List(t) => Value::List(
            (0..e.below(3))
                .map(|_| arbitrary_of_type(e, t, form))
                .collect(),
        ),
        Type::Set(t) => Value::Set(
            (0..e.below(3))
                .map(|_| arbitrary_of_type(e, t, form))
                .collect(),
        ),
        Type::Map(t) => Value::Map(
            (0..e.below(3))
                .map(|_| (arbitrary_string(e), arbitrary_of_type(e, t, form)))
                .collect(),
        ),
        Type::Object(types) => Value::Object(
            types
                .iter()
                .map(|(name, t)| (name.clone(), arbitrary_of_type(e, t, form)))
                .collect(),
        ),
        Type::Tuple(types) => Value::Tuple(
            types
                .iter()
                .map(|t| arbitrary_of_type(e, t, form))
                .collect(),
        ),
    }
}

/// Reads `value` into model `M` and writes it back as type `ty`: it must come back exactly.
pub fn round_trip<M: DeserializeOwned + Serialize>(value: &Value, ty: &Type) -> Result<(), String> {
    let model: M = from_value(value).map_err(|e| format!("cannot read the value: {e}"))?;
    let back = to_typed_value(&model, ty).map_err(|e| format!("cannot write it back: {e}"))?;
    if &back == value {
        Ok(())
    } else {
        Err(format!(
            "it came back different:\n  sent {value:?}\n  got  {back:?}"
        ))
    }
}
