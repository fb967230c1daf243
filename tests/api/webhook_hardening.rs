//! Forged, replayed and re-split Plivo callbacks (the verifier in `src/http/plivo_webhook.rs`),
//! on SQLite and, with `TEST_DATABASE_URL`, PostgreSQL.

use std::future::Future;

use mms_gateway::plivo::signature::{new_nonce, v2_signature, v3_signature};
use serde_json::{json, Value};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

const PUBLIC: &str = "https://mms.example.com";
const CALLBACK_URL: &str = "https://mms.example.com/webhooks/plivo/status";
const UUID_A: &str = "0a3ce55a-7f1d-11e1-8ea7-1231380bc196";
const UUID_B: &str = "0b3ce55a-7f1d-11e1-8ea7-1231380bc196";
const REPORT_TIME: &str = "2025-01-01 10:00:00.123456";

/// Runs `scenario` on a fresh app on SQLite, then on PostgreSQL when it is configured.
async fn on_both_backends<F, Fut>(scenario: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    let overrides = [("PUBLIC_BASE_URL", PUBLIC)];
    scenario(spawn_app_on(TestDb::sqlite(), MockServer::start().await, &overrides).await).await;
    if let Some(db) = TestDb::postgres().await {
        scenario(spawn_app_on(db, MockServer::start().await, &overrides).await).await;
    }
}

