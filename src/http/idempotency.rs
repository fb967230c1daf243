//! The `Idempotency-Key` header of `POST /send-mms`, and stored answers written back as HTTP.
//! What a key does is the send service's (`src/send/idempotency.rs`).

use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};

use crate::api_error::ApiError;
use crate::send::StoredAnswer;

/// The header's name.
pub const HEADER: &str = "idempotency-key";

impl IntoResponse for StoredAnswer {
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
