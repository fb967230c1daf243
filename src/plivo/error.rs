//! How a send to Plivo can fail: per attempt, and as a whole after retries.

use std::time::Duration;

use super::outcome::{AttemptOutcome, StatusClass};
use super::retry::Failure;
// Plivo's text may quote a phone number; it is masked wherever an error is displayed (logs).
use crate::domain::mask_numbers;

/// One attempt's failure, before the retry policy looks at it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttemptError {
    /// Plivo answered with a non-2xx status.
    #[error("Plivo answered {status}: {}", mask_numbers(.message))]
    Status {
        /// The HTTP status.
        status: u16,
        /// Plivo's `error` text (or the start of a non-JSON body).
        message: String,
        /// Plivo's `api_id`, when the body had one.
        api_id: Option<String>,
        /// The `Retry-After` header, when there was one.
        retry_after: Option<Duration>,
    },
    /// The attempt ran out of time; Plivo may or may not have received it.
    #[error("Plivo did not answer in time")]
    Timeout,
    /// The connection failed or broke before an answer.
    #[error("could not reach Plivo: {}", mask_numbers(.0))]
    Network(String),
    /// No slot within Plivo's limits came free in time; nothing was sent.
    #[error("Plivo's request limits left no slot free in time")]
    NoSlot {
        /// When a slot is expected.
        retry_after: Duration,
    },
    /// Plivo answered 2xx with a body that is not its success JSON.
    #[error("Plivo answered {status} with a body that could not be read: {}", mask_numbers(.detail))]
    Decode {
        /// The HTTP status.
        status: u16,
        /// What was wrong.
        detail: String,
    },
}

impl AttemptError {
    /// The retry policy's view of this failure.
    pub fn failure(&self) -> Failure {
        match self {
            Self::Status {
                status,
                retry_after,
                ..
            } => Failure::Status(*status, *retry_after),
            Self::Timeout => Failure::Timeout,
            Self::Network(_) | Self::NoSlot { .. } => Failure::Network,
            Self::Decode { .. } => Failure::Unreadable,
        }
    }

    /// What this failed attempt tells about the message (see [`AttemptOutcome`]).
    pub fn outcome(&self) -> AttemptOutcome {
        AttemptOutcome::of::<()>(&Err(self.clone()))
    }
}

/// Why a send failed for good; each variant is one row of the contract's status table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlivoError {
    /// Plivo refused the message (400/404); not retried.
    #[error("Plivo rejected the message: {}", mask_numbers(.message))]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// Plivo's explanation.
        message: String,
        /// Plivo's `api_id`.
        api_id: Option<String>,
    },
    /// Plivo refused our credentials or permissions (401/403).
    #[error("Plivo refused the account's credentials or permissions ({status}): {}", mask_numbers(.message))]
    AuthFailed {
        /// The HTTP status.
        status: u16,
        /// Plivo's explanation.
        message: String,
    },
    /// Plivo answered a status this service does not expect; nothing was taken.
    #[error("unexpected answer from Plivo: {}", mask_numbers(.0))]
    Unexpected(String),
    /// Plivo answered 2xx with a body that cannot be read: it may hold the message.
    #[error("unexpected answer from Plivo: {}", mask_numbers(.0))]
    Unreadable(String),
    /// Plivo kept failing (5xx/429) or could not be reached, after all retries.
    #[error("Plivo is unavailable: {}", mask_numbers(.last))]
    Unavailable {
        /// What the last attempt saw.
        last: String,
        /// When the caller may try again.
        retry_after: Duration,
    },
    /// The last attempt timed out; Plivo may have received the message.
    #[error("Plivo did not answer in time")]
    Timeout,
}

impl PlivoError {
    /// Classifies the last attempt's failure once retrying has stopped; `next_delay` is what the
    /// policy would have waited next, offered to the caller as `Retry-After`.
    pub fn from_last_attempt(err: AttemptError, next_delay: Duration) -> Self {
        match err {
            AttemptError::Status {
                status,
                message,
                api_id,
                retry_after,
            } => match StatusClass::of(status) {
                StatusClass::Rejected => Self::Rejected {
                    status,
                    message,
                    api_id,
                },
                StatusClass::AuthFailed => Self::AuthFailed { status, message },
                StatusClass::RateLimited | StatusClass::ServerError => Self::Unavailable {
                    last: format!("Plivo answered {status}: {message}"),
                    retry_after: retry_after.unwrap_or(next_delay),
                },
                StatusClass::Unexpected => {
                    Self::Unexpected(format!("Plivo answered {status}: {message}"))
                }
            },
            AttemptError::Decode { .. } => Self::Unreadable(err.to_string()),
            AttemptError::Timeout => Self::Timeout,
            AttemptError::NoSlot { retry_after } => Self::Unavailable {
                last: err.to_string(),
                retry_after,
            },
            AttemptError::Network(detail) => Self::Unavailable {
                last: format!("could not reach Plivo: {detail}"),
                retry_after: next_delay,
            },
        }
    }

