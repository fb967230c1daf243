//! mms-gateway: send MMS to US and Canadian phones through Plivo with one HTTP call.
//!
//! The binary (`src/main.rs`) only parses the command line and calls into this library.

pub mod address_policy;
pub mod api_error;
pub mod background;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod health_probe;
pub mod http;
pub mod media_preflight;
// --- media uploads ---
pub mod media_upload;
pub mod metrics;
pub mod optouts;
pub mod plivo;
pub mod retention;
pub mod sandbox;
pub mod send;
pub mod senders;
pub mod startup;
pub mod store;
pub mod telemetry;
