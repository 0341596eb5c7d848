//! What a model declares, read from its `Deserialize` implementation: field names, their
//! types, and which may be null or unknown; and [`check`], which compares that with a schema
//! attribute by attribute so the two cannot drift apart.
//!
//! The declaration is read by a tracing deserializer: it walks to one field at a time, notes
//! what the field asks for (a string, an `Option`, a list of something) and stops there.

use super::{MAYBE_UNKNOWN, RAW_VALUE};
use crate::cty::Type;
use crate::schema::{Block, Mode, Nesting};
use serde::de::{self, DeserializeOwned, DeserializeSeed, Visitor};
use std::cell::RefCell;
use std::fmt;

/// Which form of a model is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKind {
    /// State: nothing unknown; `Option` exactly where the schema allows null.
    Known,
    /// Configuration and plan: every top-level field a `MaybeUnknown`.
    Planned,
}

/// What one value of a model is declared as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// Declared as a `MaybeUnknown<…>`.
    pub may_be_unknown: bool,
    /// Declared as an `Option<…>` (inside any `MaybeUnknown`).
    pub nullable: bool,
    /// What the value is.
    pub kind: Kind,
}

/// The kind of a declared value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// The primitive cty type the value is read from: `string` (a `String`, a duration, an
    /// enum of names), `number` (any Rust number), `bool`, or `dynamic` (a raw
    /// [`crate::cty::Value`]).
    Primitive(Type),
    /// A sequence of elements.
    List(Box<Shape>),
    /// String keys to values.
    Map(Box<Shape>),
    /// A struct: its fields in declaration order, embedded models merged in.
    Object(Vec<(String, Shape)>),
}

/// The shape of model `T`.
pub fn shape<T: DeserializeOwned>() -> Result<Shape, String> {
    shape_at::<T>(&mut Vec::new())
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Field(usize),
    Element,
    Value,
}

#[derive(Debug, Default)]
struct Found {
    may_be_unknown: bool,
    nullable: bool,
    kind: Option<RawKind>,
}

#[derive(Debug, Clone)]
enum RawKind {
    String,
    Number,
    Bool,
    Dynamic,
    List,
    Map,
    Struct(&'static [&'static str]),
}

fn shape_at<T: DeserializeOwned>(path: &mut Vec<Step>) -> Result<Shape, String> {
    if path.len() > 32 {
        return Err("the model nests more than 32 levels deep".into());
    }
    let found = RefCell::new(Found::default());
    let result = T::deserialize(Tracer {
        path,
        found: &found,
    });
    match result {
        Err(TraceError::Reached) => {}
        Err(TraceError::Other(message)) => return Err(message),
        Ok(_) => return Err("the tracer was not stopped; a field reads nothing".into()),
    }
    let found = found.into_inner();
    let kind = match found.kind.ok_or("a field read nothing")? {
        RawKind::String => Kind::Primitive(Type::String),
        RawKind::Number => Kind::Primitive(Type::Number),
        RawKind::Bool => Kind::Primitive(Type::Bool),
        RawKind::Dynamic => Kind::Primitive(Type::Dynamic),
        RawKind::List => {
            path.push(Step::Element);
            let element = shape_at::<T>(path);
            path.pop();
            Kind::List(Box::new(element?))
        }
        RawKind::Map => {
            path.push(Step::Value);
            let value = shape_at::<T>(path);
            path.pop();
            Kind::Map(Box::new(value?))
        }
        RawKind::Struct(fields) => {
            let mut out = Vec::new();
            for (index, name) in fields.iter().enumerate() {
                path.push(Step::Field(index));
                let field = shape_at::<T>(path);
                path.pop();
                let field = field?;
                match (name.starts_with('$'), field.kind) {
                    (true, Kind::Object(embedded)) => out.extend(embedded),
                    (true, _) => return Err(format!("embedded field {name} is not a struct")),
                    (false, kind) => out.push(((*name).to_owned(), Shape { kind, ..field })),
                }
            }
            Kind::Object(out)
        }
    };
    Ok(Shape {
        may_be_unknown: found.may_be_unknown,
        nullable: found.nullable,
        kind,
    })
}

#[derive(Debug)]
enum TraceError {
    /// The field looked for was reached and noted.
    Reached,
    Other(String),
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::Reached => f.write_str("reached"),
            TraceError::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for TraceError {}

impl de::Error for TraceError {
    fn custom<T: fmt::Display>(message: T) -> TraceError {
        TraceError::Other(message.to_string())
    }
}

struct Tracer<'p> {
    path: &'p [Step],
    found: &'p RefCell<Found>,
}

