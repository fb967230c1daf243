//! Plivo answers that look like success but are not: a redirect elsewhere, a 2xx without a message
//! UUID for every destination. Both are `502 provider_error`, and nothing goes anywhere but
//! `PLIVO_API_BASE_URL`.

use serde_json::{json, Value};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

#[tokio::test]
async fn a_redirect_is_not_followed_and_is_a_provider_error() {
    let app = spawn_app().await;
    let elsewhere = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).set_body_json(plivo_accepted()))
        .expect(0)
        .mount(&elsewhere)
        .await;
    for status in [301, 302, 307, 308] {
        let _redirect = Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(status)
                    .insert_header("location", format!("{}/steal", elsewhere.uri())),
            )
            .mount_as_scoped(&app.plivo)
            .await;
        assert_error(app.post_json(&valid_body()).await, 502, "provider_error").await;
    }
    assert!(elsewhere
        .received_requests()
        .await
        .unwrap_or_default()
        .is_empty());
}

#[tokio::test]
async fn a_2xx_without_a_uuid_for_every_destination_is_a_provider_error() {
    let app = spawn_app().await;
    let answers: [Value; 4] = [
        json!({"message": "message(s) queued", "message_uuid": [""], "api_id": "a"}),
        json!({"message": "message(s) queued", "message_uuid": [], "api_id": "a"}),
        json!({"message": "message(s) queued", "message_uuid": ["  "], "api_id": "a"}),
        json!({"message": "message(s) queued", "message_uuid": ["u1", "u2"], "api_id": "a"}),
    ];
    for answer in answers {
        let _ok = Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer.clone()))
            .mount_as_scoped(&app.plivo)
            .await;
        let body = assert_error(app.post_json(&valid_body()).await, 502, "provider_error").await;
        assert!(body["error"].is_string(), "{answer}: {body}");
    }
}
