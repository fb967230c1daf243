//! Per-sender pacing in the delivery paths (README.md "Senders and pacing"): the asynchronous
//! backlog waits in the outbox for its sender's slots (reserved when it is enqueued, or when a
//! retry is due), and a synchronous send waits at most `SYNC_SLOT_WAIT_MS` for one.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;

use super::Delivery;
use crate::plivo::PlivoError;
use crate::senders::{sleep_until, SenderPacing, SenderPool, SlotWait};
use crate::store::{ClaimedMessage, NewMessage, SlotRequest, StoreError};

/// How far ahead a delivery worker holding a message may wait for its slot; a later slot sends
/// the message back to the outbox until then.
const WORKER_HORIZON: Duration = Duration::from_secs(1);

/// The slot requests for newly enqueued `records`: each message alone, except that a batch's
/// messages of one sender go together, at most `per_call` to a request (one Plivo call each).
pub fn plan(records: &[NewMessage], pool: &SenderPool, per_call: usize) -> Vec<SlotRequest> {
    let mut requests = Vec::new();
    let mut batches: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for r in records {
        let sender = pool.pacing_key(&r.sender_number);
        match &r.batch_id {
            Some(batch) => batches
                .entry((batch.clone(), sender))
                .or_default()
                .push(r.id.clone()),
            None => requests.push(SlotRequest {
                sender,
                ids: vec![r.id.clone()],
            }),
        }
    }
    for ((_, sender), ids) in batches {
        for chunk in ids.chunks(per_call.max(1)) {
            requests.push(SlotRequest {
                sender: sender.clone(),
                ids: chunk.to_vec(),
            });
        }
    }
    requests
}

/// Why a synchronous send cannot go now.
#[derive(Debug, thiserror::Error)]
pub enum SlotError {
    /// No slot of the sender within `SYNC_SLOT_WAIT_MS` (`503 provider_unavailable`, nothing
    /// recorded or sent).
    #[error(transparent)]
    NoSlot(PlivoError),
    /// The store did not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Delivery {
    /// Sends from `pool` (`PLIVO_SENDER_NUMBER`'s numbers, or a Powerpack).
    pub fn with_senders(mut self, pool: SenderPool) -> Self {
        self.senders = pool;
        self
    }

    /// The sender pool.
    pub fn senders(&self) -> &SenderPool {
        &self.senders
    }

    /// Paces every sender at `pacing`'s rate (`PLIVO_SENDER_MPS`); synchronous sends wait at most
    /// `sync_wait` for a slot.
    pub fn with_pacing(mut self, pacing: SenderPacing, sync_wait: Duration) -> Self {
        self.pacing = Some((pacing, sync_wait));
        self
    }

    /// The pacing, when `PLIVO_SENDER_MPS` is set.
    pub fn pacing(&self) -> Option<&SenderPacing> {
        self.pacing.as_ref().map(|(p, _)| p)
    }

    /// Enqueues `records` with their sender slots reserved (the pacing is set).
    pub(super) async fn enqueue_paced(
        &self,
        pacing: &SenderPacing,
        records: &[NewMessage],
        deadline: chrono::DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let per_call = pacing.recipients_per_call(super::bulk::RECIPIENTS_PER_CALL);
        let requests = plan(records, &self.senders, per_call);
        self.store
            .enqueue_paced(records, deadline, &requests, pacing.interval())
            .await
    }

    /// Waits for the synchronous message's sender slot, if paced: at most `SYNC_SLOT_WAIT_MS`,
    /// else `503 provider_unavailable` with `Retry-After` (nothing recorded, nothing sent).
    pub async fn wait_for_sync_slot(&self, record: &NewMessage) -> Result<(), SlotError> {
        let Some((pacing, wait)) = &self.pacing else {
            return Ok(());
        };
        let now = Utc::now();
        let latest = now + chrono::Duration::from_std(*wait).unwrap_or_default();
        let key = self.senders.pacing_key(&record.sender_number);
        match pacing.reserve(&key, 1, now, latest).await? {
            SlotWait::SendAt(at) => {
                sleep_until(at).await;
                Ok(())
            }
            SlotWait::TooLate(free_at) => {
                let retry_after = (free_at - now).to_std().unwrap_or_default();
                Err(SlotError::NoSlot(PlivoError::Unavailable {
                    last: format!(
                        "no slot for this sender within SYNC_SLOT_WAIT_MS ({} ms)",
                        wait.as_millis()
                    ),
                    retry_after,
                }))
            }
        }
    }

