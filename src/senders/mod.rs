//! Which number sends each message, and how fast each number may send (docs/api.md "Senders and
//! pacing"; Plivo's per-number queue is described in docs/plivo-api.md §9).
//!
//! - [`SenderPool`]: `PLIVO_SENDER_NUMBER` may list several numbers; a recipient always gets the
//!   same one (a stable hash of the recipient over the pool, so every instance and every restart
//!   agrees), unless the send names `senderNumber`. With `PLIVO_POWERPACK_UUID`, Plivo picks.
//! - [`SenderPacing`]: `PLIVO_SENDER_MPS` caps recipients a second per sender number for all
//!   instances on one database, with a GCRA slot schedule kept in the store.

mod pacing;
mod pool;

pub use pacing::{sleep_until, SenderPacing, SlotWait};
pub use pool::SenderPool;

/// The sender number in a Plivo callback's `From` (digits, with or without `+`), in E.164.
pub fn sender_from_callback(from: &str) -> Option<String> {
    let from = from.trim();
    let number = if from.starts_with('+') {
        from.to_owned()
    } else {
        format!("+{from}")
    };
    crate::domain::parse_e164(&number).ok().map(|_| number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_senders_become_e164() {
        assert_eq!(
            sender_from_callback("14155550100").as_deref(),
            Some("+14155550100")
        );
        assert_eq!(
            sender_from_callback("+14155550100").as_deref(),
            Some("+14155550100")
        );
        assert_eq!(sender_from_callback("PLIVO"), None);
        assert_eq!(sender_from_callback(""), None);
    }
}
