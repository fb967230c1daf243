//! The values the message store takes and returns.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{MediaId, MediaUrl, MessageText, PhoneNumber};

/// Where a message is in its life (docs/api.md, "Messages").
///
/// The order is `accepted → sending → queued → sent → delivered | undelivered | failed`; the last three are
/// final. A change applies only when it moves strictly forward (see [`MessageStatus::rank`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    /// Recorded by this service; Plivo not called yet.
    Accepted,
    /// A request to Plivo is under way.
    Sending,
    /// Plivo accepted the message.
    Queued,
    /// Plivo handed the message to the carrier.
    Sent,
    /// The carrier confirmed delivery (final).
    Delivered,
    /// The carrier could not deliver it (final).
    Undelivered,
    /// Plivo or this service gave up on it (final).
    Failed,
}

impl MessageStatus {
    /// Every status, in rank order.
    pub const ALL: [MessageStatus; 7] = [
        MessageStatus::Accepted,
        MessageStatus::Sending,
        MessageStatus::Queued,
        MessageStatus::Sent,
        MessageStatus::Delivered,
        MessageStatus::Undelivered,
        MessageStatus::Failed,
    ];

    /// The lowercase name stored in the database and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Accepted => "accepted",
            MessageStatus::Sending => "sending",
            MessageStatus::Queued => "queued",
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Undelivered => "undelivered",
            MessageStatus::Failed => "failed",
        }
    }

    /// `true` for `delivered`, `undelivered` and `failed`: nothing moves a message out of them.
    pub fn is_final(self) -> bool {
        self.rank() == 4
    }

    /// Position in the state machine: accepted 0, sending 1, queued 2, sent 3, any final status 4.
    ///
    /// An update applies only when its rank is strictly higher than the current one's. The SQL in
    /// `store::sql` mirrors this table (a test checks they agree).
    pub fn rank(self) -> i64 {
        match self {
            MessageStatus::Accepted => 0,
            MessageStatus::Sending => 1,
            MessageStatus::Queued => 2,
            MessageStatus::Sent => 3,
            MessageStatus::Delivered | MessageStatus::Undelivered | MessageStatus::Failed => 4,
        }
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not one of the seven lowercase status names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown message status {0:?}")]
pub struct UnknownStatus(pub String);

impl FromStr for MessageStatus {
    type Err = UnknownStatus;

    /// Parses the lowercase name (as produced by [`MessageStatus::as_str`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MessageStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// A message to record, before Plivo is called. It is stored with status `accepted`.
///
/// Timestamps are kept to the microsecond; finer parts are dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// This service's message id (unique).
    pub id: String,
    /// The destination.
    pub recipient_number: PhoneNumber,
    /// E.164 sender (the Plivo number).
    pub sender_number: String,
    /// Optional text.
    pub message_text: Option<MessageText>,
    /// Media URLs, in order.
    pub media_urls: Vec<MediaUrl>,
    /// Plivo media ids, in order.
    pub media_ids: Vec<MediaId>,
    /// Where the caller wants status events (docs/api.md, "Events this service posts").
    pub callback_url: Option<String>,
    /// The bulk request this message belongs to, if any.
    pub batch_id: Option<String>,
    /// When the send was accepted.
    pub created_at: DateTime<Utc>,
}

/// A proposed status change (from the sender, the delivery worker or a Plivo callback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    /// The new status.
    pub status: MessageStatus,
    /// Plivo's message UUID, when this change reveals it.
    pub message_uuid: Option<String>,
    /// Plivo's or this service's error code, when there is one.
    pub error_code: Option<String>,
    /// A human-readable reason; kept on the record and as the event's `detail`.
    pub error_message: Option<String>,
    /// When the change happened.
    pub at: DateTime<Utc>,
}

/// What [`Store::update_status`](super::Store::update_status) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// The status moved forward and an event was recorded.
    Applied,
    /// Nothing changed: the update would move backwards, repeats the status, or the message is final.
    Ignored,
    /// No message has that id (or UUID).
    NotFound,
}

