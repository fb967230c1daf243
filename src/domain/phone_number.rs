//! A recipient's phone number: E.164, valid, and in the United States or Canada.

use std::fmt;
use std::sync::LazyLock;

use phonenumber::country;
use phonenumber::metadata::Metadata;

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
    ///
    /// A `+1` number whose ten digits match the US or Canadian numbering plan is accepted after one
    /// check against those two regions' metadata ([`is_us_or_canadian`]); anything else (another
    /// country, another `+1` region, an invalid number) takes the full `phonenumber` parse, which
    /// says which of the two errors it is. Both paths give the same answer for every input (tested).
    pub fn parse(input: &str) -> Result<Self, PhoneNumberError> {
        if let Some(national) = input.strip_prefix("+1") {
            if national.len() == 10
                && national.bytes().all(|b| b.is_ascii_digit())
                && is_us_or_canadian(national)
            {
                return Ok(Self(input.to_owned()));
            }
        }
        Self::parse_with_full_metadata(input)
    }

    /// The full parse: any E.164 number through `phonenumber`, then its region.
    fn parse_with_full_metadata(input: &str) -> Result<Self, PhoneNumberError> {
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

/// The United States' and Canada's metadata, looked up once.
static NANP_REGIONS: LazyLock<[&'static Metadata; 2]> = LazyLock::new(|| {
    let region = |id: &str| {
        phonenumber::metadata::DATABASE
            .by_id(id)
            .unwrap_or_else(|| panic!("phonenumber's metadata has no region {id}"))
    };
    [region("US"), region("CA")]
});

/// Whether the ten digits after `+1` are a valid number of the United States or Canada: the
/// check `phonenumber::is_valid` makes (the general pattern, then any number type's pattern), made
/// once per region instead of for every `+1` region and then again for the region's id.
fn is_us_or_canadian(national: &str) -> bool {
    NANP_REGIONS.iter().any(|meta| {
        let d = meta.descriptors();
        d.general().is_match(national)
            && [
                d.premium_rate(),
                d.toll_free(),
                d.shared_cost(),
                d.voip(),
                d.personal_number(),
                d.pager(),
                d.uan(),
                d.voicemail(),
                d.fixed_line(),
                d.mobile(),
            ]
            .into_iter()
            .flatten()
            .any(|desc| desc.is_match(national))
    })
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

/// A number as the opt-out list and Plivo's webhooks need it (E.164), from E.164 or from digits alone (as Plivo writes
/// `From` and `To`, and as a path may carry it); `None` when it is not a valid number.
pub fn normalize_number(input: &str) -> Option<String> {
    let input = input.trim();
    let e164 = if input.starts_with('+') {
        input.to_owned()
    } else {
        format!("+{input}")
    };
    parse_e164(&e164).ok().map(|_| e164)
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

    /// Every area code, with exchanges and lines that stress the patterns: the quick check and the
    /// full parse agree on each.
    #[test]
    fn the_quick_check_agrees_with_the_full_parse_on_every_area_code() {
        let mut accepted = 0;
        for area in 0..1000 {
            for rest in [
                "2345678", "5550123", "1234567", "9112345", "2000000", "8765432",
            ] {
                let input = format!("+1{area:03}{rest}");
                let quick = PhoneNumber::parse(&input);
                let full = PhoneNumber::parse_with_full_metadata(&input);
                assert_eq!(quick, full, "{input}");
                accepted += usize::from(quick.is_ok());
            }
        }
        // Most NANP area codes are American or Canadian; a check that accepts nothing agrees too.
        assert!(accepted > 1000, "{accepted}");
    }

    proptest! {
        #[test]
        fn the_quick_check_agrees_with_the_full_parse(digits in "[0-9]{10}") {
            let input = format!("+1{digits}");
            prop_assert_eq!(
                PhoneNumber::parse(&input),
                PhoneNumber::parse_with_full_metadata(&input)
            );
        }

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
