//! The service's own limits on a request head, lower than the HTTP library's, so that an
//! over-long URI or too many or too large headers get the contract's JSON error
//! (`414 uri_too_long`, `431 headers_too_large`) rather than hyper's empty answer.
//!
//! Hyper still refuses, before the service sees them, a request line or head it cannot parse: a
//! URI of 64 KiB or more (bare `414`), more than 100 headers or a head over about 400 KiB (bare
//! `431`), and a header with a control character or a malformed request line (bare `400`). The
//! README lists these.

use axum::extract::Request;
use axum::http::StatusCode;

use crate::api_error::ApiError;

/// The longest request target (path and query) accepted, in bytes.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// The most header lines accepted.
pub const MAX_HEADERS: usize = 64;
/// The most bytes all header names and values may take together (plus 4 a line for `: ` and CRLF).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Refuses a request whose head is over the limits, before anything else reads it.
pub fn check(request: &Request) -> Result<(), ApiError> {
    let uri_len = request
        .uri()
        .path_and_query()
        .map_or(0, |pq| pq.as_str().len());
    if uri_len > MAX_URI_BYTES {
        return Err(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("The URL is longer than {MAX_URI_BYTES} bytes."),
        ));
    }
    let headers = request.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return Err(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!(
                "The request has more than {MAX_HEADERS} headers or more than {MAX_HEADER_BYTES} \
                 bytes of them."
            ),
        ));
    }
    Ok(())
}
