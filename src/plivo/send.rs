//! Sending with retries: the policy of `retry.rs` applied around [`PlivoApi`].

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use super::client::PlivoApi;
use super::error::{AttemptError, PlivoError};
use super::limiter::Limiter;
use super::outcome::AttemptOutcome;
use super::retry::{backoff, Decision, RetryPolicy};
use super::types::{MessageContent, MessageDefaults, SendMessageBody, SendMessageResponse};

/// A successful send and how many attempts it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Plivo's answer.
    pub response: SendMessageResponse,
    /// Attempts made, the successful one included.
    pub attempts: u32,
    /// An earlier attempt timed out after the request went out: Plivo may have queued the message
    /// twice.
    pub uncertain: bool,
}

/// Plivo's API with the contract's retry policy around it, within Plivo's limits; it also builds
/// the request bodies (with the account's [`MessageDefaults`]).
#[derive(Clone)]
pub struct RetryingSender {
    api: Arc<dyn PlivoApi>,
    policy: RetryPolicy,
    defaults: Arc<MessageDefaults>,
    metrics: Option<crate::metrics::Metrics>,
    limiter: Option<Arc<Limiter>>,
}

/// How long a synchronous request waits for a slot within Plivo's limits before answering 503.
pub const SYNC_SLOT_WAIT: Duration = Duration::from_secs(5);

/// Pause after a 429 that gave no `Retry-After`.
const DEFAULT_429_PAUSE: Duration = Duration::from_secs(1);

impl RetryingSender {
    /// Wraps `api` with `policy`.
    pub fn new(api: Arc<dyn PlivoApi>, policy: RetryPolicy) -> Self {
        Self {
            api,
            policy,
            defaults: Arc::default(),
            metrics: None,
            limiter: None,
        }
    }

    /// Makes every attempt wait for a slot within Plivo's limits.
    pub fn with_limiter(mut self, limiter: Arc<Limiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Sets what every body carries (the status callback URL, …).
    pub fn with_defaults(mut self, defaults: MessageDefaults) -> Self {
        self.defaults = Arc::new(defaults);
        self
    }

    /// The retry policy (also the backoff of the delivery workers).
    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// The request body for `content` from `src` to `dst` (see [`SendMessageBody::new`]).
    pub fn body<U: AsRef<str>, I: AsRef<str>>(
        &self,
        src: &str,
        dst: String,
        content: MessageContent<'_, U, I>,
    ) -> SendMessageBody {
        SendMessageBody::new(&self.defaults, src, dst, content)
    }

    /// One request to Plivo: waits (at most `max_wait`) for a slot within the limits, sends, counts
    /// it, and pauses every sender after a 429.
    pub async fn attempt(
        &self,
        body: &SendMessageBody,
        max_wait: Duration,
    ) -> Result<SendMessageResponse, AttemptError> {
        self.attempt_unless(body, max_wait, std::future::pending())
            .await
    }

    /// Like [`RetryingSender::attempt`], but gives up with `NoSlot` (nothing sent) when
    /// `cancelled` completes while still waiting for a slot; once sending, it finishes.
    pub async fn attempt_unless(
        &self,
        body: &SendMessageBody,
        max_wait: Duration,
        cancelled: impl std::future::Future<Output = ()>,
    ) -> Result<SendMessageResponse, AttemptError> {
        let _permit = match &self.limiter {
            Some(limiter) => {
                let permit = tokio::select! {
                    permit = limiter.acquire(max_wait) => permit,
                    () = cancelled => {
                        return Err(AttemptError::NoSlot { retry_after: Duration::ZERO });
                    }
                };
                Some(permit.map_err(|s| AttemptError::NoSlot {
                    retry_after: s.retry_after,
                })?)
            }
            None => None,
        };
        let result = self.api.send_message(body).await;
        if let Some(metrics) = &self.metrics {
            metrics.record_plivo_attempt(super::outcome::metric_label(&result));
        }
        if let (
            Err(AttemptError::Status {
                status: 429,
                retry_after,
                ..
            }),
            Some(limiter),
        ) = (&result, &self.limiter)
        {
            let pause = retry_after.unwrap_or(DEFAULT_429_PAUSE);
            limiter.pause_until(tokio::time::Instant::now() + pause);
        }
        result
    }

    /// Counts every attempt (by outcome) and every retry in `metrics`.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Sends, retrying transient failures; at most `1 + max_retries` attempts.
    pub async fn send(&self, body: &SendMessageBody) -> Result<Sent, PlivoError> {
        let mut retries = 0;
        let mut uncertain = false;
        loop {
            let err = match self.attempt(body, SYNC_SLOT_WAIT).await {
                Ok(response) => {
                    return Ok(Sent {
                        response,
                        attempts: retries + 1,
                        uncertain,
                    })
                }
                Err(err @ AttemptError::NoSlot { .. }) => {
                    tracing::warn!("no slot within Plivo's limits in time");
                    return Err(PlivoError::from_last_attempt(err, Duration::ZERO));
                }
                Err(err) => err,
            };
            uncertain |= err.outcome() == AttemptOutcome::Unknown;
            let jitter = rand::thread_rng().gen_range(0.0..=1.0);
            match self.policy.decide(retries, err.failure(), jitter) {
                Decision::Retry(delay) => {
                    tracing::warn!(
                        plivo.attempt = retries + 1,
                        retry_in_ms = delay.as_millis() as u64,
                        error = %err,
                        "Plivo attempt failed; retrying"
                    );
                    tokio::time::sleep(delay).await;
                    retries += 1;
                    if let Some(metrics) = &self.metrics {
                        metrics.record_plivo_retry();
                    }
                }
                Decision::GiveUp => {
                    let next = backoff(self.policy.base, retries, jitter);
                    tracing::warn!(plivo.attempts = retries + 1, error = %err, "Plivo send failed");
                    if uncertain && err.outcome() != AttemptOutcome::Unknown {
                        // An earlier attempt's outcome is unknown: Plivo may have it, so the
                        // answer must not say "nothing was sent".
                        return Err(PlivoError::Timeout);
                    }
                    return Err(PlivoError::from_last_attempt(err, next));
                }
            }
        }
    }
}
