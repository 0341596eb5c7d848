//! Reading a model from a [`Value`]: a serde `Deserializer` that walks the value, with paths in
//! its errors (`ssh.port: expected a whole number, found a string`).

use super::{hand_over, Reading, MAYBE_UNKNOWN, RAW_VALUE};
use crate::cty::{CtyError, PathStep, Value};
use serde::de::value::StrDeserializer;
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use std::collections::btree_map;
use std::fmt::Display;

impl de::Error for CtyError {
    fn custom<T: Display>(message: T) -> CtyError {
        CtyError::new(message.to_string())
    }
}

impl serde::ser::Error for CtyError {
    fn custom<T: Display>(message: T) -> CtyError {
        CtyError::new(message.to_string())
    }
}

/// Reads one value.
pub(crate) struct ValueDeserializer<'a> {
    value: &'a Value,
    reading: Reading,
}

impl<'a> ValueDeserializer<'a> {
    pub(crate) fn new(value: &'a Value, reading: Reading) -> ValueDeserializer<'a> {
        ValueDeserializer { value, reading }
    }

    /// The value without `dynamic` wrappers.
    fn bare(&self) -> &'a Value {
        let mut value = self.value;
        while let Value::Dynamic(_, inner) = value {
            value = inner;
        }
        value
    }

    /// A null where the model wants a value, read as that value's blank.
    fn is_blank(&self) -> bool {
        self.reading == Reading::Blank && self.bare().is_null()
    }

    /// An unknown collection in a planned state at apply, read as an empty one.
    fn is_absent_collection(&self) -> bool {
        self.reading == Reading::Applying && self.bare().is_unknown()
    }

    fn expected(&self, what: &str) -> CtyError {
        let found = match self.bare() {
            Value::Null => "null",
            Value::Unknown(_) => "a value that is not known yet",
            Value::String(_) => "a string",
            Value::Number(_) => "a number",
            Value::Bool(_) => "a bool",
            Value::List(_) | Value::Tuple(_) => "a list",
            Value::Set(_) => "a set",
            Value::Map(_) => "a map",
            Value::Object(_) => "an object",
            Value::Dynamic(..) => "a dynamic value",
        };
        CtyError::new(format!("expected {what}, found {found}"))
    }

    fn number<V: Visitor<'a>>(self, visitor: V, what: &str) -> Result<V::Value, CtyError> {
        if self.is_blank() {
            return visitor.visit_i64(0);
        }
        match self.bare() {
            Value::Number(n) => match n.as_i64() {
                Some(i) => visitor.visit_i64(i),
                None => Err(CtyError::new(format!("{n} is not {what}"))),
            },
            _ => Err(self.expected(what)),
        }
    }

    fn float<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, CtyError> {
        if self.is_blank() {
            return visitor.visit_f64(0.0);
        }
        match self.bare() {
            Value::Number(n) => visitor.visit_f64(n.as_f64()),
            _ => Err(self.expected("a number")),
        }
    }
}

macro_rules! integers {
    ($($method:ident),*) => {$(
        fn $method<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, CtyError> {
            self.number(visitor, "a whole number in range")
        }
    )*};
}

