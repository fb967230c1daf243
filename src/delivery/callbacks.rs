//! Status events for callers: every status change of a message sent with `callbackUrl` is posted
//! there as JSON, in order, signed with `X-Mms-Gateway-Signature`, and retried with backoff for
//! 24 hours. A separate task with its own HTTP client, so a slow or dead endpoint never slows
//! sending.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hmac::{Hmac, Mac};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::Sha256;
use tokio::sync::watch;

use super::poller::{OnStop, Poller};
use crate::address_policy::AddressPolicy;
use crate::media_preflight::resolver::FilteringResolver;
use crate::store::{
    CallbackAttempt, EventKind, NewForward, NewInbound, PendingCallback, Store, StoreError,
};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-mms-gateway-signature";
/// How long an event is retried unless `CALLBACK_RETRY_WINDOW_SECONDS` says otherwise.
pub const RETRY_FOR: Duration = Duration::from_secs(24 * 3600);
/// Longest pause between two tries of one event.
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// How long one try may take.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// Events posted at once.
const CONCURRENCY: usize = 32;
/// The pause when no event is due.
const POLL: Duration = Duration::from_millis(200);
/// The pause after the store failed to hand out events.
const ERROR_BACKOFF: Duration = Duration::from_secs(1);

/// The JSON posted to the caller.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusEvent<'a> {
    event_id: &'a str,
    id: &'a str,
    message_uuid: Option<&'a str>,
    recipient_number: &'a str,
    status: &'a str,
    error_code: Option<&'a str>,
    occurred_at: String,
}

// --- inbound messages ---

/// The JSON posted to `INBOUND_CALLBACK_URL` for each inbound message.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundEvent<'a> {
    event_id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    message_uuid: &'a str,
    from: &'a str,
    to: &'a str,
    text: Option<&'a str>,
    media_urls: &'a [String],
    received_at: String,
}

/// The event that forwards `m` to `url`: queued with the message (one transaction), posted and
/// retried by [`run`] like status events, one at a time in order of receipt.
pub fn inbound_forward(m: &NewInbound, url: &str) -> NewForward {
    let event_id = uuid::Uuid::new_v4().to_string();
    let payload = serde_json::to_string(&InboundEvent {
        event_id: &event_id,
        kind: "inbound",
        id: &m.id,
        message_uuid: &m.message_uuid,
        from: &m.from,
        to: &m.to,
        text: m.text.as_deref(),
        media_urls: &m.media_urls,
        received_at: m
            .received_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    })
    .unwrap_or_default();
    NewForward {
        event_id,
        target_url: url.to_owned(),
        payload,
    }
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (docs/api.md, "Events this service posts").
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={timestamp},v1={hex}")
}

/// The pause before try `attempts + 1`: 1 s doubling, jittered, at most ten minutes.
pub fn next_delay(attempts: u32, jitter: f64) -> Duration {
    crate::plivo::retry::backoff(Duration::from_secs(1), attempts.min(20), jitter)
        .max(Duration::from_millis(500))
        .min(MAX_BACKOFF)
}

