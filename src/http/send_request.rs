//! Reads the body of `POST /send-mms` (JSON or form) into checked domain values.

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};

use super::error::ApiError;
use crate::domain::{parse_recipient, MediaUrl, OutboundMms, RawMms};
pub use crate::send::SendRequest;

/// The most recipients one bulk request may name (Plivo's limit for one send).
pub const MAX_RECIPIENTS: usize = 1000;

/// The body formats `POST /send-mms` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/json` (or any `+json` type).
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
}

impl BodyFormat {
    /// Picks the format from `Content-Type`, or answers 415.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, ApiError> {
        let essence = headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        match essence.as_str() {
            "application/json" => Ok(Self::Json),
            s if s.starts_with("application/") && s.ends_with("+json") => Ok(Self::Json),
            "application/x-www-form-urlencoded" => Ok(Self::Form),
            _ => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Send the body as application/json or application/x-www-form-urlencoded.",
            )),
        }
    }
}

/// Parses the body into a JSON object, whatever its format.
pub fn body_to_object(format: BodyFormat, body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match format {
        BodyFormat::Json => match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(ApiError::bad_request(
                "invalid_json",
                "The body must be a JSON object.",
            )),
            Err(e) => Err(ApiError::bad_request(
                "invalid_json",
                format!("The body is not valid JSON: {e}."),
            )),
        },
        BodyFormat::Form => Ok(form_to_object(body)),
    }
}

/// Fields that hold lists; in a form they repeat (`mediaUrls=a&mediaUrls=b`, or `mediaUrls[]=a`).
const LIST_FIELDS: &[&str] = &["mediaUrls", "mediaIds", "recipientNumbers"];

fn form_to_object(body: &[u8]) -> Map<String, Value> {
    let mut map = Map::new();
    for (key, value) in form_urlencoded::parse(body) {
        let key = key.strip_suffix("[]").unwrap_or(&key).to_owned();
        if LIST_FIELDS.contains(&key.as_str()) {
            let entry = map.entry(key).or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(items) = entry {
                items.push(Value::String(value.into_owned()));
            }
        } else {
            // The first value of a repeated single field wins.
            map.entry(key).or_insert(Value::String(value.into_owned()));
        }
    }
    map
}

/// An optional string field: absent or `null` is `None`, anything but a string is a 400.
pub fn string_field(
    map: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, ApiError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(wrong_type(field, "a string")),
    }
}

/// An optional list of strings: absent or `null` is empty.
pub fn string_list(map: &Map<String, Value>, field: &'static str) -> Result<Vec<String>, ApiError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                _ => Err(wrong_type(field, "an array of strings")),
            })
            .collect(),
        Some(_) => Err(wrong_type(field, "an array of strings")),
    }
}

fn wrong_type(field: &'static str, expected: &str) -> ApiError {
    ApiError::bad_request("invalid_field", format!("{field} must be {expected}.")).with_field(field)
}

/// The raw inputs of a single send, read from the object.
pub fn raw_mms(map: &Map<String, Value>) -> Result<RawMms, ApiError> {
    let to = string_field(map, "recipientNumber")?;
    let text = string_field(map, "messageText")?;
    let single = string_field(map, "mediaUrl")?;
    let mut media_urls = string_list(map, "mediaUrls")?;
    if let Some(url) = single {
        media_urls.insert(0, url);
    }
    let media_ids = string_list(map, "mediaIds")?;
    Ok(RawMms {
        to,
        text,
        media_urls,
        media_ids,
    })
}

/// Parses a whole single-recipient send request.
pub fn parse_send(format: BodyFormat, body: &[u8]) -> Result<OutboundMms, ApiError> {
    let map = body_to_object(format, body)?;
    Ok(OutboundMms::parse(raw_mms(&map)?)?)
}

