//! The sender pool and per-sender pacing (README.md "Senders and pacing"):
//! `PLIVO_SENDER_NUMBER` (one or more numbers, comma-separated), `PLIVO_POWERPACK_UUID`,
//! `PLIVO_SENDER_MPS`, `SYNC_SLOT_WAIT_MS`.

use std::time::Duration;

use super::{invalid, ranged, ConfigError, SANDBOX_SENDER_NUMBER};
use crate::domain::parse_e164;

/// Which numbers send, and how fast each may.
#[derive(Debug, Clone, PartialEq)]
pub struct SendersConfig {
    /// `PLIVO_SENDER_NUMBER`: the pool, E.164, in the order given (the order picks each recipient's
    /// sender, so changing it re-pins recipients). Empty only with a Powerpack.
    pub numbers: Vec<String>,
    /// `PLIVO_POWERPACK_UUID`: sent as `powerpack_uuid` instead of `src`.
    pub powerpack_uuid: Option<String>,
    /// `PLIVO_SENDER_MPS`: recipients a second per sender number (all instances together); `None`:
    /// no limit.
    pub mps: Option<f64>,
    /// `SYNC_SLOT_WAIT_MS`: how long a synchronous send may wait for its sender's slot.
    pub sync_slot_wait: Duration,
}

impl SendersConfig {
    /// Reads the settings; in the sandbox a missing `PLIVO_SENDER_NUMBER` is `+14155550100`.
    pub fn from_lookup(
        get: &impl Fn(&str) -> Option<String>,
        sandbox: bool,
    ) -> Result<Self, ConfigError> {
        let powerpack_uuid = match get("PLIVO_POWERPACK_UUID") {
            None => None,
            Some(v) => {
                let v = v.trim();
                if v.len() > 64 || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                    return Err(invalid(
                        "PLIVO_POWERPACK_UUID",
                        v,
                        "is not a Powerpack UUID (letters, digits and '-', at most 64)",
                    ));
                }
                Some(v.to_owned())
            }
        };
        let raw = match get("PLIVO_SENDER_NUMBER") {
            Some(v) => Some(v),
            None if sandbox && powerpack_uuid.is_none() => Some(SANDBOX_SENDER_NUMBER.to_owned()),
            None => None,
        };
        let numbers = match raw {
            Some(raw) => parse_pool(&raw)?,
            None if powerpack_uuid.is_some() => Vec::new(),
            None => return Err(ConfigError::Missing("PLIVO_SENDER_NUMBER")),
        };
        let mps = match get("PLIVO_SENDER_MPS") {
            None => None,
            Some(v) => match v.trim().parse::<f64>() {
                Ok(mps) if mps.is_finite() && mps > 0.0 && mps <= 1_000_000.0 => Some(mps),
                _ => return Err(invalid(
                    "PLIVO_SENDER_MPS",
                    &v,
                    "must be a positive decimal (messages a second per sender), at most 1000000",
                )),
            },
        };
        let wait = ranged(get, "SYNC_SLOT_WAIT_MS", 5_000, 0..=600_000)?;
        Ok(Self {
            numbers,
            powerpack_uuid,
            mps,
            sync_slot_wait: Duration::from_millis(wait),
        })
    }
}

/// `+14155550100, +14155550101`: each an E.164 number, none twice.
fn parse_pool(raw: &str) -> Result<Vec<String>, ConfigError> {
    let mut numbers = Vec::new();
    for entry in raw.split(',').map(str::trim) {
        if entry.is_empty() {
            return Err(invalid(
                "PLIVO_SENDER_NUMBER",
                raw.trim(),
                "has an empty entry (numbers are separated by single commas)",
            ));
        }
        parse_e164(entry)
            .map_err(|_| invalid("PLIVO_SENDER_NUMBER", entry, "is not a valid E.164 number"))?;
        if numbers.iter().any(|n: &String| n == entry) {
            return Err(invalid(
                "PLIVO_SENDER_NUMBER",
                entry,
                "is listed twice in the pool",
            ));
        }
        numbers.push(entry.to_owned());
    }
    Ok(numbers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)], sandbox: bool) -> Result<SendersConfig, ConfigError> {
        SendersConfig::from_lookup(&crate::config::lookup_in(pairs), sandbox)
    }

    #[test]
    fn a_pool_keeps_its_order_and_defaults_follow_the_contract() {
        let c = read(
            &[(
                "PLIVO_SENDER_NUMBER",
                "+14155550102, +14155550100,+14155550101",
            )],
            false,
        )
        .unwrap();
        assert_eq!(c.numbers, ["+14155550102", "+14155550100", "+14155550101"]);
        assert_eq!((c.mps, c.powerpack_uuid), (None, None));
        assert_eq!(c.sync_slot_wait, Duration::from_millis(5000));
        assert_eq!(read(&[], true).unwrap().numbers, [SANDBOX_SENDER_NUMBER]);
        let paced = read(
            &[
                ("PLIVO_SENDER_NUMBER", "+14155550100"),
                ("PLIVO_SENDER_MPS", "0.25"),
            ],
            false,
        )
        .unwrap();
        assert_eq!(paced.mps, Some(0.25));
    }

    #[test]
    fn a_powerpack_makes_the_number_optional() {
        let c = read(
            &[("PLIVO_POWERPACK_UUID", "d35f2e82-d387-427f-8594")],
            false,
        )
        .unwrap();
        assert!(c.numbers.is_empty());
        assert_eq!(c.powerpack_uuid.as_deref(), Some("d35f2e82-d387-427f-8594"));
        let sandbox = read(&[("PLIVO_POWERPACK_UUID", "pp-1")], true).unwrap();
        assert!(sandbox.numbers.is_empty());
        assert_eq!(
            read(&[], false).unwrap_err(),
            ConfigError::Missing("PLIVO_SENDER_NUMBER")
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value) in [
            ("PLIVO_SENDER_NUMBER", "+14155550100,,+14155550101"),
            ("PLIVO_SENDER_NUMBER", "+14155550100,+1415"),
            ("PLIVO_SENDER_NUMBER", "+14155550100,+14155550100"),
            ("PLIVO_SENDER_MPS", "0"),
            ("PLIVO_SENDER_MPS", "-1"),
            ("PLIVO_SENDER_MPS", "NaN"),
            ("PLIVO_SENDER_MPS", "fast"),
            ("PLIVO_POWERPACK_UUID", "pp uuid with spaces"),
            ("SYNC_SLOT_WAIT_MS", "soon"),
        ] {
            let mut pairs = vec![(var, value)];
            if var != "PLIVO_SENDER_NUMBER" {
                pairs.push(("PLIVO_SENDER_NUMBER", "+14155550100"));
            }
            let err = read(&pairs, false).unwrap_err().to_string();
            assert!(err.starts_with(var), "{err}");
        }
    }
}
