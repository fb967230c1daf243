//! Health, routing errors and request ids.

use crate::helpers::*;

#[tokio::test]
async fn health_answers_up_with_a_timestamp() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/health", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = json_body(response).await;
    assert_eq!(body["status"], "UP");
    assert!(chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).is_ok());
}

#[tokio::test]
async fn ready_answers_up() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/ready", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(json_body(response).await["status"], "UP");
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_are_json() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(format!("{}/nope", app.address))
        .send()
        .await
        .unwrap();
    assert_error(r, 404, "not_found").await;
    let r = app
        .client
        .get(format!("{}/send-mms", app.address))
        .send()
        .await
        .unwrap();
    assert_error(r, 405, "method_not_allowed").await;
    let r = app
        .client
        .delete(format!("{}/health", app.address))
        .send()
        .await
        .unwrap();
    assert_error(r, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn request_ids_are_kept_or_made() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(format!("{}/health", app.address))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    let r = app
        .client
        .get(format!("{}/nope", app.address))
        .send()
        .await
        .unwrap();
    let made = r.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(made).is_ok());
}
