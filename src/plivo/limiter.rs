//! Plivo's account limits (docs/plivo-api.md §3.4), kept for the synchronous and asynchronous paths
//! together: at most `PLIVO_MAX_RPS` requests in any one-second window and `PLIVO_MAX_CONCURRENCY`
//! in flight. With several instances (see `delivery::fleet`) each takes an equal share, and a 429
//! pauses every caller of the limiter (and, through the database, every instance).
//!
//! The rate is a GCRA with no burst (`governor`): requests are evenly spaced, so a one-second
//! window holds at most `rate + 1` of them; the share is computed so that even the sum over all
//! instances stays within `PLIVO_MAX_RPS`.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// No slot to call Plivo came free within the wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Plivo's request limits leave no slot free right now")]
pub struct Saturated {
    /// When to try again: the rest of a pause after a 429, or a second.
    pub retry_after: Duration,
}

/// The longest pause a `Retry-After` from Plivo can impose on the whole service.
pub const MAX_PAUSE: Duration = Duration::from_secs(300);

fn saturated(until: Option<Instant>) -> Saturated {
    let retry_after = until
        .map(|u| u.saturating_duration_since(Instant::now()))
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs(1));
    Saturated { retry_after }
}

/// Held while a request to Plivo is in flight.
#[derive(Debug)]
pub struct Permit {
    _slot: OwnedSemaphorePermit,
}

struct Share {
    instances: u32,
    /// A new share starts with no memory of the requests made under the old one (here, and on an
    /// instance that just left): it sends nothing before they have left the one-second window.
    not_before: Instant,
    rate: Arc<DefaultDirectRateLimiter>,
    slots: Arc<Semaphore>,
}

/// The limiter every request to Plivo goes through.
pub struct Limiter {
    max_rps: u32,
    max_concurrency: u32,
    share: RwLock<Share>,
    paused_until: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("max_rps", &self.max_rps)
            .field("max_concurrency", &self.max_concurrency)
            .field("instances", &self.instances())
            .finish()
    }
}

/// The requests per second one of `instances` may make so that all together stay within `max_rps`
/// in every one-second window (each evenly spaced stream can put `rate + 1` in a window).
pub fn rate_share(max_rps: u32, instances: u32) -> f64 {
    let instances = instances.max(1);
    let budget = max_rps.saturating_sub(instances).max(1);
    f64::from(budget) / f64::from(instances)
}

/// The requests in flight one of `instances` may have.
pub fn concurrency_share(max_concurrency: u32, instances: u32) -> u32 {
    (max_concurrency / instances.max(1)).max(1)
}

fn share(max_rps: u32, max_concurrency: u32, instances: u32, not_before: Instant) -> Share {
    let period = Duration::from_secs_f64(1.0 / rate_share(max_rps, instances));
    let quota = Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::MIN);
    Share {
        instances,
        not_before,
        rate: Arc::new(RateLimiter::direct(quota)),
        slots: Arc::new(Semaphore::new(
            concurrency_share(max_concurrency, instances) as usize,
        )),
    }
}

/// Changes a semaphore's size from `before` to `after` permits. Shrinking takes free permits at
/// once and the rest as requests in flight finish, so the limit holds throughout.
fn resize(slots: &Arc<Semaphore>, before: usize, after: usize) {
    if after >= before {
        slots.add_permits(after - before);
        return;
    }
    let excess = before - after;
    let taken = slots.forget_permits(excess);
    if taken < excess {
        let slots = Arc::clone(slots);
        let rest = u32::try_from(excess - taken).unwrap_or(u32::MAX);
        tokio::spawn(async move {
            if let Ok(permits) = slots.acquire_many(rest).await {
                permits.forget();
            }
        });
    }
}

impl Limiter {
    /// A limiter for one instance; [`Limiter::set_instances`] changes the share.
    pub fn new(max_rps: u32, max_concurrency: u32) -> Self {
        Self {
            max_rps,
            max_concurrency,
            share: RwLock::new(share(max_rps, max_concurrency, 1, Instant::now())),
            paused_until: Mutex::new(None),
        }
    }

