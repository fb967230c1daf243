//! Headers every answer carries, errors included: no sniffing, no caching, no framing, no
//! referrer, and a Content-Security-Policy that allows nothing (the API serves no pages).

use axum::http::{header, HeaderMap, HeaderName, HeaderValue};

/// The headers and their values.
pub const SECURITY_HEADERS: [(HeaderName, &str); 5] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::CACHE_CONTROL, "no-store"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    ),
];

/// Sets [`SECURITY_HEADERS`] on an answer, replacing any a handler set; the console's page and
/// assets (`console`) get its own policy instead (only `'self'`, see `routes/console.rs`).
pub fn apply(headers: &mut HeaderMap, console: bool) {
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if console {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(super::routes::console::CONSOLE_CSP),
        );
    }
}