impl Tracer<'_> {
    fn at_target(&self) -> bool {
        self.path.is_empty()
    }

    fn reach(&self, kind: RawKind) -> TraceError {
        if self.at_target() {
            self.found.borrow_mut().kind = Some(kind);
            TraceError::Reached
        } else {
            TraceError::Other(format!("the path {:?} goes through a {kind:?}", self.path))
        }
    }

    fn rest(&self) -> Tracer<'_> {
        Tracer {
            path: &self.path[1..],
            found: self.found,
        }
    }
}

macro_rules! reach {
    ($kind:expr => $($method:ident),*) => {$(
        fn $method<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, TraceError> {
            Err(self.reach($kind))
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Tracer<'_> {
    type Error = TraceError;

    reach!(RawKind::String => deserialize_str, deserialize_string, deserialize_char, deserialize_identifier);
    reach!(RawKind::Number => deserialize_i8, deserialize_i16, deserialize_i32, deserialize_i64,
        deserialize_u8, deserialize_u16, deserialize_u32, deserialize_u64, deserialize_f32, deserialize_f64);
    reach!(RawKind::Bool => deserialize_bool);
    reach!(RawKind::Dynamic => deserialize_any);

    fn deserialize_bytes<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, TraceError> {
        Err(TraceError::Other("a model cannot hold bytes".into()))
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        self.deserialize_bytes(visitor)
    }
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        if self.at_target() {
            self.found.borrow_mut().nullable = true;
        }
        visitor.visit_some(self)
    }
    fn deserialize_unit<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, TraceError> {
        Err(TraceError::Other("a model cannot hold ()".into()))
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        self.deserialize_unit(visitor)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        match name {
            RAW_VALUE => Err(self.reach(RawKind::Dynamic)),
            MAYBE_UNKNOWN => {
                if self.at_target() {
                    self.found.borrow_mut().may_be_unknown = true;
                }
                visitor.visit_newtype_struct(self)
            }
            _ => visitor.visit_newtype_struct(self),
        }
    }
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        match self.path.first() {
            None => Err(self.reach(RawKind::List)),
            Some(Step::Element) => visitor.visit_seq(One(Some(self.rest()))),
            Some(step) => Err(TraceError::Other(format!("{step:?} into a list"))),
        }
    }
    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        self.deserialize_seq(visitor)
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        self.deserialize_seq(visitor)
    }
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        match self.path.first() {
            None => Err(self.reach(RawKind::Map)),
            Some(Step::Value) => visitor.visit_map(Entry {
                key: Some("key"),
                value: Some(self.rest()),
            }),
            Some(step) => Err(TraceError::Other(format!("{step:?} into a map"))),
        }
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TraceError> {
        match self.path.first() {
            None => Err(self.reach(RawKind::Struct(fields))),
            Some(Step::Field(index)) => visitor.visit_map(Entry {
                key: fields.get(*index).copied(),
                value: Some(self.rest()),
            }),
            Some(step) => Err(TraceError::Other(format!("{step:?} into a struct"))),
        }
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, TraceError> {
        Err(self.reach(RawKind::String))
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TraceError> {
        visitor.visit_unit()
    }
}

/// A sequence of one element: the one being traced.
struct One<'p>(Option<Tracer<'p>>);

impl<'de> de::SeqAccess<'de> for One<'_> {
    type Error = TraceError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, TraceError> {
        match self.0.take() {
            Some(tracer) => seed.deserialize(tracer).map(Some),
            None => Ok(None),
        }
    }
}

/// A map or struct of one entry: the one being traced.
struct Entry<'p> {
    key: Option<&'static str>,
    value: Option<Tracer<'p>>,
}

