//! Black-box tests of the simulator's status callbacks (signed, scripted, retried) and its MDR.

mod support;

use std::time::Duration;

use mms_gateway::plivo::signature::{verify_v2, verify_v3};
use serde_json::{json, Value};
use support::*;

/// Sends to `dst` asking for callbacks at `url` and returns the message UUIDs.
async fn send_with_callback(
    sim: &mms_gateway::sandbox::Simulator,
    dst: &str,
    url: &str,
    method: &str,
) -> Vec<String> {
    let body = mms_body(dst)
        .tap_insert("url", json!(url))
        .tap_insert("method", json!(method));
    let res = post(sim, &body).await;
    assert_eq!(res.status(), 202);
    let json: Value = res.json().await.unwrap();
    json["message_uuid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_owned())
        .collect()
}

fn statuses(received: &[Received]) -> Vec<String> {
    received
        .iter()
        .map(|r| r.param("Status").unwrap())
        .collect()
}

/// Checks all six signature headers of a POST callback sent to `url`.
fn assert_signed_post(r: &Received, url: &str) {
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    let nonce = r.header("x-plivo-signature-v3-nonce");
    assert_eq!(nonce.len(), 20);
    for header in ["x-plivo-signature-v3", "x-plivo-signature-ma-v3"] {
        assert!(
            verify_v3("POST", url, &r.form, nonce, r.header(header), TOKEN),
            "{header}"
        );
        assert!(!verify_v3(
            "POST",
            url,
            &r.form,
            nonce,
            r.header(header),
            "other-token"
        ));
    }
    let mut tampered = r.form.clone();
    tampered.retain(|(k, _)| k != "ErrorCode");
    assert!(!verify_v3(
        "POST",
        url,
        &tampered,
        nonce,
        r.header("x-plivo-signature-v3"),
        TOKEN
    ));
    let v2_nonce = r.header("x-plivo-signature-v2-nonce");
    assert_eq!(v2_nonce.len(), 20);
    for header in ["x-plivo-signature-v2", "x-plivo-signature-ma-v2"] {
        assert!(
            verify_v2(url, v2_nonce, r.header(header), TOKEN),
            "{header}"
        );
    }
}

#[tokio::test]
async fn default_script_posts_signed_queued_sent_delivered() {
    let sim = start(fast_config()).await;
    let receiver = Receiver::start(&[]).await;
    let url = format!("{}/plivo/status?tenant=acme", receiver.base);
    let uuids = send_with_callback(&sim, "+1 415 555 1234", &url, "POST").await;
    let got = receiver.wait_for(3).await;
    assert_eq!(statuses(&got), ["queued", "sent", "delivered"]);
    for r in &got {
        assert_signed_post(r, &url);
        assert_eq!(r.param("MessageUUID").as_deref(), Some(uuids[0].as_str()));
        assert_eq!(r.param("To").as_deref(), Some("14155551234"));
        assert_eq!(r.param("From").as_deref(), Some("14155550100"));
        assert_eq!(r.param("Type").as_deref(), Some("mms"));
        assert_eq!(r.param("PowerpackUUID").as_deref(), Some(""));
        assert_eq!(r.param("requester_ip").as_deref(), Some("127.0.0.1"));
        for key in [
            "Units",
            "TotalRate",
            "TotalAmount",
            "MCC",
            "MNC",
            "ParentMessageUUID",
            "PartInfo",
            "MessageTime",
            "QueuedTime",
            "SentTime",
            "DeliveryReportTime",
        ] {
            assert!(r.param(key).is_some(), "{key}");
        }
    }
    // An empty ErrorCode is sent and signed: the verification above covered it.
    assert_eq!(got[0].param("ErrorCode").as_deref(), Some(""));
    assert_eq!(got[2].param("ErrorCode").as_deref(), Some("000"));
    let sequences: Vec<_> = got.iter().map(|r| r.param("Sequence").unwrap()).collect();
    assert_eq!(sequences, ["1", "2", "3"]);

    let sent = sim.callbacks_sent();
    assert_eq!(sent.len(), 3);
    assert!(sent
        .iter()
        .all(|c| c.status == Some(200) && c.url == url && c.attempt == 0));
    assert_eq!(sent[1].param("Status"), Some("sent"));
}

#[tokio::test]
async fn get_callbacks_carry_params_in_the_query() {
    let sim = start(fast_config()).await;
    let receiver = Receiver::start(&[]).await;
    let url = format!("{}/plivo/status?tenant=acme", receiver.base);
    send_with_callback(&sim, "14155551234", &url, "GET").await;
    let got = receiver.wait_for(3).await;
    assert_eq!(statuses(&got), ["queued", "sent", "delivered"]);
    for r in &got {
        assert_eq!(r.method, "GET");
        let full = format!("{}{}", receiver.base, r.uri);
        let nonce = r.header("x-plivo-signature-v3-nonce");
        assert!(verify_v3(
            "GET",
            &full,
            &[],
            nonce,
            r.header("x-plivo-signature-v3"),
            TOKEN
        ));
        let v2_nonce = r.header("x-plivo-signature-v2-nonce");
        assert!(verify_v2(
            &full,
            v2_nonce,
            r.header("x-plivo-signature-v2"),
            TOKEN
        ));
        assert_eq!(r.param("tenant").as_deref(), Some("acme"));
    }
}

#[tokio::test]
async fn magic_scripts_failures_duplicates_and_order() {
    let sim = start(fast_config()).await;
    let cases: [(&str, &[&str], &str); 4] = [
        ("14155550010", &["queued", "sent", "undelivered"], "80"),
        ("14155550011", &["queued", "failed"], "120"),
        (
            "14155550012",
            &["queued", "queued", "sent", "sent", "delivered", "delivered"],
            "000",
        ),
        ("14155550013", &["queued", "delivered", "sent"], "000"),
    ];
    for (dst, expected, code) in cases {
        let receiver = Receiver::start(&[]).await;
        let url = format!("{}/cb", receiver.base);
        let uuids = send_with_callback(&sim, dst, &url, "POST").await;
        let got = receiver.wait_for(expected.len()).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(statuses(&receiver.received()), expected, "{dst}");
        let finals: Vec<_> = got
            .iter()
            .filter(|r| !matches!(r.param("Status").as_deref(), Some("queued" | "sent")))
            .collect();
        assert!(
            finals
                .iter()
                .all(|r| r.param("ErrorCode").as_deref() == Some(code)),
            "{dst}"
        );
        for r in &got {
            assert_signed_post(r, &url);
        }
        let record = mdr(&sim, &uuids[0]).await;
        let final_state = if code == "000" {
            "delivered"
        } else {
            expected[expected.len() - 1]
        };
        assert_eq!(record["message_state"], final_state, "{dst}");
        assert_eq!(record["error_code"], code, "{dst}");
    }
}

#[tokio::test]
async fn callbacks_are_retried_after_a_500() {
    let sim = start(fast_config()).await;
    let receiver = Receiver::start(&[500]).await;
    let url = format!("{}/cb", receiver.base);
    send_with_callback(&sim, "14155551234", &url, "POST").await;
    let got = receiver.wait_for(4).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got_after = receiver.received();
    assert_eq!(got_after.len(), 4, "{:?}", statuses(&got));
    let attempts: Vec<_> = sim
        .callbacks_sent()
        .iter()
        .map(|c| (c.param("Status").unwrap().to_owned(), c.attempt, c.status))
        .collect();
    assert!(
        attempts.contains(&("queued".to_owned(), 0, Some(500))),
        "{attempts:?}"
    );
    assert!(
        attempts.contains(&("queued".to_owned(), 1, Some(200))),
        "{attempts:?}"
    );
    assert_eq!(attempts.len(), 4, "{attempts:?}");
    // Each retry is freshly signed with new nonces.
    let queued: Vec<_> = got_after
        .iter()
        .filter(|r| r.param("Status").as_deref() == Some("queued"))
        .collect();
    assert_eq!(queued.len(), 2);
    assert_ne!(
        queued[0].header("x-plivo-signature-v2-nonce"),
        queued[1].header("x-plivo-signature-v2-nonce")
    );
    for r in queued {
        assert_signed_post(r, &url);
    }
}

#[tokio::test]
async fn unreachable_callback_url_is_retried_three_times() {
    let sim = start(fast_config()).await;
    send_with_callback(&sim, "14155550011", "http://127.0.0.1:9/cb", "POST").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let sent = sim.callbacks_sent();
    let queued: Vec<_> = sent
        .iter()
        .filter(|c| c.param("Status") == Some("queued"))
        .collect();
    assert_eq!(queued.len(), 4, "{sent:?}");
    assert!(queued.iter().all(|c| c.status.is_none()));
}

#[tokio::test]
async fn mdr_reflects_the_latest_state() {
    let mut config = fast_config();
    config.callback_step = Duration::from_millis(150);
    let sim = start(config).await;
    let res = post(&sim, &mms_body("14155551234")).await;
    let uuid = res.json::<Value>().await.unwrap()["message_uuid"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let first = mdr(&sim, &uuid).await;
    assert_eq!(first["message_state"], "queued");
    assert_eq!(first["error_code"], Value::Null);
    assert_eq!(first["message_uuid"], uuid.as_str());
    assert_eq!(first["to_number"], "14155551234");
    assert_eq!(first["message_type"], "mms");
    assert_eq!(first["message_direction"], "outbound");
    assert_eq!(
        first["resource_uri"],
        format!("/v1/Account/{AUTH_ID}/Message/{uuid}/")
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    let last = mdr(&sim, &uuid).await;
    assert_eq!(last["message_state"], "delivered");
    assert_eq!(last["error_code"], "000");
    assert_eq!(
        sim.state().message_state(uuid.parse().unwrap()),
        Some("delivered")
    );
    assert!(sim.callbacks_sent().is_empty(), "no url, no callbacks");
}
