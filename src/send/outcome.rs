//! What a send ends in: the typed answers of `POST /send-mms` (200, 202 single, 202 bulk), a
//! replayed stored answer, or a refusal; and the stored form an `Idempotency-Key` replays.

use axum::http::StatusCode;
use serde::Serialize;

use super::idempotency::StoredAnswer;
use crate::api_error::ApiError;
use crate::plivo::SendMessageResponse;

/// The end of one [`super::Sender::send`].
#[derive(Debug)]
pub enum Outcome {
    /// The synchronous path: Plivo accepted the message (200).
    Sent(SendMmsResponse),
    /// One message stored for asynchronous delivery (202 with `Location`).
    Accepted(AcceptedResponse),
    /// A bulk send stored for asynchronous delivery (202).
    Batch(BatchResponse),
    /// The stored answer of an earlier request with the same `Idempotency-Key` and body.
    Replay(StoredAnswer),
    /// The send was refused or failed.
    Failed(Failure),
}

/// Why a send ended without the message being sent or stored.
#[derive(Debug)]
pub struct Failure {
    /// The answer the caller gets.
    pub error: ApiError,
    /// Nothing reached Plivo and a retry with the same key could succeed (the key is released
    /// rather than bound to this answer).
    pub retryable: bool,
}

impl Outcome {
    /// A failure a retry with the same key would meet again.
    pub fn refused(error: ApiError) -> Self {
        Self::Failed(Failure {
            error,
            retryable: false,
        })
    }

    /// The answer as stored for an `Idempotency-Key` and written to the caller: status, JSON
    /// body, and `Location` of a message accepted for later.
    pub fn answer(&self) -> StoredAnswer {
        match self {
            Self::Sent(r) => json(StatusCode::OK, r, None),
            Self::Accepted(r) => json(StatusCode::ACCEPTED, r, Some(format!("/messages/{}", r.id))),
            Self::Batch(r) => json(StatusCode::ACCEPTED, r, None),
            Self::Replay(answer) => answer.clone(),
            Self::Failed(f) => StoredAnswer {
                status: f.error.status(),
                body: f.error.body_json(),
                location: f.error.location(),
            },
        }
    }
}

/// The answers are plain structs of strings: serializing them cannot fail.
fn json(status: StatusCode, body: &impl Serialize, location: Option<String>) -> StoredAnswer {
    StoredAnswer {
        status,
        body: serde_json::to_vec(body).unwrap_or_default(),
        location,
    }
}

/// The 200 answer (docs/api.md, `POST /send-mms`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendMmsResponse {
    /// Always `MMS sent successfully.`
    pub message: &'static str,
    /// This service's message id.
    pub id: String,
    /// Plivo's message UUID.
    pub message_uuid: String,
    /// Always `queued`.
    pub status: &'static str,
    /// Plivo's answer.
    pub plivo_response: PlivoResponse,
}

/// Plivo's answer, in camelCase.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlivoResponse {
    /// Plivo's id of the API call.
    pub api_id: Option<String>,
    /// `message(s) queued`.
    pub message: String,
    /// One UUID per destination.
    pub message_uuid: Vec<String>,
}

impl From<SendMessageResponse> for PlivoResponse {
    fn from(r: SendMessageResponse) -> Self {
        Self {
            api_id: r.api_id,
            message: r.message,
            message_uuid: r.message_uuid,
        }
    }
}

/// The 202 answer to an asynchronous single send.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AcceptedResponse {
    /// This service's message id.
    pub id: String,
    /// Always `accepted`.
    pub status: &'static str,
}

/// The 202 answer to a bulk send.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    /// The batch's id.
    pub batch_id: String,
    /// One entry per recipient, in the order given.
    pub messages: Vec<BatchMessage>,
    /// Recipients left out because they opted out; nothing was recorded for them.
    pub skipped: Vec<Skipped>,
}

/// A recipient of a bulk send that was left out.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Skipped {
    /// The recipient, E.164.
    pub recipient_number: String,
    /// Always `recipient_opted_out`.
    pub code: &'static str,
}

/// One recipient of a bulk send.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchMessage {
    /// This service's message id.
    pub id: String,
    /// The recipient, E.164.
    pub recipient_number: String,
}
