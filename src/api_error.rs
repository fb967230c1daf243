//! `ApiError`: every error the API answers, and the one place errors become HTTP responses.
//!
//! The body is always the contract's JSON: `{"error": "...", "code": "...", "field"?, "details"?}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use crate::domain::FieldError;
use crate::plivo::retry::retry_after_secs;
use crate::plivo::PlivoError;
use crate::store::StoreError;

/// An error answer: status, code, message, and the optional parts.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<Box<str>>,
    details: Option<Value>,
    /// Seconds (kept small: every handler returns this type).
    retry_after: Option<u32>,
    /// The recorded message the error is about (`id` in the body, `Location` header).
    message_id: Option<Box<str>>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a Value>,
}

impl ApiError {
    /// An error with a status, a code and a sentence.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            details: None,
            retry_after: None,
            message_id: None,
        }
    }

    /// A 400 for the request itself (`invalid_json`, `invalid_field`, …).
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// Names the input field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into().into_boxed_str());
        self
    }

    /// Adds what Plivo (or the check) said that is worth passing on.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    // --- errors name the message ---
    /// Names the message this error is about, which had already been recorded: its `id` goes in
    /// the body and `Location: /messages/{id}` in the headers. With `outcome_unknown` (every
    /// attempt may have reached Plivo), `details.outcomeUnknown` is `true`.
    pub fn for_message(mut self, id: &str, outcome_unknown: bool) -> Self {
        self.message_id = Some(id.into());
        if outcome_unknown {
            let mut details = match self.details.take() {
                Some(Value::Object(map)) => map,
                _ => serde_json::Map::new(),
            };
            details.insert("outcomeUnknown".to_owned(), Value::Bool(true));
            self.details = Some(Value::Object(details));
        }
        self
    }

    /// `Location` of the recorded message this error is about, if any.
    pub fn location(&self) -> Option<String> {
        self.message_id.as_ref().map(|id| format!("/messages/{id}"))
    }

    /// Sets the `Retry-After` header, in seconds.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(u32::try_from(seconds).unwrap_or(u32::MAX));
        self
    }

    /// 404 for unknown routes and records.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 500 that says nothing about the cause (which is logged where it happened).
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Something went wrong on our side; the error was logged. Please try again.",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The sentence a person can act on.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// What Plivo said, when it said something worth passing on.
    pub fn details(&self) -> Option<&Value> {
        self.details.as_ref()
    }

    /// The contract's error code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The JSON body as bytes (also what idempotency keys store).
    pub fn body_json(&self) -> Vec<u8> {
        serde_json::to_vec(&ErrorBody {
            error: &self.message,
            code: self.code,
            id: self.message_id.as_deref(),
            field: self.field.as_deref(),
            details: self.details.as_ref(),
        })
        .unwrap_or_default()
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        Self::bad_request(e.code, e.message).with_field(e.field)
    }
}

impl From<PlivoError> for ApiError {
    fn from(e: PlivoError) -> Self {
        let code = e.code();
        match e {
            PlivoError::Rejected {
                status,
                message,
                api_id,
            } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                code,
                "Plivo rejected the message; see details for its reason.",
            )
            .with_details(serde_json::json!({
                "providerStatus": status, "providerError": message, "apiId": api_id,
            })),
            PlivoError::AuthFailed { status, .. } => Self::new(
                StatusCode::BAD_GATEWAY,
                code,
                "Plivo refused this service's credentials or permissions; the operator must check \
                 PLIVO_AUTH_ID, PLIVO_AUTH_TOKEN and the account's settings.",
            )
            .with_details(serde_json::json!({ "providerStatus": status })),
            PlivoError::Unexpected(_) => Self::new(
                StatusCode::BAD_GATEWAY,
                code,
                "Plivo gave an unexpected answer; the message was not sent.",
            ),
            PlivoError::Unreadable(_) => Self::new(
                StatusCode::BAD_GATEWAY,
                code,
                "Plivo's answer could not be read; the message may or may not have been sent.",
            ),
            PlivoError::Unavailable { retry_after, .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code,
                "Plivo is unavailable right now; nothing was sent. Try again after Retry-After seconds.",
            )
            .with_retry_after(retry_after_secs(retry_after)),
            PlivoError::Timeout => Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                code,
                "Plivo did not answer in time; the message may or may not have been sent.",
            ),
        }
    }
}

/// The one answer to a store failure, wherever it happens (the cause is logged, never returned):
/// `400` for a cursor the store did not produce, `503 store_unavailable` with `Retry-After` when
/// the database failed or is shutting down (a retry may succeed), `500 internal_error` for what
/// can only be a bug.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidCursor => {
                Self::bad_request("invalid_field", "cursor is not one this service gave out.")
                    .with_field("cursor")
            }
            StoreError::Database(_)
            | StoreError::Sqlite(_)
            | StoreError::GroupCommit(_)
            | StoreError::WriterStopped => {
                tracing::error!(error = %e, "message store failed");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "The message store is not answering right now; try again shortly.",
                )
                .with_retry_after(1)
            }
            other => {
                tracing::error!(error = %other, "message store failed");
                Self::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body_json();
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(location) = self.location().and_then(|l| HeaderValue::from_str(&l).ok()) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        response
    }
}

