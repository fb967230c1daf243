//! The JSON Plivo's Message API takes and gives back (docs/plivo-api.md §1.2, §2, §3).

use serde::{Deserialize, Serialize};

/// The shortest `message_expiry` Plivo takes (docs/plivo-api.md): a message with less time left
/// to its deadline is not sent at all, and ends `failed` with `errorCode: "expired"`.
pub const MIN_MESSAGE_EXPIRY: std::time::Duration = std::time::Duration::from_secs(5);

/// The body of `POST /v1/Account/{auth_id}/Message/` for an MMS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendMessageBody {
    /// The sender, E.164; empty (and left out) when `powerpack_uuid` is sent instead.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub src: String,
    /// The Powerpack Plivo picks the sender from (`PLIVO_POWERPACK_UUID`), instead of `src`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub powerpack_uuid: Option<String>,
    /// One destination, or several joined with `<`.
    pub dst: String,
    /// Always `mms`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The text, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Media URLs Plivo fetches.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub media_urls: Vec<String>,
    /// Ids of media uploaded to Plivo.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub media_ids: Vec<String>,
    /// Where Plivo posts status callbacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The callback method, `POST` when `url` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<&'static str>,
    // --- reconciliation ---
    /// Seconds Plivo may keep it in its queue (5 to 10,799): the time left to its deadline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_expiry: Option<u64>,
    /// `PLIVO_LOG`: `true`, `false`, `number_only` or `content_only`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<&'static str>,
}

/// What every message sent from this account carries, whoever builds it (the synchronous path,
/// the delivery workers): set once from the configuration. Account-wide send options (e.g. `log`,
/// `powerpack_uuid`) belong here and are written into the body by [`SendMessageBody::new`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageDefaults {
    /// `url`: where Plivo posts status callbacks (`{PUBLIC_BASE_URL}/webhooks/plivo/status`).
    pub status_callback_url: Option<String>,
    /// `powerpack_uuid` (`PLIVO_POWERPACK_UUID`): sent instead of `src` for a message with no
    /// sender number (docs/plivo-api.md §9).
    pub powerpack_uuid: Option<String>,
    // --- reconciliation ---
    /// `log`: `PLIVO_LOG` (`true`, `false`, `number_only` or `content_only`).
    pub log: Option<&'static str>,
}

/// The content of one Plivo request, borrowed from a checked message or a stored record.
#[derive(Debug, Clone, Copy)]
pub struct MessageContent<'a, U, I> {
    /// The text, if any (an empty text is left out).
    pub text: Option<&'a str>,
    /// Media URLs, in order.
    pub media_urls: &'a [U],
    /// Ids of media uploaded to Plivo, in order.
    pub media_ids: &'a [I],
}

impl SendMessageBody {
    /// The one place a Plivo request body is built: `src`, `dst` (one number, or several joined
    /// with `<`), the content, and the account's [`MessageDefaults`]. Per-message options (e.g.
    /// `message_expiry`) are added here as parameters.
    pub fn new<U: AsRef<str>, I: AsRef<str>>(
        defaults: &MessageDefaults,
        src: &str,
        dst: String,
        content: MessageContent<'_, U, I>,
    ) -> Self {
        let url = defaults.status_callback_url.clone();
        Self {
            src: src.to_owned(),
            // An empty sender: Plivo picks from the Powerpack.
            powerpack_uuid: src
                .is_empty()
                .then(|| defaults.powerpack_uuid.clone())
                .flatten(),
            dst,
            kind: "mms",
            text: content.text.filter(|t| !t.is_empty()).map(str::to_owned),
            media_urls: content
                .media_urls
                .iter()
                .map(|u| u.as_ref().to_owned())
                .collect(),
            media_ids: content
                .media_ids
                .iter()
                .map(|i| i.as_ref().to_owned())
                .collect(),
            method: url.as_ref().map(|_| "POST"),
            url,
            message_expiry: None,
            log: defaults.log,
        }
    }

    // --- reconciliation ---
    /// Sets `message_expiry`: the seconds Plivo may keep the message in its queue (the time left
    /// to its deadline, 5 to 10,799; README "Delivery guarantees").
    pub fn with_message_expiry(mut self, seconds: u64) -> Self {
        self.message_expiry = Some(seconds.clamp(MIN_MESSAGE_EXPIRY.as_secs(), 10_799));
        self
    }
}

/// Plivo's 202 answer to a send.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct SendMessageResponse {
    /// Plivo's id of the API call.
    #[serde(default)]
    pub api_id: Option<String>,
    /// `message(s) queued`.
    #[serde(default)]
    pub message: String,
    /// One UUID per valid destination; always an array.
    pub message_uuid: Vec<String>,
    /// Destinations Plivo found invalid (bulk sends only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_number: Option<Vec<String>>,
}

/// Plivo's error body: `api_id` may be missing and `error` may be any JSON.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorBody {
    /// Plivo's id of the API call, when present.
    #[serde(default)]
    pub api_id: Option<String>,
    /// Usually a sentence; sometimes an object.
    #[serde(default)]
    pub error: Option<serde_json::Value>,
}

