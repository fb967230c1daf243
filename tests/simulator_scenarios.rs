//! Black-box tests of the simulator's scripted outcomes: magic numbers and Plivo's rate limits.

mod support;

use std::time::Duration;

use mms_gateway::sandbox::MAGIC_NUMBERS;
use reqwest::StatusCode;
use support::*;

#[tokio::test]
async fn magic_numbers_script_http_outcomes() {
    let mut config = fast_config();
    config.hang_for = Duration::from_millis(400);
    let sim = start(config).await;

    let refused = post(&sim, &mms_body("+14155550001")).await;
    assert_error(refused, 400, "'14155550001' is not a valid phone number.").await;

    for _ in 0..2 {
        assert_error(
            post(&sim, &mms_body("14155550002")).await,
            500,
            "internal server error",
        )
        .await;
        assert_eq!(
            post(&sim, &mms_body("14155550002")).await.status(),
            StatusCode::ACCEPTED
        );
    }

    let limited = post(&sim, &mms_body("14155550003")).await;
    assert_eq!(limited.headers()["retry-after"], "1");
    assert_error(limited, 429, "too many requests").await;
    assert_eq!(
        post(&sim, &mms_body("14155550003")).await.status(),
        StatusCode::ACCEPTED
    );

    let hang = http()
        .post(message_url(&sim))
        .basic_auth(AUTH_ID, Some(TOKEN))
        .json(&mms_body("14155550004"))
        .timeout(Duration::from_millis(100))
        .send()
        .await;
    assert!(hang.unwrap_err().is_timeout());
    let started = std::time::Instant::now();
    assert_eq!(
        post(&sim, &mms_body("14155550004")).await.status(),
        StatusCode::ACCEPTED
    );
    assert!(started.elapsed() >= Duration::from_millis(400));

    for _ in 0..2 {
        assert_error(
            post(&sim, &mms_body("14155550005")).await,
            503,
            "service unavailable",
        )
        .await;
    }
    let geo = post(&sim, &mms_body("14155550006")).await;
    assert_error(
        geo,
        403,
        "Geo-permission to the destination country is not enabled",
    )
    .await;

    // The scripted outcomes, the four of reconciliation (+1415555003x) and the two replying
    // numbers (+14155550020, +14155550021).
    assert_eq!(MAGIC_NUMBERS.len(), 16);
}

#[tokio::test]
async fn rate_limit_answers_429_without_retry_after() {
    let sim = start(fast_config()).await;
    let unknown = format!("{}{}/", message_url(&sim), uuid::Uuid::new_v4());
    for _ in 0..300 {
        let res = http()
            .get(&unknown)
            .basic_auth(AUTH_ID, Some(TOKEN))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
    let res = post(&sim, &mms_body("14155551234")).await;
    assert!(res.headers().get("retry-after").is_none());
    assert_error(res, 429, "too many requests").await;

    let mut relaxed = fast_config();
    relaxed.enforce_rate_limits = false;
    let sim = start(relaxed).await;
    let unknown = format!("{}{}/", message_url(&sim), uuid::Uuid::new_v4());
    for _ in 0..301 {
        let res = http()
            .get(&unknown)
            .basic_auth(AUTH_ID, Some(TOKEN))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn more_than_100_in_flight_is_429() {
    let mut config = fast_config();
    config.hang_for = Duration::from_millis(1500);
    let sim = start(config).await;
    let hanging: Vec<_> = (0..100)
        .map(|_| {
            let sim = sim.clone();
            tokio::spawn(async move { post(&sim, &mms_body("14155550004")).await.status() })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_error(
        post(&sim, &mms_body("14155551234")).await,
        429,
        "too many requests",
    )
    .await;
    for h in hanging {
        assert_eq!(h.await.unwrap(), StatusCode::ACCEPTED);
    }
    assert_eq!(
        post(&sim, &mms_body("14155551234")).await.status(),
        StatusCode::ACCEPTED
    );
}
