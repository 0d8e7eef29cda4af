//! `nftables`: our own table `inet logbus` (name configurable) and nothing
//! else. Each batch is one `nft -f -` transaction: it applies completely
//! or not at all.
//!
//! ```text
//! table inet logbus {
//!     set blacklist-web    { type ipv4_addr; flags timeout; }
//!     set blacklist-web-v6 { type ipv6_addr; flags timeout; }
//!     chain input {                      # only with manage_rules
//!         type filter hook input priority -10; policy accept;
//!         ip saddr @blacklist-web meta l4proto { tcp, udp } th dport { 80, 443 } drop
//!         ip6 saddr @blacklist-web-v6 meta l4proto { tcp, udp } th dport { 80, 443 } drop
//!     }
//! }
//! ```
//!
//! Deleting an element that is not in a set fails a whole nft transaction,
//! and `destroy element` (which does not) needs nft 1.0.8. So a batch first
//! adds every address it touches without a timeout (a no-op for present
//! ones), then deletes them all, then adds the bans with their timeouts.
//! That works on every nft version, never fails on absent addresses, and
//! sets the timeout of a re-ban to exactly the new value on every kernel
//! (older kernels keep the old timeout on a plain `add`).

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::dry_run::set_name;
use super::process::{self, RunError};
use super::{
    Backend, BackendError, BadGroups, Change, GroupInfo, Protocol, canonical, check_group,
    last_per_target, run_failure, timeout_secs,
};

/// The longest element timeout nft 1.0.x accepts, in seconds (32-bit
/// milliseconds, about 49.7 days). Longer bans are entered with this
/// timeout; logbus's record of the ban re-applies it after a restart.
pub const MAX_TIMEOUT_SECS: u64 = 4_294_967;

/// Our base chain in our table.
pub const CHAIN: &str = "input";

/// Longest table/set name the kernel accepts.
const MAX_NAME: usize = 255;

const NAME: &str = "nftables";

/// Options of the nftables backend.
#[derive(Debug, Clone)]
pub struct NftConfig {
    /// Set name prefix (`blacklist-`).
    pub prefix: String,
    /// Create our input chain with the drop rules.
    pub manage_rules: bool,
    /// Protocols a port-scoped rule matches.
    pub protocols: Vec<Protocol>,
    /// Longest run of `nft`.
    pub timeout: Duration,
    /// The `nft` program.
    pub nft: PathBuf,
    /// Our table (family `inet`).
    pub table: String,
    /// Priority of our input chain.
    pub priority: i32,
}

impl Default for NftConfig {
    fn default() -> Self {
        Self {
            prefix: "blacklist-".into(),
            manage_rules: false,
            protocols: vec![Protocol::Tcp, Protocol::Udp],
            timeout: super::DEFAULT_BATCH_TIMEOUT,
            nft: "nft".into(),
            table: "logbus".into(),
            priority: -10,
        }
    }
}

/// nft identifiers: a letter, then letters, digits, `_`, `-`, `.`. (nft
/// does not accept quoted set names, so this is all a name can be.)
fn check_nft_name(what: &str, name: &str) -> Result<(), String> {
    super::check_name_part(what, name)?;
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(format!(
            "{what} `{name}` must start with a letter for nftables"
        ));
    }
    if name.len() > MAX_NAME {
        return Err(format!(
            "{what} `{name}` is longer than {MAX_NAME} characters"
        ));
    }
    Ok(())
}

/// What one batch does to one set.
#[derive(Debug, Default)]
struct SetBatch {
    v6: bool,
    /// Every address the batch changes.
    touched: Vec<IpAddr>,
    /// Addresses banned at the end, with timeouts in seconds.
    bans: Vec<(IpAddr, Option<u64>)>,
}

/// The nftables backend.
#[derive(Debug)]
pub struct Nftables {
    cfg: NftConfig,
    /// Groups announced to `start` (the chain holds rules for these).
    started: Vec<GroupInfo>,
    /// Groups used without `start`, warned about once.
    unannounced: HashSet<String>,
    bad: BadGroups,
}

