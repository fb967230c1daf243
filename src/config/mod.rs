//! All configuration, read from the environment (and `.env`) once at start-up and checked there.
//!
//! Nothing else in the crate reads environment variables.

pub mod delivery;
pub mod inbound;
pub mod ops;
// --- hardening: settings shown without secrets ---
pub mod retention;
pub(crate) mod url_checks;
// --- sender pool, pacing, caller event retries ---
pub mod callback_retry;
pub mod senders;
// --- reconciliation ---
pub mod reconcile;
// --- media uploads ---
pub mod uploads;

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

/// The Plivo account and how to reach it.
#[derive(Clone)]
pub struct PlivoConfig {
    /// `PLIVO_AUTH_ID`: `MA…`/`SA…`, 20 characters.
    pub auth_id: String,
    /// `PLIVO_AUTH_TOKEN`: never printed.
    pub auth_token: SecretString,
    /// The first number of `PLIVO_SENDER_NUMBER` (the pool is [`Config::senders`]); empty with a
    /// Powerpack and no numbers.
    pub sender_number: String,
    /// `PLIVO_API_BASE_URL`.
    pub base_url: Url,
    /// `PLIVO_TIMEOUT_MS`: limit for one attempt.
    pub timeout: Duration,
    /// `PLIVO_MAX_RETRIES`: retries after the first attempt.
    pub max_retries: u32,
    /// `PLIVO_RETRY_BASE_MS`: the first backoff delay.
    pub retry_base: Duration,
}

impl fmt::Debug for PlivoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlivoConfig")
            .field("auth_id", &self.auth_id)
            .field("auth_token", &"[redacted]")
            .field("sender_number", &self.sender_number)
            .field("base_url", &url_checks::without_userinfo(&self.base_url))
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("retry_base", &self.retry_base)
            .finish()
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object a line (the default).
    Json,
    /// Human-readable lines.
    Pretty,
}

/// The whole configuration of the service (its `Debug` hides the token and database password).
#[derive(Clone)]
pub struct Config {
    /// Plivo account and client settings.
    pub plivo: PlivoConfig,
    /// `HOST`.
    pub host: IpAddr,
    /// `PORT` (0 picks a free port).
    pub port: u16,
    /// `DATABASE_URL`.
    pub database_url: String,
    /// `PUBLIC_BASE_URL`, without a trailing slash.
    pub public_base_url: Option<Url>,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `RUST_LOG`.
    pub log_filter: String,
    /// Whether Plivo is the built-in simulator (`serve --sandbox`).
    pub sandbox: bool,
    /// Caller keys, limits, CORS and media preflight (`src/config/ops.rs`).
    pub ops: ops::OpsConfig,
    /// Asynchronous delivery and Plivo's limits (`src/config/delivery.rs`).
    pub delivery: delivery::DeliveryConfig,
    /// Retention, redaction and the purge (`src/config/retention.rs`).
    pub retention: retention::RetentionConfig,
    // --- sender pool, pacing, caller event retries ---
    /// The sender pool, Powerpack and per-sender pacing (`src/config/senders.rs`).
    pub senders: senders::SendersConfig,
    /// `CALLBACK_RETRY_WINDOW_SECONDS`: how long a status event for a caller is retried.
    pub callback_retry_window: Duration,
    // --- reconciliation ---
    /// Resolving unknown outcomes and missing receipts with Plivo (`src/config/reconcile.rs`).
    pub reconcile: reconcile::ReconcileConfig,
    /// Inbound messages (`src/config/inbound.rs`).
    pub inbound: inbound::InboundConfig,
    // --- media uploads ---
    /// `MAX_UPLOAD_BYTES` (`src/config/uploads.rs`).
    pub uploads: uploads::UploadConfig,
}

