//! `MEDIA_PREFLIGHT`: before a send, every media URL is checked the way Plivo will fetch it
//! (docs/api.md, "Operations"): reachable with 2xx, a `Content-Type` Plivo carries, at most 2 MB each and 5 MB
//! with the text. Only public addresses are contacted unless `MEDIA_ALLOW_PRIVATE=true`.

pub mod resolver;

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use url::Url;

pub use crate::address_policy::{is_public, literal_ip, AddressPolicy};
use crate::config::ops::OpsConfig;
use crate::domain::OutboundMms;
use resolver::{FilteringResolver, NonPublicAddress};

/// The most one media file may weigh (2 MB, decimal: the stricter reading of Plivo's limit).
pub const MAX_MEDIA_BYTES: u64 = 2_000_000;
/// The most all media and the text together may weigh (5 MB, decimal).
pub const MAX_TOTAL_BYTES: u64 = 5_000_000;
/// Redirects followed per URL.
pub const MAX_REDIRECTS: usize = 3;

/// Which check a media URL failed; each is one error code of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaCheckKind {
    /// `media_unreachable`: no 2xx answer, a non-public address, or no size given.
    Unreachable,
    /// `media_type_unsupported`: a `Content-Type` Plivo does not carry.
    TypeUnsupported,
    /// `media_too_large`: over 2 MB, or all media with the text over 5 MB.
    TooLarge,
}

impl MediaCheckKind {
    /// The contract's error code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Unreachable => "media_unreachable",
            Self::TypeUnsupported => "media_type_unsupported",
            Self::TooLarge => "media_too_large",
        }
    }
}

/// A media URL that failed the preflight: what failed, which URL, and what was seen.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct MediaCheckError {
    /// Which check failed.
    pub kind: MediaCheckKind,
    /// The media URL.
    pub url: String,
    /// A sentence a person can act on.
    pub message: String,
    /// What was seen (status, type, size, reason), as JSON.
    pub details: Value,
}

impl MediaCheckError {
    fn new(kind: MediaCheckKind, url: &Url, message: String, details: Value) -> Self {
        Self {
            kind,
            url: url.to_string(),
            message,
            details,
        }
    }

    fn unreachable(url: &Url, reason: &str, why: &str) -> Self {
        Self::new(
            MediaCheckKind::Unreachable,
            url,
            format!("The media URL {url} {why}; Plivo could not fetch it."),
            json!({ "reason": reason }),
        )
    }
}

/// What a media URL said about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MediaInfo {
    content_type: Option<String>,
    length: Option<u64>,
}

/// How the preflight behaves.
#[derive(Debug, Clone)]
pub struct PreflightSettings {
    /// Which addresses may be contacted.
    pub policy: AddressPolicy,
    /// The time limit for each request (connecting included).
    pub timeout: Duration,
}

/// The media preflight; disabled unless `MEDIA_PREFLIGHT=true`. Cheap to clone.
#[derive(Clone, Default)]
pub struct MediaPreflight {
    checker: Option<Arc<Checker>>,
}

impl std::fmt::Debug for MediaPreflight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MediaPreflight(enabled: {})", self.is_enabled())
    }
}

struct Checker {
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
}

impl MediaPreflight {
    /// A preflight that checks nothing.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// The preflight `MEDIA_PREFLIGHT`, `MEDIA_ALLOW_PRIVATE` and `MEDIA_PREFLIGHT_TIMEOUT_MS` ask for.
    pub fn from_config(ops: &OpsConfig) -> Result<Self, reqwest::Error> {
        if !ops.media_preflight {
            return Ok(Self::disabled());
        }
        Self::new(PreflightSettings {
            policy: AddressPolicy {
                allow_private: ops.media_allow_private,
                treat_as_public: Vec::new(),
            },
            timeout: ops.media_preflight_timeout,
        })
    }

