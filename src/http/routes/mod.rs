//! One module per resource.

pub mod health;
// --- media uploads ---
pub mod media;
pub mod messages;
pub mod send_mms;
pub mod webhooks;
