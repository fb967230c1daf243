//! Operational settings: caller keys, rate and concurrency limits, time limits, CORS and media
//! preflight. Read by [`crate::config::Config::from_lookup`] like every other variable.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::config::{invalid, parse_bool, ranged, ConfigError};

/// The shortest API key accepted: anything shorter is too easy to guess.
pub const MIN_API_KEY_LEN: usize = 16;

/// The client keys of `API_KEYS`. Never printed: `Debug` shows only how many there are.
#[derive(Clone, Default)]
pub struct ApiKeys(Vec<SecretString>);

impl ApiKeys {
    /// Builds the list from keys already checked.
    pub fn new(keys: Vec<SecretString>) -> Self {
        Self(keys)
    }

    /// Whether no keys are configured (then no endpoint asks for one).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The keys, to compare against in constant time.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|k| k.expose_secret())
    }
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeys([{} redacted])", self.0.len())
    }
}

/// Which browser origins may call the API (`CORS_ALLOWED_ORIGINS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// `*`: any origin.
    Any,
    /// These exact origins (`scheme://host[:port]`).
    List(Vec<String>),
}

/// The operational settings, all optional.
#[derive(Debug, Clone)]
pub struct OpsConfig {
    /// `API_KEYS`: when not empty, every endpoint but `/health`, `/ready` and `/webhooks/…` needs one.
    pub api_keys: ApiKeys,
    /// `RATE_LIMIT_PER_MINUTE`: requests a minute per key (or per client address without keys).
    pub rate_limit_per_minute: Option<NonZeroU32>,
    /// `REQUEST_TIMEOUT_MS`: the most one request may take.
    pub request_timeout: Duration,
    /// `MAX_CONCURRENT_REQUESTS`: requests served at once; more are shed with 503.
    pub max_concurrent_requests: usize,
    /// `MAX_CONCURRENT_REQUESTS_PER_CLIENT`: requests one key or address may have in flight.
    pub max_concurrent_requests_per_client: usize,
    /// `MAX_CONNECTIONS`: open client connections; more wait in the listen backlog.
    pub max_connections: usize,
    /// `CONNECTION_IDLE_TIMEOUT_SECONDS`: a connection with no bytes either way for this long is
    /// closed (silent or trickling clients cannot hold connections forever).
    pub connection_idle_timeout: Duration,
    // --- slow clients ---
    /// `HEADER_READ_TIMEOUT_SECONDS`: the most a request head may take from its first byte.
    pub header_read_timeout: Duration,
    /// `CORS_ALLOWED_ORIGINS`: unset means no CORS headers at all.
    pub cors_allowed_origins: Option<CorsOrigins>,
    /// `MEDIA_PREFLIGHT`: check media URLs before sending.
    pub media_preflight: bool,
    /// `MEDIA_ALLOW_PRIVATE`: let the preflight reach loopback and private addresses.
    pub media_allow_private: bool,
    /// `MEDIA_PREFLIGHT_TIMEOUT_MS`: the time limit for checking one media URL.
    pub media_preflight_timeout: Duration,
}

impl Default for OpsConfig {
    fn default() -> Self {
        Self {
            api_keys: ApiKeys::default(),
            rate_limit_per_minute: None,
            request_timeout: Duration::from_millis(DEFAULT_REQUEST_TIMEOUT_MS),
            max_concurrent_requests: 256,
            max_concurrent_requests_per_client: 32,
            max_connections: 1024,
            connection_idle_timeout: Duration::from_secs(75),
            // --- slow clients ---
            header_read_timeout: Duration::from_secs(10),
            cors_allowed_origins: None,
            media_preflight: false,
            media_allow_private: false,
            media_preflight_timeout: Duration::from_millis(3_000),
        }
    }
}

/// The default `REQUEST_TIMEOUT_MS`: more than the worst case of Plivo's timeouts and retries
/// with the default settings (4 attempts of 10 s plus backoff).
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 60_000;