impl<'a> de::Deserializer<'a> for ValueDeserializer<'a> {
    type Error = CtyError;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, CtyError> {
        match self.bare() {
            Value::Null => visitor.visit_unit(),
            Value::String(s) => visitor.visit_str(s),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => visitor.visit_i64(i),
                None => visitor.visit_f64(n.as_f64()),
            },
            Value::List(_) | Value::Set(_) | Value::Tuple(_) => self.deserialize_seq(visitor),
            Value::Map(_) | Value::Object(_) => self.deserialize_map(visitor),
            Value::Unknown(_) | Value::Dynamic(..) => Err(self.expected("a known value")),
        }
    }

    fn deserialize_bool<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, CtyError> {
        match self.bare() {
            Value::Bool(b) => visitor.visit_bool(*b),
            _ if self.is_blank() => visitor.visit_bool(false),
            _ => Err(self.expected("a bool")),
        }
    }

    integers!(
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64
    );

    fn deserialize_f32<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, CtyError> {
        self.float(visitor)
    }

    fn deserialize_f64<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, CtyError> {
        self.float(visitor)
    }

    fn deserialize_char<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, CtyError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, CtyError> {
        match self.bare() {
            Value::String(s) => visitor.visit_borrowed_str(s),
            _ if self.is_blank() => visitor.visit_str(""),
            _ => Err(self.expected("a string")),
        }
    }

    fn deserialize_string<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, CtyError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'a>>(self, _visitor: V) -> Result<V::Value, CtyError> {
        Err(CtyError::new("cty has no bytes type; use a string"))
    }

    fn deserialize_byte_buf<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, CtyError> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, CtyError> {
        match self.bare() {
            Value::Null => visitor.visit_none(),
            Value::Unknown(_) if self.reading == Reading::Applying => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, CtyError> {
        match self.bare() {
            Value::Null => visitor.visit_unit(),
            _ => Err(self.expected("null")),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, CtyError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, CtyError> {
        match name {
            RAW_VALUE => {
                hand_over(self.value.clone());
                visitor.visit_unit()
            }
            MAYBE_UNKNOWN if !self.value.is_wholly_known() => {
                hand_over(self.value.clone());
                visitor.visit_unit()
            }
            _ => visitor.visit_newtype_struct(self),
        }
    }

    fn deserialize_seq<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, CtyError> {
        match self.bare() {
            Value::List(items) | Value::Set(items) | Value::Tuple(items) => {
                visitor.visit_seq(Elements {
                    items: items.iter(),
                    index: 0,
                    reading: self.reading,
                })
            }
            _ if self.is_blank() || self.is_absent_collection() => visitor.visit_seq(Elements {
                items: [].iter(),
                index: 0,
                reading: self.reading,
            }),
            _ => Err(self.expected("a list")),
        }
    }

    fn deserialize_tuple<V: Visitor<'a>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, CtyError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, CtyError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, CtyError> {
        match self.bare() {
            Value::Map(entries) => visitor.visit_map(Entries::new(entries, false, self.reading)),
            Value::Object(entries) => visitor.visit_map(Entries::new(entries, true, self.reading)),
            _ if self.is_blank() || self.is_absent_collection() => {
                visitor.visit_map(Entries::new(&EMPTY, false, self.reading))
            }
            _ => Err(self.expected("a map")),
        }
    }

    fn deserialize_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, CtyError> {
        let object = match self.bare() {
            Value::Object(attributes) => attributes,
            _ if self.is_blank() => &EMPTY,
            _ => return Err(self.expected("an object")),
        };
        visitor.visit_map(Attributes {
            whole: self.bare(),
            object,
            embedded: fields.iter(),
            attributes: object.iter(),
            missing: fields.iter(),
            pending: None,
            reading: self.reading,
        })
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, CtyError> {
        match self.bare() {
            Value::String(s) => {
                let variant: StrDeserializer<'_, CtyError> = s.as_str().into_deserializer();
                visitor.visit_enum(variant)
            }
            _ if self.is_blank() && !variants.is_empty() => {
                let variant: StrDeserializer<'_, CtyError> = variants[0].into_deserializer();
                visitor.visit_enum(variant)
            }
            _ => Err(self.expected(&format!("one of the strings {}", variants.join(", ")))),
        }
    }

    fn deserialize_identifier<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, CtyError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, CtyError> {
        visitor.visit_unit()
    }
}

static EMPTY: std::collections::BTreeMap<String, Value> = std::collections::BTreeMap::new();
static NULL: Value = Value::Null;

/// The elements of a list, set or tuple.
struct Elements<'a> {
    items: std::slice::Iter<'a, Value>,
    index: i64,
    reading: Reading,
}

impl<'a> de::SeqAccess<'a> for Elements<'a> {
    type Error = CtyError;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, CtyError> {
        let Some(item) = self.items.next() else {
            return Ok(None);
        };
        let index = self.index;
        self.index += 1;
        seed.deserialize(ValueDeserializer::new(item, self.reading))
            .map(Some)
            .map_err(|e| e.within(PathStep::Index(index)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// The entries of a map (or an object read as a map).
struct Entries<'a> {
    entries: btree_map::Iter<'a, String, Value>,
    value: Option<(&'a String, &'a Value)>,
    object: bool,
    reading: Reading,
}

impl<'a> Entries<'a> {
    fn new(
        entries: &'a std::collections::BTreeMap<String, Value>,
        object: bool,
        reading: Reading,
    ) -> Entries<'a> {
        Entries {
            entries: entries.iter(),
            value: None,
            object,
            reading,
        }
    }
}

fn step(key: &str, object: bool) -> PathStep {
    if object {
        PathStep::Attribute(key.to_owned())
    } else {
        PathStep::Key(key.to_owned())
    }
}

impl<'a> de::MapAccess<'a> for Entries<'a> {
    type Error = CtyError;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, CtyError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some((key, value));
        let key_reader: StrDeserializer<'_, CtyError> = key.as_str().into_deserializer();
        seed.deserialize(key_reader).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(&mut self, seed: V) -> Result<V::Value, CtyError> {
        let (key, value) = self
            .value
            .take()
            .ok_or_else(|| CtyError::new("a map value was asked for before its key"))?;
        seed.deserialize(ValueDeserializer::new(value, self.reading))
            .map_err(|e| e.within(step(key, self.object)))
    }
}

/// An object's attributes as a struct's fields: first each embedded model (a field named
/// `$…`, which reads the whole object), then the attributes, then (reading a blank) the
/// fields the object lacks, as nulls.
struct Attributes<'a> {
    whole: &'a Value,
    object: &'a std::collections::BTreeMap<String, Value>,
    embedded: std::slice::Iter<'static, &'static str>,
    attributes: btree_map::Iter<'a, String, Value>,
    missing: std::slice::Iter<'static, &'static str>,
    pending: Option<(&'a str, &'a Value)>,
    reading: Reading,
}

impl<'a> Attributes<'a> {
    fn next_entry(&mut self) -> Option<(&'a str, &'a Value)> {
        if let Some(name) = self.embedded.by_ref().find(|f| f.starts_with('$')) {
            return Some((name, self.whole));
        }
        if let Some((name, value)) = self.attributes.next() {
            return Some((name.as_str(), value));
        }
        if self.reading == Reading::Blank {
            for name in self.missing.by_ref() {
                if !name.starts_with('$') && !self.object.contains_key(*name) {
                    return Some((name, &NULL));
                }
            }
        }
        None
    }
}

impl<'a> de::MapAccess<'a> for Attributes<'a> {
    type Error = CtyError;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, CtyError> {
        let Some((name, value)) = self.next_entry() else {
            return Ok(None);
        };
        self.pending = Some((name, value));
        let key_reader: StrDeserializer<'_, CtyError> = name.into_deserializer();
        seed.deserialize(key_reader).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(&mut self, seed: V) -> Result<V::Value, CtyError> {
        let (name, value) = self
            .pending
            .take()
            .ok_or_else(|| CtyError::new("an attribute was asked for before its name"))?;
        let reader = ValueDeserializer::new(value, self.reading);
        if name.starts_with('$') {
            seed.deserialize(reader)
        } else {
            seed.deserialize(reader)
                .map_err(|e| e.within(PathStep::Attribute(name.to_owned())))
        }
    }
}