    /// An enabled preflight with these settings.
    pub fn new(settings: PreflightSettings) -> Result<Self, reqwest::Error> {
        let policy = Arc::new(settings.policy);
        let redirect_policy = Arc::clone(&policy);
        let client = reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(Arc::new(FilteringResolver::new(Arc::clone(&policy))))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() > MAX_REDIRECTS {
                    return attempt.error("too many redirects");
                }
                let url = attempt.url();
                if !matches!(url.scheme(), "http" | "https") {
                    return attempt.error("redirect to a scheme other than http or https");
                }
                match literal_ip(url) {
                    Some(ip) if !redirect_policy.allows(ip) => attempt.error(NonPublicAddress {
                        host: ip.to_string(),
                    }),
                    _ => attempt.follow(),
                }
            }))
            .connect_timeout(settings.timeout)
            .timeout(settings.timeout)
            .user_agent(concat!(
                "mms-gateway/",
                env!("CARGO_PKG_VERSION"),
                " media-preflight"
            ))
            .build()?;
        Ok(Self {
            checker: Some(Arc::new(Checker { client, policy })),
        })
    }

    /// Whether URLs are checked at all.
    pub fn is_enabled(&self) -> bool {
        self.checker.is_some()
    }

    /// Checks every media URL of `mms` at once; the first failing URL (in request order) is the
    /// error. Does nothing when the preflight is disabled. Media ids are not checked.
    pub async fn check(&self, mms: &OutboundMms) -> Result<(), MediaCheckError> {
        let Some(checker) = &self.checker else {
            return Ok(());
        };
        let urls: Vec<&Url> = mms.media.urls().iter().map(|u| u.url()).collect();
        let results =
            futures::future::join_all(urls.iter().map(|url| checker.check_one(url))).await;
        let mut total = mms.text.as_ref().map_or(0, |t| t.as_str().len() as u64);
        for (url, result) in urls.iter().zip(results) {
            total += result?;
            if total > MAX_TOTAL_BYTES {
                return Err(MediaCheckError::new(
                    MediaCheckKind::TooLarge,
                    url,
                    format!(
                        "All media with the text come to more than {MAX_TOTAL_BYTES} bytes (5 MB), \
                         the most one MMS may carry; {url} goes over."
                    ),
                    json!({ "totalBytes": total, "limitBytes": MAX_TOTAL_BYTES }),
                ));
            }
        }
        Ok(())
    }
}

impl Checker {
    /// Checks one URL; answers its size in bytes.
    async fn check_one(&self, url: &Url) -> Result<u64, MediaCheckError> {
        if let Some(ip) = literal_ip(url) {
            if !self.policy.allows(ip) {
                return Err(non_public(url));
            }
        }
        let info = match self.client.head(url.clone()).send().await {
            Ok(r) if r.status().is_success() && r.headers().contains_key(CONTENT_LENGTH) => {
                info_from(&r, false)
            }
            // HEAD refused (405, 501, or a URL signed for GET only) or without a size: ask for
            // the first byte instead; its answer decides.
            Ok(_) => self.ranged_get(url).await?,
            Err(e) => return Err(request_error(url, &e)),
        };
        let content_type = info.content_type.unwrap_or_default();
        if !plivo_carries(&content_type) {
            return Err(MediaCheckError::new(
                MediaCheckKind::TypeUnsupported,
                url,
                format!(
                    "The media URL {url} serves {}, which Plivo cannot send in an MMS (images, \
                     video, audio, vCard, CSV, PDF and plain text are fine).",
                    if content_type.is_empty() {
                        "no Content-Type"
                    } else {
                        &content_type
                    }
                ),
                json!({ "contentType": content_type }),
            ));
        }
        let Some(length) = info.length else {
            return Err(MediaCheckError::unreachable(
                url,
                "no_content_length",
                "does not say how large it is (no Content-Length), which Plivo requires",
            ));
        };
        if length > MAX_MEDIA_BYTES {
            return Err(MediaCheckError::new(
                MediaCheckKind::TooLarge,
                url,
                format!(
                    "The media URL {url} is {length} bytes; one MMS attachment may be at most \
                     {MAX_MEDIA_BYTES} bytes (2 MB)."
                ),
                json!({ "contentLength": length, "limitBytes": MAX_MEDIA_BYTES }),
            ));
        }
        Ok(length)
    }

