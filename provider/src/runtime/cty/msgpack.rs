//! The msgpack encoding of cty values: what `DynamicValue.msgpack` carries between Terraform and
//! the provider. Owns the wire mapping (nulls, unknowns and their refinements, numbers, dynamic
//! values), the canonical order of set elements, and the number-text parser both codecs share.
//!
//! The mapping, as Terraform (go-cty `cty/msgpack`) speaks it:
//!
//! - null of any type is msgpack nil.
//! - An unknown is a msgpack extension. On input *any* extension is an unknown; a refined
//!   unknown is extension code 12 whose payload is a map with integer keys: 1 = is-null (a bool;
//!   `false` means "definitely not null", `true` collapses the value to null), 2 = string prefix,
//!   3 / 4 = number lower / upper bound as `[number, inclusive]`, 5 / 6 = collection length
//!   minimum / maximum; unknown keys are skipped. The encoder writes a plain unknown as the
//!   three bytes `d4 00 00` and never writes code 12 with an empty map.
//! - Numbers are written as an int when they are an exact `i64`, as a float64 when they are not
//!   an integer and a float64 holds them exactly, else as a string of decimal digits; the
//!   infinities are float64 infinities. Any msgpack number, or a string, is read; a float is
//!   read as its exact value.
//! - Lists, sets and tuples are arrays; maps and objects are maps with string keys. Every
//!   attribute of an object type must be present, and object attributes are written sorted.
//! - A known value at a `dynamic` position is the array `[type JSON as bin, value]`; a null or
//!   wholly unknown one is plain nil or a plain unknown.
//!
//! Decoding is driven by the type, never panics, rejects trailing bytes, bounds nesting at
//! [`MAX_DEPTH`] and never allocates more than the input could fill.

use super::{CtyError, Number, PathStep, Refinements, Type, Value};
use bigdecimal::num_bigint::{BigInt, Sign};
use bigdecimal::{BigDecimal, Zero};
use std::cmp::Ordering;
use std::str::FromStr;

/// How deeply values may nest (each list, set, map, object, tuple or dynamic wrapper is one
/// level) when decoding, and how deep the type of a dynamic value may be.
pub const MAX_DEPTH: usize = 64;

/// Longest refinement payload accepted (go-cty's limit too).
const MAX_REFINEMENTS_LEN: usize = 1024;
/// Longest string-prefix refinement written (go-cty's limit too); longer ones are shortened.
const MAX_PREFIX_LEN: usize = 256;
/// Longest encoding of a number bound refinement written; longer bounds are dropped.
const MAX_BOUND_LEN: usize = 256;
/// Longest number text accepted.
const MAX_NUMBER_TEXT: usize = 4096;
/// Largest decimal exponent accepted in number text (checked before any big-number work).
const MAX_EXPONENT: u64 = 4096;
/// Most digits a decoded number may have in plain notation (significant digits plus the zeros
/// its exponent adds), so that every decoded number is written back as text the decoder takes.
const MAX_PLAIN_DIGITS: u64 = 4000;

/// The extension code of an unknown with refinements.
const REFINED_UNKNOWN_EXT: i8 = 12;
/// A plain unknown: fixext1, code 0, one zero byte.
const PLAIN_UNKNOWN: [u8; 3] = [0xd4, 0x00, 0x00];

const KEY_NULLNESS: i64 = 1;
const KEY_STRING_PREFIX: i64 = 2;
const KEY_NUMBER_MIN: i64 = 3;
const KEY_NUMBER_MAX: i64 = 4;
const KEY_LENGTH_MIN: i64 = 5;
const KEY_LENGTH_MAX: i64 = 6;

/// Encodes `value` as msgpack for a position of type `ty`.
///
/// The value must fit the type: every object attribute present, tuple lengths right, no
/// refinement that makes no sense for the type (a string prefix on a number, say). A mismatch is
/// an error naming the path to it. Sets are written sorted and without duplicates (see
/// [`canonicalize`]). At a `dynamic` position a known value must be a [`Value::Dynamic`] that
/// says its type, except that a bare string, number or bool is taken to have the obvious
/// primitive type. Refinements of an unknown at a `dynamic` position are dropped (the wire
/// format has no place for them).
pub fn to_msgpack(value: &Value, ty: &Type) -> Result<Vec<u8>, CtyError> {
    let mut out = Vec::new();
    encode(value, ty, &mut out)?;
    Ok(out)
}