    /// The error code of this failure, in the API's answer and on the message's record
    /// (docs/api.md, "Error codes").
    pub fn code(&self) -> &'static str {
        match self {
            Self::Rejected { .. } => "provider_rejected",
            Self::AuthFailed { .. } => "provider_auth_failed",
            Self::Unavailable { .. } => "provider_unavailable",
            Self::Unexpected(_) | Self::Unreadable(_) => "provider_error",
            Self::Timeout => "provider_timeout",
        }
    }

    /// The error message recorded on the message: Plivo's own words when it refused, otherwise
    /// what went wrong.
    pub fn record_text(&self) -> String {
        match self {
            Self::Rejected { message, .. } | Self::AuthFailed { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    /// Whether Plivo may have accepted the message even though this call failed: the last
    /// attempt timed out, or its 2xx could not be read.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, Self::Timeout | Self::Unreadable(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // --- hardening: numbers masked in text ---
    #[test]
    fn plivo_text_is_shown_with_numbers_masked() {
        let text = "'14155550001' is not a valid phone number.".to_owned();
        let shown = [
            AttemptError::Status {
                status: 400,
                message: text.clone(),
                api_id: None,
                retry_after: None,
            }
            .to_string(),
            PlivoError::Rejected {
                status: 400,
                message: text.clone(),
                api_id: None,
            }
            .to_string(),
            PlivoError::Unexpected(format!("Plivo answered 418: {text}")).to_string(),
            PlivoError::Unavailable {
                last: text.clone(),
                retry_after: Duration::from_secs(1),
            }
            .to_string(),
        ];
        for line in shown {
            assert!(!line.contains("4155550"), "{line}");
            assert!(line.contains("is not a valid phone number"), "{line}");
        }
    }

    fn status(status: u16, retry_after: Option<Duration>) -> AttemptError {
        AttemptError::Status {
            status,
            message: "m".into(),
            api_id: Some("a".into()),
            retry_after,
        }
    }

    #[test]
    fn maps_each_row_of_the_status_table() {
        let next = Duration::from_secs(4);
        assert!(matches!(
            PlivoError::from_last_attempt(status(400, None), next),
            PlivoError::Rejected { status: 400, .. }
        ));
        assert!(matches!(
            PlivoError::from_last_attempt(status(404, None), next),
            PlivoError::Rejected { status: 404, .. }
        ));
        assert!(matches!(
            PlivoError::from_last_attempt(status(401, None), next),
            PlivoError::AuthFailed { status: 401, .. }
        ));
        assert!(matches!(
            PlivoError::from_last_attempt(status(403, None), next),
            PlivoError::AuthFailed { status: 403, .. }
        ));
        assert!(matches!(
            PlivoError::from_last_attempt(status(409, None), next),
            PlivoError::Unexpected(_)
        ));
        assert_eq!(
            PlivoError::from_last_attempt(status(503, None), next),
            PlivoError::Unavailable {
                last: "Plivo answered 503: m".into(),
                retry_after: next
            }
        );
        assert!(matches!(
            PlivoError::from_last_attempt(status(429, Some(Duration::from_secs(45))), next),
            PlivoError::Unavailable { retry_after, .. } if retry_after == Duration::from_secs(45)
        ));
        assert_eq!(
            PlivoError::from_last_attempt(AttemptError::Timeout, next),
            PlivoError::Timeout
        );
        assert!(matches!(
            PlivoError::from_last_attempt(AttemptError::Network("refused".into()), next),
            PlivoError::Unavailable { .. }
        ));
        let unreadable = PlivoError::from_last_attempt(
            AttemptError::Decode {
                status: 202,
                detail: "x".into(),
            },
            next,
        );
        assert!(matches!(unreadable, PlivoError::Unreadable(_)));
        assert!(unreadable.outcome_unknown());
        assert!(!PlivoError::from_last_attempt(status(409, None), next).outcome_unknown());
    }

    #[test]
    fn an_unreadable_success_is_never_retried() {
        let e = AttemptError::Decode {
            status: 202,
            detail: "x".into(),
        };
        assert!(!super::super::retry::is_transient(e.failure()));
    }
}
