//! cty types and their JSON form (the `type` bytes of a schema attribute, and the type half of a
//! dynamic value).

use super::CtyError;
use std::collections::BTreeMap;

/// A cty type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Type {
    /// UTF-8 text.
    String,
    /// An arbitrary-precision number.
    Number,
    /// true or false.
    Bool,
    /// Any type, decided by the value (`DynamicPseudoType`).
    Dynamic,
    /// Ordered elements of one type.
    List(Box<Type>),
    /// Unordered unique elements of one type.
    Set(Box<Type>),
    /// String keys to elements of one type.
    Map(Box<Type>),
    /// Named attributes, each of its own type.
    Object(BTreeMap<String, Type>),
    /// Positional elements, each of its own type.
    Tuple(Vec<Type>),
}

impl Type {
    /// `list(element)`.
    pub fn list(element: Type) -> Type {
        Type::List(Box::new(element))
    }
    /// `set(element)`.
    pub fn set(element: Type) -> Type {
        Type::Set(Box::new(element))
    }
    /// `map(element)`.
    pub fn map(element: Type) -> Type {
        Type::Map(Box::new(element))
    }
    /// `object({...})` from name/type pairs.
    pub fn object<'a>(attributes: impl IntoIterator<Item = (&'a str, Type)>) -> Type {
        Type::Object(
            attributes
                .into_iter()
                .map(|(n, t)| (n.to_owned(), t))
                .collect(),
        )
    }

    /// The type in cty's JSON notation: `"string"`, `["list","number"]`,
    /// `["object",{"a":"bool"}]`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::{json, Value as J};
        match self {
            Type::String => json!("string"),
            Type::Number => json!("number"),
            Type::Bool => json!("bool"),
            Type::Dynamic => json!("dynamic"),
            Type::List(e) => json!(["list", e.to_json()]),
            Type::Set(e) => json!(["set", e.to_json()]),
            Type::Map(e) => json!(["map", e.to_json()]),
            Type::Object(attrs) => {
                let attrs: serde_json::Map<String, J> = attrs
                    .iter()
                    .map(|(k, t)| (k.clone(), t.to_json()))
                    .collect();
                json!(["object", attrs])
            }
            Type::Tuple(elems) => {
                json!(["tuple", elems.iter().map(Type::to_json).collect::<Vec<_>>()])
            }
        }
    }

    /// The compact JSON bytes Terraform expects in a schema attribute's `type`.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.to_json()).expect("a type always serialises")
    }

    /// Parses cty's JSON type notation. The optional-attributes list that may follow an object's
    /// attributes (type constraints only) is accepted and ignored.
    pub fn from_json(json: &serde_json::Value) -> Result<Type, CtyError> {
        use serde_json::Value as J;
        match json {
            J::String(s) => match s.as_str() {
                "string" => Ok(Type::String),
                "number" => Ok(Type::Number),
                "bool" => Ok(Type::Bool),
                "dynamic" => Ok(Type::Dynamic),
                other => Err(CtyError::new(format!("unknown primitive type {other:?}"))),
            },
            J::Array(parts) => {
                let kind = parts
                    .first()
                    .and_then(J::as_str)
                    .ok_or_else(|| CtyError::new("type array must start with a kind string"))?;
                let arg = parts
                    .get(1)
                    .ok_or_else(|| CtyError::new(format!("type {kind:?} needs an argument")))?;
                match (kind, parts.len()) {
                    ("list", 2) => Ok(Type::list(Type::from_json(arg)?)),
                    ("set", 2) => Ok(Type::set(Type::from_json(arg)?)),
                    ("map", 2) => Ok(Type::map(Type::from_json(arg)?)),
                    ("object", 2 | 3) => {
                        let attrs = arg.as_object().ok_or_else(|| {
                            CtyError::new("object type needs a map of attributes")
                        })?;
                        let mut out = BTreeMap::new();
                        for (name, t) in attrs {
                            out.insert(name.clone(), Type::from_json(t)?);
                        }
                        Ok(Type::Object(out))
                    }
                    ("tuple", 2) => {
                        let elems = arg.as_array().ok_or_else(|| {
                            CtyError::new("tuple type needs a list of element types")
                        })?;
                        Ok(Type::Tuple(
                            elems
                                .iter()
                                .map(Type::from_json)
                                .collect::<Result<_, _>>()?,
                        ))
                    }
                    _ => Err(CtyError::new(format!("malformed type {json}"))),
                }
            }
            other => Err(CtyError::new(format!("malformed type {other}"))),
        }
    }

    /// Parses cty's JSON type notation from bytes.
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Type, CtyError> {
        let json: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| CtyError::new(format!("type is not JSON: {e}")))?;
        Type::from_json(&json)
    }
}
