//! Bulk sends: several recipients in one Plivo call (`dst` joined with `<`), and Plivo's UUIDs
//! mapped back to them.

use crate::plivo::SendMessageResponse;

/// The most recipients put in one Plivo call (Plivo takes up to 1000).
pub const RECIPIENTS_PER_CALL: usize = 100;

/// What Plivo's answer says of one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignment {
    /// Queued under this message UUID.
    Queued(String),
    /// Listed in `invalid_number`.
    Invalid,
    /// Plivo accepted the call but gave fewer UUIDs than valid recipients.
    Unaccounted,
}

/// `dst` for several recipients.
pub fn join_destinations<'a>(recipients: impl IntoIterator<Item = &'a str>) -> String {
    recipients.into_iter().collect::<Vec<_>>().join("<")
}

fn digits(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

/// Maps Plivo's UUIDs to recipients: one UUID per valid destination, in the order sent, skipping
/// those Plivo lists in `invalid_number` (compared by digits, since Plivo strips `+`).
pub fn assign(recipients: &[&str], response: &SendMessageResponse) -> Vec<Assignment> {
    let invalid: Vec<String> = response
        .invalid_number
        .iter()
        .flatten()
        .map(|n| digits(n))
        .collect();
    let mut uuids = response.message_uuid.iter();
    recipients
        .iter()
        .map(|r| {
            if invalid.contains(&digits(r)) {
                Assignment::Invalid
            } else {
                uuids
                    .next()
                    .map_or(Assignment::Unaccounted, |u| Assignment::Queued(u.clone()))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(uuids: &[&str], invalid: Option<&[&str]>) -> SendMessageResponse {
        SendMessageResponse {
            api_id: None,
            message: "message(s) queued".into(),
            message_uuid: uuids.iter().map(|s| (*s).to_owned()).collect(),
            invalid_number: invalid.map(|i| i.iter().map(|s| (*s).to_owned()).collect()),
        }
    }

    #[test]
    fn uuids_follow_the_valid_recipients_in_order() {
        let recipients = ["+14155550101", "+14155550001", "+14155550102"];
        let got = assign(
            &recipients,
            &response(&["u1", "u2"], Some(&["14155550001"])),
        );
        assert_eq!(
            got,
            [
                Assignment::Queued("u1".into()),
                Assignment::Invalid,
                Assignment::Queued("u2".into())
            ]
        );
        assert_eq!(
            join_destinations(recipients),
            "+14155550101<+14155550001<+14155550102"
        );
    }

    #[test]
    fn missing_uuids_are_not_guessed() {
        let got = assign(&["+14155550101", "+14155550102"], &response(&["u1"], None));
        assert_eq!(
            got,
            [Assignment::Queued("u1".into()), Assignment::Unaccounted]
        );
    }
}
