//! Typed models: a resource's configuration, plan and state as plain Rust structs, read from
//! and written to [`Value`]s by serde, so resource code never looks attributes up by name.
//!
//! A model is a struct deriving `Serialize` and `Deserialize` whose fields are named like the
//! schema's attributes and nested blocks. One declaration serves two forms:
//!
//! - [`Known`] (state): every value is known; a field is `T` where the schema guarantees a
//!   value (required attributes, defaults, group blocks, list blocks) and `Option<T>` where it
//!   may be null;
//! - [`Planned`] (configuration and plan): each top-level field is a [`MaybeUnknown`], because
//!   any of them may still be unknown while Terraform plans.
//!
//! ```
//! use tfplugin_runtime::model::{self, Form, Known, MaybeUnknown, Planned};
//! use tfplugin_runtime::cty::Value;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
//! #[serde(bound = "")]
//! struct Disk<F: Form = Known> {
//!     size_gb: F::Of<u32>,
//!     label: F::Of<Option<String>>,
//! }
//!
//! let state = Value::object([("size_gb", Value::int(20)), ("label", Value::Null)]);
//! let disk: Disk = model::from_value(&state)?;
//! assert_eq!(disk.size_gb, 20);
//! assert_eq!(model::to_value(&disk)?, state);
//!
//! let plan = Value::object([("size_gb", Value::unknown()), ("label", Value::string("data"))]);
//! let planned: Disk<Planned> = model::from_value(&plan)?;
//! assert!(planned.size_gb.is_unknown());
//! assert_eq!(planned.label, MaybeUnknown::Known(Some("data".to_owned())));
//! assert_eq!(model::to_value(&planned)?, plan); // unknowns come back exactly as they were
//! # Ok::<(), tfplugin_runtime::cty::CtyError>(())
//! ```
//!
//! What the codec understands beyond plain serde:
//! - [`MaybeUnknown<T>`]: `Known(T)` for a wholly known value, else `Unknown` holding the value
//!   as it was (refinements and known parts included), written back unchanged;
//! - a field of type [`Value`]: the value itself, exactly (for `dynamic` attributes);
//! - a field renamed to start with `$` (`#[serde(rename = "$node")]`) embeds another model:
//!   its attributes are the parent's own, which lets two resources share one declaration of
//!   the attributes they have in common.
//!
//! [`shape`] reads a model's declaration (names, types, optionality) so tests can check it
//! against the schema attribute by attribute ([`check`]).
//!
//! What this module does not know: schemas' plan rules and the wire encodings (see
//! [`crate::plan`] and [`crate::cty`]).

mod de;
mod duration;
mod ser;
pub mod shape;
pub mod testing;

pub use duration::{Duration, DurationError};
pub use shape::{check, FormKind, Shape};

use crate::cty::{CtyError, Type, Value};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cell::RefCell;
use std::fmt::Debug;

/// What a model field may hold: anything serde can read and write that tests can compare.
pub trait Field:
    Serialize + DeserializeOwned + Clone + Debug + PartialEq + Send + Sync + 'static
{
}

impl<T: Serialize + DeserializeOwned + Clone + Debug + PartialEq + Send + Sync + 'static> Field
    for T
{
}

/// Which form a model is in: its fields are `F::Of<T>`.
pub trait Form: Clone + Debug + PartialEq + Send + Sync + 'static {
    /// What a field declared as `T` holds in this form.
    type Of<T: Field>: Field;
    /// Which form this is, for [`check`].
    const KIND: FormKind;
}

/// The state form: every value known.
#[derive(Debug, Clone, PartialEq)]
pub enum Known {}

/// The configuration and plan form: every top-level value may be unknown.
#[derive(Debug, Clone, PartialEq)]
pub enum Planned {}

impl Form for Known {
    type Of<T: Field> = T;
    const KIND: FormKind = FormKind::Known;
}

impl Form for Planned {
    type Of<T: Field> = MaybeUnknown<T>;
    const KIND: FormKind = FormKind::Planned;
}

/// A value that may not be known yet (while Terraform plans).
#[derive(Debug, Clone, PartialEq)]
pub enum MaybeUnknown<T> {
    /// Wholly known.
    Known(T),
    /// Unknown, or known only in part; kept as it was so it can be written back unchanged.
    Unknown(UnknownValue),
}