/// Decodes msgpack bytes as a value of type `ty`.
///
/// Empty input is an error (the caller decides what an absent value means). Known values at a
/// `dynamic` position come back as [`Value::Dynamic`]; sets come back in canonical order.
pub fn from_msgpack(bytes: &[u8], ty: &Type) -> Result<Value, CtyError> {
    if bytes.is_empty() {
        return Err(CtyError::new("empty msgpack input"));
    }
    let mut reader = Reader::new(bytes);
    let value = decode(&mut reader, ty, 0)?;
    if reader.pos != bytes.len() {
        return Err(CtyError::new(format!(
            "{} trailing bytes after the msgpack value",
            bytes.len() - reader.pos
        )));
    }
    Ok(value)
}

/// The canonical form of `value` at type `ty`: what decoding its encoding gives back.
///
/// Type-checks like [`to_msgpack`], then: set elements are sorted and duplicates among wholly
/// known elements dropped (elements containing unknowns are never equal to anything, as in
/// cty); bare primitives at `dynamic` positions become [`Value::Dynamic`]; refinements that
/// carry no information (an empty prefix, a zero minimum length, an infinite outward number
/// bound) are dropped, as are number bounds whose encoding would exceed 256 bytes, and string
/// prefixes are cut to 256 bytes.
///
/// Set order: known non-null elements first, then unknowns, then null; in a set of strings,
/// numbers or bools, strings by their bytes, numbers by value and `false` before `true`; in any
/// other set, and to break ties, by msgpack bytes.
pub fn canonicalize(value: &Value, ty: &Type) -> Result<Value, CtyError> {
    from_msgpack(&to_msgpack(value, ty)?, ty)
}

// ------------------------------------------------------------------------------------------
// Shared helpers (also used by the JSON codec)

/// A short human name for a type, for error messages: `string`, `list of number`, `object`.
pub(super) fn type_name(ty: &Type) -> String {
    match ty {
        Type::String => "string".into(),
        Type::Number => "number".into(),
        Type::Bool => "bool".into(),
        Type::Dynamic => "dynamic".into(),
        Type::List(e) => format!("list of {}", type_name(e)),
        Type::Set(e) => format!("set of {}", type_name(e)),
        Type::Map(e) => format!("map of {}", type_name(e)),
        Type::Object(_) => "object".into(),
        Type::Tuple(_) => "tuple".into(),
    }
}

/// A short human name for what a value is, for error messages.
pub(super) fn value_kind(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Unknown(_) => "unknown".into(),
        Value::String(_) => "string".into(),
        Value::Number(_) => "number".into(),
        Value::Bool(_) => "bool".into(),
        Value::List(_) => "list".into(),
        Value::Set(_) => "set".into(),
        Value::Map(_) => "map".into(),
        Value::Object(_) => "object".into(),
        Value::Tuple(_) => "tuple".into(),
        Value::Dynamic(t, _) => format!("dynamic value of type {}", type_name(t)),
    }
}

/// The error for a value that does not fit its type.
pub(super) fn mismatch(ty: &Type, value: &Value) -> CtyError {
    CtyError::new(format!(
        "expected {}, found {}",
        type_name(ty),
        value_kind(value)
    ))
}

/// The error for a known value at a dynamic position that does not say its type.
pub(super) fn untyped_dynamic(value: &Value) -> CtyError {
    CtyError::new(format!(
        "a known {} at a dynamic position must be a Value::Dynamic carrying its type",
        value_kind(value)
    ))
}

