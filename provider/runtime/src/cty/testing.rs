//! Random cty types and values for property tests (`tests/cty_props.rs`) and the codec fuzz
//! driver (`examples/cty_fuzz.rs`). The runtime itself never uses this module.
//!
//! The generators draw their choices from a byte string ([`Entropy`]) rather than from a random
//! number generator, so a property-testing library can generate and shrink plain bytes: fewer
//! or smaller bytes give smaller types and values, and running out of bytes gives the simplest
//! choice everywhere.

use super::{Number, Refinements, Type, Value};
use bigdecimal::num_bigint::BigInt;
use bigdecimal::BigDecimal;
use std::collections::BTreeMap;

/// A source of choices: the given bytes, then zeros forever.
#[derive(Debug, Clone)]
pub struct Entropy<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Entropy<'a> {
    /// Choices drawn from `bytes`.
    pub fn new(bytes: &'a [u8]) -> Entropy<'a> {
        Entropy { bytes, pos: 0 }
    }

    /// The next byte, or 0 once the bytes are used up.
    pub fn byte(&mut self) -> u8 {
        let b = self.bytes.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    /// A choice in `0..n` (`n` at most 256; 0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            usize::from(self.byte()) % n
        }
    }

    /// A coin flip.
    pub fn flip(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    /// Eight bytes as a `u64`.
    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.byte();
        }
        u64::from_le_bytes(b)
    }
}

/// Attribute names the generators use (including `type` and `value`, the keys of JSON's dynamic
/// wrapper, and the empty name).
const NAMES: [&str; 8] = ["a", "b", "port", "type", "value", "", "ünï", "a b"];

/// Characters strings are made of: ASCII, escapes JSON must handle, combining marks, wide and
/// astral characters.
const CHARS: [char; 20] = [
    'a', 'b', 'z', '0', ' ', '"', '\\', '\n', '\t', '\u{0}', '\u{1f}', '\u{7f}', 'é', 'e',
    '\u{301}', '日', '🦀', '\u{2028}', '\u{fffd}', '/',
];

/// A type at most `max_depth` levels deep (collections and structures count one level each).
pub fn arbitrary_type(e: &mut Entropy<'_>, max_depth: usize) -> Type {
    // Structural types are twice as likely as primitives while depth allows.
    let choices = if max_depth <= 1 { 4 } else { 12 };
    match e.below(choices) {
        0 => Type::String,
        1 => Type::Number,
        2 => Type::Bool,
        3 => Type::Dynamic,
        4 | 5 => Type::list(arbitrary_type(e, max_depth - 1)),
        6 | 7 => Type::set(arbitrary_type(e, max_depth - 1)),
        8 => Type::map(arbitrary_type(e, max_depth - 1)),
        9 | 10 => {
            let mut attrs = BTreeMap::new();
            for _ in 0..e.below(5) {
                let name = NAMES[e.below(NAMES.len())].to_owned();
                attrs.insert(name, arbitrary_type(e, max_depth - 1));
            }
            Type::Object(attrs)
        }
        _ => Type::Tuple(
            (0..e.below(4))
                .map(|_| arbitrary_type(e, max_depth - 1))
                .collect(),
        ),
    }
}

/// A short string drawn from a palette of awkward characters.
pub fn arbitrary_string(e: &mut Entropy<'_>) -> String {
    (0..e.below(7))
        .map(|_| CHARS[e.below(CHARS.len())])
        .collect()
}

/// A number: zero and small integers, the edges of `i64` and `u64`, decimals with no exact
/// binary form, numbers beyond `f64`, random integers, floats, binary fractions and decimals,
/// and the infinities.
pub fn arbitrary_number(e: &mut Entropy<'_>) -> Number {
    let text = match e.below(21) {
        0 => "0",
        1 => "1",
        2 => "-1",
        3 => "42",
        4 => "-9223372036854775808",
        5 => "9223372036854775807",
        6 => "18446744073709551615",
        7 => "0.1",
        8 => "0.5",
        9 => "-2.25",
        10 => "1e300",
        11 => "5e-324",
        12 => "123456789012345678901234567890",
        13 => "-1.000000000000000000001",
        14 => return Number::PosInfinity,
        15 => return Number::NegInfinity,
        16 => return Number::from(e.u64() as i64),
        17 => {
            let f = f64::from_bits(e.u64());
            return Number::from_f64(f).unwrap_or_else(|| Number::from(0i64));
        }
        18 => {
            let digits = BigInt::from(e.u64()) * BigInt::from(e.u64());
            let scale = i64::try_from(e.below(81)).unwrap_or(0) - 40;
            let signed = if e.flip() { -digits } else { digits };
            return Number::Finite(BigDecimal::new(signed, scale));
        }
        19 => {
            // A binary fraction an f64 holds exactly: up to 53 bits over a power of two.
            let mantissa = BigInt::from(e.u64() >> 11);
            let k = u32::try_from(e.below(80)).unwrap_or(0);
            let digits = mantissa * BigInt::from(5u8).pow(k);
            let signed = if e.flip() { -digits } else { digits };
            return Number::Finite(BigDecimal::new(signed, i64::from(k)));
        }
        _ => return Number::from(i64::try_from(e.below(256)).unwrap_or(0) - 128),
    };
    text.parse().unwrap_or(Number::PosInfinity)
}

