//! Writing a model as a [`Value`]: a serde `Serializer` producing objects, lists, maps and
//! scalars, with embedded models (`$…` fields) merged into their parent object.

use super::{take_handed_over, RAW_VALUE};
use crate::cty::{CtyError, Number, PathStep, Value};
use serde::ser::{self, Serialize};
use std::collections::BTreeMap;

/// Writes one value.
pub(crate) struct ValueSerializer;

fn unsupported(what: &str) -> CtyError {
    CtyError::new(format!("a model cannot hold {what}: cty has no such value"))
}

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = CtyError;
    type SerializeSeq = Elements;
    type SerializeTuple = Elements;
    type SerializeTupleStruct = Elements;
    type SerializeTupleVariant = ser::Impossible<Value, CtyError>;
    type SerializeMap = Entries;
    type SerializeStruct = Attributes;
    type SerializeStructVariant = ser::Impossible<Value, CtyError>;

    fn serialize_bool(self, v: bool) -> Result<Value, CtyError> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, CtyError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<Value, CtyError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<Value, CtyError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<Value, CtyError> {
        Ok(Value::Number(Number::from(v)))
    }
    fn serialize_u8(self, v: u8) -> Result<Value, CtyError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<Value, CtyError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<Value, CtyError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<Value, CtyError> {
        Ok(Value::Number(Number::from(v)))
    }
    fn serialize_f32(self, v: f32) -> Result<Value, CtyError> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<Value, CtyError> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| unsupported("NaN"))
    }
    fn serialize_char(self, v: char) -> Result<Value, CtyError> {
        Ok(Value::String(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, CtyError> {
        Ok(Value::string(v))
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<Value, CtyError> {
        Err(unsupported("bytes"))
    }
    fn serialize_none(self) -> Result<Value, CtyError> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, CtyError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, CtyError> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, CtyError> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value, CtyError> {
        Ok(Value::string(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<Value, CtyError> {
        if name == RAW_VALUE {
            return take_handed_over()
                .ok_or_else(|| CtyError::new("a raw value went missing on its way to the codec"));
        }
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<Value, CtyError> {
        Err(unsupported("an enum variant with data"))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Elements, CtyError> {
        Ok(Elements(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, len: usize) -> Result<Elements, CtyError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Elements, CtyError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, CtyError> {
        Err(unsupported("an enum variant with data"))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Entries, CtyError> {
        Ok(Entries {
            entries: BTreeMap::new(),
            key: None,
        })
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Attributes, CtyError> {
        Ok(Attributes(BTreeMap::new()))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, CtyError> {
        Err(unsupported("an enum variant with data"))
    }
}

/// A list being written.
pub(crate) struct Elements(Vec<Value>);

impl Elements {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CtyError> {
        let index = self.0.len() as i64;
        let value = value
            .serialize(ValueSerializer)
            .map_err(|e| e.within(PathStep::Index(index)))?;
        self.0.push(value);
        Ok(())
    }
}

/// Sequences, tuples and tuple structs all become lists.
macro_rules! list_writer {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Elements {
            type Ok = Value;
            type Error = CtyError;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CtyError> {
                self.push(value)
            }
            fn end(self) -> Result<Value, CtyError> {
                Ok(Value::List(self.0))
            }
        }
    )*};
}

list_writer!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field
);

/// A map being written; keys must be strings.
pub(crate) struct Entries {
    entries: BTreeMap<String, Value>,
    key: Option<String>,
}

impl ser::SerializeMap for Entries {
    type Ok = Value;
    type Error = CtyError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), CtyError> {
        match key.serialize(ValueSerializer)? {
            Value::String(key) => {
                self.key = Some(key);
                Ok(())
            }
            _ => Err(CtyError::new("map keys must be strings")),
        }
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CtyError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| CtyError::new("a map value came before its key"))?;
        let value = value
            .serialize(ValueSerializer)
            .map_err(|e| e.within(PathStep::Key(key.clone())))?;
        self.entries.insert(key, value);
        Ok(())
    }
    fn end(self) -> Result<Value, CtyError> {
        Ok(Value::Map(self.entries))
    }
}

/// An object being written from a struct's fields.
pub(crate) struct Attributes(BTreeMap<String, Value>);

impl ser::SerializeStruct for Attributes {
    type Ok = Value;
    type Error = CtyError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), CtyError> {
        if name.starts_with('$') {
            // An embedded model: its attributes are this object's.
            match value.serialize(ValueSerializer)? {
                Value::Object(attributes) => {
                    for (attribute, value) in attributes {
                        if self.0.insert(attribute.clone(), value).is_some() {
                            return Err(CtyError::new(format!(
                                "attribute {attribute} is declared both in {name} and beside it"
                            )));
                        }
                    }
                    Ok(())
                }
                _ => Err(CtyError::new(format!(
                    "the embedded model {name} must be a struct"
                ))),
            }
        } else {
            let value = value
                .serialize(ValueSerializer)
                .map_err(|e| e.within(PathStep::Attribute(name.to_owned())))?;
            if self.0.insert(name.to_owned(), value).is_some() {
                return Err(CtyError::new(format!("attribute {name} is declared twice")));
            }
            Ok(())
        }
    }
    fn end(self) -> Result<Value, CtyError> {
        Ok(Value::Object(self.0))
    }
}