/// Posts due events until `stop`; an event is retried for `retry_window` from when it occurred
/// (or was requeued by `POST /callbacks/redeliver`), then marked exhausted.
pub async fn run(
    store: Arc<Store>,
    secret: Option<SecretString>,
    allow_private: bool,
    retry_window: Duration,
    stop: watch::Receiver<bool>,
) {
    let Some(secret) = secret else {
        tracing::info!(
            "WEBHOOK_SIGNING_SECRET is not set: callbackUrl is refused, no status events are sent"
        );
        return;
    };
    let policy = Arc::new(AddressPolicy::public_only_unless(allow_private));
    let http = match reqwest::Client::builder()
        .timeout(POST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        // Resolve, drop non-public addresses, connect only to what was checked (no SSRF).
        .dns_resolver(Arc::new(FilteringResolver::new(Arc::clone(&policy))))
        .build()
    {
        Ok(http) => http,
        Err(e) => {
            tracing::error!(error = %e, "could not build the HTTP client for status events");
            return;
        }
    };
    let poller = Poller {
        what: "status events",
        concurrency: CONCURRENCY,
        poll: POLL,
        error_backoff: ERROR_BACKOFF,
        wake: None,
        on_stop: OnStop::Abort,
    };
    let claim = |limit: u32| {
        let store = store.clone();
        async move {
            let now = Utc::now();
            let lease = now + chrono::Duration::from_std(POST_TIMEOUT * 3).unwrap_or_default();
            store.claim_callbacks(now, lease, limit).await
        }
    };
    let handle = |event: PendingCallback, _stop| {
        let (store, http, secret) = (store.clone(), http.clone(), secret.clone());
        let allowed = policy.allows_url(&event.callback_url);
        async move {
            if let Err(e) = post(&store, &http, &secret, &event, allowed, retry_window).await {
                tracing::warn!(error = %e, "could not record a status event try");
            }
        }
    };
    poller.run(claim, handle, stop).await;
}

/// The JSON of a status event.
fn status_body(event: &PendingCallback) -> Vec<u8> {
    serde_json::to_vec(&StatusEvent {
        event_id: &event.event_id,
        id: &event.message_id,
        message_uuid: event.message_uuid.as_deref(),
        recipient_number: &event.recipient_number,
        status: event.status.as_str(),
        error_code: event.error_code.as_deref(),
        occurred_at: event
            .occurred_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    })
    .unwrap_or_default()
}

async fn post(
    store: &Arc<Store>,
    http: &reqwest::Client,
    secret: &SecretString,
    event: &PendingCallback,
    allowed: bool,
    retry_window: Duration,
) -> Result<(), StoreError> {
    let body = match (event.kind, &event.payload) {
        (EventKind::Inbound, Some(payload)) => payload.clone().into_bytes(),
        _ => status_body(event),
    };
    let now = Utc::now();
    if !allowed {
        // Never retried: the address will not become public.
        let attempt = CallbackAttempt {
            event_id: event.event_id.clone(),
            status: event.status,
            attempt: event.attempts + 1,
            at: now,
            response_status: None,
            error: Some("the event's URL points to a non-public address; not sent".to_owned()),
            exhausted: true,
        };
        return store
            .record_callback_attempt(&event.event_id, &attempt, None)
            .await;
    }
    let result = http
        .post(&event.callback_url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(
            SIGNATURE_HEADER,
            signature(secret.expose_secret(), now.timestamp(), &body),
        )
        .body(body)
        .send()
        .await;
    // --- hardening: a name that resolves only to non-public addresses fails at once ---
    let non_public = matches!(&result, Err(e) if resolves_only_to_non_public(e));
    let (response_status, error) = match result {
        Ok(response) if response.status().is_success() => (Some(response.status().as_u16()), None),
        Err(_) if non_public => (
            None,
            Some(
                "callbackUrl's host resolves only to non-public addresses; not sent, not retried"
                    .to_owned(),
            ),
        ),
        Ok(response) => (
            Some(response.status().as_u16()),
            Some(format!("answered {}", response.status())),
        ),
        Err(e) if e.is_timeout() => (None, Some("no answer in time".to_owned())),
        Err(e) if e.is_connect() => (None, Some("could not connect".to_owned())),
        Err(_) => (None, Some("the request failed".to_owned())),
    };
    let attempt = CallbackAttempt {
        event_id: event.event_id.clone(),
        status: event.status,
        attempt: event.attempts + 1,
        at: now,
        response_status,
        error: error.clone(),
        exhausted: false,
    };
    let next = match error {
        None => None,
        // The address will not become public: never retried.
        Some(_) if non_public => None,
        Some(_) => {
            let jitter = rand::thread_rng().gen_range(0.0..=1.0);
            let next = now
                + chrono::Duration::from_std(next_delay(event.attempts, jitter))
                    .unwrap_or_default();
            let give_up =
                event.window_start + chrono::Duration::from_std(retry_window).unwrap_or_default();
            (next < give_up).then_some(next)
        }
    };
    store
        .record_callback_attempt(&event.event_id, &attempt, next)
        .await
}

/// Whether the request failed because the resolver found only addresses the policy refuses.
fn resolves_only_to_non_public(e: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(cause) = source {
        if cause
            .downcast_ref::<crate::media_preflight::resolver::NonPublicAddress>()
            .is_some()
        {
            return true;
        }
        source = cause.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_the_contracts_hmac() {
        // HMAC-SHA256("secret", "1700000000.{}") computed independently (Python hmac module).
        assert_eq!(
            signature("secret", 1_700_000_000, b"{}"),
            "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
    }

    #[test]
    fn delays_grow_and_are_bounded() {
        assert!(next_delay(0, 0.0) >= Duration::from_millis(500));
        assert!(next_delay(3, 1.0) > next_delay(0, 1.0));
        assert!(next_delay(30, 1.0) <= MAX_BACKOFF);
    }
}
