//! The service's own limits on the request head answer with the contract's JSON, before hyper's
//! larger limits would answer with an empty body.

use crate::helpers::*;

#[tokio::test]
async fn a_uri_over_the_limit_is_json_414() {
    let app = spawn_app().await;
    let long = "a".repeat(9_000);
    let r = app.fetch(&format!("/health?pad={long}")).await;
    let body = assert_error(r, 414, "uri_too_long").await;
    assert!(
        body["error"].as_str().unwrap_or("").contains("8192"),
        "{body}"
    );
}

#[tokio::test]
async fn too_many_headers_are_json_431() {
    let app = spawn_app().await;
    let mut request = app.client.get(format!("{}/health", app.address));
    for i in 0..70 {
        request = request.header(format!("x-pad-{i}"), "1");
    }
    let r = request.send().await.expect("answer");
    assert_error(r, 431, "headers_too_large").await;
}

#[tokio::test]
async fn headers_over_the_size_limit_are_json_431() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(format!("{}/health", app.address))
        .header("x-pad", "a".repeat(20_000))
        .send()
        .await
        .expect("answer");
    assert_error(r, 431, "headers_too_large").await;
}

#[tokio::test]
async fn ordinary_heads_pass() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(format!("{}/health?pad={}", app.address, "a".repeat(4_000)))
        .header("x-pad", "a".repeat(4_000))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 200);
}
