//! Files sent with a request (`POST /media`, multipart `POST /send-mms`, `send --file`), uploaded
//! to Plivo's Media API (docs/plivo-api.md §6.4) so a message can carry them as `media_ids`.
//!
//! * [`form`]: the multipart body, read as it streams in, with every limit applied while reading.
//! * [`sniff`]: each file's content type, judged from its bytes.
//! * [`files`]: `send --file PATH`, files read from disk with the same checks.
//! * [`send`]: a multipart `POST /send-mms` (fields and files), validated before any upload.
//! * [`upload`]: all files of one request in one upload, within Plivo's limits and with the
//!   retry policy of sends; Plivo's failures answer as a send's do.

pub mod files;
pub mod form;
pub mod send;
pub mod sniff;

use crate::plivo::media::in_request_order;
use crate::plivo::{MediaFile, PlivoError, RetryingSender};

pub use crate::store::UploadedMedia;
pub use form::{is_multipart, read_multipart, FormRules, MultipartForm};

/// Uploads every file in one request to Plivo; answers the media in the files' order.
pub async fn upload(
    plivo: &RetryingSender,
    files: &[MediaFile],
) -> Result<Vec<UploadedMedia>, PlivoError> {
    let uploaded = plivo.upload_media(files).await?;
    let response = &uploaded.response;
    let objects = in_request_order(files, response).ok_or_else(|| {
        PlivoError::Unexpected(format!(
            "Plivo's upload answer lists {} media for {} files",
            response.objects.len(),
            files.len()
        ))
    })?;
    if let Some(refused) = objects.iter().find(|o| !o.stored()) {
        return Err(PlivoError::Rejected {
            status: refused
                .status_code
                .filter(|c| (400..500).contains(c))
                .unwrap_or(400),
            message: refused
                .error_message
                .clone()
                .or_else(|| refused.status.clone())
                .unwrap_or_else(|| "the file was not stored".to_owned()),
            api_id: response.api_id.clone(),
        });
    }
    tracing::info!(
        files = files.len(),
        plivo.attempts = uploaded.attempts,
        "media uploaded to Plivo"
    );
    Ok(files
        .iter()
        .zip(objects)
        .map(|(file, object)| UploadedMedia {
            media_id: object.media_id.clone().unwrap_or_default(),
            content_type: file.content_type.clone(),
            size: file.bytes.len() as u64,
            file_name: file.file_name.clone(),
        })
        .collect())
}
