//! `Content-Type` reading: any header bytes give JSON, form, or a 415, never a panic.
#![no_main]

use axum::http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use mms_gateway::http::send_request::BodyFormat;

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(data) {
        headers.insert("content-type", value);
    }
    if let Err(e) = BodyFormat::from_headers(&headers) {
        assert_eq!(e.status().as_u16(), 415);
    }
});