/// A setting that is missing or wrong; its `Display` is the one line printed before exiting with code 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("{0} is not set")]
    Missing(&'static str),
    /// Required Plivo settings are unset: all are named at once, with the way to try the service
    /// without a Plivo account.
    #[error("{} (set {} in the environment or .env, or add --sandbox to try mms-gateway without a Plivo account)", missing_line(.0), if .0.len() == 1 { "it" } else { "them" })]
    MissingPlivo(Vec<&'static str>),
    /// A variable has a value that cannot be used.
    #[error("{var} {value:?} {problem}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// What it holds (never used for secrets).
        value: String,
        /// What is wrong, e.g. "is not a valid E.164 number".
        problem: String,
    },
    // --- hardening: settings shown without secrets ---
    /// A variable has a value that cannot be used and must not be shown (it may be a secret).
    #[error("{var} {problem}")]
    Unusable {
        /// The variable.
        var: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
}

/// Auth id and token the sandbox's simulator accepts; nothing real.
pub const SANDBOX_AUTH_ID: &str = "MAXXXXXXXXXXXXXXXXXX";
/// The sender number used in the sandbox unless `PLIVO_SENDER_NUMBER` is set.
pub const SANDBOX_SENDER_NUMBER: &str = "+14155550100";

impl Config {
    /// Reads the configuration from the process environment (after loading `.env` if present).
    pub fn from_env(sandbox: bool) -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        Self::from_lookup(sandbox, |name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests need not touch the environment.
    pub fn from_lookup(
        sandbox: bool,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let plivo = if sandbox {
            sandbox_plivo(&get)?
        } else {
            real_plivo(&get)?
        };
        let host = match get("HOST") {
            // The sandbox has no keys and fakes Plivo: only this machine may reach it unless asked.
            None if sandbox => IpAddr::from([127, 0, 0, 1]),
            None => IpAddr::from([0, 0, 0, 0]),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| invalid("HOST", &v, "is not an IP address"))?,
        };
        let port = parse_or("PORT", &get, 3000u16, "is not a port number (0-65535)")?;
        let database_url =
            get("DATABASE_URL").unwrap_or_else(|| "sqlite://mms-gateway.db".to_owned());
        url_checks::check_database_url(&database_url)?;
        let public_base_url = match get("PUBLIC_BASE_URL") {
            None => None,
            Some(v) => Some(parse_http_url("PUBLIC_BASE_URL", &v)?),
        };
        let log_format = match get("LOG_FORMAT").as_deref().map(str::trim) {
            None | Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some(other) => return Err(invalid("LOG_FORMAT", other, "must be json or pretty")),
        };
        let log_filter = get("RUST_LOG").unwrap_or_else(|| "info".to_owned());
        tracing_subscriber::EnvFilter::try_new(&log_filter).map_err(|e| {
            invalid(
                "RUST_LOG",
                &log_filter,
                &format!("is not a log filter: {e}"),
            )
        })?;
        let ops = ops::OpsConfig::from_lookup(&get)?;
        let delivery = delivery::DeliveryConfig::from_lookup(&get, sandbox)?;
        let retention = retention::RetentionConfig::from_lookup(&get)?;
        // --- sender pool, pacing, caller event retries ---
        let senders = senders::SendersConfig::from_lookup(&get, sandbox)?;
        let mut plivo = plivo;
        plivo.sender_number = senders.numbers.first().cloned().unwrap_or_default();
        let callback_retry_window = callback_retry::retry_window(&get)?;
        // --- reconciliation ---
        let reconcile = reconcile::ReconcileConfig::from_lookup(&get)?;
        let inbound = inbound::InboundConfig::from_lookup(&get, &delivery)?;
        // --- media uploads ---
        let uploads = uploads::UploadConfig::from_lookup(&get)?;
        Ok(Self {
            plivo,
            host,
            port,
            database_url,
            public_base_url,
            log_format,
            log_filter,
            sandbox,
            ops,
            delivery,
            retention,
            senders,
            callback_retry_window,
            reconcile,
            inbound,
            uploads,
        })
    }

    /// The URL Plivo posts incoming messages to (the `message_url` of the Plivo Application linked
    /// to the sender numbers), when `PUBLIC_BASE_URL` is set.
    pub fn inbound_webhook_url(&self) -> Option<String> {
        self.public_base_url.as_ref().map(|base| {
            format!(
                "{}/webhooks/plivo/inbound",
                base.as_str().trim_end_matches('/')
            )
        })
    }

    /// The URL Plivo posts status callbacks to, when `PUBLIC_BASE_URL` is set.
    pub fn status_callback_url(&self) -> Option<String> {
        self.public_base_url.as_ref().map(|base| {
            format!(
                "{}/webhooks/plivo/status",
                base.as_str().trim_end_matches('/')
            )
        })
    }
}

/// The variables a real (non-sandbox) run needs, named together when more than one is missing.
/// `PLIVO_SENDER_NUMBER` may be left out when a Powerpack sends instead.
fn check_required(get: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
    let mut missing: Vec<&'static str> = ["PLIVO_AUTH_ID", "PLIVO_AUTH_TOKEN"]
        .into_iter()
        .filter(|var| get(var).is_none())
        .collect();
    if get("PLIVO_SENDER_NUMBER").is_none() && get("PLIVO_POWERPACK_UUID").is_none() {
        missing.push("PLIVO_SENDER_NUMBER");
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::MissingPlivo(missing))
    }
}

