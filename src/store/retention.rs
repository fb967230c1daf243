//! Retention types: what a `DELETE /messages/{id}` found, and how a redacted number looks.

/// What [`Store::delete_message`](super::Store::delete_message) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// The message and everything recorded about it are gone.
    Deleted,
    /// The message is still under way (not final, not ended without a receipt): nothing changed.
    NotFinal,
    /// No message has that id.
    NotFound,
}

/// A phone number as redaction leaves it: `+`, then `*` for every digit but the last four, then
/// those four (`+14155551234` → `+*******1234`). Anything that is not a digit (or an earlier `*`) is
/// dropped, so masking a masked number changes nothing.
pub fn mask_number(number: &str) -> String {
    let digits: Vec<char> = number
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '*')
        .collect();
    let hidden = digits.len().saturating_sub(4);
    let mut masked = String::with_capacity(digits.len() + 1);
    masked.push('+');
    masked.extend(std::iter::repeat_n('*', hidden));
    masked.extend(&digits[hidden..]);
    masked
}

#[cfg(test)]
mod tests {
    use super::mask_number;

    #[test]
    fn every_digit_but_the_last_four_is_hidden() {
        assert_eq!(mask_number("+14155551234"), "+*******1234");
        assert_eq!(mask_number("+447700900123"), "+********0123");
        assert_eq!(mask_number("+1234"), "+1234");
        assert_eq!(mask_number("+12"), "+12");
        // Masking twice changes nothing (a redacted record may be redacted again).
        assert_eq!(mask_number(&mask_number("+14155551234")), "+*******1234");
    }
}
