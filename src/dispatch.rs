//! Sending one MMS: shared by the HTTP API and the `send` command.

use crate::domain::OutboundMms;
use crate::plivo::{PlivoError, RetryingSender, SendMessageBody, Sent};

/// Turns checked messages into Plivo requests and sends them with retries.
#[derive(Clone)]
pub struct Dispatcher {
    sender: RetryingSender,
    sender_number: String,
    status_callback_url: Option<String>,
}

impl Dispatcher {
    /// `sender_number` is `PLIVO_SENDER_NUMBER`; `status_callback_url` is passed to Plivo as `url`.
    pub fn new(
        sender: RetryingSender,
        sender_number: String,
        status_callback_url: Option<String>,
    ) -> Self {
        Self {
            sender,
            sender_number,
            status_callback_url,
        }
    }

    /// The number messages are sent from.
    pub fn sender_number(&self) -> &str {
        &self.sender_number
    }

    /// The body Plivo receives for `mms` sent to `dst` (one number, or several joined with `<`).
    pub fn request_body(&self, mms: &OutboundMms, dst: String) -> SendMessageBody {
        SendMessageBody {
            src: self.sender_number.clone(),
            dst,
            kind: "mms",
            text: mms
                .text
                .as_ref()
                .filter(|t| !t.is_empty())
                .map(|t| t.as_str().to_owned()),
            media_urls: mms
                .media
                .urls()
                .iter()
                .map(|u| u.as_str().to_owned())
                .collect(),
            media_ids: mms
                .media
                .ids()
                .iter()
                .map(|id| id.as_str().to_owned())
                .collect(),
            url: self.status_callback_url.clone(),
            method: self.status_callback_url.as_ref().map(|_| "POST"),
        }
    }

    /// Sends one MMS to its recipient.
    pub async fn send(&self, mms: &OutboundMms) -> Result<Sent, PlivoError> {
        let body = self.request_body(mms, mms.to.as_str().to_owned());
        self.sender.send(&body).await
    }
}
