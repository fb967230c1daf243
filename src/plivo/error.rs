//! How a send to Plivo can fail: per attempt, and as a whole after retries.

use std::time::Duration;

use super::retry::Failure;

/// One attempt's failure, before the retry policy looks at it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttemptError {
    /// Plivo answered with a non-2xx status.
    #[error("Plivo answered {status}: {message}")]
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
    #[error("could not reach Plivo: {0}")]
    Network(String),
    /// No slot within Plivo's limits came free in time; nothing was sent.
    #[error("Plivo's request limits left no slot free in time")]
    NoSlot {
        /// When a slot is expected.
        retry_after: Duration,
    },
    /// Plivo answered 2xx with a body that is not its success JSON.
    #[error("Plivo answered {status} with a body that could not be read: {detail}")]
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
            // A 2xx that can't be read was accepted by Plivo: never resend it.
            Self::Decode { status, .. } => Failure::Status(*status, None),
        }
    }
}

// --- reconciliation ---
impl AttemptError {
    /// Whether this failed attempt may have reached Plivo: a timeout after the request was
    /// written, a connection that broke after it was written, an unreadable 2xx. Errors before the
    /// request was written (connection refused, DNS) are plain retries. The one place this is
    /// decided (README "Delivery guarantees").
    pub fn outcome_unknown(&self) -> bool {
        match self {
            Self::Timeout | Self::Decode { .. } => true,
            Self::Network(detail) => !detail.starts_with("connection failed"),
            Self::Status { .. } | Self::NoSlot { .. } => false,
        }
    }
}

/// Why a send failed for good; each variant is one row of the contract's status table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlivoError {
    /// Plivo refused the message (400/404); not retried.
    #[error("Plivo rejected the message: {message}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// Plivo's explanation.
        message: String,
        /// Plivo's `api_id`.
        api_id: Option<String>,
    },
    /// Plivo refused our credentials or permissions (401/403).
    #[error("Plivo refused the account's credentials or permissions ({status}): {message}")]
    AuthFailed {
        /// The HTTP status.
        status: u16,
        /// Plivo's explanation.
        message: String,
    },
    /// Plivo answered something this service does not expect.
    #[error("unexpected answer from Plivo: {0}")]
    Unexpected(String),
    /// Plivo kept failing (5xx/429) or could not be reached, after all retries.
    #[error("Plivo is unavailable: {last}")]
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
                status: status @ (400 | 404),
                message,
                api_id,
                ..
            } => Self::Rejected {
                status,
                message,
                api_id,
            },
            AttemptError::Status {
                status: status @ (401 | 403),
                message,
                ..
            } => Self::AuthFailed { status, message },
            AttemptError::Status {
                status,
                message,
                retry_after,
                ..
            } if status == 429 || (500..=599).contains(&status) => Self::Unavailable {
                last: format!("Plivo answered {status}: {message}"),
                retry_after: retry_after.unwrap_or(next_delay),
            },
            AttemptError::Status {
                status, message, ..
            } => Self::Unexpected(format!("Plivo answered {status}: {message}")),
            AttemptError::Decode { .. } => Self::Unexpected(err.to_string()),
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

    /// Whether Plivo may have accepted the message even though this call failed: the last
    /// attempt timed out, or Plivo answered something unexpected (e.g. an unreadable 2xx).
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, Self::Timeout | Self::Unexpected(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(matches!(
            PlivoError::from_last_attempt(
                AttemptError::Decode {
                    status: 202,
                    detail: "x".into()
                },
                next
            ),
            PlivoError::Unexpected(_)
        ));
    }

    #[test]
    fn only_attempts_that_may_have_reached_plivo_are_unknown() {
        assert!(AttemptError::Timeout.outcome_unknown());
        assert!(AttemptError::Network("the answer broke off: reset".into()).outcome_unknown());
        assert!(AttemptError::Decode {
            status: 202,
            detail: "x".into()
        }
        .outcome_unknown());
        assert!(!AttemptError::Network("connection failed: refused".into()).outcome_unknown());
        assert!(!status(503, None).outcome_unknown());
        assert!(!AttemptError::NoSlot {
            retry_after: Duration::ZERO
        }
        .outcome_unknown());
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
