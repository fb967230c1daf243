//! Reads the body of `POST /send-mms` (JSON or form) into checked domain values.

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};

use crate::api_error::ApiError;
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

/// The fields of a send request: the one list the parser reads (every lookup names a `Field`)
/// and the OpenAPI schema `SendMmsRequest` is generated from ([`request_schema`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `recipientNumber`.
    RecipientNumber,
    /// `recipientNumbers`.
    RecipientNumbers,
    /// `messageText`.
    MessageText,
    /// `mediaUrl`.
    MediaUrl,
    /// `mediaUrls`.
    MediaUrls,
    /// `mediaIds`.
    MediaIds,
    /// `callbackUrl`.
    CallbackUrl,
    /// `senderNumber`.
    SenderNumber,
}

impl Field {
    /// Every field, in the order the schema lists them.
    pub const ALL: [Field; 8] = [
        Field::RecipientNumber,
        Field::RecipientNumbers,
        Field::MessageText,
        Field::MediaUrl,
        Field::MediaUrls,
        Field::MediaIds,
        Field::CallbackUrl,
        Field::SenderNumber,
    ];

    /// The name in JSON and in a form.
    pub fn name(self) -> &'static str {
        match self {
            Field::RecipientNumber => "recipientNumber",
            Field::RecipientNumbers => "recipientNumbers",
            Field::MessageText => "messageText",
            Field::MediaUrl => "mediaUrl",
            Field::MediaUrls => "mediaUrls",
            Field::MediaIds => "mediaIds",
            Field::CallbackUrl => "callbackUrl",
            Field::SenderNumber => "senderNumber",
        }
    }

    /// Whether it holds a list of strings (in a form the key repeats: `mediaUrls=a&mediaUrls=b`,
    /// or `mediaUrls[]=a`); otherwise one string.
    pub fn is_list(self) -> bool {
        matches!(
            self,
            Field::RecipientNumbers | Field::MediaUrls | Field::MediaIds
        )
    }

    fn description(self) -> &'static str {
        match self {
            Field::RecipientNumber => "E.164, a US or Canadian number (e.g. +14155551234). Required unless recipientNumbers is given",
            Field::RecipientNumbers => "1 to 1000 distinct E.164 US or Canadian numbers, instead of recipientNumber: the same content to each, always asynchronous (202 with batchId)",
            Field::MessageText => "At most 1600 characters",
            Field::MediaUrl => "One http/https media URL",
            Field::MediaUrls => "http/https media URLs (mediaUrl, mediaUrls and mediaIds: 1 to 10 items in all)",
            Field::MediaIds => "Ids of media uploaded to Plivo",
            Field::CallbackUrl => "http/https URL that receives every status change of the message(s) as signed JSON (needs WEBHOOK_SIGNING_SECRET)",
            Field::SenderNumber => "One of PLIVO_SENDER_NUMBER's numbers to send from (default: the number the recipient is pinned to)",
        }
    }

    fn by_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// The OpenAPI schema of the body, generated from [`Field`].
pub fn request_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let mut object = ObjectBuilder::new().schema_type(Type::Object).description(Some(
        "The body of POST /send-mms, as JSON or as a form (list fields repeat their key in a form).",
    ));
    for field in Field::ALL {
        let string = ObjectBuilder::new().schema_type(Type::String);
        object = if field.is_list() {
            object.property(
                field.name(),
                ArrayBuilder::new()
                    .items(string)
                    .description(Some(field.description())),
            )
        } else {
            object.property(field.name(), string.description(Some(field.description())))
        };
    }
    object.into()
}