/// How deeply a type nests (a primitive is 1).
pub(super) fn type_depth(ty: &Type) -> usize {
    1 + match ty {
        Type::String | Type::Number | Type::Bool | Type::Dynamic => 0,
        Type::List(e) | Type::Set(e) | Type::Map(e) => type_depth(e),
        Type::Object(attrs) => attrs.values().map(type_depth).max().unwrap_or(0),
        Type::Tuple(elems) => elems.iter().map(type_depth).max().unwrap_or(0),
    }
}

/// The type a bare primitive value at a dynamic position is taken to have.
pub(super) fn inferred_type(value: &Value) -> Option<Type> {
    match value {
        Value::String(_) => Some(Type::String),
        Value::Number(_) => Some(Type::Number),
        Value::Bool(_) => Some(Type::Bool),
        _ => None,
    }
}

/// Checks that an object value has exactly the attributes of its type.
pub(super) fn check_attributes(
    attrs: &std::collections::BTreeMap<String, Type>,
    values: &std::collections::BTreeMap<String, Value>,
) -> Result<(), CtyError> {
    if let Some(name) = attrs.keys().find(|n| !values.contains_key(*n)) {
        return Err(CtyError::new(
            "missing attribute: every attribute of an object type must be present (use Value::Null)",
        )
        .within(PathStep::Attribute(name.clone())));
    }
    if let Some(name) = values.keys().find(|n| !attrs.contains_key(*n)) {
        return Err(
            CtyError::new("unsupported attribute").within(PathStep::Attribute(name.clone()))
        );
    }
    Ok(())
}

/// Parses number text: decimal notation with optional sign, fraction and exponent (`12`,
/// `-0.5`, `1e300`, `.5`), or an infinity (`Inf`, `+Inf`, `-Infinity`, any case). Rejects text
/// longer than 4096 bytes and numbers needing more than 4000 digits in plain notation, so that
/// no input can make a number whose plain notation is huge.
pub(super) fn parse_number_text(text: &str) -> Result<Number, String> {
    if text.len() > MAX_NUMBER_TEXT {
        return Err(format!("number text of {} bytes is too long", text.len()));
    }
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity") {
        return Ok(if negative {
            Number::NegInfinity
        } else {
            Number::PosInfinity
        });
    }
    let bytes = unsigned.as_bytes();
    let mut i = 0;
    let mut digits = 0;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return Err(format!("{text:?} is not a number"));
    }
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        i += 1;
        if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
            i += 1;
        }
        let start = i;
        let mut exponent: u64 = 0;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            exponent = exponent
                .saturating_mul(10)
                .saturating_add(u64::from(bytes[i] - b'0'));
            i += 1;
        }
        if i == start {
            return Err(format!("{text:?} is not a number"));
        }
        if exponent > MAX_EXPONENT {
            return Err(format!("{text:?} is out of range"));
        }
    }
    if i != bytes.len() {
        return Err(format!("{text:?} is not a number"));
    }
    let d = BigDecimal::from_str(text)
        .map_err(|e| format!("{text:?} is not a number: {e}"))?
        .normalized();
    check_plain_size(d).map_err(|()| format!("{text:?} is out of range"))
}

/// A finite number, unless its plain notation would need more than [`MAX_PLAIN_DIGITS`].
fn check_plain_size(d: BigDecimal) -> Result<Number, ()> {
    let (_, scale) = d.as_bigint_and_exponent();
    if d.digits().saturating_add(scale.unsigned_abs()) > MAX_PLAIN_DIGITS {
        return Err(());
    }
    Ok(Number::Finite(d))
}

/// The exact value of a float (not its shortest decimal form): a float64 from go-cty is the
/// exact value of its number, and answering with a nearby decimal would change the value.
fn exact_float(f: f64) -> Option<Number> {
    if f.is_nan() {
        return None;
    }
    if f.is_infinite() {
        return Some(if f > 0.0 {
            Number::PosInfinity
        } else {
            Number::NegInfinity
        });
    }
    let bits = f.to_bits();
    let biased = i64::try_from((bits >> 52) & 0x7ff).ok()?;
    let fraction = bits & ((1u64 << 52) - 1);
    let (mantissa, exponent) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), biased - 1075)
    };
    let mut digits = BigInt::from(mantissa);
    if f.is_sign_negative() {
        digits = -digits;
    }
    let d = if exponent >= 0 {
        BigDecimal::new(digits << usize::try_from(exponent).ok()?, 0)
    } else {
        // m × 2^-k = m × 5^k / 10^k
        let k = u32::try_from(-exponent).ok()?;
        BigDecimal::new(digits * BigInt::from(5u8).pow(k), i64::from(k))
    };
    check_plain_size(d.normalized()).ok()
}