    /// Before a worker sends `group` (one Plivo call, one sender): with pacing, the group goes now
    /// if its slots were reserved, or if they can be within a second (the worker waits for them);
    /// otherwise it goes back to the outbox until its slot, and `None` is returned.
    pub(super) async fn pace_group(
        &self,
        owner: &str,
        group: Vec<ClaimedMessage>,
    ) -> Result<Option<Vec<ClaimedMessage>>, StoreError> {
        let Some((pacing, _)) = &self.pacing else {
            return Ok(Some(group));
        };
        let Some(first) = group.first() else {
            return Ok(None);
        };
        let ids: Vec<String> = group.iter().map(|m| m.record.id.clone()).collect();
        let reserved = self.store.slot_reservations(&ids).await?;
        if reserved.len() == ids.len() {
            return Ok(Some(group));
        }
        let deadline = group
            .iter()
            .map(|m| m.deadline)
            .min()
            .unwrap_or(first.deadline);
        let key = self.senders.pacing_key(&first.record.sender_number);
        let now = Utc::now();
        let horizon = now + chrono::Duration::from_std(WORKER_HORIZON).unwrap_or_default();
        let count = u32::try_from(group.len()).unwrap_or(u32::MAX);
        match pacing.reserve(&key, count, now, horizon).await? {
            SlotWait::SendAt(at) => {
                sleep_until(at).await;
                Ok(Some(group))
            }
            SlotWait::TooLate(_) => {
                // Reserve the slot it will have, unless that is past the deadline (then it waits
                // for the deadline and fails with `expired`).
                let grant = pacing.reserve(&key, count, now, deadline).await?;
                let (due, slot) = match grant {
                    SlotWait::SendAt(at) => (at, Some(at)),
                    SlotWait::TooLate(_) => (deadline, None),
                };
                self.store.defer_for_slot(owner, &ids, due, slot).await?;
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, to: &str, batch: Option<&str>, pool: &SenderPool) -> NewMessage {
        NewMessage {
            id: id.into(),
            recipient_number: crate::domain::PhoneNumber::parse(to).expect("a test number"),
            sender_number: pool.choose(to, None),
            message_text: None,
            media_urls: vec![],
            media_ids: vec![],
            callback_url: None,
            batch_id: batch.map(str::to_owned),
            created_at: Utc::now(),
        }
    }

    #[test]
    fn a_batch_is_split_per_sender_and_per_call() {
        let pool = SenderPool::new(vec!["+14155550101".into(), "+14155550102".into()], None);
        let mut records: Vec<NewMessage> = (0..20)
            .map(|i| {
                record(
                    &format!("b{i}"),
                    &format!("+1415555{i:04}"),
                    Some("batch"),
                    &pool,
                )
            })
            .collect();
        records.push(record("single", "+14155559999", None, &pool));
        let requests = plan(&records, &pool, 3);
        assert_eq!(requests[0].ids, ["single"]);
        let mut covered: Vec<String> = requests.iter().flat_map(|r| r.ids.clone()).collect();
        covered.sort();
        assert_eq!(covered.len(), 21);
        for r in &requests {
            assert!(r.ids.len() <= 3);
            // One sender per request.
            for id in &r.ids {
                let m = records.iter().find(|m| &m.id == id).unwrap();
                assert_eq!(pool.pacing_key(&m.sender_number), r.sender);
            }
        }
        let senders: std::collections::HashSet<&str> =
            requests.iter().map(|r| r.sender.as_str()).collect();
        assert_eq!(senders.len(), 2);
    }
}
