//! When and how long to retry, like Oracle's SDKs' default retry strategy: 429, any 5xx except
//! 501, 409 `IncorrectState`/`LockConflict`, and connection failures are retried with
//! exponential backoff (capped, with jitter) within an attempt and time budget; a
//! `Retry-After` header is honoured up to a cap. Pure: the client does the sleeping.

use std::time::{Duration, SystemTime};

/// How the client retries. The defaults follow Oracle's SDKs: 8 attempts within 10 minutes,
/// 1 s doubling up to 30 s, plus up to 1 s of random jitter; `Retry-After` honoured up to 60 s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    max_elapsed: Duration,
    base_delay: Duration,
    max_delay: Duration,
    jitter: Duration,
    max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 8,
            max_elapsed: Duration::from_secs(600),
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            jitter: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retries.
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// At most this many attempts in all (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// No retry starts once this much time has passed since the first attempt began (a
    /// retry whose wait would end past it is not made).
    pub fn max_elapsed(mut self, budget: Duration) -> Self {
        self.max_elapsed = budget;
        self
    }

    /// The wait before the first retry; it doubles for each further retry.
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// The longest computed wait (before jitter).
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Up to this much random time is added to each computed wait.
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// The longest `Retry-After` honoured; longer values are cut to this.
    pub fn max_retry_after(mut self, cap: Duration) -> Self {
        self.max_retry_after = cap;
        self
    }

    /// The attempt budget.
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The time budget.
    pub fn elapsed_budget(&self) -> Duration {
        self.max_elapsed
    }

    /// The wait before retry number `retry` (1 for the first retry): `Retry-After` (capped)
    /// when the server sent one, else `min(base × 2^(retry-1), max_delay)` plus jitter.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.max_retry_after);
        }
        let factor = 2u32.saturating_pow(retry.saturating_sub(1).min(31));
        let computed = self.base_delay.saturating_mul(factor).min(self.max_delay);
        computed + random_fraction(self.jitter)
    }
}

/// Whether OCI's answer is worth retrying.
pub fn is_retryable_status(status: u16, code: &str) -> bool {
    match status {
        429 => true,
        409 => matches!(code, "IncorrectState" | "LockConflict"),
        501 => false,
        500..=599 => true,
        _ => false,
    }
}

/// Parses `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A uniformly random duration in `[0, max)`.
fn random_fraction(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return max / 2;
    }
    let unit = (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64;
    max.mul_f64(unit)
}

/// `len` random characters from `[A-Za-z0-9]` (retry tokens, request ids).
pub(crate) fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut bytes = [0u8; 64];
        getrandom::fill(&mut bytes).expect("the operating system's random source works");
        for b in bytes {
            // 248 = 4 × 62: reject the top values to keep the choice uniform.
            if b < 248 && out.len() < len {
                out.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert!(is_retryable_status(429, "TooManyRequests"));
        assert!(is_retryable_status(500, "InternalServerError"));
        assert!(is_retryable_status(503, ""));
        assert!(!is_retryable_status(501, "MethodNotImplemented"));
        assert!(is_retryable_status(409, "IncorrectState"));
        assert!(is_retryable_status(409, "LockConflict"));
        assert!(!is_retryable_status(409, "Conflict"));
        assert!(!is_retryable_status(404, "NotAuthorizedOrNotFound"));
        assert!(!is_retryable_status(401, "NotAuthenticated"));
    }

    #[test]
    fn backoff_doubles_caps_and_jitters() {
        let p = RetryPolicy::default();
        for retry in 1..=8 {
            let d = p.delay(retry, None);
            let base = Duration::from_secs((1u64 << (retry - 1)).min(30));
            assert!(
                d >= base && d < base + Duration::from_secs(1),
                "{retry}: {d:?}"
            );
        }
        assert_eq!(p.delay(40, None).as_secs(), 30);
        let no_jitter = RetryPolicy::default().jitter(Duration::ZERO);
        assert_eq!(no_jitter.delay(3, None), Duration::from_secs(4));
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(3600))),
            Duration::from_secs(60)
        );
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_389_000_000);
        assert_eq!(
            parse_retry_after(" 12 ", now),
            Some(Duration::from_secs(12))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(5));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(5)));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn tokens() {
        let a = random_token(32);
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, random_token(32));
    }
}
