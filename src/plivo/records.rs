//! Plivo's Message Detail Records: Get Message and List Messages (`docs/plivo-api.md` §6.1, §6.2,
//! §10), the judge of what Plivo really accepted.

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// One message as Plivo records it (the fields this service reads).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MessageDetail {
    /// Plivo's UUID of the message.
    pub message_uuid: String,
    /// `queued`, `sent`, `failed`, `delivered`, `undelivered`, `rejected`, …
    pub message_state: String,
    /// `null` until final, `"000"` when delivered, else Plivo's error code.
    #[serde(default)]
    pub error_code: Option<String>,
    /// Digits as Plivo stores them (masked when sent with `log=false`).
    #[serde(default)]
    pub to_number: Option<String>,
    /// Digits as Plivo stores them.
    #[serde(default)]
    pub from_number: Option<String>,
    /// `YYYY-MM-DD HH:MM:SS[.ffffff]+HH:MM`.
    #[serde(default)]
    pub message_time: Option<String>,
}

/// One page of List Messages.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MessageList {
    /// Paging information.
    #[serde(default)]
    pub meta: ListMeta,
    /// The messages of this page.
    #[serde(default)]
    pub objects: Vec<MessageDetail>,
}

/// `meta` of a List Messages page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ListMeta {
    /// The next page's path, `null` on the last page.
    #[serde(default)]
    pub next: Option<String>,
}

/// The List Messages query the reconciler asks (README "Delivery guarantees").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// The recipient, E.164 (sent as digits without `+`).
    pub to_number: String,
    /// The sender, E.164 (digits without `+`); `None` with a Powerpack.
    pub from_number: Option<String>,
    /// The Powerpack, instead of `from_number`.
    pub powerpack_id: Option<String>,
    /// Messages created at or after this time (UTC).
    pub since: DateTime<Utc>,
    /// Page offset (pages are 20 long).
    pub offset: u32,
}

/// Plivo's page size limit.
pub const LIST_PAGE: u32 = 20;

impl ListQuery {
    /// The query parameters, in a fixed order.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let mut params = vec![("to_number", digits(&self.to_number))];
        match (&self.powerpack_id, &self.from_number) {
            (Some(powerpack), _) => params.push(("powerpack_id", powerpack.clone())),
            (None, Some(from)) => params.push(("from_number", digits(from))),
            (None, None) => {}
        }
        params.push(("message_type", "mms".to_owned()));
        params.push(("message_direction", "outbound".to_owned()));
        params.push((
            "message_time__gte",
            self.since.format("%Y-%m-%d %H:%M:%S").to_string(),
        ));
        params.push(("limit", LIST_PAGE.to_string()));
        params.push(("offset", self.offset.to_string()));
        params
    }
}

/// `+14155551234` → `14155551234`.
pub fn digits(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_list_query_has_the_documented_shape() {
        let q = ListQuery {
            to_number: "+14155551234".into(),
            from_number: Some("+14155550100".into()),
            powerpack_id: None,
            since: Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap(),
            offset: 0,
        };
        let params: Vec<String> = q
            .params()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(
            params,
            [
                "to_number=14155551234",
                "from_number=14155550100",
                "message_type=mms",
                "message_direction=outbound",
                "message_time__gte=2026-03-04 05:06:07",
                "limit=20",
                "offset=0"
            ]
        );
        let pp = ListQuery {
            powerpack_id: Some("pp-1".into()),
            ..q
        };
        assert!(pp.params().contains(&("powerpack_id", "pp-1".to_owned())));
        assert!(!pp.params().iter().any(|(k, _)| *k == "from_number"));
    }

    #[test]
    fn reads_a_documented_list_page() {
        let page: MessageList = serde_json::from_str(
            r#"{"api_id":"x","meta":{"limit":20,"next":null,"offset":0,"previous":null},
                "objects":[{"message_uuid":"u1","message_state":"delivered","error_code":"000",
                "to_number":"14155551234","from_number":"14155550100","units":1,
                "message_time":"2026-01-01 00:00:00+00:00"}]}"#,
        )
        .unwrap();
        assert_eq!(page.objects.len(), 1);
        assert_eq!(page.objects[0].error_code.as_deref(), Some("000"));
        assert_eq!(page.meta.next, None);
    }
}
