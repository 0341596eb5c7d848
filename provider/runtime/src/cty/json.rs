//! The JSON encoding of cty values: what `RawState.json` and the JSON half of `DynamicValue`
//! carry. Owns the mapping and a small type-driven JSON reader that keeps number text exact.
//!
//! The shapes are those of msgpack (see the `msgpack` module): null is `null`, lists, sets
//! and tuples are arrays, maps and objects are objects, numbers are JSON numbers written in
//! plain decimal notation, and a known value at a `dynamic` position is
//! `{"value": V, "type": T}`. JSON has no unknowns, so encoding one is an error, and no
//! infinities either.
//!
//! Reading follows go-cty's JSON decoder, which is more forgiving than its msgpack one: an
//! object attribute missing from the input is null; a number may also be given as a string, a
//! string as a number or bool, and a bool as `"true"`, `"false"`, `"1"` or `"0"`. Keys must not
//! repeat. The reader is its own (rather than `serde_json::Value`) so that numbers of any size
//! survive digit for digit without turning on serde_json's workspace-wide
//! `arbitrary_precision` feature; it never panics, rejects trailing text and bounds nesting.

use super::msgpack::{reorder_set, set_order, MAX_DEPTH};
use super::support::{
    check_attributes, check_tuple_len, check_type_depth, index_step, inferred_type, mismatch,
    parse_number_text, type_name, untyped_dynamic,
};
use super::{CtyError, Number, PathStep, Type, Value};
use std::collections::BTreeMap;

/// How deeply the JSON text itself may nest (values plus the types of dynamic values).
const MAX_JSON_DEPTH: usize = 2 * MAX_DEPTH;

/// Encodes a wholly known `value` as JSON for a position of type `ty`.
///
/// Type-checks like [`to_msgpack`](super::to_msgpack) and writes sets in the same canonical
/// order. An unknown anywhere, or an infinite number, is an error naming its path. At a
/// `dynamic` position a known value must be a [`Value::Dynamic`], except that a bare string,
/// number or bool is taken to have the obvious primitive type.
pub fn to_json(value: &Value, ty: &Type) -> Result<Vec<u8>, CtyError> {
    let mut out = Vec::new();
    encode(value, ty, &mut out)?;
    Ok(out)
}

/// Decodes JSON bytes as a value of type `ty`.
///
/// Known values at a `dynamic` position come back as [`Value::Dynamic`]; sets come back in
/// canonical order; attributes the input leaves out are null.
pub fn from_json(bytes: &[u8], ty: &Type) -> Result<Value, CtyError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| CtyError::new(format!("JSON input is not valid UTF-8: {e}")))?;
    let mut parser = Parser { text, pos: 0 };
    parser.skip_whitespace();
    let json = parser.value(0)?;
    parser.skip_whitespace();
    if parser.pos != text.len() {
        return Err(parser.error("trailing characters after the JSON value"));
    }
    decode(json, ty, 0)
}

// ------------------------------------------------------------------------------------------
// Writing

fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0x00..=0x1f => None,
            _ => continue,
        };
        out.extend_from_slice(&s.as_bytes()[start..i]);
        match escape {
            Some(e) => out.extend_from_slice(e),
            None => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
        }
        start = i + 1;
    }
    out.extend_from_slice(&s.as_bytes()[start..]);
    out.push(b'"');
}

