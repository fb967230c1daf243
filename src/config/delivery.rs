//! Settings of asynchronous delivery and Plivo's limits (docs/api.md, "Events this service posts").

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;

use super::{invalid, parse_bool, ranged, ConfigError};

/// `PLIVO_MAX_RPS`, `PLIVO_MAX_CONCURRENCY`, `MESSAGE_TTL_SECONDS`, `WEBHOOK_SIGNING_SECRET`,
/// `SHUTDOWN_GRACE_SECONDS`, `DELIVERY_LEASE_SECONDS`.
#[derive(Clone)]
pub struct DeliveryConfig {
    /// Requests a second to Plivo, for the whole account (all instances together).
    pub max_rps: u32,
    /// Requests in flight to Plivo, for the whole account.
    pub max_concurrency: u32,
    /// How long an asynchronous message may wait for Plivo before it fails with `expired`.
    pub message_ttl: Duration,
    /// Key of the `X-Mms-Gateway-Signature` on status events sent to callers.
    pub webhook_signing_secret: Option<SecretString>,
    /// On shutdown, how long in-flight sends may take to finish.
    pub shutdown_grace: Duration,
    /// `CALLBACK_ALLOW_PRIVATE`: let status events go to loopback and private addresses
    /// (default: only in the sandbox).
    pub callback_allow_private: bool,
    /// How long a delivery worker holds a message before another may take it over; `None`: the
    /// default, 2 × `PLIVO_TIMEOUT_MS` + 35 s. Shorter values are for tests.
    pub lease: Option<Duration>,
}

impl fmt::Debug for DeliveryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryConfig")
            .field("max_rps", &self.max_rps)
            .field("max_concurrency", &self.max_concurrency)
            .field("message_ttl", &self.message_ttl)
            .field(
                "webhook_signing_secret",
                &self.webhook_signing_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("shutdown_grace", &self.shutdown_grace)
            .field("callback_allow_private", &self.callback_allow_private)
            .field("lease", &self.lease)
            .finish()
    }
}

impl DeliveryConfig {
    /// Reads the settings; in the sandbox a missing signing secret becomes `sandbox-webhook-secret`.
    pub fn from_lookup(
        get: &impl Fn(&str) -> Option<String>,
        sandbox: bool,
    ) -> Result<Self, ConfigError> {
        let max_rps = ranged(get, "PLIVO_MAX_RPS", 60, 1..=1_000_000)? as u32;
        let max_concurrency = ranged(get, "PLIVO_MAX_CONCURRENCY", 100, 1..=1_000_000)? as u32;
        let ttl = ranged(get, "MESSAGE_TTL_SECONDS", 10_800, 1..=7 * 24 * 3600)?;
        let grace = ranged(get, "SHUTDOWN_GRACE_SECONDS", 10, 0..=600)?;
        let lease = match get("DELIVERY_LEASE_SECONDS") {
            None => None,
            Some(_) => Some(Duration::from_secs(ranged(
                get,
                "DELIVERY_LEASE_SECONDS",
                0,
                2..=3600,
            )?)),
        };
        let webhook_signing_secret = match get("WEBHOOK_SIGNING_SECRET") {
            Some(secret) if secret.trim().len() < 16 => {
                // The value is a secret: name the problem, never the value.
                return Err(invalid(
                    "WEBHOOK_SIGNING_SECRET",
                    "[redacted]",
                    "must be at least 16 characters",
                ));
            }
            Some(secret) => Some(SecretString::from(secret.trim().to_owned())),
            None if sandbox => Some(SecretString::from(SANDBOX_WEBHOOK_SECRET.to_owned())),
            None => None,
        };
        let callback_allow_private = parse_bool(get, "CALLBACK_ALLOW_PRIVATE", sandbox)?;
        Ok(Self {
            callback_allow_private,
            max_rps,
            max_concurrency,
            message_ttl: Duration::from_secs(ttl),
            webhook_signing_secret,
            shutdown_grace: Duration::from_secs(grace),
            lease,
        })
    }
}

/// The signing secret the sandbox uses unless `WEBHOOK_SIGNING_SECRET` is set (documented, not secret).
pub const SANDBOX_WEBHOOK_SECRET: &str = "sandbox-webhook-secret";

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn read(pairs: &[(&str, &str)], sandbox: bool) -> Result<DeliveryConfig, ConfigError> {
        DeliveryConfig::from_lookup(&crate::config::lookup_in(pairs), sandbox)
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = read(&[], false).unwrap();
        assert_eq!((c.max_rps, c.max_concurrency), (60, 100));
        assert_eq!(c.message_ttl, Duration::from_secs(10_800));
        assert!(c.webhook_signing_secret.is_none());
        assert!(c.lease.is_none());
        let short = read(&[("DELIVERY_LEASE_SECONDS", "5")], false).unwrap();
        assert_eq!(short.lease, Some(Duration::from_secs(5)));
        let sandbox = read(&[], true).unwrap();
        assert_eq!(
            sandbox.webhook_signing_secret.unwrap().expose_secret(),
            SANDBOX_WEBHOOK_SECRET
        );
    }

    #[test]
    fn bad_values_name_the_variable_and_never_print_the_secret() {
        for (var, value) in [
            ("PLIVO_MAX_RPS", "0"),
            ("PLIVO_MAX_RPS", "fast"),
            ("PLIVO_MAX_CONCURRENCY", "0"),
            ("MESSAGE_TTL_SECONDS", "0"),
            ("SHUTDOWN_GRACE_SECONDS", "9999"),
            ("DELIVERY_LEASE_SECONDS", "1"),
            ("DELIVERY_LEASE_SECONDS", "soon"),
            ("WEBHOOK_SIGNING_SECRET", "short-secret"),
        ] {
            let err = read(&[(var, value)], false).unwrap_err().to_string();
            assert!(err.starts_with(var), "{err}");
        }
        let err = read(&[("WEBHOOK_SIGNING_SECRET", "short-secret")], false)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("short-secret"), "{err}");
        let ok = read(&[("WEBHOOK_SIGNING_SECRET", "a-long-enough-secret")], false).unwrap();
        assert!(!format!("{ok:?}").contains("a-long-enough-secret"));
    }
}
