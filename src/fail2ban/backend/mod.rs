//! Firewall backends: where ban decisions are enforced. They receive only
//! validated addresses and group names, never log text, and work in batches.
//!
//! | `type`     | one batch is                         | kernel expiry |
//! |------------|--------------------------------------|---------------|
//! | `ipset`    | one `ipset restore -exist` process   | yes           |
//! | `nftables` | one `nft -f -` transaction           | yes           |
//! | `command`  | one process per change (cloud/CDN)   | no            |
//! | `dry-run`  | log lines                            | -             |
//!
//! Every backend is safe to call again with a batch that failed: the
//! caller keeps failed batches and retries them.

pub mod command;
pub mod dry_run;
pub mod ipset;
pub mod nftables;
mod process;

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

use crate::duration::FiniteSpan;
use process::RunError;

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

impl Change {
    /// The address.
    pub fn ip(&self) -> IpAddr {
        match self {
            Change::Ban { ip, .. } | Change::Unban { ip, .. } => *ip,
        }
    }

    /// The ban group.
    pub fn group(&self) -> &str {
        match self {
            Change::Ban { group, .. } | Change::Unban { group, .. } => group,
        }
    }
}

/// A backend could not apply a batch (or set up or tear down the firewall).
/// The message says what failed and what to do about it.
#[derive(Debug, Error)]
#[error("{backend}: {message}")]
pub struct BackendError {
    /// Which backend.
    pub backend: &'static str,
    /// What went wrong.
    pub message: String,
}

impl BackendError {
    /// An error of `backend`.
    pub fn new(backend: &'static str, message: impl Into<String>) -> Self {
        Self {
            backend,
            message: message.into(),
        }
    }
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
    /// Safe to call again (after a failure, or on reload).
    fn start(&mut self, _groups: &[GroupInfo]) -> Result<(), BackendError> {
        Ok(())
    }
    /// Applies a batch, all at once where the firewall allows it. On error
    /// nothing tells which changes landed, so the caller retries the whole
    /// batch; applying a batch twice is harmless.
    fn apply(&mut self, changes: &[Change]) -> Result<(), BackendError>;
    /// Removes what `start` set up that must not outlive logbus (drop rules);
    /// sets and their entries may stay.
    fn stop(&mut self) -> Result<(), BackendError> {
        Ok(())
    }
}

/// Transport protocols a port-scoped ban blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP (HTTP/3 on 443, DNS on 53).
    Udp,
}

impl Protocol {
    /// The name iptables and nft use.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// `backend:` as written. One flat set of options; each backend rejects
/// the options of the others (except `dry-run`, which accepts them all so
/// that switching `type` to `dry-run` keeps a configuration valid).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendDef {
    /// `ipset`, `nftables`, `command` or `dry-run` (default).
    #[serde(rename = "type", default = "default_type")]
    pub kind: String,
    /// Prefix of set names: `blacklist-` gives `blacklist-ssh` (and
    /// `blacklist-ssh-v6` for IPv6).
    #[serde(default = "default_prefix")]
    pub set_prefix: String,
    /// ipset/nftables: install the rules that drop banned addresses at
    /// start, and remove them at stop. Without it logbus fills the sets
    /// and the administrator writes the rules.
    #[serde(default)]
    pub manage_rules: bool,
    /// ipset/nftables: protocols a port-scoped ban blocks (default
    /// `[tcp, udp]`, so a web ban on 443 also stops HTTP/3).
    #[serde(default)]
    pub protocols: Option<Vec<Protocol>>,
    /// Longest time one firewall command may run before it is killed
    /// (default 10s for `command`, 60s for an ipset/nftables batch).
    #[serde(default)]
    pub timeout: Option<FiniteSpan>,
    /// ipset: the `ipset` program (default: `ipset` on `PATH`).
    #[serde(default)]
    pub ipset_path: Option<PathBuf>,
    /// ipset: the `iptables` program for IPv4 rules (default: on `PATH`).
    #[serde(default)]
    pub iptables_path: Option<PathBuf>,
    /// ipset: the `ip6tables` program for IPv6 rules (default: on `PATH`).
    #[serde(default)]
    pub ip6tables_path: Option<PathBuf>,
    /// ipset: the iptables chain the drop rules go in (default `INPUT`;
    /// `DOCKER-USER` for containers).
    #[serde(default)]
    pub chain: Option<String>,
    /// ipset: `maxelem` of the sets logbus creates (default 1048576).
    #[serde(default)]
    pub max_entries: Option<u32>,
    /// nftables: the `nft` program (default: `nft` on `PATH`).
    #[serde(default)]
    pub nft_path: Option<PathBuf>,
    /// nftables: our table, in family `inet` (default `logbus`).
    #[serde(default)]
    pub table: Option<String>,
    /// nftables: priority of our input chain (default -10: before a
    /// typical `filter` chain at 0).
    #[serde(default)]
    pub priority: Option<i32>,
    /// command: argv run for each ban, e.g.
    /// `[/usr/local/bin/cf-ban, "{ip}", "{group}", "{bantime}"]`.
    #[serde(default)]
    pub ban: Option<Vec<String>>,
    /// command: argv run for each unban (without it unbans do nothing).
    #[serde(default)]
    pub unban: Option<Vec<String>>,
}