impl Nftables {
    /// Checks the options.
    pub fn new(cfg: NftConfig) -> Result<Self, String> {
        check_nft_name("table", &cfg.table)?;
        if !cfg.prefix.is_empty() {
            check_nft_name("set_prefix", &cfg.prefix)?;
        }
        Ok(Self {
            cfg,
            started: Vec::new(),
            unannounced: HashSet::new(),
            bad: BadGroups::default(),
        })
    }

    /// The set of a group and family.
    pub fn set_name(&self, group: &str, v6: bool) -> String {
        set_name(&self.cfg.prefix, group, v6)
    }

    fn check_group(prefix: &str, group: &str) -> Result<(), String> {
        check_group(group)?;
        check_nft_name("set name", &set_name(prefix, group, true))
    }

    fn add_set(&self, out: &mut String, set: &str, v6: bool) {
        let kind = if v6 { "ipv6_addr" } else { "ipv4_addr" };
        let _ = writeln!(
            out,
            "add set inet {} {set} {{ type {kind}; flags timeout; }}",
            self.cfg.table
        );
    }

    /// Our chain's rules for a group, one per family.
    pub fn rules_for(&self, group: &GroupInfo) -> Vec<String> {
        let mut ports = group.ports.clone();
        ports.sort_unstable();
        ports.dedup();
        let scope = if ports.is_empty() {
            String::new()
        } else {
            let protos: Vec<&str> = self.cfg.protocols.iter().map(|p| p.as_str()).collect();
            let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
            format!(
                "meta l4proto {{ {} }} th dport {{ {} }} ",
                protos.join(", "),
                ports.join(", ")
            )
        };
        [false, true]
            .iter()
            .map(|&v6| {
                let family = if v6 { "ip6" } else { "ip" };
                format!(
                    "{family} saddr @{} {scope}drop comment \"logbus: ban group {}\"",
                    self.set_name(&group.name, v6),
                    group.name
                )
            })
            .collect()
    }

    /// The transaction that sets up the table, the sets of `groups` and
    /// (with manage_rules) our chain. `chain_exists`: the chain is deleted
    /// and made again, so a changed priority or port list takes effect.
    pub fn setup_script(&self, groups: &[GroupInfo], chain_exists: bool) -> String {
        let t = &self.cfg.table;
        let mut out = format!("add table inet {t}\n");
        for g in groups {
            for v6 in [false, true] {
                self.add_set(&mut out, &self.set_name(&g.name, v6), v6);
            }
        }
        if self.cfg.manage_rules {
            if chain_exists {
                let _ = writeln!(out, "flush chain inet {t} {CHAIN}");
                let _ = writeln!(out, "delete chain inet {t} {CHAIN}");
            }
            let _ = writeln!(
                out,
                "add chain inet {t} {CHAIN} {{ type filter hook input priority {}; policy accept; }}",
                self.cfg.priority
            );
            for g in groups {
                for rule in self.rules_for(g) {
                    let _ = writeln!(out, "add rule inet {t} {CHAIN} {rule}");
                }
            }
        }
        out
    }

    /// The transaction for a batch (empty when nothing is left to do).
    pub fn batch_script(&mut self, changes: &[Change]) -> String {
        let mut sets: BTreeMap<String, SetBatch> = BTreeMap::new();
        let prefix = self.cfg.prefix.clone();
        for c in last_per_target(changes) {
            if !self
                .bad
                .usable(NAME, c.group(), |g| Self::check_group(&prefix, g))
            {
                continue;
            }
            let ip = canonical(c.ip());
            let entry = sets
                .entry(self.set_name(c.group(), ip.is_ipv6()))
                .or_default();
            entry.v6 = ip.is_ipv6();
            entry.touched.push(ip);
            if let Change::Ban { timeout, .. } = c {
                entry
                    .bans
                    .push((ip, timeout.map(|t| timeout_secs(t, MAX_TIMEOUT_SECS))));
            }
        }
        if sets.is_empty() {
            return String::new();
        }
        let t = &self.cfg.table;
        let mut out = String::with_capacity(changes.len() * 64);
        // Table and sets again: a batch must not fail because someone
        // deleted them; `add` leaves existing ones alone.
        let _ = writeln!(out, "add table inet {t}");
        for (set, b) in &sets {
            self.add_set(&mut out, set, b.v6);
            let list = join(b.touched.iter().map(|ip| ip.to_string()));
            let _ = writeln!(out, "add element inet {t} {set} {{ {list} }}");
            let _ = writeln!(out, "delete element inet {t} {set} {{ {list} }}");
            if !b.bans.is_empty() {
                let list = join(b.bans.iter().map(|(ip, secs)| match secs {
                    Some(s) => format!("{ip} timeout {s}s"),
                    None => ip.to_string(),
                }));
                let _ = writeln!(out, "add element inet {t} {set} {{ {list} }}");
            }
        }
        out
    }