impl ErrorBody {
    /// Reads an error body; anything that is not Plivo's JSON becomes a short text.
    pub fn parse(bytes: &[u8]) -> (Option<String>, String) {
        match serde_json::from_slice::<ErrorBody>(bytes) {
            Ok(body) => (body.api_id, body.error.map(error_text).unwrap_or_default()),
            Err(_) => (None, short_text(bytes)),
        }
    }
}

/// Turns Plivo's `error` value into a sentence.
fn error_text(value: serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s,
        serde_json::Value::Object(ref map) => match map.get("error") {
            Some(serde_json::Value::String(s)) => s.clone(),
            _ => value.to_string(),
        },
        other => other.to_string(),
    }
}

/// The first 200 characters of a non-JSON body, with control characters removed.
fn short_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn body_serialises_like_plivo_expects() {
        let content = |text| MessageContent {
            text,
            media_urls: &["https://e.com/a.gif"],
            media_ids: &[] as &[&str],
        };
        let body = SendMessageBody::new(
            &MessageDefaults::default(),
            "+14155550100",
            "+14155551234".into(),
            content(Some("hi")),
        );
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"src": "+14155550100", "dst": "+14155551234", "type": "mms", "text": "hi",
                   "media_urls": ["https://e.com/a.gif"]})
        );
        let defaults = MessageDefaults {
            status_callback_url: Some("https://gw.example/webhooks/plivo/status".into()),
            powerpack_uuid: None,
            log: None,
        };
        let body = SendMessageBody::new(
            &defaults,
            "+14155550100",
            "+14155551234".into(),
            content(Some("")),
        );
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"src": "+14155550100", "dst": "+14155551234", "type": "mms",
                   "media_urls": ["https://e.com/a.gif"],
                   "url": "https://gw.example/webhooks/plivo/status", "method": "POST"})
        );
        // --- reconciliation: log from the account, message_expiry per message ---
        let defaults = MessageDefaults {
            status_callback_url: None,
            log: Some("false"),
            powerpack_uuid: None,
        };
        let body = SendMessageBody::new(&defaults, "+14155550100", "+1".into(), content(None))
            .with_message_expiry(3);
        assert_eq!(body.log, Some("false"));
        assert_eq!(body.message_expiry, Some(5), "at least Plivo's 5 s");
    }

    #[test]
    fn a_powerpack_is_sent_instead_of_an_empty_src() {
        let defaults = MessageDefaults {
            status_callback_url: None,
            powerpack_uuid: Some("pp-1".into()),
            log: None,
        };
        let content = MessageContent {
            text: Some("hi"),
            media_urls: &["https://e.com/a.gif"],
            media_ids: &[] as &[&str],
        };
        let pooled = SendMessageBody::new(&defaults, "", "+14155551234".into(), content);
        assert_eq!(
            serde_json::to_value(&pooled).unwrap(),
            json!({"powerpack_uuid": "pp-1", "dst": "+14155551234", "type": "mms", "text": "hi",
                   "media_urls": ["https://e.com/a.gif"]})
        );
        // A named sender number goes as src, even with a Powerpack: exactly one of the two.
        let named = SendMessageBody::new(&defaults, "+14155550100", "+14155551234".into(), content);
        assert_eq!(named.src, "+14155550100");
        assert_eq!(named.powerpack_uuid, None);
    }

    #[test]
    fn parses_the_documented_success_bodies() {
        let single: SendMessageResponse = serde_json::from_str(
            r#"{"message":"message(s) queued","message_uuid":["db3ce55a-7f1d-11e1-8ea7-1231380bc196"],"api_id":"db342550-7f1d-11e1-8ea7-1231380bc196"}"#,
        )
        .unwrap();
        assert_eq!(single.message_uuid.len(), 1);
        assert_eq!(single.invalid_number, None);
        let bulk: SendMessageResponse = serde_json::from_str(
            r#"{"api_id":"x","invalid_number":["jsgf3dsjh28372"],"message":"message(s) queued","message_uuid":["a","b"]}"#,
        )
        .unwrap();
        assert_eq!(bulk.invalid_number.unwrap(), vec!["jsgf3dsjh28372"]);
    }

    #[test]
    fn parses_every_error_body_shape() {
        let cases: [(&[u8], Option<&str>, &str); 5] = [
            (
                br#"{"api_id":"a1","error":"not found"}"#,
                Some("a1"),
                "not found",
            ),
            (
                br#"{"error":"authentication credentials were not provided"}"#,
                None,
                "authentication credentials were not provided",
            ),
            (
                br#"{"api_id":"a2","error":{"error":"nested"}}"#,
                Some("a2"),
                "nested",
            ),
            (
                br#"{"api_id":"a3","error":["x",1]}"#,
                Some("a3"),
                r#"["x",1]"#,
            ),
            (
                b"<html><body>502 Bad Gateway</body></html>\n",
                None,
                "<html><body>502 Bad Gateway</body></html>",
            ),
        ];
        for (bytes, api_id, text) in cases {
            let (a, t) = ErrorBody::parse(bytes);
            assert_eq!(a.as_deref(), api_id);
            assert_eq!(t, text);
        }
        let (_, t) = ErrorBody::parse(&[0xff, 0xfe, b'x']);
        assert_eq!(t, "\u{fffd}\u{fffd}x");
    }
}