impl Default for BackendDef {
    fn default() -> Self {
        Self {
            kind: default_type(),
            set_prefix: default_prefix(),
            manage_rules: false,
            protocols: None,
            timeout: None,
            ipset_path: None,
            iptables_path: None,
            ip6tables_path: None,
            chain: None,
            max_entries: None,
            nft_path: None,
            table: None,
            priority: None,
            ban: None,
            unban: None,
        }
    }
}

fn default_type() -> String {
    "dry-run".into()
}

fn default_prefix() -> String {
    "blacklist-".into()
}

/// Default for `timeout` of the ipset and nftables backends: a batch of a
/// million bans takes a few seconds; a minute means the tool hangs.
pub const DEFAULT_BATCH_TIMEOUT: Duration = Duration::from_secs(60);

impl BackendDef {
    /// Checks the options and builds the backend.
    pub fn build(&self) -> Result<Box<dyn Backend>, String> {
        check_name_part("set_prefix", &self.set_prefix)?;
        if let Some(t) = self.timeout
            && t.0.is_zero()
        {
            return Err("`timeout` must be more than 0s".into());
        }
        match self.kind.as_str() {
            "dry-run" => Ok(Box::new(dry_run::DryRun::new(&self.set_prefix))),
            "ipset" => {
                self.only_for(
                    "ipset",
                    &[
                        "manage_rules",
                        "protocols",
                        "ipset_path",
                        "iptables_path",
                        "ip6tables_path",
                        "chain",
                        "max_entries",
                    ],
                )?;
                let d = ipset::IpsetConfig::default();
                let cfg = ipset::IpsetConfig {
                    prefix: self.set_prefix.clone(),
                    manage_rules: self.manage_rules,
                    protocols: self.protocols()?,
                    timeout: self.timeout.map_or(DEFAULT_BATCH_TIMEOUT, |t| t.0),
                    ipset: self.ipset_path.clone().unwrap_or(d.ipset),
                    iptables: self.iptables_path.clone().unwrap_or(d.iptables),
                    ip6tables: self.ip6tables_path.clone().unwrap_or(d.ip6tables),
                    chain: self.chain.clone().unwrap_or(d.chain),
                    max_entries: self.max_entries.unwrap_or(d.max_entries),
                };
                Ok(Box::new(ipset::Ipset::new(cfg)?))
            }
            "nftables" => {
                self.only_for(
                    "nftables",
                    &["manage_rules", "protocols", "nft_path", "table", "priority"],
                )?;
                let d = nftables::NftConfig::default();
                let cfg = nftables::NftConfig {
                    prefix: self.set_prefix.clone(),
                    manage_rules: self.manage_rules,
                    protocols: self.protocols()?,
                    timeout: self.timeout.map_or(DEFAULT_BATCH_TIMEOUT, |t| t.0),
                    nft: self.nft_path.clone().unwrap_or(d.nft),
                    table: self.table.clone().unwrap_or(d.table),
                    priority: self.priority.unwrap_or(d.priority),
                };
                Ok(Box::new(nftables::Nftables::new(cfg)?))
            }
            "command" => {
                self.only_for("command", &["ban", "unban"])?;
                let Some(ban) = &self.ban else {
                    return Err(
                        "the command backend needs `ban`: the argv run for each ban, e.g. \
                         [/usr/local/bin/cf-ban, \"{ip}\", \"{group}\", \"{bantime}\"]"
                            .into(),
                    );
                };
                let cfg = command::CommandConfig {
                    prefix: self.set_prefix.clone(),
                    ban: ban.clone(),
                    unban: self.unban.clone(),
                    timeout: self.timeout.map_or(command::DEFAULT_TIMEOUT, |t| t.0),
                };
                Ok(Box::new(command::CommandBackend::new(cfg)?))
            }
            other => Err(format!(
                "unknown backend type `{other}` (available: ipset, nftables, command, dry-run)"
            )),
        }
    }

