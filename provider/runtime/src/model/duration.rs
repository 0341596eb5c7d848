//! Durations as Terraform users write them: `30s`, `5m`, `1h30m`, `1.5h`, `500ms` (Go's
//! `time.ParseDuration` notation without a sign). The text is kept as written, so a duration
//! read from configuration is written back to state unchanged.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A duration and the text it was written as.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Duration {
    text: String,
    value: std::time::Duration,
}

/// Why a text is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a duration; write it like 30s, 5m or 1h30m (units: ms, s, m, h)")]
pub struct DurationError {
    text: String,
}

/// Nanoseconds per unit, longest unit name first where one is a prefix of another.
const UNITS: [(&str, u128); 7] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

impl Duration {
    /// The duration.
    pub fn get(&self) -> std::time::Duration {
        self.value
    }

    /// The text it was written as.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// A duration written the short way: whole hours, minutes and seconds (`1h30m`, `45s`),
    /// or milliseconds below a second.
    pub fn from_std(value: std::time::Duration) -> Duration {
        let total = value.as_secs();
        let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
        let mut text = String::new();
        if hours > 0 {
            text.push_str(&format!("{hours}h"));
        }
        if minutes > 0 {
            text.push_str(&format!("{minutes}m"));
        }
        if seconds > 0 {
            text.push_str(&format!("{seconds}s"));
        }
        let millis = value.subsec_millis();
        if millis > 0 || text.is_empty() {
            text.push_str(&format!("{millis}ms"));
        }
        Duration { text, value }
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Duration, DurationError> {
        let error = || DurationError {
            text: text.to_owned(),
        };
        if text.is_empty() {
            return Err(error());
        }
        let mut nanos: u128 = 0;
        let mut rest = text;
        while !rest.is_empty() {
            let number_len = rest
                .find(|c: char| !c.is_ascii_digit() && c != '.')
                .unwrap_or(rest.len());
            let (number, after) = rest.split_at(number_len);
            let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
            if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
                return Err(error());
            }
            let (unit, per_unit) = UNITS
                .iter()
                .filter(|(name, _)| after.starts_with(name))
                .max_by_key(|(name, _)| name.len())
                .ok_or_else(error)?;
            let whole: u128 = if whole.is_empty() {
                0
            } else {
                whole.parse().map_err(|_| error())?
            };
            // The fraction's digits beyond nanosecond precision cannot matter.
            let digits = &fraction[..fraction.len().min(18)];
            let scale = 10u128.pow(digits.len() as u32);
            let fraction: u128 = if digits.is_empty() {
                0
            } else {
                digits.parse().map_err(|_| error())?
            };
            nanos = whole
                .checked_mul(*per_unit)
                .and_then(|n| n.checked_add(fraction * per_unit / scale))
                .and_then(|n| nanos.checked_add(n))
                .ok_or_else(error)?;
            rest = &after[unit.len()..];
        }
        let seconds = u64::try_from(nanos / 1_000_000_000).map_err(|_| error())?;
        Ok(Duration {
            text: text.to_owned(),
            value: std::time::Duration::new(seconds, (nanos % 1_000_000_000) as u32),
        })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> std::time::Duration {
        d.value
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration as Std;

    fn parse(s: &str) -> Option<Std> {
        s.parse::<Duration>().ok().map(|d| d.get())
    }

    #[test]
    fn go_notation_parses_exactly() {
        assert_eq!(parse("1h30m"), Some(Std::from_secs(5400)));
        assert_eq!(parse("90s"), Some(Std::from_secs(90)));
        assert_eq!(parse("500ms"), Some(Std::from_millis(500)));
        assert_eq!(parse("1.5h"), Some(Std::from_secs(5400)));
        assert_eq!(parse("0.1s"), Some(Std::from_millis(100)));
        assert_eq!(parse("2m0.5s"), Some(Std::from_millis(120_500)));
        assert_eq!(parse("250us"), Some(Std::from_micros(250)));
        assert_eq!(parse("0s"), Some(Std::ZERO));
        // Exact where a float is not: a third of a nanosecond more or less would show.
        assert_eq!(parse("0.000000001s"), Some(Std::from_nanos(1)));
        for bad in [
            "",
            "5",
            "5x",
            "m",
            "1..5s",
            "-5s",
            "1h 30m",
            "1.2.3s",
            "99999999999999999999999h",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        let d: Duration = "90s".parse().unwrap();
        assert_eq!(d.to_string(), "90s", "the text is kept as written");
    }

    #[test]
    fn short_forms_round_trip() {
        for (seconds, text) in [(300, "5m"), (5400, "1h30m"), (45, "45s"), (0, "0ms")] {
            let d = Duration::from_std(Std::from_secs(seconds));
            assert_eq!(d.as_str(), text);
            assert_eq!(parse(text), Some(d.get()));
        }
        assert_eq!(Duration::from_std(Std::from_millis(250)).as_str(), "250ms");
    }
}
