//! Magic recipient numbers: scripted outcomes, so every path can be seen without a Plivo account.

/// One magic recipient number of the simulator and what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MagicNumber {
    /// The number in E.164 form, e.g. `+14155550001`.
    pub number: &'static str,
    /// What the simulator does with it, in one line (for the README).
    pub behaviour: &'static str,
}

/// Every magic number the simulator knows. Any other valid number is accepted and goes
/// queued → sent → delivered.
pub const MAGIC_NUMBERS: &[MagicNumber] = &[
    MagicNumber { number: "+14155550001", behaviour: "Plivo refuses it: 400 \"'14155550001' is not a valid phone number.\" (in a bulk send it is listed in invalid_number)" },
    MagicNumber { number: "+14155550002", behaviour: "500 on the first request, 202 on the next (the pattern repeats per request)" },
    MagicNumber { number: "+14155550003", behaviour: "429 with Retry-After: 1 on the first request, 202 on the next (repeats)" },
    MagicNumber { number: "+14155550004", behaviour: "the send hangs for hang_for (default 60 s) before answering 202, so the caller's timeout fires" },
    MagicNumber { number: "+14155550005", behaviour: "503 on every request" },
    MagicNumber { number: "+14155550006", behaviour: "403 \"Geo-permission to the destination country is not enabled\"" },
    MagicNumber { number: "+14155550010", behaviour: "202; callbacks queued → sent → undelivered (ErrorCode 80)" },
    MagicNumber { number: "+14155550011", behaviour: "202; callbacks queued → failed (ErrorCode 120, MMS too large)" },
    MagicNumber { number: "+14155550012", behaviour: "202; callbacks queued → sent → delivered, each sent twice (duplicates)" },
    MagicNumber { number: "+14155550013", behaviour: "202; callbacks out of order: queued → delivered → sent" },
    // --- reconciliation ---
    MagicNumber { number: "+14155550030", behaviour: "accepted and recorded, but the answer is lost (the connection drops) on the first request; answered on the next (repeats)" },
    MagicNumber { number: "+14155550031", behaviour: "never answers and never records on the first request (hangs for hang_for, then drops the connection); accepted on the next (repeats)" },
    MagicNumber { number: "+14155550032", behaviour: "202; callbacks queued → sent, then no receipt ever (the MDR stays sent)" },
    MagicNumber { number: "+14155550033", behaviour: "202; its callbacks queued → sent arrive before the send's answer, and no more follow" },
    // --- inbound messages and opt-outs ---
    MagicNumber { number: "+14155550020", behaviour: "delivered, then replies STOP (a signed inbound webhook to this service); from then on its messages fail with ErrorCode 200 (opted out), as Plivo's do" },
    MagicNumber { number: "+14155550021", behaviour: "delivered, then replies \"Hello back\" with one image (a signed inbound MMS webhook to this service)" },
];

// --- inbound messages and opt-outs ---

/// What a magic recipient writes back once a message to it is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    /// `STOP` (`MessageIntent=optout`); the number is opted out from then on.
    Stop,
    /// `Hello back` with one image.
    HelloBack,
}

/// The reply scripted for a sanitized destination, if any.
pub(crate) fn reply(digits: &str) -> Option<Reply> {
    match digits {
        "14155550020" => Some(Reply::Stop),
        "14155550021" => Some(Reply::HelloBack),
        _ => None,
    }
}

/// The script of a message to a destination that opted out: Plivo accepts it, then fails it with
/// error 200.
pub(crate) fn opted_out_script() -> Vec<Step> {
    vec![
        step(Status::Queued, None, 1),
        step(Status::Failed, Some("200"), 1),
    ]
}

/// What a send request containing a magic number turns into at the HTTP level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendScenario {
    /// The number is refused as invalid.
    Refuse,
    /// 500 on odd-numbered requests, 202 on even-numbered ones.
    ServerErrorOnce,
    /// 429 with `Retry-After: 1` on odd-numbered requests, 202 on even-numbered ones.
    RateLimitedOnce,
    /// Sleep `hang_for`, then accept.
    Hang,
    /// 503 every time.
    Unavailable,
    /// 403 geo permission.
    GeoForbidden,
    /// Accepted, but the answer is lost on odd-numbered requests.
    AnswerLost,
    /// No answer and no record on odd-numbered requests.
    NeverAnswers,
}

