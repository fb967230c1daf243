//! `GET /v1/Account/{auth_id}/Message/?…`: List Messages over what the simulator really accepted,
//! with Plivo's filters, page size (1–20) and limit of 20 list requests a minute
//! (`docs/plivo-api.md` §6.2, §10).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::simulator::{authorized, error, unauthorized};
use super::state::{MessageRecord, SimulatorState};
use super::{mdr, RecordedList};

/// Plivo's limit on List Message requests.
pub(crate) const LIST_PER_MINUTE: usize = 20;

/// Reads Plivo's `YYYY-MM-DD HH:MM[:ss[.uuuuuu]]` (UTC).
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text.trim(), f).ok())
    .map(|t| t.and_utc())
}

/// Whether `record` passes every filter of `params`; `Err` names a filter it cannot read.
fn matches(record: &MessageRecord, params: &HashMap<String, String>) -> Result<bool, String> {
    for (key, value) in params {
        let ok = match key.as_str() {
            "to_number" => record.to == *value,
            "from_number" => record.from == *value,
            "powerpack_id" => record.powerpack_uuid.as_deref() == Some(value.as_str()),
            "message_type" => record.message_type == *value,
            "message_direction" => value == "outbound",
            "message_state" => record.state.as_str() == value,
            "message_time" | "message_time__gt" | "message_time__gte" | "message_time__lt"
            | "message_time__lte" => {
                let at = parse_time(value).ok_or_else(|| format!("invalid {key}"))?;
                let t = record.created_at;
                match key.as_str() {
                    "message_time" => t == at,
                    "message_time__gt" => t > at,
                    "message_time__gte" => t >= at,
                    "message_time__lt" => t < at,
                    _ => t <= at,
                }
            }
            _ => true,
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

pub(crate) async fn list_messages(
    State(state): State<SimulatorState>,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let Ok(Path(auth_id)) = path else {
        return error(StatusCode::NOT_FOUND, "not found");
    };
    if !authorized(&state, &auth_id, &headers) {
        return unauthorized();
    }
    let admitted = state.admit_list(RecordedList {
        params: params.clone(),
        received_at: Utc::now(),
        admitted: false,
    });
    if !admitted {
        return error(StatusCode::TOO_MANY_REQUESTS, "too many requests");
    }
    let limit = match params.get("limit").map(|l| l.parse::<usize>()) {
        None => 20,
        Some(Ok(l)) if (1..=20).contains(&l) => l,
        Some(_) => return error(StatusCode::BAD_REQUEST, "limit must be between 1 and 20"),
    };
    let offset = match params.get("offset").map(|o| o.parse::<usize>()) {
        None => 0,
        Some(Ok(o)) => o,
        Some(Err(_)) => return error(StatusCode::BAD_REQUEST, "offset must be a number"),
    };
    let filters: HashMap<String, String> = params
        .into_iter()
        .filter(|(k, _)| k != "limit" && k != "offset")
        .collect();
    let mut found = Vec::new();
    for record in state.all_messages() {
        match matches(&record, &filters) {
            Ok(true) => found.push(record),
            Ok(false) => {}
            Err(text) => return error(StatusCode::BAD_REQUEST, &text),
        }
    }
    // Newest first, as Plivo lists them.
    found.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.uuid.cmp(&a.uuid)));
    let total = found.len();
    let objects: Vec<_> = found
        .iter()
        .skip(offset)
        .take(limit)
        .map(|r| {
            let mut object = mdr::to_json(r, &auth_id);
            if let Some(map) = object.as_object_mut() {
                map.remove("api_id");
            }
            object
        })
        .collect();
    let base = format!("/v1/Account/{auth_id}/Message/");
    let next =
        (offset + limit < total).then(|| format!("{base}?limit={limit}&offset={}", offset + limit));
    let previous = (offset > 0).then(|| {
        format!(
            "{base}?limit={limit}&offset={}",
            offset.saturating_sub(limit)
        )
    });
    let body = json!({
        "api_id": Uuid::new_v4().to_string(),
        "meta": {"limit": limit, "next": next, "offset": offset, "previous": previous,
                 "total_count": total},
        "objects": objects,
    });
    (StatusCode::OK, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_plivos_time_formats() {
        assert!(parse_time("2026-01-02 03:04").is_some());
        assert!(parse_time("2026-01-02 03:04:05").is_some());
        assert!(parse_time("2026-01-02 03:04:05.123456").is_some());
        assert!(parse_time("yesterday").is_none());
    }
}
