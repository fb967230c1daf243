//! The retry policy towards Plivo (contract §3), as pure functions.
//!
//! Connection errors, timeouts, 5xx and 429 are retried; no other 4xx ever is. The delay before
//! retry `n` (0, 1, 2, …) is a random value between ½ and 1 × `base × 2ⁿ`, capped at 20 s, and
//! never less than a `Retry-After` asks; a `Retry-After` over 30 s ends the retries.

use std::time::{Duration, SystemTime};

use super::outcome::StatusClass;

/// The longest backoff delay.
pub const MAX_DELAY: Duration = Duration::from_secs(20);
/// A `Retry-After` longer than this ends the retries.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// How one attempt failed, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Plivo answered with this HTTP status (and perhaps a `Retry-After`).
    Status(u16, Option<Duration>),
    /// The attempt ran out of time.
    Timeout,
    /// The connection could not be made, or broke.
    Network,
    /// A 2xx whose body cannot be read: Plivo may hold the message, so it is never resent blind.
    Unreadable,
}

/// Whether a failure is worth another attempt (§3 of docs/api.md's retry policy).
pub fn is_transient(failure: Failure) -> bool {
    match failure {
        Failure::Status(status, _) => StatusClass::of(status).is_transient(),
        Failure::Timeout | Failure::Network => true,
        Failure::Unreadable => false,
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Wait this long, then try again.
    Retry(Duration),
    /// Stop: the failure is permanent, the attempts are used up, or Plivo asked for too long a pause.
    GiveUp,
}

/// The retry settings: `PLIVO_MAX_RETRIES` and `PLIVO_RETRY_BASE_MS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first backoff delay.
    pub base: Duration,
}

impl RetryPolicy {
    /// Decides what follows failed attempt number `retries_done + 1`. `jitter` is a number in
    /// `[0, 1]` (random in production, fixed in tests) that picks the point between ½ and 1.
    pub fn decide(&self, retries_done: u32, failure: Failure, jitter: f64) -> Decision {
        if !is_transient(failure) || retries_done >= self.max_retries {
            return Decision::GiveUp;
        }
        let retry_after = match failure {
            Failure::Status(_, retry_after) => retry_after,
            _ => None,
        };
        if retry_after.is_some_and(|d| d > MAX_RETRY_AFTER) {
            return Decision::GiveUp;
        }
        let delay = backoff(self.base, retries_done, jitter);
        Decision::Retry(retry_after.map_or(delay, |asked| delay.max(asked)))
    }
}

/// The jittered, capped delay before retry `n`: between ½ and 1 × `base × 2ⁿ`, at most [`MAX_DELAY`].
pub fn backoff(base: Duration, n: u32, jitter: f64) -> Duration {
    let full = base.saturating_mul(2u32.saturating_pow(n.min(31)));
    let fraction = 0.5 + 0.5 * jitter.clamp(0.0, 1.0);
    full.mul_f64(fraction).min(MAX_DELAY)
}

/// Reads a `Retry-After` value: delay-seconds or an HTTP date (relative to `now`).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Whole seconds for a `Retry-After` header we send: rounded up, at least 1.
pub fn retry_after_secs(delay: Duration) -> u64 {
    let secs = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const POLICY: RetryPolicy = RetryPolicy {
        max_retries: 3,
        base: Duration::from_millis(1000),
    };

    #[test]
    fn retries_only_transient_failures() {
        for status in [429, 500, 502, 503, 504, 599] {
            assert!(is_transient(Failure::Status(status, None)), "{status}");
        }
        for status in [400, 401, 403, 404, 405, 409, 413, 422, 499] {
            assert!(!is_transient(Failure::Status(status, None)), "{status}");
            assert_eq!(
                POLICY.decide(0, Failure::Status(status, None), 0.5),
                Decision::GiveUp
            );
        }
        assert!(is_transient(Failure::Timeout));
        assert!(is_transient(Failure::Network));
    }

    #[test]
    fn at_most_max_retries() {
        let f = Failure::Status(503, None);
        for n in 0..3 {
            assert!(matches!(POLICY.decide(n, f, 0.0), Decision::Retry(_)));
        }
        assert_eq!(POLICY.decide(3, f, 0.0), Decision::GiveUp);
        let none = RetryPolicy {
            max_retries: 0,
            ..POLICY
        };
        assert_eq!(none.decide(0, Failure::Timeout, 0.0), Decision::GiveUp);
    }

    #[test]
    fn delays_double_between_half_and_full() {
        assert_eq!(backoff(POLICY.base, 0, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(POLICY.base, 0, 1.0), Duration::from_millis(1000));
        assert_eq!(backoff(POLICY.base, 1, 0.0), Duration::from_millis(1000));
        assert_eq!(backoff(POLICY.base, 2, 1.0), Duration::from_millis(4000));
        assert_eq!(backoff(POLICY.base, 3, 0.5), Duration::from_millis(6000));
    }

    #[test]
    fn delays_are_capped_at_20_seconds() {
        assert_eq!(backoff(POLICY.base, 5, 1.0), MAX_DELAY);
        assert_eq!(backoff(POLICY.base, 40, 1.0), MAX_DELAY);
        assert_eq!(backoff(Duration::from_secs(20), 1, 0.0), MAX_DELAY);
    }

    #[test]
    fn retry_after_is_a_floor_and_long_ones_end_retries() {
        let asked = Failure::Status(429, Some(Duration::from_secs(7)));
        assert_eq!(
            POLICY.decide(0, asked, 1.0),
            Decision::Retry(Duration::from_secs(7))
        );
        let short = Failure::Status(429, Some(Duration::from_millis(100)));
        assert_eq!(
            POLICY.decide(1, short, 1.0),
            Decision::Retry(Duration::from_secs(2))
        );
        let thirty = Failure::Status(503, Some(Duration::from_secs(30)));
        assert_eq!(
            POLICY.decide(0, thirty, 0.0),
            Decision::Retry(Duration::from_secs(30))
        );
        let long = Failure::Status(503, Some(Duration::from_secs(31)));
        assert_eq!(POLICY.decide(0, long, 0.0), Decision::GiveUp);
    }

    #[test]
    fn parses_retry_after_forms() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(parse_retry_after("5", now), Some(Duration::from_secs(5)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn retry_after_header_rounds_up() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(30)), 30);
    }

    proptest! {
        #[test]
        fn every_delay_is_within_the_contract(base_ms in 0u64..20_000, n in 0u32..12, jitter in 0.0f64..=1.0) {
            let base = Duration::from_millis(base_ms);
            let d = backoff(base, n, jitter);
            let full = base.saturating_mul(2u32.pow(n));
            prop_assert!(d <= MAX_DELAY);
            prop_assert!(d <= full);
            prop_assert!(d >= (full / 2).min(MAX_DELAY));
        }
    }
}
