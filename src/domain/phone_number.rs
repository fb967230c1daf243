//! A recipient's phone number: E.164, valid, and in the United States or Canada.

use std::fmt;

use phonenumber::country;

/// Why a string is not a [`PhoneNumber`] we can send MMS to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneNumberError {
    /// Not `+` followed by 8 to 15 digits, or not a number that exists in the numbering plan.
    #[error("{0:?} is not a valid E.164 phone number (a + followed by 8 to 15 digits, e.g. +14155551234)")]
    Invalid(String),
    /// A valid number outside the United States and Canada, where Plivo does not deliver MMS.
    #[error("{0:?} is not a US or Canadian number; Plivo delivers MMS only to the United States and Canada")]
    Unsupported(String),
}

/// A valid US or Canadian phone number in E.164 form (`+1` and ten digits).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses an E.164 string and checks it is a valid US or Canadian number.
    pub fn parse(input: &str) -> Result<Self, PhoneNumberError> {
        let number = parse_e164(input)?;
        match number.country().id() {
            Some(country::Id::US | country::Id::CA) => Ok(Self(input.to_owned())),
            _ => Err(PhoneNumberError::Unsupported(input.to_owned())),
        }
    }

    /// The number in E.164 form, e.g. `+14155551234`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number without the leading `+`, as Plivo's `src`/`dst` parameters carry it.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }

    /// A form safe to log: the country code and the last two digits, e.g. `+1*******34`.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

/// Parses any valid E.164 number, whatever its country (used for the sender number).
pub(crate) fn parse_e164(input: &str) -> Result<phonenumber::PhoneNumber, PhoneNumberError> {
    let invalid = || PhoneNumberError::Invalid(truncate(input));
    let digits = input.strip_prefix('+').ok_or_else(invalid)?;
    if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let number = phonenumber::parse(None, input).map_err(|_| invalid())?;
    if !phonenumber::is_valid(&number) {
        return Err(invalid());
    }
    Ok(number)
}

/// Masks a phone-number-like string for logs, keeping a `+1` prefix and the last two characters.
pub fn mask(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    if chars.len() <= 4 {
        return "*".repeat(chars.len());
    }
    let keep_head = if number.starts_with('+') { 2 } else { 1 };
    let tail = chars.len() - 2;
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < keep_head || i >= tail { *c } else { '*' })
        .collect()
}

/// Keeps error messages short when a caller sends something huge.
fn truncate(input: &str) -> String {
    const MAX: usize = 32;
    if input.chars().count() <= MAX {
        input.to_owned()
    } else {
        let mut s: String = input.chars().take(MAX).collect();
        s.push('…');
        s
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `Debug` masks the number so that a stray `{:?}` in a log line does not leak it.
impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

impl AsRef<str> for PhoneNumber {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_us_and_canadian_numbers() {
        for ok in ["+14155551234", "+16135550123", "+12125550199"] {
            let n = PhoneNumber::parse(ok).expect(ok);
            assert_eq!(n.as_str(), ok);
            assert_eq!(n.digits(), &ok[1..]);
        }
    }

    #[test]
    fn refuses_valid_numbers_outside_us_and_canada() {
        for other in ["+447911123456", "+33612345678", "+4915112345678"] {
            assert!(
                matches!(
                    PhoneNumber::parse(other),
                    Err(PhoneNumberError::Unsupported(_))
                ),
                "{other}"
            );
        }
    }

    #[test]
    fn refuses_invalid_numbers() {
        let cases = [
            "",
            "+",
            "14155551234",
            "+1415555123",
            "+19999999999",
            "+1 415 555 1234",
            "+1415555123a",
            "+1234567890123456",
            "++14155551234",
            "+14155551234\n",
            "＋14155551234",
        ];
        for bad in cases {
            assert!(
                matches!(PhoneNumber::parse(bad), Err(PhoneNumberError::Invalid(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn masks_numbers_for_logs() {
        let n = PhoneNumber::parse("+14155551234").unwrap();
        assert_eq!(n.masked(), "+1********34");
        assert_eq!(format!("{n:?}"), "PhoneNumber(+1********34)");
        assert_eq!(mask("123"), "***");
    }

    #[test]
    fn error_messages_are_bounded() {
        let long = format!("+{}", "1".repeat(5000));
        let msg = PhoneNumber::parse(&long).unwrap_err().to_string();
        assert!(msg.len() < 200, "{msg}");
    }

    proptest! {
        #[test]
        fn never_panics_and_accepts_only_plus_one(s in "\\PC{0,40}") {
            if let Ok(n) = PhoneNumber::parse(&s) {
                prop_assert!(n.as_str().starts_with("+1"));
                prop_assert_eq!(n.as_str().len(), 12);
            }
        }

        #[test]
        fn anything_but_plus_and_digits_is_invalid(s in "[0-9]{0,3}[^+0-9][0-9]{0,12}") {
            prop_assert!(PhoneNumber::parse(&s).is_err());
        }
    }
}
