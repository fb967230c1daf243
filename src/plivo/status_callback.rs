//! A message status callback as Plivo posts it (`docs/plivo-api.md` §4), parsed strictly.

use super::webhook_params::{
    is_decimal, is_digits, is_ip, is_lower_text, is_number, is_plivo_time, is_uuid, InvalidParam,
    Rule, WebhookParams,
};

/// Every parameter Plivo documents for status callbacks (SMS, MMS and WhatsApp).
pub const DOCUMENTED: &[&str] = &[
    "MessageUUID",
    "To",
    "From",
    "Type",
    "Status",
    "Units",
    "TotalRate",
    "TotalAmount",
    "MCC",
    "MNC",
    "ErrorCode",
    "ParentMessageUUID",
    "PartInfo",
    "Sequence",
    "MessageTime",
    "QueuedTime",
    "SentTime",
    "DeliveryReportTime",
    "requester_ip",
    "PowerpackUUID",
    "ConversationID",
    "ConversationOrigin",
    "ConversationExpirationTimestamp",
];

/// Plivo's message states (`read` is WhatsApp's, `rejected` older docs').
pub const STATES: &[&str] = &[
    "queued",
    "sent",
    "failed",
    "delivered",
    "undelivered",
    "read",
    "rejected",
];

/// The grammar of each documented parameter other than `MessageUUID` and `Status`.
const GRAMMARS: &[Rule] = &[
    ("To", "a phone number", is_number),
    ("From", "a phone number", is_number),
    ("Type", "sms, mms or whatsapp", is_message_type),
    ("Units", "digits", is_digits),
    ("TotalRate", "a decimal amount", is_decimal),
    ("TotalAmount", "a decimal amount", is_decimal),
    ("MCC", "digits", is_digits),
    ("MNC", "digits", is_digits),
    ("ErrorCode", "digits", is_digits),
    ("ParentMessageUUID", "a UUID", is_uuid),
    ("PartInfo", "Plivo's part information", is_lower_text),
    ("Sequence", "digits", is_digits),
    ("MessageTime", "a time (YYYY-mm-dd HH:MM:SS)", is_plivo_time),
    ("QueuedTime", "a time (YYYY-mm-dd HH:MM:SS)", is_plivo_time),
    ("SentTime", "a time (YYYY-mm-dd HH:MM:SS)", is_plivo_time),
    (
        "DeliveryReportTime",
        "a time (YYYY-mm-dd HH:MM:SS)",
        is_plivo_time,
    ),
    ("requester_ip", "an IP address", is_ip),
    ("PowerpackUUID", "a UUID", is_uuid),
    ("ConversationID", "a conversation id", is_lower_text),
    ("ConversationOrigin", "a conversation origin", is_lower_text),
    (
        "ConversationExpirationTimestamp",
        "a time",
        is_time_or_digits,
    ),
];

/// What a verified status callback says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCallback {
    /// The message's UUID.
    pub message_uuid: String,
    /// One of [`STATES`].
    pub status: String,
    /// Plivo's error code, when given and not empty.
    pub error_code: Option<String>,
    /// The sender Plivo used, when given.
    pub from: Option<String>,
}

impl StatusCallback {
    /// Parses the decoded form parameters; any parameter Plivo would not send this way is an error.
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, InvalidParam> {
        let params = WebhookParams::parse(pairs, DOCUMENTED)?;
        let message_uuid = params.required("MessageUUID")?;
        if !is_uuid(message_uuid) {
            return Err(InvalidParam::new(
                "MessageUUID",
                "is not a Plivo message UUID",
            ));
        }
        let status = params.required("Status")?;
        if !STATES.contains(&status) {
            return Err(InvalidParam::new("Status", "is not one of Plivo's states"));
        }
        params.check_all(GRAMMARS)?;
        Ok(Self {
            message_uuid: message_uuid.to_owned(),
            status: status.to_owned(),
            error_code: params
                .get("ErrorCode")
                .filter(|c| !c.is_empty())
                .map(str::to_owned),
            from: params
                .get("From")
                .filter(|f| !f.is_empty())
                .map(str::to_owned),
        })
    }
}

fn is_message_type(v: &str) -> bool {
    matches!(v, "sms" | "mms" | "whatsapp")
}

fn is_time_or_digits(v: &str) -> bool {
    is_plivo_time(v) || is_digits(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "db3ce55a-7f1d-11e1-8ea7-1231380bc196";

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn full(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut p = pairs(&[
            ("MessageUUID", UUID),
            ("To", "14155551234"),
            ("From", "14155550100"),
            ("Type", "mms"),
            ("Status", "undelivered"),
            ("Units", "1"),
            ("TotalRate", "0.02000"),
            ("TotalAmount", "0.02000"),
            ("MCC", "310"),
            ("MNC", "004"),
            ("ParentMessageUUID", UUID),
            ("PartInfo", "1 of 1"),
            ("Sequence", "3"),
            ("MessageTime", "2024-08-21 18:28:49.244057"),
            ("QueuedTime", "2024-08-21 18:28:49.244057"),
            ("SentTime", ""),
            ("PowerpackUUID", ""),
            ("requester_ip", "203.0.113.7"),
        ]);
        p.extend(pairs(extra));
        p
    }

    #[test]
    fn a_callback_as_plivo_sends_it_parses() {
        let c = StatusCallback::parse(&full(&[
            ("ErrorCode", "80"),
            ("DeliveryReportTime", "2024-08-21 18:28:50.1"),
        ]))
        .expect("parsed");
        assert_eq!(c.message_uuid, UUID);
        assert_eq!(c.status, "undelivered");
        assert_eq!(c.error_code.as_deref(), Some("80"));
        assert_eq!(c.from.as_deref(), Some("14155550100"));
    }

    #[test]
    fn the_error_code_moved_into_the_report_time_is_refused() {
        // Same signed string as DeliveryReportTime=<t>, ErrorCode=80.
        let e = StatusCallback::parse(&full(&[(
            "DeliveryReportTime",
            "2024-08-21 18:28:50.1ErrorCode80",
        )]))
        .unwrap_err();
        assert_eq!(e.name, "DeliveryReportTime");
    }

    #[test]
    fn values_outside_plivos_grammar_are_refused() {
        for (name, value) in [
            ("Status", "bogus"),
            ("Status", "Delivered"),
            ("ErrorCode", "30x"),
            ("SentTime", "yesterday"),
            ("MessageUUID", "not-a-uuid"),
            ("Type", "fax"),
            ("ErrorCode8", "0"),
        ] {
            let mut p = full(&[]);
            p.retain(|(k, _)| k != name);
            p.push((name.to_owned(), value.to_owned()));
            assert!(StatusCallback::parse(&p).is_err(), "{name}={value}");
        }
    }

    #[test]
    fn message_uuid_and_status_are_required() {
        let mut p = full(&[]);
        p.retain(|(k, _)| k != "Status");
        assert_eq!(StatusCallback::parse(&p).unwrap_err().name, "Status");
        let p = pairs(&[("Status", "sent")]);
        assert_eq!(StatusCallback::parse(&p).unwrap_err().name, "MessageUUID");
    }

    #[test]
    fn empty_optional_values_are_accepted() {
        let c = StatusCallback::parse(&pairs(&[
            ("MessageUUID", UUID),
            ("Status", "sent"),
            ("ErrorCode", ""),
        ]))
        .expect("parsed");
        assert_eq!(c.error_code, None);
    }
}
