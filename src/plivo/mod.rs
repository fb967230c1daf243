//! Everything specific to Plivo.

pub mod signature;
