//! Sending an MMS: the whole send use case, for `POST /send-mms` and the `send` command alike.
//!
//! [`Sender::send`] takes a parsed [`SendCommand`] and returns a typed [`Outcome`]; callers only
//! translate to and from it (the HTTP handler `src/http/routes/send_mms.rs`: status, headers,
//! JSON; the command line: a printed UUID). Read top to bottom, a send:
//!
//! 1. claims its `Idempotency-Key`, scoped to the caller ([`idempotency`]); a repeat gets the
//!    stored answer ([`Outcome::Replay`]) and nothing else happens;
//! 2. checks `callbackUrl` against the callback rules ([`Sender::check_callback`]);
//! 3. screens the recipients before anything is recorded ([`Sender::screen_recipients`]);
//! 4. runs the media preflight (`MEDIA_PREFLIGHT`);
//! 5. completes the media before anything is recorded ([`Sender::attach_media`]);
//! 6. records each message with its sender ([`Sender::sender_for`]) and then either
//!    - sends now (synchronous): records it `sending`, calls Plivo with the retry policy
//!      ([`crate::plivo::RetryingSender::send`]) and records Plivo's answer, or
//!    - stores it in the outbox for the delivery workers (`Prefer: respond-async`, bulk);
//! 7. stores the answer under the idempotency key (or releases the key when a retry could
//!    succeed).
//!
//! Steps 1–7 run in a task of their own: a caller that goes away (a closed connection, the
//! request time limit) cannot cut a send short between its record and the record of Plivo's
//! answer. Shutdown waits for these tasks ([`Sender::wait_idle`]).
//!
//! Extension points, each one method of [`Sender`] called from [`Sender::process`]:
//! - [`Sender::screen_recipients`]: recipients checked before anything is recorded (opt-outs);
//! - [`Sender::sender_for`]: the sender number chosen per recipient (the sender pool, with a
//!   checked `senderNumber`, [`crate::senders::SenderPool`]);
//! - [`Sender::attach_media`]: media ids added before sending (uploaded files);
//! - the Plivo request body is built in one constructor, [`crate::plivo::SendMessageBody::new`]
//!   (account-wide options in [`crate::plivo::MessageDefaults`]).

pub mod idempotency;
mod in_flight;
pub mod outcome;
pub mod record;
pub mod request;

use std::sync::Arc;
use std::time::Duration;

use crate::api_error::ApiError;
use crate::config::Config;
use crate::delivery::Delivery;
use crate::domain::OutboundMms;
use crate::media_preflight::{AddressPolicy, MediaPreflight};
use crate::plivo::{MessageContent, PlivoError, MIN_MESSAGE_EXPIRY};
use crate::store::{NewMessage, StoreError};
// --- media uploads ---
use crate::media_upload::send::{record_uploads, Attachments};
use crate::media_upload::UploadedMedia;

pub use idempotency::{IdempotencyKey, StoredAnswer};
pub use in_flight::InFlight;
pub use outcome::{
    AcceptedResponse, BatchMessage, BatchResponse, Failure, Outcome, PlivoResponse, SendMmsResponse,
};
pub use request::{SendCommand, SendRequest};

/// The send service; cheap to clone.
#[derive(Clone)]
pub struct Sender {
    inner: Arc<Inner>,
}

struct Inner {
    delivery: Delivery,
    callback_policy: AddressPolicy,
    callbacks_signed: bool,
    preflight: MediaPreflight,
    in_flight: InFlight,
    /// Counts sends refused for opt-out (a private registry unless [`Sender::with_metrics`]).
    metrics: crate::metrics::Metrics,
}

impl Sender {
    /// The service over `delivery` (the store and Plivo), with the configured sender number and
    /// callback rules, checking media with `preflight`.
    pub fn new(delivery: Delivery, config: &Config, preflight: MediaPreflight) -> Self {
        Self {
            inner: Arc::new(Inner {
                delivery,
                callback_policy: AddressPolicy::public_only_unless(
                    config.delivery.callback_allow_private,
                ),
                callbacks_signed: config.delivery.webhook_signing_secret.is_some(),
                preflight,
                in_flight: InFlight::default(),
                metrics: crate::metrics::Metrics::default(),
            }),
        }
    }

