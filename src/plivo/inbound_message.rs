//! An incoming message as Plivo posts it to the Application's `message_url` (`docs/plivo-api.md`
//! §11), parsed strictly (the rules of [`super::webhook_params`]).
//!
//! `Text` and `Body` are free text, so the names that sort right after them (`From` after `Body`,
//! `To` after `Text`) are required: a re-split of the signed string that moved them into the text
//! then fails. Media URLs may hold capitals, so `MediaCount` (which sorts after the last `Media<n>`)
//! is required whenever media are present.

use super::webhook_params::{
    is_decimal, is_digits, is_number, is_uuid, InvalidParam, Rule, WebhookParams,
};

/// The most media an inbound MMS carries.
pub const MAX_MEDIA: usize = 10;

/// Every parameter Plivo documents for incoming messages; media are `Media0`…`Media10` (the docs
/// number them from 1, a support article from 0: both are read).
pub const DOCUMENTED: &[&str] = &[
    "From",
    "To",
    "Type",
    "Text",
    "Body",
    "MessageUUID",
    "Units",
    "TotalRate",
    "TotalAmount",
    "MessageIntent",
    "PowerpackUUID",
    "MediaCount",
    "Media0",
    "Media1",
    "Media2",
    "Media3",
    "Media4",
    "Media5",
    "Media6",
    "Media7",
    "Media8",
    "Media9",
    "Media10",
];

const GRAMMARS: &[Rule] = &[
    ("Units", "digits", is_digits),
    ("TotalRate", "a decimal amount", is_decimal),
    ("TotalAmount", "a decimal amount", is_decimal),
    ("PowerpackUUID", "a UUID", is_uuid),
    ("MediaCount", "digits", is_digits),
];

/// What a verified incoming-message webhook says.
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

impl InboundParams {
    /// Parses the decoded form parameters; anything Plivo would not send this way is an error: a
    /// parameter given twice, a number that is not a phone number, a `MessageUUID` that is not a
    /// UUID, a `Type` or `MessageIntent` Plivo does not send, media that are not http(s) URLs,
    /// numbered with gaps, or disagreeing with `MediaCount`.
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, InvalidParam> {
        let params = WebhookParams::parse_with_text(pairs, DOCUMENTED, &["Text", "Body"])?;
        params.check_all(GRAMMARS)?;
        let number = |name: &str| -> Result<String, InvalidParam> {
            let value = params.required(name)?;
            if !is_number(value) {
                return Err(InvalidParam::new(name, "is not a phone number"));
            }
            crate::domain::normalize_number(value)
                .ok_or_else(|| InvalidParam::new(name, "is not a valid E.164 number"))
        };
        let from = number("From")?;
        let to = number("To")?;
        let message_uuid = params.required("MessageUUID")?;
        if !is_uuid(message_uuid) {
            return Err(InvalidParam::new(
                "MessageUUID",
                "is not a Plivo message UUID",
            ));
        }
        if !matches!(params.required("Type")?, "sms" | "mms") {
            return Err(InvalidParam::new("Type", "is not sms or mms"));
        }
        let intent = match params.get("MessageIntent") {
            None | Some("") => None,
            Some(i @ ("optout" | "optin" | "help")) => Some(i.to_owned()),
            Some(_) => {
                return Err(InvalidParam::new(
                    "MessageIntent",
                    "is not optout, optin, help or empty",
                ))
            }
        };
        let text = [params.get("Text"), params.get("Body")]
            .into_iter()
            .flatten()
            .find(|t| !t.is_empty())
            .map(str::to_owned);
        let media_urls = media(&params)?;
        Ok(Self {
            from,
            to,
            message_uuid: message_uuid.to_owned(),
            text,
            media_urls,
            intent,
        })
    }
}

