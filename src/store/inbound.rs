//! The values of inbound messages and the opt-out list, as the store takes and returns them.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which way a stored message went.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Sent by this service.
    #[default]
    Outbound,
    /// Received from a phone (Plivo's incoming-message webhook).
    Inbound,
}

impl Direction {
    /// The lowercase name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
        }
    }
}

impl FromStr for Direction {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "outbound" => Ok(Direction::Outbound),
            "inbound" => Ok(Direction::Inbound),
            _ => Err(()),
        }
    }
}

/// A message received from a phone, to store once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInbound {
    /// This service's id for it.
    pub id: String,
    /// Plivo's `MessageUUID` (the key that makes a repeated webhook a no-op).
    pub message_uuid: String,
    /// Who wrote (E.164).
    pub from: String,
    /// The number it wrote to (E.164).
    pub to: String,
    /// Its text (`Text` or `Body`), if any.
    pub text: Option<String>,
    /// Its media URLs, in order.
    pub media_urls: Vec<String>,
    /// When this service received it.
    pub received_at: DateTime<Utc>,
}

/// What [`Store::record_inbound`](super::Store::record_inbound) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundOutcome {
    /// A message with this UUID was stored already: nothing changed.
    Repeat,
    /// Stored (and its event queued); `opt_out_changed` tells whether the opt-out list changed.
    Stored {
        /// The STOP or START changed the list (see `OptOutChange`).
        opt_out_changed: bool,
    },
}

/// An event to post to a fixed URL with a prepared JSON body (an inbound message forwarded to
/// `INBOUND_CALLBACK_URL`), queued in the same transaction as what it announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewForward {
    /// Unique per event; also inside `payload` as `eventId`.
    pub event_id: String,
    /// Where to post it.
    pub target_url: String,
    /// The JSON body.
    pub payload: String,
}

/// What kind of event a caller is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A status change of a message sent with `callbackUrl`.
    Status,
    /// An inbound message forwarded to `INBOUND_CALLBACK_URL`.
    Inbound,
}

impl EventKind {
    /// The name stored in `callback_events.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Status => "status",
            EventKind::Inbound => "inbound",
        }
    }
}

/// Whether a change puts a number on the opt-out list or takes it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OptOutAction {
    /// The number asked not to be texted.
    Optout,
    /// The number may be texted again.
    Optin,
}

impl OptOutAction {
    /// The stored (and shown) name.
    pub fn as_str(self) -> &'static str {
        match self {
            OptOutAction::Optout => "optout",
            OptOutAction::Optin => "optin",
        }
    }
}

/// Where an opt-out change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OptOutSource {
    /// An inbound message (a keyword or Plivo's `MessageIntent`).
    Inbound,
    /// Plivo reported error 200 (the destination opted out) for a message sent to the number.
    #[serde(rename = "plivo_error_200")]
    PlivoError200,
    /// `PUT`/`DELETE /opt-outs/{number}`.
    Api,
}

impl OptOutSource {
    /// Every source (for metrics).
    pub const ALL: [OptOutSource; 3] = [
        OptOutSource::Inbound,
        OptOutSource::PlivoError200,
        OptOutSource::Api,
    ];

    /// The stored (and shown) name.
    pub fn as_str(self) -> &'static str {
        match self {
            OptOutSource::Inbound => "inbound",
            OptOutSource::PlivoError200 => "plivo_error_200",
            OptOutSource::Api => "api",
        }
    }
}

impl fmt::Display for OptOutSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OptOutSource {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OptOutSource::ALL
            .into_iter()
            .find(|source| source.as_str() == s)
            .ok_or(())
    }
}

/// One change to make to the opt-out list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptOutChange {
    /// The number (E.164).
    pub number: String,
    /// On or off the list.
    pub action: OptOutAction,
    /// Who asked.
    pub source: OptOutSource,
    /// When.
    pub at: DateTime<Utc>,
}

/// A number on the opt-out list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OptOutEntry {
    /// The number (E.164).
    pub number: String,
    /// Where its latest opt-out came from.
    pub source: OptOutSource,
    /// When it opted out (latest).
    pub at: DateTime<Utc>,
}

/// One page of the opt-out list, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OptOutPage {
    /// The numbers of this page.
    pub opt_outs: Vec<OptOutEntry>,
    /// Pass this as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// One recorded change of a number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OptOutHistoryEntry {
    /// On or off the list.
    pub action: OptOutAction,
    /// Who asked.
    pub source: OptOutSource,
    /// When.
    pub at: DateTime<Utc>,
}

/// A number's place on the opt-out list and every change, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OptOutStatus {
    /// The number (E.164).
    pub number: String,
    /// Whether sends to it are refused now.
    pub opted_out: bool,
    /// Every change, oldest first.
    pub history: Vec<OptOutHistoryEntry>,
}
