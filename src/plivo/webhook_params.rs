//! Strict parsing of the parameters Plivo posts to webhooks (`docs/plivo-api.md` §4 and §11).
//!
//! V3 signs the sorted keys and values concatenated without separators, so one signature also
//! covers other splits of the same string (`ErrorCode=80` moved into the end of the value before
//! it, or into a longer key). A split only changes meaning when some parameter can absorb a
//! neighbour's text; these rules leave none that can:
//!
//! * a parameter may appear once;
//! * every documented parameter has the grammar Plivo uses (digits, a UUID, a time, one of a few
//!   words) and none of those grammars allows an upper-case letter, while every documented name but
//!   `requester_ip` starts with one, so no value can swallow the name after it;
//! * an undocumented name (Plivo may add some) must look like Plivo's names, must not be a prefix
//!   of a documented one nor start with one (`ErrorCode8`), and its value must hold no upper-case
//!   letter either.
//!
//! A webhook kind whose parameters include free text (an inbound message's `Text`) has to make the
//! names that sort after that text required, so that absorbing them fails.

use std::collections::BTreeMap;

/// Why a callback's parameters do not parse as Plivo sends them; the value itself is never quoted
/// (it may hold a phone number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidParam {
    /// The parameter at fault.
    pub name: String,
    /// What is wrong with it, as a sentence.
    pub problem: String,
}

impl InvalidParam {
    /// `name` is at fault because of `problem`.
    pub fn new(name: &str, problem: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            problem: problem.into(),
        }
    }
}

/// A callback's parameters, each name at most once, names checked against the documented ones.
#[derive(Debug, Clone)]
pub struct WebhookParams {
    values: BTreeMap<String, String>,
}

impl WebhookParams {
    /// Takes the decoded pairs; `documented` lists the names this kind of webhook carries.
    /// Undocumented names follow the rules of the module documentation.
    pub fn parse(pairs: &[(String, String)], documented: &[&str]) -> Result<Self, InvalidParam> {
        let mut values = BTreeMap::new();
        for (name, value) in pairs {
            if !documented.contains(&name.as_str()) {
                check_undocumented(name, value, documented)?;
            }
            if value.chars().any(char::is_control) {
                return Err(InvalidParam::new(name, "holds a control character"));
            }
            if values.insert(name.clone(), value.clone()).is_some() {
                return Err(InvalidParam::new(name, "is given more than once"));
            }
        }
        Ok(Self { values })
    }

    /// The value of `name`, if present (possibly empty).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The value of `name`, which must be present and not empty.
    pub fn required(&self, name: &str) -> Result<&str, InvalidParam> {
        match self.get(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(InvalidParam::new(name, "is missing")),
        }
    }

    /// The value of `name` when present and not empty, checked with `valid` (`what` says what it
    /// should be, for the error).
    pub fn optional(
        &self,
        name: &str,
        what: &str,
        valid: fn(&str) -> bool,
    ) -> Result<Option<&str>, InvalidParam> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) if valid(v) => Ok(Some(v)),
            Some(_) => Err(InvalidParam::new(name, format!("is not {what}"))),
        }
    }

    /// Checks every present, non-empty parameter named in `rules` with its grammar.
    pub fn check_all(&self, rules: &[Rule]) -> Result<(), InvalidParam> {
        for (name, what, valid) in rules {
            self.optional(name, what, *valid)?;
        }
        Ok(())
    }
}

fn check_undocumented(name: &str, value: &str, documented: &[&str]) -> Result<(), InvalidParam> {
    let mut chars = name.chars();
    let well_formed = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !well_formed || name.len() > 64 {
        return Err(InvalidParam::new(name, "is not a Plivo parameter name"));
    }
    if documented
        .iter()
        .any(|d| name.starts_with(d) || d.starts_with(name))
    {
        return Err(InvalidParam::new(
            name,
            "overlaps a Plivo parameter name (a re-split signed string)",
        ));
    }
    if value.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(InvalidParam::new(
            name,
            "is not a Plivo parameter (its value may hide another parameter)",
        ));
    }
    Ok(())
}

/// A parameter's grammar: its name, what its value should be (for the error), and the check.
pub type Rule = (&'static str, &'static str, fn(&str) -> bool);

/// One or more ASCII digits.
pub fn is_digits(v: &str) -> bool {
    !v.is_empty() && v.len() <= 32 && v.bytes().all(|b| b.is_ascii_digit())
}

/// A decimal amount such as `0.02000`.
pub fn is_decimal(v: &str) -> bool {
    match v.split_once('.') {
        Some((int, frac)) => is_digits(int) && is_digits(frac),
        None => is_digits(v),
    }
}

