//! One module per resource.

pub mod health;
pub mod messages;
pub mod send_mms;
pub mod webhooks;
// --- console ---
pub mod console;
pub mod stats;