/// Parses a send request of either kind, with its `callbackUrl`.
pub fn parse_send_request(format: BodyFormat, body: &[u8]) -> Result<SendRequest, ApiError> {
    let map = body_to_object(format, body)?;
    let callback_url = string_field(&map, "callbackUrl")?
        .map(|url| {
            MediaUrl::parse(&url)
                .map(|u| u.as_str().to_owned())
                .map_err(|e| invalid("callbackUrl", format!("callbackUrl: {e}")))
        })
        .transpose()?;
    if matches!(map.get("recipientNumbers"), None | Some(Value::Null)) {
        let mms = OutboundMms::parse(raw_mms(&map)?)?;
        return Ok(SendRequest::Single { mms, callback_url });
    }
    if !matches!(map.get("recipientNumber"), None | Some(Value::Null)) {
        return Err(invalid(
            "recipientNumbers",
            "Give recipientNumber or recipientNumbers, not both.",
        ));
    }
    let numbers = string_list(&map, "recipientNumbers")?;
    if !(1..=MAX_RECIPIENTS).contains(&numbers.len()) {
        return Err(invalid(
            "recipientNumbers",
            format!("recipientNumbers must hold 1 to {MAX_RECIPIENTS} numbers."),
        ));
    }
    let mut seen = std::collections::HashSet::with_capacity(numbers.len());
    if let Some(dup) = numbers.iter().find(|n| !seen.insert(n.as_str())) {
        return Err(invalid(
            "recipientNumbers",
            format!("recipientNumbers must be distinct; {dup:?} appears twice."),
        ));
    }
    let mut valid = Vec::with_capacity(numbers.len());
    let mut bad = Vec::new();
    for number in &numbers {
        match parse_recipient(number, "recipientNumbers") {
            Ok(n) => valid.push(n),
            Err(_) => bad.push(number.chars().take(32).collect::<String>()),
        }
    }
    if !bad.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_phone_number",
            format!("{} of the recipientNumbers are not valid US or Canadian E.164 numbers; see details.", bad.len()),
        )
        .with_field("recipientNumbers")
        .with_details(serde_json::json!({ "invalidNumbers": bad })));
    }
    let mut raw = raw_mms(&map)?;
    raw.to = Some(numbers[0].clone());
    let template = OutboundMms::parse(raw)?;
    let messages = valid
        .into_iter()
        .map(|to| template.for_recipient(to))
        .collect();
    Ok(SendRequest::Bulk {
        messages,
        callback_url,
    })
}

