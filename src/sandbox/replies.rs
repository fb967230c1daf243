//! Replies from magic recipients: once a message to one is delivered, it writes back through
//! Plivo's incoming-message webhook (`docs/plivo-api.md` §11), signed like status callbacks, to the
//! simulator's `message_url`.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::plivo::signature::{new_nonce, v2_signature, v3_signature};

use super::scenarios::{reply, Reply};
use super::state::{MessageRecord, SimulatorState};

/// The path of the image `+14155550021` replies with (served by the simulator).
pub(crate) const REPLY_IMAGE_PATH: &str = "/sandbox/media/hello-back.png";

/// A 1×1 PNG.
const REPLY_IMAGE: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// `GET /sandbox/media/hello-back.png`.
pub(crate) async fn reply_image() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "image/png")],
        REPLY_IMAGE,
    )
        .into_response()
}

/// Sends the reply scripted for the message's destination, one `callback_step` after its
/// delivered callback; a STOP opts the destination out first (later sends to it fail with 200).
pub(crate) async fn reply_after_delivery(state: &SimulatorState, delivered: &MessageRecord) {
    let Some(script) = reply(&delivered.to) else {
        return;
    };
    let Some(url) = state.config().message_url.clone() else {
        return;
    };
    tokio::time::sleep(state.config().callback_step).await;
    let mut params: Vec<(String, String)> = vec![
        ("From".into(), delivered.to.clone()),
        ("To".into(), delivered.from.clone()),
        ("MessageUUID".into(), Uuid::new_v4().to_string()),
        ("Units".into(), "1".into()),
        ("TotalRate".into(), "0.00000".into()),
        ("TotalAmount".into(), "0.00000".into()),
        (
            "PowerpackUUID".into(),
            delivered.powerpack_uuid.clone().unwrap_or_default(),
        ),
    ];
    match script {
        Reply::Stop => {
            state.opt_out(&delivered.to);
            params.extend([
                ("Type".into(), "sms".into()),
                ("Text".into(), "STOP".into()),
                ("MessageIntent".into(), "optout".into()),
            ]);
        }
        Reply::HelloBack => {
            let base = format!("http://{}", state.addr_or_loopback());
            params.extend([
                ("Type".into(), "mms".into()),
                ("Body".into(), "Hello back".into()),
                ("MessageIntent".into(), String::new()),
                ("MediaCount".into(), "1".into()),
                ("Media0".into(), format!("{base}{REPLY_IMAGE_PATH}")),
            ]);
        }
    }
    post_signed(state, &url, &params).await;
}

/// Posts `params` to `url` with V3 and V2 signatures; retried like status callbacks on a non-2xx.
async fn post_signed(state: &SimulatorState, url: &str, params: &[(String, String)]) {
    for attempt in 0..=3u32 {
        if attempt > 0 {
            tokio::time::sleep(state.config().callback_step * 2u32.pow(attempt)).await;
        }
        let token = state.config().auth_token.expose_secret();
        let (v3_nonce, v2_nonce) = (new_nonce(), new_nonce());
        let v3 = v3_signature("POST", url, params, &v3_nonce, token);
        let v2 = v2_signature(url, &v2_nonce, token);
        let result = state
            .0
            .client
            .post(url)
            .form(params)
            .header("X-Plivo-Signature-V3", &v3)
            .header("X-Plivo-Signature-Ma-V3", &v3)
            .header("X-Plivo-Signature-V3-Nonce", &v3_nonce)
            .header("X-Plivo-Signature-V2", &v2)
            .header("X-Plivo-Signature-Ma-V2", &v2)
            .header("X-Plivo-Signature-V2-Nonce", &v2_nonce)
            .send()
            .await;
        match result {
            Ok(response) if response.status().is_success() => return,
            Ok(response) => {
                tracing::debug!(status = %response.status(), "simulator: inbound webhook refused");
            }
            Err(error) => tracing::debug!(%error, "simulator: inbound webhook got no answer"),
        }
    }
    tracing::warn!("simulator gave up on an inbound webhook");
}
