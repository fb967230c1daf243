//! The reconciler: Plivo's own records judge what happened to a message whose outcome is unknown
//! (an attempt that may have reached Plivo without a readable answer, or a process that stopped
//! mid-send), and to a `queued`/`sent` message whose receipt is overdue (README "Delivery
//! guarantees"; `docs/plivo-api.md` §6, §10).
//!
//! * Found at Plivo: the message takes Plivo's UUID and state (event `reconciled`); never resent.
//! * Not found: an asynchronous message goes back to the outbox (sent once more); a synchronous
//!   one ends `failed` with `not_sent`.
//! * Two candidates: asked again with backoff until the deadline, then `failed` with
//!   `ambiguous` (flag kept); never resent.
//!
//! List requests stay within `RECONCILE_MAX_PER_MINUTE` for all instances together (a budget in
//! the store); Get Message lookups go through the same limiter as sends (`PLIVO_MAX_RPS`).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::config::reconcile::{PlivoLog, ReconcileConfig};
use crate::metrics::Metrics;
use crate::plivo::{AttemptError, Limiter, ListQuery, MessageDetail, PlivoApi};
use crate::store::{MessageStatus, ReceiptCheck, ReconcileItem, Reconciled, StatusUpdate, Store};

/// How often the reconciler looks for work.
const TICK: Duration = Duration::from_millis(500);
/// How long one instance holds the receipt lookups it claimed.
const LEASE: Duration = Duration::from_secs(60);
/// Messages checked with Plivo's records in one round, at most.
const PER_ROUND: usize = 25;
/// Pages of one List Message query read at most (20 each).
const MAX_PAGES: u32 = 5;
/// The first wait after an ambiguous answer; doubled each time, at most an hour.
const AMBIGUOUS_BACKOFF: Duration = Duration::from_secs(60);
/// At most this long between two receipt lookups.
const MAX_RECEIPT_GAP: Duration = Duration::from_secs(3600);
/// How long a lookup waits for a slot within `PLIVO_MAX_RPS`.
const SLOT_WAIT: Duration = Duration::from_secs(5);

/// Everything the reconciler needs.
#[derive(Clone)]
pub struct Reconciler {
    /// The message store.
    pub store: Arc<Store>,
    /// Plivo's Message API.
    pub api: Arc<dyn PlivoApi>,
    /// The account's request limiter (shared with sends).
    pub limiter: Arc<Limiter>,
    /// `RECONCILE_*`, `RECEIPT_TIMEOUT_SECONDS`, `PLIVO_LOG`.
    pub config: ReconcileConfig,
    /// `MESSAGE_TTL_SECONDS`: the deadline of synchronous messages and of receipt lookups.
    pub message_ttl: Duration,
    /// A synchronous send still `sending` after this long was left by a stopped process.
    pub stalled_after: Duration,
    /// The service's metrics.
    pub metrics: Metrics,
    /// How long one instance holds a message it checks (longer than one check can take).
    pub lease: Duration,
    /// `PLIVO_POWERPACK_UUID`: a message sent from the Powerpack is listed by `powerpack_id`.
    pub powerpack_uuid: Option<String>,
}

/// Runs until `stop` turns true.
pub async fn run(reconciler: Reconciler, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        if let Err(e) = reconciler.tick(Utc::now()).await {
            tracing::warn!(error = %e, "reconciliation round failed");
        }
        tokio::select! {
            () = tokio::time::sleep(TICK) => {}
            _ = stop.changed() => {}
        }
    }
}

fn chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Plivo's state as this service's status; `None` for states it does not track (`read`).
pub fn status_of(detail: &MessageDetail) -> Option<StatusUpdate> {
    let status = match detail.message_state.as_str() {
        "queued" => MessageStatus::Queued,
        "sent" => MessageStatus::Sent,
        "delivered" => MessageStatus::Delivered,
        "undelivered" => MessageStatus::Undelivered,
        "failed" | "rejected" => MessageStatus::Failed,
        _ => return None,
    };
    let error_code = detail
        .error_code
        .clone()
        .filter(|c| !c.is_empty())
        .filter(|_| matches!(status, MessageStatus::Failed | MessageStatus::Undelivered));
    Some(StatusUpdate {
        status,
        message_uuid: None,
        error_code,
        error_message: None,
        at: Utc::now(),
    })
}

/// The wait after the `tries`-th ambiguous answer: 60 s × 2ⁿ, at most an hour.
fn ambiguous_backoff(tries: u32) -> Duration {
    AMBIGUOUS_BACKOFF
        .saturating_mul(1 << tries.min(6))
        .min(Duration::from_secs(3600))
}

