//! `MEDIA_PREFLIGHT` (docs/api.md) against local media hosts.

use std::time::Duration;

use mms_gateway::domain::{OutboundMms, RawMms};
use mms_gateway::media_preflight::{
    AddressPolicy, MediaCheckKind, MediaPreflight, PreflightSettings,
};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;
use crate::media_server;

const ON_PRIVATE: &[(&str, &str)] = &[
    ("MEDIA_PREFLIGHT", "true"),
    ("MEDIA_ALLOW_PRIVATE", "true"),
    ("MEDIA_PREFLIGHT_TIMEOUT_MS", "500"),
];

fn body(urls: &[String]) -> Value {
    json!({"recipientNumber": "+14155551234", "messageText": "hi", "mediaUrls": urls})
}

async fn accept_sends(app: &TestApp) {
    Mock::given(method("POST"))
        .and(path(MESSAGE_PATH))
        .respond_with(ResponseTemplate::new(202).set_body_json(plivo_accepted()))
        .mount(&app.plivo)
        .await;
}

#[tokio::test]
async fn good_media_passes_with_head_ranged_get_and_redirects() {
    let media = media_server::start("127.0.0.1").await;
    let app = spawn_app_with(ON_PRIVATE).await;
    accept_sends(&app).await;
    let urls: Vec<String> = ["/ok.gif", "/no-head.png", "/redirect.gif", "/card.vcf"]
        .iter()
        .map(|p| media.url(p))
        .collect();

    let r = app.post_json(&body(&urls)).await;

    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(app.plivo_calls().await, 1);
    let log = media.log.entries();
    assert!(log.contains(&"HEAD /ok.gif -".to_owned()), "{log:?}");
    assert!(log.contains(&"HEAD /no-head.png -".to_owned()), "{log:?}");
    assert!(
        log.contains(&"GET /no-head.png bytes=0-0".to_owned()),
        "{log:?}"
    );
    assert!(log.contains(&"HEAD /redirect.gif -".to_owned()), "{log:?}");
}

#[tokio::test]
async fn each_failure_has_its_code_and_names_the_url() {
    let media = media_server::start("127.0.0.1").await;
    let app = spawn_app_with(ON_PRIVATE).await;
    accept_sends(&app).await;
    let big = media.url("/1900k.jpg");
    let cases: Vec<(Vec<String>, &str, &str)> = vec![
        (
            vec![media.url("/missing.gif")],
            "media_unreachable",
            "/missing.gif",
        ),
        (
            vec![media.url("/slow.gif")],
            "media_unreachable",
            "/slow.gif",
        ),
        (vec![media.url("/loop")], "media_unreachable", "/loop"),
        (
            vec!["http://127.0.0.1:9/closed.gif".to_owned()],
            "media_unreachable",
            "closed.gif",
        ),
        (
            vec![media.url("/page.html")],
            "media_type_unsupported",
            "/page.html",
        ),
        (
            vec![media.url("/untyped")],
            "media_type_unsupported",
            "/untyped",
        ),
        (vec![media.url("/big.jpg")], "media_too_large", "/big.jpg"),
        (
            vec![big.clone(), big.clone(), big.clone()],
            "media_too_large",
            "/1900k.jpg",
        ),
        (
            vec![media.url("/ok.gif"), media.url("/page.html")],
            "media_type_unsupported",
            "/page.html",
        ),
    ];
    for (urls, code, named) in cases {
        let r = app.post_json(&body(&urls)).await;
        let err = assert_error(r, 400, code).await;
        assert_eq!(err["field"], "mediaUrls", "{err}");
        let url = err["details"]["url"].as_str().unwrap_or_default();
        assert!(url.ends_with(named), "{code}: {err}");
        assert!(err["error"].as_str().unwrap().contains(named), "{err}");
    }
    assert_eq!(
        app.plivo_calls().await,
        0,
        "nothing may be sent after a failed check"
    );
}

#[tokio::test]
async fn non_public_addresses_are_refused_without_media_allow_private() {
    let media = media_server::start("127.0.0.1").await;
    let app = spawn_app_with(&[("MEDIA_PREFLIGHT", "true")]).await;
    accept_sends(&app).await;
    let port = media.base.rsplit(':').next().unwrap().to_owned();
    for url in [
        media.url("/ok.gif"),
        format!("http://localhost:{port}/ok.gif"),
        format!("http://[::1]:{port}/ok.gif"),
        format!("http://[::ffff:127.0.0.1]:{port}/ok.gif"),
        format!("http://2130706433:{port}/ok.gif"),
        "http://10.1.2.3/a.gif".to_owned(),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "http://192.168.0.1/a.gif".to_owned(),
    ] {
        let r = app.post_json(&body(std::slice::from_ref(&url))).await;
        let err = assert_error(r, 400, "media_unreachable").await;
        assert_eq!(
            err["details"]["reason"], "non_public_address",
            "{url}: {err}"
        );
    }
    assert!(media.log.entries().is_empty(), "{:?}", media.log.entries());
    assert_eq!(app.plivo_calls().await, 0);
}

#[tokio::test]
async fn preflight_is_off_by_default() {
    let app = spawn_app().await;
    accept_sends(&app).await;
    let r = app
        .post_json(&body(&["http://127.0.0.1:9/nothing-here.gif".to_owned()]))
        .await;
    assert_eq!(r.status(), 200);
}

fn mms(url: &str) -> OutboundMms {
    OutboundMms::parse(RawMms {
        to: Some("+14155551234".into()),
        text: None,
        media_urls: vec![url.to_owned()],
        media_ids: vec![],
    })
    .unwrap()
}

/// A "public" host (127.0.0.2, treated as public) that redirects to loopback: each hop is checked.
#[tokio::test]
async fn redirects_to_non_public_addresses_are_refused() {
    let public = media_server::start("127.0.0.2").await;
    let private = media_server::start("127.0.0.1").await;
    let preflight = MediaPreflight::new(PreflightSettings {
        policy: AddressPolicy {
            allow_private: false,
            treat_as_public: vec!["127.0.0.2".parse().unwrap()],
        },
        timeout: Duration::from_secs(2),
    })
    .unwrap();

    preflight
        .check(&mms(&public.url("/redirect.gif")))
        .await
        .expect("a redirect on the public host is followed");

    let port = private.base.rsplit(':').next().unwrap().to_owned();
    for target in [
        private.url("/ok.gif"),
        format!("http://localhost:{port}/ok.gif"),
        format!("http://[::1]:{port}/ok.gif"),
        "http://10.0.0.1/a.gif".to_owned(),
    ] {
        let url = format!("{}/redirect-to?to={}", public.base, urlencode(&target));
        let err = preflight.check(&mms(&url)).await.unwrap_err();
        assert_eq!(err.kind, MediaCheckKind::Unreachable, "{target}");
        assert_eq!(
            err.details["reason"], "non_public_address",
            "{target}: {err:?}"
        );
    }
    assert!(
        private.log.entries().is_empty(),
        "{:?}",
        private.log.entries()
    );
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