    fn nft(&self, args: &[&str], input: Option<Vec<u8>>) -> Result<process::Output, RunError> {
        process::run(&self.cfg.nft, args, input, self.cfg.timeout)
    }

    fn transaction(&self, script: String, doing: &str) -> Result<(), BackendError> {
        self.nft(&["-f", "-"], Some(script.into_bytes()))
            .map(|_| ())
            .map_err(|e| {
                let stderr = e.stderr().to_string();
                let mut err = run_failure(NAME, doing, "nft_path", Some("nftables"), e);
                if stderr.contains("syntax error") {
                    err.message.push_str(
                        "; a set or table name may be an nft keyword: use a set_prefix such as `blacklist-`",
                    );
                } else if stderr.contains("File exists")
                    || stderr.contains("Could not resolve hostname")
                {
                    // The second is how nft reports an address of the
                    // wrong family for an existing set's type.
                    err.message.push_str(&format!(
                        "; a set in table inet {} exists with other settings: delete it (`nft delete set inet {} NAME`) and logbus recreates it",
                        self.cfg.table, self.cfg.table
                    ));
                }
                err
            })
    }

    /// Whether our chain exists.
    fn chain_exists(&self) -> Result<bool, BackendError> {
        match self.nft(&["list", "chain", "inet", &self.cfg.table, CHAIN], None) {
            Ok(_) => Ok(true),
            Err(e) if e.stderr().contains("No such file or directory") => Ok(false),
            Err(e) => Err(run_failure(
                NAME,
                "looking for our chain",
                "nft_path",
                Some("nftables"),
                e,
            )),
        }
    }
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

impl Backend for Nftables {
    fn name(&self) -> &'static str {
        NAME
    }

    fn start(&mut self, groups: &[GroupInfo]) -> Result<(), BackendError> {
        for g in groups {
            Self::check_group(&self.cfg.prefix, &g.name)
                .map_err(|e| BackendError::new(NAME, format!("group `{}`: {e}", g.name)))?;
        }
        // A second start (reload) keeps the groups it is not told about.
        let mut all = self.started.clone();
        for g in groups {
            match all.iter_mut().find(|a| a.name == g.name) {
                Some(a) => a.ports = g.ports.clone(),
                None => all.push(g.clone()),
            }
        }
        let exists = self.cfg.manage_rules && self.chain_exists()?;
        let script = self.setup_script(&all, exists);
        self.transaction(script, &format!("setting up table inet {}", self.cfg.table))?;
        self.started = all;
        Ok(())
    }

    fn apply(&mut self, changes: &[Change]) -> Result<(), BackendError> {
        let script = self.batch_script(changes);
        if script.is_empty() {
            return Ok(());
        }
        if self.cfg.manage_rules {
            for c in changes {
                if !self.started.iter().any(|g| g.name == c.group())
                    && self.unannounced.insert(c.group().to_string())
                {
                    tracing::warn!(
                        "nftables: group `{}` was not set up at start: its set is filled, but no rule drops its members",
                        c.group()
                    );
                }
            }
        }
        self.transaction(
            script,
            &format!("applying {} change(s) with `nft -f -`", changes.len()),
        )
    }

