//! The Message Detail Record answered by `GET …/Message/{uuid}/` (docs/plivo-api.md §6.1).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::state::MessageRecord;

fn plivo_time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string()
}

/// The MDR of `record`, reflecting its latest state: `error_code` is null until the message is
/// final, then `"000"` (delivered) or the failure code.
pub(crate) fn to_json(record: &MessageRecord, auth_id: &str) -> Value {
    let rate = if record.message_type == "mms" {
        "0.02000"
    } else {
        "0.00500"
    };
    json!({
        "api_id": Uuid::new_v4().to_string(),
        "error_code": record.error_code,
        "error_message": "",
        "from_number": record.from,
        "message_direction": "outbound",
        "message_state": record.state.as_str(),
        "message_time": plivo_time(record.created_at),
        "message_sent_time": record.sent_at.map(plivo_time),
        "message_updated_time": plivo_time(record.updated_at),
        "message_type": record.message_type,
        "message_uuid": record.uuid.to_string(),
        "resource_uri": format!("/v1/Account/{auth_id}/Message/{}/", record.uuid),
        "to_number": record.to,
        "total_amount": rate,
        "total_rate": rate,
        "units": 1,
        "powerpack_id": record.powerpack_uuid,
        "requester_ip": record.requester_ip,
        "is_domestic": true,
        "destination_country_iso2": "US",
        "destination_network": "Simulated",
    })
}