impl OpsConfig {
    /// Reads and checks the operational variables through `get` (which already drops empty values).
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let d = Self::default();
        let rate_limit_per_minute = match get("RATE_LIMIT_PER_MINUTE") {
            None => None,
            Some(v) => Some(
                v.trim()
                    .parse::<NonZeroU32>()
                    .ok()
                    .filter(|n| n.get() <= 1_000_000)
                    .ok_or_else(|| {
                        invalid(
                            "RATE_LIMIT_PER_MINUTE",
                            &v,
                            "must be a whole number between 1 and 1000000",
                        )
                    })?,
            ),
        };
        Ok(Self {
            api_keys: parse_api_keys(get("API_KEYS").as_deref())?,
            rate_limit_per_minute,
            request_timeout: Duration::from_millis(ranged(
                get,
                "REQUEST_TIMEOUT_MS",
                DEFAULT_REQUEST_TIMEOUT_MS,
                100..=600_000,
            )?),
            max_concurrent_requests: ranged(
                get,
                "MAX_CONCURRENT_REQUESTS",
                d.max_concurrent_requests as u64,
                1..=100_000,
            )? as usize,
            max_concurrent_requests_per_client: ranged(
                get,
                "MAX_CONCURRENT_REQUESTS_PER_CLIENT",
                d.max_concurrent_requests_per_client as u64,
                1..=100_000,
            )? as usize,
            max_connections: ranged(
                get,
                "MAX_CONNECTIONS",
                d.max_connections as u64,
                1..=1_000_000,
            )? as usize,
            connection_idle_timeout: Duration::from_secs(ranged(
                get,
                "CONNECTION_IDLE_TIMEOUT_SECONDS",
                d.connection_idle_timeout.as_secs(),
                1..=3600,
            )?),
            // --- slow clients ---
            header_read_timeout: Duration::from_secs(ranged(
                get,
                "HEADER_READ_TIMEOUT_SECONDS",
                d.header_read_timeout.as_secs(),
                1..=600,
            )?),
            cors_allowed_origins: parse_cors(get("CORS_ALLOWED_ORIGINS").as_deref())?,
            media_preflight: parse_bool(get, "MEDIA_PREFLIGHT", false)?,
            media_allow_private: parse_bool(get, "MEDIA_ALLOW_PRIVATE", false)?,
            media_preflight_timeout: Duration::from_millis(ranged(
                get,
                "MEDIA_PREFLIGHT_TIMEOUT_MS",
                3_000,
                100..=30_000,
            )?),
        })
    }
}

/// Comma-separated keys; blanks around and between are ignored. The error never shows a key.
fn parse_api_keys(value: Option<&str>) -> Result<ApiKeys, ConfigError> {
    let Some(value) = value else {
        return Ok(ApiKeys::default());
    };
    let mut keys = Vec::new();
    for (i, key) in value.split(',').map(str::trim).enumerate() {
        if key.is_empty() {
            continue;
        }
        if key.len() < MIN_API_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(
                "API_KEYS",
                "[redacted]",
                &format!(
                    "has an unusable key (number {}): keys are at least {MIN_API_KEY_LEN} visible \
                     ASCII characters without commas",
                    i + 1
                ),
            ));
        }
        keys.push(SecretString::from(key.to_owned()));
    }
    Ok(ApiKeys(keys))
}