/// Sends one message that Plivo accepts with `uuid`; returns its id.
async fn send_with_uuid(app: &TestApp, uuid: &str) -> String {
    let _guard = Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({
            "message": "message(s) queued", "message_uuid": [uuid], "api_id": "a1"
        })))
        .expect(1)
        .mount_as_scoped(&app.plivo)
        .await;
    let response = app.post_json(&valid_body()).await;
    assert_eq!(response.status(), 200);
    json_body(response).await["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

async fn record(app: &TestApp, id: &str) -> Value {
    json_body(app.fetch(&format!("/messages/{id}")).await).await
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn form(params: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

/// The six headers Plivo (and the sandbox) send: V3, Ma-V3 and their nonce, V2, Ma-V2 and theirs.
fn all_signatures(signed: &[(String, String)], v2_nonce: &str) -> Vec<(&'static str, String)> {
    let v3_nonce = new_nonce();
    let v3 = v3_signature("POST", CALLBACK_URL, signed, &v3_nonce, AUTH_TOKEN);
    let v2 = v2_signature(CALLBACK_URL, v2_nonce, AUTH_TOKEN);
    vec![
        ("x-plivo-signature-v3", v3.clone()),
        ("x-plivo-signature-ma-v3", v3),
        ("x-plivo-signature-v3-nonce", v3_nonce),
        ("x-plivo-signature-v2", v2.clone()),
        ("x-plivo-signature-ma-v2", v2),
        ("x-plivo-signature-v2-nonce", v2_nonce.to_owned()),
    ]
}

async fn post(
    app: &TestApp,
    headers: &[(&'static str, String)],
    body: &[(String, String)],
) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/webhooks/plivo/status", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(body));
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await.expect("answer")
}

#[tokio::test]
async fn the_v2_headers_of_a_callback_that_passed_on_v3_cannot_be_replayed() {
    on_both_backends(|app| async move {
        let _a = send_with_uuid(&app, UUID_A).await;
        let b = send_with_uuid(&app, UUID_B).await;
        let signed = pairs(&[
            ("MessageUUID", UUID_A),
            ("Status", "sent"),
            ("ErrorCode", ""),
        ]);
        let v2_nonce = new_nonce();
        let headers = all_signatures(&signed, &v2_nonce);
        assert_eq!(post(&app, &headers, &signed).await.status(), 200);

        // The V3 headers stripped, the V2 ones replayed with another message in the body.
        let v2_only: Vec<_> = headers
            .into_iter()
            .filter(|(name, _)| name.contains("v2"))
            .collect();
        let forged = pairs(&[
            ("MessageUUID", UUID_B),
            ("Status", "failed"),
            ("ErrorCode", "30"),
        ]);
        assert_error(
            post(&app, &v2_only, &forged).await,
            403,
            "invalid_signature",
        )
        .await;

        let b = record(&app, &b).await;
        assert_eq!(b["status"], "queued");
        assert_eq!(b["errorCode"], Value::Null);
    })
    .await;
}

#[tokio::test]
async fn a_v3_signed_callback_split_differently_is_refused_and_changes_nothing() {
    on_both_backends(|app| async move {
        let id = send_with_uuid(&app, UUID_A).await;
        let signed = pairs(&[
            ("MessageUUID", UUID_A),
            ("Status", "undelivered"),
            ("DeliveryReportTime", REPORT_TIME),
            ("ErrorCode", "80"),
        ]);
        let moved = format!("{REPORT_TIME}ErrorCode80");
        let resplit = pairs(&[
            ("MessageUUID", UUID_A),
            ("Status", "undelivered"),
            ("DeliveryReportTime", &moved),
        ]);
        // Both splits have the same V3 signature: only the parsing can tell them apart.
        let nonce = new_nonce();
        let signature = v3_signature("POST", CALLBACK_URL, &signed, &nonce, AUTH_TOKEN);
        assert_eq!(
            signature,
            v3_signature("POST", CALLBACK_URL, &resplit, &nonce, AUTH_TOKEN)
        );
        let headers = [
            ("x-plivo-signature-v3", signature),
            ("x-plivo-signature-v3-nonce", nonce),
        ];

        let refused = assert_error(
            post(&app, &headers, &resplit).await,
            400,
            "invalid_callback",
        )
        .await;
        assert_eq!(refused["field"], "DeliveryReportTime");
        assert_eq!(record(&app, &id).await["status"], "queued");

        // The callback as signed still applies.
        assert_eq!(post(&app, &headers, &signed).await.status(), 200);
        let after = record(&app, &id).await;
        assert_eq!(after["status"], "undelivered");
        assert_eq!(after["errorCode"], "80");
    })
    .await;
}

#[tokio::test]
async fn signed_callbacks_that_plivo_would_not_send_are_400_and_change_nothing() {
    on_both_backends(|app| async move {
        let id = send_with_uuid(&app, UUID_A).await;
        for (name, value) in [
            ("Status", "exploded"),
            ("ErrorCode", "30; DROP"),
            ("SentTime", "not a time"),
            ("MessageUUID", "../../etc"),
            ("ErrorCode8", "0"),
        ] {
            let mut params = pairs(&[("MessageUUID", UUID_A), ("Status", "failed")]);
            params.retain(|(k, _)| k != name);
            params.push((name.to_owned(), value.to_owned()));
            let headers = all_signatures(&params, &new_nonce());
            let body =
                assert_error(post(&app, &headers, &params).await, 400, "invalid_callback").await;
            assert_eq!(body["field"], name, "{name}={value}");
        }
        // A parameter given twice is as bad.
        let twice = pairs(&[
            ("MessageUUID", UUID_A),
            ("Status", "failed"),
            ("Status", "sent"),
        ]);
        let headers = all_signatures(&twice, &new_nonce());
        assert_error(post(&app, &headers, &twice).await, 400, "invalid_callback").await;

        assert_eq!(record(&app, &id).await["status"], "queued");
    })
    .await;
}

#[tokio::test]
async fn a_request_with_any_v3_header_is_judged_by_v3_alone() {
    on_both_backends(|app| async move {
        let id = send_with_uuid(&app, UUID_A).await;
        let params = pairs(&[("MessageUUID", UUID_A), ("Status", "delivered")]);
        let mut headers = all_signatures(&params, &new_nonce());
        headers[0].1 = "bogus".to_owned();
        headers[1].1 = "bogus".to_owned();
        assert_error(
            post(&app, &headers, &params).await,
            403,
            "invalid_signature",
        )
        .await;
        assert_eq!(record(&app, &id).await["status"], "queued");
    })
    .await;
}