/// An unknown (or partly unknown) value as Terraform sent it. Its `Debug` shows no values
/// (the known parts may hold secrets).
#[derive(Clone, PartialEq)]
pub struct UnknownValue(Value);

impl Debug for UnknownValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_unknown() {
            "(unknown)"
        } else {
            "(partly unknown)"
        })
    }
}

impl UnknownValue {
    /// The value itself (with its refinements and any known parts).
    pub fn value(&self) -> &Value {
        &self.0
    }

    /// The known parts read as `T`, the unknown ones as `None` (see [`from_planned`]); `None`
    /// when that does not fit `T` (a value `T` requires is unknown).
    pub fn known_parts<T: DeserializeOwned>(&self) -> Option<T> {
        from_planned(&self.0).ok()
    }
}

impl<T> MaybeUnknown<T> {
    /// A plain unknown, refining nothing: "known after apply".
    pub fn unknown() -> MaybeUnknown<T> {
        MaybeUnknown::Unknown(UnknownValue(Value::unknown()))
    }

    /// Is it (at least partly) unknown?
    pub fn is_unknown(&self) -> bool {
        matches!(self, MaybeUnknown::Unknown(_))
    }

    /// The value, when wholly known.
    pub fn known(&self) -> Option<&T> {
        match self {
            MaybeUnknown::Known(v) => Some(v),
            MaybeUnknown::Unknown(_) => None,
        }
    }

    /// The value, when wholly known.
    pub fn into_known(self) -> Option<T> {
        match self {
            MaybeUnknown::Known(v) => Some(v),
            MaybeUnknown::Unknown(_) => None,
        }
    }
}

impl<T> MaybeUnknown<Option<T>> {
    /// The value when known and not null.
    pub fn value(&self) -> Option<&T> {
        self.known().and_then(Option::as_ref)
    }

    /// Known to be null.
    pub fn is_null(&self) -> bool {
        matches!(self, MaybeUnknown::Known(None))
    }
}

impl<T> From<T> for MaybeUnknown<T> {
    fn from(value: T) -> MaybeUnknown<T> {
        MaybeUnknown::Known(value)
    }
}

/// Newtype name by which [`MaybeUnknown`] asks the codec whether a value is known.
pub(crate) const MAYBE_UNKNOWN: &str = "$cty::MaybeUnknown";
/// Newtype name by which a [`Value`] field asks the codec for the value itself.
pub(crate) const RAW_VALUE: &str = "$cty::Value";

thread_local! {
    /// Hands a [`Value`] between the codec and the `Deserialize`/`Serialize` impls of
    /// [`Value`] and [`MaybeUnknown`]: serde's data model has no place for it. Filled and
    /// emptied within one synchronous call, so nothing else can see it.
    static HANDOVER: RefCell<Option<Value>> = const { RefCell::new(None) };
}

pub(crate) fn hand_over(value: Value) {
    HANDOVER.with(|slot| *slot.borrow_mut() = Some(value));
}

pub(crate) fn take_handed_over() -> Option<Value> {
    HANDOVER.with(|slot| slot.borrow_mut().take())
}

impl Serialize for Value {
    /// To the model codec: the value itself. To any other serializer: plain JSON (types,
    /// unknowns and refinements are lost there).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        hand_over(self.clone());
        let plain = self.to_plain_json();
        let result = serializer.serialize_newtype_struct(RAW_VALUE, &plain);
        take_handed_over();
        result
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Value;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a cty value")
            }
            fn visit_unit<E>(self) -> Result<Value, E> {
                Ok(take_handed_over().unwrap_or(Value::Null))
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
                let json = serde_json::Value::deserialize(d)?;
                Ok(Value::from_plain_json(&json))
            }
        }
        deserializer.deserialize_newtype_struct(RAW_VALUE, Visitor)
    }
}