/// `A is not set`, `A and B are not set`, `A, B and C are not set`.
fn missing_line(names: &[&'static str]) -> String {
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => format!("{last} is not set"),
        Some((last, rest)) => format!("{} and {last} are not set", rest.join(", ")),
    }
}

fn real_plivo(get: &impl Fn(&str) -> Option<String>) -> Result<PlivoConfig, ConfigError> {
    check_required(get)?;
    let auth_id = get("PLIVO_AUTH_ID").ok_or(ConfigError::Missing("PLIVO_AUTH_ID"))?;
    let auth_id = auth_id.trim().to_owned();
    if auth_id.len() != 20
        || !(auth_id.starts_with("MA") || auth_id.starts_with("SA"))
        || !auth_id.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        // The value is not shown: a token pasted here by mistake would be printed.
        return Err(ConfigError::Unusable {
            var: "PLIVO_AUTH_ID",
            problem: "is not a Plivo Auth ID (20 letters and digits starting with MA or SA; \
                      the value is not shown)",
        });
    }
    let auth_token = get("PLIVO_AUTH_TOKEN").ok_or(ConfigError::Missing("PLIVO_AUTH_TOKEN"))?;
    // The pool (one or more numbers, or none with a Powerpack) is read by `senders.rs`.
    let sender = String::new();
    let base_url = match get("PLIVO_API_BASE_URL") {
        None => Url::parse("https://api.plivo.com").expect("static URL"),
        Some(v) => parse_http_url("PLIVO_API_BASE_URL", &v)?,
    };
    client_settings(
        get,
        auth_id,
        SecretString::from(auth_token.trim().to_owned()),
        &sender,
        base_url,
    )
}

/// In the sandbox the simulator's credentials are used and real ones are ignored, so nothing can
/// reach Plivo; the base URL is replaced by the simulator's once it listens.
fn sandbox_plivo(get: &impl Fn(&str) -> Option<String>) -> Result<PlivoConfig, ConfigError> {
    let sender = String::new();
    let token = format!("sandbox-{}", uuid::Uuid::new_v4().simple());
    let placeholder = Url::parse("http://127.0.0.1:9").expect("static URL");
    client_settings(
        get,
        SANDBOX_AUTH_ID.to_owned(),
        SecretString::from(token),
        &sender,
        placeholder,
    )
}

fn client_settings(
    get: &impl Fn(&str) -> Option<String>,
    auth_id: String,
    auth_token: SecretString,
    sender: &str,
    base_url: Url,
) -> Result<PlivoConfig, ConfigError> {
    let timeout_ms = parse_or(
        "PLIVO_TIMEOUT_MS",
        get,
        10_000u64,
        "is not a number of milliseconds",
    )?;
    if !(1..=600_000).contains(&timeout_ms) {
        return Err(invalid(
            "PLIVO_TIMEOUT_MS",
            &timeout_ms.to_string(),
            "must be between 1 and 600000",
        ));
    }
    let max_retries = parse_or("PLIVO_MAX_RETRIES", get, 3u32, "is not a whole number")?;
    if max_retries > 10 {
        return Err(invalid(
            "PLIVO_MAX_RETRIES",
            &max_retries.to_string(),
            "must be at most 10",
        ));
    }
    let retry_base_ms = parse_or(
        "PLIVO_RETRY_BASE_MS",
        get,
        1_000u64,
        "is not a number of milliseconds",
    )?;
    if retry_base_ms > 20_000 {
        return Err(invalid(
            "PLIVO_RETRY_BASE_MS",
            &retry_base_ms.to_string(),
            "must be at most 20000",
        ));
    }
    Ok(PlivoConfig {
        auth_id,
        auth_token,
        sender_number: sender.to_owned(),
        base_url,
        timeout: Duration::from_millis(timeout_ms),
        max_retries,
        retry_base: Duration::from_millis(retry_base_ms),
    })
}

/// Parses an optional variable with a default.
pub(crate) fn parse_or<T: std::str::FromStr>(
    var: &'static str,
    get: &impl Fn(&str) -> Option<String>,
    default: T,
    problem: &str,
) -> Result<T, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| invalid(var, &v, problem)),
    }
}

