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
//! - [`Sender::sender_for`]: the sender number chosen per recipient (a sender pool);
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

use crate::config::Config;
use crate::delivery::{callbacks, Delivery};
use crate::domain::{OutboundMms, PhoneNumber};
use crate::http::error::ApiError;
use crate::media_preflight::{AddressPolicy, MediaPreflight};
use crate::plivo::{MessageContent, PlivoError};
use crate::store::{NewMessage, StoreError};

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
    sender_number: String,
    callback_policy: AddressPolicy,
    callbacks_signed: bool,
    preflight: MediaPreflight,
    in_flight: InFlight,
}

impl Sender {
    /// The service over `delivery` (the store and Plivo), with the configured sender number and
    /// callback rules, checking media with `preflight`.
    pub fn new(delivery: Delivery, config: &Config, preflight: MediaPreflight) -> Self {
        Self {
            inner: Arc::new(Inner {
                delivery,
                sender_number: config.plivo.sender_number.clone(),
                callback_policy: callbacks::address_policy(config.delivery.callback_allow_private),
                callbacks_signed: config.delivery.webhook_signing_secret.is_some(),
                preflight,
                in_flight: InFlight::default(),
            }),
        }
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
            .process(command.request, command.respond_async)
            .await
            .unwrap_or_else(Outcome::Failed);
        if claim.is_some() {
            let retryable = matches!(&outcome, Outcome::Failed(f) if f.retryable);
            idempotency::finish(store, claim, &outcome.answer(), retryable).await;
        }
        outcome
    }

    /// Steps 2–6 of a send.
    async fn process(&self, request: SendRequest, respond_async: bool) -> Result<Outcome, Failure> {
        let (mut messages, callback_url, bulk) = match request {
            SendRequest::Single { mms, callback_url } => (vec![mms], callback_url, false),
            SendRequest::Bulk {
                messages,
                callback_url,
            } => (messages, callback_url, true),
        };
        self.check_callback(callback_url.as_deref())
            .map_err(refused)?;
        self.screen_recipients(&mut messages).await?;
        if let Some(first) = messages.first() {
            // One request's messages share their content: one check covers them all.
            self.inner
                .preflight
                .check(first)
                .await
                .map_err(|e| refused(e.into()))?;
        }
        self.attach_media(&mut messages).await?;
        if bulk || respond_async {
            return self.accept(&messages, callback_url, bulk).await;
        }
        match messages.into_iter().next() {
            Some(mms) => self.send_now(&mms, callback_url).await,
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
        if !callbacks::url_allowed(url, &self.inner.callback_policy) {
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
    /// may be refused (an error for the whole request) or left out of `messages`. Nothing is
    /// checked yet.
    async fn screen_recipients(&self, messages: &mut Vec<OutboundMms>) -> Result<(), Failure> {
        let _ = messages;
        Ok(())
    }

    /// Extension point: media ids are added to the messages here (after every check, before
    /// anything is recorded or sent). Nothing is added yet.
    async fn attach_media(&self, messages: &mut [OutboundMms]) -> Result<(), Failure> {
        let _ = messages;
        Ok(())
    }

    /// Extension point: the number `to` is sent from (recorded on its message, used as `src`).
    /// Today always `PLIVO_SENDER_NUMBER`.
    fn sender_for(&self, to: &PhoneNumber) -> String {
        let _ = to;
        self.inner.sender_number.clone()
    }

    /// The record of `mms`, with its sender, before it is stored.
    fn record(
        &self,
        mms: &OutboundMms,
        callback_url: Option<String>,
        batch_id: Option<String>,
    ) -> NewMessage {
        record::new_record(mms, self.sender_for(&mms.to), callback_url, batch_id)
    }

    /// The synchronous path: record, send through Plivo, record its answer, answer with it.
    async fn send_now(
        &self,
        mms: &OutboundMms,
        callback_url: Option<String>,
    ) -> Result<Outcome, Failure> {
        let delivery = &self.inner.delivery;
        let record = self.record(mms, callback_url, None);
        let id = record.id.clone();
        tracing::debug!(message.id = %id, recipient = %mms.to.masked(), "sending MMS");
        delivery
            .store()
            .insert_sending(&record)
            .await
            .map_err(store_failure)?;
        let body = delivery.plivo().body(
            &record.sender_number,
            mms.to.as_str().to_owned(),
            MessageContent {
                text: mms.text.as_ref().map(|t| t.as_str()),
                media_urls: mms.media.urls(),
                media_ids: mms.media.ids(),
            },
        );
        let result = delivery.plivo().send(&body).await;
        if let Err(e) = record::record_outcome(delivery.store().as_ref(), &id, &result).await {
            // Plivo has answered: the caller must hear that answer, not a store error it would
            // retry (a retry could send the message twice). The record stays `sending`.
            tracing::error!(message.id = %id, error = %e, "could not record Plivo's answer");
        }
        let sent = result.map_err(|e| {
            tracing::warn!(message.id = %id, error = %e, "send failed");
            plivo_failure(e)
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

    /// The asynchronous path: record durably (the outbox), answer 202; a worker sends later.
    async fn accept(
        &self,
        messages: &[OutboundMms],
        callback_url: Option<String>,
        bulk: bool,
    ) -> Result<Outcome, Failure> {
        let batch_id = bulk.then(record::new_id);
        let records: Vec<_> = messages
            .iter()
            .map(|mms| self.record(mms, callback_url.clone(), batch_id.clone()))
            .collect();
        self.inner
            .delivery
            .enqueue(&records)
            .await
            .map_err(store_failure)?;
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