/// Refinements that make sense for an unknown of type `ty`: "not null" for any type, a string
/// prefix only for strings, number bounds only for numbers, lengths only for collections.
pub fn arbitrary_refinements(e: &mut Entropy<'_>, ty: &Type) -> Refinements {
    let mut r = Refinements {
        not_null: e.flip(),
        ..Refinements::default()
    };
    match ty {
        Type::String => {
            let prefix = arbitrary_string(e);
            r.string_prefix = (!prefix.is_empty()).then_some(prefix);
        }
        Type::Number => {
            if e.flip() {
                r.number_lower = Some((finite_number(e), e.flip()));
            }
            if e.flip() {
                r.number_upper = Some((finite_number(e), e.flip()));
            }
        }
        Type::List(_) | Type::Set(_) | Type::Map(_) => {
            if e.flip() {
                r.length_min = Some(1 + e.below(5) as u64);
            }
            if e.flip() {
                r.length_max = Some(r.length_min.unwrap_or(0) + e.below(5) as u64);
            }
        }
        _ => {}
    }
    r
}

fn finite_number(e: &mut Entropy<'_>) -> Number {
    match arbitrary_number(e) {
        n @ Number::Finite(_) => n,
        _ => Number::from(0i64),
    }
}

/// A value of type `ty`, possibly null or unknown at any position when `allow_unknown` (else
/// possibly null but wholly known). `max_depth` bounds the types invented for dynamic
/// positions.
pub fn arbitrary_value(
    e: &mut Entropy<'_>,
    ty: &Type,
    allow_unknown: bool,
    max_depth: usize,
) -> Value {
    match e.below(10) {
        8 => return Value::Null,
        9 if allow_unknown => return Value::Unknown(arbitrary_refinements(e, ty)),
        _ => {}
    }
    let element = |e: &mut Entropy<'_>, t: &Type| arbitrary_value(e, t, allow_unknown, max_depth);
    match ty {
        Type::String => Value::String(arbitrary_string(e)),
        Type::Number => Value::Number(arbitrary_number(e)),
        Type::Bool => Value::Bool(e.flip()),
        Type::Dynamic => match if max_depth == 0 { 0 } else { e.below(4) } {
            // A bare primitive: its type is inferred when encoding.
            0 => match e.below(3) {
                0 => Value::String(arbitrary_string(e)),
                1 => Value::Number(arbitrary_number(e)),
                _ => Value::Bool(e.flip()),
            },
            _ => {
                let inner_ty = arbitrary_type(e, max_depth);
                let inner = arbitrary_value(e, &inner_ty, allow_unknown, max_depth - 1);
                Value::Dynamic(inner_ty, Box::new(inner))
            }
        },
        Type::List(t) => Value::List((0..e.below(5)).map(|_| element(e, t)).collect()),
        Type::Set(t) => Value::Set((0..e.below(5)).map(|_| element(e, t)).collect()),
        Type::Map(t) => Value::Map(
            (0..e.below(4))
                .map(|_| (arbitrary_string(e), element(e, t)))
                .collect(),
        ),
        Type::Object(attrs) => Value::Object(
            attrs
                .iter()
                .map(|(name, t)| (name.clone(), element(e, t)))
                .collect(),
        ),
        Type::Tuple(types) => Value::Tuple(types.iter().map(|t| element(e, t)).collect()),
    }
}

/// A type and a value of it, both drawn from `bytes`.
pub fn arbitrary_typed_value(bytes: &[u8], allow_unknown: bool) -> (Type, Value) {
    let mut e = Entropy::new(bytes);
    let ty = arbitrary_type(&mut e, 4);
    let value = arbitrary_value(&mut e, &ty, allow_unknown, 3);
    (ty, value)
}
