//! Plivo status-callback parsing and signature checks, as `POST /webhooks/plivo/status` does them:
//! form-decode the raw body, verify V3 and V2 signatures, then parse the parameters strictly
//! (`StatusCallback::parse`). Never panics; a forged signature never passes, the signature the
//! simulator makes always does, and an accepted callback has a Plivo state.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mms_gateway::plivo::signature::{v2_signature, v3_signature, verify_v2, verify_v3};
use mms_gateway::plivo::status_callback::{StatusCallback, STATES};

const URL: &str = "https://mms.example.com/webhooks/plivo/status";
const TOKEN: &str = "fuzz-auth-token";

fuzz_target!(|data: &[u8]| {
    // The input is "<signature header>\n<nonce>\n<form body>".
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let header = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let nonce = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let body = parts.next().unwrap_or_default();
    let params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();

    let genuine = v3_signature("POST", URL, &params, &nonce, TOKEN);
    // The header is a comma-separated list; surrounding white space is not part of a signature.
    if !header.split(',').any(|s| s.trim() == genuine) {
        assert!(!verify_v3("POST", URL, &params, &nonce, &header, TOKEN));
    }
    assert!(verify_v3("POST", URL, &params, &nonce, &genuine, TOKEN));
    assert!(!verify_v3("POST", URL, &params, &nonce, &genuine, "another-token"));
    let v2 = v2_signature(URL, &nonce, TOKEN);
    assert!(verify_v2(URL, &nonce, &v2, TOKEN));
    if let Ok(callback) = StatusCallback::parse(&params) {
        let status = params
            .iter()
            .find(|(k, _)| k == "Status")
            .map(|(_, v)| v.as_str());
        assert!(status.is_some_and(|s| STATES.contains(&s)), "{callback:?}");
    }
});
