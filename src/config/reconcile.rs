//! Settings of the reconciler: resolving unknown outcomes and missing receipts with Plivo's own
//! records (README "Delivery guarantees"; `docs/plivo-api.md` §6, §10).

use std::time::Duration;

use super::{invalid, ranged, ConfigError};

/// `PLIVO_LOG`: what Plivo may keep of a message (passed as `log` on every send).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlivoLog {
    /// Plivo keeps number and content (the default).
    True,
    /// Plivo masks the number and the content.
    False,
    /// Plivo masks the number only.
    NumberOnly,
    /// Plivo masks the content only.
    ContentOnly,
}

impl PlivoLog {
    /// The value Plivo takes (and this service stores per message).
    pub fn as_str(self) -> &'static str {
        match self {
            PlivoLog::True => "true",
            PlivoLog::False => "false",
            PlivoLog::NumberOnly => "number_only",
            PlivoLog::ContentOnly => "content_only",
        }
    }

    /// Reads a stored or configured value.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "true" => PlivoLog::True,
            "false" => PlivoLog::False,
            "number_only" => PlivoLog::NumberOnly,
            "content_only" => PlivoLog::ContentOnly,
            _ => return None,
        })
    }

    /// Whether Plivo masks the destination in its records, so that a message can be found only by
    /// its UUID (`docs/plivo-api.md` §10): `false` and `number_only`.
    pub fn masks_number(self) -> bool {
        matches!(self, PlivoLog::False | PlivoLog::NumberOnly)
    }
}

/// `RECONCILE_SETTLE_SECONDS`, `RECONCILE_MAX_PER_MINUTE`, `RECEIPT_TIMEOUT_SECONDS`, `PLIVO_LOG`.
#[derive(Debug, Clone)]
pub struct ReconcileConfig {
    /// How long after an unknown attempt (or a dead worker's lease) Plivo is asked.
    pub settle: Duration,
    /// List Message requests a minute, all instances together (Plivo allows 20).
    pub max_list_per_minute: u32,
    /// How long a `queued`/`sent` message may go without a callback before it is looked up.
    pub receipt_timeout: Duration,
    /// `log` on every send.
    pub plivo_log: PlivoLog,
}

impl ReconcileConfig {
    /// Reads the settings with their defaults (60 s, 20 a minute, 3600 s, `true`).
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let settle = ranged(get, "RECONCILE_SETTLE_SECONDS", 60, 0..=86_400)?;
        // Plivo allows 20; more is only for a stand-in that allows more (tests).
        let max = ranged(get, "RECONCILE_MAX_PER_MINUTE", 20, 1..=1000)?;
        let receipt = ranged(get, "RECEIPT_TIMEOUT_SECONDS", 3600, 1..=7 * 24 * 3600)?;
        let plivo_log = match get("PLIVO_LOG") {
            None => PlivoLog::True,
            Some(v) => PlivoLog::parse(v.trim()).ok_or_else(|| {
                invalid(
                    "PLIVO_LOG",
                    &v,
                    "must be true, false, number_only or content_only",
                )
            })?,
        };
        Ok(Self {
            settle: Duration::from_secs(settle),
            max_list_per_minute: max as u32,
            receipt_timeout: Duration::from_secs(receipt),
            plivo_log,
        })
    }
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        Self {
            settle: Duration::from_secs(60),
            max_list_per_minute: 20,
            receipt_timeout: Duration::from_secs(3600),
            plivo_log: PlivoLog::True,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<ReconcileConfig, ConfigError> {
        ReconcileConfig::from_lookup(&crate::config::lookup_in(pairs))
    }

    #[test]
    fn defaults_and_bounds() {
        let c = read(&[]).unwrap();
        assert_eq!(c.settle, Duration::from_secs(60));
        assert_eq!(c.max_list_per_minute, 20);
        assert_eq!(c.receipt_timeout, Duration::from_secs(3600));
        assert_eq!(c.plivo_log, PlivoLog::True);
        let c = read(&[
            ("PLIVO_LOG", "number_only"),
            ("RECONCILE_SETTLE_SECONDS", "0"),
        ])
        .unwrap();
        assert_eq!(c.plivo_log, PlivoLog::NumberOnly);
        assert!(c.plivo_log.masks_number());
        assert!(!PlivoLog::ContentOnly.masks_number());
        for (var, value) in [
            ("PLIVO_LOG", "maybe"),
            ("RECONCILE_MAX_PER_MINUTE", "0"),
            ("RECONCILE_MAX_PER_MINUTE", "1001"),
            ("RECEIPT_TIMEOUT_SECONDS", "0"),
            ("RECONCILE_SETTLE_SECONDS", "soon"),
        ] {
            let err = read(&[(var, value)]).unwrap_err().to_string();
            assert!(err.starts_with(var), "{err}");
        }
    }
}
