//! One module per resource.

pub mod health;
pub mod send_mms;
