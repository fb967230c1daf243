//! `RATE_LIMIT_PER_MINUTE` (docs/api.md, "Conventions"): a GCRA limiter (governor) per [`Caller`], i.e. per API
//! key, or per client address without a valid key. Over the limit: `429 rate_limited` with
//! `Retry-After`. Every answer it lets through or refuses carries `RateLimit-Limit`,
//! `RateLimit-Remaining` and `RateLimit-Reset` (seconds until the whole limit is available again).
//!
//! The open routes (probes, Plivo's callbacks, the console's files) are never limited (`gate.rs`).

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::Quota;

use super::auth::Caller;

type Limiter = governor::RateLimiter<
    Caller,
    DefaultKeyedStateStore<Caller>,
    DefaultClock,
    StateInformationMiddleware,
>;

/// `RateLimit-Limit`.
pub static RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
/// `RateLimit-Remaining`.
pub static RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
/// `RateLimit-Reset`.
pub static RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// How often (in checks) idle callers are forgotten, so the table cannot grow without bound.
const CLEANUP_EVERY: u64 = 4096;

/// The verdict for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the request may go on.
    pub allowed: bool,
    /// Requests still allowed right now.
    pub remaining: u32,
    /// Seconds until the whole limit is available again.
    pub reset_secs: u64,
    /// Seconds until the next request is allowed (0 when allowed).
    pub retry_after_secs: u64,
}

/// One limiter for all callers.
pub struct CallerRateLimiter {
    limiter: Limiter,
    limit: u32,
    interval: Duration,
    checks: AtomicU64,
}

impl std::fmt::Debug for CallerRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CallerRateLimiter({}/min)", self.limit)
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl CallerRateLimiter {
    /// `per_minute` requests a minute per caller, all of them usable at once.
    pub fn per_minute(per_minute: NonZeroU32) -> Self {
        let quota = Quota::per_minute(per_minute);
        Self {
            limiter: governor::RateLimiter::keyed(quota)
                .with_middleware::<StateInformationMiddleware>(),
            limit: per_minute.get(),
            interval: quota.replenish_interval(),
            checks: AtomicU64::new(0),
        }
    }

    /// Takes one request from `caller`'s allowance, if there is one.
    pub fn check(&self, caller: Caller) -> Verdict {
        if self.checks.fetch_add(1, Ordering::Relaxed) % CLEANUP_EVERY == CLEANUP_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        match self.limiter.check_key(&caller) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Verdict {
                    allowed: true,
                    remaining,
                    reset_secs: ceil_secs(self.interval * (self.limit - remaining)),
                    retry_after_secs: 0,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                let retry_after_secs = ceil_secs(wait).max(1);
                Verdict {
                    allowed: false,
                    remaining: 0,
                    reset_secs: ceil_secs(wait + self.interval * (self.limit - 1)),
                    retry_after_secs,
                }
            }
        }
    }

    /// Adds the `RateLimit-*` headers for `verdict` to an answer.
    pub fn set_headers(&self, headers: &mut HeaderMap, verdict: Verdict) {
        headers.insert(RATELIMIT_LIMIT.clone(), HeaderValue::from(self.limit));
        headers.insert(
            RATELIMIT_REMAINING.clone(),
            HeaderValue::from(verdict.remaining),
        );
        headers.insert(
            RATELIMIT_RESET.clone(),
            HeaderValue::from(verdict.reset_secs),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_down_then_refuses_each_caller_separately() {
        let l = CallerRateLimiter::per_minute(NonZeroU32::new(3).unwrap());
        let a = Caller::Key(0);
        let b = Caller::Address("192.0.2.1".parse().unwrap());
        let remaining: Vec<u32> = (0..3).map(|_| l.check(a).remaining).collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = l.check(a);
        assert!(!refused.allowed);
        assert!((1..=20).contains(&refused.retry_after_secs), "{refused:?}");
        assert!(refused.reset_secs >= refused.retry_after_secs && refused.reset_secs <= 60);
        assert!(l.check(b).allowed);
    }
}