    /// Counts in `metrics` (the app's registry) what this service counts (sends refused for
    /// opt-out). Call it right after [`Sender::new`].
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.metrics = metrics;
        }
        self
    }

    /// The store and Plivo.
    pub fn delivery(&self) -> &Delivery {
        &self.inner.delivery
    }

    /// Runs one send to its end (see the module documentation), in a task of its own.
    pub async fn send(&self, command: SendCommand) -> Outcome {
        let this = self.clone();
        let running = self.inner.in_flight.enter();
        let task = tokio::spawn(async move {
            let _running = running;
            this.run(command).await
        });
        task.await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "a send task failed");
            Outcome::refused(ApiError::internal())
        })
    }

    /// Waits (at most `limit`) for sends still running, e.g. those whose caller went away.
    pub async fn wait_idle(&self, limit: Duration) -> bool {
        self.inner.in_flight.wait_idle(limit).await
    }

    async fn run(&self, command: SendCommand) -> Outcome {
        let store = self.inner.delivery.store();
        let claim = match idempotency::begin(store, command.idempotency.as_ref()).await {
            Ok(idempotency::Begin::Replay(answer)) => return Outcome::Replay(answer),
            Ok(idempotency::Begin::Proceed(claim)) => claim,
            Err(e) => return Outcome::refused(e),
        };
        let outcome = self
            .process(command.request, command.respond_async, &command.attachments)
            .await
            .unwrap_or_else(Outcome::Failed);
        if claim.is_some() {
            let retryable = matches!(&outcome, Outcome::Failed(f) if f.retryable);
            idempotency::finish(store, claim, &outcome.answer(), retryable).await;
        }
        outcome
    }

    /// Steps 2–6 of a send.
    async fn process(
        &self,
        request: SendRequest,
        respond_async: bool,
        attachments: &Attachments,
    ) -> Result<Outcome, Failure> {
        let (mut messages, callback_url, bulk) = match request {
            SendRequest::Single { mms, callback_url } => (vec![mms], callback_url, false),
            SendRequest::Bulk {
                messages,
                callback_url,
            } => (messages, callback_url, true),
        };
        self.check_callback(callback_url.as_deref())
            .map_err(refused)?;
        self.check_sender(&mut messages).map_err(refused)?;
        let skipped = self.screen_recipients(&mut messages, bulk).await?;
        if let Some(first) = messages.first() {
            // One request's messages share their content: one check covers them all.
            self.inner
                .preflight
                .check(first)
                .await
                .map_err(|e| refused(e.into()))?;
        }
        let uploads = self.attach_media(&mut messages, attachments).await?;
        if bulk || respond_async {
            return self
                .accept(&messages, callback_url, bulk, skipped, &uploads)
                .await;
        }
        match messages.into_iter().next() {
            Some(mms) => self.send_now(&mms, callback_url, &uploads).await,
            None => Err(refused(ApiError::internal())),
        }
    }

    /// `callbackUrl` must not point to a non-public address (unless `CALLBACK_ALLOW_PRIVATE`),
    /// and needs `WEBHOOK_SIGNING_SECRET` to sign the events.
    fn check_callback(&self, callback_url: Option<&str>) -> Result<(), ApiError> {
        let Some(url) = callback_url else {
            return Ok(());
        };
        let invalid = |message: &str| {
            ApiError::bad_request("invalid_field", message.to_owned()).with_field("callbackUrl")
        };
        if !self.inner.callback_policy.allows_url(url) {
            return Err(invalid(
                "callbackUrl points to a loopback, private or otherwise non-public address.",
            ));
        }
        if !self.inner.callbacks_signed {
            return Err(invalid(
                "callbackUrl needs this service to have WEBHOOK_SIGNING_SECRET configured.",
            ));
        }
        Ok(())
    }

    /// Extension point: recipients are checked here, before anything is recorded; a recipient
    /// may be refused (an error for the whole request) or left out of `messages` (returned, to be
    /// listed in the answer). Opted-out recipients (`crate::optouts::screen`): a single send is
    /// refused with `409 recipient_opted_out`; a bulk send leaves them out.
    async fn screen_recipients(
        &self,
        messages: &mut Vec<OutboundMms>,
        bulk: bool,
    ) -> Result<Vec<String>, Failure> {
        let store = self.inner.delivery.store().as_ref();
        let (kept, skipped) =
            crate::optouts::screen(store, &self.inner.metrics, std::mem::take(messages))
                .await
                .map_err(store_failure)?;
        *messages = kept;
        if !bulk && !skipped.is_empty() {
            // Nothing was recorded or sent; once the number opts back in, the same key may succeed.
            return Err(Failure {
                error: ApiError::recipient_opted_out(),
                retryable: true,
            });
        }
        Ok(skipped)
    }

    /// Extension point: media ids are added to the messages here (after every check, before
    /// anything is recorded or sent).
    ///
    /// --- media uploads: the files (checked as they were read) are weighed with the text
    /// (5 MB), uploaded to Plivo in one request, and their ids take the place of the
    /// placeholders, before any given `mediaIds`. Answers what was uploaded.
    async fn attach_media(
        &self,
        messages: &mut [OutboundMms],
        attachments: &Attachments,
    ) -> Result<Vec<UploadedMedia>, Failure> {
        if attachments.files.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(first) = messages.first() {
            attachments.check_size(first).map_err(refused)?;
        }
        attachments
            .upload_into(self.inner.delivery.plivo(), messages)
            .await
            .map_err(plivo_failure)
    }

    /// The number `mms` is sent from (recorded on its message, used as `src`): its checked
    /// `senderNumber`, or its recipient's pinned number of the pool (empty with a Powerpack;
    /// README.md "Senders and pacing").
    fn sender_for(&self, mms: &OutboundMms) -> String {
        self.inner
            .delivery
            .senders()
            .choose(mms.to.as_str(), mms.sender.as_deref())
    }

    // --- sender pool: a named `senderNumber` must be one of the pool ---
    fn check_sender(&self, messages: &mut [OutboundMms]) -> Result<(), ApiError> {
        let Some(named) = messages.first().and_then(|m| m.sender.clone()) else {
            return Ok(());
        };
        let checked = self.inner.delivery.senders().check(&named)?;
        for m in messages.iter_mut() {
            m.sender = Some(checked.clone());
        }
        Ok(())
    }

    /// The record of `mms`, with its sender, before it is stored.
    fn record(
        &self,
        mms: &OutboundMms,
        callback_url: Option<String>,
        batch_id: Option<String>,
    ) -> NewMessage {
        record::new_record(mms, self.sender_for(mms), callback_url, batch_id)
    }

    /// The synchronous path: record, send through Plivo, record its answer, answer with it.
    async fn send_now(
        &self,
        mms: &OutboundMms,
        callback_url: Option<String>,
        uploads: &[UploadedMedia],
    ) -> Result<Outcome, Failure> {
        let delivery = &self.inner.delivery;
        let record = self.record(mms, callback_url, None);
        let id = record.id.clone();
        tracing::debug!(message.id = %id, recipient = %mms.to.masked(), "sending MMS");
        // --- per-sender pacing: a slot within SYNC_SLOT_WAIT_MS, or 503 (nothing recorded) ---
        delivery
            .wait_for_sync_slot(&record)
            .await
            .map_err(|e| match e {
                crate::delivery::pacing::SlotError::NoSlot(e) => plivo_failure(e),
                crate::delivery::pacing::SlotError::Store(e) => store_failure(e),
            })?;
        delivery
            .store()
            .insert_sending(&record)
            .await
            .map_err(store_failure)?;
        // --- media uploads ---
        record_uploads(delivery.store().as_ref(), vec![id.clone()], uploads).await;
        let body = delivery.plivo().body(
            &record.sender_number,
            mms.to.as_str().to_owned(),
            MessageContent {
                text: mms.text.as_ref().map(|t| t.as_str()),
                media_urls: mms.media.urls(),
                media_ids: mms.media.ids(),
            },
        );
        // --- reconciliation: Plivo never dispatches it after its deadline ---
        let elapsed = (chrono::Utc::now() - record.created_at)
            .to_std()
            .unwrap_or_default();
        let left = delivery.message_ttl().saturating_sub(elapsed);
        if left < MIN_MESSAGE_EXPIRY {
            return Err(self.expire(&id).await);
        }
        let body = body.with_message_expiry(left.as_secs());
        let mut retries = Vec::new();
        let result = delivery
            .plivo()
            .send_noting_retries(&body, &mut retries)
            .await;
        // --- each retry of a sync send is an event in the message's history ---
        for note in &retries {
            if let Err(e) = delivery
                .store()
                .note_event(&id, &note.detail, note.at)
                .await
            {
                tracing::error!(message.id = %id, error = %e, "could not record a retry");
            }
        }
        if let Err(e) = record::record_outcome(delivery.store().as_ref(), &id, &result).await {
            // Plivo has answered: the caller must hear that answer, not a store error it would
            // retry (a retry could send the message twice). The record stays `sending`.
            tracing::error!(message.id = %id, error = %e, "could not record Plivo's answer");
        }
        let sent = result.map_err(|e| {
            tracing::warn!(message.id = %id, error = %e, "send failed");
            // --- errors name the message: it is recorded, so the answer says which it is ---
            let unknown = e.outcome_unknown();
            let mut failure = plivo_failure(e);
            failure.error = failure.error.for_message(&id, unknown);
            failure
        })?;
        let message_uuid = sent
            .response
            .message_uuid
            .first()
            .cloned()
            .unwrap_or_default();
        tracing::debug!(message.id = %id, message.uuid = %message_uuid, plivo.attempts = sent.attempts, "Plivo accepted the MMS");
        Ok(Outcome::Sent(SendMmsResponse {
            message: "MMS sent successfully.",
            id,
            message_uuid,
            status: "queued",
            plivo_response: sent.response.into(),
        }))
    }

    /// A sync send with less than [`MIN_MESSAGE_EXPIRY`] left to its deadline (after waiting for
    /// its sender's slot, or with a `MESSAGE_TTL_SECONDS` that short) is not sent: it ends
    /// `failed` with `expired`, as a worker's message would, and the answer names it.
    async fn expire(&self, id: &str) -> Failure {
        if let Err(e) = self
            .inner
            .delivery
            .store()
            .finish_delivery(id, &crate::delivery::expired())
            .await
        {
            tracing::error!(message.id = %id, error = %e, "could not record an expired send");
        }
        tracing::warn!(message.id = %id, "not sent: less than 5 s left before MESSAGE_TTL_SECONDS");
        let error = ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "provider_unavailable",
            "Less than 5 seconds were left before the message's deadline (MESSAGE_TTL_SECONDS), \
             too little for Plivo; nothing was sent and the message is failed (expired).",
        );
        Failure {
            error: error.for_message(id, false),
            retryable: true,
        }
    }

    /// The asynchronous path: record durably (the outbox), answer 202; a worker sends later.
    async fn accept(
        &self,
        messages: &[OutboundMms],
        callback_url: Option<String>,
        bulk: bool,
        skipped: Vec<String>,
        uploads: &[UploadedMedia],
    ) -> Result<Outcome, Failure> {
        let batch_id = bulk.then(record::new_id);
        let records: Vec<_> = messages
            .iter()
            .map(|mms| self.record(mms, callback_url.clone(), batch_id.clone()))
            .collect();
        // A bulk send whose recipients all opted out records nothing.
        if !records.is_empty() {
            self.inner
                .delivery
                .enqueue(&records)
                .await
                .map_err(store_failure)?;
            // --- media uploads ---
            let ids = records.iter().map(|r| r.id.clone()).collect();
            record_uploads(self.inner.delivery.store().as_ref(), ids, uploads).await;
        }
        tracing::debug!(
            messages = records.len(),
            batch.id = batch_id.as_deref().unwrap_or(""),
            "accepted for asynchronous delivery"
        );
        Ok(match batch_id {
            Some(batch_id) => Outcome::Batch(BatchResponse {
                batch_id,
                messages: records
                    .into_iter()
                    .map(|r| BatchMessage {
                        id: r.id,
                        recipient_number: r.recipient_number.as_str().to_owned(),
                    })
                    .collect(),
                skipped: skipped
                    .into_iter()
                    .map(|recipient_number| outcome::Skipped {
                        recipient_number,
                        code: "recipient_opted_out",
                    })
                    .collect(),
            }),
            None => Outcome::Accepted(AcceptedResponse {
                id: records.into_iter().next().map(|r| r.id).unwrap_or_default(),
                status: "accepted",
            }),
        })
    }
}

/// A refusal a retry with the same key would meet again.
fn refused(error: ApiError) -> Failure {
    Failure {
        error,
        retryable: false,
    }
}

/// The store failed before anything reached Plivo: a retry could succeed.
fn store_failure(e: StoreError) -> Failure {
    Failure {
        error: e.into(),
        retryable: true,
    }
}

/// Plivo's refusal or unavailability; retryable when nothing was sent and a retry could succeed.
fn plivo_failure(e: PlivoError) -> Failure {
    let retryable = matches!(
        e,
        PlivoError::Unavailable { .. } | PlivoError::AuthFailed { .. }
    );
    Failure {
        error: e.into(),
        retryable,
    }
}
