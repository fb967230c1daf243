//! Everything about talking to Plivo: the request and answer shapes, the client, the retry policy,
//! and the signatures on Plivo's webhooks.

pub mod client;
pub mod error;
pub mod inbound_message;
pub mod limiter;
// --- media uploads ---
pub mod media;
pub mod outcome;
// --- reconciliation ---
pub mod records;
pub mod retry;
pub mod send;
pub mod signature;
// --- webhook hardening ---
pub mod status_callback;
pub mod types;
pub mod webhook_params;

pub use client::{PlivoApi, PlivoClient};
pub use error::{AttemptError, PlivoError};
pub use limiter::Limiter;
pub use outcome::{AttemptOutcome, StatusClass};
pub use records::{ListQuery, MessageDetail, MessageList};
pub use retry::RetryPolicy;
pub use send::{RetryNote, RetryingSender, Sent};
pub use types::{
    MessageContent, MessageDefaults, SendMessageBody, SendMessageResponse, MIN_MESSAGE_EXPIRY,
};
// --- media uploads ---
pub use media::{MediaFile, MediaUploadResponse};
pub use send::Uploaded;