/// When the `n`-th receipt lookup (n = 1, 2, …) after `last_change` is due: `timeout × 2ⁿ` after
/// it, at most [`MAX_RECEIPT_GAP`] after `now` (the lookup just made).
pub fn next_receipt_lookup(
    last_change: DateTime<Utc>,
    now: DateTime<Utc>,
    timeout: Duration,
    n: u32,
) -> DateTime<Utc> {
    let by_backoff = last_change + chrono(timeout.saturating_mul(1 << n.min(20)));
    by_backoff.min(now + chrono(MAX_RECEIPT_GAP))
}

/// What one List Message query found.
enum Listed {
    /// Every matching record (all pages).
    All(Vec<MessageDetail>),
    /// Asked too early: the budget is spent or Plivo answered 429 or failed.
    Postponed(DateTime<Utc>, String),
}

impl Reconciler {
    /// One round: flags stalled synchronous sends, applies held callbacks, checks due messages
    /// and overdue receipts.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<(), crate::store::StoreError> {
        let stalled = self
            .store
            .sweep_stalled_sends(now - chrono(self.stalled_after), now)
            .await?;
        if stalled > 0 {
            tracing::warn!(
                messages = stalled,
                "synchronous sends left by a stopped process; checking them with Plivo"
            );
        }
        self.store.sweep_held_callbacks().await?;
        // One at a time, each leased only while it is checked: a process that stops mid-round
        // holds back one message for one lease, not a batch.
        for _ in 0..PER_ROUND {
            let now = Utc::now();
            let claimed = self
                .store
                .claim_reconcilable(
                    now,
                    now - chrono(self.config.settle),
                    now + chrono(self.lease),
                    1,
                )
                .await?;
            let Some(item) = claimed.into_iter().next() else {
                break;
            };
            let outcome = self.check(&item, Utc::now()).await;
            let label = match &outcome {
                Reconciled::Found { .. } => Some("found"),
                Reconciled::NotFound => Some("not_found"),
                Reconciled::Later { counted: true, .. } | Reconciled::GaveUp => Some("ambiguous"),
                Reconciled::Later { .. } => None,
            };
            if let Some(label) = label {
                self.metrics.record_reconciliation(label);
            }
            if let Reconciled::Later { reason, .. } = &outcome {
                tracing::info!(message.id = %item.record.id, reason = %reason, "reconciliation postponed");
            } else {
                tracing::info!(message.id = %item.record.id, outcome = label.unwrap_or(""), "reconciled with Plivo");
            }
            self.store
                .resolve_reconcile(&item.record.id, &outcome, Utc::now())
                .await?;
        }
        let checks = self
            .store
            .claim_receipt_checks(
                now,
                now - chrono(self.config.receipt_timeout),
                now + chrono(LEASE),
                20,
            )
            .await?;
        for check in checks {
            self.check_receipt(&check, Utc::now()).await?;
        }
        let (awaiting, held) = self.store.reconcile_gauges(100_000).await?;
        self.metrics.set_reconcile_gauges(awaiting, held);
        Ok(())
    }

    /// Asks Plivo about one message and decides.
    async fn check(&self, item: &ReconcileItem, now: DateTime<Utc>) -> Reconciled {
        let record = &item.record;
        let log = item
            .plivo_log
            .as_deref()
            .and_then(PlivoLog::parse)
            .unwrap_or(self.config.plivo_log);
        let deadline = item
            .deadline
            .unwrap_or(record.created_at + chrono(self.message_ttl));
        if log.masks_number() {
            // Plivo masks the number: only the UUID can find it.
            return match &record.message_uuid {
                Some(uuid) => match self.get(uuid).await {
                    Ok(Some(detail)) => {
                        self.learn_opt_out(&detail).await;
                        self.learn_opt_out(&detail).await;
                        self.found(detail, Vec::new())
                    }
                    Ok(None) => {
                        self.ambiguous(item, now, deadline, "Plivo has no record of its UUID")
                    }
                    Err(later) => later,
                },
                None => self.ambiguous(
                    item,
                    now,
                    deadline,
                    "sent with PLIVO_LOG masking the number: it can only be found by UUID",
                ),
            };
        }
        // A Powerpack message has no sender number of its own until Plivo reports one.
        let powerpack_id = self
            .powerpack_uuid
            .clone()
            .filter(|_| record.sender_number.is_empty());
        let query = ListQuery {
            to_number: record.recipient_number.clone(),
            from_number: Some(record.sender_number.clone()).filter(|s| !s.is_empty()),
            powerpack_id,
            since: item.first_attempt_at - chrono::Duration::seconds(60),
            offset: 0,
        };
        let mut candidates = match self.list_all(query, now).await {
            Listed::All(found) => found,
            Listed::Postponed(next, reason) => {
                return Reconciled::Later {
                    next,
                    counted: false,
                    reason,
                }
            }
        };
        let uuids: Vec<String> = candidates.iter().map(|c| c.message_uuid.clone()).collect();
        let others = match self.store.uuids_of_others(&record.id, &uuids).await {
            Ok(others) => others,
            Err(e) => {
                return Reconciled::Later {
                    next: now + chrono::Duration::seconds(5),
                    counted: false,
                    reason: e.to_string(),
                }
            }
        };
        candidates.retain(|c| !others.contains(&c.message_uuid));
        if let Some(own) = &record.message_uuid {
            // A synchronous send that succeeded after an unknown attempt: any other candidate is a
            // duplicate Plivo holds for it.
            let duplicates: Vec<String> = candidates
                .iter()
                .map(|c| c.message_uuid.clone())
                .filter(|u| u != own)
                .collect();
            return match candidates.into_iter().find(|c| &c.message_uuid == own) {
                Some(detail) => {
                    self.learn_opt_out(&detail).await;
                    self.found(detail, duplicates)
                }
                None => Reconciled::Found {
                    message_uuid: own.clone(),
                    update: StatusUpdate {
                        status: record.status,
                        message_uuid: None,
                        error_code: None,
                        error_message: None,
                        at: now,
                    },
                    duplicates,
                },
            };
        }
        match candidates.len() {
            0 => Reconciled::NotFound,
            1 => {
                let detail = candidates.remove(0);
                self.found(detail, Vec::new())
            }
            n => self.ambiguous(
                item,
                now,
                deadline,
                &format!("Plivo holds {n} messages that could be this one"),
            ),
        }
    }

    /// Plivo's error 200 in its records puts the recipient on the opt-out list (docs/api.md
    /// "Opt-outs").
    async fn learn_opt_out(&self, detail: &MessageDetail) {
        let Some(to) = detail.to_number.as_deref() else {
            return;
        };
        if let Err(e) = crate::optouts::learn_from_plivo_error(
            self.store.as_ref(),
            &self.metrics,
            to,
            detail.error_code.as_deref(),
        )
        .await
        {
            tracing::warn!(error = %e, "could not record an opt-out learned from Plivo's records");
        }
    }

    fn found(&self, detail: MessageDetail, duplicates: Vec<String>) -> Reconciled {
        let update = status_of(&detail).unwrap_or(StatusUpdate {
            status: MessageStatus::Queued,
            message_uuid: None,
            error_code: None,
            error_message: None,
            at: Utc::now(),
        });
        Reconciled::Found {
            message_uuid: detail.message_uuid,
            update,
            duplicates,
        }
    }

    fn ambiguous(
        &self,
        item: &ReconcileItem,
        now: DateTime<Utc>,
        deadline: DateTime<Utc>,
        reason: &str,
    ) -> Reconciled {
        let next = now + chrono(ambiguous_backoff(item.tries));
        if next >= deadline {
            Reconciled::GaveUp
        } else {
            Reconciled::Later {
                next,
                counted: true,
                reason: reason.to_owned(),
            }
        }
    }

    /// Every page of a List Message query, each within the account-wide budget.
    async fn list_all(&self, mut query: ListQuery, now: DateTime<Utc>) -> Listed {
        let mut all = Vec::new();
        for _ in 0..MAX_PAGES {
            match self
                .store
                .take_list_slot(Utc::now(), self.config.max_list_per_minute)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    return Listed::Postponed(
                        now + chrono::Duration::seconds(5),
                        "the List Message budget of this minute is spent".to_owned(),
                    )
                }
                Err(e) => {
                    return Listed::Postponed(now + chrono::Duration::seconds(5), e.to_string())
                }
            }
            match self.api.list_messages(&query).await {
                Ok(page) => {
                    let more = page.meta.next.is_some() && !page.objects.is_empty();
                    all.extend(page.objects);
                    if !more {
                        return Listed::All(all);
                    }
                    query.offset += crate::plivo::records::LIST_PAGE;
                }
                Err(e) => return Listed::Postponed(postpone_after(&e, now), e.to_string()),
            }
        }
        // More than MAX_PAGES pages of candidates: surely more than one.
        Listed::All(all)
    }

    /// Get Message within `PLIVO_MAX_RPS`; `Err` carries the postponement.
    async fn get(&self, uuid: &str) -> Result<Option<MessageDetail>, Reconciled> {
        let later = |next: DateTime<Utc>, reason: String| Reconciled::Later {
            next,
            counted: false,
            reason,
        };
        let _permit = self.limiter.acquire(SLOT_WAIT).await.map_err(|_| {
            later(
                Utc::now() + chrono::Duration::seconds(5),
                "no slot within PLIVO_MAX_RPS".to_owned(),
            )
        })?;
        self.api
            .get_message(uuid)
            .await
            .map_err(|e| later(postpone_after(&e, Utc::now()), e.to_string()))
    }

    /// One overdue receipt: Get Message, take Plivo's state, schedule the next lookup, or at the
    /// deadline record `no_receipt`.
    async fn check_receipt(
        &self,
        check: &ReceiptCheck,
        now: DateTime<Utc>,
    ) -> Result<(), crate::store::StoreError> {
        let deadline = check.created_at + chrono(self.message_ttl);
        let update = match self.get(&check.message_uuid).await {
            Ok(Some(detail)) => {
                self.learn_opt_out(&detail).await;
                status_of(&detail)
            }
            Ok(None) | Err(_) => None,
        };
        let next = next_receipt_lookup(
            check.updated_at,
            now,
            self.config.receipt_timeout,
            check.checks,
        )
        .min(deadline);
        self.store
            .schedule_receipt_check(&check.id, Some(next))
            .await?;
        if let Some(update) = update {
            if update.status.rank() > check.status.rank() {
                self.store.update_status(&check.id, &update).await?;
                return Ok(());
            }
        }
        if now >= deadline {
            self.store.mark_no_receipt(&check.id, now).await?;
        }
        Ok(())
    }
}