fn parse_http_url(var: &'static str, value: &str) -> Result<Url, ConfigError> {
    let shown = url_checks::shown_url(value);
    let url =
        Url::parse(value.trim()).map_err(|_| invalid(var, &shown, "is not an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid(
            var,
            &shown,
            "must be an http or https URL with a host",
        ));
    }
    Ok(url)
}

/// Parses an optional whole number with a default, refusing values outside `range`.
pub(crate) fn ranged(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let problem = format!(
        "must be a whole number between {} and {}",
        range.start(),
        range.end()
    );
    let value = parse_or(var, get, default, &problem)?;
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(invalid(var, &value.to_string(), &problem))
    }
}

/// Parses an optional yes/no setting (`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`).
pub(crate) fn parse_bool(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(var).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) => match v.as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(invalid(var, &v, "must be true or false")),
        },
    }
}

pub(crate) fn invalid(var: &'static str, value: &str, problem: &str) -> ConfigError {
    ConfigError::Invalid {
        var,
        value: value.chars().take(100).collect(),
        problem: problem.to_owned(),
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("plivo", &self.plivo)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database_url", &url_checks::shown_url(&self.database_url))
            .field(
                "public_base_url",
                &self
                    .public_base_url
                    .as_ref()
                    .map(url_checks::without_userinfo),
            )
            .field("log_format", &self.log_format)
            .field("log_filter", &self.log_filter)
            .field("sandbox", &self.sandbox)
            .field("ops", &self.ops)
            .field("delivery", &self.delivery)
            .field("retention", &self.retention)
            .field("reconcile", &self.reconcile)
            .field("inbound", &self.inbound)
            .field("uploads", &self.uploads)
            .finish()
    }
}