impl<'de> de::MapAccess<'de> for Entry<'_> {
    type Error = TraceError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, TraceError> {
        match self.key.take() {
            Some(key) => seed
                .deserialize(de::value::StrDeserializer::<TraceError>::new(key))
                .map(Some),
            None => Ok(None),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, TraceError> {
        match self.value.take() {
            Some(tracer) => seed.deserialize(tracer),
            None => Err(TraceError::Other("a value was asked for twice".into())),
        }
    }
}

/// Compares model `T`, in `form`, with `block`, attribute by attribute: the same names; types
/// that agree (a string field for a string attribute, a `Vec` for a list or set, a map for a
/// map, a struct for an object or nested block, a `Value` for `dynamic`); in the known form
/// `Option` exactly where the schema allows null (optional and computed attributes without a
/// default, single nested blocks); in the planned form a `MaybeUnknown` around every top-level
/// field. Returns each disagreement, with its path.
pub fn check<T: DeserializeOwned>(block: &Block, form: FormKind) -> Vec<String> {
    match shape::<T>() {
        Ok(Shape {
            kind: Kind::Object(fields),
            ..
        }) => {
            let mut problems = Vec::new();
            check_block(block, &fields, "", form, true, &mut problems);
            problems
        }
        Ok(other) => vec![format!("the model is not a struct but {:?}", other.kind)],
        Err(e) => vec![format!("the model cannot be traced: {e}")],
    }
}

fn check_block(
    block: &Block,
    fields: &[(String, Shape)],
    path: &str,
    form: FormKind,
    top: bool,
    problems: &mut Vec<String>,
) {
    let field = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, s)| s);
    for (name, _) in fields {
        if block.attribute_named(name).is_none() && !block.blocks.iter().any(|b| &b.name == name) {
            problems.push(format!("{path}{name}: in the model but not in the schema"));
        }
    }
    let unknown_rule = |at: &str, shape: &Shape, problems: &mut Vec<String>| match form {
        FormKind::Planned if top && !shape.may_be_unknown => problems.push(format!(
            "{at}: a planned model's field must be a MaybeUnknown"
        )),
        FormKind::Known if shape.may_be_unknown => problems.push(format!(
            "{at}: a known model's field cannot be a MaybeUnknown"
        )),
        _ => {}
    };
    for attribute in &block.attributes {
        let at = format!("{path}{}", attribute.name);
        let Some(shape) = field(&attribute.name) else {
            problems.push(format!("{at}: in the schema but not in the model"));
            continue;
        };
        unknown_rule(&at, shape, problems);
        let may_be_null = match attribute.mode {
            Mode::Required => false,
            Mode::OptionalComputed => attribute.default.is_none(),
            Mode::Optional | Mode::Computed => true,
        };
        // A `Value` field holds null itself.
        let raw_value = shape.kind == Kind::Primitive(Type::Dynamic);
        if form == FormKind::Known && shape.nullable != may_be_null && !raw_value {
            problems.push(if may_be_null {
                format!(
                    "{at}: may be null ({:?}), so the model needs an Option",
                    attribute.mode
                )
            } else {
                format!(
                    "{at}: is never null in state ({:?}{}), so the model must not use an Option",
                    attribute.mode,
                    if attribute.default.is_some() {
                        " with a default"
                    } else {
                        ""
                    }
                )
            });
        }
        check_type(&attribute.ty, &shape.kind, &at, problems);
    }
    for nested in &block.blocks {
        let at = format!("{path}{}", nested.name);
        let Some(shape) = field(&nested.name) else {
            problems.push(format!("{at}: in the schema but not in the model"));
            continue;
        };
        unknown_rule(&at, shape, problems);
        let (nullable, object) = match (&nested.nesting, &shape.kind) {
            (Nesting::Single, Kind::Object(f)) => (nested.min_items == 0, Some(f)),
            (Nesting::Group, Kind::Object(f)) => (false, Some(f)),
            (Nesting::List | Nesting::Set, Kind::List(element)) => match &element.kind {
                Kind::Object(f) if !element.nullable => (false, Some(f)),
                _ => (false, None),
            },
            (Nesting::Map, Kind::Map(element)) => match &element.kind {
                Kind::Object(f) if !element.nullable => (false, Some(f)),
                _ => (false, None),
            },
            _ => (shape.nullable, None),
        };
        let Some(object) = object else {
            problems.push(format!(
                "{at}: a {:?} block needs {}",
                nested.nesting,
                match nested.nesting {
                    Nesting::Single => "an Option of a struct",
                    Nesting::Group => "a struct",
                    Nesting::List | Nesting::Set => "a Vec of a struct",
                    Nesting::Map => "a map of a struct",
                }
            ));
            continue;
        };
        if form == FormKind::Known && shape.nullable != nullable {
            problems.push(format!(
                "{at}: a {:?} block is {}null in state",
                nested.nesting,
                if nullable { "" } else { "never " }
            ));
        }
        check_block(
            &nested.block,
            object,
            &format!("{at}."),
            form,
            false,
            problems,
        );
    }
}

fn check_type(ty: &Type, kind: &Kind, at: &str, problems: &mut Vec<String>) {
    let agrees = match (ty, kind) {
        (ty, Kind::Primitive(primitive)) => ty == primitive,
        (Type::List(element) | Type::Set(element), Kind::List(shape))
        | (Type::Map(element), Kind::Map(shape)) => {
            check_type(element, &shape.kind, &format!("{at}[*]"), problems);
            true
        }
        (Type::Object(types), Kind::Object(fields)) => {
            for (name, t) in types {
                match fields.iter().find(|(n, _)| n == name) {
                    Some((_, shape)) => {
                        check_type(t, &shape.kind, &format!("{at}.{name}"), problems)
                    }
                    None => problems.push(format!("{at}.{name}: in the type but not in the model")),
                }
            }
            for (name, _) in fields {
                if !types.contains_key(name) {
                    problems.push(format!("{at}.{name}: in the model but not in the type"));
                }
            }
            true
        }
        _ => false,
    };
    if !agrees {
        problems.push(format!(
            "{at}: the schema says {} but the model holds {kind:?}",
            ty.to_json()
        ));
    }
}
