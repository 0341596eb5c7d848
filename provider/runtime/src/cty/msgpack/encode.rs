//! Writing cty values as msgpack, in the forms go-cty writes.

use super::{set_order, MAX_BOUND_LEN, MAX_PREFIX_LEN, PLAIN_UNKNOWN, REFINED_UNKNOWN_EXT};
use super::{
    KEY_LENGTH_MAX, KEY_LENGTH_MIN, KEY_NULLNESS, KEY_NUMBER_MAX, KEY_NUMBER_MIN, KEY_STRING_PREFIX,
};
use crate::cty::support::{
    check_attributes, check_tuple_len, index_step, inferred_type, mismatch, type_name,
    untyped_dynamic,
};
use crate::cty::{CtyError, Number, PathStep, Refinements, Type, Value};
use bigdecimal::num_bigint::{BigInt, Sign};
use bigdecimal::Zero;

pub(super) fn encode(value: &Value, ty: &Type, out: &mut Vec<u8>) -> Result<(), CtyError> {
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
            check_tuple_len(types, elements)?;
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
pub(super) fn bound_bytes(bound: &Number) -> Option<Vec<u8>> {
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
