//! `mms-gateway send --file PATH`: files read from disk with the limits and type checks of an
//! upload (at most ten, 2 MB each, a type Plivo carries judged from the bytes).

use std::path::Path;

use bytes::Bytes;

use super::send::Attachments;
use super::sniff;
use crate::domain::MAX_MEDIA;
use crate::media_preflight::MAX_MEDIA_BYTES;
use crate::plivo::MediaFile;

/// Reads and checks the files; the error is one line naming the file and the problem.
pub fn load(paths: &[impl AsRef<Path>]) -> Result<Attachments, String> {
    if paths.len() > MAX_MEDIA {
        return Err(format!(
            "at most {MAX_MEDIA} files can be sent; {} were given (too_many_media)",
            paths.len()
        ));
    }
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let path = path.as_ref();
        let shown = path.display();
        let size = std::fs::metadata(path)
            .map_err(|e| format!("cannot read {shown}: {e}"))?
            .len();
        if size > MAX_MEDIA_BYTES {
            return Err(format!(
                "{shown} is {size} bytes; one MMS attachment may be at most {MAX_MEDIA_BYTES} bytes (media_too_large)"
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
        if bytes.is_empty() {
            return Err(format!("{shown} is empty"));
        }
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "file".to_owned());
        let content_type = sniff::judge(None, &file_name, &bytes).map_err(|refused| {
            format!(
                "{shown} cannot be sent: {} (media_type_unsupported)",
                refused.reason
            )
        })?;
        files.push(MediaFile {
            file_name,
            content_type,
            bytes: Bytes::from(bytes),
        });
    }
    Ok(Attachments { files })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_read_and_judged() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("photo.png");
        std::fs::write(
            &png,
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0",
        )
        .unwrap();
        let card = dir.path().join("ada.vcf");
        std::fs::write(&card, "BEGIN:VCARD\r\nEND:VCARD\r\n").unwrap();
        let loaded = load(&[&png, &card]).unwrap();
        let types: Vec<_> = loaded
            .files
            .iter()
            .map(|f| f.content_type.as_str())
            .collect();
        assert_eq!(types, ["image/png", "text/vcard"]);
        assert_eq!(loaded.files[0].file_name, "photo.png");

        let html = dir.path().join("page.png");
        std::fs::write(&html, "<html><body>x</body></html>").unwrap();
        assert!(load(&[&html])
            .unwrap_err()
            .contains("media_type_unsupported"));
        let big = dir.path().join("big.txt");
        std::fs::write(&big, vec![b'a'; 2_000_001]).unwrap();
        assert!(load(&[&big]).unwrap_err().contains("media_too_large"));
        let empty = dir.path().join("empty.txt");
        std::fs::write(&empty, "").unwrap();
        assert!(load(&[&empty]).unwrap_err().contains("is empty"));
        assert!(load(&[dir.path().join("missing.png")])
            .unwrap_err()
            .starts_with("cannot read"));
        assert!(load(&[&png; 11]).unwrap_err().contains("too_many_media"));
    }
}
