//! Sending with retries: the policy of `retry.rs` applied around [`PlivoApi`].

use std::sync::Arc;

use rand::Rng;

use super::client::PlivoApi;
use super::error::PlivoError;
use super::retry::{backoff, Decision, RetryPolicy};
use super::types::{SendMessageBody, SendMessageResponse};

/// A successful send and how many attempts it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Plivo's answer.
    pub response: SendMessageResponse,
    /// Attempts made, the successful one included.
    pub attempts: u32,
}

/// Plivo's API with the contract's retry policy around it.
#[derive(Clone)]
pub struct RetryingSender {
    api: Arc<dyn PlivoApi>,
    policy: RetryPolicy,
    metrics: Option<crate::metrics::Metrics>,
}

impl RetryingSender {
    /// Wraps `api` with `policy`.
    pub fn new(api: Arc<dyn PlivoApi>, policy: RetryPolicy) -> Self {
        Self {
            api,
            policy,
            metrics: None,
        }
    }

    /// Counts every attempt (by outcome) and every retry in `metrics`.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Sends, retrying transient failures; at most `1 + max_retries` attempts.
    pub async fn send(&self, body: &SendMessageBody) -> Result<Sent, PlivoError> {
        let mut retries = 0;
        loop {
            let result = self.api.send_message(body).await;
            if let Some(metrics) = &self.metrics {
                metrics.record_plivo_attempt(&result);
            }
            let err = match result {
                Ok(response) => {
                    return Ok(Sent {
                        response,
                        attempts: retries + 1,
                    })
                }
                Err(err) => err,
            };
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
                    return Err(PlivoError::from_last_attempt(err, next));
                }
            }
        }
    }
}