/// When to ask again after a failed lookup: Plivo's `Retry-After` after a 429 (60 s without
/// one), 30 s after anything else. A 429 never means "not found".
fn postpone_after(e: &AttemptError, now: DateTime<Utc>) -> DateTime<Utc> {
    let wait = match e {
        AttemptError::Status {
            status: 429,
            retry_after,
            ..
        } => retry_after.unwrap_or(Duration::from_secs(60)),
        _ => Duration::from_secs(30),
    };
    now + chrono(wait)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn receipt_lookups_back_off_and_stay_within_an_hour() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let timeout = Duration::from_secs(600);
        // 1st lookup made at t0 + 600 s; the next comes at t0 + 1200 s.
        let now = t0 + chrono::Duration::seconds(600);
        assert_eq!(
            next_receipt_lookup(t0, now, timeout, 1),
            t0 + chrono::Duration::seconds(1200)
        );
        // Later ones are capped at an hour after the lookup just made.
        let now = t0 + chrono::Duration::seconds(4800);
        assert_eq!(
            next_receipt_lookup(t0, now, timeout, 4),
            now + chrono::Duration::seconds(3600)
        );
    }

    #[test]
    fn ambiguous_answers_back_off() {
        assert_eq!(ambiguous_backoff(0), Duration::from_secs(60));
        assert_eq!(ambiguous_backoff(2), Duration::from_secs(240));
        assert_eq!(ambiguous_backoff(30), Duration::from_secs(3600));
    }

    #[test]
    fn plivo_states_map_onto_statuses() {
        let detail = |state: &str, code: Option<&str>| MessageDetail {
            message_uuid: "u".into(),
            message_state: state.into(),
            error_code: code.map(str::to_owned),
            to_number: None,
            from_number: None,
            message_time: None,
        };
        let failed = status_of(&detail("failed", Some("420"))).unwrap();
        assert_eq!(failed.status, MessageStatus::Failed);
        assert_eq!(failed.error_code.as_deref(), Some("420"));
        let delivered = status_of(&detail("delivered", Some("000"))).unwrap();
        assert_eq!(delivered.error_code, None);
        assert_eq!(
            status_of(&detail("rejected", None)).unwrap().status,
            MessageStatus::Failed
        );
        assert!(status_of(&detail("read", None)).is_none());
    }

    #[test]
    fn a_429_postpones_by_its_retry_after() {
        let now = Utc::now();
        let e = AttemptError::Status {
            status: 429,
            message: "too many requests".into(),
            api_id: None,
            retry_after: Some(Duration::from_secs(7)),
        };
        assert_eq!(postpone_after(&e, now), now + chrono::Duration::seconds(7));
    }
}
