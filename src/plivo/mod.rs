//! Everything about talking to Plivo: the request and answer shapes, the client, the retry policy,
//! and the signatures on Plivo's webhooks.

pub mod client;
pub mod error;
pub mod limiter;
pub mod outcome;
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
pub use retry::RetryPolicy;
pub use send::{RetryingSender, Sent};
pub use types::{MessageContent, MessageDefaults, SendMessageBody, SendMessageResponse};