    /// Refuses options that belong to another backend type: a `chain` under
    /// `type: nftables` is a mistake worth hearing about.
    fn only_for(&self, kind: &str, allowed: &[&str]) -> Result<(), String> {
        let set: [(&str, bool); 12] = [
            ("manage_rules", self.manage_rules),
            ("protocols", self.protocols.is_some()),
            ("ipset_path", self.ipset_path.is_some()),
            ("iptables_path", self.iptables_path.is_some()),
            ("ip6tables_path", self.ip6tables_path.is_some()),
            ("chain", self.chain.is_some()),
            ("max_entries", self.max_entries.is_some()),
            ("nft_path", self.nft_path.is_some()),
            ("table", self.table.is_some()),
            ("priority", self.priority.is_some()),
            ("ban", self.ban.is_some()),
            ("unban", self.unban.is_some()),
        ];
        let foreign: Vec<&str> = set
            .iter()
            .filter(|(name, given)| *given && !allowed.contains(name))
            .map(|(name, _)| *name)
            .collect();
        if foreign.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "option(s) {} do not apply to the {kind} backend",
                foreign
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    }

    fn protocols(&self) -> Result<Vec<Protocol>, String> {
        let Some(list) = &self.protocols else {
            return Ok(vec![Protocol::Tcp, Protocol::Udp]);
        };
        if list.is_empty() {
            return Err("`protocols` must name at least one of tcp, udp".into());
        }
        let mut out: Vec<Protocol> = list.clone();
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// Checks a part of a firewall object name (a prefix, a group, a table).
/// Names end up in ipset restore scripts and nft transactions, so only
/// characters that cannot end a token or a line are allowed.
pub(crate) fn check_name_part(what: &str, s: &str) -> Result<(), String> {
    if let Some(bad) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(format!(
            "{what} `{}` contains {bad:?}: firewall names may use only letters, digits, `_`, `-` and `.`",
            s.escape_debug()
        ));
    }
    // A leading `-` would read as an option to ipset and iptables.
    if s.starts_with(['-', '.']) {
        return Err(format!(
            "{what} `{s}` must start with a letter, a digit or `_`"
        ));
    }
    Ok(())
}

/// Checks a group name (non-empty, safe characters).
pub(crate) fn check_group(group: &str) -> Result<(), String> {
    if group.is_empty() {
        return Err("empty group name".into());
    }
    check_name_part("group name", group)
}

/// The address a set holds: `::ffff:a.b.c.d` is the IPv4 address (the
/// kernel sees IPv4 packets from it).
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// Whole seconds for a kernel timeout: rounded up (a ban never ends early
/// because of rounding, and 0 would mean forever), at most `max`.
pub(crate) fn timeout_secs(t: Duration, max: u64) -> u64 {
    let secs = t.as_secs() + u64::from(t.subsec_nanos() > 0);
    secs.clamp(1, max)
}

/// The last change per (group, address) of a batch, in first-seen order.
/// Applying these equals applying the whole batch in order, and lets a
/// transaction treat each element once.
pub(crate) fn last_per_target(changes: &[Change]) -> Vec<&Change> {
    let mut seen: HashSet<(&str, IpAddr)> = HashSet::with_capacity(changes.len());
    let mut out: Vec<&Change> = changes
        .iter()
        .rev()
        .filter(|c| seen.insert((c.group(), canonical(c.ip()))))
        .collect();
    out.reverse();
    out
}

/// Groups skipped because their names are unusable, logged once each.
#[derive(Debug, Default)]
pub(crate) struct BadGroups(HashSet<String>);

impl BadGroups {
    /// True when `group` can be used; logs (once) and returns false when not.
    pub(crate) fn usable(
        &mut self,
        backend: &str,
        group: &str,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> bool {
        match check(group) {
            Ok(()) => true,
            Err(why) => {
                if self.0.insert(group.to_string()) {
                    // Retrying cannot fix a name, so the change is dropped
                    // instead of blocking every later batch.
                    tracing::error!(
                        "{backend}: bans in group `{}` are not enforced: {why}",
                        group.escape_debug()
                    );
                }
                false
            }
        }
    }
}

/// Turns a failed run of a firewall tool into a message that says what to
/// do. `option` is the backend option naming the program; `package` the
/// Debian package that provides it, if any.
pub(crate) fn run_failure(
    backend: &'static str,
    doing: &str,
    option: &str,
    package: Option<&str>,
    err: RunError,
) -> BackendError {
    let hint = match &err {
        RunError::NotFound { .. } => match package {
            Some(package) => format!(
                "install {package} (e.g. `apt-get install {package}`) or set backend.{option} to its full path"
            ),
            None => format!("check the program named in backend.{option}"),
        },
        RunError::PermissionDenied { .. } => {
            format!("check that backend.{option} names the program and that logbus may run it")
        }
        RunError::TimedOut { .. } => {
            "the batch will be retried; if the firewall is merely slow (a very large batch), raise backend.timeout".into()
        }
        RunError::Failed { stderr, .. } if needs_privilege(stderr) => {
            "logbus needs root or the CAP_NET_ADMIN capability to change the firewall".into()
        }
        RunError::Failed { .. } => String::new(),
        RunError::Spawn { .. } | RunError::Wait { .. } => String::new(),
    };
    let message = if hint.is_empty() {
        format!("{doing}: {err}")
    } else {
        format!("{doing}: {err}; {hint}")
    };
    BackendError::new(backend, message)
}

/// True when a tool's stderr says it lacks the privilege to change the
/// firewall.
fn needs_privilege(stderr: &str) -> bool {
    [
        "Operation not permitted",
        "Permission denied",
        "must be root",
    ]
    .iter()
    .any(|s| stderr.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(yaml: &str) -> BackendDef {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    fn build_err(yaml: &str) -> String {
        match def(yaml).build() {
            Ok(b) => panic!("{yaml}: built {}", b.name()),
            Err(e) => e,
        }
    }

    #[test]
    fn builds_each_type() {
        for (yaml, name) in [
            ("{}", "dry-run"),
            (
                "{type: ipset, manage_rules: true, chain: DOCKER-USER}",
                "ipset",
            ),
            (
                "{type: nftables, table: fw, priority: -5, protocols: [tcp]}",
                "nftables",
            ),
            ("{type: command, ban: [/bin/true, '{ip}']}", "command"),
            ("{type: dry-run, chain: INPUT, ban: [x]}", "dry-run"),
        ] {
            assert_eq!(def(yaml).build().unwrap().name(), name, "{yaml}");
        }
    }

    #[test]
    fn rejects_bad_options() {
        assert!(build_err("{type: pf}").contains("available: ipset, nftables"));
        assert!(build_err("{type: nftables, chain: INPUT}").contains("`chain`"));
        assert!(
            build_err("{type: command, ban: [x], manage_rules: true}").contains("`manage_rules`")
        );
        assert!(build_err("{type: command}").contains("needs `ban`"));
        assert!(build_err("{type: ipset, set_prefix: 'a b'}").contains("set_prefix"));
        assert!(build_err("{type: ipset, protocols: []}").contains("protocols"));
        assert!(build_err("{type: ipset, timeout: 0s}").contains("timeout"));
        assert!(serde_yaml_ng::from_str::<BackendDef>("{type: ipset, chian: INPUT}").is_err());
        assert!(serde_yaml_ng::from_str::<BackendDef>("{type: ipset, protocols: [icmp]}").is_err());
    }

    #[test]
    fn names() {
        assert!(check_group("web-2.x_y").is_ok());
        assert!(check_group("").is_err());
        assert!(check_group("a\nadd x").is_err());
        assert!(check_group("a b").is_err());
        assert!(check_group("a}").is_err());
        assert!(check_group("-exist").is_err());
        assert!(check_name_part("set_prefix", "").is_ok());
    }

    #[test]
    fn timeouts_round_up_and_clamp() {
        assert_eq!(timeout_secs(Duration::from_millis(1), 100), 1);
        assert_eq!(timeout_secs(Duration::ZERO, 100), 1);
        assert_eq!(timeout_secs(Duration::from_millis(2500), 100), 3);
        assert_eq!(timeout_secs(Duration::from_secs(3600), 100), 100);
    }

    #[test]
    fn last_change_per_target_wins() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let ban = |s: &str, g: &str| Change::Ban {
            ip: ip(s),
            group: g.into(),
            timeout: None,
        };
        let unban = |s: &str, g: &str| Change::Unban {
            ip: ip(s),
            group: g.into(),
        };
        let batch = vec![
            ban("192.0.2.1", "ssh"),
            unban("192.0.2.1", "ssh"),
            ban("192.0.2.1", "web"),
            unban("192.0.2.2", "ssh"),
            ban("::ffff:192.0.2.2", "ssh"),
        ];
        let last: Vec<Change> = last_per_target(&batch).into_iter().cloned().collect();
        assert_eq!(
            last,
            vec![
                unban("192.0.2.1", "ssh"),
                ban("192.0.2.1", "web"),
                ban("::ffff:192.0.2.2", "ssh"),
            ]
        );
    }
}
