//! Replies and opt-outs: Plivo's incoming-message webhook, the opt-out list and its API, sends to
//! opted-out numbers, and inbound messages forwarded to `INBOUND_CALLBACK_URL`. Every scenario runs
//! on SQLite and on PostgreSQL (when `TEST_DATABASE_URL` is set).

use std::time::Duration;

use hmac::{Hmac, Mac};
use mms_gateway::plivo::signature::{new_nonce, v2_signature, v3_signature};
use serde_json::{json, Value};
use sha2::Sha256;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

const PUBLIC: &str = "https://mms.example.com";
const INBOUND_URL: &str = "https://mms.example.com/webhooks/plivo/inbound";
const STATUS_URL: &str = "https://mms.example.com/webhooks/plivo/status";
const SECRET: &str = "inbound-test-signing-secret";

on_both_backends!(
    a_signed_inbound_mms_numbered_from_0_is_stored_and_listed,
    a_signed_inbound_mms_numbered_from_1_is_stored_in_order,
    a_repeated_inbound_webhook_is_stored_once,
    forged_or_malformed_inbound_webhooks_store_nothing,
    stop_in_any_spelling_opts_out_and_start_undoes_it,
    plivo_error_200_in_a_callback_adds_the_recipient,
    sends_to_an_opted_out_number_are_refused_before_plivo,
    the_api_adds_lists_and_removes_numbers,
    inbound_messages_are_forwarded_signed_and_in_order,
    an_opt_out_seen_by_one_instance_holds_for_another,
);

async fn app_on(db: TestDb, extra: &[(&str, &str)]) -> TestApp {
    let mut overrides = vec![("PUBLIC_BASE_URL", PUBLIC)];
    overrides.extend_from_slice(extra);
    spawn_app_on(db, MockServer::start().await, &overrides).await
}

async fn plivo_accepts(plivo: &MockServer) {
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({
            "message": "message(s) queued",
            "message_uuid": ["db3ce55a-7f1d-11e1-8ea7-1231380bc196"],
            "api_id": "a1"
        })))
        .mount(plivo)
        .await;
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// An inbound message's parameters as Plivo posts them, plus `extra`.
fn inbound(from: &str, uuid: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut all = vec![
        ("From", from),
        ("To", "14155550100"),
        ("MessageUUID", uuid),
        ("Units", "1"),
        ("TotalRate", "0.00000"),
        ("TotalAmount", "0.00000"),
        ("PowerpackUUID", ""),
    ];
    all.extend_from_slice(extra);
    pairs(&all)
}

fn sms(from: &str, uuid: &str, text: &str) -> Vec<(String, String)> {
    inbound(
        from,
        uuid,
        &[("Type", "sms"), ("Text", text), ("MessageIntent", "")],
    )
}

