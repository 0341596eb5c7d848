//! cty values: null, unknown (optionally refined), and known values of every type.

use super::{Number, Type};
use std::collections::BTreeMap;

/// What Terraform knows about a value that is not known yet (an unknown's refinements).
/// The default refines nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Refinements {
    /// The value will definitely not be null.
    pub not_null: bool,
    /// A string value will start with this.
    pub string_prefix: Option<String>,
    /// A number will be at least (or above, when `false`) this.
    pub number_lower: Option<(Number, bool)>,
    /// A number will be at most (or below, when `false`) this.
    pub number_upper: Option<(Number, bool)>,
    /// A collection will have at least this many elements.
    pub length_min: Option<u64>,
    /// A collection will have at most this many elements.
    pub length_max: Option<u64>,
}

impl Refinements {
    /// Does this refine nothing?
    pub fn is_empty(&self) -> bool {
        *self == Refinements::default()
    }
}

/// A cty value. Its type comes from the schema it is decoded with, except under a `dynamic`
/// type, where a known value carries its own type in [`Value::Dynamic`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    /// Null of whatever type the position has.
    Null,
    /// Not known until apply.
    Unknown(Refinements),
    /// A string.
    String(String),
    /// A number.
    Number(Number),
    /// A bool.
    Bool(bool),
    /// A list's elements, in order.
    List(Vec<Value>),
    /// A set's elements (order carries no meaning; kept sorted and unique by the codecs).
    Set(Vec<Value>),
    /// A map's elements by key.
    Map(BTreeMap<String, Value>),
    /// An object's attributes by name; every attribute of the type is present.
    Object(BTreeMap<String, Value>),
    /// A tuple's elements, in order.
    Tuple(Vec<Value>),
    /// A known value in a `dynamic` position, with the type it turned out to have.
    Dynamic(Type, Box<Value>),
}

impl Value {
    /// A plain unknown, refining nothing.
    pub fn unknown() -> Value {
        Value::Unknown(Refinements::default())
    }

    /// A string value.
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// A number from an integer.
    pub fn int(i: i64) -> Value {
        Value::Number(Number::from(i))
    }

    /// An object from name/value pairs.
    pub fn object<'a>(attributes: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
        Value::Object(
            attributes
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v))
                .collect(),
        )
    }

    /// Is this null?
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Is this value itself unknown (not looking inside)?
    pub fn is_unknown(&self) -> bool {
        matches!(self, Value::Unknown(_))
    }

    /// Is this value known all the way down (no unknown anywhere inside)?
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown(_) => false,
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => {
                v.iter().all(Value::is_wholly_known)
            }
            Value::Map(m) | Value::Object(m) => m.values().all(Value::is_wholly_known),
            Value::Dynamic(_, v) => v.is_wholly_known(),
            _ => true,
        }
    }

    /// An object's attribute (`None` when this is not an object or has no such attribute).
    pub fn attr(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Object(m) => m.get(name),
            Value::Dynamic(_, v) => v.attr(name),
            _ => None,
        }
    }

    /// The string, when this is a known string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            Value::Dynamic(_, v) => v.as_str(),
            _ => None,
        }
    }

    /// The bool, when this is a known bool.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Dynamic(_, v) => v.as_bool(),
            _ => None,
        }
    }

    /// The number, when this is a known number.
    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Value::Number(n) => Some(n),
            Value::Dynamic(_, v) => v.as_number(),
            _ => None,
        }
    }
}

impl Value {
    /// Plain JSON as the value and type an HCL literal with the same content has: objects
    /// become objects, arrays tuples, and the result is wrapped for a `dynamic` position.
    /// The inverse of [`Value::to_plain_json`] for values written in configuration.
    pub fn from_plain_json(json: &serde_json::Value) -> Value {
        if json.is_null() {
            return Value::Null;
        }
        let (ty, value) = literal(json);
        Value::Dynamic(ty, Box::new(value))
    }
}

fn literal(json: &serde_json::Value) -> (Type, Value) {
    use serde_json::Value as J;
    match json {
        J::Null => (Type::Dynamic, Value::Null),
        J::Bool(b) => (Type::Bool, Value::Bool(*b)),
        J::String(s) => (Type::String, Value::String(s.clone())),
        J::Number(n) => {
            let number = n
                .as_i64()
                .map(Number::from)
                .or_else(|| n.as_f64().and_then(Number::from_f64));
            (
                Type::Number,
                number.map(Value::Number).unwrap_or(Value::Null),
            )
        }
        J::Array(items) => {
            let (types, values) = items.iter().map(literal).unzip();
            (Type::Tuple(types), Value::Tuple(values))
        }
        J::Object(members) => {
            let mut types = BTreeMap::new();
            let mut values = BTreeMap::new();
            for (k, v) in members {
                let (t, v) = literal(v);
                types.insert(k.clone(), t);
                values.insert(k.clone(), v);
            }
            (Type::Object(types), Value::Object(values))
        }
    }
}

impl Value {
    /// The value as plain JSON, dropping type information (objects and maps become JSON
    /// objects; lists, sets and tuples arrays). `None` when anything inside is unknown.
    pub fn to_plain_json(&self) -> Option<serde_json::Value> {
        use serde_json::Value as J;
        Some(match self {
            Value::Null => J::Null,
            Value::Unknown(_) => return None,
            Value::String(s) => J::String(s.clone()),
            Value::Bool(b) => J::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => J::from(i),
                None => serde_json::Number::from_f64(n.as_f64())
                    .map(J::Number)
                    .unwrap_or(J::Null),
            },
            Value::List(items) | Value::Set(items) | Value::Tuple(items) => J::Array(
                items
                    .iter()
                    .map(Value::to_plain_json)
                    .collect::<Option<_>>()?,
            ),
            Value::Map(m) | Value::Object(m) => J::Object(
                m.iter()
                    .map(|(k, v)| Some((k.clone(), v.to_plain_json()?)))
                    .collect::<Option<_>>()?,
            ),
            Value::Dynamic(_, v) => v.to_plain_json()?,
        })
    }
}