/// One recorded change of a message (a status change or an `outcome_unknown` note).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageEvent {
    /// The message's status after this event.
    pub status: MessageStatus,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The error code that came with it, if any.
    pub error_code: Option<String>,
    /// A free-text detail (error message, or why the outcome is unknown).
    pub detail: Option<String>,
}

/// A stored message with its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageRecord {
    /// This service's message id.
    pub id: String,
    /// Current status.
    pub status: MessageStatus,
    /// E.164 destination.
    pub recipient_number: String,
    /// E.164 sender; empty (shown as `null`) while Plivo has not said which Powerpack number sent it.
    #[serde(serialize_with = "empty_as_null")]
    #[schema(value_type = Option<String>)]
    pub sender_number: String,
    /// Optional text.
    pub message_text: Option<String>,
    /// Media URLs.
    pub media_urls: Vec<String>,
    /// Plivo media ids.
    pub media_ids: Vec<String>,
    /// Plivo's message UUID once known.
    pub message_uuid: Option<String>,
    /// Last error code reported.
    pub error_code: Option<String>,
    /// Last error message reported.
    pub error_message: Option<String>,
    /// A request to Plivo ended without an answer (e.g. a timeout after sending): Plivo may or may not have it.
    /// Cleared once the reconciler has checked Plivo's records (kept when they stayed ambiguous).
    pub outcome_unknown: bool,
    /// Where status events go, if anywhere.
    pub callback_url: Option<String>,
    /// The bulk request this message belongs to.
    pub batch_id: Option<String>,
    /// When it was accepted.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Every change, oldest first (the first is always `accepted`).
    pub events: Vec<MessageEvent>,
    /// Deliveries of this message's status events to its `callbackUrl` (only in `GET /messages/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_attempts: Option<Vec<CallbackAttempt>>,
    /// `true` once redaction (`REDACT_AFTER_DAYS`) removed its text, media URLs and full recipient
    /// number; absent otherwise.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub redacted: bool,
    // --- resend ---
    /// The message this one resends (`POST /messages/{id}/resend`); only in `GET /messages/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resend_of: Option<String>,
    /// The resends of this message, oldest first; only in `GET /messages/{id}`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resent_as: Vec<String>,
    // --- reconciliation ---
    /// Further messages Plivo holds for this one (a retried synchronous send that Plivo took twice),
    /// found by the reconciler; usually empty.
    pub duplicate_uuids: Vec<String>,
    /// `outbound` (sent by this service) or `inbound` (received; then `recipient_number` holds who
    /// wrote and `sender_number` the number written to, see `src/http/routes/messages.rs`).
    pub direction: super::Direction,
    // --- media uploads ---
    /// The files uploaded to Plivo for this message, in the order of its `mediaIds` (only in
    /// `GET /messages/{id}`, and only when there were some).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uploads: Option<Vec<UploadedMedia>>,
}

// --- media uploads ---
/// One file uploaded to Plivo's Media API: what `POST /media` answers and what a message records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadedMedia {
    /// Plivo's media id, sent as `media_ids`.
    pub media_id: String,
    /// The type judged from the file's bytes.
    pub content_type: String,
    /// The file's size in bytes.
    pub size: u64,
    /// The file name, as sent to Plivo.
    pub file_name: String,
}

/// One try at posting a status event to a caller's `callbackUrl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallbackAttempt {
    /// The event posted.
    pub event_id: String,
    /// The status the event announced.
    pub status: MessageStatus,
    /// 1 for the first try.
    pub attempt: u32,
    /// When it was tried.
    pub at: DateTime<Utc>,
    /// The HTTP status the caller answered, if it answered.
    pub response_status: Option<u16>,
    /// What went wrong, if anything.
    pub error: Option<String>,
    /// The last try of an event whose retry window ran out (`POST /callbacks/redeliver` requeues it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub exhausted: bool,
}

