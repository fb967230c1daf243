//! The simulator's Media API (docs/plivo-api.md §6.4): `POST …/Media/` stores the details of up
//! to ten files of at most 2 MB each (the bytes are not kept), `GET …/Media/{media_id}/` answers
//! one. Unknown ids make a send fail, as they would with Plivo.

use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::simulator::{authorized, error, not_found, too_many_requests, unauthorized};
use super::state::SimulatorState;
use crate::media_preflight::{plivo_carries, MAX_MEDIA_BYTES};

/// Plivo's limit: files per upload.
const MAX_FILES: usize = 10;
/// The most one upload request may weigh here: ten files of 2 MB with room for the form.
const MAX_UPLOAD_BODY: u64 = 25 * 1024 * 1024;

/// One uploaded file as the simulator remembers it.
#[derive(Debug, Clone)]
pub(crate) struct StoredMedia {
    pub media_id: String,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
    pub upload_time: DateTime<Utc>,
}

impl StoredMedia {
    fn to_json(&self, auth_id: &str) -> Value {
        let url = format!(
            "https://media.plivo.com/Account/{auth_id}/Media/{}",
            self.media_id
        );
        json!({
            "content_type": self.content_type,
            "file_name": self.file_name,
            "media_id": self.media_id,
            "size": self.size,
            "upload_time": self.upload_time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
            "media_url": url,
            "url": url,
        })
    }
}

/// `POST /v1/Account/{auth_id}/Media/`.
pub(crate) async fn upload(
    State(state): State<SimulatorState>,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(Path(auth_id)) = path else {
        return not_found().await;
    };
    if !authorized(&state, &auth_id, &parts.headers) {
        return unauthorized();
    }
    let Some(_slot) = state.admit() else {
        return too_many_requests();
    };
    let boundary = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok());
    let Some(boundary) = boundary else {
        return error(
            StatusCode::BAD_REQUEST,
            "the request must be multipart/form-data with parts named file",
        );
    };
    let constraints = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().whole_stream(MAX_UPLOAD_BODY));
    let mut multipart =
        multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let mut files = Vec::new();
    loop {
        let mut part = match multipart.next_field().await {
            Ok(Some(part)) => part,
            Ok(None) => break,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("invalid multipart body: {e}"),
                )
            }
        };
        if part.name() != Some("file") {
            return error(
                StatusCode::BAD_REQUEST,
                "only parts named file are accepted",
            );
        }
        if files.len() == MAX_FILES {
            return error(
                StatusCode::BAD_REQUEST,
                "at most 10 files can be uploaded in one request",
            );
        }
        let file_name = part.file_name().unwrap_or("").to_owned();
        let content_type = part
            .content_type()
            .map(|m| m.essence_str().to_owned())
            .unwrap_or_default();
        // Only the size is kept: the bytes are counted as they stream by, never held.
        let mut size = 0u64;
        loop {
            match part.chunk().await {
                Ok(Some(chunk)) => size += chunk.len() as u64,
                Ok(None) => break,
                Err(e) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        &format!("invalid multipart body: {e}"),
                    )
                }
            }
        }
        if file_name.is_empty() {
            return error(StatusCode::BAD_REQUEST, "every file needs a file name");
        }
        if size > MAX_MEDIA_BYTES {
            return error(StatusCode::BAD_REQUEST, "a file may be at most 2 MB");
        }
        if !plivo_carries(&content_type) {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("{content_type:?} is not a supported media type"),
            );
        }
        files.push(StoredMedia {
            media_id: Uuid::new_v4().to_string(),
            file_name,
            content_type,
            size,
            upload_time: Utc::now(),
        });
    }
    if files.is_empty() {
        return error(StatusCode::BAD_REQUEST, "file is required");
    }
    let objects: Vec<Value> = files
        .into_iter()
        .map(|media| {
            let mut object = media.to_json(&auth_id);
            object["status"] = json!("success");
            object["status_code"] = json!(201);
            state.insert_media(media);
            object
        })
        .collect();
    tracing::info!(files = objects.len(), "simulator: media uploaded");
    let body = json!({"api_id": Uuid::new_v4().to_string(), "objects": objects});
    (StatusCode::CREATED, Json(body)).into_response()
}

/// `GET /v1/Account/{auth_id}/Media/{media_id}/`.
pub(crate) async fn get(
    State(state): State<SimulatorState>,
    path: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
    headers: axum::http::HeaderMap,
) -> Response {
    let Ok(Path((auth_id, media_id))) = path else {
        return not_found().await;
    };
    if !authorized(&state, &auth_id, &headers) {
        return unauthorized();
    }
    let Some(_slot) = state.admit() else {
        return too_many_requests();
    };
    match state.media(&media_id) {
        Some(media) => {
            let mut body = media.to_json(&auth_id);
            body["api_id"] = json!(Uuid::new_v4().to_string());
            (StatusCode::OK, Json(body)).into_response()
        }
        None => not_found().await,
    }
}

/// The first of a send's `media_ids` the simulator never issued, if any.
pub(crate) fn unknown_media_id(state: &SimulatorState, body: &Value) -> Option<String> {
    body.get("media_ids")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .find(|id| state.media(id).is_none())
        .map(|id| id.chars().take(64).collect())
}
