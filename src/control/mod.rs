//! The control socket: `logbus run` serves it, `logbus bans ...` and
//! `logbus status` talk to it. One JSON request per connection, one JSON
//! answer: `{"ok": true, ...}` or `{"ok": false, "error": "..."}`.

pub mod client;
pub mod metrics;
pub mod server;

/// Largest request accepted, in bytes.
pub const MAX_REQUEST: usize = 64 * 1024;
