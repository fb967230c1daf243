//! Black-box tests of the Plivo simulator over real HTTP: auth, validation, the 202 shape, bulk
//! sends and error routes.

mod support;

use mms_gateway::sandbox::Simulator;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::*;

#[tokio::test]
async fn auth_must_match_account_and_token() {
    let sim = start(fast_config()).await;
    let body = mms_body("14155551234");
    let none = http()
        .post(message_url(&sim))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(none, 401, "authentication credentials were not provided").await;

    let wrong_token = http()
        .post(message_url(&sim))
        .basic_auth(AUTH_ID, Some("nope"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(
        wrong_token,
        401,
        "authentication credentials were not provided",
    )
    .await;

    let other = format!("{}v1/Account/MAYYYYYYYYYYYYYYYYYY/Message/", sim.base_url());
    let wrong_path = http()
        .post(other)
        .basic_auth("MAYYYYYYYYYYYYYYYYYY", Some(TOKEN))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(
        wrong_path,
        401,
        "authentication credentials were not provided",
    )
    .await;

    let recorded = sim.requests();
    assert_eq!(recorded.len(), 3);
    assert_eq!(recorded[0].method, "POST");
    assert_eq!(recorded[0].path, format!("/v1/Account/{AUTH_ID}/Message/"));
    assert_eq!(recorded[0].authorization, None);
    assert_eq!(recorded[0].body, body);
    assert!(recorded[1]
        .authorization
        .as_deref()
        .unwrap()
        .starts_with("Basic "));
}

#[tokio::test]
async fn accepts_a_send_with_plivos_202_shape() {
    let sim = start(fast_config()).await;
    // Exactly what plivo-python sends (trackable bool, log string).
    let body = json!({"dst": "14155551234", "text": "hi", "src": "14155550100", "type": "mms",
        "url": "https://cb.example/s", "method": "POST", "log": "true", "trackable": false,
        "media_urls": ["https://e.com/a.jpg"]});
    let res = post(&sim, &body).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_json(&res);
    let json: Value = res.json().await.unwrap();
    assert_eq!(json["message"], "message(s) queued");
    assert!(uuid::Uuid::parse_str(json["api_id"].as_str().unwrap()).is_ok());
    let uuids = json["message_uuid"].as_array().unwrap();
    assert_eq!(uuids.len(), 1);
    let uuid = uuid::Uuid::parse_str(uuids[0].as_str().unwrap()).unwrap();
    assert_eq!(uuid.get_version_num(), 4);
    assert!(json.get("invalid_number").is_none());
    assert_eq!(sim.requests()[0].body, body);
}

#[tokio::test]
async fn validation_rules() {
    let sim = start(fast_config()).await;
    let raw = http()
        .post(message_url(&sim))
        .basic_auth(AUTH_ID, Some(TOKEN))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(raw, 400, "invalid json data sent in raw POST").await;

    let base = mms_body("14155551234");
    let with = |key: &str, value: Value| {
        let mut b = base.clone();
        b[key] = value;
        b
    };
    let without = |key: &str| {
        let mut b = base.clone();
        b.as_object_mut().unwrap().remove(key);
        b
    };
    let cases = [
        (json!([1, 2]), "invalid json data sent in raw POST"),
        (
            with("powerpack_uuid", json!("pp-1")),
            "both of them are present",
        ),
        (without("src"), "either one is required"),
        (without("dst"), "dst parameter is missing"),
        (with("dst", json!("")), "dst parameter is missing"),
        (with("type", json!("fax")), "type parameter must be one of"),
        (without("media_urls"), "media_urls or media_ids is required"),
        (
            with("media_urls", json!(vec!["https://e.com/a.jpg"; 11])),
            "at most 10 media",
        ),
        (with("media_ids", json!(vec!["m"; 10])), "at most 10 media"),
        (
            with("media_urls", json!("https://e.com/a.jpg")),
            "array of strings",
        ),
        (with("text", json!("a".repeat(1601))), "text exceeds 1600"),
        (with("trackable", json!("yes")), "trackable"),
        (with("log", json!(3)), "log"),
        (with("url", json!("not a url")), "url parameter"),
        (with("method", json!("PUT")), "method parameter"),
        (
            with("type", json!("sms")).tap_remove("text"),
            "text parameter is missing",
        ),
    ];
    for (body, expected) in cases {
        let res = post(&sim, &body).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_json(&res);
        let json: Value = res.json().await.unwrap();
        let error = json["error"].as_str().unwrap();
        assert!(
            error.contains(expected),
            "{error:?} should contain {expected:?}"
        );
        assert!(json["api_id"].is_string());
    }

    let uploaded = upload_one(&sim).await;
    let ok = [
        with("text", json!("é".repeat(1600))),
        with("media_ids", json!(vec![uploaded; 9])),
        with("src", json!("+1 (415) 555-0100")),
        without("src").tap_insert("powerpack_uuid", json!("pp-1")),
        with("log", json!("false")).tap_insert("trackable", json!(true)),
        with("type", json!("sms")).tap_remove("media_urls"),
    ];
    for body in ok {
        assert_eq!(
            post(&sim, &body).await.status(),
            StatusCode::ACCEPTED,
            "{body}"
        );
    }

    let too_many: Vec<String> = (0..1001).map(|i| format!("1415555{i:04}")).collect();
    let res = post(&sim, &with("dst", json!(too_many.join("<")))).await;
    assert_error(
        res,
        400,
        "too many destinations; at most 1000 unique numbers are allowed",
    )
    .await;
}

#[tokio::test]
async fn bulk_sends_list_invalid_numbers() {
    let sim = start(fast_config()).await;
    let dst = "14155551234<abc<14155551234<+1 (415) 555-1235<14155550001";
    let res = post(&sim, &mms_body(dst)).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let json: Value = res.json().await.unwrap();
    assert_eq!(json["message_uuid"].as_array().unwrap().len(), 2);
    assert_eq!(json["invalid_number"], json!(["abc", "14155550001"]));

    let all_bad = post(&sim, &mms_body("abc<123")).await;
    assert_error(all_bad, 400, "invalid phone numbers.").await;
    let single = post(&sim, &mms_body("1111111")).await;
    assert_error(single, 400, "'1111111' is not a valid phone number.").await;
    let thousand: Vec<String> = (1000..2000).map(|i| format!("1415555{i:04}")).collect();
    // 1000 unique destinations plus a duplicate: allowed, one UUID each.
    let res = post(&sim, &mms_body(&(thousand.join("<") + "<14155551000"))).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let json: Value = res.json().await.unwrap();
    assert_eq!(json["message_uuid"].as_array().unwrap().len(), 1000);
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods() {
    let sim: Simulator = start(fast_config()).await;
    let res = http()
        .get(format!("{}nowhere", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_error(res, 404, "not found").await;
    let res = http().delete(message_url(&sim)).send().await.unwrap();
    assert_error(res, 405, "method not allowed").await;
    let res = http()
        .get(format!("{}not-a-uuid/", message_url(&sim)))
        .basic_auth(AUTH_ID, Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_error(res, 404, "not found").await;
}

/// Uploads one small PNG to the simulator's Media API and answers its media id.
async fn upload_one(sim: &Simulator) -> String {
    let part = reqwest::multipart::Part::bytes(include_bytes!("fixtures/photo.png").to_vec())
        .file_name("photo.png")
        .mime_str("image/png")
        .unwrap();
    let res = http()
        .post(format!("{}v1/Account/{AUTH_ID}/Media/", sim.base_url()))
        .basic_auth(AUTH_ID, Some(TOKEN))
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    body["objects"][0]["media_id"].as_str().unwrap().to_owned()
}
