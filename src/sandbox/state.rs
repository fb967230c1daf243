//! The simulator's shared state: configuration, recordings, messages and rate-limit counters.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::scenarios::Status;
use super::{RecordedCallback, RecordedList, RecordedRequest, SimulatorConfig};

/// Plivo's REST limit: 300 requests per 5 seconds.
const WINDOW: Duration = Duration::from_secs(5);
const MAX_PER_WINDOW: usize = 300;
/// Plivo's default API concurrency limit.
const MAX_IN_FLIGHT: usize = 100;

/// Shared state of one simulator: what [`router`](super::router) serves and what tests inspect.
/// Cheap to clone.
#[derive(Clone)]
pub struct SimulatorState(pub(crate) Arc<Inner>);

pub(crate) struct Inner {
    pub config: SimulatorConfig,
    pub client: reqwest::Client,
    requests: Mutex<Vec<RecordedRequest>>,
    callbacks: Mutex<Vec<RecordedCallback>>,
    messages: Mutex<HashMap<Uuid, MessageRecord>>,
    magic_counters: Mutex<HashMap<String, u64>>,
    window: Mutex<VecDeque<Instant>>,
    in_flight: AtomicUsize,
    // --- reconciliation ---
    lists: Mutex<Vec<RecordedList>>,
    /// Destinations (digits) that replied STOP: their messages fail with error 200.
    opted_out: Mutex<std::collections::HashSet<String>>,
    /// Where the simulator listens, once it does (for the URLs of reply media).
    addr: std::sync::OnceLock<std::net::SocketAddr>,
    // --- media uploads ---
    media: Mutex<HashMap<String, super::media::StoredMedia>>,
}

/// What the simulator knows about one queued message (one destination), for the MDR.
#[derive(Debug, Clone)]
pub(crate) struct MessageRecord {
    pub uuid: Uuid,
    pub from: String,
    pub to: String,
    pub message_type: String,
    pub powerpack_uuid: Option<String>,
    pub requester_ip: String,
    pub state: Status,
    pub error_code: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// Releases an in-flight slot when the request ends.
pub(crate) struct InFlight(Arc<Inner>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SimulatorState {
    /// Fresh state for `config`.
    pub fn new(config: SimulatorConfig) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self(Arc::new(Inner {
            config,
            client,
            requests: Mutex::default(),
            callbacks: Mutex::default(),
            messages: Mutex::default(),
            magic_counters: Mutex::default(),
            window: Mutex::default(),
            in_flight: AtomicUsize::new(0),
            lists: Mutex::default(),
            opted_out: Mutex::default(),
            addr: std::sync::OnceLock::new(),
            media: Mutex::default(),
        }))
    }

    /// Every Message POST received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.0.requests).clone()
    }

    /// Every status-callback attempt made so far, in order.
    pub fn callbacks_sent(&self) -> Vec<RecordedCallback> {
        lock(&self.0.callbacks).clone()
    }

