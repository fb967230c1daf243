//! `POST /media`: files to Plivo's Media API (a wiremock Plivo that parses what it receives).

use std::time::Duration;

use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use crate::helpers::*;

pub const MEDIA_PATH: &str = "/v1/Account/MAXXXXXXXXXXXXXXXXXX/Media/";
pub const PNG: &[u8] = include_bytes!("../fixtures/photo.png");
pub const GIF: &[u8] = b"GIF89a\x01\0\x01\0\x80\0\0\0\0\0\xff\xff\xff!\xf9\x04\x01\0\0\0\0,\0\0\0\0\x01\0\x01\0\0\x02\x02D\x01\0;";

/// One part of a multipart request as Plivo received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedPart {
    pub name: String,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// Parses a multipart request the way Plivo would (with the same crate the service uses).
pub fn parts_of(request: &Request) -> Vec<ReceivedPart> {
    let content_type = request.headers["content-type"].to_str().unwrap().to_owned();
    let boundary = multer::parse_boundary(&content_type).expect("a multipart request");
    let body = bytes::Bytes::from(request.body.clone());
    let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    futures::executor::block_on(async {
        let mut parts = Vec::new();
        while let Some(field) = multipart.next_field().await.expect("well-formed multipart") {
            parts.push(ReceivedPart {
                name: field.name().unwrap_or("").to_owned(),
                file_name: field.file_name().map(str::to_owned),
                content_type: field.content_type().map(|m| m.to_string()),
                bytes: field.bytes().await.unwrap().to_vec(),
            });
        }
        parts
    })
}

/// A Plivo Media API that answers 201 with one object per `file` part (ids `media-1`, …).
pub struct PlivoMedia;

impl Respond for PlivoMedia {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let objects: Vec<Value> = parts_of(request)
            .iter()
            .enumerate()
            .map(|(i, p)| {
                json!({"content_type": p.content_type, "file_name": p.file_name,
                       "media_id": format!("media-{}", i + 1), "size": p.bytes.len(),
                       "status": "success", "status_code": 201,
                       "upload_time": "2021-02-17T07:16:09.153289Z"})
            })
            .collect();
        ResponseTemplate::new(201).set_body_json(
            json!({"api_id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890", "objects": objects}),
        )
    }
}

pub async fn mount_plivo_media(app: &TestApp) {
    Mock::given(method("POST"))
        .and(path(MEDIA_PATH))
        .respond_with(PlivoMedia)
        .mount(&app.plivo)
        .await;
}

pub fn file(name: &str, content_type: &str, bytes: &[u8]) -> Part {
    Part::bytes(bytes.to_vec())
        .file_name(name.to_owned())
        .mime_str(content_type)
        .unwrap()
}

async fn post_media(app: &TestApp, form: Form) -> reqwest::Response {
    app.client
        .post(format!("{}/media", app.address))
        .multipart(form)
        .send()
        .await
        .expect("request reaches the app")
}

async fn media_requests(app: &TestApp) -> Vec<Request> {
    app.plivo
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path() == MEDIA_PATH)
        .collect()
}

#[tokio::test]
async fn one_file_is_uploaded_and_plivo_receives_exactly_it() {
    let app = spawn_app().await;
    mount_plivo_media(&app).await;
    // Declared image/png, but the bytes are a GIF: the same kind, and the bytes' type is sent.
    let form = Form::new().part("file", file("C:\\photos\\cat.png", "image/png", GIF));

    let response = post_media(&app, form).await;

    assert_eq!(response.status(), 201);
    let body = json_body(response).await;
    assert_eq!(
        body,
        json!({"media": [{"mediaId": "media-1", "contentType": "image/gif", "size": GIF.len(), "fileName": "cat.png"}]})
    );
    let requests = media_requests(&app).await;
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method.as_str(), "POST");
    let auth = request.headers["authorization"].to_str().unwrap();
    assert!(auth.starts_with("Basic "), "{auth}");
    assert_eq!(
        parts_of(request),
        vec![ReceivedPart {
            name: "file".into(),
            file_name: Some("cat.png".into()),
            content_type: Some("image/gif".into()),
            bytes: GIF.to_vec(),
        }]
    );
}