/// In tests: the settings `pairs` as the lookup `from_lookup` functions read.
#[cfg(test)]
pub(crate) fn lookup_in<'a>(pairs: &'a [(&str, &str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const GOOD: &[(&str, &str)] = &[
        ("PLIVO_AUTH_ID", "MAXXXXXXXXXXXXXXXXXX"),
        ("PLIVO_AUTH_TOKEN", "s3cr3t-token"),
        ("PLIVO_SENDER_NUMBER", "+14155550100"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut v: Vec<_> = GOOD.to_vec();
        v.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        v.extend_from_slice(extra);
        v
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = Config::from_lookup(false, lookup(GOOD)).unwrap();
        assert_eq!(c.plivo.base_url.as_str(), "https://api.plivo.com/");
        assert_eq!(c.plivo.timeout, Duration::from_millis(10_000));
        assert_eq!(c.plivo.max_retries, 3);
        assert_eq!(c.plivo.retry_base, Duration::from_millis(1000));
        assert_eq!(c.host.to_string(), "0.0.0.0");
        assert_eq!(c.port, 3000);
        assert_eq!(c.database_url, "sqlite://mms-gateway.db");
        assert_eq!(c.public_base_url, None);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.log_filter, "info");
        assert_eq!(c.plivo.auth_token.expose_secret(), "s3cr3t-token");
    }

    #[test]
    fn missing_values_name_the_variable() {
        for var in ["PLIVO_AUTH_ID", "PLIVO_AUTH_TOKEN", "PLIVO_SENDER_NUMBER"] {
            let pairs: Vec<_> = GOOD.iter().copied().filter(|(k, _)| *k != var).collect();
            let err = Config::from_lookup(false, lookup(&pairs)).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("{var} is not set (set it in the environment or .env, or add --sandbox to try mms-gateway without a Plivo account)")
            );
        }
        let err = Config::from_lookup(false, lookup(&with(&[("PLIVO_SENDER_NUMBER", "  ")])))
            .unwrap_err();
        assert!(err
            .to_string()
            .starts_with("PLIVO_SENDER_NUMBER is not set ("));
        let err = Config::from_lookup(false, lookup(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "PLIVO_AUTH_ID, PLIVO_AUTH_TOKEN and PLIVO_SENDER_NUMBER are not set (set them in the environment or .env, or add --sandbox to try mms-gateway without a Plivo account)"
        );
        let pairs: Vec<_> = GOOD
            .iter()
            .copied()
            .filter(|(k, _)| *k == "PLIVO_AUTH_ID")
            .collect();
        let err = Config::from_lookup(false, lookup(&pairs)).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("PLIVO_AUTH_TOKEN and PLIVO_SENDER_NUMBER are not set (set them"));
    }

    #[test]
    fn invalid_values_name_the_variable_and_the_problem() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "PLIVO_SENDER_NUMBER",
                "+1415",
                "PLIVO_SENDER_NUMBER \"+1415\" is not a valid E.164 number",
            ),
            (
                "PLIVO_AUTH_ID",
                "XX123",
                "PLIVO_AUTH_ID is not a Plivo Auth ID",
            ),
            (
                "PLIVO_API_BASE_URL",
                "not a url",
                "PLIVO_API_BASE_URL \"…\" is not an absolute URL",
            ),
            (
                "PLIVO_API_BASE_URL",
                "ftp://x",
                "PLIVO_API_BASE_URL \"ftp://x\" must be an http",
            ),
            (
                "PLIVO_TIMEOUT_MS",
                "soon",
                "PLIVO_TIMEOUT_MS \"soon\" is not a number",
            ),
            (
                "PLIVO_TIMEOUT_MS",
                "0",
                "PLIVO_TIMEOUT_MS \"0\" must be between",
            ),
            (
                "PLIVO_MAX_RETRIES",
                "-1",
                "PLIVO_MAX_RETRIES \"-1\" is not a whole number",
            ),
            (
                "PLIVO_RETRY_BASE_MS",
                "x",
                "PLIVO_RETRY_BASE_MS \"x\" is not a number",
            ),
            (
                "HOST",
                "localhost:80",
                "HOST \"localhost:80\" is not an IP address",
            ),
            ("PORT", "70000", "PORT \"70000\" is not a port number"),
            (
                "DATABASE_URL",
                "mysql://x",
                "DATABASE_URL \"mysql://x\" must start with",
            ),
            (
                "PUBLIC_BASE_URL",
                "example.com",
                "PUBLIC_BASE_URL \"…\" is not an absolute URL",
            ),
            (
                "LOG_FORMAT",
                "xml",
                "LOG_FORMAT \"xml\" must be json or pretty",
            ),
        ];
        for (var, value, expected) in cases {
            let pairs = with(&[(var, value)]);
            let err = Config::from_lookup(false, lookup(&pairs))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(expected), "{err}");
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn the_token_never_prints() {
        let c = Config::from_lookup(false, lookup(GOOD)).unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("s3cr3t-token"), "{debug}");
        assert!(debug.contains("[redacted]"));
    }

    #[test]
    fn sandbox_needs_no_credentials_and_ignores_real_ones() {
        let c = Config::from_lookup(true, lookup(&[])).unwrap();
        assert!(c.sandbox);
        assert_eq!(c.plivo.auth_id, SANDBOX_AUTH_ID);
        assert_eq!(c.plivo.sender_number, SANDBOX_SENDER_NUMBER);
        let c = Config::from_lookup(true, lookup(GOOD)).unwrap();
        assert_eq!(c.plivo.auth_id, SANDBOX_AUTH_ID);
        assert_ne!(c.plivo.auth_token.expose_secret(), "s3cr3t-token");
        assert_ne!(c.plivo.base_url.host_str(), Some("api.plivo.com"));
    }

    #[test]
    fn status_callback_url_joins_the_base() {
        let c = Config::from_lookup(
            false,
            lookup(&with(&[("PUBLIC_BASE_URL", "https://mms.example.com/")])),
        )
        .unwrap();
        assert_eq!(
            c.status_callback_url().as_deref(),
            Some("https://mms.example.com/webhooks/plivo/status")
        );
    }

    // --- hardening: the sandbox on loopback ---
    #[test]
    fn the_sandbox_listens_on_loopback_unless_host_is_set() {
        let c = Config::from_lookup(true, lookup(&[])).unwrap();
        assert_eq!(c.host.to_string(), "127.0.0.1");
        let c = Config::from_lookup(true, lookup(&[("HOST", "0.0.0.0")])).unwrap();
        assert_eq!(c.host.to_string(), "0.0.0.0");
        let c = Config::from_lookup(false, lookup(GOOD)).unwrap();
        assert_eq!(c.host.to_string(), "0.0.0.0");
    }

    #[test]
    fn database_passwords_are_hidden_in_errors() {
        for url in ["postgres://u:pw@h/db", "postgres://u:pw@h:badport/db"] {
            assert!(!url_checks::shown_url(url).contains("pw"), "{url}");
        }
        let c = Config::from_lookup(
            false,
            lookup(&with(&[("DATABASE_URL", "postgres://u:hunter2@h/db")])),
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