fn form(params: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

/// Posts to `path`, signed with V3 over `url` with `token`.
async fn post_signed(
    app: &TestApp,
    path: &str,
    url: &str,
    params: &[(String, String)],
    token: &str,
) -> reqwest::Response {
    let nonce = new_nonce();
    let signature = v3_signature("POST", url, params, &nonce, token);
    app.client
        .post(format!("{}{path}", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-plivo-signature-v3", signature)
        .header("x-plivo-signature-v3-nonce", nonce)
        .body(form(params))
        .send()
        .await
        .unwrap()
}

async fn post_inbound(app: &TestApp, params: &[(String, String)]) -> reqwest::Response {
    post_signed(
        app,
        "/webhooks/plivo/inbound",
        INBOUND_URL,
        params,
        AUTH_TOKEN,
    )
    .await
}

async fn inbound_ok(app: &TestApp, params: &[(String, String)]) {
    let response = post_inbound(app, params).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

async fn listed(app: &TestApp, query: &str) -> Vec<Value> {
    let response = app.fetch(&format!("/messages?{query}")).await;
    assert_eq!(response.status(), 200);
    json_body(response).await["messages"]
        .as_array()
        .unwrap()
        .clone()
}

async fn opt_out_of(app: &TestApp, number: &str) -> Value {
    let response = app.fetch(&format!("/opt-outs/{number}")).await;
    assert_eq!(response.status(), 200);
    json_body(response).await
}

fn history(status: &Value) -> Vec<(String, String)> {
    status["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["action"].as_str().unwrap().to_owned(),
                h["source"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn put(app: &TestApp, number: &str) -> reqwest::Response {
    app.client
        .put(format!("{}/opt-outs/{number}", app.address))
        .send()
        .await
        .unwrap()
}

async fn delete(app: &TestApp, number: &str) -> reqwest::Response {
    app.client
        .delete(format!("{}/opt-outs/{number}", app.address))
        .send()
        .await
        .unwrap()
}

fn send_to(to: &str) -> Value {
    json!({"recipientNumber": to, "messageText": "hi", "mediaUrl": "https://example.com/a.gif"})
}

async fn metric(app: &TestApp, line_start: &str) -> Option<String> {
    let text = app.fetch("/metrics").await.text().await.unwrap();
    text.lines()
        .find(|l| l.starts_with(line_start))
        .map(str::to_owned)
}

async fn a_signed_inbound_mms_numbered_from_0_is_stored_and_listed(db: TestDb) {
    let app = app_on(db, &[]).await;
    plivo_accepts(&app.plivo).await;
    // An outbound message to the number that writes in.
    let sent = app.post_json(&send_to("+14155551234")).await;
    assert_eq!(sent.status(), 200);
    let params = inbound(
        "14155551234",
        "11111111-1111-4111-8111-111111111111",
        &[
            ("Type", "mms"),
            ("Body", "nice picture"),
            ("MessageIntent", ""),
            ("MediaCount", "2"),
            ("Media0", "https://media.plivo.com/a.jpg"),
            ("Media1", "https://media.plivo.com/b.jpg"),
        ],
    );
    inbound_ok(&app, &params).await;

    let inbound_list = listed(&app, "direction=inbound").await;
    assert_eq!(inbound_list.len(), 1, "{inbound_list:?}");
    let m = &inbound_list[0];
    assert_eq!(m["direction"], "inbound");
    assert_eq!(m["from"], "+14155551234");
    assert_eq!(m["to"], "+14155550100");
    assert_eq!(m["text"], "nice picture");
    assert_eq!(
        m["mediaUrls"],
        json!([
            "https://media.plivo.com/a.jpg",
            "https://media.plivo.com/b.jpg"
        ])
    );
    assert_eq!(m["messageUuid"], "11111111-1111-4111-8111-111111111111");
    assert!(m["receivedAt"].is_string());
    assert!(m["id"].is_string());

    let one = json_body(
        app.fetch(&format!("/messages/{}", m["id"].as_str().unwrap()))
            .await,
    )
    .await;
    assert_eq!(one["from"], "+14155551234");
    assert_eq!(one["direction"], "inbound");

    // Both directions without `direction`; the outbound record says so.
    let all = listed(&app, "").await;
    let directions: Vec<_> = all.iter().map(|m| m["direction"].clone()).collect();
    assert_eq!(directions, [json!("inbound"), json!("outbound")]);
    let outbound = listed(&app, "direction=outbound").await;
    assert_eq!(outbound.len(), 1);
    assert_eq!(outbound[0]["recipientNumber"], "+14155551234");
    // recipientNumber: outbound messages to the number, inbound ones from it.
    assert_eq!(
        listed(&app, "recipientNumber=%2B14155551234").await.len(),
        2
    );
    assert_eq!(
        listed(&app, "recipientNumber=%2B14155550100").await.len(),
        0
    );
    assert_eq!(
        listed(&app, "recipientNumber=%2B14155551234&direction=inbound")
            .await
            .len(),
        1
    );
    assert_error(
        app.fetch("/messages?direction=sideways").await,
        400,
        "invalid_field",
    )
    .await;
    assert_eq!(
        metric(&app, "mms_gateway_inbound_messages_total")
            .await
            .as_deref(),
        Some("mms_gateway_inbound_messages_total 1")
    );
}

async fn a_signed_inbound_mms_numbered_from_1_is_stored_in_order(db: TestDb) {
    let app = app_on(db, &[]).await;
    let params = inbound(
        "14155551234",
        "22222222-2222-4222-8222-222222222222",
        &[
            ("Type", "mms"),
            ("Body", ""),
            ("MessageIntent", ""),
            ("MediaCount", "2"),
            ("Media2", "https://media.plivo.com/second.jpg"),
            ("Media1", "https://media.plivo.com/first.jpg"),
        ],
    );
    inbound_ok(&app, &params).await;
    let m = &listed(&app, "direction=inbound").await[0];
    assert_eq!(
        m["mediaUrls"],
        json!([
            "https://media.plivo.com/first.jpg",
            "https://media.plivo.com/second.jpg"
        ])
    );
    assert_eq!(m["text"], Value::Null);
}

async fn a_repeated_inbound_webhook_is_stored_once(db: TestDb) {
    let app = app_on(db, &[]).await;
    let params = sms(
        "14155551234",
        "33333333-3333-4333-8333-333333333333",
        "STOP",
    );
    inbound_ok(&app, &params).await;
    inbound_ok(&app, &params).await;
    // Also when V2-signed (with a fresh nonce).
    let nonce = new_nonce();
    let response = app
        .client
        .post(format!("{}/webhooks/plivo/inbound", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "x-plivo-signature-v2",
            v2_signature(INBOUND_URL, &nonce, AUTH_TOKEN),
        )
        .header("x-plivo-signature-v2-nonce", nonce)
        .body(form(&params))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    assert_eq!(listed(&app, "direction=inbound").await.len(), 1);
    // The STOP counted once.
    let status = opt_out_of(&app, "%2B14155551234").await;
    assert_eq!(history(&status), [("optout".into(), "inbound".into())]);
    assert_eq!(
        metric(&app, "mms_gateway_inbound_messages_total")
            .await
            .as_deref(),
        Some("mms_gateway_inbound_messages_total 1")
    );
}

async fn forged_or_malformed_inbound_webhooks_store_nothing(db: TestDb) {
    let app = app_on(db, &[]).await;
    let params = sms(
        "14155551234",
        "44444444-4444-4444-8444-444444444444",
        "STOP",
    );
    let forged = post_signed(
        &app,
        "/webhooks/plivo/inbound",
        INBOUND_URL,
        &params,
        "not-the-token",
    )
    .await;
    assert_error(forged, 403, "invalid_signature").await;
    // Signed over the status URL: not a signature of this request.
    let wrong_url = post_signed(
        &app,
        "/webhooks/plivo/inbound",
        STATUS_URL,
        &params,
        AUTH_TOKEN,
    )
    .await;
    assert_eq!(wrong_url.status(), 403);
    let unsigned = app
        .client
        .post(format!("{}/webhooks/plivo/inbound", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&params))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 403);
    for bad in [
        sms("not-a-number", "44444444-4444-4444-8444-444444444445", "hi"),
        sms("14155551234", "not-a-uuid", "hi"),
        inbound(
            "14155551234",
            "44444444-4444-4444-8444-444444444446",
            &[
                ("Type", "mms"),
                ("MediaCount", "3"),
                ("Media0", "https://m.example.com/a"),
            ],
        ),
    ] {
        let response = post_inbound(&app, &bad).await;
        assert_error(response, 400, "invalid_callback").await;
    }
    assert!(listed(&app, "direction=inbound").await.is_empty());
    assert_eq!(opt_out_of(&app, "%2B14155551234").await["optedOut"], false);
}

async fn stop_in_any_spelling_opts_out_and_start_undoes_it(db: TestDb) {
    let app = app_on(db, &[]).await;
    let spellings = [
        "STOP",
        "stop",
        " Stop All ",
        "unsubscribe.",
        "QUIT!",
        "Cancel",
        "end",
        "stopall",
    ];
    for (i, text) in spellings.iter().enumerate() {
        let from = format!("1415555{:04}", 3000 + i);
        let uuid = format!("55555555-5555-4555-8555-{i:012}");
        inbound_ok(&app, &sms(&from, &uuid, text)).await;
        let status = opt_out_of(&app, &from).await;
        assert_eq!(status["optedOut"], true, "{text:?}");
        assert_eq!(status["number"], format!("+{from}"));
        assert_eq!(
            history(&status),
            [("optout".into(), "inbound".into())],
            "{text:?}"
        );
    }
    // Texts that merely contain a keyword, and HELP, change nothing (but are stored).
    for (i, text) in ["please stop texting me", "Stop it.", "HELP", "nonstop"]
        .iter()
        .enumerate()
    {
        let uuid = format!("66666666-6666-4666-8666-{i:012}");
        inbound_ok(&app, &sms("14155554000", &uuid, text)).await;
    }
    let status = opt_out_of(&app, "14155554000").await;
    assert_eq!(status["optedOut"], false);
    assert!(history(&status).is_empty());
    assert_eq!(
        listed(&app, "direction=inbound&recipientNumber=%2B14155554000")
            .await
            .len(),
        4
    );
    // Plivo's MessageIntent counts whatever the text.
    let intent = inbound(
        "14155554001",
        "77777777-7777-4777-8777-777777777777",
        &[
            ("Type", "sms"),
            ("Text", "Arrêtez"),
            ("MessageIntent", "optout"),
        ],
    );
    inbound_ok(&app, &intent).await;
    assert_eq!(opt_out_of(&app, "14155554001").await["optedOut"], true);

    // START undoes the first STOP; a send to the number goes out again.
    plivo_accepts(&app.plivo).await;
    assert_error(
        app.post_json(&send_to("+14155553000")).await,
        409,
        "recipient_opted_out",
    )
    .await;
    inbound_ok(
        &app,
        &sms(
            "14155553000",
            "88888888-8888-4888-8888-888888888888",
            "Start",
        ),
    )
    .await;
    let status = opt_out_of(&app, "%2B14155553000").await;
    assert_eq!(status["optedOut"], false);
    assert_eq!(
        history(&status),
        [
            ("optout".into(), "inbound".into()),
            ("optin".into(), "inbound".into())
        ]
    );
    assert_eq!(app.post_json(&send_to("+14155553000")).await.status(), 200);
    let changes = metric(
        &app,
        "mms_gateway_opt_out_changes_total{action=\"optout\",source=\"inbound\"}",
    )
    .await;
    assert_eq!(
        changes.as_deref(),
        Some("mms_gateway_opt_out_changes_total{action=\"optout\",source=\"inbound\"} 9")
    );
}

async fn plivo_error_200_in_a_callback_adds_the_recipient(db: TestDb) {
    let app = app_on(db, &[]).await;
    plivo_accepts(&app.plivo).await;
    assert_eq!(app.post_json(&send_to("+14155551234")).await.status(), 200);
    let callback = pairs(&[
        ("MessageUUID", "db3ce55a-7f1d-11e1-8ea7-1231380bc196"),
        ("Status", "failed"),
        ("ErrorCode", "200"),
        ("From", "14155550100"),
        ("To", "14155551234"),
        ("Type", "mms"),
    ]);
    let response = post_signed(
        &app,
        "/webhooks/plivo/status",
        STATUS_URL,
        &callback,
        AUTH_TOKEN,
    )
    .await;
    assert_eq!(response.status(), 200);

    let status = opt_out_of(&app, "%2B14155551234").await;
    assert_eq!(status["optedOut"], true);
    assert_eq!(
        history(&status),
        [("optout".into(), "plivo_error_200".into())]
    );
    let page = json_body(app.fetch("/opt-outs").await).await;
    assert_eq!(page["optOuts"][0]["source"], "plivo_error_200");
    // Another failure code teaches nothing.
    let other = pairs(&[
        ("MessageUUID", "db3ce55a-7f1d-11e1-8ea7-1231380bc196"),
        ("Status", "undelivered"),
        ("ErrorCode", "30"),
        ("To", "14155559999"),
    ]);
    post_signed(
        &app,
        "/webhooks/plivo/status",
        STATUS_URL,
        &other,
        AUTH_TOKEN,
    )
    .await;
    assert_eq!(opt_out_of(&app, "14155559999").await["optedOut"], false);
}

async fn sends_to_an_opted_out_number_are_refused_before_plivo(db: TestDb) {
    let app = app_on(db, &[]).await;
    plivo_accepts(&app.plivo).await;
    assert_eq!(put(&app, "%2B14155551234").await.status(), 204);
    assert_eq!(put(&app, "14155551235").await.status(), 204);

    // Synchronous.
    let body = assert_error(
        app.post_json(&send_to("+14155551234")).await,
        409,
        "recipient_opted_out",
    )
    .await;
    assert_eq!(body["field"], "recipientNumber");
    // Asynchronous.
    let response = app
        .client
        .post(format!("{}/send-mms", app.address))
        .header("prefer", "respond-async")
        .json(&send_to("+14155551234"))
        .send()
        .await
        .unwrap();
    assert_error(response, 409, "recipient_opted_out").await;
    assert!(listed(&app, "").await.is_empty(), "nothing recorded");

    // Bulk: the opted-out recipients are left out and listed.
    let bulk = json!({"recipientNumbers": ["+14155551234", "+14155551236", "+14155551235"],
                      "messageText": "hi", "mediaUrl": "https://example.com/a.gif"});
    let response = app.post_json(&bulk).await;
    assert_eq!(response.status(), 202);
    let body = json_body(response).await;
    let recipients: Vec<_> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["recipientNumber"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recipients, ["+14155551236"]);
    assert_eq!(
        body["skipped"],
        json!([
            {"recipientNumber": "+14155551234", "code": "recipient_opted_out"},
            {"recipientNumber": "+14155551235", "code": "recipient_opted_out"}
        ])
    );
    // All opted out: 202 with no messages.
    let all_out = json!({"recipientNumbers": ["+14155551234", "+14155551235"],
                         "messageText": "hi", "mediaUrl": "https://example.com/a.gif"});
    let response = app.post_json(&all_out).await;
    assert_eq!(response.status(), 202);
    let body = json_body(response).await;
    assert_eq!(body["messages"], json!([]));
    assert_eq!(body["skipped"].as_array().unwrap().len(), 2);

    // Only the one allowed message was recorded and sent.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.plivo_calls().await < 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let requests = app.plivo.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let sent: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(sent["dst"], "+14155551236");
    assert_eq!(listed(&app, "").await.len(), 1);
    assert_eq!(
        metric(&app, "mms_gateway_sends_refused_opted_out_total")
            .await
            .as_deref(),
        Some("mms_gateway_sends_refused_opted_out_total 6")
    );
}

async fn the_api_adds_lists_and_removes_numbers(db: TestDb) {
    let app = app_on(db, &[]).await;
    for number in ["%2B14155551001", "14155551002", "%2B14155551003"] {
        assert_eq!(put(&app, number).await.status(), 204);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let page = json_body(app.fetch("/opt-outs").await).await;
    let numbers: Vec<_> = page["optOuts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["number"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(numbers, ["+14155551003", "+14155551002", "+14155551001"]);
    assert_eq!(page["optOuts"][0]["source"], "api");
    assert!(page["optOuts"][0]["at"].is_string());
    assert_eq!(page["nextCursor"], Value::Null);

    // Paging.
    let first = json_body(app.fetch("/opt-outs?limit=2").await).await;
    assert_eq!(first["optOuts"].as_array().unwrap().len(), 2);
    let cursor = first["nextCursor"].as_str().unwrap().to_owned();
    let second = json_body(
        app.fetch(&format!("/opt-outs?limit=2&cursor={cursor}"))
            .await,
    )
    .await;
    assert_eq!(second["optOuts"][0]["number"], "+14155551001");
    assert_eq!(second["nextCursor"], Value::Null);
    for bad in ["limit=0", "limit=1001", "limit=x", "cursor=nonsense"] {
        assert_error(
            app.fetch(&format!("/opt-outs?{bad}")).await,
            400,
            "invalid_field",
        )
        .await;
    }

    // PUT of a listed number adds a history entry; DELETE takes it off; DELETE again is fine.
    assert_eq!(put(&app, "14155551001").await.status(), 204);
    assert_eq!(delete(&app, "%2B14155551001").await.status(), 204);
    assert_eq!(delete(&app, "%2B14155551001").await.status(), 204);
    assert_eq!(delete(&app, "14155550999").await.status(), 204);
    let status = opt_out_of(&app, "%2B14155551001").await;
    assert_eq!(status["optedOut"], false);
    assert_eq!(
        history(&status),
        [
            ("optout".into(), "api".into()),
            ("optout".into(), "api".into()),
            ("optin".into(), "api".into())
        ]
    );
    assert!(status["history"][0]["at"].is_string());
    let page = json_body(app.fetch("/opt-outs").await).await;
    assert_eq!(page["optOuts"].as_array().unwrap().len(), 2);

    for bad in [
        "12",
        "%2B1415",
        "abc",
        "%2B%2B14155551001",
        "%20%2B14155551001",
    ] {
        assert_error(put(&app, bad).await, 400, "invalid_phone_number").await;
        assert_error(delete(&app, bad).await, 400, "invalid_phone_number").await;
        assert_error(
            app.fetch(&format!("/opt-outs/{bad}")).await,
            400,
            "invalid_phone_number",
        )
        .await;
    }
    assert_eq!(
        metric(
            &app,
            "mms_gateway_opt_out_changes_total{action=\"optin\",source=\"api\"}"
        )
        .await
        .as_deref(),
        Some("mms_gateway_opt_out_changes_total{action=\"optin\",source=\"api\"} 1")
    );
}

async fn inbound_messages_are_forwarded_signed_and_in_order(db: TestDb) {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let target = format!("{}/inbound-hook", receiver.uri());
    let app = app_on(
        db,
        &[
            ("INBOUND_CALLBACK_URL", target.as_str()),
            ("WEBHOOK_SIGNING_SECRET", SECRET),
            ("CALLBACK_ALLOW_PRIVATE", "true"),
        ],
    )
    .await;
    let uuids = [
        "99999999-9999-4999-8999-000000000001",
        "99999999-9999-4999-8999-000000000002",
        "99999999-9999-4999-8999-000000000003",
    ];
    for (i, uuid) in uuids.iter().enumerate() {
        let params = inbound(
            "14155551234",
            uuid,
            &[
                ("Type", "mms"),
                ("Body", &format!("reply {i}")),
                ("MessageIntent", ""),
                ("MediaCount", "1"),
                ("Media1", "https://media.plivo.com/x.jpg"),
            ],
        );
        inbound_ok(&app, &params).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let requests = loop {
        let requests = receiver.received_requests().await.unwrap();
        if requests.len() >= 3 || tokio::time::Instant::now() > deadline {
            break requests;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(requests.len(), 3);
    let stored = listed(&app, "direction=inbound").await;
    for (i, request) in requests.iter().enumerate() {
        assert_eq!(request.url.path(), "/inbound-hook");
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["type"], "inbound");
        assert_eq!(body["messageUuid"], uuids[i], "in order of receipt");
        assert_eq!(body["from"], "+14155551234");
        assert_eq!(body["to"], "+14155550100");
        assert_eq!(body["text"], format!("reply {i}"));
        assert_eq!(body["mediaUrls"], json!(["https://media.plivo.com/x.jpg"]));
        assert!(body["eventId"].is_string() && body["receivedAt"].is_string());
        // The stored message's id (newest first in the listing).
        assert_eq!(body["id"], stored[2 - i]["id"]);
        // The signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">, recomputed here.
        let header = request.headers["x-mms-gateway-signature"].to_str().unwrap();
        let (t, v1) = header
            .strip_prefix("t=")
            .and_then(|rest| rest.split_once(",v1="))
            .expect("t=…,v1=…");
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(&request.body);
        let expected: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(v1, expected);
        let age = chrono::Utc::now().timestamp() - t.parse::<i64>().unwrap();
        assert!((0..60).contains(&age), "{age}");
    }
    // The tries show on the stored message.
    let id = stored[0]["id"].as_str().unwrap();
    let one = json_body(app.fetch(&format!("/messages/{id}")).await).await;
    assert_eq!(one["callbackAttempts"][0]["responseStatus"], 204);
}

async fn an_opt_out_seen_by_one_instance_holds_for_another(db: TestDb) {
    if matches!(db, TestDb::Sqlite { .. }) {
        // Several instances share one PostgreSQL database; SQLite is one instance's file.
        return;
    }
    let a = app_on(db.clone(), &[]).await;
    let b = app_on(db, &[]).await;
    plivo_accepts(&a.plivo).await;
    plivo_accepts(&b.plivo).await;
    inbound_ok(
        &a,
        &sms(
            "14155551234",
            "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
            "STOP",
        ),
    )
    .await;
    assert_error(
        b.post_json(&send_to("+14155551234")).await,
        409,
        "recipient_opted_out",
    )
    .await;
    assert_eq!(put(&b, "14155551235").await.status(), 204);
    assert_error(
        a.post_json(&send_to("+14155551235")).await,
        409,
        "recipient_opted_out",
    )
    .await;
    assert_eq!(delete(&a, "14155551234").await.status(), 204);
    assert_eq!(b.post_json(&send_to("+14155551234")).await.status(), 200);
    assert_eq!(a.plivo_calls().await + b.plivo_calls().await, 1);
}
