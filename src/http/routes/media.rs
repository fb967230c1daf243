//! `POST /media`: files uploaded to Plivo's Media API, answered with their media ids.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use crate::api_error::ApiError;
use crate::http::openapi::ErrorResponse;
use crate::http::AppState;
use crate::media_upload::{self, form::FILE_PART, FormRules, UploadedMedia};

/// The 201 answer: one entry per file, in request order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MediaResponse {
    /// The uploaded media.
    pub media: Vec<UploadedMedia>,
}

/// The body of `POST /media`: one to ten parts named `file`.
#[derive(Debug, utoipa::ToSchema)]
pub struct MediaUploadForm {
    /// One to ten files (each at most 2,000,000 bytes; images, video, audio, vCard, CSV, PDF,
    /// plain text), each with a file name and a content type.
    #[schema(value_type = Vec<String>, format = Binary)]
    pub file: Vec<Vec<u8>>,
}

/// The body of a multipart `POST /send-mms`: the fields of the form body (lists repeat) plus up to
/// ten `file` parts; all media together 1 to 10, files and text at most 5,000,000 bytes.
#[derive(Debug, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct SendMmsMultipart {
    /// E.164, a US or Canadian number (or `recipientNumbers`, repeated, for a bulk send).
    recipient_number: Option<String>,
    /// At most 1600 characters.
    message_text: Option<String>,
    /// One http/https media URL.
    media_url: Option<String>,
    /// Media URLs (repeat the part).
    media_urls: Option<Vec<String>>,
    /// Ids of media already uploaded to Plivo (repeat the part); sent after the files' ids.
    media_ids: Option<Vec<String>>,
    /// Where status events go.
    callback_url: Option<String>,
    /// Files to upload and send (each at most 2,000,000 bytes), each with a file name.
    #[schema(value_type = Option<Vec<String>>, format = Binary)]
    file: Option<Vec<Vec<u8>>>,
}

/// Uploads one to ten files to Plivo in one request; answers their media ids for `mediaIds`.
#[utoipa::path(
    post,
    path = "/media",
    tag = "messages",
    request_body(content = MediaUploadForm, content_type = "multipart/form-data",
        description = "One to ten parts named `file`; a file's type is judged from its bytes"),
    responses(
        (status = 201, description = "Uploaded; the media ids, in request order", body = MediaResponse),
        (status = 400, description = "`no_media`, `too_many_media`, `media_type_unsupported`, `invalid_field` (a part other than `file`, an empty file, no file name) or `invalid_body` (malformed or cut short); nothing was uploaded", body = ErrorResponse),
        (status = 401, description = "API_KEYS is set and no valid key was sent", body = ErrorResponse),
        (status = 413, description = "`media_too_large` (a file over 2,000,000 bytes) or `payload_too_large` (the body over MAX_UPLOAD_BYTES)", body = ErrorResponse),
        (status = 415, description = "Not multipart/form-data", body = ErrorResponse),
        (status = 422, description = "Plivo refused the upload; see details", body = ErrorResponse),
        (status = 502, description = "Plivo refused our credentials or answered unexpectedly", body = ErrorResponse),
        (status = 503, description = "Plivo unavailable after retries; see Retry-After", body = ErrorResponse),
        (status = 504, description = "Plivo did not answer in time", body = ErrorResponse),
    )
)]
pub async fn upload_media(
    State(state): State<AppState>,
    request: Request,
) -> Result<(StatusCode, Json<MediaResponse>), ApiError> {
    let (parts, body) = request.into_parts();
    if !media_upload::is_multipart(&parts.headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the files as multipart/form-data, one part named file each.",
        ));
    }
    let rules = FormRules::media(state.config.uploads.max_upload_bytes);
    let form = media_upload::read_multipart(&parts.headers, body, &rules).await?;
    if form.files.is_empty() {
        return Err(ApiError::bad_request(
            "no_media",
            "The request has no file: send one to ten parts named file.",
        )
        .with_field(FILE_PART));
    }
    let media = media_upload::upload(state.delivery.plivo(), &form.files)
        .await
        .map_err(ApiError::from)?;
    Ok((StatusCode::CREATED, Json(MediaResponse { media })))
}