/// Whether the callbacks of a message to `digits` come before the send's answer.
pub(crate) fn early_callback(digits: &str) -> bool {
    digits == "14155550033"
}

/// The HTTP-level scenario for a sanitized destination (digits without `+`), if any.
pub(crate) fn send_scenario(digits: &str) -> Option<SendScenario> {
    Some(match digits {
        "14155550001" => SendScenario::Refuse,
        "14155550002" => SendScenario::ServerErrorOnce,
        "14155550003" => SendScenario::RateLimitedOnce,
        "14155550004" => SendScenario::Hang,
        "14155550005" => SendScenario::Unavailable,
        "14155550006" => SendScenario::GeoForbidden,
        "14155550030" => SendScenario::AnswerLost,
        "14155550031" => SendScenario::NeverAnswers,
        _ => return None,
    })
}

/// A message state as Plivo names it in callbacks and the MDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Queued,
    Sent,
    Delivered,
    Undelivered,
    Failed,
}

impl Status {
    /// Plivo's lower-case name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Sent => "sent",
            Status::Delivered => "delivered",
            Status::Undelivered => "undelivered",
            Status::Failed => "failed",
        }
    }

    /// Delivered, undelivered and failed are final.
    pub(crate) fn is_final(self) -> bool {
        matches!(
            self,
            Status::Delivered | Status::Undelivered | Status::Failed
        )
    }
}

/// One status change of a scripted message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Step {
    pub status: Status,
    /// Plivo's error code for failed/undelivered.
    pub error_code: Option<&'static str>,
    /// How many identical callbacks announce this step (2 for the duplicates script).
    pub copies: u8,
}

const fn step(status: Status, error_code: Option<&'static str>, copies: u8) -> Step {
    Step {
        status,
        error_code,
        copies,
    }
}

/// The status-callback script for a sanitized destination (digits without `+`).
pub(crate) fn callback_script(digits: &str) -> Vec<Step> {
    use Status::*;
    match digits {
        "14155550010" => vec![
            step(Queued, None, 1),
            step(Sent, None, 1),
            step(Undelivered, Some("80"), 1),
        ],
        "14155550011" => vec![step(Queued, None, 1), step(Failed, Some("120"), 1)],
        "14155550012" => vec![
            step(Queued, None, 2),
            step(Sent, None, 2),
            step(Delivered, None, 2),
        ],
        "14155550013" => vec![
            step(Queued, None, 1),
            step(Delivered, None, 1),
            step(Sent, None, 1),
        ],
        "14155550032" | "14155550033" => vec![step(Queued, None, 1), step(Sent, None, 1)],
        _ => vec![
            step(Queued, None, 1),
            step(Sent, None, 1),
            step(Delivered, None, 1),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PhoneNumber;

    #[test]
    fn every_magic_number_is_a_valid_us_number() {
        for magic in MAGIC_NUMBERS {
            assert!(PhoneNumber::parse(magic.number).is_ok(), "{}", magic.number);
            let digits = &magic.number[1..];
            let scripted = send_scenario(digits).is_some()
                || early_callback(digits)
                || reply(digits).is_some()
                || callback_script(digits).len() != 3
                || callback_script(digits)[0].copies == 2
                || callback_script(digits)[2].status != Status::Delivered;
            assert!(scripted, "{} has no script", magic.number);
        }
    }

    #[test]
    fn ordinary_numbers_get_the_default_script() {
        assert_eq!(send_scenario("14155551234"), None);
        let statuses: Vec<_> = callback_script("14155551234")
            .iter()
            .map(|s| s.status)
            .collect();
        assert_eq!(statuses, [Status::Queued, Status::Sent, Status::Delivered]);
    }
}
