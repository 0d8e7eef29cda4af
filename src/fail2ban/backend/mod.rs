//! Firewall backends: where ban decisions are enforced. They receive only
//! validated addresses and group names, never log text, and work in batches.

pub mod dry_run;

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

/// One change to the firewall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Add `ip` to the group's set, for `timeout` (None = forever).
    Ban {
        /// Address.
        ip: IpAddr,
        /// Group.
        group: String,
        /// Time left.
        timeout: Option<Duration>,
    },
    /// Remove `ip` from the group's set.
    Unban {
        /// Address.
        ip: IpAddr,
        /// Group.
        group: String,
    },
}

/// A backend could not apply a batch.
#[derive(Debug, Error)]
#[error("{backend}: {message}")]
pub struct BackendError {
    /// Which backend.
    pub backend: &'static str,
    /// What went wrong.
    pub message: String,
}

/// What a backend is told at start: the groups it will receive bans for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// Group name (`ssh`).
    pub name: String,
    /// Ports a ban in this group blocks; empty = all traffic.
    pub ports: Vec<u16>,
}

/// Applies batches of changes.
pub trait Backend: Send {
    /// Name for logs (`ipset`, `dry-run`).
    fn name(&self) -> &'static str;
    /// Prepares the firewall (sets, tables, drop rules) for these groups.
    fn start(&mut self, _groups: &[GroupInfo]) -> Result<(), BackendError> {
        Ok(())
    }
    /// Applies a batch, all at once where the firewall allows it.
    fn apply(&mut self, changes: &[Change]) -> Result<(), BackendError>;
    /// Removes what `start` set up that must not outlive logbus (drop rules);
    /// sets and their entries may stay.
    fn stop(&mut self) -> Result<(), BackendError> {
        Ok(())
    }
}

/// `backend:` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendDef {
    /// `dry-run` (more come with the firewall backends).
    #[serde(rename = "type", default = "default_type")]
    pub kind: String,
    /// Prefix of set names: `blacklist-` gives `blacklist-ssh`.
    #[serde(default = "default_prefix")]
    pub set_prefix: String,
}

impl Default for BackendDef {
    fn default() -> Self {
        Self {
            kind: default_type(),
            set_prefix: default_prefix(),
        }
    }
}

fn default_type() -> String {
    "dry-run".into()
}

fn default_prefix() -> String {
    "blacklist-".into()
}

impl BackendDef {
    /// Builds the backend.
    pub fn build(&self) -> Result<Box<dyn Backend>, String> {
        match self.kind.as_str() {
            "dry-run" => Ok(Box::new(dry_run::DryRun::new(&self.set_prefix))),
            other => Err(format!(
                "unknown backend type `{other}` (available: dry-run)"
            )),
        }
    }
}
