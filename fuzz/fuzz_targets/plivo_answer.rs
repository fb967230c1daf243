//! Plivo's answers are input too: success and error bodies and `Retry-After` values from a
//! misbehaving server must never panic the service.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use mms_gateway::plivo::retry::{parse_retry_after, retry_after_secs};
use mms_gateway::plivo::types::ErrorBody;
use mms_gateway::plivo::SendMessageResponse;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<SendMessageResponse>(data);
    let (_api_id, message) = ErrorBody::parse(data);
    if serde_json::from_slice::<serde_json::Value>(data).is_err() {
        // Non-JSON bodies become at most 200 characters of text.
        assert!(message.chars().count() <= 200);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        if let Some(delay) = parse_retry_after(text, now) {
            assert!(retry_after_secs(delay) >= 1);
        }
    }
});
