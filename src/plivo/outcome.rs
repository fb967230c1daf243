//! What Plivo's answers mean, decided once: the class of an HTTP status, and what one attempt
//! tells about the message. The retry policy, the final error of a send, the delivery workers and
//! the metrics all read these (docs/plivo-api.md, "Send Message": status codes).

use super::error::AttemptError;

/// The class of a non-2xx status Plivo answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    /// 400, 404: Plivo refused the message; never retried.
    Rejected,
    /// 401, 403: Plivo refused our credentials or permissions; never retried.
    AuthFailed,
    /// 429: over Plivo's limits; retried.
    RateLimited,
    /// 5xx: Plivo failed; retried.
    ServerError,
    /// Anything else (another 4xx, a 3xx): not expected, never retried.
    Unexpected,
}

impl StatusClass {
    /// The class of `status`.
    pub fn of(status: u16) -> Self {
        match status {
            400 | 404 => Self::Rejected,
            401 | 403 => Self::AuthFailed,
            429 => Self::RateLimited,
            500..=599 => Self::ServerError,
            _ => Self::Unexpected,
        }
    }

    /// Whether another attempt may succeed.
    pub fn is_transient(self) -> bool {
        matches!(self, Self::RateLimited | Self::ServerError)
    }
}

/// What one attempt tells about the message: the one classification the synchronous path and
/// the delivery workers share (docs/api.md, "Delivery truth": unknown outcomes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Plivo took the message: a 2xx with its JSON.
    Accepted,
    /// The request may have reached Plivo without a complete, readable answer: a timeout, or a
    /// 2xx whose body cannot be read. Plivo may hold the message; a resend could duplicate it.
    Unknown,
    /// Plivo did not take it and another attempt may succeed: 429, 5xx, a connection that could
    /// not be made or broke, no slot within the limits.
    Retryable,
    /// Plivo refused it for good (every other status): never resent.
    Permanent,
}

impl AttemptOutcome {
    /// The outcome of one attempt.
    pub fn of<T>(result: &Result<T, AttemptError>) -> Self {
        match result {
            Ok(_) => Self::Accepted,
            Err(AttemptError::Timeout | AttemptError::Decode { .. }) => Self::Unknown,
            Err(AttemptError::Network(_) | AttemptError::NoSlot { .. }) => Self::Retryable,
            Err(AttemptError::Status { status, .. }) if StatusClass::of(*status).is_transient() => {
                Self::Retryable
            }
            Err(AttemptError::Status { .. }) => Self::Permanent,
        }
    }
}

/// The `outcome` label of `mms_gateway_plivo_requests_total` for one attempt (a fixed set).
pub fn metric_label<T>(result: &Result<T, AttemptError>) -> &'static str {
    match result {
        Ok(_) => "accepted",
        Err(AttemptError::Status { status, .. }) => match StatusClass::of(*status) {
            StatusClass::Rejected => "rejected",
            StatusClass::AuthFailed => "auth_failed",
            StatusClass::RateLimited => "rate_limited",
            StatusClass::ServerError => "server_error",
            StatusClass::Unexpected => "unexpected_status",
        },
        Err(AttemptError::Timeout) => "timeout",
        Err(AttemptError::Network(_)) => "network_error",
        Err(AttemptError::Decode { .. }) => "unreadable_answer",
        Err(AttemptError::NoSlot { .. }) => "no_slot",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> Result<(), AttemptError> {
        Err(AttemptError::Status {
            status,
            message: String::new(),
            api_id: None,
            retry_after: None,
        })
    }

    #[test]
    fn every_status_has_one_class() {
        for (s, class) in [
            (400, StatusClass::Rejected),
            (404, StatusClass::Rejected),
            (401, StatusClass::AuthFailed),
            (403, StatusClass::AuthFailed),
            (429, StatusClass::RateLimited),
            (500, StatusClass::ServerError),
            (599, StatusClass::ServerError),
            (302, StatusClass::Unexpected),
            (409, StatusClass::Unexpected),
            (422, StatusClass::Unexpected),
        ] {
            assert_eq!(StatusClass::of(s), class, "{s}");
        }
    }

    #[test]
    fn an_unreadable_2xx_is_an_unknown_outcome_for_both_paths() {
        use AttemptOutcome::*;
        let unreadable: Result<(), _> = Err(AttemptError::Decode {
            status: 202,
            detail: "x".into(),
        });
        assert_eq!(AttemptOutcome::of(&unreadable), Unknown);
        assert_eq!(
            AttemptOutcome::of(&Err::<(), _>(AttemptError::Timeout)),
            Unknown
        );
        assert_eq!(AttemptOutcome::of(&Ok::<(), AttemptError>(())), Accepted);
        assert_eq!(AttemptOutcome::of(&status(503)), Retryable);
        assert_eq!(AttemptOutcome::of(&status(429)), Retryable);
        assert_eq!(
            AttemptOutcome::of(&Err::<(), _>(AttemptError::Network("refused".into()))),
            Retryable
        );
        assert_eq!(AttemptOutcome::of(&status(400)), Permanent);
        assert_eq!(AttemptOutcome::of(&status(409)), Permanent);
    }

    #[test]
    fn metric_labels() {
        assert_eq!(metric_label(&status(400)), "rejected");
        assert_eq!(metric_label(&status(403)), "auth_failed");
        assert_eq!(metric_label(&status(429)), "rate_limited");
        assert_eq!(metric_label(&status(503)), "server_error");
        assert_eq!(metric_label(&status(302)), "unexpected_status");
        let err = |e| Err::<(), _>(e);
        assert_eq!(
            metric_label(&err(AttemptError::Network("x".into()))),
            "network_error"
        );
        assert_eq!(metric_label(&err(AttemptError::Timeout)), "timeout");
        let unreadable = AttemptError::Decode {
            status: 202,
            detail: "x".into(),
        };
        assert_eq!(metric_label(&err(unreadable)), "unreadable_answer");
        assert_eq!(metric_label(&Ok::<(), AttemptError>(())), "accepted");
    }
}