/// `Media<n>` in order of `n`, numbered from 0 or from 1 without gaps, each an http(s) URL, as many
/// as `MediaCount` says (required when there are media).
fn media(params: &WebhookParams) -> Result<Vec<String>, InvalidParam> {
    let numbered: Vec<(usize, &str)> = (0..=MAX_MEDIA)
        .filter_map(|n| params.get(&format!("Media{n}")).map(|v| (n, v)))
        .collect();
    let count = params.get("MediaCount").filter(|c| !c.is_empty());
    let Some(&(first, _)) = numbered.first() else {
        return match count {
            None | Some("0") => Ok(Vec::new()),
            Some(_) => Err(InvalidParam::new(
                "MediaCount",
                "is not the number of Media parameters",
            )),
        };
    };
    let contiguous = numbered
        .iter()
        .enumerate()
        .all(|(i, (n, _))| *n == first + i);
    if first > 1 || !contiguous || numbered.len() > MAX_MEDIA {
        return Err(InvalidParam::new(
            "MediaCount",
            "Media parameters must be numbered from 0 or 1 without gaps, at most 10",
        ));
    }
    if count.and_then(|c| c.parse::<usize>().ok()) != Some(numbered.len()) {
        return Err(InvalidParam::new(
            "MediaCount",
            "is not the number of Media parameters",
        ));
    }
    numbered
        .into_iter()
        .map(|(n, value)| {
            url::Url::parse(value)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
                .map(|_| value.to_owned())
                .ok_or_else(|| InvalidParam::new(&format!("Media{n}"), "is not an http(s) URL"))
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
                (numbering[1], "https://media.example.com/B.png"),
                (numbering[0], "https://media.example.com/a.png"),
            ]);
            let parsed = InboundParams::parse(&p).unwrap();
            assert_eq!(
                parsed.media_urls,
                [
                    "https://media.example.com/a.png",
                    "https://media.example.com/B.png"
                ]
            );
            assert_eq!(parsed.from, "+14155551234");
            assert_eq!(parsed.to, "+14155550100");
            assert_eq!(parsed.text.as_deref(), Some("look"));
            assert_eq!(parsed.intent, None);
        }
    }

    #[test]
    fn text_comes_from_text_or_body_and_may_span_lines() {
        let sms = InboundParams::parse(&with(&[("Text", "STOP"), ("MessageIntent", "optout")]));
        let sms = sms.unwrap();
        assert_eq!(sms.text.as_deref(), Some("STOP"));
        assert_eq!(sms.intent.as_deref(), Some("optout"));
        assert_eq!(InboundParams::parse(&with(&[])).unwrap().text, None);
        let lines = InboundParams::parse(&with(&[("Text", "one\r\ntwo\tthree")])).unwrap();
        assert_eq!(lines.text.as_deref(), Some("one\r\ntwo\tthree"));
    }

    #[test]
    fn what_plivo_does_not_send_is_refused() {
        let cases: &[&[(&str, &str)]] = &[
            &[("MediaCount", "1")],
            &[("Media0", "https://m.example.com/a")],
            &[("MediaCount", "x"), ("Media0", "https://m.example.com/a")],
            &[("MediaCount", "1"), ("Media0", "ftp://m.example.com/a")],
            &[
                ("MediaCount", "2"),
                ("Media0", "https://a.example.com"),
                ("Media2", "https://b.example.com"),
            ],
            &[("MediaCount", "1"), ("Media2", "https://b.example.com")],
            &[("Media11", "https://b.example.com")],
            &[("MessageIntent", "maybe")],
            &[("From", "14155551235")],
            &[("Units", "one")],
            &[("Body", "a\u{0}b")],
        ];
        for extra in cases {
            assert!(InboundParams::parse(&with(extra)).is_err(), "{extra:?}");
        }
        for (name, bad) in [
            ("From", "not-a-number"),
            ("To", ""),
            ("To", "1415"),
            ("MessageUUID", "abc"),
            ("Type", "fax"),
        ] {
            let p: Vec<_> = BASE
                .iter()
                .map(|(k, v)| (*k, if *k == name { bad } else { *v }))
                .collect();
            let err = InboundParams::parse(&params(&p)).unwrap_err();
            assert_eq!(err.name, name, "{name}");
        }
        // Type is required: a re-split that moved it into the text fails.
        let no_type: Vec<_> = BASE.iter().copied().filter(|(k, _)| *k != "Type").collect();
        assert_eq!(
            InboundParams::parse(&params(&no_type)).unwrap_err().name,
            "Type"
        );
    }
}
