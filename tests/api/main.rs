//! Black-box tests: the real app on port 0 against a local Plivo stand-in.

mod helpers;
mod plivo_failures;
mod records;
mod sandbox;
mod send_mms;
mod service;