#[tokio::test]
async fn ten_files_go_in_one_request_and_come_back_in_order() {
    let app = spawn_app().await;
    mount_plivo_media(&app).await;
    let vcard = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada\r\nEND:VCARD\r\n";
    let mut form = Form::new();
    for i in 0..9 {
        form = form.part("file", file(&format!("photo-{i}.png"), "image/png", PNG));
    }
    form = form.part("file", file("ada.vcf", "text/vcard", vcard));

    let response = post_media(&app, form).await;

    assert_eq!(response.status(), 201);
    let body = json_body(response).await;
    let media = body["media"].as_array().unwrap();
    assert_eq!(media.len(), 10);
    for (i, m) in media.iter().enumerate() {
        assert_eq!(m["mediaId"], format!("media-{}", i + 1));
    }
    assert_eq!(media[3]["fileName"], "photo-3.png");
    assert_eq!(media[9]["contentType"], "text/vcard");
    let requests = media_requests(&app).await;
    assert_eq!(requests.len(), 1, "all files go in one upload");
    let parts = parts_of(&requests[0]);
    assert_eq!(parts.len(), 10);
    assert!(parts.iter().all(|p| p.name == "file"));
    assert_eq!(parts[9].file_name.as_deref(), Some("ada.vcf"));
    assert_eq!(parts[9].content_type.as_deref(), Some("text/vcard"));
    assert_eq!(parts[9].bytes, vcard);
}

#[tokio::test]
async fn refused_files_upload_nothing() {
    let app = spawn_app().await;
    mount_plivo_media(&app).await;
    let png = || file("a.png", "image/png", PNG);

    let eleven = (0..11).fold(Form::new(), |f, _| f.part("file", png()));
    let body = assert_error(post_media(&app, eleven).await, 400, "too_many_media").await;
    assert_eq!(body["field"], "file");

    let big = vec![b'a'; 2_000_001];
    let over = Form::new()
        .part("file", png())
        .part("file", file("big.txt", "text/plain", &big));
    let body = assert_error(post_media(&app, over).await, 413, "media_too_large").await;
    assert_eq!(body["details"]["fileName"], "big.txt");
    assert_eq!(body["details"]["limitBytes"], 2_000_000);

    let html = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>";
    let disguised = Form::new()
        .part("file", png())
        .part("file", file("cat.png", "image/png", html));
    let body = assert_error(
        post_media(&app, disguised).await,
        400,
        "media_type_unsupported",
    )
    .await;
    assert_eq!(body["details"]["declaredType"], "image/png");
    assert_eq!(body["details"]["detectedType"], "text/html");

    let empty = Form::new()
        .part("file", png())
        .part("file", file("e.png", "image/png", b""));
    let body = assert_error(post_media(&app, empty).await, 400, "invalid_field").await;
    assert_eq!(body["field"], "file");

    let unknown = Form::new().part("file", png()).text("caption", "hi");
    let body = assert_error(post_media(&app, unknown).await, 400, "invalid_field").await;
    assert_eq!(body["field"], "caption");

    assert_error(post_media(&app, Form::new()).await, 400, "no_media").await;

    let json = app
        .client
        .post(format!("{}/media", app.address))
        .json(&json!({"file": "x"}))
        .send()
        .await
        .unwrap();
    assert_error(json, 415, "unsupported_media_type").await;

    assert_eq!(media_requests(&app).await.len(), 0);
}

#[tokio::test]
async fn a_truncated_multipart_body_is_a_clear_400() {
    let app = spawn_app().await;
    mount_plivo_media(&app).await;
    let body = b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\
                 Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n\0\0\0\rIHDR"
        .to_vec();
    let response = app
        .client
        .post(format!("{}/media", app.address))
        .header("content-type", "multipart/form-data; boundary=B")
        .body(body)
        .send()
        .await
        .unwrap();
    let body = assert_error(response, 400, "invalid_body").await;
    assert!(
        body["error"].as_str().unwrap().contains("cut short"),
        "{body}"
    );

    // A client that promises more than it sends and stops: answered, not left hanging.
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /media HTTP/1.1\r\nHost: {address}\r\nContent-Type: multipart/form-data; boundary=B\r\n\
         Content-Length: 5000\r\n\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.shutdown().await.unwrap();
    let answer = read_answer(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"code\":\"invalid_body\""), "{answer}");
    assert_eq!(media_requests(&app).await.len(), 0);
}

