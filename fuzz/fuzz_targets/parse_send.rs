//! `POST /send-mms` body parsing: the first byte picks JSON or form, the rest is the body.
//! Never panics; every rejection is a 4xx with the contract's error JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mms_gateway::http::send_request::{parse_send, BodyFormat};

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let format = if first & 1 == 0 {
        BodyFormat::Json
    } else {
        BodyFormat::Form
    };
    match parse_send(format, body) {
        Ok(mms) => {
            // What was accepted is within the contract's limits.
            let media = mms.media.urls().len() + mms.media.ids().len();
            assert!((1..=10).contains(&media));
            assert!(mms.to.as_str().starts_with("+1"));
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
