//! mms-gateway: send MMS to US and Canadian phones through Plivo with one HTTP call.
//!
//! The binary (`src/main.rs`) only parses the command line and calls into this library.

pub mod background;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod health_probe;
pub mod http;
pub mod media_preflight;
pub mod metrics;
pub mod plivo;
pub mod sandbox;
pub mod send;
pub mod startup;
pub mod store;
pub mod telemetry;
