//! Status callbacks: plays a message's script, updates its MDR and posts signed callbacks.

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::plivo::signature::{new_nonce, v2_signature, v3_signature};

use super::scenarios::{callback_script, opted_out_script, Status, Step};
use super::send::CallbackMethod;
use super::state::{MessageRecord, SimulatorState};
use super::RecordedCallback;

/// Retries after the first attempt (Plivo: +60 s, +120 s, +240 s; here `callback_step` × 2, 4, 8).
const RETRIES: u32 = 3;

/// Where and how a message's callbacks go.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub url: String,
    pub method: CallbackMethod,
}

/// Plays the script of one message in a spawned task: every `callback_step`, the next status
/// updates the MDR and, when the send had a `url`, is posted to it.
/// With `all_now`, the whole script is played before this returns (callbacks that arrive
/// before the send's answer).
pub(crate) async fn spawn_script(
    state: SimulatorState,
    uuid: Uuid,
    target: Option<Target>,
    all_now: bool,
) {
    let Some(record) = state.message(uuid) else {
        return;
    };
    let script = callback_script(&record.to);
    if all_now {
        for (index, step) in script.iter().copied().enumerate() {
            let Some(record) = state.advance(uuid, step.status, step.error_code) else {
                return;
            };
            let Some(target) = &target else { continue };
            let params = callback_params(&record, step, index + 1);
            for _ in 0..step.copies {
                deliver(&state, target, &params).await;
            }
        }
        return;
    }
    tokio::spawn(async move {
        let Some(record) = state.message(uuid) else {
            return;
        };
        let script = if state.is_opted_out(&record.to) {
            opted_out_script()
        } else {
            callback_script(&record.to)
        };
        let step_pause = state.config().callback_step;
        let mut last = None;
        for (index, step) in script.into_iter().enumerate() {
            tokio::time::sleep(step_pause).await;
            let Some(record) = state.advance(uuid, step.status, step.error_code) else {
                return;
            };
            last = Some(step.status);
            let Some(target) = &target else { continue };
            let params = callback_params(&record, step, index + 1);
            for _ in 0..step.copies {
                deliver(&state, target, &params).await;
            }
        }
        if last == Some(Status::Delivered) {
            super::replies::reply_after_delivery(&state, &record).await;
        }
    });
}

/// Sends one callback; on failure, retries in a spawned task so later statuses are not held up.
async fn deliver(state: &SimulatorState, target: &Target, params: &[(String, String)]) {
    if attempt(state, target, params, 0).await {
        return;
    }
    let (state, target, params) = (state.clone(), target.clone(), params.to_vec());
    tokio::spawn(async move {
        for retry in 1..=RETRIES {
            tokio::time::sleep(state.config().callback_step * 2u32.pow(retry)).await;
            if attempt(&state, &target, &params, retry).await {
                return;
            }
        }
        tracing::warn!(url = %target.url, "simulator gave up on a status callback");
    });
}

/// One signed attempt; records it and returns true on a 2xx answer.
async fn attempt(
    state: &SimulatorState,
    target: &Target,
    params: &[(String, String)],
    attempt: u32,
) -> bool {
    let token = state.config().auth_token.expose_secret();
    let method = match target.method {
        CallbackMethod::Get => "GET",
        CallbackMethod::Post => "POST",
    };
    let v3_nonce = new_nonce();
    let v2_nonce = new_nonce();
    let v3 = v3_signature(method, &target.url, params, &v3_nonce, token);
    let v2 = v2_signature(&target.url, &v2_nonce, token);

    let client = &state.0.client;
    let request = match target.method {
        CallbackMethod::Get => client.get(&target.url).query(params),
        CallbackMethod::Post => client.post(&target.url).form(params),
    };
    let result = request
        .header("X-Plivo-Signature-V3", &v3)
        .header("X-Plivo-Signature-Ma-V3", &v3)
        .header("X-Plivo-Signature-V3-Nonce", &v3_nonce)
        .header("X-Plivo-Signature-V2", &v2)
        .header("X-Plivo-Signature-Ma-V2", &v2)
        .header("X-Plivo-Signature-V2-Nonce", &v2_nonce)
        .send()
        .await;
    let status = match result {
        Ok(response) => Some(response.status().as_u16()),
        Err(error) => {
            tracing::debug!(url = %target.url, %error, "status callback got no answer");
            None
        }
    };
    state.record_callback(RecordedCallback {
        url: target.url.clone(),
        method: method.to_owned(),
        params: params.to_vec(),
        status,
        attempt,
        sent_at: Utc::now(),
    });
    status.is_some_and(|s| (200..300).contains(&s))
}

fn plivo_time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

/// The form parameters of one callback, as Plivo names them (docs/plivo-api.md §4).
fn callback_params(record: &MessageRecord, step: Step, sequence: usize) -> Vec<(String, String)> {
    let rate = if record.message_type == "mms" {
        "0.02000"
    } else {
        "0.00500"
    };
    let error_code = match step.status {
        Status::Delivered => "000",
        Status::Failed | Status::Undelivered => step.error_code.unwrap_or("1000"),
        _ => "",
    };
    let reached_sent = !matches!(step.status, Status::Queued | Status::Failed);
    let sent_time = if reached_sent {
        plivo_time(record.sent_at.unwrap_or(record.updated_at))
    } else {
        String::new()
    };
    let report_time = if step.status.is_final() {
        plivo_time(record.updated_at)
    } else {
        String::new()
    };
    let uuid = record.uuid.to_string();
    let created = plivo_time(record.created_at);
    [
        ("MessageUUID", uuid.clone()),
        ("To", record.to.clone()),
        ("From", record.from.clone()),
        ("Type", record.message_type.clone()),
        ("Status", step.status.as_str().to_owned()),
        ("Units", "1".to_owned()),
        ("TotalRate", rate.to_owned()),
        ("TotalAmount", rate.to_owned()),
        ("MCC", "310".to_owned()),
        ("MNC", "004".to_owned()),
        ("ErrorCode", error_code.to_owned()),
        ("ParentMessageUUID", uuid),
        ("PartInfo", "1 of 1".to_owned()),
        ("Sequence", sequence.to_string()),
        ("MessageTime", created.clone()),
        ("QueuedTime", created),
        ("SentTime", sent_time),
        ("DeliveryReportTime", report_time),
        (
            "PowerpackUUID",
            record.powerpack_uuid.clone().unwrap_or_default(),
        ),
        ("requester_ip", record.requester_ip.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}
