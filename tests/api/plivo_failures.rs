//! Every row of the contract's status table for Plivo's answers.

use std::time::{Duration, Instant};

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

fn plivo_error(status: u16, text: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"api_id": "a5169572-325d-11ec-8852-0242ac110005", "error": text}))
}

#[tokio::test]
async fn two_500s_then_202_is_a_success_after_three_calls() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path(MESSAGE_PATH))
        .respond_with(plivo_error(500, "internal error"))
        .up_to_n_times(2)
        .expect(2)
        .mount(&app.plivo)
        .await;
    Mock::given(method("POST"))
        .and(path(MESSAGE_PATH))
        .respond_with(ResponseTemplate::new(202).set_body_json(plivo_accepted()))
        .expect(1)
        .mount(&app.plivo)
        .await;

    let response = app.post_json(&valid_body()).await;

    assert_eq!(response.status(), 200);
    assert_eq!(app.plivo_calls().await, 3);
}

#[tokio::test]
async fn a_429_with_retry_after_is_honoured() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .respond_with(plivo_error(429, "too many requests").insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .mount(&app.plivo)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).set_body_json(plivo_accepted()))
        .mount(&app.plivo)
        .await;

    let started = Instant::now();
    let response = app.post_json(&valid_body()).await;

    assert_eq!(response.status(), 200);
    assert_eq!(app.plivo_calls().await, 2);
    // The retry base is 10 ms here, so only the Retry-After header explains a pause of a second.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_400_is_a_422_with_plivos_text_after_one_call() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .respond_with(plivo_error(
            400,
            "'14155551234' is not a valid phone number.",
        ))
        .expect(1)
        .mount(&app.plivo)
        .await;

    let body = assert_error(app.post_json(&valid_body()).await, 422, "provider_rejected").await;

    assert_eq!(
        body["details"]["providerError"],
        "'14155551234' is not a valid phone number."
    );
}

#[tokio::test]
async fn a_401_is_a_502_after_one_call_and_never_leaks_the_token() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"error": "authentication credentials were not provided"})),
        )
        .expect(1)
        .mount(&app.plivo)
        .await;

    let response = app.post_json(&valid_body()).await;
    let body = assert_error(response, 502, "provider_auth_failed").await;

    assert!(!body.to_string().contains(AUTH_TOKEN));
}

#[tokio::test]
async fn other_4xx_are_502_provider_error_and_not_retried() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .respond_with(plivo_error(409, "conflict"))
        .expect(1)
        .mount(&app.plivo)
        .await;
    assert_error(app.post_json(&valid_body()).await, 502, "provider_error").await;
}

#[tokio::test]
async fn a_202_with_an_unreadable_body_is_502_and_not_resent() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).set_body_string("<html>ok</html>"))
        .expect(1)
        .mount(&app.plivo)
        .await;
    assert_error(app.post_json(&valid_body()).await, 502, "provider_error").await;
    // Plivo may hold it: the record says the outcome is unknown rather than `failed`.
    let page = json_body(app.fetch("/messages").await).await;
    assert_eq!(page["messages"][0]["outcomeUnknown"], true, "{page}");
    assert_eq!(page["messages"][0]["status"], "sending", "{page}");
}

#[tokio::test]
async fn an_unexpected_status_is_502_and_recorded_failed() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(409).set_body_string("conflict"))
        .expect(1)
        .mount(&app.plivo)
        .await;
    assert_error(app.post_json(&valid_body()).await, 502, "provider_error").await;
    let page = json_body(app.fetch("/messages").await).await;
    assert_eq!(page["messages"][0]["status"], "failed", "{page}");
    assert_eq!(page["messages"][0]["errorCode"], "provider_error", "{page}");
    assert_eq!(page["messages"][0]["outcomeUnknown"], false, "{page}");
}

#[tokio::test]
async fn always_503_is_a_503_with_retry_after_after_four_calls() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(503).set_body_string("<html>Service Unavailable</html>"),
        )
        .expect(4)
        .mount(&app.plivo)
        .await;

    let response = app.post_json(&valid_body()).await;

    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert_error(response, 503, "provider_unavailable").await;
}

#[tokio::test]
async fn a_retry_after_over_30_seconds_ends_retries_and_is_passed_on() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .respond_with(plivo_error(429, "slow down").insert_header("retry-after", "120"))
        .expect(1)
        .mount(&app.plivo)
        .await;

    let response = app.post_json(&valid_body()).await;

    assert_eq!(response.headers()["retry-after"], "120");
    assert_error(response, 503, "provider_unavailable").await;
}

#[tokio::test]
async fn timeouts_are_retried_then_answer_504() {
    let app = spawn_app_with(&[("PLIVO_TIMEOUT_MS", "100")]).await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(202)
                .set_body_json(plivo_accepted())
                .set_delay(Duration::from_secs(2)),
        )
        .mount(&app.plivo)
        .await;

    assert_error(app.post_json(&valid_body()).await, 504, "provider_timeout").await;
    assert_eq!(app.plivo_calls().await, 4);
}

#[tokio::test]
async fn nothing_listening_is_a_503() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let app = spawn_app_with(&[("PLIVO_API_BASE_URL", dead.as_str())]).await;

    let response = app.post_json(&valid_body()).await;

    assert!(response.headers().contains_key("retry-after"));
    assert_error(response, 503, "provider_unavailable").await;
}

#[tokio::test]
async fn max_retries_zero_means_one_attempt() {
    let app = spawn_app_with(&[("PLIVO_MAX_RETRIES", "0")]).await;
    Mock::given(method("POST"))
        .respond_with(plivo_error(500, "boom"))
        .expect(1)
        .mount(&app.plivo)
        .await;
    assert_error(
        app.post_json(&valid_body()).await,
        503,
        "provider_unavailable",
    )
    .await;
}
