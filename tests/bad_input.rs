//! Bad-input suite: random and adversarial requests thrown at the real router.
//!
//! Every request here is wrong in some way (wrong types, deep nesting, huge numbers, invalid
//! UTF-8, control characters, thousands of media URLs, odd headers, random bytes). Each must get
//! a 4xx answer whose body is the contract's error JSON, and Plivo must never be called: the
//! router's Plivo is a counter that fails the suite if anything reaches it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::{Body, Bytes};
use axum::http::{HeaderName, HeaderValue, Request};
use axum::Router;
use mms_gateway::config::Config;
use mms_gateway::http::{router, AppState, MAX_BODY_BYTES};
use mms_gateway::plivo::{
    AttemptError, ListQuery, MessageDetail, MessageList, PlivoApi, RetryPolicy, RetryingSender,
    SendMessageBody, SendMessageResponse,
};
use mms_gateway::send::Sender;
use proptest::prelude::*;
use serde_json::{json, Value};
use tower::ServiceExt;

/// A Plivo that only counts: nothing in this suite may reach it.
struct CountingPlivo(Arc<AtomicUsize>);

#[async_trait]
impl PlivoApi for CountingPlivo {
    async fn send_message(
        &self,
        _body: &SendMessageBody,
    ) -> Result<SendMessageResponse, AttemptError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(SendMessageResponse {
            api_id: Some("api".into()),
            message: "message(s) queued".into(),
            message_uuid: vec!["uuid".into()],
            invalid_number: None,
        })
    }

    async fn get_message(&self, _uuid: &str) -> Result<Option<MessageDetail>, AttemptError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(None)
    }

    async fn list_messages(&self, _query: &ListQuery) -> Result<MessageList, AttemptError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(MessageList {
            meta: Default::default(),
            objects: vec![],
        })
    }
}

/// The real router around a counting Plivo. (When `AppState` grows, this is the one place to
/// follow it.)
struct Harness {
    router: Router,
    plivo_calls: Arc<AtomicUsize>,
    runtime: tokio::runtime::Runtime,
}