    /// How many instances share the account now.
    pub fn instances(&self) -> u32 {
        self.share.read().map_or(1, |s| s.instances)
    }

    /// Takes an equal share of the account's limits among `instances`.
    pub fn set_instances(&self, instances: u32) {
        let instances = instances.max(1);
        let Ok(mut current) = self.share.write() else {
            return;
        };
        if current.instances == instances {
            return;
        }
        tracing::info!(instances, "sharing Plivo's limits with other instances");
        let not_before = Instant::now() + Duration::from_secs(1);
        let mut next = share(self.max_rps, self.max_concurrency, instances, not_before);
        // Keep one semaphore, so requests in flight under the old share still count.
        let before = concurrency_share(self.max_concurrency, current.instances) as usize;
        let after = concurrency_share(self.max_concurrency, instances) as usize;
        next.slots = Arc::clone(&current.slots);
        resize(&next.slots, before, after);
        // A hold already in force (joining the fleet) outlasts the new share's own second.
        next.not_before = next.not_before.max(current.not_before);
        *current = next;
    }

    /// Holds this instance's requests until `until`, without asking the others to (not a pause:
    /// [`Limiter::paused_until`] does not show it, so the heartbeat does not publish it). Joining
    /// a fleet waits like this while the others shrink their shares.
    pub fn hold_until(&self, until: Instant) {
        if let Ok(mut current) = self.share.write() {
            current.not_before = current.not_before.max(until);
        }
    }

    /// Holds every request until `until` after a 429 from Plivo; the heartbeat tells every
    /// instance sharing the database (`delivery/fleet.rs`).
    pub fn pause_until(&self, until: Instant) {
        let until = until.min(Instant::now() + MAX_PAUSE);
        if let Ok(mut paused) = self.paused_until.lock() {
            if paused.is_none_or(|p| p < until) {
                *paused = Some(until);
            }
        }
    }

    /// The pause in force, if any.
    pub fn paused_until(&self) -> Option<Instant> {
        self.paused_until
            .lock()
            .ok()
            .and_then(|p| *p)
            .filter(|p| *p > Instant::now())
    }

