//! Delivery workers: take due messages from the store's outbox, send them through the same client
//! and limiter as synchronous sends, and record the outcome.
//!
//! Guarantees (see README "Delivery guarantees"): a message is leased to one worker at a time; a
//! transient failure puts it back with backoff until its deadline, then it is `failed` with
//! `expired`; only an attempt whose outcome is unknown (a timeout after sending, or a worker that
//! died holding the lease) can lead to a second send, and such messages are flagged
//! `outcomeUnknown`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use tokio::sync::watch;

use super::bulk::{assign, join_destinations, Assignment, RECIPIENTS_PER_CALL};
use super::poller::{OnStop, Poller};
use super::{update, Delivery};
use crate::config::reconcile::PlivoLog;
use crate::plivo::retry::backoff;
use crate::plivo::{AttemptError, AttemptOutcome, MessageContent, PlivoError, MIN_MESSAGE_EXPIRY};
use crate::store::{ClaimedMessage, MessageStatus, StoreError};

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Who holds the leases (unique per process).
    pub owner: String,
    /// How long a lease lasts; longer than one attempt can take.
    pub lease: Duration,
    /// Messages in delivery at once (per process).
    pub concurrency: usize,
    /// How often to look for due messages when idle.
    pub poll: Duration,
    /// How long one attempt may wait for a slot within Plivo's limits.
    pub slot_wait: Duration,
    /// `PLIVO_LOG`, passed as `log` on every send and kept on messages awaiting reconciliation.
    pub plivo_log: PlivoLog,
}

/// Runs until `stop` turns true, then lets in-flight sends finish (the caller bounds how long).
pub async fn run(delivery: Delivery, config: WorkerConfig, stop: watch::Receiver<bool>) {
    let poller = Poller {
        what: "due messages",
        concurrency: config.concurrency,
        poll: config.poll,
        error_backoff: config.poll,
        wake: Some(Arc::clone(delivery.work_arrived())),
        on_stop: OnStop::Drain,
    };
    let owner: Arc<str> = Arc::from(config.owner.as_str());
    let lease = chrono::Duration::from_std(config.lease).unwrap_or(chrono::Duration::seconds(60));
    // A claim's messages go to Plivo in groups (one call each); each group takes one place.
    let claim = |limit: u32| {
        let (delivery, owner) = (delivery.clone(), Arc::clone(&owner));
        async move {
            let now = Utc::now();
            let claimed = delivery
                .store()
                .claim_due(&owner, now, now + lease, limit)
                .await?;
            Ok::<_, StoreError>(group_for_plivo(claimed))
        }
    };
    let handle = |group: Vec<ClaimedMessage>, stop: watch::Receiver<bool>| {
        deliver(
            delivery.clone(),
            Arc::clone(&owner),
            group,
            config.slot_wait,
            config.plivo_log,
            stop,
        )
    };
    poller.run(claim, handle, stop).await;
}

/// Messages of one batch and one sender go to Plivo together (up to [`RECIPIENTS_PER_CALL`]);
/// others alone.
fn group_for_plivo(claimed: Vec<ClaimedMessage>) -> Vec<Vec<ClaimedMessage>> {
    let mut groups = Vec::new();
    let mut batches: BTreeMap<(String, String), Vec<ClaimedMessage>> = BTreeMap::new();
    for message in claimed {
        match message.record.batch_id.clone() {
            Some(batch) => batches
                .entry((batch, message.record.sender_number.clone()))
                .or_default()
                .push(message),
            None => groups.push(vec![message]),
        }
    }
    for (_, mut batch) in batches {
        while !batch.is_empty() {
            let rest = batch.split_off(batch.len().min(RECIPIENTS_PER_CALL));
            groups.push(std::mem::replace(&mut batch, rest));
        }
    }
    groups
}

/// One Plivo call for a group, and its outcome recorded on each message.
async fn deliver(
    delivery: Delivery,
    owner: Arc<str>,
    group: Vec<ClaimedMessage>,
    slot_wait: Duration,
    plivo_log: PlivoLog,
    stop: watch::Receiver<bool>,
) {
    if let Err(e) = try_deliver(
        &delivery,
        &owner,
        group,
        slot_wait,
        plivo_log.as_str(),
        stop,
    )
    .await
    {
        // The lease runs out and another attempt follows; nothing is lost.
        tracing::error!(error = %e, "could not record a delivery outcome");
    }
}

