//! Validation of a Send Message body, with Plivo's rules (docs/plivo-api.md §1.2, Appendix A).

use serde_json::{Map, Value};

use crate::domain::parse_e164;

use super::scenarios::{send_scenario, SendScenario};

/// Plivo's bulk limit: unique destinations per request.
pub(crate) const MAX_DESTINATIONS: usize = 1000;
const MAX_MEDIA: usize = 10;
const MAX_TEXT_CHARS: usize = 1600;

/// How the status callback is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallbackMethod {
    Get,
    Post,
}

/// A Send Message body that passed validation.
#[derive(Debug, Clone)]
pub(crate) struct SendRequest {
    /// The sanitized sender, or empty when a powerpack was used.
    pub src: String,
    pub powerpack_uuid: Option<String>,
    /// Valid destinations (digits, no `+`), de-duplicated, in request order.
    pub valid: Vec<String>,
    /// Invalid destinations, as sanitized.
    pub invalid: Vec<String>,
    pub message_type: String,
    pub callback_url: Option<String>,
    pub callback_method: CallbackMethod,
}

/// A 400 answer's error text.
pub(crate) type Invalid = String;

/// Validates a parsed JSON body.
pub(crate) fn validate(body: &Value) -> Result<SendRequest, Invalid> {
    let obj = body
        .as_object()
        .ok_or_else(|| "invalid json data sent in raw POST".to_owned())?;

    let src = optional_string(obj, "src")?;
    let powerpack_uuid = optional_string(obj, "powerpack_uuid")?;
    let src = match (src, &powerpack_uuid) {
        (Some(_), Some(_)) => {
            return Err("Either of src or powerpack_uuid, both of them are present".to_owned())
        }
        (None, None) => {
            return Err(
                "Neither of src or powerpack_uuid present, either one is required".to_owned(),
            )
        }
        (Some(src), None) => {
            let clean: String = src.chars().filter(char::is_ascii_alphanumeric).collect();
            if clean.is_empty() || clean.len() > 14 {
                return Err("src parameter is invalid".to_owned());
            }
            clean
        }
        (None, Some(_)) => String::new(),
    };

    let message_type = optional_string(obj, "type")?.unwrap_or("sms");
    if !["sms", "mms", "whatsapp"].contains(&message_type) {
        return Err("type parameter must be one of sms, mms, whatsapp".to_owned());
    }

    let text = optional_string(obj, "text")?;
    if text.is_some_and(|t| t.chars().count() > MAX_TEXT_CHARS) {
        return Err(format!("text exceeds {MAX_TEXT_CHARS} characters"));
    }
    if message_type == "sms" && text.is_none_or(str::is_empty) {
        return Err("text parameter is missing".to_owned());
    }

    let media = string_array(obj, "media_urls")? + string_array(obj, "media_ids")?;
    if message_type == "mms" && media == 0 {
        return Err("media_urls or media_ids is required for mms".to_owned());
    }
    if media > MAX_MEDIA {
        return Err(format!("at most {MAX_MEDIA} media are allowed per message"));
    }

    match obj.get("trackable") {
        None | Some(Value::Bool(_)) => {}
        Some(_) => return Err("trackable parameter must be a boolean".to_owned()),
    }
    match obj.get("log") {
        None | Some(Value::String(_) | Value::Bool(_)) => {}
        Some(_) => return Err("log parameter must be a string".to_owned()),
    }
    match obj.get("message_expiry") {
        None => {}
        Some(v) if v.as_u64().is_some_and(|s| (5..=10_799).contains(&s)) => {}
        Some(_) => return Err("message_expiry must be between 5 and 10799 seconds".to_owned()),
    }

    let callback_url = optional_string(obj, "url")?.filter(|u| !u.is_empty());
    if let Some(url) = callback_url {
        let ok = url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if !ok {
            return Err("url parameter is not a valid URL".to_owned());
        }
    }
    let callback_method = match optional_string(obj, "method")? {
        None => CallbackMethod::Post,
        Some(m) if m.eq_ignore_ascii_case("POST") => CallbackMethod::Post,
        Some(m) if m.eq_ignore_ascii_case("GET") => CallbackMethod::Get,
        Some(_) => return Err("method parameter must be GET or POST".to_owned()),
    };

    let dst = optional_string(obj, "dst")?
        .filter(|d| !d.trim().is_empty())
        .ok_or_else(|| "dst parameter is missing".to_owned())?;
    let destinations = split_destinations(dst);
    if destinations.is_empty() {
        return Err("dst parameter is missing".to_owned());
    }
    if destinations.len() > MAX_DESTINATIONS {
        return Err(format!(
            "too many destinations; at most {MAX_DESTINATIONS} unique numbers are allowed"
        ));
    }
    let (valid, invalid) = destinations
        .into_iter()
        .partition(|d| is_valid_destination(d));

    Ok(SendRequest {
        src,
        powerpack_uuid: powerpack_uuid.map(str::to_owned),
        valid,
        invalid,
        message_type: message_type.to_owned(),
        callback_url: callback_url.map(str::to_owned),
        callback_method,
    })
}

/// Splits `dst` on `<`, strips `/ - . + ( )` and whitespace, drops empties and duplicates.
pub(crate) fn split_destinations(dst: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for part in dst.split('<') {
        let clean: String = part
            .chars()
            .filter(|c| !matches!(c, '/' | '-' | '.' | '+' | '(' | ')') && !c.is_whitespace())
            .collect();
        if !clean.is_empty() && seen.insert(clean.clone()) {
            out.push(clean);
        }
    }
    out
}

/// A destination is valid when it is at most 14 digits forming a valid E.164 number, and is
/// not the magic number Plivo refuses.
fn is_valid_destination(digits: &str) -> bool {
    digits.len() <= 14
        && digits.bytes().all(|b| b.is_ascii_digit())
        && parse_e164(&format!("+{digits}")).is_ok()
        && send_scenario(digits) != Some(SendScenario::Refuse)
}

fn optional_string<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, Invalid> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(format!("{key} parameter must be a string")),
    }
}

/// The number of strings in an optional array of strings.
fn string_array(obj: &Map<String, Value>, key: &str) -> Result<usize, Invalid> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => Ok(items.len()),
        Some(_) => Err(format!("{key} parameter must be an array of strings")),
    }
}
