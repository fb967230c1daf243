//! Black-box tests of the simulator's Media API (docs/plivo-api.md §6.4): upload, get, limits, and
//! sends that name media ids.

mod support;

use mms_gateway::sandbox::Simulator;
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::*;

const PNG: &[u8] = include_bytes!("fixtures/photo.png");

fn media_url(sim: &Simulator) -> String {
    format!("{}v1/Account/{AUTH_ID}/Media/", sim.base_url())
}

fn file(name: &str, content_type: &str, bytes: Vec<u8>) -> Part {
    Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str(content_type)
        .unwrap()
}

async fn upload(sim: &Simulator, form: Form) -> reqwest::Response {
    http()
        .post(media_url(sim))
        .basic_auth(AUTH_ID, Some(TOKEN))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn uploads_answer_media_ids_that_sends_and_gets_accept() {
    let sim = start(fast_config()).await;
    let form = Form::new()
        .part("file", file("a.png", "image/png", PNG.to_vec()))
        .part(
            "file",
            file(
                "card.vcf",
                "text/vcard",
                b"BEGIN:VCARD\r\nEND:VCARD\r\n".to_vec(),
            ),
        );
    let res = upload(&sim, form).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_json(&res);
    let body: Value = res.json().await.unwrap();
    assert!(body["api_id"].is_string());
    let objects = body["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 2);
    assert_eq!(objects[0]["file_name"], "a.png");
    assert_eq!(objects[0]["content_type"], "image/png");
    assert_eq!(objects[0]["size"], PNG.len());
    assert_eq!(objects[0]["status"], "success");
    assert_eq!(objects[0]["status_code"], 201);
    assert_eq!(objects[1]["content_type"], "text/vcard");
    let id = objects[0]["media_id"].as_str().unwrap();

    let got = http()
        .get(format!("{}{id}/", media_url(&sim)))
        .basic_auth(AUTH_ID, Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    let got: Value = got.json().await.unwrap();
    assert_eq!(got["media_id"], id);
    assert_eq!(got["file_name"], "a.png");
    assert!(got["media_url"].as_str().unwrap().ends_with(id));

    let missing = http()
        .get(format!(
            "{}00000000-0000-0000-0000-000000000000/",
            media_url(&sim)
        ))
        .basic_auth(AUTH_ID, Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_error(missing, 404, "not found").await;

    let mut send = mms_body("14155551234");
    send["media_ids"] = json!([id]);
    assert_eq!(post(&sim, &send).await.status(), StatusCode::ACCEPTED);
    send["media_ids"] = json!([id, "801c2056-33ab-499c-80ef-58b574a462a2"]);
    assert_error(
        post(&sim, &send).await,
        400,
        "media_id 801c2056-33ab-499c-80ef-58b574a462a2 is not a media of this account",
    )
    .await;
    assert_eq!(sim.state().uploaded_media_count(), 2);
}

#[tokio::test]
async fn uploads_are_checked_like_plivo() {
    let sim = start(fast_config()).await;
    let eleven = (0..11).fold(Form::new(), |f, i| {
        f.part("file", file(&format!("{i}.png"), "image/png", PNG.to_vec()))
    });
    assert_error(
        upload(&sim, eleven).await,
        400,
        "at most 10 files can be uploaded in one request",
    )
    .await;
    let big = Form::new().part("file", file("big.txt", "text/plain", vec![b'a'; 2_000_001]));
    assert_error(upload(&sim, big).await, 400, "a file may be at most 2 MB").await;
    let html = Form::new().part(
        "file",
        file("a.html", "text/html", b"<html></html>".to_vec()),
    );
    assert_error(
        upload(&sim, html).await,
        400,
        "\"text/html\" is not a supported media type",
    )
    .await;
    let other = Form::new().text("name", "x");
    assert_error(
        upload(&sim, other).await,
        400,
        "only parts named file are accepted",
    )
    .await;
    let none = http()
        .post(media_url(&sim))
        .basic_auth(AUTH_ID, Some(TOKEN))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_error(
        none,
        400,
        "the request must be multipart/form-data with parts named file",
    )
    .await;
    let anonymous = http()
        .post(media_url(&sim))
        .multipart(Form::new().part("file", file("a.png", "image/png", PNG.to_vec())))
        .send()
        .await
        .unwrap();
    assert_error(
        anonymous,
        401,
        "authentication credentials were not provided",
    )
    .await;
    assert_eq!(sim.state().uploaded_media_count(), 0);
}
