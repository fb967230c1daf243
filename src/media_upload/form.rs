//! Reading a `multipart/form-data` body as it streams in (the `multer` crate), with every limit
//! applied while reading: no more than `MAX_UPLOAD_BYTES` is ever read (a `Content-Length` over it
//! is refused before reading anything), no file over 2 MB and no more than ten files are held, and
//! each file's type is judged from its bytes as soon as it is complete.

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use bytes::{Bytes, BytesMut};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::sniff;
use crate::api_error::ApiError;
use crate::domain::MAX_MEDIA;
use crate::media_preflight::{MAX_MEDIA_BYTES, MAX_TOTAL_BYTES};
use crate::plivo::MediaFile;

/// The name of the parts that carry files.
pub const FILE_PART: &str = "file";

/// The most the text fields of one form may hold together (the limit of non-multipart bodies).
pub const MAX_FIELD_BYTES: usize = 64 * 1024;

/// What one kind of multipart request may hold.
#[derive(Debug, Clone)]
pub struct FormRules {
    /// `MAX_UPLOAD_BYTES`: the whole body.
    pub max_body: u64,
    /// The text fields accepted besides `file` parts (a `[]` suffix is accepted on each).
    pub fields: &'static [&'static str],
    /// The most all files (and the fields) may weigh together, when the request is one message.
    pub max_message: Option<u64>,
}

impl FormRules {
    /// `POST /media`: only `file` parts, ten files of 2 MB at most.
    pub fn media(max_body: u64) -> Self {
        Self {
            max_body,
            fields: &[],
            max_message: None,
        }
    }

    /// A multipart `POST /send-mms`: the form's fields, files, and one message of at most 5 MB.
    pub fn message(max_body: u64, fields: &'static [&'static str]) -> Self {
        Self {
            max_body,
            fields,
            max_message: Some(MAX_TOTAL_BYTES),
        }
    }
}

/// A multipart body, read and checked: its text fields in order, and its files in order (each
/// with the type judged from its bytes).
#[derive(Debug, Clone, Default)]
pub struct MultipartForm {
    /// `(name, value)` of every text field, in order; a `[]` suffix is removed from the name.
    pub fields: Vec<(String, String)>,
    /// Every `file` part, in order.
    pub files: Vec<MediaFile>,
}

impl MultipartForm {
    /// What identifies the request for `Idempotency-Key`: the fields and each file's name, type and
    /// SHA-256, never the raw body (whose boundaries differ from one client to the next).
    pub fn fingerprint(&self) -> Vec<u8> {
        let files: Vec<_> = self
            .files
            .iter()
            .map(|f| {
                json!([
                    f.file_name,
                    f.content_type,
                    format!("{:x}", Sha256::digest(&f.bytes))
                ])
            })
            .collect();
        json!({ "multipart": { "fields": self.fields, "files": files } })
            .to_string()
            .into_bytes()
    }

    /// The bytes of all files together.
    pub fn file_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes.len() as u64).sum()
    }
}

/// Whether the request's body is `multipart/form-data`.
pub fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("multipart/form-data"))
}

