//! Reading msgpack as cty values, driven by the type.

use super::encode::bound_bytes;
use super::{
    reorder_set, KEY_LENGTH_MAX, KEY_LENGTH_MIN, KEY_NULLNESS, KEY_NUMBER_MAX, KEY_NUMBER_MIN,
    KEY_STRING_PREFIX, MAX_DEPTH, MAX_REFINEMENTS_LEN, REFINED_UNKNOWN_EXT,
};
use crate::cty::support::{exact_float, index_step, parse_number_text, parse_type_json, type_name};
use crate::cty::{CtyError, Number, PathStep, Refinements, Type, Value};

/// One msgpack item's header (and, for scalars, its content).
enum Item<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Uint(u64),
    F32(f32),
    F64(f64),
    Str(&'a [u8]),
    Bin(&'a [u8]),
    Array(usize),
    Map(usize),
    Ext(i8, &'a [u8]),
}

impl Item<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Item::Nil => "nil",
            Item::Bool(_) => "bool",
            Item::Int(_) | Item::Uint(_) => "integer",
            Item::F32(_) | Item::F64(_) => "float",
            Item::Str(_) => "string",
            Item::Bin(_) => "binary",
            Item::Array(_) => "array",
            Item::Map(_) => "map",
            Item::Ext(..) => "extension",
        }
    }
}

/// Reads items off the front of the input. Markers and lengths are decoded by `rmp`; what
/// follows a length is taken from the input directly, after checking it is there.
struct Reader<'a> {
    rest: &'a [u8],
    len: usize,
}

fn truncated() -> CtyError {
    CtyError::new("unexpected end of msgpack input")
}

fn malformed<E>(_: E) -> CtyError {
    truncated()
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader {
            rest: buf,
            len: buf.len(),
        }
    }

    /// How many bytes have been read.
    fn position(&self) -> usize {
        self.len - self.rest.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CtyError> {
        if n > self.rest.len() {
            return Err(truncated());
        }
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(taken)
    }

    /// An array or map header's length; `per_element` is the fewest bytes one element can
    /// take, so a length the rest of the input cannot hold fails here, before anything is
    /// allocated.
    fn container(&self, len: u32, per_element: usize) -> Result<usize, CtyError> {
        let len = usize::try_from(len).map_err(malformed)?;
        if len.saturating_mul(per_element) > self.rest.len() {
            return Err(CtyError::new(format!(
                "msgpack header claims {len} elements but only {} bytes remain",
                self.rest.len()
            )));
        }
        Ok(len)
    }

    fn sized(&mut self, len: u32) -> Result<&'a [u8], CtyError> {
        self.take(usize::try_from(len).map_err(malformed)?)
    }

    fn item(&mut self) -> Result<Item<'a>, CtyError> {
        use rmp::decode;
        use rmp::Marker;
        let first = *self.rest.first().ok_or_else(truncated)?;
        let rd = &mut self.rest;
        Ok(match Marker::from_u8(first) {
            Marker::Reserved => return Err(CtyError::new("invalid msgpack marker 0xc1")),
            Marker::Null => {
                decode::read_nil(rd).map_err(malformed)?;
                Item::Nil
            }
            Marker::True | Marker::False => Item::Bool(decode::read_bool(rd).map_err(malformed)?),
            Marker::U64 => Item::Uint(decode::read_int::<u64, _>(rd).map_err(malformed)?),
            Marker::FixPos(_)
            | Marker::FixNeg(_)
            | Marker::U8
            | Marker::U16
            | Marker::U32
            | Marker::I8
            | Marker::I16
            | Marker::I32
            | Marker::I64 => Item::Int(decode::read_int::<i64, _>(rd).map_err(malformed)?),
            Marker::F32 => Item::F32(decode::read_f32(rd).map_err(malformed)?),
            Marker::F64 => Item::F64(decode::read_f64(rd).map_err(malformed)?),
            Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => {
                let len = decode::read_str_len(rd).map_err(malformed)?;
                Item::Str(self.sized(len)?)
            }
            Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => {
                let len = decode::read_bin_len(rd).map_err(malformed)?;
                Item::Bin(self.sized(len)?)
            }
            Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => {
                let len = decode::read_array_len(rd).map_err(malformed)?;
                Item::Array(self.container(len, 1)?)
            }
            Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => {
                let len = decode::read_map_len(rd).map_err(malformed)?;
                Item::Map(self.container(len, 2)?)
            }
            Marker::FixExt1
            | Marker::FixExt2
            | Marker::FixExt4
            | Marker::FixExt8
            | Marker::FixExt16
            | Marker::Ext8
            | Marker::Ext16
            | Marker::Ext32 => {
                let meta = decode::read_ext_meta(rd).map_err(malformed)?;
                Item::Ext(meta.typeid, self.sized(meta.size)?)
            }
        })
    }

    /// Skips one whole item, however deeply nested, without recursion.
    fn skip(&mut self) -> Result<(), CtyError> {
        let mut pending: usize = 1;
        while pending > 0 {
            pending -= 1;
            match self.item()? {
                Item::Array(n) => pending = pending.saturating_add(n),
                Item::Map(n) => pending = pending.saturating_add(n.saturating_mul(2)),
                _ => {}
            }
        }
        Ok(())
    }
}

fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str, CtyError> {
    std::str::from_utf8(bytes).map_err(|_| CtyError::new(format!("{what} is not valid UTF-8")))
}

fn expected(what: &str, item: &Item<'_>) -> CtyError {
    CtyError::new(format!("expected {what}, found {}", item.kind()))
}

fn number_from_item(item: &Item<'_>) -> Result<Number, CtyError> {
    match *item {
        Item::Int(i) => Ok(Number::from(i)),
        Item::Uint(u) => Ok(Number::from(u)),
        Item::F32(f) => {
            exact_float(f64::from(f)).ok_or_else(|| CtyError::new("NaN is not a number"))
        }
        Item::F64(f) => exact_float(f).ok_or_else(|| CtyError::new("NaN is not a number")),
        Item::Str(b) | Item::Bin(b) => {
            parse_number_text(utf8(b, "a number")?).map_err(CtyError::new)
        }
        ref other => Err(expected("number", other)),
    }
}

/// Decodes all of `bytes` as one value of type `ty`.
pub(super) fn whole(bytes: &[u8], ty: &Type) -> Result<Value, CtyError> {
    let mut reader = Reader::new(bytes);
    let value = decode(&mut reader, ty, 0)?;
    if reader.position() != bytes.len() {
        return Err(CtyError::new(format!(
            "{} trailing bytes after the msgpack value",
            bytes.len() - reader.position()
        )));
    }
    Ok(value)
}

fn decode(r: &mut Reader<'_>, ty: &Type, depth: usize) -> Result<Value, CtyError> {
    if depth > MAX_DEPTH {
        return Err(CtyError::new(format!(
            "value nested more than {MAX_DEPTH} levels deep"
        )));
    }
    let item = r.item()?;
    match item {
        Item::Ext(code, payload) => return decode_unknown(code, payload, ty),
        Item::Nil => return Ok(Value::Null),
        _ => {}
    }
    match ty {
        Type::Dynamic => {
            let Item::Array(2) = item else {
                return Err(expected("a dynamic value ([type, value] array)", &item));
            };
            let type_item = r.item()?;
            let (Item::Str(type_json) | Item::Bin(type_json)) = type_item else {
                return Err(expected("a type in JSON", &type_item));
            };
            let inner_ty = parse_type_json(type_json)?;
            let inner = decode(r, &inner_ty, depth + 1)?;
            Ok(match inner_ty {
                Type::Dynamic => inner,
                _ => Value::Dynamic(inner_ty, Box::new(inner)),
            })
        }
        Type::String => match item {
            Item::Str(b) | Item::Bin(b) => Ok(Value::String(utf8(b, "a string")?.to_owned())),
            other => Err(expected("string", &other)),
        },
        Type::Number => number_from_item(&item).map(Value::Number),
        Type::Bool => match item {
            Item::Bool(b) => Ok(Value::Bool(b)),
            other => Err(expected("bool", &other)),
        },
        Type::List(element_type) | Type::Set(element_type) => {
            let Item::Array(len) = item else {
                return Err(expected(&type_name(ty), &item));
            };
            let mut elements = Vec::with_capacity(len);
            for i in 0..len {
                elements
                    .push(decode(r, element_type, depth + 1).map_err(|e| e.within(index_step(i)))?);
            }
            if matches!(ty, Type::Set(_)) {
                Ok(Value::Set(reorder_set(elements, element_type)?))
            } else {
                Ok(Value::List(elements))
            }
        }
        Type::Map(element_type) => {
            let Item::Map(len) = item else {
                return Err(expected(&type_name(ty), &item));
            };
            let mut elements = std::collections::BTreeMap::new();
            for _ in 0..len {
                let key = read_key(r)?;
                let element = decode(r, element_type, depth + 1)
                    .map_err(|e| e.within(PathStep::Key(key.clone())))?;
                if elements.insert(key.clone(), element).is_some() {
                    return Err(CtyError::new("duplicate map key").within(PathStep::Key(key)));
                }
            }
            Ok(Value::Map(elements))
        }
        Type::Object(attrs) => {
            let Item::Map(len) = item else {
                return Err(expected("object", &item));
            };
            if len != attrs.len() {
                return Err(CtyError::new(format!(
                    "an object with {} attributes is required ({len} given)",
                    attrs.len()
                )));
            }
            let mut values = std::collections::BTreeMap::new();
            for _ in 0..len {
                let name = read_key(r)?;
                let Some(attr_type) = attrs.get(&name) else {
                    return Err(
                        CtyError::new("unsupported attribute").within(PathStep::Attribute(name))
                    );
                };
                let value = decode(r, attr_type, depth + 1)
                    .map_err(|e| e.within(PathStep::Attribute(name.clone())))?;
                if values.insert(name.clone(), value).is_some() {
                    return Err(
                        CtyError::new("duplicate attribute").within(PathStep::Attribute(name))
                    );
                }
            }
            Ok(Value::Object(values))
        }
        Type::Tuple(types) => {
            let Item::Array(len) = item else {
                return Err(expected("tuple", &item));
            };
            if len != types.len() {
                return Err(CtyError::new(format!(
                    "a tuple of {} elements is required ({len} given)",
                    types.len()
                )));
            }
            let mut elements = Vec::with_capacity(len);
            for (i, element_type) in types.iter().enumerate() {
                elements
                    .push(decode(r, element_type, depth + 1).map_err(|e| e.within(index_step(i)))?);
            }
            Ok(Value::Tuple(elements))
        }
    }
}

