//! Instances that share one database share Plivo's limits: each records a heartbeat every second,
//! takes an equal share of the limits, and honours a pause any of them asked for after a 429. The
//! `send` command takes part too, for as long as it runs; a pause it (or any instance) is under
//! when it leaves stays recorded for the others until it is over.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::plivo::Limiter;
use crate::store::{Fleet, Store, StoreError};

/// How often an instance records its heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// Records one heartbeat and applies what it learns to the limiter.
pub async fn beat(
    store: &Arc<Store>,
    limiter: &Limiter,
    instance: &str,
) -> Result<Fleet, StoreError> {
    let pause = limiter.paused_until().map(to_utc);
    let fleet = store.heartbeat(instance, Utc::now(), pause).await?;
    limiter.set_instances(fleet.live);
    if let Some(until) = fleet.pause_until.and_then(to_instant) {
        limiter.pause_until(until);
    }
    Ok(fleet)
}

/// Joins the fleet. When others are already running, this instance waits two heartbeats so that
/// they have shrunk their share before it takes its own. The wait is its own (a hold, not a pause
/// the heartbeat would publish): the others go on sending meanwhile.
pub async fn join(store: &Arc<Store>, limiter: &Limiter, instance: &str) -> Result<(), StoreError> {
    let fleet = beat(store, limiter, instance).await?;
    if fleet.live > 1 {
        limiter.hold_until(Instant::now() + 2 * HEARTBEAT);
    }
    Ok(())
}

/// Beats until `stop`, then leaves the fleet, leaving behind a pause still in force (a `send`
/// that gave up on a 429 exits before its next heartbeat could tell the others).
pub async fn run(
    store: Arc<Store>,
    limiter: Arc<Limiter>,
    instance: String,
    mut stop: watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval(HEARTBEAT);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
        if let Err(e) = beat(&store, &limiter, &instance).await {
            tracing::warn!(error = %e, "could not record this instance's heartbeat");
        }
    }
    let pause = limiter.paused_until().map(to_utc);
    if let Err(e) = store.leave(&instance, Utc::now(), pause).await {
        tracing::warn!(error = %e, "could not leave the fleet");
    }
}

fn to_utc(at: Instant) -> DateTime<Utc> {
    let ahead = at.saturating_duration_since(Instant::now());
    Utc::now() + chrono::Duration::from_std(ahead).unwrap_or_default()
}

fn to_instant(at: DateTime<Utc>) -> Option<Instant> {
    let ahead = (at - Utc::now()).to_std().ok()?;
    Some(Instant::now() + ahead)
}