/// Reads and checks a multipart body with `rules`. Answers as soon as a limit is crossed, without
/// reading the rest.
pub async fn read_multipart(
    headers: &HeaderMap,
    body: Body,
    rules: &FormRules,
) -> Result<MultipartForm, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = multer::parse_boundary(content_type).map_err(|_| {
        ApiError::bad_request(
            "invalid_body",
            "A multipart/form-data body needs a boundary parameter in its Content-Type.",
        )
    })?;
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared_length.is_some_and(|n| n > rules.max_body) {
        return Err(upload_too_large(rules.max_body));
    }
    let constraints = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().whole_stream(rules.max_body));
    let mut multipart =
        multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let mut form = MultipartForm::default();
    let mut field_bytes = 0usize;
    let mut message_bytes = 0u64;
    loop {
        let mut part = match multipart.next_field().await {
            Ok(Some(part)) => part,
            Ok(None) => break,
            // A body with no part at all (empty, or only the closing delimiter): no files.
            Err(multer::Error::IncompleteStream)
                if form.files.is_empty() && form.fields.is_empty() =>
            {
                break
            }
            Err(e) => return Err(malformed(&e, rules)),
        };
        let name = part.name().unwrap_or("").to_owned();
        if name == FILE_PART || name == "file[]" {
            if form.files.len() == MAX_MEDIA {
                return Err(ApiError::bad_request(
                    "too_many_media",
                    format!("A request carries at most {MAX_MEDIA} files; this one has more."),
                )
                .with_field(FILE_PART));
            }
            let index = form.files.len() + 1;
            let file_name = clean_file_name(part.file_name()).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_field",
                    format!("File part {index} has no file name (Content-Disposition filename)."),
                )
                .with_field(FILE_PART)
            })?;
            let declared = part.content_type().map(|m| m.essence_str().to_owned());
            let mut bytes = BytesMut::new();
            while let Some(chunk) = part.chunk().await.map_err(|e| malformed(&e, rules))? {
                if (bytes.len() + chunk.len()) as u64 > MAX_MEDIA_BYTES {
                    return Err(media_too_large(
                        format!(
                            "The file {file_name:?} is larger than {MAX_MEDIA_BYTES} bytes (2 MB), \
                             the most one MMS attachment may weigh."
                        ),
                        json!({ "fileName": file_name, "limitBytes": MAX_MEDIA_BYTES }),
                    ));
                }
                message_bytes += chunk.len() as u64;
                if let Some(max) = rules.max_message.filter(|max| message_bytes > *max) {
                    return Err(message_too_large(max));
                }
                if bytes.capacity() == 0 {
                    // One allocation of the most a file may hold, never grown (a grown buffer is
                    // copied and leaves its old block behind): only the pages written become
                    // resident, so a small file costs what it weighs.
                    bytes.reserve(MAX_MEDIA_BYTES as usize);
                }
                bytes.extend_from_slice(&chunk);
            }
            if bytes.is_empty() {
                return Err(ApiError::bad_request(
                    "invalid_field",
                    format!("The file {file_name:?} is empty."),
                )
                .with_field(FILE_PART));
            }
            let bytes: Bytes = bytes.freeze();
            let content_type =
                sniff::judge(declared.as_deref(), &file_name, &bytes).map_err(|refused| {
                    ApiError::bad_request(
                        "media_type_unsupported",
                        format!("The file {file_name:?} cannot be sent: {}.", refused.reason),
                    )
                    .with_field(FILE_PART)
                    .with_details(json!({
                        "fileName": file_name,
                        "declaredType": refused.declared,
                        "detectedType": refused.detected,
                    }))
                })?;
            form.files.push(MediaFile {
                file_name,
                content_type,
                bytes,
            });
        } else if let Some(known) = rules
            .fields
            .iter()
            .find(|f| **f == name || name.strip_suffix("[]") == Some(**f))
        {
            let mut value = Vec::new();
            while let Some(chunk) = part.chunk().await.map_err(|e| malformed(&e, rules))? {
                field_bytes += chunk.len();
                if field_bytes > MAX_FIELD_BYTES {
                    return Err(ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        format!(
                            "The text fields of the form hold more than {MAX_FIELD_BYTES} bytes."
                        ),
                    ));
                }
                value.extend_from_slice(&chunk);
            }
            let value = String::from_utf8(value).map_err(|_| {
                ApiError::bad_request("invalid_field", format!("{known} is not UTF-8 text."))
                    .with_field(*known)
            })?;
            form.fields.push(((*known).to_owned(), value));
        } else {
            let shown: String = name.chars().take(64).collect();
            let expected = if rules.fields.is_empty() {
                "only file parts".to_owned()
            } else {
                format!("file parts and the fields {}", rules.fields.join(", "))
            };
            return Err(ApiError::bad_request(
                "invalid_field",
                format!("The part {shown:?} is not one this endpoint takes ({expected})."),
            )
            .with_field(shown));
        }
    }
    Ok(form)
}

