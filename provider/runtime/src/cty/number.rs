//! cty numbers: arbitrary-precision decimals, plus the two infinities.

use bigdecimal::{BigDecimal, ToPrimitive};
use std::fmt;
use std::str::FromStr;

/// A cty number. Finite numbers keep every digit Terraform sends (big integers, long decimals).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Number {
    /// Negative infinity.
    NegInfinity,
    /// A finite decimal.
    Finite(BigDecimal),
    /// Positive infinity.
    PosInfinity,
}

impl Number {
    /// The number as an `i64`, when it is an integer in range.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Number::Finite(d) if d.is_integer() => d.to_i64(),
            _ => None,
        }
    }

    /// The nearest `f64`.
    pub fn as_f64(&self) -> f64 {
        match self {
            Number::NegInfinity => f64::NEG_INFINITY,
            Number::PosInfinity => f64::INFINITY,
            Number::Finite(d) => d.to_f64().unwrap_or(f64::NAN),
        }
    }

    /// The number from an `f64`; `None` for NaN, which cty has no place for.
    pub fn from_f64(f: f64) -> Option<Number> {
        if f.is_nan() {
            None
        } else if f == f64::INFINITY {
            Some(Number::PosInfinity)
        } else if f == f64::NEG_INFINITY {
            Some(Number::NegInfinity)
        } else {
            // Shortest decimal that round-trips, as Go's strconv does.
            BigDecimal::from_str(&format!("{f:?}"))
                .ok()
                .map(|d| Number::Finite(d.normalized()))
        }
    }
}

impl From<i64> for Number {
    fn from(i: i64) -> Number {
        Number::Finite(BigDecimal::from(i))
    }
}

impl From<u64> for Number {
    fn from(u: u64) -> Number {
        Number::Finite(BigDecimal::from(u))
    }
}

impl FromStr for Number {
    type Err = String;
    /// Decimal notation with optional exponent; `+Inf`/`Inf`/`-Inf` for the infinities.
    fn from_str(s: &str) -> Result<Number, String> {
        match s {
            "Inf" | "+Inf" | "Infinity" | "+Infinity" => Ok(Number::PosInfinity),
            "-Inf" | "-Infinity" => Ok(Number::NegInfinity),
            _ if s.is_empty()
                || !s
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) =>
            {
                Err(format!("{s:?} is not a number"))
            }
            _ => BigDecimal::from_str(s)
                .map(|d| Number::Finite(d.normalized()))
                .map_err(|e| format!("{s:?} is not a number: {e}")),
        }
    }
}

impl fmt::Display for Number {
    /// Plain decimal notation without exponent, as Terraform shows numbers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::NegInfinity => f.write_str("-Inf"),
            Number::PosInfinity => f.write_str("+Inf"),
            Number::Finite(d) => write!(f, "{}", d.normalized().to_plain_string()),
        }
    }
}