/// A phone number as Plivo writes it: digits, optionally after `+`.
pub fn is_number(v: &str) -> bool {
    let digits = v.strip_prefix('+').unwrap_or(v);
    digits.len() <= 20 && is_digits(digits)
}

/// A lower-case hyphenated UUID, as Plivo's message UUIDs are.
pub fn is_uuid(v: &str) -> bool {
    v.len() == 36
        && v.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

/// Plivo's time format, `YYYY-mm-dd HH:MM:SS` with up to six fraction digits, a real date and
/// time.
pub fn is_plivo_time(v: &str) -> bool {
    let (whole, fraction) = v.split_once('.').unwrap_or((v, ""));
    let fraction_ok = !v.contains('.') || (is_digits(fraction) && fraction.len() <= 6);
    whole.len() == 19
        && fraction_ok
        && chrono::NaiveDateTime::parse_from_str(whole, "%Y-%m-%d %H:%M:%S").is_ok()
}

/// An IPv4 or IPv6 address.
pub fn is_ip(v: &str) -> bool {
    v.parse::<std::net::IpAddr>().is_ok()
}

/// Free text without upper-case ASCII letters (Plivo's reserved and WhatsApp fields).
pub fn is_lower_text(v: &str) -> bool {
    v.len() <= 256 && !v.chars().any(|c| c.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const DOC: &[&str] = &["DeliveryReportTime", "ErrorCode", "From", "Status"];

    #[test]
    fn a_name_given_twice_is_refused() {
        let e = WebhookParams::parse(&pairs(&[("Status", "sent"), ("Status", "failed")]), DOC)
            .unwrap_err();
        assert_eq!(e.name, "Status");
    }

    #[test]
    fn undocumented_names_that_overlap_documented_ones_are_refused() {
        for name in ["ErrorCode8", "ErrorCode80From", "Error", "Statu"] {
            assert!(
                WebhookParams::parse(&pairs(&[(name, "0")]), DOC).is_err(),
                "{name}"
            );
        }
    }

    #[test]
    fn undocumented_names_are_accepted_when_they_cannot_hide_anything() {
        let p = WebhookParams::parse(&pairs(&[("Tags", "a,b"), ("new_field", "1")]), DOC)
            .expect("accepted");
        assert_eq!(p.get("Tags"), Some("a,b"));
        for (name, value) in [
            ("Tags", "xStatusfailed"),
            ("1abc", ""),
            ("a b", ""),
            ("", ""),
        ] {
            assert!(
                WebhookParams::parse(&pairs(&[(name, value)]), DOC).is_err(),
                "{name}={value}"
            );
        }
    }

    #[test]
    fn control_characters_are_refused() {
        assert!(WebhookParams::parse(&pairs(&[("From", "1\n2")]), DOC).is_err());
    }

    #[test]
    fn grammars_match_what_plivo_sends() {
        assert!(is_plivo_time("2024-08-21 18:28:49.244057"));
        assert!(is_plivo_time("2024-08-21 18:28:49"));
        assert!(!is_plivo_time("2024-08-21 18:28:49.244057ErrorCode80"));
        assert!(!is_plivo_time("2024-02-30 18:28:49"));
        assert!(!is_plivo_time("2024-08-21 18:28:49."));
        assert!(!is_plivo_time("2024-08-21T18:28:49"));
        assert!(is_uuid("db3ce55a-7f1d-11e1-8ea7-1231380bc196"));
        assert!(!is_uuid("db3ce55a-7f1d-11e1-8ea7-1231380bc19"));
        assert!(!is_uuid("DB3CE55A-7F1D-11E1-8EA7-1231380BC196"));
        assert!(is_digits("000") && !is_digits("80x") && !is_digits(""));
        assert!(is_decimal("0.02000") && is_decimal("1") && !is_decimal("1.") && !is_decimal(".5"));
        assert!(is_number("14155550100") && is_number("+14155550100") && !is_number("+"));
        assert!(is_ip("127.0.0.1") && is_ip("::1") && !is_ip("localhost"));
    }

    #[test]
    fn optional_values_are_checked_only_when_present() {
        let p = WebhookParams::parse(&pairs(&[("ErrorCode", ""), ("From", "x1")]), DOC)
            .expect("parsed");
        assert_eq!(p.optional("ErrorCode", "digits", is_digits), Ok(None));
        assert_eq!(p.optional("Status", "digits", is_digits), Ok(None));
        assert!(p.optional("From", "a number", is_number).is_err());
        assert!(p.required("ErrorCode").is_err());
    }
}
