//! Action stages: stages that act on events (bans).

pub mod fail2ban;
