//! What both codecs share and neither owns: names of types and values for error messages, the
//! checks every encoder makes (object attributes, dynamic values, type depth), and the
//! number-text parser.

use super::{CtyError, Number, PathStep, Type, Value, MAX_DEPTH};
use bigdecimal::num_bigint::BigInt;
use bigdecimal::BigDecimal;
use std::str::FromStr;

/// Longest number text accepted.
const MAX_NUMBER_TEXT: usize = 4096;
/// Largest decimal exponent accepted in number text (checked before any big-number work).
const MAX_EXPONENT: u64 = 4096;
/// Most digits a decoded number may have in plain notation (significant digits plus the zeros
/// its exponent adds), so that every decoded number is written back as text the decoder takes.
const MAX_PLAIN_DIGITS: u64 = 4000;

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
            "missing attribute: every attribute of an object type must be present (use \
                Value::Null)",
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
pub(super) fn check_plain_size(d: BigDecimal) -> Result<Number, ()> {
    let (_, scale) = d.as_bigint_and_exponent();
    if d.digits().saturating_add(scale.unsigned_abs()) > MAX_PLAIN_DIGITS {
        return Err(());
    }
    Ok(Number::Finite(d))
}

/// The exact value of a float (not its shortest decimal form): a float64 from go-cty is the
/// exact value of its number, and answering with a nearby decimal would change the value.
pub(super) fn exact_float(f: f64) -> Option<Number> {
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

/// Checks that a tuple value has as many elements as its type.
pub(super) fn check_tuple_len(types: &[Type], elements: &[Value]) -> Result<(), CtyError> {
    if types.len() != elements.len() {
        return Err(CtyError::new(format!(
            "expected a tuple of {} elements, found {}",
            types.len(),
            elements.len()
        )));
    }
    Ok(())
}

/// The path step of a list, set or tuple element.
pub(super) fn index_step(i: usize) -> PathStep {
    PathStep::Index(i64::try_from(i).unwrap_or(i64::MAX))
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
