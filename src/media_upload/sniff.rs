//! The content type of an uploaded file, judged from its bytes (magic numbers, the `infer` crate),
//! not taken on trust from what the part declares.
//!
//! * The judged type must be one Plivo carries (the one list: [`plivo_carries`]).
//! * It must be of the same kind as the declared type: an HTML file declared `image/png` is refused.
//!   Image types match image types; audio and video match each other (their containers are shared:
//!   an `.m4a` is an MP4); any other type must match exactly.
//! * Text types that bytes cannot tell apart (`text/vcard`, `text/plain`, `text/csv`) are accepted
//!   as declared when the bytes are UTF-8 without NUL.
//! * No declared type (or `application/octet-stream`, what clients send when they do not know)
//!   declares nothing: the judged type stands, and for text the file name's extension names it.

use crate::media_preflight::plivo_carries;

/// Text types the bytes cannot tell apart; accepted as declared when the bytes are clean UTF-8.
const TEXT_TYPES: &[&str] = &[
    "text/vcard",
    "text/x-vcard",
    "text/directory",
    "text/plain",
    "text/csv",
    "text/calendar",
];

/// Why a file's type is refused: what was declared and what the bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeRefused {
    /// The declared type (essence), if any.
    pub declared: Option<String>,
    /// The type judged from the bytes, if the bytes were recognised.
    pub detected: Option<String>,
    /// A sentence a person can act on (without the file name; the caller adds it).
    pub reason: String,
}

/// Judges the content type of one file; answers the type to record and send to Plivo.
pub fn judge(declared: Option<&str>, file_name: &str, bytes: &[u8]) -> Result<String, TypeRefused> {
    let declared = declared
        .map(essence)
        .filter(|d| !d.is_empty() && d != "application/octet-stream");
    let detected = infer::get(bytes).map(|t| t.mime_type().to_owned());
    let refuse = |reason: String| TypeRefused {
        declared: declared.clone(),
        detected: detected.clone(),
        reason,
    };
    match (&detected, &declared) {
        (Some(found), _) if !plivo_carries(found) => Err(refuse(format!(
            "its bytes are {found}, which Plivo cannot send in an MMS (images, video, audio, \
             vCard, CSV, PDF and plain text are fine)"
        ))),
        (Some(found), Some(said)) if kind(found) != kind(said) => Err(refuse(format!(
            "it is declared {said} but its bytes are {found}"
        ))),
        (Some(found), _) => Ok(found.clone()),
        (None, said) => {
            let text_type = said.clone().or_else(|| type_from_extension(file_name));
            match text_type {
                Some(t) if TEXT_TYPES.contains(&t.as_str()) => {
                    if is_clean_text(bytes) {
                        Ok(t)
                    } else {
                        Err(refuse(format!(
                            "it is declared {t} but its bytes are not UTF-8 text without NUL"
                        )))
                    }
                }
                Some(t) => Err(refuse(format!(
                    "it is declared {t} but its bytes are not a file of that type"
                ))),
                None => Err(refuse(
                    "its bytes are of no type Plivo can send in an MMS, and the part declares none"
                        .to_owned(),
                )),
            }
        }
    }
}

/// `type/subtype` in lowercase, without parameters.
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The kind a type belongs to for the "same kind as declared" rule.
fn kind(essence: &str) -> &str {
    match essence.split_once('/').map(|(k, _)| k) {
        Some("image") => "image",
        Some("audio" | "video") => "audio/video",
        _ if essence == "application/ogg" => "audio/video",
        _ => essence,
    }
}

/// The text type a file name's extension names, for parts that declare no type.
fn type_from_extension(file_name: &str) -> Option<String> {
    let (_, ext) = file_name.rsplit_once('.')?;
    let t = match ext.to_ascii_lowercase().as_str() {
        "vcf" | "vcard" => "text/vcard",
        "csv" => "text/csv",
        "txt" | "text" => "text/plain",
        "ics" => "text/calendar",
        _ => return None,
    };
    Some(t.to_owned())
}

/// UTF-8 without NUL: what a text type must be when the bytes cannot say more.
fn is_clean_text(bytes: &[u8]) -> bool {
    !bytes.contains(&0) && std::str::from_utf8(bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] =
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    const JPEG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0";
    const GIF: &[u8] = b"GIF89a\x01\0\x01\0\0\0\0;";
    const PDF: &[u8] = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n";
    const HTML: &[u8] = b"<!DOCTYPE html><html><body>hi</body></html>";
    const VCARD: &[u8] = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada\r\nEND:VCARD\r\n";
    const ZIP: &[u8] = b"PK\x03\x04\x14\0\0\0\0\0";

    #[test]
    fn images_pdf_are_judged_from_their_bytes() {
        assert_eq!(judge(Some("image/png"), "a.png", PNG).unwrap(), "image/png");
        // Another image type than declared is the same kind: the bytes' type is recorded.
        assert_eq!(
            judge(Some("image/png"), "a.png", JPEG).unwrap(),
            "image/jpeg"
        );
        assert_eq!(judge(None, "x", GIF).unwrap(), "image/gif");
        assert_eq!(
            judge(Some("application/octet-stream"), "x.bin", PNG).unwrap(),
            "image/png"
        );
        assert_eq!(
            judge(Some("Application/PDF; q=1"), "a.pdf", PDF).unwrap(),
            "application/pdf"
        );
    }

    #[test]
    fn another_kind_than_declared_is_refused() {
        let e = judge(Some("image/png"), "a.png", HTML).unwrap_err();
        assert_eq!(e.detected.as_deref(), Some("text/html"));
        assert_eq!(e.declared.as_deref(), Some("image/png"));
        let e = judge(Some("application/pdf"), "a.pdf", PNG).unwrap_err();
        assert!(
            e.reason.contains("declared application/pdf"),
            "{}",
            e.reason
        );
        assert!(judge(Some("video/mp4"), "a.mp4", GIF).is_err());
    }

    #[test]
    fn types_plivo_does_not_carry_are_refused() {
        assert!(judge(None, "a.zip", ZIP).is_err());
        assert!(judge(Some("text/html"), "a.html", HTML).is_err());
        assert!(judge(Some("image/png"), "a.png", b"").is_err());
        assert!(judge(None, "mystery", b"\x01\x02\x03").is_err());
    }

    #[test]
    fn text_types_are_taken_as_declared_when_clean() {
        assert_eq!(
            judge(Some("text/vcard"), "a.vcf", VCARD).unwrap(),
            "text/vcard"
        );
        assert_eq!(
            judge(Some("text/csv"), "a.csv", b"a,b\n1,2\n").unwrap(),
            "text/csv"
        );
        assert_eq!(
            judge(
                Some("text/plain; charset=utf-8"),
                "a.txt",
                "h\u{e9}llo".as_bytes()
            )
            .unwrap(),
            "text/plain"
        );
        assert_eq!(judge(None, "card.VCF", VCARD).unwrap(), "text/vcard");
        assert_eq!(
            judge(Some("application/octet-stream"), "a.csv", b"a,b").unwrap(),
            "text/csv"
        );
        assert!(judge(Some("text/plain"), "a.txt", b"nul\0inside").is_err());
        assert!(judge(Some("text/plain"), "a.txt", b"\xff\xfe").is_err());
        assert!(judge(Some("text/html"), "a.txt", b"plain words").is_err());
        assert!(judge(None, "a.txt.exe", b"plain words").is_err());
    }
}