    /// Waits (at most `max_wait`) for a moment when a request may go to Plivo.
    ///
    /// A waiter looks at the current share each time it wakes, so a change in the number of
    /// instances slows the requests already waiting too (not only the ones that come later).
    pub async fn acquire(&self, max_wait: Duration) -> Result<Permit, Saturated> {
        let deadline = Instant::now() + max_wait;
        if let Some(until) = self.paused_until() {
            if until > deadline {
                return Err(saturated(Some(until)));
            }
            tokio::time::sleep_until(until).await;
        }
        let slots = match self.share.read() {
            Ok(s) => s.slots.clone(),
            Err(_) => return Err(saturated(None)),
        };
        let slot = tokio::time::timeout_at(deadline, slots.acquire_owned())
            .await
            .map_err(|_| saturated(None))?
            .map_err(|_| saturated(None))?;
        loop {
            let (rate, not_before) = match self.share.read() {
                Ok(s) => (s.rate.clone(), s.not_before),
                Err(_) => return Err(saturated(None)),
            };
            // A new share, or a pause after a 429, holds the requests already waiting too.
            let hold = self
                .paused_until()
                .map_or(not_before, |p| p.max(not_before));
            if hold > Instant::now() {
                if hold > deadline {
                    return Err(saturated(Some(hold)));
                }
                tokio::time::sleep_until(hold).await;
                continue;
            }
            match rate.check() {
                Ok(()) => return Ok(Permit { _slot: slot }),
                Err(not_until) => {
                    let wait = not_until.wait_time_from(DefaultClock::default().now());
                    if Instant::now() + wait > deadline {
                        return Err(saturated(None));
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hold_waits_here_without_being_a_pause_for_the_others() {
        let limiter = Limiter::new(100, 10);
        let start = Instant::now();
        let hold = Duration::from_millis(1500);
        limiter.hold_until(start + hold);
        assert_eq!(limiter.paused_until(), None, "a hold is not published");
        assert!(limiter.acquire(Duration::from_millis(100)).await.is_err());
        // A share taken meanwhile (the fleet grew: its own hold is 1 s) does not cut it short.
        limiter.set_instances(2);
        let _permit = limiter.acquire(Duration::from_secs(5)).await.unwrap();
        assert!(start.elapsed() >= hold, "{:?}", start.elapsed());
    }

    #[test]
    fn shares_keep_the_sum_within_the_account_limit() {
        for max_rps in [1, 2, 10, 60, 300] {
            for instances in 1..=8 {
                let rate = rate_share(max_rps, instances);
                // Each evenly spaced stream puts at most floor(rate) + 1 requests in a second.
                let worst = f64::from(instances) * (rate.floor() + 1.0);
                if max_rps >= 2 * instances {
                    assert!(
                        worst <= f64::from(max_rps),
                        "{max_rps}/{instances}: {worst}"
                    );
                }
            }
        }
        assert_eq!(concurrency_share(100, 3), 33);
        assert_eq!(concurrency_share(1, 3), 1);
    }

    #[tokio::test]
    async fn requests_are_spaced_to_the_rate() {
        let limiter = Limiter::new(11, 100); // 10 a second: 100 ms apart
        let started = Instant::now();
        for _ in 0..4 {
            limiter.acquire(Duration::from_secs(5)).await.unwrap();
        }
        assert!(
            started.elapsed() >= Duration::from_millis(290),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn concurrency_is_bounded_and_waiting_is_bounded() {
        let limiter = Limiter::new(10_000, 2);
        let a = limiter.acquire(Duration::from_secs(1)).await.unwrap();
        let _b = limiter.acquire(Duration::from_secs(1)).await.unwrap();
        let saturated = limiter
            .acquire(Duration::from_millis(50))
            .await
            .unwrap_err();
        assert_eq!(saturated.retry_after, Duration::from_secs(1));
        drop(a);
        assert!(limiter.acquire(Duration::from_millis(50)).await.is_ok());
    }

    #[tokio::test]
    async fn a_pause_holds_everyone() {
        let limiter = Limiter::new(10_000, 10);
        limiter.pause_until(Instant::now() + Duration::from_millis(200));
        let saturated = limiter
            .acquire(Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(saturated.retry_after <= Duration::from_millis(200));
        let started = Instant::now();
        limiter.acquire(Duration::from_secs(1)).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(140));
    }

    #[tokio::test]
    async fn a_new_share_waits_for_the_old_requests_to_leave_the_window() {
        let limiter = Limiter::new(10_000, 100);
        limiter.acquire(Duration::from_secs(1)).await.unwrap();
        limiter.set_instances(2);
        let started = Instant::now();
        assert!(limiter.acquire(Duration::from_millis(100)).await.is_err());
        limiter.acquire(Duration::from_secs(2)).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(800));
    }

    #[tokio::test]
    async fn in_flight_requests_still_count_when_the_share_shrinks() {
        let limiter = Limiter::new(10_000, 4);
        let mut held: Vec<_> = futures_held(&limiter, 4).await;
        limiter.set_instances(2); // 2 slots each now, and 4 are in flight
        let finished = held.split_off(2);
        drop(finished);
        tokio::time::sleep(Duration::from_millis(1100)).await; // past the new share's start
                                                               // Two finished, but they pay back the shrink: still no free slot.
        assert!(limiter.acquire(Duration::from_millis(50)).await.is_err());
        drop(held);
        assert!(limiter.acquire(Duration::from_millis(50)).await.is_ok());
    }

    async fn futures_held(limiter: &Limiter, n: usize) -> Vec<Permit> {
        let mut held = Vec::new();
        for _ in 0..n {
            held.push(limiter.acquire(Duration::from_secs(1)).await.unwrap());
        }
        held
    }

    #[test]
    fn instance_count_changes_the_share() {
        let limiter = Limiter::new(60, 100);
        limiter.set_instances(3);
        assert_eq!(limiter.instances(), 3);
        limiter.set_instances(0);
        assert_eq!(limiter.instances(), 1);
    }
}