fn encode(value: &Value, ty: &Type, out: &mut Vec<u8>) -> Result<(), CtyError> {
    match (ty, value) {
        (_, Value::Unknown(_)) => Err(CtyError::new(
            "value is not known; JSON cannot carry unknown values",
        )),
        (_, Value::Null) => {
            out.extend_from_slice(b"null");
            Ok(())
        }
        (Type::Dynamic, Value::Dynamic(Type::Dynamic, inner)) => encode(inner, ty, out),
        (Type::Dynamic, Value::Dynamic(inner_ty, inner)) => encode_dynamic(inner, inner_ty, out),
        (Type::Dynamic, v) => match inferred_type(v) {
            Some(inner_ty) => encode_dynamic(v, &inner_ty, out),
            None => Err(untyped_dynamic(v)),
        },
        (Type::String, Value::String(s)) => {
            write_string(s, out);
            Ok(())
        }
        (Type::Number, Value::Number(n)) => match n {
            Number::Finite(_) => {
                out.extend_from_slice(n.to_string().as_bytes());
                Ok(())
            }
            _ => Err(CtyError::new("JSON cannot carry an infinite number")),
        },
        (Type::Bool, Value::Bool(b)) => {
            out.extend_from_slice(if *b { b"true" } else { b"false" });
            Ok(())
        }
        (Type::List(element_type), Value::List(elements)) => {
            out.push(b'[');
            for (i, element) in elements.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                encode(element, element_type, out).map_err(|e| e.within(index_step(i)))?;
            }
            out.push(b']');
            Ok(())
        }
        (Type::Set(element_type), Value::Set(elements)) => {
            let order = set_order(elements, element_type)?;
            out.push(b'[');
            for (n, (i, _)) in order.into_iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                encode(&elements[i], element_type, out).map_err(|e| e.within(index_step(i)))?;
            }
            out.push(b']');
            Ok(())
        }
        (Type::Map(element_type), Value::Map(elements)) => {
            out.push(b'{');
            for (n, (key, element)) in elements.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                encode(element, element_type, out)
                    .map_err(|e| e.within(PathStep::Key(key.clone())))?;
            }
            out.push(b'}');
            Ok(())
        }
        (Type::Object(attrs), Value::Object(values)) => {
            check_attributes(attrs, values)?;
            out.push(b'{');
            for (n, (name, attr_type)) in attrs.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                write_string(name, out);
                out.push(b':');
                encode(&values[name], attr_type, out)
                    .map_err(|e| e.within(PathStep::Attribute(name.clone())))?;
            }
            out.push(b'}');
            Ok(())
        }
        (Type::Tuple(types), Value::Tuple(elements)) => {
            check_tuple_len(types, elements)?;
            out.push(b'[');
            for (i, (element, element_type)) in elements.iter().zip(types).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                encode(element, element_type, out).map_err(|e| e.within(index_step(i)))?;
            }
            out.push(b']');
            Ok(())
        }
        (ty, v) => Err(mismatch(ty, v)),
    }
}