/// 413 `payload_too_large` for a multipart body over `MAX_UPLOAD_BYTES`.
pub fn upload_too_large(max: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("The multipart body is larger than {max} bytes (MAX_UPLOAD_BYTES)."),
    )
}

/// 413 `media_too_large` for one message whose text and media weigh more than 5 MB.
pub fn message_too_large(max: u64) -> ApiError {
    media_too_large(
        format!(
            "The files and text of this message come to more than {max} bytes (5 MB), the most \
             one MMS may carry."
        ),
        json!({ "limitBytes": max }),
    )
}

fn media_too_large(message: String, details: serde_json::Value) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "media_too_large", message)
        .with_field(FILE_PART)
        .with_details(details)
}

/// A body multer could not read: over the limit, cut short, or not multipart at all.
fn malformed(e: &multer::Error, rules: &FormRules) -> ApiError {
    match e {
        multer::Error::StreamSizeExceeded { .. } => upload_too_large(rules.max_body),
        multer::Error::StreamReadFailed(_) => ApiError::bad_request(
            "invalid_body",
            "The request body broke off before it was complete.",
        ),
        other => ApiError::bad_request(
            "invalid_body",
            format!("The multipart/form-data body is malformed or cut short: {other}."),
        ),
    }
}

/// The file name to send on: its last path segment (browsers may send a whole path), without
/// control characters or quotes, at most 200 characters. `None` when there is no usable name.
fn clean_file_name(raw: Option<&str>) -> Option<String> {
    let last = raw?.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = last
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(200)
        .collect();
    let clean = clean.trim().to_owned();
    (!clean.is_empty() && clean != "." && clean != "..").then_some(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] =
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

    fn headers(boundary: &str, length: Option<usize>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}")
                .parse()
                .unwrap(),
        );
        if let Some(n) = length {
            h.insert(header::CONTENT_LENGTH, n.into());
        }
        h
    }

    /// A part: its name, file name, content type and bytes.
    type Part<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

    fn body(parts: &[Part<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, file, ct, bytes) in parts {
            out.extend_from_slice(b"--XyZ\r\n");
            let mut disposition = format!("Content-Disposition: form-data; name=\"{name}\"");
            if let Some(f) = file {
                disposition.push_str(&format!("; filename=\"{f}\""));
            }
            out.extend_from_slice(disposition.as_bytes());
            out.extend_from_slice(b"\r\n");
            if let Some(ct) = ct {
                out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(bytes);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"--XyZ--\r\n");
        out
    }

    async fn read(raw: Vec<u8>, rules: &FormRules) -> Result<MultipartForm, ApiError> {
        let h = headers("XyZ", Some(raw.len()));
        read_multipart(&h, Body::from(raw), rules).await
    }

    const FIELDS: &[&str] = &["recipientNumber", "mediaUrls"];

    #[tokio::test]
    async fn reads_fields_and_files_in_order() {
        let raw = body(&[
            ("recipientNumber", None, None, b"+14155551234"),
            ("file", Some("dir/a.png"), Some("image/png"), PNG),
            ("mediaUrls[]", None, None, b"https://e.com/a.gif"),
            ("file", Some("b.txt"), Some("text/plain"), b"hello"),
        ]);
        let form = read(raw, &FormRules::message(1 << 20, FIELDS))
            .await
            .unwrap();
        assert_eq!(
            form.fields,
            vec![
                ("recipientNumber".to_owned(), "+14155551234".to_owned()),
                ("mediaUrls".to_owned(), "https://e.com/a.gif".to_owned())
            ]
        );
        assert_eq!(form.files.len(), 2);
        assert_eq!(form.files[0].file_name, "a.png");
        assert_eq!(form.files[0].content_type, "image/png");
        assert_eq!(form.files[1].content_type, "text/plain");
        assert_eq!(form.file_bytes(), PNG.len() as u64 + 5);
    }

    #[tokio::test]
    async fn limits_and_refusals_have_their_codes() {
        let media = FormRules::media(1 << 20);
        let code = |r: Result<MultipartForm, ApiError>| r.unwrap_err().code();
        let unknown = body(&[("recipientNumber", None, None, b"x")]);
        assert_eq!(code(read(unknown, &media).await), "invalid_field");
        let empty = body(&[("file", Some("a.png"), Some("image/png"), b"")]);
        assert_eq!(code(read(empty, &media).await), "invalid_field");
        let nameless = body(&[("file", None, Some("image/png"), PNG)]);
        assert_eq!(code(read(nameless, &media).await), "invalid_field");
        let html = body(&[(
            "file",
            Some("a.png"),
            Some("image/png"),
            b"<html><body>x</body></html>",
        )]);
        assert_eq!(code(read(html, &media).await), "media_type_unsupported");
        let eleven: Vec<_> = (0..11)
            .map(|_| ("file", Some("a.png"), Some("image/png"), PNG))
            .collect();
        assert_eq!(code(read(body(&eleven), &media).await), "too_many_media");
        let big = vec![b'a'; MAX_MEDIA_BYTES as usize + 1];
        let over = body(&[("file", Some("a.txt"), Some("text/plain"), &big)]);
        assert_eq!(
            code(read(over, &FormRules::media(8 << 20)).await),
            "media_too_large"
        );
        let mut cut = body(&[("file", Some("a.png"), Some("image/png"), PNG)]);
        cut.truncate(cut.len() - 12);
        assert_eq!(code(read(cut, &media).await), "invalid_body");
        let raw = body(&[("file", Some("a.png"), Some("image/png"), PNG)]);
        let small = FormRules::media(32);
        // The declared length alone is refused, and so is a body longer than it says.
        assert_eq!(read(raw.clone(), &small).await.unwrap_err().status(), 413);
        let h = headers("XyZ", None);
        let e = read_multipart(&h, Body::from(raw), &small)
            .await
            .unwrap_err();
        assert_eq!((e.status().as_u16(), e.code()), (413, "payload_too_large"));
    }

    #[tokio::test]
    async fn a_message_over_5_mb_is_refused_while_reading() {
        let file = vec![b'a'; 1_900_000];
        let parts: Vec<_> = (0..3)
            .map(|_| ("file", Some("a.txt"), Some("text/plain"), file.as_slice()))
            .collect();
        let raw = body(&parts);
        let e = read(raw.clone(), &FormRules::message(8 << 20, FIELDS))
            .await
            .unwrap_err();
        assert_eq!((e.status().as_u16(), e.code()), (413, "media_too_large"));
        assert_eq!(
            read(raw, &FormRules::media(8 << 20))
                .await
                .unwrap()
                .files
                .len(),
            3
        );
    }

    #[test]
    fn fingerprints_ignore_boundaries_but_not_bytes() {
        let file = |b: &'static [u8]| MediaFile {
            file_name: "a.png".to_owned(),
            content_type: "image/png".to_owned(),
            bytes: Bytes::from_static(b),
        };
        let a = MultipartForm {
            fields: vec![("k".to_owned(), "v".to_owned())],
            files: vec![file(b"one")],
        };
        let mut b = a.clone();
        assert_eq!(a.fingerprint(), b.fingerprint());
        b.files[0] = file(b"two");
        assert_ne!(a.fingerprint(), b.fingerprint());
    }

    #[test]
    fn file_names_are_cleaned() {
        assert_eq!(
            clean_file_name(Some("C:\\x\\photo.jpg")).as_deref(),
            Some("photo.jpg")
        );
        assert_eq!(clean_file_name(Some("a/b/c.png")).as_deref(), Some("c.png"));
        assert_eq!(
            clean_file_name(Some("we\"ird\n.png")).as_deref(),
            Some("weird.png")
        );
        assert_eq!(clean_file_name(Some("")), None);
        assert_eq!(clean_file_name(Some("..")), None);
        assert_eq!(clean_file_name(None), None);
    }

    #[test]
    fn multipart_content_types() {
        let mut h = HeaderMap::new();
        assert!(!is_multipart(&h));
        h.insert(
            header::CONTENT_TYPE,
            "Multipart/Form-Data; boundary=x".parse().unwrap(),
        );
        assert!(is_multipart(&h));
        h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        assert!(!is_multipart(&h));
    }
}