fn read_key(r: &mut Reader<'_>) -> Result<String, CtyError> {
    match r.item()? {
        Item::Str(b) | Item::Bin(b) => Ok(utf8(b, "a map key")?.to_owned()),
        other => Err(expected("a string key", &other)),
    }
}

fn decode_unknown(code: i8, payload: &[u8], ty: &Type) -> Result<Value, CtyError> {
    // Any extension is an unknown; only code 12 with a payload longer than one byte carries
    // refinements. (go-cty rejects other codes with longer payloads; accepting them as plain
    // unknowns is the more forgiving reading of "every extension is an unknown".)
    if payload.len() <= 1 || code != REFINED_UNKNOWN_EXT {
        return Ok(Value::unknown());
    }
    if payload.len() > MAX_REFINEMENTS_LEN {
        return Err(CtyError::new(format!(
            "unknown value refinements of {} bytes are too long",
            payload.len()
        )));
    }
    let mut r = Reader::new(payload);
    let entries = match r.item()? {
        Item::Map(n) => n,
        other => return Err(expected("a map of refinements", &other)),
    };
    if *ty == Type::Dynamic {
        // A dynamic unknown cannot be refined; ignore whatever is there, as go-cty does.
        return Ok(Value::unknown());
    }
    let is_collection = matches!(ty, Type::List(_) | Type::Set(_) | Type::Map(_));
    let mut refinements = Refinements::default();
    let mut definitely_null = false;
    for _ in 0..entries {
        let key = match r.item()? {
            Item::Int(i) => i,
            Item::Uint(u) => i64::try_from(u).unwrap_or(i64::MAX),
            other => return Err(expected("an integer refinement key", &other)),
        };
        match key {
            KEY_NULLNESS => match r.item()? {
                Item::Bool(true) => definitely_null = true,
                Item::Bool(false) => refinements.not_null = true,
                other => return Err(expected("a bool nullness refinement", &other)),
            },
            KEY_STRING_PREFIX => {
                if *ty != Type::String {
                    return Err(CtyError::new(format!(
                        "a string prefix refinement on an unknown {}",
                        type_name(ty)
                    )));
                }
                let prefix = match r.item()? {
                    Item::Str(b) | Item::Bin(b) => utf8(b, "a string prefix refinement")?,
                    other => return Err(expected("a string prefix refinement", &other)),
                };
                refinements.string_prefix = (!prefix.is_empty()).then(|| prefix.to_owned());
            }
            KEY_NUMBER_MIN | KEY_NUMBER_MAX => {
                if *ty != Type::Number {
                    return Err(CtyError::new(format!(
                        "a number bound refinement on an unknown {}",
                        type_name(ty)
                    )));
                }
                let Item::Array(2) = r.item()? else {
                    return Err(CtyError::new(
                        "a number bound refinement must be a [number, bool] array",
                    ));
                };
                let bound = number_from_item(&r.item()?)?;
                let Item::Bool(inclusive) = r.item()? else {
                    return Err(CtyError::new(
                        "a number bound refinement must be a [number, bool] array",
                    ));
                };
                // Kept only when the encoder would write it back (see `bound_bytes`).
                let writable = bound_bytes(&bound).is_some();
                if key == KEY_NUMBER_MIN {
                    refinements.number_lower =
                        (writable && bound != Number::NegInfinity).then_some((bound, inclusive));
                } else {
                    refinements.number_upper =
                        (writable && bound != Number::PosInfinity).then_some((bound, inclusive));
                }
            }
            KEY_LENGTH_MIN | KEY_LENGTH_MAX => {
                if !is_collection {
                    return Err(CtyError::new(format!(
                        "a length refinement on an unknown {}",
                        type_name(ty)
                    )));
                }
                let length = match r.item()? {
                    Item::Int(i) => u64::try_from(i)
                        .map_err(|_| CtyError::new("a length refinement is negative"))?,
                    Item::Uint(u) => u,
                    other => return Err(expected("an integer length refinement", &other)),
                };
                if key == KEY_LENGTH_MIN {
                    refinements.length_min = (length > 0).then_some(length);
                } else {
                    refinements.length_max = (length < i64::MAX as u64).then_some(length);
                }
            }
            _ => r.skip()?,
        }
    }
    // Bytes after the map are ignored, as go-cty does, leaving room for later additions.
    if definitely_null {
        return Ok(Value::Null);
    }
    Ok(Value::Unknown(refinements))
}
