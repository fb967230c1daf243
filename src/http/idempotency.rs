//! `Idempotency-Key` on `POST /send-mms` (contract §5): the first request with a key is processed,
//! a repeat with the same body gets the stored answer, a different body gets 422, and a repeat while
//! the first is in flight gets 409.

use std::sync::Arc;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::store::{IdempotencyClaim, MessageStore};

/// The header's name.
pub const HEADER: &str = "idempotency-key";

/// A request's answer, as stored for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The JSON body.
    pub body: Vec<u8>,
    /// `Location` of a message accepted for asynchronous delivery.
    pub location: Option<String>,
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            self.body,
        )
            .into_response();
        if let Some(value) = self
            .location
            .and_then(|l| header::HeaderValue::from_str(&l).ok())
        {
            response.headers_mut().insert(header::LOCATION, value);
        }
        response
    }
}

/// The `Location` of a stored 202 answer for one message, rebuilt from its body's `id`.
fn location_of(status: StatusCode, body: &[u8]) -> Option<String> {
    if status != StatusCode::ACCEPTED {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value
        .get("id")?
        .as_str()
        .map(|id| format!("/messages/{id}"))
}

/// A key this request holds; give it back with [`finish`].
#[derive(Debug)]
pub struct Claim {
    key: String,
}

/// What to do with a request that may carry a key.
#[derive(Debug)]
pub enum Begin {
    /// Process it (holding the key when there is one).
    Proceed(Option<Claim>),
    /// Answer this stored answer and do nothing else.
    Replay(Answer),
}

/// Reads the key: 1–255 printable ASCII characters, or a 400.
pub fn key_from_headers(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(HEADER) else {
        return Ok(None);
    };
    let bytes = value.as_bytes();
    if (1..=255).contains(&bytes.len()) && bytes.iter().all(|b| (0x20..=0x7e).contains(b)) {
        Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
    } else {
        Err(ApiError::bad_request(
            "invalid_field",
            "Idempotency-Key must be 1 to 255 printable ASCII characters.",
        )
        .with_field("Idempotency-Key"))
    }
}

/// Claims the key (if any) for this body.
pub async fn begin(
    store: &Arc<dyn MessageStore>,
    key: Option<String>,
    body: &[u8],
) -> Result<Begin, ApiError> {
    let Some(key) = key else {
        return Ok(Begin::Proceed(None));
    };
    let hash = hex(&Sha256::digest(body));
    let claim = store
        .claim_idempotency_key(&key, &hash, Utc::now())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "idempotency key could not be claimed");
            ApiError::internal()
        })?;
    match claim {
        IdempotencyClaim::Claimed => Ok(Begin::Proceed(Some(Claim { key }))),
        IdempotencyClaim::Completed { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let location = location_of(status, &body);
            Ok(Begin::Replay(Answer { status, body, location }))
        }
        IdempotencyClaim::InFlight => Err(ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_key_in_flight",
            "A request with this Idempotency-Key is still being processed; retry when it has finished.",
        )
        .with_field("Idempotency-Key")),
        IdempotencyClaim::Mismatch => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "This Idempotency-Key was used with a different request body; use a new key.",
        )
        .with_field("Idempotency-Key")),
    }
}

/// Stores the answer for replay, or gives the key back when nothing was sent and a retry could
/// succeed (Plivo unavailable, our credentials refused, an internal error).
pub async fn finish(
    store: &Arc<dyn MessageStore>,
    claim: Option<Claim>,
    answer: &Answer,
    retryable: bool,
) {
    let Some(Claim { key }) = claim else { return };
    let result = if retryable {
        store.release_idempotency_key(&key).await
    } else {
        store
            .complete_idempotency_key(&key, answer.status.as_u16(), &answer.body)
            .await
    };
    if let Err(e) = result {
        tracing::error!(error = %e, "idempotency key could not be stored");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_must_be_printable_ascii_up_to_255() {
        let mut h = HeaderMap::new();
        assert_eq!(key_from_headers(&h).unwrap(), None);
        h.insert(HEADER, "order-42 retry".parse().unwrap());
        assert_eq!(
            key_from_headers(&h).unwrap().as_deref(),
            Some("order-42 retry")
        );
        h.insert(HEADER, "x".repeat(255).parse().unwrap());
        assert!(key_from_headers(&h).is_ok());
        for bad in ["".to_owned(), "x".repeat(256)] {
            h.insert(HEADER, bad.parse().unwrap());
            assert_eq!(key_from_headers(&h).unwrap_err().code(), "invalid_field");
        }
        h.insert(
            HEADER,
            axum::http::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        );
        assert!(key_from_headers(&h).is_err());
    }
}