    fn stop(&mut self) -> Result<(), BackendError> {
        if !self.cfg.manage_rules || !self.chain_exists()? {
            return Ok(());
        }
        let t = &self.cfg.table;
        // Only our chain goes; the table and the sets (with their bans)
        // stay for the next start.
        self.transaction(
            format!("flush chain inet {t} {CHAIN}\ndelete chain inet {t} {CHAIN}\n"),
            &format!("removing chain {CHAIN} of table inet {t}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(manage_rules: bool) -> Nftables {
        Nftables::new(NftConfig {
            manage_rules,
            ..NftConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn setup() {
        let b = backend(true);
        let groups = [
            GroupInfo {
                name: "ssh".into(),
                ports: vec![],
            },
            GroupInfo {
                name: "web".into(),
                ports: vec![443, 80, 80],
            },
        ];
        let script = b.setup_script(&groups, true);
        let expected = "add table inet logbus
add set inet logbus blacklist-ssh { type ipv4_addr; flags timeout; }
add set inet logbus blacklist-ssh-v6 { type ipv6_addr; flags timeout; }
add set inet logbus blacklist-web { type ipv4_addr; flags timeout; }
add set inet logbus blacklist-web-v6 { type ipv6_addr; flags timeout; }
flush chain inet logbus input
delete chain inet logbus input
add chain inet logbus input { type filter hook input priority -10; policy accept; }
add rule inet logbus input ip saddr @blacklist-ssh drop comment \"logbus: ban group ssh\"
add rule inet logbus input ip6 saddr @blacklist-ssh-v6 drop comment \"logbus: ban group ssh\"
add rule inet logbus input ip saddr @blacklist-web meta l4proto { tcp, udp } th dport { 80, 443 } drop comment \"logbus: ban group web\"
add rule inet logbus input ip6 saddr @blacklist-web-v6 meta l4proto { tcp, udp } th dport { 80, 443 } drop comment \"logbus: ban group web\"
";
        assert_eq!(script, expected);
        let plain = backend(false).setup_script(&groups, false);
        assert!(!plain.contains("chain"), "{plain}");
    }

    #[test]
    fn batch() {
        let mut b = backend(false);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let changes = vec![
            Change::Ban {
                ip: ip("192.0.2.1"),
                group: "ssh".into(),
                timeout: Some(Duration::from_secs(3600)),
            },
            Change::Unban {
                ip: ip("192.0.2.2"),
                group: "ssh".into(),
            },
            Change::Ban {
                ip: ip("2001:db8::1"),
                group: "ssh".into(),
                timeout: None,
            },
            // The last change per address wins: 192.0.2.3 ends unbanned.
            Change::Ban {
                ip: ip("192.0.2.3"),
                group: "ssh".into(),
                timeout: None,
            },
            Change::Unban {
                ip: ip("192.0.2.3"),
                group: "ssh".into(),
            },
        ];
        let expected = "add table inet logbus
add set inet logbus blacklist-ssh { type ipv4_addr; flags timeout; }
add element inet logbus blacklist-ssh { 192.0.2.1, 192.0.2.2, 192.0.2.3 }
delete element inet logbus blacklist-ssh { 192.0.2.1, 192.0.2.2, 192.0.2.3 }
add element inet logbus blacklist-ssh { 192.0.2.1 timeout 3600s }
add set inet logbus blacklist-ssh-v6 { type ipv6_addr; flags timeout; }
add element inet logbus blacklist-ssh-v6 { 2001:db8::1 }
delete element inet logbus blacklist-ssh-v6 { 2001:db8::1 }
add element inet logbus blacklist-ssh-v6 { 2001:db8::1 }
";
        assert_eq!(b.batch_script(&changes), expected);
        let only_bad = [Change::Unban {
            ip: ip("192.0.2.1"),
            group: "9lives".into(),
        }];
        // `blacklist-9lives` is fine; an empty prefix would make `9lives`.
        assert!(!b.batch_script(&only_bad).is_empty());
        let mut bare = Nftables::new(NftConfig {
            prefix: String::new(),
            ..NftConfig::default()
        })
        .unwrap();
        assert_eq!(bare.batch_script(&only_bad), "");
    }

    #[test]
    fn names() {
        assert!(
            Nftables::new(NftConfig {
                table: "1x".into(),
                ..NftConfig::default()
            })
            .is_err()
        );
        assert!(
            Nftables::new(NftConfig {
                table: "log bus".into(),
                ..NftConfig::default()
            })
            .is_err()
        );
    }
}