/// Reads what the service answers on a raw connection, for at most 10 s.
async fn read_answer(stream: &mut tokio::net::TcpStream) -> String {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "no answer within 10 s: {:?}",
        String::from_utf8_lossy(&answer)
    );
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_body_over_max_upload_bytes_is_answered_413_without_being_read() {
    let app = spawn_app().await;
    mount_plivo_media(&app).await;
    let address = app.address.trim_start_matches("http://").to_owned();

    // Headers that promise 100 MB, then only the first 64 KiB: the answer comes anyway.
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /media HTTP/1.1\r\nHost: {address}\r\nContent-Type: multipart/form-data; boundary=B\r\n\
         Content-Length: 100000000\r\n\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&vec![b'a'; 64 * 1024]).await.unwrap();
    let answer = read_answer(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("\"code\":\"payload_too_large\""),
        "{answer}"
    );

    // Without a Content-Length (chunked), the count stops the read at MAX_UPLOAD_BYTES.
    let small = spawn_app_with(&[("MAX_UPLOAD_BYTES", "100000")]).await;
    mount_plivo_media(&small).await;
    let address = small.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /media HTTP/1.1\r\nHost: {address}\r\nContent-Type: multipart/form-data; boundary=B\r\n\
         Transfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let prefix: &[u8] =
        b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\
                   Content-Type: text/plain\r\n\r\n";
    stream
        .write_all(format!("{:x}\r\n", prefix.len()).as_bytes())
        .await
        .unwrap();
    stream.write_all(prefix).await.unwrap();
    stream.write_all(b"\r\n").await.unwrap();
    // 150 KB in chunks of 10 KB, over the limit of 100 KB; the service may stop reading (and
    // close) before all of it is written.
    for _ in 0..15 {
        let chunk = format!("{:x}\r\n{}\r\n", 10_000, "a".repeat(10_000));
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let answer = read_answer(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("\"code\":\"payload_too_large\""),
        "{answer}"
    );
    assert_eq!(media_requests(&small).await.len(), 0);
    assert_eq!(media_requests(&app).await.len(), 0);
}

#[tokio::test]
async fn an_upload_answered_500_then_201_succeeds_on_the_retry() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path(MEDIA_PATH))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(json!({"api_id": "x", "error": "internal error"})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&app.plivo)
        .await;
    mount_plivo_media(&app).await;

    let response = post_media(
        &app,
        Form::new().part("file", file("a.png", "image/png", PNG)),
    )
    .await;

    assert_eq!(response.status(), 201);
    assert_eq!(json_body(response).await["media"][0]["mediaId"], "media-1");
    let requests = media_requests(&app).await;
    assert_eq!(requests.len(), 2);
    assert_eq!(
        parts_of(&requests[0]),
        parts_of(&requests[1]),
        "the retry sends the same files"
    );
}

#[tokio::test]
async fn plivos_failures_answer_as_for_sends() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path(MEDIA_PATH))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"api_id": "x", "error": "unsupported file"})),
        )
        .up_to_n_times(1)
        .mount(&app.plivo)
        .await;
    Mock::given(method("POST"))
        .and(path(MEDIA_PATH))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"error": "authentication credentials were not provided"})),
        )
        .up_to_n_times(1)
        .mount(&app.plivo)
        .await;
    Mock::given(method("POST"))
        .and(path(MEDIA_PATH))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({"error": "down"})))
        .mount(&app.plivo)
        .await;
    let form = || Form::new().part("file", file("a.png", "image/png", PNG));

    let body = assert_error(post_media(&app, form()).await, 422, "provider_rejected").await;
    assert_eq!(body["details"]["providerError"], "unsupported file");
    assert_error(post_media(&app, form()).await, 502, "provider_auth_failed").await;
    let unavailable = post_media(&app, form()).await;
    assert!(unavailable.headers().contains_key("retry-after"));
    assert_error(unavailable, 503, "provider_unavailable").await;
    // 1 + 1 + (1 + PLIVO_MAX_RETRIES = 3) attempts.
    assert_eq!(media_requests(&app).await.len(), 6);
}

#[tokio::test]
async fn openapi_describes_the_multipart_bodies() {
    let app = spawn_app().await;
    let spec = json_body(app.fetch("/openapi.json").await).await;
    let media = &spec["paths"]["/media"]["post"];
    assert!(
        media["requestBody"]["content"]["multipart/form-data"].is_object(),
        "{media}"
    );
    assert!(media["responses"]["201"].is_object());
    assert!(media["responses"]["413"].is_object());
    let send = &spec["paths"]["/send-mms"]["post"]["requestBody"]["content"];
    assert!(send["multipart/form-data"].is_object(), "{send}");
    assert!(send["application/json"].is_object());
}