/// The canonical order of a set's elements: the indexes of the elements to keep, in order, with
/// each kept element's msgpack encoding. Duplicates among wholly known elements are dropped.
pub(super) fn set_order(
    elements: &[Value],
    element_type: &Type,
) -> Result<Vec<(usize, Vec<u8>)>, CtyError> {
    let mut entries = Vec::with_capacity(elements.len());
    for (i, element) in elements.iter().enumerate() {
        let mut bytes = Vec::new();
        encode(element, element_type, &mut bytes).map_err(|e| e.within(index_step(i)))?;
        entries.push((i, bytes));
    }
    let natural = matches!(element_type, Type::String | Type::Number | Type::Bool);
    entries.sort_by(|(a, a_bytes), (b, b_bytes)| {
        compare_set_elements(&elements[*a], a_bytes, &elements[*b], b_bytes, natural)
    });
    entries.dedup_by(|(later, later_bytes), (earlier, earlier_bytes)| {
        later_bytes == earlier_bytes
            && elements[*later].is_wholly_known()
            && elements[*earlier].is_wholly_known()
    });
    Ok(entries)
}

/// Orders two set elements (given with their encodings): known non-null elements first, then
/// unknowns, then nulls; elements of a primitive set type by their natural order (when
/// `natural`), everything else by its bytes.
fn compare_set_elements(
    a: &Value,
    a_bytes: &[u8],
    b: &Value,
    b_bytes: &[u8],
    natural: bool,
) -> Ordering {
    fn class(v: &Value) -> u8 {
        match v {
            Value::Dynamic(_, inner) => class(inner),
            Value::Null => 2,
            Value::Unknown(_) => 1,
            _ => 0,
        }
    }
    fn natural_order(a: &Value, b: &Value) -> Option<Ordering> {
        match (a, b) {
            (Value::String(x), Value::String(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
            (Value::Number(x), Value::Number(y)) => Some(x.cmp(y)),
            (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
            _ => None,
        }
    }
    class(a)
        .cmp(&class(b))
        .then_with(|| {
            natural
                .then(|| natural_order(a, b))
                .flatten()
                .unwrap_or(Ordering::Equal)
        })
        .then_with(|| a_bytes.cmp(b_bytes))
}

fn index_step(i: usize) -> PathStep {
    PathStep::Index(i64::try_from(i).unwrap_or(i64::MAX))
}

// ------------------------------------------------------------------------------------------
// Writing

fn encode(value: &Value, ty: &Type, out: &mut Vec<u8>) -> Result<(), CtyError> {
    match (ty, value) {
        (_, Value::Null) => {
            out.push(0xc0);
            Ok(())
        }
        (Type::Dynamic, Value::Unknown(_)) => {
            out.extend_from_slice(&PLAIN_UNKNOWN);
            Ok(())
        }
        (_, Value::Unknown(refinements)) => encode_unknown(refinements, ty, out),
        (Type::Dynamic, Value::Dynamic(Type::Dynamic, inner)) => encode(inner, ty, out),
        (Type::Dynamic, Value::Dynamic(inner_ty, inner)) => {
            write_array_len(2, out)?;
            write_bin(&inner_ty.to_json_bytes(), out)?;
            encode(inner, inner_ty, out)
        }
        (Type::Dynamic, v) => match inferred_type(v) {
            Some(inner_ty) => {
                write_array_len(2, out)?;
                write_bin(&inner_ty.to_json_bytes(), out)?;
                encode(v, &inner_ty, out)
            }
            None => Err(untyped_dynamic(v)),
        },
        (Type::String, Value::String(s)) => write_str(s, out),
        (Type::Number, Value::Number(n)) => write_number(n, out),
        (Type::Bool, Value::Bool(b)) => {
            out.push(if *b { 0xc3 } else { 0xc2 });
            Ok(())
        }
        (Type::List(element_type), Value::List(elements)) => {
            write_array_len(elements.len(), out)?;
            for (i, element) in elements.iter().enumerate() {
                encode(element, element_type, out).map_err(|e| e.within(index_step(i)))?;
            }
            Ok(())
        }
        (Type::Set(element_type), Value::Set(elements)) => {
            let ordered = set_order(elements, element_type)?;
            write_array_len(ordered.len(), out)?;
            for (_, bytes) in ordered {
                out.extend_from_slice(&bytes);
            }
            Ok(())
        }
        (Type::Map(element_type), Value::Map(elements)) => {
            write_map_len(elements.len(), out)?;
            for (key, element) in elements {
                write_str(key, out)?;
                encode(element, element_type, out)
                    .map_err(|e| e.within(PathStep::Key(key.clone())))?;
            }
            Ok(())
        }
        (Type::Object(attrs), Value::Object(values)) => {
            check_attributes(attrs, values)?;
            write_map_len(attrs.len(), out)?;
            for (name, attr_type) in attrs {
                write_str(name, out)?;
                encode(&values[name], attr_type, out)
                    .map_err(|e| e.within(PathStep::Attribute(name.clone())))?;
            }
            Ok(())
        }
        (Type::Tuple(types), Value::Tuple(elements)) => {
            if types.len() != elements.len() {
                return Err(CtyError::new(format!(
                    "expected a tuple of {} elements, found {}",
                    types.len(),
                    elements.len()
                )));
            }
            write_array_len(elements.len(), out)?;
            for (i, (element, element_type)) in elements.iter().zip(types).enumerate() {
                encode(element, element_type, out).map_err(|e| e.within(index_step(i)))?;
            }
            Ok(())
        }
        (ty, v) => Err(mismatch(ty, v)),
    }
}

fn encode_unknown(r: &Refinements, ty: &Type, out: &mut Vec<u8>) -> Result<(), CtyError> {
    let is_collection = matches!(ty, Type::List(_) | Type::Set(_) | Type::Map(_));
    if r.string_prefix.is_some() && *ty != Type::String {
        return Err(CtyError::new(format!(
            "a string prefix refinement on an unknown {}",
            type_name(ty)
        )));
    }
    if (r.number_lower.is_some() || r.number_upper.is_some()) && *ty != Type::Number {
        return Err(CtyError::new(format!(
            "a number bound refinement on an unknown {}",
            type_name(ty)
        )));
    }
    if (r.length_min.is_some() || r.length_max.is_some()) && !is_collection {
        return Err(CtyError::new(format!(
            "a length refinement on an unknown {}",
            type_name(ty)
        )));
    }

    let mut body = Vec::new();
    let mut count = 0;
    if r.not_null {
        count += 1;
        write_int(KEY_NULLNESS, &mut body);
        body.push(0xc2); // false: definitely not null
    }
    if let Some(prefix) = r.string_prefix.as_deref().filter(|p| !p.is_empty()) {
        count += 1;
        write_int(KEY_STRING_PREFIX, &mut body);
        write_str(shorten_prefix(prefix), &mut body)?;
    }
    if let Some((bound, inclusive)) = r.number_lower.as_ref() {
        if let Some(bytes) = bound_bytes(bound).filter(|_| *bound != Number::NegInfinity) {
            count += 1;
            write_int(KEY_NUMBER_MIN, &mut body);
            write_array_len(2, &mut body)?;
            body.extend_from_slice(&bytes);
            body.push(if *inclusive { 0xc3 } else { 0xc2 });
        }
    }
    if let Some((bound, inclusive)) = r.number_upper.as_ref() {
        if let Some(bytes) = bound_bytes(bound).filter(|_| *bound != Number::PosInfinity) {
            count += 1;
            write_int(KEY_NUMBER_MAX, &mut body);
            write_array_len(2, &mut body)?;
            body.extend_from_slice(&bytes);
            body.push(if *inclusive { 0xc3 } else { 0xc2 });
        }
    }
    if let Some(min) = r.length_min.filter(|m| *m > 0) {
        count += 1;
        write_int(KEY_LENGTH_MIN, &mut body);
        write_uint(min, &mut body);
    }
    if let Some(max) = r.length_max.filter(|m| *m < i64::MAX as u64) {
        count += 1;
        write_int(KEY_LENGTH_MAX, &mut body);
        write_uint(max, &mut body);
    }
    if count == 0 {
        out.extend_from_slice(&PLAIN_UNKNOWN);
        return Ok(());
    }
    let mut payload = Vec::with_capacity(body.len() + 1);
    write_map_len(count, &mut payload)?;
    payload.extend_from_slice(&body);
    write_ext(REFINED_UNKNOWN_EXT, &payload, out)
}

/// A string prefix cut to at most 256 bytes, at a character boundary.
fn shorten_prefix(prefix: &str) -> &str {
    if prefix.len() <= MAX_PREFIX_LEN {
        return prefix;
    }
    let mut end = MAX_PREFIX_LEN - 1;
    while !prefix.is_char_boundary(end) {
        end -= 1;
    }
    &prefix[..end]
}

/// A number bound's msgpack form, when it is short enough to write: a bound whose digits take
/// more than 256 bytes is dropped (a weaker refinement is still true), which keeps every
/// refinement payload within the 1024 bytes decoders accept.
fn bound_bytes(bound: &Number) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    write_number(bound, &mut bytes).ok()?;
    (bytes.len() <= MAX_BOUND_LEN).then_some(bytes)
}

fn write_number(n: &Number, out: &mut Vec<u8>) -> Result<(), CtyError> {
    match n {
        Number::PosInfinity => write_f64(f64::INFINITY, out),
        Number::NegInfinity => write_f64(f64::NEG_INFINITY, out),
        Number::Finite(d) => {
            let d = d.normalized();
            let (digits, scale) = d.as_bigint_and_exponent();
            if scale <= 0 {
                // An integer; `scale >= -18` keeps the conversion cheap for huge exponents.
                if scale >= -18 {
                    let ten_pow = BigInt::from(10u8).pow(u32::try_from(-scale).unwrap_or(0));
                    if let Ok(i) = i64::try_from(&(&digits * ten_pow)) {
                        write_int(i, out);
                        return Ok(());
                    }
                }
            } else if let Some(f) = exact_f64(&digits, scale) {
                write_f64(f, out);
                return Ok(());
            }
            write_str(&d.to_plain_string(), out)?;
        }
    }
    Ok(())
}

/// `digits × 10^-scale` (with `scale > 0`, not an integer) as an `f64`, when an `f64` holds
/// it exactly.
fn exact_f64(digits: &BigInt, scale: i64) -> Option<f64> {
    // digits / 10^s is dyadic only when 5^s divides digits; the result is then
    // (digits / 5^s) / 2^s, and fits an f64 when its odd part has at most 53 bits and its
    // lowest bit is no finer than 2^-1074.
    if scale > 1074 {
        return None;
    }
    let scale_u32 = u32::try_from(scale).ok()?;
    let five_pow = BigInt::from(5u8).pow(scale_u32);
    if !(digits % &five_pow).is_zero() {
        return None;
    }
    let mut mantissa = digits / &five_pow;
    let twos = mantissa.trailing_zeros()?;
    mantissa >>= twos;
    let mut exponent = -scale + i64::try_from(twos).ok()?;
    if mantissa.bits() > 53 || exponent < -1074 {
        return None;
    }
    let (sign, magnitude) = mantissa.into_parts();
    let magnitude = u64::try_from(magnitude).ok()?;
    // Exact: at most 53 bits.
    #[allow(clippy::cast_precision_loss)]
    let mut f = magnitude as f64;
    while exponent < -1000 {
        f *= f64::from_bits(23u64 << 52); // 2^-1000
        exponent += 1000;
    }
    let exponent_bits = u64::try_from(1023 + exponent).ok()?;
    f *= f64::from_bits(exponent_bits << 52);
    Some(if sign == Sign::Minus { -f } else { f })
}

// The wire forms come from `rmp`, which always picks the most compact one; writing into a
// `Vec` cannot fail, so only the lengths msgpack cannot express are errors.

fn write_int(i: i64, out: &mut Vec<u8>) {
    let _ = rmp::encode::write_sint(out, i);
}

fn write_uint(u: u64, out: &mut Vec<u8>) {
    let _ = rmp::encode::write_uint(out, u);
}

fn write_f64(f: f64, out: &mut Vec<u8>) {
    let _ = rmp::encode::write_f64(out, f);
}

fn too_long(what: &str, len: usize) -> CtyError {
    CtyError::new(format!("{what} of length {len} is too long for msgpack"))
}

fn length(what: &str, len: usize) -> Result<u32, CtyError> {
    u32::try_from(len).map_err(|_| too_long(what, len))
}

fn write_str(s: &str, out: &mut Vec<u8>) -> Result<(), CtyError> {
    let _ = rmp::encode::write_str_len(out, length("a string", s.len())?);
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn write_bin(b: &[u8], out: &mut Vec<u8>) -> Result<(), CtyError> {
    let _ = rmp::encode::write_bin_len(out, length("a type", b.len())?);
    out.extend_from_slice(b);
    Ok(())
}

fn write_array_len(len: usize, out: &mut Vec<u8>) -> Result<(), CtyError> {
    let _ = rmp::encode::write_array_len(out, length("a collection", len)?);
    Ok(())
}

fn write_map_len(len: usize, out: &mut Vec<u8>) -> Result<(), CtyError> {
    let _ = rmp::encode::write_map_len(out, length("a map", len)?);
    Ok(())
}

fn write_ext(code: i8, payload: &[u8], out: &mut Vec<u8>) -> Result<(), CtyError> {
    let _ = rmp::encode::write_ext_meta(out, length("an extension", payload.len())?, code);
    out.extend_from_slice(payload);
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Reading

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

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn truncated() -> CtyError {
    CtyError::new("unexpected end of msgpack input")
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CtyError> {
        if n > self.remaining() {
            return Err(truncated());
        }
        let bytes = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CtyError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, CtyError> {
        Ok(self.array::<1>()?[0])
    }

    fn len16(&mut self) -> Result<usize, CtyError> {
        Ok(usize::from(u16::from_be_bytes(self.array()?)))
    }

    fn len32(&mut self) -> Result<usize, CtyError> {
        usize::try_from(u32::from_be_bytes(self.array()?)).map_err(|_| truncated())
    }

    /// A length-prefixed run of bytes.
    fn bytes(&mut self, len: usize) -> Result<&'a [u8], CtyError> {
        self.take(len)
    }

    /// An array or map header; `per_element` is the fewest bytes one element can take, so a
    /// length the rest of the input cannot hold fails here, before anything is allocated.
    fn container(&mut self, len: usize, per_element: usize) -> Result<usize, CtyError> {
        if len.saturating_mul(per_element) > self.remaining() {
            return Err(CtyError::new(format!(
                "msgpack header claims {len} elements but only {} bytes remain",
                self.remaining()
            )));
        }
        Ok(len)
    }

    fn ext(&mut self, len: usize) -> Result<Item<'a>, CtyError> {
        let code = i8::from_be_bytes(self.array()?);
        Ok(Item::Ext(code, self.take(len)?))
    }

    fn item(&mut self) -> Result<Item<'a>, CtyError> {
        let marker = self.u8()?;
        Ok(match marker {
            0x00..=0x7f => Item::Int(i64::from(marker)),
            0x80..=0x8f => Item::Map(self.container(usize::from(marker & 0x0f), 2)?),
            0x90..=0x9f => Item::Array(self.container(usize::from(marker & 0x0f), 1)?),
            0xa0..=0xbf => Item::Str(self.bytes(usize::from(marker & 0x1f))?),
            0xc0 => Item::Nil,
            0xc1 => return Err(CtyError::new("invalid msgpack marker 0xc1")),
            0xc2 => Item::Bool(false),
            0xc3 => Item::Bool(true),
            0xc4 => {
                let len = usize::from(self.u8()?);
                Item::Bin(self.bytes(len)?)
            }
            0xc5 => {
                let len = self.len16()?;
                Item::Bin(self.bytes(len)?)
            }
            0xc6 => {
                let len = self.len32()?;
                Item::Bin(self.bytes(len)?)
            }
            0xc7 => {
                let len = usize::from(self.u8()?);
                self.ext(len)?
            }
            0xc8 => {
                let len = self.len16()?;
                self.ext(len)?
            }
            0xc9 => {
                let len = self.len32()?;
                self.ext(len)?
            }
            0xca => Item::F32(f32::from_be_bytes(self.array()?)),
            0xcb => Item::F64(f64::from_be_bytes(self.array()?)),
            0xcc => Item::Uint(u64::from(self.u8()?)),
            0xcd => Item::Uint(u64::from(u16::from_be_bytes(self.array()?))),
            0xce => Item::Uint(u64::from(u32::from_be_bytes(self.array()?))),
            0xcf => Item::Uint(u64::from_be_bytes(self.array()?)),
            0xd0 => Item::Int(i64::from(i8::from_be_bytes(self.array()?))),
            0xd1 => Item::Int(i64::from(i16::from_be_bytes(self.array()?))),
            0xd2 => Item::Int(i64::from(i32::from_be_bytes(self.array()?))),
            0xd3 => Item::Int(i64::from_be_bytes(self.array()?)),
            0xd4 => self.ext(1)?,
            0xd5 => self.ext(2)?,
            0xd6 => self.ext(4)?,
            0xd7 => self.ext(8)?,
            0xd8 => self.ext(16)?,
            0xd9 => {
                let len = usize::from(self.u8()?);
                Item::Str(self.bytes(len)?)
            }
            0xda => {
                let len = self.len16()?;
                Item::Str(self.bytes(len)?)
            }
            0xdb => {
                let len = self.len32()?;
                Item::Str(self.bytes(len)?)
            }
            0xdc => {
                let len = self.len16()?;
                Item::Array(self.container(len, 1)?)
            }
            0xdd => {
                let len = self.len32()?;
                Item::Array(self.container(len, 1)?)
            }
            0xde => {
                let len = self.len16()?;
                Item::Map(self.container(len, 2)?)
            }
            0xdf => {
                let len = self.len32()?;
                Item::Map(self.container(len, 2)?)
            }
            0xe0..=0xff => Item::Int(i64::from(i8::from_be_bytes([marker]))),
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

/// Parses the JSON type of a dynamic value, bounding its depth.
pub(super) fn parse_type_json(bytes: &[u8]) -> Result<Type, CtyError> {
    let ty = Type::from_json_bytes(bytes)?;
    check_type_depth(ty)
}

/// Rejects a type nested deeper than [`MAX_DEPTH`].
pub(super) fn check_type_depth(ty: Type) -> Result<Type, CtyError> {
    if type_depth(&ty) > MAX_DEPTH {
        return Err(CtyError::new(format!(
            "type nested more than {MAX_DEPTH} levels deep"
        )));
    }
    Ok(ty)
}

/// Puts decoded set elements in canonical order and drops duplicates.
pub(super) fn reorder_set(
    elements: Vec<Value>,
    element_type: &Type,
) -> Result<Vec<Value>, CtyError> {
    let order = set_order(&elements, element_type)?;
    let mut slots: Vec<Option<Value>> = elements.into_iter().map(Some).collect();
    Ok(order
        .into_iter()
        .filter_map(|(i, _)| slots[i].take())
        .collect())
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
