//! `POST /webhooks/plivo/inbound`: Plivo's incoming-message webhook (`docs/plivo-api.md` §11),
//! verified like status callbacks, then stored once, forwarded, and read for STOP/START.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};

use crate::delivery::callbacks::inbound_forward;
use crate::domain::mask;
use crate::http::error::ApiError;
use crate::http::openapi::ErrorResponse;
use crate::http::AppState;
use crate::optouts::{normalize_number, requested_action};
use crate::store::{InboundOutcome, NewInbound, OptOutChange, OptOutSource};

/// The path Plivo posts incoming messages to (the Plivo Application's `message_url`).
pub const INBOUND_PATH: &str = "/webhooks/plivo/inbound";

/// The most media an inbound MMS carries (`docs/plivo-api.md` §11).
const MAX_MEDIA: usize = 10;

/// Verifies the signature over the raw body, stores the message once (by `MessageUUID`), queues it
/// for `INBOUND_CALLBACK_URL`, and applies a STOP or START.
#[utoipa::path(post, path = "/webhooks/plivo/inbound", tag = "webhooks", security(()),
    request_body(content_type = "application/x-www-form-urlencoded",
        description = "Plivo's incoming-message parameters (From, To, Type, Text or Body, MessageUUID, \
                       MessageIntent, MediaCount, Media0…/Media1…), signed as status callbacks are"),
    responses(
        (status = 200, description = "Stored (also for a repeat of a message already stored)"),
        (status = 400, description = "Signed, but a parameter is not as Plivo sends it (code invalid_callback); nothing stored", body = ErrorResponse),
        (status = 403, description = "Missing or wrong signature; nothing stored", body = ErrorResponse),
        (status = 503, description = "The message store is not answering", body = ErrorResponse),
    ))]
pub async fn plivo_inbound(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body?;
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let url = super::webhooks::signed_url(&state, INBOUND_PATH, &uri, &headers);
    super::webhooks::verify(&state, &url, &params, &headers).await?;

    let parsed = parse_inbound(&params)?;
    let message = NewInbound {
        id: uuid::Uuid::now_v7().to_string(),
        message_uuid: parsed.message_uuid,
        from: parsed.from,
        to: parsed.to,
        text: parsed.text,
        media_urls: parsed.media_urls,
        received_at: Utc::now(),
    };
    let action = requested_action(parsed.intent.as_deref(), message.text.as_deref());
    let change = action.map(|action| OptOutChange {
        number: message.from.clone(),
        action,
        source: OptOutSource::Inbound,
        at: message.received_at,
    });
    let forward = state
        .config
        .inbound
        .callback_url
        .as_ref()
        .map(|url| inbound_forward(&message, url.as_str()));
    let outcome = state
        .delivery
        .store()
        .record_inbound(&message, forward.as_ref(), change.as_ref())
        .await
        .map_err(|e| super::messages::store_failure(&e))?;
    match outcome {
        InboundOutcome::Repeat => tracing::debug!(
            message.uuid = %message.message_uuid,
            "inbound message already stored; repeat ignored"
        ),
        InboundOutcome::Stored { opt_out_changed } => {
            state.metrics.record_inbound_message();
            tracing::info!(
                message.id = %message.id,
                message.uuid = %message.message_uuid,
                from = %mask(&message.from),
                media = message.media_urls.len(),
                "inbound message stored"
            );
            if let (Some(change), true) = (&change, opt_out_changed) {
                state
                    .metrics
                    .record_opt_out_change(change.action, change.source);
                tracing::info!(
                    number = %mask(&change.number),
                    action = change.action.as_str(),
                    "opt-out list changed by an inbound message"
                );
            }
        }
    }
    Ok(Json(json!({"status": "ok"})))
}

/// The parameters of an incoming message, parsed as Plivo sends them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundParams {
    /// `From`, as E.164.
    pub from: String,
    /// `To`, as E.164.
    pub to: String,
    /// `MessageUUID`.
    pub message_uuid: String,
    /// `Text` (SMS) or `Body` (MMS); `None` when both are empty or absent.
    pub text: Option<String>,
    /// `Media0…` or `Media1…`, in order.
    pub media_urls: Vec<String>,
    /// `MessageIntent` (`optout`, `optin`, `help`), when not empty.
    pub intent: Option<String>,
}

fn refused(field: &str, message: &str) -> ApiError {
    ApiError::bad_request("invalid_callback", message.to_owned()).with_field(field.to_owned())
}

