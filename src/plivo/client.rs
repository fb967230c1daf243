//! The HTTP client for Plivo's Message API: one attempt per call; retries live in `send.rs`.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::error::AttemptError;
use super::retry::parse_retry_after;
use super::types::{ErrorBody, SendMessageBody, SendMessageResponse};
use crate::config::PlivoConfig;

/// Plivo's Message API, one request per call. Behind a trait so tests and the sandbox can
/// replace the transport; the real one is [`PlivoClient`].
#[async_trait]
pub trait PlivoApi: Send + Sync {
    /// Sends one `POST …/Message/` and classifies the answer.
    async fn send_message(
        &self,
        body: &SendMessageBody,
    ) -> Result<SendMessageResponse, AttemptError>;
}

/// The real client: one pooled, kept-alive `reqwest::Client` with a per-attempt timeout.
#[derive(Clone)]
pub struct PlivoClient {
    http: reqwest::Client,
    message_url: Url,
    auth_id: String,
    auth_token: SecretString,
}

impl std::fmt::Debug for PlivoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlivoClient")
            .field("message_url", &self.message_url.as_str())
            .field("auth_id", &self.auth_id)
            .finish_non_exhaustive()
    }
}

impl PlivoClient {
    /// Builds the client for the configured account and base URL.
    pub fn new(config: &PlivoConfig) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(128)
            .tcp_nodelay(true)
            // A redirect would carry the message (and, to another host, nothing else that is
            // ours) away from PLIVO_API_BASE_URL: a 3xx is an unexpected answer.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mms-gateway/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            message_url: message_url(&config.base_url, &config.auth_id),
            auth_id: config.auth_id.clone(),
            auth_token: config.auth_token.clone(),
        })
    }
}

/// `{base}/v1/Account/{auth_id}/Message/`, keeping any path prefix of the base URL.
pub fn message_url(base: &Url, auth_id: &str) -> Url {
    let mut url = base.clone();
    let prefix = base.path().trim_end_matches('/');
    url.set_path(&format!("{prefix}/v1/Account/{auth_id}/Message/"));
    url.set_query(None);
    url
}

#[async_trait]
impl PlivoApi for PlivoClient {
    async fn send_message(
        &self,
        body: &SendMessageBody,
    ) -> Result<SendMessageResponse, AttemptError> {
        let response = self
            .http
            .post(self.message_url.clone())
            .basic_auth(&self.auth_id, Some(self.auth_token.expose_secret()))
            .json(body)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let (bytes, cut) = read_capped(response).await.map_err(transport_error)?;
        if (200..300).contains(&status) {
            if cut {
                return Err(AttemptError::Decode {
                    status,
                    detail: format!("the answer is larger than {MAX_ANSWER_BYTES} bytes"),
                });
            }
            let answer: SendMessageResponse =
                serde_json::from_slice(&bytes).map_err(|e| AttemptError::Decode {
                    status,
                    detail: e.to_string(),
                })?;
            return check_uuids(answer, body).map_err(|detail| AttemptError::Decode {
                status,
                detail: detail.to_owned(),
            });
        }
        let (api_id, message) = ErrorBody::parse(&bytes);
        let message = if message.chars().count() > MAX_ERROR_CHARS {
            message.chars().take(MAX_ERROR_CHARS).collect::<String>() + "…"
        } else {
            message
        };
        Err(AttemptError::Status {
            status,
            message,
            api_id,
            retry_after,
        })
    }
}

/// A success names a message UUID for every destination: one non-blank UUID per `dst` entry that
/// Plivo did not list as `invalid_number`. Anything else cannot be matched with callbacks.
fn check_uuids(
    answer: SendMessageResponse,
    body: &SendMessageBody,
) -> Result<SendMessageResponse, &'static str> {
    let destinations = body.dst.split('<').count();
    let invalid = answer.invalid_number.as_ref().map_or(0, Vec::len);
    if answer.message_uuid.iter().any(|u| u.trim().is_empty()) {
        return Err("the answer has an empty message UUID");
    }
    if answer.message_uuid.is_empty() || answer.message_uuid.len() + invalid != destinations {
        return Err("the answer does not have one message UUID for every destination");
    }
    Ok(answer)
}

/// The most of one answer this service reads. Plivo's answers are a few hundred bytes; reading a
/// misbehaving server's megabytes would only cost memory and time.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The most characters of Plivo's error text passed on (in logs and in `details`).
pub const MAX_ERROR_CHARS: usize = 500;

/// Reads the body up to [`MAX_ANSWER_BYTES`]; `true` when it was longer and was cut there.
async fn read_capped(mut response: reqwest::Response) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_ANSWER_BYTES - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

/// Turns a reqwest error into an attempt failure without ever including the URL's credentials.
fn transport_error(err: reqwest::Error) -> AttemptError {
    if err.is_timeout() {
        AttemptError::Timeout
    } else {
        let kind = if err.is_connect() {
            "connection failed"
        } else if err.is_body() || err.is_decode() {
            "the answer broke off"
        } else {
            "request failed"
        };
        let mut detail = kind.to_owned();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            detail = format!("{detail}: {cause}");
            source = cause.source();
        }
        AttemptError::Network(detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_url_keeps_the_base_path() {
        let id = "MAXXXXXXXXXXXXXXXXXX";
        let cases = [
            (
                "https://api.plivo.com",
                "https://api.plivo.com/v1/Account/MAXXXXXXXXXXXXXXXXXX/Message/",
            ),
            (
                "http://127.0.0.1:9000/",
                "http://127.0.0.1:9000/v1/Account/MAXXXXXXXXXXXXXXXXXX/Message/",
            ),
            (
                "http://h/plivo?x=1",
                "http://h/plivo/v1/Account/MAXXXXXXXXXXXXXXXXXX/Message/",
            ),
        ];
        for (base, expected) in cases {
            assert_eq!(
                message_url(&Url::parse(base).unwrap(), id).as_str(),
                expected
            );
        }
    }
}
