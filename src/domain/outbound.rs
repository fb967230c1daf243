//! One MMS ready to hand to Plivo, built from raw inputs in one place for the API and the CLI.

use super::{
    Media, MediaError, MediaId, MediaUrl, MediaUrlError, MessageText, PhoneNumber,
    PhoneNumberError, MAX_MEDIA,
};

/// A checked MMS: who gets it, its optional text and its media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMms {
    /// The recipient.
    pub to: PhoneNumber,
    /// The text, if any.
    pub text: Option<MessageText>,
    /// The attachments.
    pub media: Media,
    /// `senderNumber`, as given: checked against the sender pool before the message is recorded
    /// (`SenderPool::check`); `None`: the recipient's pinned sender.
    pub sender: Option<String>,
}

/// Which input was wrong and how; the HTTP layer turns it into a 400 with this `code` and `field`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    /// The contract's error code, e.g. `invalid_phone_number`.
    pub code: &'static str,
    /// The request field at fault.
    pub field: &'static str,
    /// A sentence a person can act on.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(code: &'static str, field: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            field,
            message: message.into(),
        }
    }
}

/// The raw inputs of one send, as strings, before any checking.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawMms {
    /// `recipientNumber`.
    pub to: Option<String>,
    /// `messageText`.
    pub text: Option<String>,
    /// `mediaUrl` followed by `mediaUrls`.
    pub media_urls: Vec<String>,
    /// `mediaIds`.
    pub media_ids: Vec<String>,
}

impl OutboundMms {
    /// Checks every input; the first problem found is returned.
    pub fn parse(raw: RawMms) -> Result<Self, FieldError> {
        let to = raw.to.filter(|s| !s.is_empty()).ok_or_else(|| {
            FieldError::new(
                "missing_field",
                "recipientNumber",
                "recipientNumber is required",
            )
        })?;
        let to = parse_recipient(&to, "recipientNumber")?;
        let text = raw
            .text
            .map(MessageText::parse)
            .transpose()
            .map_err(|e| FieldError::new("text_too_long", "messageText", e.to_string()))?;
        let media = parse_media(&raw.media_urls, &raw.media_ids)?;
        Ok(Self {
            to,
            text,
            media,
            sender: None,
        })
    }
}

impl OutboundMms {
    /// The same content for another recipient.
    pub fn for_recipient(&self, to: PhoneNumber) -> Self {
        Self {
            to,
            text: self.text.clone(),
            media: self.media.clone(),
            sender: self.sender.clone(),
        }
    }
}

/// Parses one recipient number, naming `field` in the error.
pub fn parse_recipient(input: &str, field: &'static str) -> Result<PhoneNumber, FieldError> {
    PhoneNumber::parse(input).map_err(|e| match e {
        PhoneNumberError::Invalid(_) => {
            FieldError::new("invalid_phone_number", field, e.to_string())
        }
        PhoneNumberError::Unsupported(_) => {
            FieldError::new("unsupported_destination", field, e.to_string())
        }
    })
}

/// Parses media URLs and ids; the count is checked first so a huge list costs nothing.
pub fn parse_media(urls: &[String], ids: &[String]) -> Result<Media, FieldError> {
    let count = urls.len() + ids.len();
    if count > MAX_MEDIA {
        return Err(FieldError::new(
            "too_many_media",
            "mediaUrls",
            MediaError::TooMany(count).to_string(),
        ));
    }
    let urls = urls
        .iter()
        .map(|u| MediaUrl::parse(u))
        .collect::<Result<Vec<_>, MediaUrlError>>()
        .map_err(|e| FieldError::new("invalid_media_url", "mediaUrls", format!("media URL {e}")))?;
    let ids = ids
        .iter()
        .map(|id| MediaId::parse(id))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| FieldError::new("invalid_field", "mediaIds", e.to_string()))?;
    Media::new(urls, ids).map_err(|e| match e {
        MediaError::Empty => FieldError::new("no_media", "mediaUrls", e.to_string()),
        MediaError::TooMany(_) => FieldError::new("too_many_media", "mediaUrls", e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(to: &str) -> RawMms {
        RawMms {
            to: Some(to.into()),
            text: Some("hi".into()),
            media_urls: vec!["https://e.com/a.gif".into()],
            media_ids: vec![],
        }
    }

    fn code(r: RawMms) -> &'static str {
        OutboundMms::parse(r).unwrap_err().code
    }

    #[test]
    fn a_good_request_parses() {
        let m = OutboundMms::parse(raw("+14155551234")).unwrap();
        assert_eq!(m.to.as_str(), "+14155551234");
        assert_eq!(m.media.urls().len(), 1);
    }

    #[test]
    fn each_problem_has_its_code() {
        assert_eq!(
            code(RawMms {
                to: None,
                ..raw("")
            }),
            "missing_field"
        );
        assert_eq!(code(raw("")), "missing_field");
        assert_eq!(code(raw("+1415")), "invalid_phone_number");
        assert_eq!(code(raw("+447911123456")), "unsupported_destination");
        assert_eq!(
            code(RawMms {
                text: Some("x".repeat(1601)),
                ..raw("+14155551234")
            }),
            "text_too_long"
        );
        assert_eq!(
            code(RawMms {
                media_urls: vec![],
                ..raw("+14155551234")
            }),
            "no_media"
        );
        assert_eq!(
            code(RawMms {
                media_urls: vec!["ftp://x/y".into()],
                ..raw("+14155551234")
            }),
            "invalid_media_url"
        );
        assert_eq!(
            code(RawMms {
                media_urls: vec!["https://e.com/a".into(); 11],
                ..raw("+14155551234")
            }),
            "too_many_media"
        );
        assert_eq!(
            code(RawMms {
                media_urls: vec!["nope".into(); 10_000],
                ..raw("+14155551234")
            }),
            "too_many_media"
        );
        assert_eq!(
            code(RawMms {
                media_ids: vec!["a b".into()],
                ..raw("+14155551234")
            }),
            "invalid_field"
        );
    }
}
