//! Masking phone numbers inside free text (Plivo's error messages) before it is logged.

use super::phone_number::mask;

/// `text` with every run of 8 or more digits (with a `+` before it, if any) masked as
/// [`mask`] masks a number: `'14155550001' is not a valid phone number.` becomes
/// `'1********01' is not a valid phone number.`
pub fn mask_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let plus = chars[i] == '+' && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if chars[i].is_ascii_digit() || plus {
            let start = i;
            i += usize::from(plus);
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let run: String = chars[start..i].iter().collect();
            let digits = i - start - usize::from(plus);
            if digits >= 8 {
                out.push_str(&mask(&run));
            } else {
                out.push_str(&run);
            }
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_plivo_text_are_masked() {
        let masked = mask_numbers("'14155550001' is not a valid phone number.");
        assert!(!masked.contains("4155550"), "{masked}");
        assert!(
            masked.ends_with("' is not a valid phone number."),
            "{masked}"
        );
        let masked = mask_numbers("dst +14155550001<+14155550002 invalid");
        assert!(!masked.contains("415555"), "{masked}");
        assert!(masked.contains('<'), "{masked}");
    }

    #[test]
    fn short_numbers_and_other_text_are_kept() {
        for text in [
            "error 400 at 12:30",
            "limit 1600 characters",
            "",
            "é+ 1234567",
        ] {
            assert_eq!(mask_numbers(text), text);
        }
    }
}
