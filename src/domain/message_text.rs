//! The text of an MMS: optional, at most 1600 characters.

use std::fmt;

/// The most characters (not bytes) a message text may have.
pub const MAX_TEXT_CHARS: usize = 1600;

/// Why a string is not a [`MessageText`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("messageText has {0} characters; the limit is {MAX_TEXT_CHARS}")]
pub struct MessageTextError(pub usize);

/// Message text of at most [`MAX_TEXT_CHARS`] characters, counted as Unicode scalar values.
#[derive(Clone, PartialEq, Eq)]
pub struct MessageText(String);

impl MessageText {
    /// Checks the length in characters.
    pub fn parse(input: String) -> Result<Self, MessageTextError> {
        let count = input.chars().count();
        if count > MAX_TEXT_CHARS {
            return Err(MessageTextError(count));
        }
        Ok(Self(input))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Message bodies are personal data: `Debug` shows only the length.
impl fmt::Debug for MessageText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageText({} chars)", self.0.chars().count())
    }
}

impl AsRef<str> for MessageText {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn counts_characters_not_bytes() {
        let emoji = "😀".repeat(MAX_TEXT_CHARS);
        assert!(emoji.len() > MAX_TEXT_CHARS);
        assert!(MessageText::parse(emoji).is_ok());
        let accented = "é".repeat(MAX_TEXT_CHARS + 1);
        assert_eq!(
            MessageText::parse(accented),
            Err(MessageTextError(MAX_TEXT_CHARS + 1))
        );
    }

    #[test]
    fn boundaries() {
        assert!(MessageText::parse(String::new()).unwrap().is_empty());
        assert!(MessageText::parse("a".repeat(MAX_TEXT_CHARS)).is_ok());
        assert!(MessageText::parse("a".repeat(MAX_TEXT_CHARS + 1)).is_err());
    }

    #[test]
    fn debug_hides_the_text() {
        let t = MessageText::parse("secret plans".to_owned()).unwrap();
        assert_eq!(format!("{t:?}"), "MessageText(12 chars)");
    }

    proptest! {
        #[test]
        fn accepts_exactly_up_to_the_limit(s in "\\PC{0,1700}") {
            let n = s.chars().count();
            prop_assert_eq!(MessageText::parse(s).is_ok(), n <= MAX_TEXT_CHARS);
        }
    }
}
