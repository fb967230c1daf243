//! `POST /send-mms` body parsing, as the server runs it (`parse_send_request`): the first byte picks
//! JSON or form, the rest is the body. Never panics; what it accepts is within the contract's limits
//! and every rejection is a 4xx with the error JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mms_gateway::domain::OutboundMms;
use mms_gateway::http::send_request::{parse_send_request, BodyFormat};
use mms_gateway::send::SendRequest;

fn check(mms: &OutboundMms) {
    let media = mms.media.urls().len() + mms.media.ids().len();
    assert!((1..=10).contains(&media));
    assert!(mms.to.as_str().starts_with("+1"));
    assert!(mms.text.as_ref().is_none_or(|t| t.as_str().chars().count() <= 1600));
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let format = if first & 1 == 0 {
        BodyFormat::Json
    } else {
        BodyFormat::Form
    };
    match parse_send_request(format, body) {
        Ok(SendRequest::Single { mms, .. }) => check(&mms),
        Ok(SendRequest::Bulk { messages, .. }) => {
            assert!((1..=1000).contains(&messages.len()));
            messages.iter().for_each(check);
        }
        Err(e) => {
            assert!(e.status().is_client_error(), "{:?}", e.status());
            let json: serde_json::Value =
                serde_json::from_slice(&e.body_json()).expect("error bodies are JSON");
            assert!(json["error"].as_str().is_some_and(|s| !s.is_empty()));
            assert!(json["code"].is_string());
        }
    }
});
