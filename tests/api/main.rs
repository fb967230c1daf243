//! Black-box tests: the real app on port 0 against a local Plivo stand-in.

mod auth;
// --- console ---
mod console;
mod delivery;
#[path = "../common/fresh_postgres.rs"]
mod fresh_postgres;
mod hardening;
#[macro_use]
mod helpers;
mod inbound;
mod media_preflight;
mod media_server;
// --- media uploads ---
mod media_upload;
mod metrics;
mod openapi;
mod plivo_failures;
mod rate_limit;
mod records;
mod retention;
mod sandbox;
mod send_mms;
// --- media uploads ---
mod send_multipart;
mod send_service;
mod senders;
mod service;
// --- webhook hardening ---
mod webhook_hardening;
// --- slow clients ---
mod slow_clients;
// --- Plivo answers ---
mod plivo_answers;
// --- list and callback inputs ---
mod list_and_callback_inputs;
// --- head limits ---
mod head_limits;
