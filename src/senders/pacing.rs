//! Per-sender pacing: at most `PLIVO_SENDER_MPS × t + 1` recipients in any `t` seconds from one
//! sender, for every instance on the database together.
//!
//! Each sender has a GCRA schedule in the store: its "theoretical arrival time" (TAT), the start
//! of its next free slot. A send of `n` recipients reserves `n` consecutive slots of `1 / MPS`
//! seconds each, starting at `max(TAT, now)`, in one atomic store write; it goes to Plivo at that
//! start. So a sender's recipients leave at most one slot apart (a bulk call's recipients are
//! dispatched by Plivo from its per-number queue at the sender's rate, one slot each).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::store::{SlotGrant, Store, StoreError};

/// Reserves sender slots in the shared store.
#[derive(Clone)]
pub struct SenderPacing {
    store: Arc<Store>,
    interval: Duration,
    mps: f64,
}

/// What a caller that may wait a while gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotWait {
    /// Send at this time (now or soon); the slots are reserved.
    SendAt(DateTime<Utc>),
    /// No slot before the limit; the sender's next free slot starts at this time (nothing reserved).
    TooLate(DateTime<Utc>),
}

impl SenderPacing {
    /// Paces at `mps` recipients a second per sender.
    pub fn new(store: Arc<Store>, mps: f64) -> Self {
        let micros = (1_000_000.0 / mps).round().max(1.0) as u64;
        Self {
            store,
            interval: Duration::from_micros(micros),
            mps,
        }
    }

    /// The configured rate.
    pub fn mps(&self) -> f64 {
        self.mps
    }

    /// One slot.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The most recipients one Plivo call carries while paced: about one second's worth (at least
    /// one), so a bulk call never runs far ahead of the sender's rate.
    pub fn recipients_per_call(&self, otherwise: usize) -> usize {
        (self.mps.floor() as usize).clamp(1, otherwise.max(1))
    }

    /// Reserves `count` slots of `sender` if they can start by `latest`.
    pub async fn reserve(
        &self,
        sender: &str,
        count: u32,
        now: DateTime<Utc>,
        latest: DateTime<Utc>,
    ) -> Result<SlotWait, StoreError> {
        let grant = self
            .store
            .reserve_sender_slots(sender, count.max(1), self.interval, now, latest)
            .await?;
        Ok(match grant {
            SlotGrant::Granted { at } => SlotWait::SendAt(at),
            SlotGrant::Refused { free_at } => SlotWait::TooLate(free_at),
        })
    }
}

/// Sleeps until `at` (no time if it has passed).
pub async fn sleep_until(at: DateTime<Utc>) {
    if let Ok(wait) = (at - Utc::now()).to_std() {
        tokio::time::sleep(wait).await;
    }
}