/// Reads the parameters strictly: a parameter given twice, a number that is not a phone number, a
/// `MessageUUID` that is not a UUID, a `Type` or `MessageIntent` Plivo does not send, media that are
/// not http(s) URLs, numbered with gaps, or disagreeing with `MediaCount` — all `400 invalid_callback`.
pub fn parse_inbound(params: &[(String, String)]) -> Result<InboundParams, ApiError> {
    let mut seen = std::collections::HashSet::new();
    if let Some((name, _)) = params.iter().find(|(k, _)| !seen.insert(k.as_str())) {
        return Err(refused(name, "A parameter is given more than once."));
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let number = |name: &str| {
        get(name)
            .and_then(normalize_number)
            .ok_or_else(|| refused(name, &format!("{name} is not a phone number.")))
    };
    let from = number("From")?;
    let to = number("To")?;
    let message_uuid = get("MessageUUID")
        .filter(|u| uuid::Uuid::parse_str(u).is_ok())
        .ok_or_else(|| refused("MessageUUID", "MessageUUID is not a UUID."))?
        .to_owned();
    match get("Type") {
        None | Some("sms" | "mms" | "SMS" | "MMS") => {}
        Some(_) => return Err(refused("Type", "Type must be sms or mms.")),
    }
    let intent = match get("MessageIntent").map(str::trim) {
        None | Some("") => None,
        Some(i) if ["optout", "optin", "help"].contains(&i.to_ascii_lowercase().as_str()) => {
            Some(i.to_ascii_lowercase())
        }
        Some(_) => {
            return Err(refused(
                "MessageIntent",
                "MessageIntent must be optout, optin, help or empty.",
            ))
        }
    };
    let text = [get("Text"), get("Body")]
        .into_iter()
        .flatten()
        .find(|t| !t.is_empty())
        .map(str::to_owned);
    let media_urls = media(params, get("MediaCount"))?;
    Ok(InboundParams {
        from,
        to,
        message_uuid,
        text,
        media_urls,
        intent,
    })
}

/// `Media<n>` in order of `n`, numbered from 0 or from 1 without gaps, each an http(s) URL, as many
/// as `MediaCount` says when it is given.
fn media(params: &[(String, String)], count: Option<&str>) -> Result<Vec<String>, ApiError> {
    let mut numbered: Vec<(usize, &str, &str)> = Vec::new();
    for (name, value) in params {
        let Some(index) = name.strip_prefix("Media") else {
            continue;
        };
        if index == "Count" {
            continue;
        }
        let n = index
            .parse::<usize>()
            .ok()
            .filter(|_| index.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                refused(
                    name,
                    "A Media parameter must be Media followed by a number.",
                )
            })?;
        numbered.push((n, name.as_str(), value.as_str()));
    }
    numbered.sort_by_key(|(n, _, _)| *n);
    if numbered.len() > MAX_MEDIA {
        return Err(refused(
            "MediaCount",
            "An inbound message carries at most 10 media.",
        ));
    }
    if let Some((first, name, _)) = numbered.first() {
        let contiguous = numbered
            .iter()
            .enumerate()
            .all(|(i, (n, _, _))| *n == first + i);
        if *first > 1 || !contiguous {
            return Err(refused(
                name,
                "Media parameters must be numbered from 0 or 1 without gaps.",
            ));
        }
    }
    if let Some(count) = count {
        let ok = count
            .parse::<usize>()
            .is_ok_and(|c| c == numbered.len() && count.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            return Err(refused(
                "MediaCount",
                "MediaCount must be the number of Media parameters.",
            ));
        }
    }
    numbered
        .into_iter()
        .map(|(_, name, value)| {
            url::Url::parse(value)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .map(|_| value.to_owned())
                .ok_or_else(|| refused(name, "A media parameter is not an http(s) URL."))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const BASE: &[(&str, &str)] = &[
        ("From", "14155551234"),
        ("To", "14155550100"),
        ("Type", "mms"),
        ("MessageUUID", "2bd0a6c8-3b5f-11ee-9a3c-0242ac110002"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(String, String)> {
        let mut all = BASE.to_vec();
        all.extend_from_slice(extra);
        params(&all)
    }

    #[test]
    fn both_media_numberings_are_read_in_order() {
        for numbering in [["Media0", "Media1"], ["Media1", "Media2"]] {
            let p = with(&[
                ("Body", "look"),
                ("MessageIntent", ""),
                ("MediaCount", "2"),
                (numbering[1], "https://media.example.com/b.png"),
                (numbering[0], "https://media.example.com/a.png"),
            ]);
            let parsed = parse_inbound(&p).unwrap();
            assert_eq!(
                parsed.media_urls,
                [
                    "https://media.example.com/a.png",
                    "https://media.example.com/b.png"
                ]
            );
            assert_eq!(parsed.from, "+14155551234");
            assert_eq!(parsed.to, "+14155550100");
            assert_eq!(parsed.text.as_deref(), Some("look"));
            assert_eq!(parsed.intent, None);
        }
    }

    #[test]
    fn text_comes_from_text_or_body() {
        let sms = parse_inbound(&with(&[("Text", "STOP"), ("MessageIntent", "optout")]));
        let sms = sms.unwrap();
        assert_eq!(sms.text.as_deref(), Some("STOP"));
        assert_eq!(sms.intent.as_deref(), Some("optout"));
        assert_eq!(parse_inbound(&with(&[])).unwrap().text, None);
    }

    #[test]
    fn what_plivo_does_not_send_is_refused() {
        let cases: &[&[(&str, &str)]] = &[
            &[("MediaCount", "1")],
            &[("MediaCount", "x"), ("Media0", "https://m.example.com/a")],
            &[("Media0", "ftp://m.example.com/a")],
            &[("Media0", "https://a"), ("Media2", "https://b")],
            &[("Media2", "https://b")],
            &[("MediaX", "https://b")],
            &[("Type", "fax")],
            &[("MessageIntent", "maybe")],
        ];
        for extra in cases {
            let err = parse_inbound(&with(extra)).unwrap_err();
            assert_eq!(err.code(), "invalid_callback", "{extra:?}");
        }
        for (name, bad) in [("From", "not-a-number"), ("To", ""), ("MessageUUID", "abc")] {
            let p: Vec<_> = BASE
                .iter()
                .map(|(k, v)| (*k, if *k == name { bad } else { *v }))
                .collect();
            let err = parse_inbound(&params(&p)).unwrap_err();
            assert_eq!(err.code(), "invalid_callback", "{name}");
        }
        let twice = with(&[("From", "14155551235")]);
        assert_eq!(
            parse_inbound(&twice).unwrap_err().code(),
            "invalid_callback"
        );
    }
}