/// An empty sender (a Powerpack message before Plivo named its number) is `null` in the API.
fn empty_as_null<S: serde::Serializer>(value: &str, s: S) -> Result<S::Ok, S::Error> {
    if value.is_empty() {
        s.serialize_none()
    } else {
        s.serialize_str(value)
    }
}

/// A message leased to a delivery worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedMessage {
    /// The message (without events).
    pub record: MessageRecord,
    /// Attempts so far, this one included.
    pub attempts: u32,
    /// After this the message is `failed` with `expired`.
    pub deadline: DateTime<Utc>,
    /// A previous worker's lease ran out: that attempt's outcome is unknown (the message is flagged).
    pub taken_over: bool,
}

/// The outbox at a glance (for metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxStats {
    /// Messages waiting for a delivery worker.
    pub depth: i64,
    /// When the oldest message not yet handed to Plivo was accepted.
    pub oldest_waiting: Option<DateTime<Utc>>,
    /// How many messages are in each status.
    pub by_status: Vec<(MessageStatus, i64)>,
}

impl OutboxStats {
    /// Seconds since the oldest message not yet handed to Plivo was accepted, `0` when there is
    /// none (never negative, whatever the clocks say). Read by `GET /stats` and `GET /metrics`.
    pub fn oldest_waiting_age_seconds(&self, now: DateTime<Utc>) -> f64 {
        self.oldest_waiting.map_or(0.0, |at| {
            (now - at).num_milliseconds().max(0) as f64 / 1000.0
        })
    }
}

/// The instances sharing Plivo's limits, as the database sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fleet {
    /// Instances whose heartbeat is recent, this one included.
    pub live: u32,
    /// The latest pause any instance asked for after a 429 from Plivo.
    pub pause_until: Option<DateTime<Utc>>,
}

/// A status event due to be posted to a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCallback {
    /// Unique per event; sent as `eventId`.
    pub event_id: String,
    /// This service's message id.
    pub message_id: String,
    /// Where to post.
    pub callback_url: String,
    /// Plivo's UUID, once known.
    pub message_uuid: Option<String>,
    /// The recipient.
    pub recipient_number: String,
    /// The status the event announces.
    pub status: MessageStatus,
    /// The error code of that change, if any.
    pub error_code: Option<String>,
    /// When the change happened.
    pub occurred_at: DateTime<Utc>,
    /// Tries so far.
    pub attempts: u32,
    /// When the current retry window began (`occurred_at`, or the redelivery that requeued it).
    pub window_start: DateTime<Utc>,
    /// A status event (built from the fields above) or a forwarded inbound message.
    pub kind: super::EventKind,
    /// The JSON body prepared when the event was queued (inbound events); `None` for status events.
    pub payload: Option<String>,
}

/// Filters and paging for [`Store::list_messages`](super::Store::list_messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageQuery {
    /// Only messages to this number.
    pub recipient_number: Option<String>,
    /// Only messages currently in this status.
    pub status: Option<MessageStatus>,
    /// Only messages of this direction (both when `None`).
    pub direction: Option<super::Direction>,
    /// Page size, 1 to [`MessageQuery::MAX_LIMIT`]; values outside are clamped.
    pub limit: u32,
    /// The `next_cursor` of the previous page; `None` for the first page.
    pub cursor: Option<String>,
}

impl MessageQuery {
    /// The largest page.
    pub const MAX_LIMIT: u32 = 100;
    /// The page size of [`MessageQuery::default`].
    pub const DEFAULT_LIMIT: u32 = 50;
}

