//! What a send asks for, once parsed: by `POST /send-mms` (`src/http/send_request.rs`) or by the
//! `send` command.

use super::idempotency::IdempotencyKey;
use crate::domain::OutboundMms;

/// A checked send request: who gets what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendRequest {
    /// `recipientNumber`: one message.
    Single {
        /// The message.
        mms: OutboundMms,
        /// Where status events go (`callbackUrl`).
        callback_url: Option<String>,
    },
    /// `recipientNumbers`: the same content to each, always asynchronous.
    Bulk {
        /// One message per recipient, in the order given.
        messages: Vec<OutboundMms>,
        /// Where status events go (`callbackUrl`).
        callback_url: Option<String>,
    },
}

/// One call of [`super::Sender::send`]: the request, how to answer, and its idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendCommand {
    /// What to send.
    pub request: SendRequest,
    /// Store and answer at once, a delivery worker sends later (`Prefer: respond-async`). Bulk
    /// requests are always asynchronous.
    pub respond_async: bool,
    /// The `Idempotency-Key`, scoped to its caller.
    pub idempotency: Option<IdempotencyKey>,
}

impl SendCommand {
    /// A synchronous send of one message, without a key (the `send` command).
    pub fn now(mms: OutboundMms) -> Self {
        Self {
            request: SendRequest::Single {
                mms,
                callback_url: None,
            },
            respond_async: false,
            idempotency: None,
        }
    }
}
