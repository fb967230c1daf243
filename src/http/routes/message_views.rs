//! How stored messages are shown: an outbound message as its record (with `direction: "outbound"`),
//! an inbound one as `{id, direction: "inbound", from, to, text, mediaUrls, messageUuid, receivedAt}`.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::{CallbackAttempt, Direction, MessagePage, MessageRecord};

/// A message of either direction.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum MessageView {
    /// Sent by this service.
    Outbound(Box<MessageRecord>),
    /// Received from a phone.
    Inbound(InboundMessage),
}

/// A message received from a phone.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboundMessage {
    /// This service's id.
    pub id: String,
    /// Always `inbound`.
    pub direction: Direction,
    /// Who wrote (E.164).
    pub from: String,
    /// The number written to (E.164).
    pub to: String,
    /// The text (`Text` or `Body`), if any.
    pub text: Option<String>,
    /// The media URLs Plivo gave, in order.
    pub media_urls: Vec<String>,
    /// Plivo's `MessageUUID`.
    pub message_uuid: Option<String>,
    /// When this service received it.
    pub received_at: DateTime<Utc>,
    /// Deliveries of this message to `INBOUND_CALLBACK_URL` (only in `GET /messages/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_attempts: Option<Vec<CallbackAttempt>>,
}

impl From<MessageRecord> for MessageView {
    fn from(record: MessageRecord) -> Self {
        match record.direction {
            Direction::Outbound => MessageView::Outbound(Box::new(record)),
            // The store keeps the remote party in `recipient_number` and this service's number in
            // `sender_number`, whichever the direction (see the inbound migration).
            Direction::Inbound => MessageView::Inbound(InboundMessage {
                id: record.id,
                direction: Direction::Inbound,
                from: record.recipient_number,
                to: record.sender_number,
                text: record.message_text,
                media_urls: record.media_urls,
                message_uuid: record.message_uuid,
                received_at: record.created_at,
                callback_attempts: record.callback_attempts,
            }),
        }
    }
}

/// One page of messages of either direction, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageList {
    /// The messages of this page.
    pub messages: Vec<MessageView>,
    /// Pass this as `cursor` to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

impl From<MessagePage> for MessageList {
    fn from(page: MessagePage) -> Self {
        MessageList {
            messages: page.messages.into_iter().map(MessageView::from).collect(),
            next_cursor: page.next_cursor,
        }
    }
}