    /// The current state (`queued`, `sent`, …) of a message, if the simulator queued it.
    pub fn message_state(&self, message_uuid: Uuid) -> Option<&'static str> {
        lock(&self.0.messages)
            .get(&message_uuid)
            .map(|m| m.state.as_str())
    }

    pub(crate) fn config(&self) -> &SimulatorConfig {
        &self.0.config
    }

    pub(crate) fn record_request(&self, request: RecordedRequest) {
        lock(&self.0.requests).push(request);
    }

    pub(crate) fn record_callback(&self, callback: RecordedCallback) {
        lock(&self.0.callbacks).push(callback);
    }

    /// Takes an in-flight slot and a place in the 5-second window, or `None` when over a limit.
    pub(crate) fn admit(&self) -> Option<InFlight> {
        let in_flight = self.0.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let guard = InFlight(Arc::clone(&self.0));
        if !self.0.config.enforce_rate_limits {
            return Some(guard);
        }
        if in_flight > MAX_IN_FLIGHT {
            return None;
        }
        let now = Instant::now();
        let mut window = lock(&self.0.window);
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            window.pop_front();
        }
        if window.len() >= MAX_PER_WINDOW {
            return None;
        }
        window.push_back(now);
        Some(guard)
    }

    // --- inbound messages and opt-outs ---

    /// Whether the destination (digits) replied STOP.
    pub fn is_opted_out(&self, digits: &str) -> bool {
        lock(&self.0.opted_out).contains(digits)
    }

    pub(crate) fn set_addr(&self, addr: std::net::SocketAddr) {
        let _ = self.0.addr.set(addr);
    }

    /// Where the simulator listens (127.0.0.1:80 when served without [`super::Simulator`]).
    pub(crate) fn addr_or_loopback(&self) -> std::net::SocketAddr {
        self.0
            .addr
            .get()
            .copied()
            .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 80)))
    }

    pub(crate) fn opt_out(&self, digits: &str) {
        lock(&self.0.opted_out).insert(digits.to_owned());
    }

    /// Counts one more request for a magic number and returns the new count (1, 2, …).
    pub(crate) fn bump_magic(&self, digits: &str) -> u64 {
        let mut counters = lock(&self.0.magic_counters);
        let count = counters.entry(digits.to_owned()).or_insert(0);
        *count += 1;
        *count
    }

    pub(crate) fn insert_message(&self, record: MessageRecord) {
        lock(&self.0.messages).insert(record.uuid, record);
    }

    pub(crate) fn message(&self, uuid: Uuid) -> Option<MessageRecord> {
        lock(&self.0.messages).get(&uuid).cloned()
    }

    /// Moves a message to `status`, unless it is already final (a late or out-of-order status
    /// never moves it back). Returns the updated record.
    pub(crate) fn advance(
        &self,
        uuid: Uuid,
        status: Status,
        error_code: Option<&str>,
    ) -> Option<MessageRecord> {
        let mut messages = lock(&self.0.messages);
        let record = messages.get_mut(&uuid)?;
        let now = Utc::now();
        if !record.state.is_final() {
            record.state = status;
            record.updated_at = now;
            if status == Status::Sent || (status.is_final() && status != Status::Failed) {
                record.sent_at.get_or_insert(now);
            }
            record.error_code = match status {
                Status::Delivered => Some("000".to_owned()),
                Status::Failed | Status::Undelivered => {
                    Some(error_code.unwrap_or("1000").to_owned())
                }
                _ => None,
            };
        }
        Some(record.clone())
    }

    // --- reconciliation ---

    /// Every List Messages request received (answered or refused with 429), in order.
    pub fn list_requests(&self) -> Vec<RecordedList> {
        lock(&self.0.lists).clone()
    }

    /// The UUIDs and states of the messages the simulator accepted for `to` (E.164 or digits),
    /// oldest first.
    pub fn messages_to(&self, to: &str) -> Vec<(Uuid, &'static str)> {
        let digits: String = to.chars().filter(char::is_ascii_digit).collect();
        let mut found: Vec<MessageRecord> = lock(&self.0.messages)
            .values()
            .filter(|m| m.to == digits)
            .cloned()
            .collect();
        found.sort_by_key(|m| m.created_at);
        found
            .into_iter()
            .map(|m| (m.uuid, m.state.as_str()))
            .collect()
    }

    pub(crate) fn all_messages(&self) -> Vec<MessageRecord> {
        lock(&self.0.messages).values().cloned().collect()
    }

    /// Records a List Messages request; `false` when more than 20 came in the last minute
    /// (Plivo's limit), counting this one.
    pub(crate) fn admit_list(&self, request: RecordedList) -> bool {
        let mut lists = lock(&self.0.lists);
        let minute_ago = request.received_at - chrono::Duration::seconds(60);
        let recent = lists
            .iter()
            .filter(|l| l.received_at > minute_ago && l.admitted)
            .count();
        let admitted = recent < super::list::LIST_PER_MINUTE;
        lists.push(RecordedList {
            admitted,
            ..request
        });
        admitted
    }

    // --- media uploads ---
    pub(crate) fn insert_media(&self, media: super::media::StoredMedia) {
        lock(&self.0.media).insert(media.media_id.clone(), media);
    }

    pub(crate) fn media(&self, media_id: &str) -> Option<super::media::StoredMedia> {
        lock(&self.0.media).get(media_id).cloned()
    }

    /// The number of files uploaded to the simulator's Media API so far.
    pub fn uploaded_media_count(&self) -> usize {
        lock(&self.0.media).len()
    }
}
