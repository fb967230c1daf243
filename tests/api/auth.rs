//! `API_KEYS` (docs/api.md): bearer keys on every endpoint but the probes and webhooks.

use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

pub const KEY_A: &str = "key-a-0123456789abcdef";
pub const KEY_B: &str = "key-b-0123456789abcdef";

async fn app_with_keys() -> TestApp {
    spawn_app_with(&[("API_KEYS", &format!("{KEY_A}, {KEY_B}"))]).await
}

#[tokio::test]
async fn send_mms_needs_a_valid_key() {
    let app = app_with_keys().await;
    Mock::given(method("POST"))
        .and(path(MESSAGE_PATH))
        .respond_with(ResponseTemplate::new(202).set_body_json(plivo_accepted()))
        .expect(2)
        .mount(&app.plivo)
        .await;

    let r = app.post_json_as(&valid_body(), None).await;
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer realm=\"mms-gateway\""
    );
    assert_error(r, 401, "unauthorized").await;

    let r = app
        .post_json_as(&valid_body(), Some("key-a-0123456789abcdeX"))
        .await;
    let body = assert_error(r, 401, "unauthorized").await;
    assert!(!body.to_string().contains("key-a"), "{body}");

    let r = app
        .client
        .post(format!("{}/send-mms", app.address))
        .header("authorization", format!("Basic {KEY_A}"))
        .json(&valid_body())
        .send()
        .await
        .unwrap();
    assert_error(r, 401, "unauthorized").await;

    for key in [KEY_A, KEY_B] {
        let r = app.post_json_as(&valid_body(), Some(key)).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
}

#[tokio::test]
async fn probes_and_webhooks_are_open_everything_else_is_closed() {
    let app = app_with_keys().await;
    for open in ["/health", "/ready"] {
        assert_eq!(app.get(open, None).await.status(), 200, "{open}");
    }
    let r = app
        .client
        .post(format!("{}/webhooks/plivo/status", app.address))
        .form(&[("MessageUUID", "x")])
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 401, "webhooks must not ask for an API key");
    for closed in ["/metrics", "/openapi.json", "/no-such-route"] {
        assert_error(app.get(closed, None).await, 401, "unauthorized").await;
        assert_ne!(app.get(closed, Some(KEY_B)).await.status(), 401, "{closed}");
    }
}

#[tokio::test]
async fn without_keys_nothing_asks_for_one() {
    let app = spawn_app().await;
    assert_eq!(app.get("/metrics", None).await.status(), 200);
    assert_eq!(app.get("/openapi.json", None).await.status(), 200);
}