impl<T: Serialize> Serialize for MaybeUnknown<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            MaybeUnknown::Known(value) => value.serialize(serializer),
            MaybeUnknown::Unknown(unknown) => unknown.0.serialize(serializer),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for MaybeUnknown<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Visitor<T> {
            type Value = MaybeUnknown<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a value that may be unknown")
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                let value = take_handed_over()
                    .ok_or_else(|| E::custom("an unknown value outside the model codec"))?;
                Ok(MaybeUnknown::Unknown(UnknownValue(value)))
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<Self::Value, D::Error> {
                T::deserialize(d).map(MaybeUnknown::Known)
            }
        }
        deserializer.deserialize_newtype_struct(MAYBE_UNKNOWN, Visitor(std::marker::PhantomData))
    }
}

/// How strictly a value is read into a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reading {
    /// Unknowns only where the model says [`MaybeUnknown`]; nulls only in `Option`s.
    Strict,
    /// A planned state at apply: an unknown (a value the apply computes) reads as `None`,
    /// or as an empty list or map.
    Applying,
    /// A blank: a null where the model wants a value reads as the empty value of its type
    /// (`""`, `false`, `0`, empty collections, objects of blanks).
    Blank,
}

/// Reads a model from a value (strictly: unknowns only in [`MaybeUnknown`] fields).
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, CtyError> {
    T::deserialize(de::ValueDeserializer::new(value, Reading::Strict))
}

/// Reads a model from a planned state at apply time: the values the apply is to compute are
/// unknown there, and read as `None` (an unknown list or map as an empty one).
pub fn from_planned<T: DeserializeOwned>(value: &Value) -> Result<T, CtyError> {
    T::deserialize(de::ValueDeserializer::new(value, Reading::Applying))
}

/// Reads a model from a value that may lack values the model requires (an import's starting
/// point): those read as empty (`""`, `false`, `0`, empty collections).
pub fn from_blank<T: DeserializeOwned>(value: &Value) -> Result<T, CtyError> {
    T::deserialize(de::ValueDeserializer::new(value, Reading::Blank))
}

/// Writes a model as a value. Lists stay lists; [`conform`] turns them into sets where the
/// type says so.
pub fn to_value<T: Serialize>(model: &T) -> Result<Value, CtyError> {
    model.serialize(ser::ValueSerializer)
}

/// Writes a model as a value of type `ty`.
pub fn to_typed_value<T: Serialize>(model: &T, ty: &Type) -> Result<Value, CtyError> {
    Ok(conform(to_value(model)?, ty))
}

/// Adjusts a value written from a model to the type it must have, all the way down: lists
/// become sets or tuples, maps objects, where the type says so (the model codec reads each of
/// those into the same Rust types). Anything else is left for the encoder to judge.
pub fn conform(value: Value, ty: &Type) -> Value {
    match (value, ty) {
        (Value::List(items) | Value::Set(items), Type::Set(element)) => {
            Value::Set(items.into_iter().map(|v| conform(v, element)).collect())
        }
        (Value::List(items) | Value::Tuple(items), Type::Tuple(types))
            if items.len() == types.len() =>
        {
            Value::Tuple(
                items
                    .into_iter()
                    .zip(types)
                    .map(|(v, t)| conform(v, t))
                    .collect(),
            )
        }
        (Value::List(items) | Value::Set(items), Type::List(element)) => {
            Value::List(items.into_iter().map(|v| conform(v, element)).collect())
        }
        (Value::Map(entries), Type::Map(element)) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k, conform(v, element)))
                .collect(),
        ),
        (Value::Object(attributes) | Value::Map(attributes), Type::Object(types)) => Value::Object(
            attributes
                .into_iter()
                .map(|(name, v)| {
                    let v = match types.get(&name) {
                        Some(t) => conform(v, t),
                        None => v,
                    };
                    (name, v)
                })
                .collect(),
        ),
        (value, _) => value,
    }
}

/// The name of a model's field, checked by the compiler: `field_name!(Disk, label)` is
/// `"label"`, and a field that does not exist fails to compile. Lifecycle code names
/// attributes this way (for diagnostics' paths) instead of with string literals.
#[macro_export]
macro_rules! field_name {
    ($model:ty, $field:ident) => {{
        let _exists = |m: &$model| {
            let _ = &m.$field;
        };
        $crate::model::strip_raw(stringify!($field))
    }};
}

#[doc(hidden)]
pub fn strip_raw(name: &'static str) -> &'static str {
    name.strip_prefix("r#").unwrap_or(name)
}

#[cfg(test)]
mod tests;