/// `{"value":V,"type":T}`, in go-cty's key order.
fn encode_dynamic(value: &Value, ty: &Type, out: &mut Vec<u8>) -> Result<(), CtyError> {
    out.extend_from_slice(b"{\"value\":");
    encode(value, ty, out)?;
    out.extend_from_slice(b",\"type\":");
    out.extend_from_slice(&ty.to_json_bytes());
    out.push(b'}');
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Reading: JSON text to a tree that keeps number text, then the tree to a value by type.

/// Parsed JSON. Object members keep their order and may repeat (rejected when decoding).
enum Json<'a> {
    Null,
    Bool(bool),
    Number(&'a str),
    String(String),
    Array(Vec<Json<'a>>),
    Object(Vec<(String, Json<'a>)>),
}

impl Json<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "bool",
            Json::Number(_) => "number",
            Json::String(_) => "string",
            Json::Array(_) => "array",
            Json::Object(_) => "object",
        }
    }

    /// The same JSON as a `serde_json::Value` (for parsing a type).
    fn to_serde(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Json::Null => J::Null,
            Json::Bool(b) => J::Bool(*b),
            Json::Number(text) => serde_json::from_str(text).unwrap_or(J::Null),
            Json::String(s) => J::String(s.clone()),
            Json::Array(items) => J::Array(items.iter().map(Json::to_serde).collect()),
            Json::Object(members) => J::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_serde()))
                    .collect(),
            ),
        }
    }
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn error(&self, message: &str) -> CtyError {
        CtyError::new(format!("invalid JSON at byte {}: {message}", self.pos))
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect_literal(&mut self, literal: &str) -> Result<(), CtyError> {
        if self.text[self.pos..].starts_with(literal) {
            self.pos += literal.len();
            Ok(())
        } else {
            Err(self.error("unexpected characters"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json<'a>, CtyError> {
        if depth > MAX_JSON_DEPTH {
            return Err(self.error(&format!("nested more than {MAX_JSON_DEPTH} levels deep")));
        }
        match self.peek() {
            None => Err(self.error("unexpected end of input")),
            Some(b'n') => self.expect_literal("null").map(|()| Json::Null),
            Some(b't') => self.expect_literal("true").map(|()| Json::Bool(true)),
            Some(b'f') => self.expect_literal("false").map(|()| Json::Bool(false)),
            Some(b'"') => self.string().map(Json::String),
            Some(b'-' | b'0'..=b'9') => self.number().map(Json::Number),
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.skip_whitespace();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                loop {
                    self.skip_whitespace();
                    items.push(self.value(depth + 1)?);
                    self.skip_whitespace();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Json::Array(items));
                        }
                        _ => return Err(self.error("expected ',' or ']'")),
                    }
                }
            }
            Some(b'{') => {
                self.pos += 1;
                let mut members = Vec::new();
                self.skip_whitespace();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(Json::Object(members));
                }
                loop {
                    self.skip_whitespace();
                    if self.peek() != Some(b'"') {
                        return Err(self.error("expected a string key"));
                    }
                    let key = self.string()?;
                    self.skip_whitespace();
                    if self.peek() != Some(b':') {
                        return Err(self.error("expected ':'"));
                    }
                    self.pos += 1;
                    self.skip_whitespace();
                    members.push((key, self.value(depth + 1)?));
                    self.skip_whitespace();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(Json::Object(members));
                        }
                        _ => return Err(self.error("expected ',' or '}'")),
                    }
                }
            }
            Some(_) => Err(self.error("unexpected character")),
        }
    }

    /// A number token, checked against JSON's grammar, as its text.
    fn number(&mut self) -> Result<&'a str, CtyError> {
        let start = self.pos;
        let digits = |p: &mut Parser<'a>| {
            let from = p.pos;
            while let Some(b'0'..=b'9') = p.peek() {
                p.pos += 1;
            }
            p.pos - from
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(self.error("expected digits")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if digits(self) == 0 {
                return Err(self.error("expected digits after '.'"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(self.error("expected exponent digits"));
            }
        }
        Ok(&self.text[start..self.pos])
    }

    fn hex4(&mut self) -> Result<u32, CtyError> {
        let hex = self
            .text
            .get(self.pos..self.pos + 4)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| self.error("expected four hex digits after \\u"))?;
        self.pos += 4;
        u32::from_str_radix(hex, 16).map_err(|_| self.error("bad \\u escape"))
    }

    /// A string token (the cursor is on its opening quote), unescaped. Lone surrogates in
    /// `\u` escapes become U+FFFD, as Go's decoder makes them.
    fn string(&mut self) -> Result<String, CtyError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.text[start..self.pos]);
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escape = self
                        .peek()
                        .ok_or_else(|| self.error("unterminated string"))?;
                    self.pos += 1;
                    match escape {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let unit = self.hex4()?;
                            let c = if (0xd800..0xdc00).contains(&unit)
                                && self.text[self.pos..].starts_with("\\u")
                            {
                                let saved = self.pos;
                                self.pos += 2;
                                let low = self.hex4()?;
                                if (0xdc00..0xe000).contains(&low) {
                                    char::from_u32(
                                        0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00),
                                    )
                                } else {
                                    self.pos = saved;
                                    None
                                }
                            } else {
                                char::from_u32(unit)
                            };
                            out.push(c.unwrap_or('\u{fffd}'));
                        }
                        _ => return Err(self.error("invalid escape")),
                    }
                }
                Some(_) => return Err(self.error("control character in string")),
            }
        }
    }
}

fn found(expected: &str, json: &Json<'_>) -> CtyError {
    CtyError::new(format!("expected {expected}, found {}", json.kind()))
}