fn parse_cors(value: Option<&str>) -> Result<Option<CorsOrigins>, ConfigError> {
    let Some(value) = value else { return Ok(None) };
    if value.trim() == "*" {
        return Ok(Some(CorsOrigins::Any));
    }
    let mut origins = Vec::new();
    for origin in value.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let ok = url::Url::parse(origin).ok().is_some_and(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some()
                && u.path() == "/"
                && !origin.ends_with('/')
                && u.query().is_none()
                && u.username().is_empty()
        });
        if !ok {
            return Err(invalid(
                "CORS_ALLOWED_ORIGINS",
                origin,
                "is not an origin (scheme://host[:port], no path) or *",
            ));
        }
        origins.push(origin.to_owned());
    }
    Ok(Some(CorsOrigins::List(origins)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(pairs: &[(&str, &str)]) -> Result<OpsConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        OpsConfig::from_lookup(&|k: &str| map.get(k).cloned().filter(|v| !v.trim().is_empty()))
    }

    #[test]
    fn defaults() {
        let c = read(&[]).unwrap();
        assert!(c.api_keys.is_empty());
        assert_eq!(c.rate_limit_per_minute, None);
        assert_eq!(c.request_timeout, Duration::from_secs(60));
        assert_eq!(c.max_concurrent_requests, 256);
        assert_eq!(c.max_concurrent_requests_per_client, 32);
        assert_eq!(c.cors_allowed_origins, None);
        assert!(!c.media_preflight && !c.media_allow_private);
        assert_eq!(c.media_preflight_timeout, Duration::from_secs(3));
    }

    #[test]
    fn values_are_read() {
        let c = read(&[
            ("API_KEYS", " key-aaaaaaaaaaaaaaaa , ,key-bbbbbbbbbbbbbbbb"),
            ("RATE_LIMIT_PER_MINUTE", "30"),
            ("REQUEST_TIMEOUT_MS", "1500"),
            (
                "CORS_ALLOWED_ORIGINS",
                "https://a.example, http://localhost:8080",
            ),
            ("MEDIA_PREFLIGHT", "true"),
            ("MEDIA_ALLOW_PRIVATE", "1"),
        ])
        .unwrap();
        assert_eq!(
            c.api_keys.iter().collect::<Vec<_>>(),
            ["key-aaaaaaaaaaaaaaaa", "key-bbbbbbbbbbbbbbbb"]
        );
        assert_eq!(c.rate_limit_per_minute.map(NonZeroU32::get), Some(30));
        assert_eq!(c.request_timeout, Duration::from_millis(1500));
        assert_eq!(
            c.cors_allowed_origins,
            Some(CorsOrigins::List(vec![
                "https://a.example".into(),
                "http://localhost:8080".into()
            ]))
        );
        assert!(c.media_preflight && c.media_allow_private);
        assert_eq!(
            read(&[("CORS_ALLOWED_ORIGINS", "*")])
                .unwrap()
                .cors_allowed_origins,
            Some(CorsOrigins::Any)
        );
    }

    #[test]
    fn bad_values_name_the_variable_on_one_line() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "RATE_LIMIT_PER_MINUTE",
                "0",
                "RATE_LIMIT_PER_MINUTE \"0\" must be",
            ),
            (
                "RATE_LIMIT_PER_MINUTE",
                "lots",
                "RATE_LIMIT_PER_MINUTE \"lots\" must be",
            ),
            (
                "REQUEST_TIMEOUT_MS",
                "5",
                "REQUEST_TIMEOUT_MS \"5\" must be",
            ),
            (
                "MAX_CONCURRENT_REQUESTS",
                "0",
                "MAX_CONCURRENT_REQUESTS \"0\" must be",
            ),
            (
                "MAX_CONCURRENT_REQUESTS_PER_CLIENT",
                "x",
                "MAX_CONCURRENT_REQUESTS_PER_CLIENT \"x\" must be",
            ),
            (
                "CORS_ALLOWED_ORIGINS",
                "https://a.example/path",
                "CORS_ALLOWED_ORIGINS",
            ),
            (
                "MEDIA_PREFLIGHT",
                "maybe",
                "MEDIA_PREFLIGHT \"maybe\" must be true or false",
            ),
            (
                "MEDIA_ALLOW_PRIVATE",
                "2",
                "MEDIA_ALLOW_PRIVATE \"2\" must be",
            ),
            (
                "MEDIA_PREFLIGHT_TIMEOUT_MS",
                "99999",
                "MEDIA_PREFLIGHT_TIMEOUT_MS",
            ),
        ];
        for (var, value, expected) in cases {
            let err = read(&[(var, value)]).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{err}");
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn keys_never_print() {
        let secret = "super-secret-key-0123456789";
        let c = read(&[("API_KEYS", secret)]).unwrap();
        assert!(!format!("{c:?}").contains(secret));
        let err = read(&[("API_KEYS", "short-secret")])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("API_KEYS"), "{err}");
        assert!(!err.contains("short-secret"), "{err}");
        let err = read(&[("API_KEYS", "a key with spaces in it")])
            .unwrap_err()
            .to_string();
        assert!(!err.contains("spaces in"), "{err}");
    }
}