fn form_to_object(body: &[u8]) -> Map<String, Value> {
    let mut map = Map::new();
    for (key, value) in form_urlencoded::parse(body) {
        let key = key.strip_suffix("[]").unwrap_or(&key).to_owned();
        if Field::by_name(&key).is_some_and(Field::is_list) {
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
pub fn string_field(map: &Map<String, Value>, field: Field) -> Result<Option<String>, ApiError> {
    match map.get(field.name()) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(wrong_type(field, "a string")),
    }
}

/// An optional list of strings: absent or `null` is empty.
pub fn string_list(map: &Map<String, Value>, field: Field) -> Result<Vec<String>, ApiError> {
    match map.get(field.name()) {
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

fn wrong_type(field: Field, expected: &str) -> ApiError {
    let name = field.name();
    ApiError::bad_request("invalid_field", format!("{name} must be {expected}.")).with_field(name)
}

/// The raw inputs of a single send, read from the object.
pub fn raw_mms(map: &Map<String, Value>) -> Result<RawMms, ApiError> {
    let to = string_field(map, Field::RecipientNumber)?;
    let text = string_field(map, Field::MessageText)?;
    let single = string_field(map, Field::MediaUrl)?;
    let mut media_urls = string_list(map, Field::MediaUrls)?;
    if let Some(url) = single {
        media_urls.insert(0, url);
    }
    let media_ids = string_list(map, Field::MediaIds)?;
    Ok(RawMms {
        to,
        text,
        media_urls,
        media_ids,
    })
}

/// Parses a send request of either kind, with its `callbackUrl`.
pub fn parse_send_request(format: BodyFormat, body: &[u8]) -> Result<SendRequest, ApiError> {
    let map = body_to_object(format, body)?;
    let callback_url = string_field(&map, Field::CallbackUrl)?
        .map(|url| {
            MediaUrl::parse(&url)
                .map(|u| u.as_str().to_owned())
                .map_err(|e| invalid(Field::CallbackUrl.name(), format!("callbackUrl: {e}")))
        })
        .transpose()?;
    // --- sender pool: `senderNumber` (checked against the pool by the caller) ---
    let sender = string_field(&map, Field::SenderNumber)?;
    if matches!(
        map.get(Field::RecipientNumbers.name()),
        None | Some(Value::Null)
    ) {
        let mut mms = OutboundMms::parse(raw_mms(&map)?)?;
        mms.sender = sender;
        return Ok(SendRequest::Single { mms, callback_url });
    }
    if !matches!(
        map.get(Field::RecipientNumber.name()),
        None | Some(Value::Null)
    ) {
        return Err(invalid(
            Field::RecipientNumbers.name(),
            "Give recipientNumber or recipientNumbers, not both.",
        ));
    }
    let numbers = string_list(&map, Field::RecipientNumbers)?;
    if !(1..=MAX_RECIPIENTS).contains(&numbers.len()) {
        return Err(invalid(
            Field::RecipientNumbers.name(),
            format!("recipientNumbers must hold 1 to {MAX_RECIPIENTS} numbers."),
        ));
    }
    let mut seen = std::collections::HashSet::with_capacity(numbers.len());
    if let Some(dup) = numbers.iter().find(|n| !seen.insert(n.as_str())) {
        return Err(invalid(
            Field::RecipientNumbers.name(),
            format!("recipientNumbers must be distinct; {dup:?} appears twice."),
        ));
    }
    let mut valid = Vec::with_capacity(numbers.len());
    let mut bad = Vec::new();
    for number in &numbers {
        match parse_recipient(number, Field::RecipientNumbers.name()) {
            Ok(n) => valid.push(n),
            Err(_) => bad.push(number.chars().take(32).collect::<String>()),
        }
    }
    if !bad.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_phone_number",
            format!("{} of the recipientNumbers are not valid US or Canadian E.164 numbers; see details.", bad.len()),
        )
        .with_field(Field::RecipientNumbers.name())
        .with_details(serde_json::json!({ "invalidNumbers": bad })));
    }
    let mut raw = raw_mms(&map)?;
    raw.to = Some(numbers[0].clone());
    let mut template = OutboundMms::parse(raw)?;
    template.sender = sender;
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

    /// The one message of a single send.
    fn parse_send(format: BodyFormat, body: &[u8]) -> Result<OutboundMms, ApiError> {
        match parse_send_request(format, body)? {
            SendRequest::Single { mms, .. } => Ok(mms),
            SendRequest::Bulk { .. } => panic!("parsed as bulk"),
        }
    }

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

    /// Every field of the generated schema is one the parser reads (a wrong type there is an
    /// `invalid_field` naming it), and the schema has every field the parser reads (`Field::ALL`).
    #[test]
    fn the_schema_lists_exactly_the_fields_the_parser_reads() {
        let schema = serde_json::to_value(request_schema()).unwrap();
        let properties = schema["properties"].as_object().unwrap();
        let names: Vec<&str> = properties.keys().map(String::as_str).collect();
        let mut expected: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
        expected.sort_unstable();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, expected);
        for name in names {
            let field = Field::by_name(name).unwrap();
            let kind = if field.is_list() { "array" } else { "string" };
            assert_eq!(properties[name]["type"], kind, "{name}");
            let mut body = serde_json::json!({
                "recipientNumber": "+14155551234",
                "mediaUrl": "https://e.com/a.gif",
            });
            if field == Field::RecipientNumbers {
                body.as_object_mut().unwrap().remove("recipientNumber");
            }
            body[name] = serde_json::json!(1);
            let e = parse_send_request(BodyFormat::Json, body.to_string().as_bytes()).unwrap_err();
            let v: Value = serde_json::from_slice(&e.body_json()).unwrap();
            assert_eq!(
                (e.code(), v["field"].as_str()),
                ("invalid_field", Some(name))
            );
        }
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
