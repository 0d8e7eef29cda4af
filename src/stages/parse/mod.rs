//! Parser stages: text into fields.

pub mod access_log;
mod common;
pub mod json;
pub mod syslog;
