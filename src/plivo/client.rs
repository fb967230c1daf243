//! The HTTP client for Plivo's Message API: one attempt per call; retries live in `send.rs`.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use reqwest::header::{HeaderValue, AUTHORIZATION};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::error::AttemptError;
use super::media::{MediaFile, MediaUploadResponse};
use super::records::{ListQuery, MessageDetail, MessageList};
use super::retry::parse_retry_after;
use super::types::{ErrorBody, SendMessageBody, SendMessageResponse};
use crate::config::PlivoConfig;

/// Plivo's Message API, one request per call. Behind a trait so tests can replace the transport
/// (e.g. `tests/bad_input.rs` counts calls); the service always uses [`PlivoClient`], also in the
/// sandbox, where it talks to the built-in simulator over HTTP.
#[async_trait]
pub trait PlivoApi: Send + Sync {
    /// Sends one `POST …/Message/` and classifies the answer.
    async fn send_message(
        &self,
        body: &SendMessageBody,
    ) -> Result<SendMessageResponse, AttemptError>;

    // --- reconciliation ---
    /// `GET …/Message/{uuid}/`: Plivo's record of one message; `None` when Plivo has none (404).
    async fn get_message(&self, message_uuid: &str) -> Result<Option<MessageDetail>, AttemptError>;

    /// `GET …/Message/?…`: one page of Plivo's records matching `query`.
    async fn list_messages(&self, query: &ListQuery) -> Result<MessageList, AttemptError>;
    // --- media uploads ---
    /// Sends one `POST …/Media/` carrying every file (one `file` part each) and classifies the
    /// answer. Transports that do not carry the Media API (test doubles of the Message API) answer
    /// 405, which the service reports as `502 provider_error`.
    async fn upload_media(&self, files: &[MediaFile]) -> Result<MediaUploadResponse, AttemptError> {
        let _ = files;
        Err(AttemptError::Status {
            status: 405,
            message: "this Plivo transport does not carry the Media API".to_owned(),
            api_id: None,
            retry_after: None,
        })
    }
}

/// The real client: one pooled, kept-alive `reqwest::Client` with a per-attempt timeout.
#[derive(Clone)]
pub struct PlivoClient {
    http: reqwest::Client,
    message_url: Url,
    media_url: Url,
    auth_id: String,
    /// `Basic base64(auth_id:auth_token)`, made once and marked sensitive (never printed).
    authorization: HeaderValue,
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
            media_url: media_url(&config.base_url, &config.auth_id),
            auth_id: config.auth_id.clone(),
            authorization: basic_authorization(&config.auth_id, &config.auth_token),
        })
    }
}

/// The `Authorization` header of every request: HTTP Basic with the Auth ID and Auth Token
/// (docs/plivo-api.md), marked sensitive so that no `Debug` of a request shows it.
fn basic_authorization(auth_id: &str, auth_token: &SecretString) -> HeaderValue {
    use base64::Engine as _;
    let credentials = format!("{auth_id}:{}", auth_token.expose_secret());
    let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
    let mut value =
        HeaderValue::try_from(format!("Basic {encoded}")).expect("base64 is a valid header value");
    value.set_sensitive(true);
    value
}

/// `{base}/v1/Account/{auth_id}/Message/`, keeping any path prefix of the base URL.
pub fn message_url(base: &Url, auth_id: &str) -> Url {
    account_url(base, auth_id, "Message/")
}

/// `{base}/v1/Account/{auth_id}/Media/` (docs/plivo-api.md §6.4).
pub fn media_url(base: &Url, auth_id: &str) -> Url {
    account_url(base, auth_id, "Media/")
}

fn account_url(base: &Url, auth_id: &str, resource: &str) -> Url {
    let mut url = base.clone();
    let prefix = base.path().trim_end_matches('/');
    url.set_path(&format!("{prefix}/v1/Account/{auth_id}/{resource}"));
    url.set_query(None);
    url
}

impl PlivoClient {
    /// One request to Plivo with the account's credentials, sent; a transport failure classified.
    async fn send(
        &self,
        request: impl FnOnce(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, AttemptError> {
        request(&self.http)
            .header(AUTHORIZATION, self.authorization.clone())
            .send()
            .await
            .map_err(transport_error)
    }
}

#[async_trait]
impl PlivoApi for PlivoClient {
    async fn send_message(
        &self,
        body: &SendMessageBody,
    ) -> Result<SendMessageResponse, AttemptError> {
        let response = self
            .send(|http| http.post(self.message_url.clone()).json(body))
            .await?;
        let status = response.status().as_u16();
        let answer: SendMessageResponse = read_answer(response).await?;
        check_uuids(answer, body).map_err(|detail| AttemptError::Decode {
            status,
            detail: detail.to_owned(),
        })
    }

    // --- reconciliation ---
    async fn get_message(&self, message_uuid: &str) -> Result<Option<MessageDetail>, AttemptError> {
        let mut url = self.message_url.clone();
        url.path_segments_mut()
            .map_err(|()| AttemptError::Network("the base URL cannot carry a path".to_owned()))?
            .pop_if_empty()
            .push(message_uuid)
            .push("");
        let response = self.send(|http| http.get(url)).await?;
        match read_answer(response).await {
            Ok(detail) => Ok(Some(detail)),
            Err(AttemptError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn list_messages(&self, query: &ListQuery) -> Result<MessageList, AttemptError> {
        let mut url = self.message_url.clone();
        url.query_pairs_mut().extend_pairs(query.params());
        let response = self.send(|http| http.get(url)).await?;
        read_answer(response).await
    }

    // --- media uploads ---
    async fn upload_media(&self, files: &[MediaFile]) -> Result<MediaUploadResponse, AttemptError> {
        let mut form = reqwest::multipart::Form::new();
        for file in files {
            let part = reqwest::multipart::Part::stream_with_length(
                reqwest::Body::from(file.bytes.clone()),
                file.bytes.len() as u64,
            )
            .file_name(file.file_name.clone())
            .mime_str(&file.content_type)
            .map_err(|_| AttemptError::Network("a file's content type is not valid".to_owned()))?;
            form = form.part("file", part);
        }
        let response = self
            .send(|http| http.post(self.media_url.clone()).multipart(form))
            .await?;
        read_answer(response).await
    }
}

/// Reads one answer of Plivo's: a 2xx body as `T`, anything else as [`AttemptError::Status`]; the
/// body is read up to [`MAX_ANSWER_BYTES`].
async fn read_answer<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, AttemptError> {
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
        return serde_json::from_slice(&bytes).map_err(|e| AttemptError::Decode {
            status,
            detail: e.to_string(),
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
    // A connection that timed out was never made: nothing was written (a plain retry).
    if err.is_timeout() && !err.is_connect() {
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
    fn the_authorization_header_is_basic_and_sensitive() {
        let token = SecretString::from("s3cr3t-token".to_owned());
        let value = basic_authorization("MAXXXXXXXXXXXXXXXXXX", &token);
        // base64("MAXXXXXXXXXXXXXXXXXX:s3cr3t-token")
        assert_eq!(value, "Basic TUFYWFhYWFhYWFhYWFhYWFhYWFg6czNjcjN0LXRva2Vu");
        assert!(value.is_sensitive());
        assert!(!format!("{value:?}").contains("TUFY"));
    }

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