impl Default for MessageQuery {
    fn default() -> Self {
        MessageQuery {
            recipient_number: None,
            status: None,
            direction: None,
            limit: MessageQuery::DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

/// One page of messages, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessagePage {
    /// The messages of this page.
    pub messages: Vec<MessageRecord>,
    /// Pass this as `cursor` to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// The answer to [`Store::claim_idempotency_key`](super::Store::claim_idempotency_key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// This caller owns the key now and must complete or release it.
    Claimed,
    /// Another request with the same body holds the key and has not finished.
    InFlight,
    /// A request with the same body finished: replay this answer.
    Completed {
        /// HTTP status to replay.
        status: u16,
        /// Response body to replay.
        body: Vec<u8>,
    },
    /// The key was used with a different request body.
    Mismatch,
}

// --- sender pool, pacing, resend, redelivery ---

/// What [`Store::reserve_sender_slots`](super::Store::reserve_sender_slots) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotGrant {
    /// The slots are reserved; the send may go at `at` (now or later).
    Granted {
        /// When the first reserved slot starts.
        at: DateTime<Utc>,
    },
    /// Nothing reserved: the sender's next free slot starts after the limit asked for.
    Refused {
        /// When the sender's next free slot starts.
        free_at: DateTime<Utc>,
    },
}

/// Several messages of one sender that go to Plivo together, for which slots are reserved at
/// enqueue time (one slot per recipient).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotRequest {
    /// The pacing key (the sender number, or the Powerpack).
    pub sender: String,
    /// The messages, by id.
    pub ids: Vec<String>,
}

/// What [`Store::resend_message`](super::Store::resend_message) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResendOutcome {
    /// A new message (in the outbox, with this id) repeats the old one.
    Created(String),
    /// No message has that id.
    NotFound,
    /// The message is not `failed` or `undelivered` (or ended with `no_receipt`).
    NotResendable(MessageStatus),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_round_trip() {
        for status in MessageStatus::ALL {
            assert_eq!(status.as_str().parse::<MessageStatus>(), Ok(status));
            let json = serde_json::to_string(&status).expect("serialize");
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
        assert!("Delivered".parse::<MessageStatus>().is_err());
    }

    #[test]
    fn only_the_last_three_are_final() {
        let finals: Vec<_> = MessageStatus::ALL
            .into_iter()
            .filter(|s| s.is_final())
            .collect();
        assert_eq!(
            finals,
            [
                MessageStatus::Delivered,
                MessageStatus::Undelivered,
                MessageStatus::Failed
            ]
        );
    }
}

// --- reconciliation ---

/// A message whose outcome is checked with Plivo's records, leased to one reconciler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileItem {
    /// The message (without events).
    pub record: MessageRecord,
    /// When the first attempt to send it started (its creation when unknown).
    pub first_attempt_at: DateTime<Utc>,
    /// The asynchronous message's deadline; `None` for a synchronous one.
    pub deadline: Option<DateTime<Utc>>,
    /// Ambiguous answers so far.
    pub tries: u32,
    /// `PLIVO_LOG` as it was sent (`None`: `true`).
    pub plivo_log: Option<String>,
}

/// What a Plivo record told the reconciler about a message it checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reconciled {
    /// Plivo has it: adopt its UUID and state; `duplicates` are further messages Plivo holds for it.
    Found {
        /// Plivo's UUID.
        message_uuid: String,
        /// Plivo's state, as this service's status (applied when it moves the message forward).
        update: StatusUpdate,
        /// Other UUIDs at Plivo for the same send.
        duplicates: Vec<String>,
    },
    /// Plivo has no such message: an asynchronous one goes back to the outbox, a synchronous one
    /// ends `failed` with `not_sent`.
    NotFound,
    /// Look again at `next` (an ambiguous answer when `counted`, else a postponed lookup).
    Later {
        /// When.
        next: DateTime<Utc>,
        /// Whether this was an ambiguous answer (it counts towards the backoff).
        counted: bool,
        /// Why, for the log.
        reason: String,
    },
    /// Ambiguous until the deadline: `failed` with `ambiguous`, flag kept, never resent.
    GaveUp,
}

/// A `queued`/`sent` message whose receipt is overdue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptCheck {
    /// The message's id.
    pub id: String,
    /// Plivo's UUID.
    pub message_uuid: String,
    /// Its status now.
    pub status: MessageStatus,
    /// Lookups made so far.
    pub checks: u32,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its status last changed.
    pub updated_at: DateTime<Utc>,
}