fn invalid(field: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_field", message).with_field(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(format: BodyFormat, body: &str) -> (&'static str, Option<String>) {
        let e = parse_send(format, body.as_bytes()).unwrap_err();
        let v: Value = serde_json::from_slice(&e.body_json()).unwrap();
        (
            e.code(),
            v.get("field").and_then(Value::as_str).map(str::to_owned),
        )
    }

    #[test]
    fn json_and_form_give_the_same_message() {
        let json = parse_send(
            BodyFormat::Json,
            br#"{"recipientNumber":"+14155551234","messageText":"hi","mediaUrl":"https://e.com/a.gif","mediaUrls":["https://e.com/b.gif"]}"#,
        )
        .unwrap();
        let form = parse_send(
            BodyFormat::Form,
            b"recipientNumber=%2B14155551234&messageText=hi&mediaUrl=https%3A%2F%2Fe.com%2Fa.gif&mediaUrls%5B%5D=https%3A%2F%2Fe.com%2Fb.gif",
        )
        .unwrap();
        assert_eq!(json, form);
        assert_eq!(json.media.urls().len(), 2);
        assert_eq!(json.media.urls()[0].as_str(), "https://e.com/a.gif");
    }

    #[test]
    fn bad_bodies_get_their_codes() {
        use BodyFormat::*;
        let f = |s: &str| Some(s.to_owned());
        assert_eq!(code(Json, "{"), ("invalid_json", None));
        assert_eq!(code(Json, "[1]"), ("invalid_json", None));
        assert_eq!(code(Json, ""), ("invalid_json", None));
        assert_eq!(code(Json, &"[".repeat(1000)), ("invalid_json", None));
        assert_eq!(code(Json, "{}"), ("missing_field", f("recipientNumber")));
        assert_eq!(
            code(Json, r#"{"recipientNumber":14155551234}"#),
            ("invalid_field", f("recipientNumber"))
        );
        assert_eq!(
            code(
                Json,
                r#"{"recipientNumber":"+14155551234","mediaUrls":"https://e.com/a"}"#
            ),
            ("invalid_field", f("mediaUrls"))
        );
        assert_eq!(
            code(
                Json,
                r#"{"recipientNumber":"+14155551234","mediaUrls":[1]}"#
            ),
            ("invalid_field", f("mediaUrls"))
        );
        assert_eq!(
            code(
                Json,
                r#"{"recipientNumber":"+14155551234","messageText":{"a":1}}"#
            ),
            ("invalid_field", f("messageText"))
        );
        assert_eq!(
            code(Json, r#"{"recipientNumber":"+14155551234"}"#),
            ("no_media", f("mediaUrls"))
        );
        assert_eq!(
            code(Form, "recipientNumber=%2B1415"),
            ("invalid_phone_number", f("recipientNumber"))
        );
        assert_eq!(code(Form, ""), ("missing_field", f("recipientNumber")));
    }

    #[test]
    fn bulk_requests() {
        let ok = parse_send_request(
            BodyFormat::Json,
            br#"{"recipientNumbers":["+14155551234","+16135550123"],"mediaUrl":"https://e.com/a.gif","callbackUrl":"https://cb.example/x"}"#,
        )
        .unwrap();
        match ok {
            SendRequest::Bulk {
                messages,
                callback_url,
            } => {
                assert_eq!(messages.len(), 2);
                assert_eq!(messages[1].to.as_str(), "+16135550123");
                assert_eq!(callback_url.as_deref(), Some("https://cb.example/x"));
            }
            SendRequest::Single { .. } => panic!("parsed as single"),
        }
        let form = parse_send_request(
            BodyFormat::Form,
            b"recipientNumbers=%2B14155551234&recipientNumbers=%2B16135550123&mediaUrl=https%3A%2F%2Fe.com%2Fa.gif",
        )
        .unwrap();
        assert!(matches!(form, SendRequest::Bulk { ref messages, .. } if messages.len() == 2));

        let err = |body: &str| parse_send_request(BodyFormat::Json, body.as_bytes()).unwrap_err();
        let bad = err(
            r#"{"recipientNumbers":["+14155551234","+1415","+447911123456"],"mediaUrl":"https://e.com/a.gif"}"#,
        );
        assert_eq!(bad.code(), "invalid_phone_number");
        let body: Value = serde_json::from_slice(&bad.body_json()).unwrap();
        assert_eq!(
            body["details"]["invalidNumbers"],
            serde_json::json!(["+1415", "+447911123456"])
        );
        assert_eq!(
            err(r#"{"recipientNumbers":[],"mediaUrl":"https://e.com/a.gif"}"#).code(),
            "invalid_field"
        );
        assert_eq!(err(r#"{"recipientNumbers":["+14155551234","+14155551234"],"mediaUrl":"https://e.com/a.gif"}"#).code(), "invalid_field");
        assert_eq!(err(r#"{"recipientNumber":"+14155551234","recipientNumbers":["+14155551234"],"mediaUrl":"https://e.com/a.gif"}"#).code(), "invalid_field");
        assert_eq!(
            err(r#"{"recipientNumbers":["+14155551234"]}"#).code(),
            "no_media"
        );
        assert_eq!(err(r#"{"recipientNumber":"+14155551234","mediaUrl":"https://e.com/a.gif","callbackUrl":"ftp://x"}"#).code(), "invalid_field");
        let many: Vec<String> = (0..1001).map(|i| format!("+1415555{i:04}")).collect();
        let body = serde_json::json!({"recipientNumbers": many, "mediaUrl": "https://e.com/a.gif"})
            .to_string();
        assert_eq!(err(&body).code(), "invalid_field");
    }

    #[test]
    fn content_types() {
        let mut h = HeaderMap::new();
        assert!(BodyFormat::from_headers(&h).is_err());
        for (ct, format) in [
            ("application/json", BodyFormat::Json),
            ("Application/JSON; charset=utf-8", BodyFormat::Json),
            ("application/merge-patch+json", BodyFormat::Json),
            ("application/x-www-form-urlencoded", BodyFormat::Form),
        ] {
            h.insert("content-type", ct.parse().unwrap());
            assert_eq!(BodyFormat::from_headers(&h).unwrap(), format, "{ct}");
        }
        h.insert("content-type", "text/plain".parse().unwrap());
        assert_eq!(
            BodyFormat::from_headers(&h).unwrap_err().code(),
            "unsupported_media_type"
        );
    }
}
