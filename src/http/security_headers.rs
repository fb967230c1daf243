//! Headers every answer carries, errors included: no sniffing, no caching, no framing, no
//! referrer, and a Content-Security-Policy that allows nothing (the API serves no pages).

use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

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

/// Sets [`SECURITY_HEADERS`] on the answer, replacing any a handler set; the console's page and
/// assets get its own policy instead (only `'self'`, see `routes/console.rs`).
pub async fn security_headers(request: Request, next: Next) -> Response {
    let console = super::routes::console::is_console_path(request.uri().path());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if console {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(super::routes::console::CONSOLE_CSP),
        );
    }
    response
}
