//! logbus: a log pipeline engine whose flagship stage replaces fail2ban.
//!
//! A pipeline is a YAML file of named stages wired by channels (see the
//! README). This crate holds the engine ([`pipeline`]), the configuration
//! loader ([`config`]), the stages ([`stages`]) and the fail2ban engine.

pub mod condition;
pub mod config;
pub mod control;
pub mod defaults;
pub mod duration;
pub mod event;
pub mod fail2ban;
pub mod pipeline;
pub mod stages;
pub mod state;
pub mod time;
pub mod timestamp;
