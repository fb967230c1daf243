//! The sender pool: the sticky choice of a sender for each recipient.

use sha2::{Digest, Sha256};

use crate::config::senders::SendersConfig;
use crate::domain::{parse_e164, FieldError};

/// The numbers messages are sent from, or a Powerpack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderPool {
    numbers: Vec<String>,
    powerpack_uuid: Option<String>,
}

impl SenderPool {
    /// A pool of `numbers` (E.164, in the configured order) and an optional Powerpack.
    pub fn new(numbers: Vec<String>, powerpack_uuid: Option<String>) -> Self {
        Self {
            numbers,
            powerpack_uuid,
        }
    }

    /// The pool the configuration describes.
    pub fn from_config(config: &SendersConfig) -> Self {
        Self::new(config.numbers.clone(), config.powerpack_uuid.clone())
    }

    /// One number (the single-sender setup).
    pub fn single(number: &str) -> Self {
        Self::new(vec![number.to_owned()], None)
    }

    /// The numbers, in the configured order.
    pub fn numbers(&self) -> &[String] {
        &self.numbers
    }

    /// `PLIVO_POWERPACK_UUID`, when set.
    pub fn powerpack_uuid(&self) -> Option<&str> {
        self.powerpack_uuid.as_deref()
    }

    /// The sender of a message to `recipient`: `named` when given (already checked with
    /// [`SenderPool::check`]), otherwise the recipient's pinned number; empty with a Powerpack
    /// (Plivo picks, and reports the number in its callback).
    pub fn choose(&self, recipient: &str, named: Option<&str>) -> String {
        if let Some(named) = named {
            return named.to_owned();
        }
        if self.powerpack_uuid.is_some() || self.numbers.is_empty() {
            return String::new();
        }
        let index = sticky_index(recipient, self.numbers.len());
        self.numbers[index].clone()
    }

    /// Checks a requested `senderNumber`: it must be one of the pool. Returns it in E.164.
    pub fn check(&self, named: &str) -> Result<String, FieldError> {
        let refused = || {
            FieldError::new(
                "invalid_field",
                "senderNumber",
                "senderNumber must be one of this service's sender numbers (PLIVO_SENDER_NUMBER).",
            )
        };
        let number = named.trim();
        parse_e164(number).map_err(|_| refused())?;
        self.numbers
            .iter()
            .find(|n| **n == number)
            .cloned()
            .ok_or_else(refused)
    }

    /// The key the pacing schedule of messages from `sender` is kept under: the number, or the
    /// Powerpack for messages Plivo picks the number of.
    pub fn pacing_key(&self, sender: &str) -> String {
        match (&self.powerpack_uuid, sender.is_empty()) {
            (Some(uuid), true) => format!("powerpack:{uuid}"),
            _ => sender.to_owned(),
        }
    }
}

/// The pool position of `recipient`'s sender: the first 8 bytes of SHA-256 over the recipient's
/// E.164 text, as a big-endian integer, modulo the pool size. Fixed by definition (not a
/// process-seeded hasher), so every instance and every restart picks the same number.
pub fn sticky_index(recipient: &str, pool_size: usize) -> usize {
    let digest = Sha256::digest(recipient.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let value = u64::from_be_bytes(first);
    usize::try_from(value % u64::try_from(pool_size.max(1)).unwrap_or(1)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> SenderPool {
        SenderPool::new(
            vec![
                "+14155550101".into(),
                "+14155550102".into(),
                "+14155550103".into(),
            ],
            None,
        )
    }

    #[test]
    fn the_choice_is_a_fixed_function_of_the_recipient() {
        // Computed independently: sha256("+14155551234")[..8] as u64 % 3, and so on.
        let p = pool();
        let first = p.choose("+14155551234", None);
        for _ in 0..10 {
            assert_eq!(p.choose("+14155551234", None), first);
        }
        let expected = |r: &str| {
            let d = Sha256::digest(r.as_bytes());
            (u64::from_be_bytes(d[..8].try_into().unwrap()) % 3) as usize
        };
        for r in ["+14155551234", "+14155559876", "+16045550100"] {
            assert_eq!(p.choose(r, None), p.numbers()[expected(r)]);
        }
        // Many recipients spread over every number.
        let used: std::collections::HashSet<String> = (0..60)
            .map(|i| p.choose(&format!("+1415555{i:04}"), None))
            .collect();
        assert_eq!(used.len(), 3);
    }

    #[test]
    fn a_named_sender_must_be_in_the_pool_and_wins() {
        let p = pool();
        assert_eq!(p.check("+14155550102").unwrap(), "+14155550102");
        for bad in ["+14155550199", "not a number", ""] {
            let e = p.check(bad).unwrap_err();
            assert_eq!((e.code, e.field), ("invalid_field", "senderNumber"));
        }
        assert_eq!(
            p.choose("+14155551234", Some("+14155550103")),
            "+14155550103"
        );
    }

    #[test]
    fn a_powerpack_leaves_the_choice_to_plivo() {
        let p = SenderPool::new(vec![], Some("pp-1".into()));
        assert_eq!(p.choose("+14155551234", None), "");
        assert_eq!(p.pacing_key(""), "powerpack:pp-1");
        assert!(p.check("+14155550101").is_err());
        assert_eq!(pool().pacing_key("+14155550101"), "+14155550101");
    }
}