async fn try_deliver(
    delivery: &Delivery,
    owner: &str,
    group: Vec<ClaimedMessage>,
    slot_wait: Duration,
    plivo_log: &'static str,
    mut stop: watch::Receiver<bool>,
) -> Result<(), StoreError> {
    let store = delivery.store();
    let now = Utc::now();
    // A message whose previous worker stopped mid-send is not sent again blind: Plivo's records
    // decide first (README "Delivery guarantees").
    let (taken_over, group): (Vec<_>, Vec<_>) = group.into_iter().partition(|m| m.taken_over);
    for m in &taken_over {
        let detail = "waiting for Plivo's records before any further attempt";
        store
            .await_reconcile(owner, &m.record.id, now, detail, plivo_log)
            .await?;
    }
    // With less than MIN_MESSAGE_EXPIRY left, Plivo could not be given a valid `message_expiry`.
    let (expired, live): (Vec<_>, Vec<_>) = group.into_iter().partition(|m| {
        m.deadline - now < chrono::Duration::from_std(MIN_MESSAGE_EXPIRY).unwrap_or_default()
    });
    for m in &expired {
        store
            .finish_delivery(&m.record.id, &super::expired())
            .await?;
    }
    // --- per-sender pacing: wait for the sender's slot, or back to the outbox until it ---
    let Some(live) = delivery.pace_group(owner, live).await? else {
        return Ok(());
    };
    let Some(first) = live.first() else {
        return Ok(());
    };
    let recipients: Vec<&str> = live
        .iter()
        .map(|m| m.record.recipient_number.as_str())
        .collect();
    let body = delivery.plivo().body(
        &first.record.sender_number,
        join_destinations(recipients.iter().copied()),
        MessageContent {
            text: first.record.message_text.as_deref(),
            media_urls: &first.record.media_urls,
            media_ids: &first.record.media_ids,
        },
    );
    // --- reconciliation: Plivo never dispatches it after its deadline ---
    let earliest = live.iter().map(|m| m.deadline).min().unwrap_or(now);
    let body = body.with_message_expiry(message_expiry(earliest - now));
    // On shutdown a message still waiting for a slot goes back to the outbox at once (nothing was
    // sent), for another instance to take without waiting for the lease to run out.
    let stopping = async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    match delivery
        .plivo()
        .attempt_unless(&body, slot_wait, stopping)
        .await
    {
        Ok(response) => {
            for (m, assignment) in live.iter().zip(assign(&recipients, &response)) {
                let u = match assignment {
                    Assignment::Queued(uuid) => {
                        let mut queued = update(MessageStatus::Queued);
                        queued.message_uuid = Some(uuid);
                        queued
                    }
                    Assignment::Invalid => {
                        let mut failed = update(MessageStatus::Failed);
                        failed.error_code = Some("invalid_number".to_owned());
                        failed.error_message =
                            Some("Plivo listed this number in invalid_number".to_owned());
                        failed
                    }
                    Assignment::Unaccounted => {
                        let mut queued = update(MessageStatus::Queued);
                        queued.error_message = Some(
                            "Plivo accepted the batch but returned no UUID for this recipient"
                                .to_owned(),
                        );
                        queued
                    }
                };
                // Plivo has accepted the whole call: a failed write must not abandon the rest
                // (their leases would expire and they would be sent again).
                if let Err(e) = store.finish_delivery(&m.record.id, &u).await {
                    tracing::error!(message.id = %m.record.id, error = %e, "could not record Plivo's acceptance");
                }
            }
        }
        Err(AttemptError::NoSlot { .. }) => {
            for m in &live {
                store.release_lease(owner, &m.record.id).await?;
            }
        }
        Err(err) if err.outcome() == AttemptOutcome::Unknown => {
            // It may have reached Plivo: no blind retry; the reconciler asks Plivo first.
            let detail = format!(
                "attempt {} ended without a readable answer: {err}; checking with Plivo before any further attempt",
                first.attempts
            );
            for m in &live {
                store
                    .await_reconcile(owner, &m.record.id, Utc::now(), &detail, plivo_log)
                    .await?;
            }
        }
        Err(err) if err.outcome() == AttemptOutcome::Retryable => {
            let unknown = false;
            let policy = delivery.plivo().policy();
            for m in &live {
                let jitter = rand::thread_rng().gen_range(0.0..=1.0);
                let delay = backoff(policy.base, m.attempts.saturating_sub(1).min(16), jitter);
                let next =
                    (now + chrono::Duration::from_std(delay).unwrap_or_default()).min(m.deadline);
                let detail = format!("attempt {} failed: {err}; retrying", m.attempts);
                store
                    .retry_delivery(owner, &m.record.id, next, &detail, unknown, Utc::now())
                    .await?;
            }
        }
        Err(err) => {
            let e = PlivoError::from_last_attempt(err, Duration::ZERO);
            for m in &live {
                let mut failed = update(MessageStatus::Failed);
                failed.error_code = Some(e.code().to_owned());
                failed.error_message = Some(e.record_text());
                store.finish_delivery(&m.record.id, &failed).await?;
            }
        }
    }
    Ok(())
}

/// `message_expiry` for `left` to the deadline: whole seconds, rounded down (the body keeps it
/// within Plivo's range, [`crate::plivo::SendMessageBody::with_message_expiry`]).
pub(crate) fn message_expiry(left: chrono::Duration) -> u64 {
    u64::try_from(left.num_seconds()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MessageRecord;

    fn claimed(id: &str, batch: Option<&str>) -> ClaimedMessage {
        let now = Utc::now();
        ClaimedMessage {
            record: MessageRecord {
                id: id.into(),
                status: MessageStatus::Sending,
                recipient_number: "+14155551234".into(),
                sender_number: "+14155550100".into(),
                message_text: None,
                media_urls: vec![],
                media_ids: vec![],
                message_uuid: None,
                error_code: None,
                error_message: None,
                outcome_unknown: false,
                callback_url: None,
                batch_id: batch.map(str::to_owned),
                created_at: now,
                updated_at: now,
                events: vec![],
                callback_attempts: None,
                redacted: false,
                resend_of: None,
                resent_as: vec![],
                duplicate_uuids: vec![],
                direction: crate::store::Direction::Outbound,
                uploads: None,
            },
            attempts: 1,
            deadline: now,
            taken_over: false,
        }
    }

    #[test]
    fn batches_go_together_in_chunks_and_singles_alone() {
        let mut claimed_messages: Vec<_> = (0..250)
            .map(|i| claimed(&format!("b{i}"), Some("batch")))
            .collect();
        claimed_messages.push(claimed("s1", None));
        claimed_messages.push(claimed("s2", None));
        let groups = group_for_plivo(claimed_messages);
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        assert_eq!(sizes, [1, 1, 100, 100, 50]);
    }
}