/// Turns axum's own rejections (which would be plain text) into the contract's JSON.
impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            payload_too_large()
        } else {
            Self::bad_request("invalid_body", "The request body could not be read.")
        }
    }
}

/// 413 for bodies over the limit.
pub fn payload_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "The request body is larger than 64 KiB.",
    )
}

// --- opt-outs ---

impl ApiError {
    /// 409: the recipient asked not to be texted (STOP, Plivo's error 200, or `PUT /opt-outs/…`);
    /// nothing was recorded or sent.
    pub fn recipient_opted_out() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "recipient_opted_out",
            "The recipient has opted out of messages (replied STOP or was put on the opt-out list); \
             nothing was sent. It can be taken off with DELETE /opt-outs/{number}.",
        )
        .with_field("recipientNumber")
    }
}

// --- ops: callers, limits and media preflight (docs/api.md, "Conventions"; docs/api.md, "Operations") ---

impl ApiError {
    /// 401: `API_KEYS` is set and the request carries no valid `Authorization: Bearer` key.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "This endpoint needs a valid API key: send the header 'Authorization: Bearer <key>'.",
        )
    }

    /// 429: the caller used up `RATE_LIMIT_PER_MINUTE`; may retry after `retry_after` seconds.
    pub fn rate_limited(retry_after: u64) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many requests; try again after Retry-After seconds.",
        )
        .with_retry_after(retry_after)
    }

    /// 429: the caller already has as many requests in flight as one caller may have.
    pub fn too_many_concurrent_requests() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_concurrent_requests",
            "You have too many requests in flight; wait for some to finish and try again.",
        )
        .with_retry_after(1)
    }

    /// 503: the service is at its limit of requests in flight and sheds this one.
    pub fn overloaded() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "The service is busy; nothing was done. Try again after Retry-After seconds.",
        )
        .with_retry_after(1)
    }

    /// 504: the request ran past `REQUEST_TIMEOUT_MS` and was stopped.
    pub fn request_timeout(limit_ms: u128) -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "request_timeout",
            format!(
                "The request took longer than {limit_ms} ms and was stopped; a message it carried \
                 may or may not have reached Plivo."
            ),
        )
    }

    /// 400 `media_unreachable`, `media_type_unsupported` or `media_too_large` for one media URL.
    pub fn media(
        code: &'static str,
        url: &str,
        message: impl Into<String>,
        mut details: Value,
    ) -> Self {
        if let Value::Object(map) = &mut details {
            map.insert("url".to_owned(), Value::String(url.to_owned()));
        }
        Self::bad_request(code, message)
            .with_field("mediaUrls")
            .with_details(details)
    }
}

impl From<crate::media_preflight::MediaCheckError> for ApiError {
    fn from(e: crate::media_preflight::MediaCheckError) -> Self {
        let message = e.to_string();
        Self::media(e.kind.code(), &e.url, message, e.details)
    }
}

// --- end ops ---

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn json(e: &ApiError) -> Value {
        serde_json::from_slice(&e.body_json()).unwrap()
    }

    #[test]
    fn field_errors_are_400_with_the_field() {
        let e: ApiError = FieldError::new("invalid_phone_number", "recipientNumber", "bad").into();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            json(&e),
            serde_json::json!({"error": "bad", "code": "invalid_phone_number", "field": "recipientNumber"})
        );
    }

    #[test]
    fn plivo_errors_map_to_the_contracts_table() {
        let cases = [
            (
                PlivoError::Rejected {
                    status: 400,
                    message: "'1' is not a valid phone number.".into(),
                    api_id: None,
                },
                422,
                "provider_rejected",
            ),
            (
                PlivoError::AuthFailed {
                    status: 401,
                    message: "x".into(),
                },
                502,
                "provider_auth_failed",
            ),
            (
                PlivoError::AuthFailed {
                    status: 403,
                    message: "x".into(),
                },
                502,
                "provider_auth_failed",
            ),
            (PlivoError::Unexpected("x".into()), 502, "provider_error"),
            (
                PlivoError::Unavailable {
                    last: "x".into(),
                    retry_after: Duration::from_millis(1500),
                },
                503,
                "provider_unavailable",
            ),
            (PlivoError::Timeout, 504, "provider_timeout"),
        ];
        for (plivo, status, code) in cases {
            let e = ApiError::from(plivo);
            assert_eq!(e.status().as_u16(), status);
            assert_eq!(e.code(), code);
        }
    }

    #[test]
    fn rejection_details_carry_plivos_text_and_503_carries_retry_after() {
        let e = ApiError::from(PlivoError::Rejected {
            status: 400,
            message: "'1111111' is not a valid phone number.".into(),
            api_id: Some("a1".into()),
        });
        assert_eq!(
            json(&e)["details"]["providerError"],
            "'1111111' is not a valid phone number."
        );
        let r = ApiError::from(PlivoError::Unavailable {
            last: "x".into(),
            retry_after: Duration::from_millis(1500),
        })
        .into_response();
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    }

    #[test]
    fn internal_errors_say_nothing_of_the_cause() {
        let body = String::from_utf8(ApiError::internal().body_json()).unwrap();
        assert!(body.contains("internal_error"));
    }
}
