//! The subcommands behind `main`.

pub mod bans;
pub mod check;
pub mod import;
pub mod logging;
pub mod match_cmd;
pub mod run;
