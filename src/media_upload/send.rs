//! A multipart `POST /send-mms`: the form body's fields plus `file` parts.
//!
//! The fields become an `application/x-www-form-urlencoded` body, parsed and validated by the send
//! path exactly like a form body (list fields repeat as there). Each file stands in that body as a
//! placeholder media id, placed before any given `mediaIds`, so every rule of a send (at least one
//! medium, at most ten together, the ids' order) holds for files too. Only once everything is valid
//! are the files uploaded, and the placeholders replaced by Plivo's media ids.

use axum::body::Body;
use axum::http::HeaderMap;

use super::form::{message_too_large, read_multipart, FormRules, MultipartForm};
use super::{upload, UploadedMedia};
use crate::api_error::ApiError;
use crate::domain::{Media, MediaId, OutboundMms};
use crate::media_preflight::MAX_TOTAL_BYTES;
use crate::plivo::{MediaFile, PlivoError, RetryingSender};
use crate::store::Store;

/// The fields a multipart send takes besides `file` parts (those of the form body).
pub const SEND_FIELDS: &[&str] = &[
    "recipientNumber",
    "recipientNumbers",
    "messageText",
    "mediaUrl",
    "mediaUrls",
    "mediaIds",
    "callbackUrl",
    "senderNumber",
];

/// The prefix of the placeholder ids that stand for files until they are uploaded.
const PLACEHOLDER: &str = "mms-gateway-upload-";

/// A multipart send, read and checked; its files are not uploaded yet.
#[derive(Debug, Clone)]
pub struct MultipartSend {
    /// The fields as a form body, with one placeholder `mediaIds` per file first.
    pub form_body: Vec<u8>,
    /// The files, to upload once the message is valid.
    pub attachments: Attachments,
    /// What an `Idempotency-Key` compares: the fields and the files' bytes, not the raw body.
    pub fingerprint: Vec<u8>,
}

/// Files a message will carry, checked (types judged from their bytes) but not uploaded yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attachments {
    /// The files, in request order.
    pub files: Vec<MediaFile>,
}

/// Reads a multipart send (limits applied while reading: `MAX_UPLOAD_BYTES`, ten files, 2 MB a
/// file, 5 MB for all files).
pub async fn read_send(
    headers: &HeaderMap,
    body: Body,
    max_upload_bytes: u64,
) -> Result<MultipartSend, ApiError> {
    let rules = FormRules::message(max_upload_bytes, SEND_FIELDS);
    let form = read_multipart(headers, body, &rules).await?;
    let attachments = Attachments { files: form.files };
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for id in attachments.placeholder_ids() {
        serializer.append_pair("mediaIds", &id);
    }
    for (name, value) in &form.fields {
        serializer.append_pair(name, value);
    }
    let fingerprint = MultipartForm {
        fields: form.fields,
        files: attachments.files.clone(),
    }
    .fingerprint();
    Ok(MultipartSend {
        form_body: serializer.finish().into_bytes(),
        fingerprint,
        attachments,
    })
}

impl Attachments {
    /// The ids that stand for the files until they are uploaded: put them before any given
    /// `mediaIds` when the message is parsed.
    pub fn placeholder_ids(&self) -> Vec<String> {
        (1..=self.files.len())
            .map(|n| format!("{PLACEHOLDER}{n}"))
            .collect()
    }

    /// 413 `media_too_large` when the files and the text of `mms` weigh more than 5 MB.
    pub fn check_size(&self, mms: &OutboundMms) -> Result<(), ApiError> {
        let text = mms.text.as_ref().map_or(0, |t| t.as_str().len() as u64);
        let files: u64 = self.files.iter().map(|f| f.bytes.len() as u64).sum();
        if files + text > MAX_TOTAL_BYTES {
            return Err(message_too_large(MAX_TOTAL_BYTES));
        }
        Ok(())
    }

    /// Uploads the files (one request to Plivo) and puts their media ids in place of the
    /// placeholders of every message; answers what was uploaded. Does nothing without files.
    pub async fn upload_into(
        &self,
        plivo: &RetryingSender,
        messages: &mut [OutboundMms],
    ) -> Result<Vec<UploadedMedia>, PlivoError> {
        if self.files.is_empty() {
            return Ok(Vec::new());
        }
        let uploaded = upload(plivo, &self.files).await?;
        let ids = uploaded
            .iter()
            .map(|u| MediaId::parse(&u.media_id))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                PlivoError::Unexpected("Plivo answered a media id of an unknown form".to_owned())
            })?;
        for mms in messages.iter_mut() {
            *mms = with_uploaded(mms, &ids)?;
        }
        Ok(uploaded)
    }
}

/// `mms` with its first placeholders replaced by `ids`.
fn with_uploaded(mms: &OutboundMms, ids: &[MediaId]) -> Result<OutboundMms, PlivoError> {
    let given = mms.media.ids();
    let placeholders = given
        .iter()
        .take_while(|id| id.as_str().starts_with(PLACEHOLDER))
        .count();
    if placeholders != ids.len() {
        return Err(PlivoError::Unexpected(
            "the uploaded media do not match the files".to_owned(),
        ));
    }
    let media_ids = ids.iter().chain(&given[placeholders..]).cloned().collect();
    let media = Media::new(mms.media.urls().to_vec(), media_ids)
        .map_err(|e| PlivoError::Unexpected(e.to_string()))?;
    Ok(OutboundMms {
        media,
        ..mms.clone()
    })
}

/// Records the uploads on each stored message; a failure is logged (the messages are sent with
/// their media ids whatever happens here).
pub async fn record_uploads(store: &Store, ids: Vec<String>, uploads: &[UploadedMedia]) {
    if uploads.is_empty() {
        return;
    }
    for id in ids {
        if let Err(e) = store.record_uploads(&id, uploads).await {
            tracing::error!(message.id = %id, error = %e, "could not record a message's uploads");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RawMms;

    #[test]
    fn placeholders_give_way_to_uploaded_ids_first() {
        let mms = OutboundMms::parse(RawMms {
            to: Some("+14155551234".into()),
            text: None,
            media_urls: vec!["https://e.com/a.gif".into()],
            media_ids: vec![
                format!("{PLACEHOLDER}1"),
                format!("{PLACEHOLDER}2"),
                "given-1".into(),
            ],
        })
        .unwrap();
        let ids = [
            MediaId::parse("up-1").unwrap(),
            MediaId::parse("up-2").unwrap(),
        ];
        let done = with_uploaded(&mms, &ids).unwrap();
        let got: Vec<_> = done.media.ids().iter().map(MediaId::as_str).collect();
        assert_eq!(got, ["up-1", "up-2", "given-1"]);
        assert_eq!(done.media.urls(), mms.media.urls());
        assert!(with_uploaded(&mms, &ids[..1]).is_err());
    }
}