    async fn ranged_get(&self, url: &Url) -> Result<MediaInfo, MediaCheckError> {
        let response = self
            .client
            .get(url.clone())
            .header(RANGE, "bytes=0-0")
            .send()
            .await
            .map_err(|e| request_error(url, &e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(MediaCheckError::new(
                MediaCheckKind::Unreachable,
                url,
                format!("The media URL {url} answered {status}; Plivo could not fetch it."),
                json!({ "reason": "status", "status": status.as_u16() }),
            ));
        }
        // The body is never read: dropping the response closes the connection.
        Ok(info_from(&response, status == StatusCode::PARTIAL_CONTENT))
    }
}

fn info_from(response: &Response, partial: bool) -> MediaInfo {
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let length = if partial {
        header(CONTENT_RANGE)
            .as_deref()
            .and_then(total_from_content_range)
    } else {
        header(CONTENT_LENGTH).and_then(|v| v.trim().parse().ok())
    };
    MediaInfo {
        content_type: header(CONTENT_TYPE),
        length,
    }
}

/// The complete length in `Content-Range: bytes 0-0/12345` (`None` for `*` or garbage).
fn total_from_content_range(value: &str) -> Option<u64> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    rest.rsplit_once('/')?.1.trim().parse().ok()
}

fn non_public(url: &Url) -> MediaCheckError {
    MediaCheckError::unreachable(
        url,
        "non_public_address",
        "points to a loopback, private or otherwise non-public address",
    )
}

fn request_error(url: &Url, error: &reqwest::Error) -> MediaCheckError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<NonPublicAddress>() {
            return non_public(url);
        }
        source = e.source();
    }
    if error.is_timeout() {
        MediaCheckError::unreachable(url, "timeout", "did not answer in time")
    } else if error.is_redirect() {
        MediaCheckError::unreachable(url, "redirect", "redirects too often or to a bad place")
    } else {
        MediaCheckError::unreachable(url, "connection_failed", "could not be reached")
    }
}

/// Whether Plivo can carry a file of this `Content-Type` in an MMS.
pub fn plivo_carries(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    if subtype.is_empty() {
        return false;
    }
    matches!(kind, "image" | "video" | "audio")
        || matches!(
            essence.as_str(),
            "text/plain"
                | "text/vcard"
                | "text/x-vcard"
                | "text/directory"
                | "text/csv"
                | "text/calendar"
                | "text/rtf"
                | "application/pdf"
                | "application/ogg"
                | "application/vnd.ms-excel"
                | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        for ok in [
            "image/gif",
            "IMAGE/JPEG; charset=binary",
            "video/mp4",
            "audio/mpeg",
            "text/vcard",
            "text/csv",
            "application/pdf",
            "text/plain; charset=utf-8",
        ] {
            assert!(plivo_carries(ok), "{ok}");
        }
        for bad in [
            "",
            "text/html",
            "application/json",
            "application/octet-stream",
            "image",
            "image/",
        ] {
            assert!(!plivo_carries(bad), "{bad}");
        }
    }

    #[test]
    fn content_range_totals() {
        assert_eq!(total_from_content_range("bytes 0-0/12345"), Some(12345));
        assert_eq!(total_from_content_range("bytes 0-0/*"), None);
        assert_eq!(total_from_content_range("nonsense"), None);
    }

    #[test]
    fn literals_are_found_in_every_spelling() {
        for (u, ip) in [
            ("http://127.0.0.1/a", "127.0.0.1"),
            ("http://2130706433/a", "127.0.0.1"),
            ("http://0x7f.1/a", "127.0.0.1"),
            ("http://[::1]:8080/a", "::1"),
            ("http://[::ffff:10.0.0.1]/a", "::ffff:10.0.0.1"),
        ] {
            let url = Url::parse(u).unwrap();
            assert_eq!(literal_ip(&url).unwrap().to_string(), ip, "{u}");
        }
        assert_eq!(
            literal_ip(&Url::parse("http://example.com/").unwrap()),
            None
        );
    }
}
