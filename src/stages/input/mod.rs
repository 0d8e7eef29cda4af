//! Input stages.

pub mod file;
pub mod journal;
pub mod lines;
pub mod stdin;
pub mod syslog_server;
pub mod tail;
