//! Turning messages into Plivo requests and sending them: shared by the HTTP API, the delivery
//! workers and the `send` command.

use std::time::Duration;

use crate::domain::OutboundMms;
use crate::plivo::{
    AttemptError, PlivoError, RetryPolicy, RetryingSender, SendMessageBody, SendMessageResponse,
    Sent,
};

/// Builds Plivo requests and sends them (with retries, within Plivo's limits).
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

    /// The retry policy of synchronous sends (also the backoff of the delivery workers).
    pub fn retry_policy(&self) -> RetryPolicy {
        self.sender.policy()
    }

    /// The body Plivo receives: `src`, `dst` (one number, or several joined with `<`), the content,
    /// and the status callback URL when `PUBLIC_BASE_URL` is set.
    pub fn body<'a>(
        &self,
        src: &str,
        dst: String,
        text: Option<&str>,
        media_urls: impl IntoIterator<Item = &'a str>,
        media_ids: impl IntoIterator<Item = &'a str>,
    ) -> SendMessageBody {
        SendMessageBody {
            src: src.to_owned(),
            dst,
            kind: "mms",
            text: text.filter(|t| !t.is_empty()).map(str::to_owned),
            media_urls: media_urls.into_iter().map(str::to_owned).collect(),
            media_ids: media_ids.into_iter().map(str::to_owned).collect(),
            url: self.status_callback_url.clone(),
            method: self.status_callback_url.as_ref().map(|_| "POST"),
        }
    }

    /// The body for one checked message.
    pub fn request_body(&self, mms: &OutboundMms) -> SendMessageBody {
        self.body(
            &self.sender_number,
            mms.to.as_str().to_owned(),
            mms.text.as_ref().map(|t| t.as_str()),
            mms.media.urls().iter().map(|u| u.as_str()),
            mms.media.ids().iter().map(|i| i.as_str()),
        )
    }

    /// Sends one MMS now, with the synchronous retry policy.
    pub async fn send(&self, mms: &OutboundMms) -> Result<Sent, PlivoError> {
        self.sender.send(&self.request_body(mms)).await
    }

    /// One attempt, waiting at most `max_wait` for a slot within Plivo's limits.
    pub async fn attempt(
        &self,
        body: &SendMessageBody,
        max_wait: Duration,
    ) -> Result<SendMessageResponse, AttemptError> {
        self.sender.attempt(body, max_wait).await
    }

    /// Like [`Dispatcher::attempt`], giving up (nothing sent) if `cancelled` completes first
    /// while still waiting for a slot.
    pub async fn attempt_unless(
        &self,
        body: &SendMessageBody,
        max_wait: Duration,
        cancelled: impl std::future::Future<Output = ()>,
    ) -> Result<SendMessageResponse, AttemptError> {
        self.sender.attempt_unless(body, max_wait, cancelled).await
    }

    // --- media uploads ---
    /// Uploads files to Plivo's Media API in one request, within the same limits and with the
    /// same retries as sends.
    pub async fn upload_media(
        &self,
        files: &[crate::plivo::MediaFile],
    ) -> Result<crate::plivo::Uploaded, PlivoError> {
        self.sender.upload_media(files).await
    }
}
