//! `Idempotency-Key` (docs/api.md, "Idempotency"): the first request with a key is processed, a
//! repeat with the same body gets the stored answer, a different body gets 422, and a repeat while
//! the first is in flight gets 409. A key belongs to one caller: with `API_KEYS`, the same key
//! sent with two API keys names two different requests.

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::Utc;
use sha2::{Digest, Sha256};

use crate::api_error::ApiError;
use crate::store::{IdempotencyClaim, Store};

/// A request's `Idempotency-Key`, whose caller it belongs to, and what identifies the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// The key as stored: the caller's scope (when there is one) and the caller's key.
    stored: String,
    /// SHA-256 (hex) of what the request asked for.
    fingerprint: String,
}

/// Separates a caller's scope from its key in the store; keys are printable ASCII, so it cannot
/// occur in one.
const SCOPE_SEPARATOR: char = '\u{1f}';

impl IdempotencyKey {
    /// `key` (already checked: 1–255 printable ASCII characters) as sent by the caller `scope`
    /// (`None` when callers are not told apart), for a request whose content is `request`.
    pub fn new(key: &str, scope: Option<&str>, request: &[u8]) -> Self {
        let stored = match scope {
            Some(scope) => format!("{scope}{SCOPE_SEPARATOR}{key}"),
            None => key.to_owned(),
        };
        Self {
            stored,
            fingerprint: hex(&Sha256::digest(request)),
        }
    }
}

/// A request's answer, as stored for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The JSON body.
    pub body: Vec<u8>,
    /// `Location` of a message accepted for asynchronous delivery.
    pub location: Option<String>,
}

/// The `Location` of a stored 202 answer for one message, or of an error answer that names its
/// recorded message (`id` beside `code`), rebuilt from its body's `id`.
fn location_of(status: StatusCode, body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let names_message = status.is_client_error() || status.is_server_error();
    if status != StatusCode::ACCEPTED && !(names_message && value.get("code").is_some()) {
        return None;
    }
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
    Replay(StoredAnswer),
}

/// Claims the key (if any).
pub async fn begin(store: &Arc<Store>, key: Option<&IdempotencyKey>) -> Result<Begin, ApiError> {
    let Some(key) = key else {
        return Ok(Begin::Proceed(None));
    };
    let claim = store
        .claim_idempotency_key(&key.stored, &key.fingerprint, Utc::now())
        .await?;
    match claim {
        IdempotencyClaim::Claimed => Ok(Begin::Proceed(Some(Claim {
            key: key.stored.clone(),
        }))),
        IdempotencyClaim::Completed { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let location = location_of(status, &body);
            Ok(Begin::Replay(StoredAnswer { status, body, location }))
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
    store: &Arc<Store>,
    claim: Option<Claim>,
    answer: &StoredAnswer,
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
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_scoped_to_its_caller() {
        let plain = IdempotencyKey::new("order-1", None, b"{}");
        let a = IdempotencyKey::new("order-1", Some("a"), b"{}");
        let b = IdempotencyKey::new("order-1", Some("b"), b"{}");
        assert_eq!(plain.stored, "order-1");
        assert_ne!(a.stored, b.stored);
        assert_ne!(a.stored, plain.stored);
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.fingerprint.len(), 64);
    }
}
