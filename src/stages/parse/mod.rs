//! Parser stages: text into fields.

pub mod access_log;
pub mod json;
pub mod syslog;