fn harness() -> Harness {
    let config = Config::from_lookup(true, |name| match name {
        "HOST" => Some("127.0.0.1".into()),
        "PORT" => Some("0".into()),
        "DATABASE_URL" => Some("sqlite::memory:".into()),
        _ => None,
    })
    .expect("sandbox settings are valid");
    let plivo_calls = Arc::new(AtomicUsize::new(0));
    let sender = RetryingSender::new(
        Arc::new(CountingPlivo(plivo_calls.clone())),
        RetryPolicy {
            max_retries: 0,
            base: Duration::from_millis(1),
        },
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = runtime
        .block_on(mms_gateway::store::connect("sqlite::memory:"))
        .expect("in-memory store");
    let delivery = mms_gateway::delivery::Delivery::new(store, sender, Duration::from_secs(60));
    let preflight = mms_gateway::media_preflight::MediaPreflight::from_config(&config.ops)
        .expect("media preflight client");
    let state = AppState {
        sender: Sender::new(delivery.clone(), &config, preflight),
        delivery,
        metrics: mms_gateway::metrics::Metrics::new(),
        auth: Arc::new(mms_gateway::http::auth::Authenticator::new(
            &config.ops.api_keys,
        )),
        config: Arc::new(config),
    };
    Harness {
        router: router(state),
        plivo_calls,
        runtime,
    }
}

impl Harness {
    /// Sends one request through the router and checks the answer is a 4xx error JSON.
    fn assert_rejected(&self, request: Request<Body>) -> Result<(u16, String), TestCaseError> {
        self.rejected(request)
            .map(|(status, code, _)| (status, code))
    }

    /// Like [`Self::assert_rejected`], also giving the whole error JSON.
    fn rejected(&self, request: Request<Body>) -> Result<(u16, String, Value), TestCaseError> {
        let before = self.plivo_calls.load(Ordering::SeqCst);
        let (status, content_type, body) = self.runtime.block_on(async {
            let response = self.router.clone().oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let body = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            (status, content_type, body)
        });
        let text = String::from_utf8_lossy(&body).into_owned();
        prop_assert!(
            (400..500).contains(&status),
            "status {} for a bad request: {}",
            status,
            text
        );
        prop_assert_eq!(content_type.as_str(), "application/json");
        let json: Value = serde_json::from_slice(&body)
            .map_err(|_| TestCaseError::fail(format!("not JSON: {text:?}")))?;
        prop_assert!(
            json["error"].as_str().is_some_and(|s| !s.is_empty()),
            "{}",
            text
        );
        let code = json["code"].as_str().unwrap_or("").to_owned();
        prop_assert!(
            !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "code {:?}",
            code
        );
        prop_assert_eq!(
            self.plivo_calls.load(Ordering::SeqCst),
            before,
            "Plivo was called for a bad request"
        );
        Ok((status, code, json))
    }
}

fn post(content_type: Option<&[u8]>, body: impl Into<Bytes>) -> Request<Body> {
    let mut builder = Request::post("/send-mms");
    if let Some(ct) = content_type {
        builder = builder.header(
            "content-type",
            HeaderValue::from_bytes(ct).expect("a header value"),
        );
    }
    builder.body(Body::from(body.into())).unwrap()
}

fn post_json(body: &Value) -> Request<Body> {
    post(Some(b"application/json"), body.to_string())
}

fn post_form(body: impl Into<Bytes>) -> Request<Body> {
    post(Some(b"application/x-www-form-urlencoded"), body)
}

/// A valid request, to be spoiled.
fn valid() -> Value {
    json!({
        "recipientNumber": "+14155551234",
        "messageText": "hi",
        "mediaUrl": "https://example.com/a.gif",
    })
}

/// Any JSON value, nested a few levels, with extreme numbers and odd strings.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        "[\\x00-\\x1f\\x7f]{1,10}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A JSON value that is not a string (and not null, which means "absent").
fn not_a_string() -> impl Strategy<Value = Value> {
    any_json().prop_filter("not a string or null", |v| {
        !matches!(v, Value::String(_) | Value::Null)
    })
}

/// A JSON value that is not an array of strings (and not null).
fn not_a_string_list() -> impl Strategy<Value = Value> {
    prop_oneof![
        any_json().prop_filter("not an array or null", |v| {
            !matches!(v, Value::Array(_) | Value::Null)
        }),
        // An array with at least one non-string in it.
        (
            prop::collection::vec(".{0,20}".prop_map(Value::String), 0..4),
            not_a_string()
        )
            .prop_map(|(mut items, bad)| {
                items.push(bad);
                Value::Array(items)
            }),
    ]
}

/// Numbers serde_json may not even hold: huge, tiny, long.
fn huge_number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("1e400".to_owned()),
        Just("-1e400".to_owned()),
        Just("1e-400".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("-9223372036854775809".to_owned()),
        "[1-9][0-9]{20,300}",
        "-?[1-9][0-9]{0,5}\\.[0-9]{100,300}e[+-]?[0-9]{1,5}",
    ]
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Random bytes under every content type the service reads, and some it does not.
    #[test]
    fn random_bytes_are_rejected(
        body in prop::collection::vec(any::<u8>(), 0..2048),
        ct in prop_oneof![
            Just(&b"application/json"[..]),
            Just(&b"application/x-www-form-urlencoded"[..]),
            Just(&b"application/json; charset=latin1"[..]),
            Just(&b"text/plain"[..]),
            Just(&b"multipart/form-data; boundary=x"[..]),
        ],
    ) {
        let h = harness();
        h.assert_rejected(post(Some(ct), body))?;
    }

    /// Each field given a value of the wrong type, the rest valid: 400 naming the field.
    #[test]
    fn wrong_types_name_the_field(
        field in prop::sample::select(vec!["recipientNumber", "messageText", "mediaUrl", "mediaUrls", "mediaIds"]),
        scalar in not_a_string(),
        list in not_a_string_list(),
    ) {
        let h = harness();
        let mut body = valid();
        let bad = if matches!(field, "mediaUrls" | "mediaIds") { list } else { scalar };
        body[field] = bad;
        let (status, code, json) = h.rejected(post_json(&body))?;
        prop_assert_eq!(status, 400);
        prop_assert_eq!(code.as_str(), "invalid_field");
        prop_assert_eq!(json["field"].as_str(), Some(field));
    }

    /// Any JSON at all in place of the whole body, or of the recipient.
    #[test]
    fn arbitrary_json_never_reaches_plivo(value in any_json(), recipient in not_a_string()) {
        let h = harness();
        // The body itself: an object without a usable recipient, or not an object at all.
        let whole = match value {
            Value::Object(mut map) => {
                map.insert("recipientNumber".into(), recipient.clone());
                Value::Object(map)
            }
            other => other,
        };
        h.assert_rejected(post_json(&whole))?;
    }

    /// Arrays and objects nested far past any sane depth, at the top and inside a field.
    #[test]
    fn deep_nesting_is_400(depth in 1usize..20_000, object in any::<bool>(), inside in any::<bool>()) {
        let h = harness();
        let (open, close) = if object { (r#"{"a":"#, "}") } else { ("[", "]") };
        let nested = format!("{}1{}", open.repeat(depth), close.repeat(depth));
        let body = if inside {
            format!(r#"{{"recipientNumber":"+14155551234","mediaUrl":"https://e.com/a","mediaUrls":{nested}}}"#)
        } else {
            nested
        };
        let too_large = body.len() > MAX_BODY_BYTES;
        let (status, _) = h.assert_rejected(post(Some(b"application/json"), body))?;
        prop_assert_eq!(status, if too_large { 413 } else { 400 });
    }

    /// Huge and long numbers wherever a field is expected.
    #[test]
    fn huge_numbers_are_400(
        number in huge_number_text(),
        field in prop::sample::select(vec!["recipientNumber", "messageText", "mediaUrl", "mediaUrls", "mediaIds"]),
    ) {
        let h = harness();
        let body = format!(
            r#"{{"recipientNumber":"+14155551234","mediaUrl":"https://e.com/a","{field}":{number}}}"#
        );
        let (status, _) = h.assert_rejected(post(Some(b"application/json"), body))?;
        prop_assert_eq!(status, 400);
    }

    /// Invalid UTF-8 inside JSON strings, and percent-encoded in form fields.
    #[test]
    fn invalid_utf8_is_400(
        bad in prop::collection::vec(0x80u8..=0xff, 1..16),
        at in 0usize..12,
        form in any::<bool>(),
    ) {
        let h = harness();
        prop_assume!(std::str::from_utf8(&bad).is_err());
        let number = b"+14155551234";
        let at = at.min(number.len());
        let mut recipient = number[..at].to_vec();
        recipient.extend_from_slice(&bad);
        recipient.extend_from_slice(&number[at..]);
        let body = if form {
            let mut b = b"mediaUrl=https%3A%2F%2Fe.com%2Fa&recipientNumber=".to_vec();
            for byte in &recipient {
                b.extend_from_slice(format!("%{byte:02X}").as_bytes());
            }
            post_form(b)
        } else {
            let mut b = br#"{"mediaUrl":"https://e.com/a","recipientNumber":""#.to_vec();
            b.extend_from_slice(&recipient);
            b.extend_from_slice(br#""}"#);
            post(Some(b"application/json"), b)
        };
        let (status, _) = h.assert_rejected(body)?;
        prop_assert_eq!(status, 400);
    }

    /// Control characters in the recipient (raw in a form, escaped in JSON) and in media ids.
    #[test]
    fn control_characters_are_400(
        controls in "[\\x00-\\x1f\\x7f\\u{80}-\\u{9f}\\u{2028}\\u{202e}\\u{feff}]{1,8}",
        at in 0usize..12,
        in_media_id in any::<bool>(),
    ) {
        let h = harness();
        let (status, code) = if in_media_id {
            let body = json!({"recipientNumber": "+14155551234", "mediaIds": [format!("abc{controls}")]});
            h.assert_rejected(post_json(&body))?
        } else {
            let number = "+14155551234";
            let at = at.min(number.len());
            let recipient = format!("{}{controls}{}", &number[..at], &number[at..]);
            let body = json!({"recipientNumber": recipient, "mediaUrl": "https://e.com/a"});
            h.assert_rejected(post_json(&body))?
        };
        prop_assert_eq!(status, 400);
        prop_assert!(code == "invalid_phone_number" || code == "invalid_field", "{}", code);
    }

    /// Form data with random keys and values (no recipient that could ever be valid).
    #[test]
    fn random_form_data_is_rejected(
        pairs in prop::collection::vec((".{0,20}", ".{0,40}"), 0..20),
    ) {
        let h = harness();
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &pairs {
            if k.trim_end_matches("[]") == "recipientNumber" {
                continue;
            }
            s.append_pair(k, v);
        }
        s.append_pair("recipientNumber", "+1");
        let (status, code) = h.assert_rejected(post_form(s.finish()))?;
        prop_assert_eq!(status, 400);
        prop_assert_eq!(code.as_str(), "invalid_phone_number");
    }

    /// Content types that are neither JSON nor form, including raw bytes no one should send.
    #[test]
    fn odd_content_types_are_415(
        ct in prop::collection::vec(prop_oneof![0x20u8..0x7f, 0x80u8..=0xff, Just(b'\t')], 0..60),
    ) {
        let h = harness();
        let essence = String::from_utf8_lossy(&ct).split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        prop_assume!(
            essence != "application/json"
                && essence != "application/x-www-form-urlencoded"
                && !(essence.starts_with("application/") && essence.ends_with("+json"))
        );
        let body = valid().to_string();
        let request = match HeaderValue::from_bytes(&ct) {
            Ok(value) => {
                let mut r = post(None, body);
                r.headers_mut().insert("content-type", value);
                r
            }
            Err(_) => post(None, body),
        };
        let (status, code) = h.assert_rejected(request)?;
        prop_assert_eq!(status, 415);
        prop_assert_eq!(code.as_str(), "unsupported_media_type");
    }

    /// Garbage in other headers changes nothing: the bad body still gets its 400.
    #[test]
    fn garbage_headers_do_not_matter(
        headers in prop::collection::vec(
            ("[a-z][a-z0-9-]{0,30}", prop::collection::vec(prop_oneof![0x20u8..0x7f, 0x80u8..=0xff], 0..200)),
            0..16,
        ),
    ) {
        let h = harness();
        let mut request = post_json(&json!({"recipientNumber": "+1"}));
        for (name, value) in headers {
            if name == "content-type" || name == "content-length" || name == "transfer-encoding" {
                continue;
            }
            if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(&value)) {
                request.headers_mut().append(n, v);
            }
        }
        let (status, code) = h.assert_rejected(request)?;
        prop_assert_eq!(status, 400);
        prop_assert_eq!(code.as_str(), "invalid_phone_number");
    }

    /// 11 to 10,000 media URLs: too many (400), or a body over 64 KiB (413).
    #[test]
    fn thousands_of_media_urls_are_rejected(n in 11usize..=10_000, form in any::<bool>(), ids in any::<bool>()) {
        let h = harness();
        let field = if ids { "mediaIds" } else { "mediaUrls" };
        let item = if ids { "m1" } else { "http://a.b/" };
        let request = if form {
            let mut s = form_urlencoded::Serializer::new(String::new());
            s.append_pair("recipientNumber", "+14155551234");
            for _ in 0..n {
                s.append_pair(field, item);
            }
            post_form(s.finish())
        } else {
            let mut body = serde_json::Map::new();
            body.insert("recipientNumber".into(), "+14155551234".into());
            body.insert(field.into(), vec![item; n].into());
            post_json(&Value::Object(body))
        };
        let (status, code) = h.assert_rejected(request)?;
        prop_assert!(
            (status, code.as_str()) == (400, "too_many_media") || (status, code.as_str()) == (413, "payload_too_large"),
            "{} {}", status, code
        );
    }
}

/// The exact cases the issue names, once each, so a failure reads plainly.
#[test]
fn named_adversarial_bodies() {
    let h = harness();
    let ten_thousand: Vec<String> = (0..10_000).map(|i| format!("https://e.com/{i}")).collect();
    let cases: Vec<(&str, Request<Body>, u16)> = vec![
        ("empty JSON", post(Some(b"application/json"), ""), 400),
        ("no content type", post(None, valid().to_string()), 415),
        ("JSON null", post(Some(b"application/json"), "null"), 400),
        (
            "10,000 media URLs",
            post_json(&json!({"recipientNumber": "+14155551234", "mediaUrls": ten_thousand})),
            413,
        ),
        (
            "11 media URLs",
            post_json(
                &json!({"recipientNumber": "+14155551234", "mediaUrls": vec!["https://e.com/a"; 11]}),
            ),
            400,
        ),
        (
            "a body one byte over the limit",
            post(
                Some(b"application/json"),
                format!(r#"{{"a":"{}"}}"#, "x".repeat(MAX_BODY_BYTES)),
            ),
            413,
        ),
        (
            "deep nesting",
            post(Some(b"application/json"), "[".repeat(60_000)),
            400,
        ),
        (
            "a NUL in the number",
            post_json(
                &json!({"recipientNumber": "+1415\u{0}5551234", "mediaUrl": "https://e.com/a"}),
            ),
            400,
        ),
        (
            "a duplicate key with a wrong type",
            post(
                Some(b"application/json"),
                r#"{"recipientNumber":"+14155551234","mediaUrl":"https://e.com/a","mediaUrl":7}"#,
            ),
            400,
        ),
        (
            "a text over 1600 characters",
            post_json(
                &json!({"recipientNumber": "+14155551234", "mediaUrl": "https://e.com/a", "messageText": "é".repeat(1601)}),
            ),
            400,
        ),
        (
            "a javascript: media URL",
            post_json(
                &json!({"recipientNumber": "+14155551234", "mediaUrl": "javascript:alert(1)"}),
            ),
            400,
        ),
        (
            "a UK number",
            post_json(&json!({"recipientNumber": "+447911123456", "mediaUrl": "https://e.com/a"})),
            400,
        ),
    ];
    for (name, request, status) in cases {
        let result = h.assert_rejected(request);
        let (got, _) = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, status, "{name}");
    }
}
