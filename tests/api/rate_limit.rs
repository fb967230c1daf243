//! `RATE_LIMIT_PER_MINUTE` (docs/api.md).

use crate::auth::{KEY_A, KEY_B};
use crate::helpers::*;

fn header(r: &reqwest::Response, name: &str) -> Option<u64> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().parse().unwrap())
}

#[tokio::test]
async fn per_client_address_without_keys() {
    let app = spawn_app_with(&[("RATE_LIMIT_PER_MINUTE", "2")]).await;
    for remaining in [1, 0] {
        let r = app.get("/openapi.json", None).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "ratelimit-limit"), Some(2));
        assert_eq!(header(&r, "ratelimit-remaining"), Some(remaining));
        let reset = header(&r, "ratelimit-reset").unwrap();
        assert!((1..=60).contains(&reset), "{reset}");
    }
    let r = app.get("/openapi.json", None).await;
    let retry_after = header(&r, "retry-after").expect("Retry-After on 429");
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    assert_eq!(header(&r, "ratelimit-limit"), Some(2));
    assert_eq!(header(&r, "ratelimit-remaining"), Some(0));
    assert!(header(&r, "ratelimit-reset").unwrap() >= retry_after);
    assert_error(r, 429, "rate_limited").await;

    // Errors count and carry the headers too; probes are never limited.
    let r = app.get("/nope", None).await;
    assert_eq!(r.status(), 429);
    let r = app.get("/health", None).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("ratelimit-limit").is_none());
}

#[tokio::test]
async fn per_key_when_keys_are_set() {
    let app = spawn_app_with(&[
        ("RATE_LIMIT_PER_MINUTE", "1"),
        ("API_KEYS", &format!("{KEY_A},{KEY_B}")),
    ])
    .await;
    assert_eq!(app.get("/openapi.json", Some(KEY_A)).await.status(), 200);
    assert_error(
        app.get("/openapi.json", Some(KEY_A)).await,
        429,
        "rate_limited",
    )
    .await;
    // Another key, from the same address, has its own allowance.
    let r = app.get("/openapi.json", Some(KEY_B)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "ratelimit-remaining"), Some(0));
    // Requests without a key are limited by address, apart from the keys, and still get 401.
    let r = app.get("/openapi.json", None).await;
    assert_eq!(header(&r, "ratelimit-limit"), Some(1));
    assert_error(r, 401, "unauthorized").await;
    assert_error(app.get("/openapi.json", None).await, 429, "rate_limited").await;
}

#[tokio::test]
async fn unset_means_no_limit_and_no_headers() {
    let app = spawn_app().await;
    for _ in 0..5 {
        let r = app.get("/openapi.json", None).await;
        assert_eq!(r.status(), 200);
        assert!(r.headers().get("ratelimit-limit").is_none());
    }
}
