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

mod decode;
mod encode;

use super::support::index_step;
use super::{CtyError, Type, Value};
use std::cmp::Ordering;

/// How deeply values may nest (each list, set, map, object, tuple or dynamic wrapper is one
/// level) when decoding, and how deep the type of a dynamic value may be.
pub const MAX_DEPTH: usize = 64;

/// Longest refinement payload accepted (go-cty's limit too).
pub(super) const MAX_REFINEMENTS_LEN: usize = 1024;
/// Longest string-prefix refinement written (go-cty's limit too); longer ones are shortened.
pub(super) const MAX_PREFIX_LEN: usize = 256;
/// Longest encoding of a number bound refinement written; longer bounds are dropped.
pub(super) const MAX_BOUND_LEN: usize = 256;

/// The extension code of an unknown with refinements.
pub(super) const REFINED_UNKNOWN_EXT: i8 = 12;
/// A plain unknown: fixext1, code 0, one zero byte.
pub(super) const PLAIN_UNKNOWN: [u8; 3] = [0xd4, 0x00, 0x00];

pub(super) const KEY_NULLNESS: i64 = 1;
pub(super) const KEY_STRING_PREFIX: i64 = 2;
pub(super) const KEY_NUMBER_MIN: i64 = 3;
pub(super) const KEY_NUMBER_MAX: i64 = 4;
pub(super) const KEY_LENGTH_MIN: i64 = 5;
pub(super) const KEY_LENGTH_MAX: i64 = 6;

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
    encode::encode(value, ty, &mut out)?;
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
    decode::whole(bytes, ty)
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

/// The canonical order of a set's elements: the indexes of the elements to keep, in order, with
/// each kept element's msgpack encoding. Duplicates among wholly known elements are dropped.
pub(in crate::cty) fn set_order(
    elements: &[Value],
    element_type: &Type,
) -> Result<Vec<(usize, Vec<u8>)>, CtyError> {
    let mut entries = Vec::with_capacity(elements.len());
    for (i, element) in elements.iter().enumerate() {
        let mut bytes = Vec::new();
        encode::encode(element, element_type, &mut bytes).map_err(|e| e.within(index_step(i)))?;
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

/// Puts decoded set elements in canonical order and drops duplicates.
pub(in crate::cty) fn reorder_set(
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
