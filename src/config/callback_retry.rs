//! `CALLBACK_RETRY_WINDOW_SECONDS`: how long a status event for a caller is retried.

use std::time::Duration;

use super::{ranged, ConfigError};

/// Reads `CALLBACK_RETRY_WINDOW_SECONDS` (default 86400, 1 second to 30 days).
pub fn retry_window(get: &impl Fn(&str) -> Option<String>) -> Result<Duration, ConfigError> {
    Ok(Duration::from_secs(ranged(
        get,
        "CALLBACK_RETRY_WINDOW_SECONDS",
        86_400,
        1..=30 * 86_400,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_to_a_day_and_refuses_nonsense() {
        assert_eq!(
            retry_window(&|_| None).unwrap(),
            Duration::from_secs(86_400)
        );
        assert_eq!(
            retry_window(&|_| Some("60".to_owned())).unwrap(),
            Duration::from_secs(60)
        );
        for bad in ["0", "-5", "a day"] {
            let err = retry_window(&|_| Some(bad.to_owned())).unwrap_err();
            assert!(err.to_string().starts_with("CALLBACK_RETRY_WINDOW_SECONDS"));
        }
    }
}