fn decode(json: Json<'_>, ty: &Type, depth: usize) -> Result<Value, CtyError> {
    if depth > MAX_DEPTH {
        return Err(CtyError::new(format!(
            "value nested more than {MAX_DEPTH} levels deep"
        )));
    }
    if let Json::Null = json {
        return Ok(Value::Null);
    }
    match ty {
        Type::Dynamic => {
            let Json::Object(members) = json else {
                return Err(found(
                    "a dynamic value ({\"value\": V, \"type\": T})",
                    &json,
                ));
            };
            let mut inner_ty = None;
            let mut inner = None;
            for (key, member) in members {
                let slot_taken = match key.as_str() {
                    "type" => inner_ty.replace(member).is_some(),
                    "value" => inner.replace(member).is_some(),
                    other => {
                        return Err(CtyError::new(format!(
                            "invalid key {other:?} in a dynamically-typed value"
                        )))
                    }
                };
                if slot_taken {
                    return Err(CtyError::new(format!(
                        "duplicate key {key:?} in a dynamically-typed value"
                    )));
                }
            }
            let inner_ty = inner_ty
                .ok_or_else(|| CtyError::new("missing type in a dynamically-typed value"))?;
            let inner =
                inner.ok_or_else(|| CtyError::new("missing value in a dynamically-typed value"))?;
            let inner_ty = check_type_depth(Type::from_json(&inner_ty.to_serde())?)?;
            let inner = decode(inner, &inner_ty, depth + 1)?;
            Ok(match inner_ty {
                Type::Dynamic => inner,
                _ => Value::Dynamic(inner_ty, Box::new(inner)),
            })
        }
        Type::String => match json {
            Json::String(s) => Ok(Value::String(s)),
            Json::Number(text) => Ok(Value::String(text.to_owned())),
            Json::Bool(b) => Ok(Value::String(b.to_string())),
            other => Err(found("string", &other)),
        },
        Type::Number => match json {
            Json::Number(text) => parse_number_text(text),
            Json::String(text) => parse_number_text(&text),
            other => return Err(found("number", &other)),
        }
        .map(Value::Number)
        .map_err(CtyError::new),
        Type::Bool => match json {
            Json::Bool(b) => Ok(Value::Bool(b)),
            Json::String(s) if s == "true" || s == "1" => Ok(Value::Bool(true)),
            Json::String(s) if s == "false" || s == "0" => Ok(Value::Bool(false)),
            other => Err(found("bool", &other)),
        },
        Type::List(element_type) | Type::Set(element_type) => {
            let Json::Array(items) = json else {
                return Err(found(&type_name(ty), &json));
            };
            let mut elements = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                elements.push(
                    decode(item, element_type, depth + 1).map_err(|e| e.within(index_step(i)))?,
                );
            }
            if matches!(ty, Type::Set(_)) {
                Ok(Value::Set(reorder_set(elements, element_type)?))
            } else {
                Ok(Value::List(elements))
            }
        }
        Type::Map(element_type) => {
            let Json::Object(members) = json else {
                return Err(found(&type_name(ty), &json));
            };
            let mut elements = BTreeMap::new();
            for (key, member) in members {
                let element = decode(member, element_type, depth + 1)
                    .map_err(|e| e.within(PathStep::Key(key.clone())))?;
                if elements.insert(key.clone(), element).is_some() {
                    return Err(CtyError::new("duplicate map key").within(PathStep::Key(key)));
                }
            }
            Ok(Value::Map(elements))
        }
        Type::Object(attrs) => {
            let Json::Object(members) = json else {
                return Err(found("object", &json));
            };
            let mut values = BTreeMap::new();
            for (name, member) in members {
                let Some(attr_type) = attrs.get(&name) else {
                    return Err(
                        CtyError::new("unsupported attribute").within(PathStep::Attribute(name))
                    );
                };
                let value = decode(member, attr_type, depth + 1)
                    .map_err(|e| e.within(PathStep::Attribute(name.clone())))?;
                if values.insert(name.clone(), value).is_some() {
                    return Err(
                        CtyError::new("duplicate attribute").within(PathStep::Attribute(name))
                    );
                }
            }
            for name in attrs.keys() {
                values.entry(name.clone()).or_insert(Value::Null);
            }
            Ok(Value::Object(values))
        }
        Type::Tuple(types) => {
            let Json::Array(items) = json else {
                return Err(found("tuple", &json));
            };
            if items.len() != types.len() {
                return Err(CtyError::new(format!(
                    "a tuple of {} elements is required ({} given)",
                    types.len(),
                    items.len()
                )));
            }
            let mut elements = Vec::with_capacity(items.len());
            for (i, (item, element_type)) in items.into_iter().zip(types).enumerate() {
                elements.push(
                    decode(item, element_type, depth + 1).map_err(|e| e.within(index_step(i)))?,
                );
            }
            Ok(Value::Tuple(elements))
        }
    }
}
