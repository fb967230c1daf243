//! Settings of retention: how long ended messages are kept, when they are redacted, how often the
//! purge runs.

use std::time::Duration;

use super::{invalid, ranged, ConfigError};

/// The longest retention accepted (100 years).
const MAX_DAYS: f64 = 36_500.0;

/// `RETENTION_DAYS`, `REDACT_AFTER_DAYS`, `PURGE_INTERVAL_SECONDS`.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionConfig {
    /// How long a message is kept after it ended (default 30 days).
    pub retention: Duration,
    /// How long after it ended a message is redacted; `None`: never.
    pub redact_after: Option<Duration>,
    /// How often the purge runs (it also runs at start).
    pub purge_interval: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            retention: days(30.0),
            redact_after: None,
            purge_interval: Duration::from_secs(3600),
        }
    }
}

impl RetentionConfig {
    /// Reads the settings; `REDACT_AFTER_DAYS` must be below `RETENTION_DAYS`.
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let retention_days = match get("RETENTION_DAYS") {
            None => 30.0,
            Some(v) => decimal_days("RETENTION_DAYS", &v, |d| d > 0.0)?,
        };
        let redact_after = match get("REDACT_AFTER_DAYS") {
            None => None,
            Some(v) => {
                let d = decimal_days("REDACT_AFTER_DAYS", &v, |d| d >= 0.0)?;
                if d >= retention_days {
                    return Err(invalid(
                        "REDACT_AFTER_DAYS",
                        &v,
                        "must be below RETENTION_DAYS",
                    ));
                }
                Some(days(d))
            }
        };
        let interval = ranged(get, "PURGE_INTERVAL_SECONDS", 3600, 1..=7 * 24 * 3600)?;
        Ok(RetentionConfig {
            retention: days(retention_days),
            redact_after,
            purge_interval: Duration::from_secs(interval),
        })
    }
}

fn days(d: f64) -> Duration {
    Duration::from_secs_f64(d * 86_400.0)
}

/// A number of days (decimals allowed, e.g. `0.5`), within `ok` and at most 100 years.
fn decimal_days(
    var: &'static str,
    value: &str,
    ok: impl Fn(f64) -> bool,
) -> Result<f64, ConfigError> {
    let problem = "must be a number of days (decimals allowed) up to 36500";
    match value.trim().parse::<f64>() {
        Ok(d) if d.is_finite() && ok(d) && d <= MAX_DAYS => Ok(d),
        Ok(d) if d.is_finite() && d <= MAX_DAYS => Err(invalid(
            var,
            value,
            if var == "RETENTION_DAYS" {
                "must be more than 0"
            } else {
                "must not be negative"
            },
        )),
        _ => Err(invalid(var, value, problem)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<RetentionConfig, ConfigError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        RetentionConfig::from_lookup(&|name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn defaults_keep_thirty_days_redact_never_and_purge_hourly() {
        assert_eq!(read(&[]).expect("defaults"), RetentionConfig::default());
        let d = RetentionConfig::default();
        assert_eq!(d.retention, Duration::from_secs(30 * 86_400));
        assert_eq!(d.redact_after, None);
        assert_eq!(d.purge_interval, Duration::from_secs(3600));
    }

    #[test]
    fn decimals_are_days() {
        let c = read(&[
            ("RETENTION_DAYS", "0.5"),
            ("REDACT_AFTER_DAYS", "0.25"),
            ("PURGE_INTERVAL_SECONDS", "60"),
        ])
        .expect("valid");
        assert_eq!(c.retention, Duration::from_secs(43_200));
        assert_eq!(c.redact_after, Some(Duration::from_secs(21_600)));
        assert_eq!(c.purge_interval, Duration::from_secs(60));
        assert_eq!(
            read(&[("REDACT_AFTER_DAYS", "0")])
                .expect("valid")
                .redact_after,
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (pairs, var) in [
            (&[("RETENTION_DAYS", "0")][..], "RETENTION_DAYS"),
            (&[("RETENTION_DAYS", "-1")][..], "RETENTION_DAYS"),
            (&[("RETENTION_DAYS", "NaN")][..], "RETENTION_DAYS"),
            (&[("RETENTION_DAYS", "inf")][..], "RETENTION_DAYS"),
            (&[("RETENTION_DAYS", "36501")][..], "RETENTION_DAYS"),
            (&[("RETENTION_DAYS", "thirty")][..], "RETENTION_DAYS"),
            (&[("REDACT_AFTER_DAYS", "30")][..], "REDACT_AFTER_DAYS"),
            (&[("REDACT_AFTER_DAYS", "31")][..], "REDACT_AFTER_DAYS"),
            (&[("REDACT_AFTER_DAYS", "-0.1")][..], "REDACT_AFTER_DAYS"),
            (
                &[("RETENTION_DAYS", "2"), ("REDACT_AFTER_DAYS", "2")][..],
                "REDACT_AFTER_DAYS",
            ),
            (
                &[("PURGE_INTERVAL_SECONDS", "0")][..],
                "PURGE_INTERVAL_SECONDS",
            ),
            (
                &[("PURGE_INTERVAL_SECONDS", "1.5")][..],
                "PURGE_INTERVAL_SECONDS",
            ),
        ] {
            let error = read(pairs).expect_err("invalid");
            assert!(error.to_string().starts_with(var), "{pairs:?}: {error}");
        }
    }
}
