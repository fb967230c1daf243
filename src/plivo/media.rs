//! Plivo's Media API (docs/plivo-api.md §6.4): the files one upload carries and what Plivo answers.
//!
//! `POST /v1/Account/{auth_id}/Media/` is `multipart/form-data` with one part named `file` per
//! file (its file name and content type on the part); the answer lists one object per file.

use bytes::Bytes;
use serde::Deserialize;

/// One file to upload: its name, its content type (as judged from its bytes) and its bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct MediaFile {
    /// The file name sent on the part (already cleaned of paths and control characters).
    pub file_name: String,
    /// The part's `Content-Type`.
    pub content_type: String,
    /// The file itself (cheap to clone: a reference-counted buffer).
    pub bytes: Bytes,
}

impl std::fmt::Debug for MediaFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaFile")
            .field("file_name", &self.file_name)
            .field("content_type", &self.content_type)
            .field("size", &self.bytes.len())
            .finish()
    }
}

/// Plivo's answer to an upload: one object per file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MediaUploadResponse {
    /// Plivo's id of the API call.
    #[serde(default)]
    pub api_id: Option<String>,
    /// One object per uploaded file.
    #[serde(default)]
    pub objects: Vec<UploadedObject>,
}

/// One file as Plivo stored it (or refused it: `status` other than `success`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UploadedObject {
    /// The id to send as `media_ids`.
    #[serde(default)]
    pub media_id: Option<String>,
    /// The file name Plivo recorded.
    #[serde(default)]
    pub file_name: Option<String>,
    /// The content type Plivo recorded.
    #[serde(default)]
    pub content_type: Option<String>,
    /// The size in bytes.
    #[serde(default)]
    pub size: Option<u64>,
    /// `success`, or the reason the file was refused.
    #[serde(default)]
    pub status: Option<String>,
    /// The per-file status (201 when stored).
    #[serde(default)]
    pub status_code: Option<u16>,
    /// Plivo's reason for refusing this file (the Go SDK's `error_message`).
    #[serde(default)]
    pub error_message: Option<String>,
}

impl UploadedObject {
    /// Whether Plivo stored this file: an id, and no failing status.
    pub fn stored(&self) -> bool {
        self.media_id.as_deref().is_some_and(|id| !id.is_empty())
            && self.status_code.is_none_or(|c| (200..300).contains(&c))
            && self
                .status
                .as_deref()
                .is_none_or(|s| s.eq_ignore_ascii_case("success"))
    }
}

/// The uploaded objects matched to the files, in the files' order: by file name where Plivo gives
/// one (each object used once), otherwise by position. `None` when the counts differ.
pub fn in_request_order<'a>(
    files: &[MediaFile],
    response: &'a MediaUploadResponse,
) -> Option<Vec<&'a UploadedObject>> {
    if files.len() != response.objects.len() {
        return None;
    }
    let mut used = vec![false; response.objects.len()];
    let mut ordered = Vec::with_capacity(files.len());
    for (i, file) in files.iter().enumerate() {
        let by_name =
            response.objects.iter().enumerate().position(|(j, o)| {
                !used[j] && o.file_name.as_deref() == Some(file.file_name.as_str())
            });
        let j = by_name.unwrap_or(i);
        if used[j] {
            return None;
        }
        used[j] = true;
        ordered.push(&response.objects[j]);
    }
    Some(ordered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> MediaFile {
        MediaFile {
            file_name: name.to_owned(),
            content_type: "image/png".to_owned(),
            bytes: Bytes::from_static(b"x"),
        }
    }

    #[test]
    fn parses_the_documented_answer() {
        let r: MediaUploadResponse = serde_json::from_str(
            r#"{"api_id":"a1b2c3d4-e5f6-7890-abcd-ef1234567890",
               "objects":[{"content_type":"image/jpeg","file_name":"image1.jpg","media_id":"801c2056-33ab-499c-80ef-58b574a462a2",
               "size":85277,"status":"success","status_code":201,"upload_time":"2021-02-17T07:16:09.153289Z",
               "media_url":"https://media.plivo.com/Account/x/Media/801c2056-33ab-499c-80ef-58b574a462a2"}]}"#,
        )
        .unwrap();
        assert_eq!(r.objects.len(), 1);
        assert!(r.objects[0].stored());
        assert_eq!(r.objects[0].size, Some(85277));
        let refused: UploadedObject = serde_json::from_str(
            r#"{"file_name":"a","status":"error","status_code":400,"error_message":"bad"}"#,
        )
        .unwrap();
        assert!(!refused.stored());
    }

    #[test]
    fn objects_come_back_in_request_order() {
        let files = [file("a.png"), file("b.png"), file("a.png")];
        let obj = |name: &str, id: &str| UploadedObject {
            media_id: Some(id.to_owned()),
            file_name: Some(name.to_owned()),
            content_type: None,
            size: None,
            status: None,
            status_code: None,
            error_message: None,
        };
        let response = MediaUploadResponse {
            api_id: None,
            objects: vec![obj("b.png", "2"), obj("a.png", "1"), obj("a.png", "3")],
        };
        let ids: Vec<_> = in_request_order(&files, &response)
            .unwrap()
            .iter()
            .map(|o| o.media_id.clone().unwrap())
            .collect();
        assert_eq!(ids, ["1", "2", "3"]);
        let short = MediaUploadResponse {
            api_id: None,
            objects: vec![obj("a.png", "1")],
        };
        assert!(in_request_order(&files, &short).is_none());
    }
}
