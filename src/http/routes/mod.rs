//! One module per resource.

pub mod delete_message;
pub mod health;
pub mod inbound;
pub mod message_views;
// --- media uploads ---
pub mod media;
pub mod messages;
pub mod opt_outs;
pub mod send_mms;
pub mod webhooks;
// --- resend, redelivery ---
pub mod redeliver;
pub mod resend;
// --- console ---
pub mod console;
pub mod stats;
