//! `ipset`: one `hash:ip` set per group and address family, filled in
//! batches through one `ipset restore -exist` process per batch.
//!
//! Sets are `{set_prefix}{group}` (family `inet`) and
//! `{set_prefix}{group}-v6` (family `inet6`), created with timeout support
//! so the kernel expires bans even while logbus is down. With
//! `manage_rules`, `start` inserts one iptables/ip6tables rule per set (and
//! per protocol when the group has ports) at the top of `chain`:
//!
//! ```text
//! -p tcp -m multiport --dports 80,443 -m set --match-set blacklist-web src \
//!     -m comment --comment "logbus: ban group web" -j DROP
//! ```
//!
//! and `stop` deletes exactly those rules; sets and their entries stay.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::dry_run::set_name;
use super::process::{self, RunError};
use super::{
    Backend, BackendError, BadGroups, Change, GroupInfo, Protocol, canonical, check_group,
    check_name_part, run_failure, timeout_secs,
};

/// The longest timeout ipset accepts, in seconds (about 24.8 days). Longer
/// bans are entered with this timeout: the kernel then lifts them early,
/// and logbus's own record of the ban is what re-applies it after a restart.
pub const MAX_TIMEOUT_SECS: u64 = 2_147_483;

/// Longest set name ipset accepts (`IPSET_MAXNAMELEN` - 1).
pub const MAX_SET_NAME: usize = 31;

/// Longest iptables chain name.
const MAX_CHAIN_NAME: usize = 28;

/// Most ports one `-m multiport --dports` takes.
const MULTIPORT_MAX: usize = 15;

const NAME: &str = "ipset";

/// Options of the ipset backend.
#[derive(Debug, Clone)]
pub struct IpsetConfig {
    /// Set name prefix (`blacklist-`).
    pub prefix: String,
    /// Insert/remove the iptables drop rules.
    pub manage_rules: bool,
    /// Protocols a port-scoped rule matches.
    pub protocols: Vec<Protocol>,
    /// Longest run of one tool.
    pub timeout: Duration,
    /// The `ipset` program.
    pub ipset: PathBuf,
    /// The `iptables` program.
    pub iptables: PathBuf,
    /// The `ip6tables` program.
    pub ip6tables: PathBuf,
    /// Chain the rules go in.
    pub chain: String,
    /// `maxelem` of created sets.
    pub max_entries: u32,
}

impl Default for IpsetConfig {
    fn default() -> Self {
        Self {
            prefix: "blacklist-".into(),
            manage_rules: false,
            protocols: vec![Protocol::Tcp, Protocol::Udp],
            timeout: super::DEFAULT_BATCH_TIMEOUT,
            ipset: "ipset".into(),
            iptables: "iptables".into(),
            ip6tables: "ip6tables".into(),
            chain: "INPUT".into(),
            max_entries: 1 << 20,
        }
    }
}

/// One iptables rule: the arguments after the chain name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FwRule {
    /// ip6tables (true) or iptables.
    pub v6: bool,
    /// Match and target arguments.
    pub args: Vec<String>,
}

/// The ipset backend.
#[derive(Debug)]
pub struct Ipset {
    cfg: IpsetConfig,
    /// Sets known to exist, and whether they have the settings logbus
    /// creates (then every batch repeats their `create`: see `apply`).
    known_sets: HashMap<String, bool>,
    /// Rules `start` ensured, removed by `stop`.
    rules: Vec<FwRule>,
    /// Groups announced to `start`.
    started: HashSet<String>,
    /// Groups used without `start`, warned about once.
    unannounced: HashSet<String>,
    bad: BadGroups,
}

impl Ipset {
    /// Checks the options.
    pub fn new(cfg: IpsetConfig) -> Result<Self, String> {
        // The shortest set name is prefix + one character + `-v6`.
        if cfg.prefix.len() + 4 > MAX_SET_NAME {
            return Err(format!(
                "set_prefix `{}` is too long for ipset: set names ({{prefix}}{{group}}-v6) may have at most {MAX_SET_NAME} characters",
                cfg.prefix
            ));
        }
        if cfg.chain.is_empty() || cfg.chain.len() > MAX_CHAIN_NAME {
            return Err(format!(
                "chain `{}` must have 1 to {MAX_CHAIN_NAME} characters",
                cfg.chain
            ));
        }
        check_name_part("chain", &cfg.chain)?;
        if cfg.max_entries == 0 {
            return Err("max_entries must be at least 1".into());
        }
        Ok(Self {
            cfg,
            known_sets: HashMap::new(),
            rules: Vec::new(),
            started: HashSet::new(),
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
        let longest = set_name(prefix, group, true);
        if longest.len() > MAX_SET_NAME {
            return Err(format!(
                "set name `{longest}` is longer than ipset's {MAX_SET_NAME} characters: shorten set_prefix or the group name"
            ));
        }
        Ok(())
    }

    /// The drop rules for a group: per family, one rule without ports, or
    /// one per protocol and run of 15 ports.
    pub fn rules_for(&self, group: &GroupInfo) -> Vec<FwRule> {
        let mut ports = group.ports.clone();
        ports.sort_unstable();
        ports.dedup();
        let mut rules = Vec::new();
        for v6 in [false, true] {
            let set = self.set_name(&group.name, v6);
            let tail: Vec<String> = [
                "-m",
                "set",
                "--match-set",
                &set,
                "src",
                "-m",
                "comment",
                "--comment",
                &format!("logbus: ban group {}", group.name),
                "-j",
                "DROP",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            if ports.is_empty() {
                rules.push(FwRule { v6, args: tail });
                continue;
            }
            for proto in &self.cfg.protocols {
                for chunk in ports.chunks(MULTIPORT_MAX) {
                    let list: Vec<String> = chunk.iter().map(u16::to_string).collect();
                    let mut args: Vec<String> = [
                        "-p",
                        proto.as_str(),
                        "-m",
                        "multiport",
                        "--dports",
                        &list.join(","),
                    ]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                    args.extend(tail.iter().cloned());
                    rules.push(FwRule { v6, args });
                }
            }
        }
        rules
    }

    /// The `ipset restore` script for a batch, in order, and the sets it
    /// touches. Changes in unusable groups are left out (and logged).
    pub fn script(&mut self, changes: &[Change]) -> (String, BTreeSet<(String, bool)>) {
        let mut script = String::with_capacity(changes.len() * 48);
        let mut sets = BTreeSet::new();
        let prefix = self.cfg.prefix.clone();
        for c in changes {
            if !self
                .bad
                .usable(NAME, c.group(), |g| Self::check_group(&prefix, g))
            {
                continue;
            }
            let ip = canonical(c.ip());
            let set = self.set_name(c.group(), ip.is_ipv6());
            // Writing to a String cannot fail.
            let _ = match c {
                Change::Ban { timeout, .. } => {
                    // 0 is ipset's "forever".
                    let secs = timeout.map_or(0, |t| timeout_secs(t, MAX_TIMEOUT_SECS));
                    writeln!(script, "add {set} {ip} timeout {secs}")
                }
                Change::Unban { .. } => writeln!(script, "del {set} {ip}"),
            };
            sets.insert((set, ip.is_ipv6()));
        }
        (script, sets)
    }

    fn run_ipset(
        &self,
        args: &[&str],
        input: Option<Vec<u8>>,
    ) -> Result<process::Output, RunError> {
        process::run(&self.cfg.ipset, args, input, self.cfg.timeout)
    }

    /// Names of the sets that exist now.
    fn existing_sets(&self) -> Result<HashSet<String>, BackendError> {
        let out = self
            .run_ipset(&["list", "-n"], None)
            .map_err(|e| run_failure(NAME, "listing sets", "ipset_path", Some("ipset"), e))?;
        Ok(out.stdout.lines().map(|l| l.trim().to_string()).collect())
    }

    /// The arguments that create a set the way logbus does. `timeout 0`:
    /// timeout support, entries permanent unless added with a timeout.
    fn create_args(&self, name: &str, v6: bool) -> Vec<String> {
        let family = if v6 { "inet6" } else { "inet" };
        [
            "create",
            name,
            "hash:ip",
            "family",
            family,
            "timeout",
            "0",
            "maxelem",
            &self.cfg.max_entries.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// Creates the sets that do not exist yet, and finds out whether the
    /// existing ones have our settings. Existing sets with other settings
    /// (made bigger by an administrator, or by another tool) are used as
    /// they are.
    fn ensure_sets(&mut self, sets: &BTreeSet<(String, bool)>) -> Result<(), BackendError> {
        let existing = self.existing_sets()?;
        let mut script = String::new();
        for (name, v6) in sets {
            if existing.contains(name) {
                // `create -exist` succeeds only when the set has exactly
                // these settings.
                let mut args = self.create_args(name, *v6);
                args.push("-exist".into());
                let same = match self
                    .run_ipset(&args.iter().map(String::as_str).collect::<Vec<_>>(), None)
                {
                    Ok(_) => true,
                    Err(e) if e.stderr().contains("already exists") => {
                        tracing::info!(
                            "ipset: set {name} exists with other settings than logbus would give it; using it as it is"
                        );
                        false
                    }
                    Err(e) => {
                        return Err(run_failure(
                            NAME,
                            "checking sets",
                            "ipset_path",
                            Some("ipset"),
                            e,
                        ));
                    }
                };
                self.known_sets.insert(name.clone(), same);
            } else {
                let _ = writeln!(script, "{}", self.create_args(name, *v6).join(" "));
                tracing::info!("ipset: creating set {name}");
            }
        }
        if !script.is_empty() {
            self.run_ipset(&["restore", "-exist"], Some(script.into_bytes()))
                .map_err(|e| run_failure(NAME, "creating sets", "ipset_path", Some("ipset"), e))?;
            for (name, _) in sets {
                self.known_sets.entry(name.clone()).or_insert(true);
            }
        }
        Ok(())
    }

    fn tables(&self, v6: bool) -> (&Path, &'static str) {
        if v6 {
            (&self.cfg.ip6tables, "ip6tables_path")
        } else {
            (&self.cfg.iptables, "iptables_path")
        }
    }

    fn run_tables(&self, rule: &FwRule, op: &str) -> Result<process::Output, RunError> {
        let (bin, _) = self.tables(rule.v6);
        // `-w`: wait for the xtables lock instead of failing when another
        // tool (docker, a second logbus) holds it.
        let mut args: Vec<&str> = vec!["-w", op, &self.cfg.chain];
        args.extend(rule.args.iter().map(String::as_str));
        process::run(bin, &args, None, self.cfg.timeout)
    }

    /// Inserts a rule unless it is there already.
    fn ensure_rule(&self, rule: &FwRule) -> Result<(), BackendError> {
        if self.run_tables(rule, "-C").is_ok() {
            return Ok(());
        }
        self.run_tables(rule, "-I").map(|_| ()).map_err(|e| {
            let (bin, option) = self.tables(rule.v6);
            let missing_chain = e.stderr().contains("No chain/target/match");
            let mut err = run_failure(
                NAME,
                &format!("inserting `{} -I {} {}`", bin.display(), self.cfg.chain, rule.args.join(" ")),
                option,
                Some("iptables"),
                e,
            );
            if missing_chain {
                err.message.push_str(&format!(
                    "; check that chain `{}` exists and that the kernel has the xt_set, xt_multiport and xt_comment matches",
                    self.cfg.chain
                ));
            }
            err
        })
    }

    /// Deletes a rule if it is there.
    fn remove_rule(&self, rule: &FwRule) -> Result<(), BackendError> {
        let (bin, option) = self.tables(rule.v6);
        match self.run_tables(rule, "-C") {
            // Not there (deleted by hand, or the chain is gone).
            Err(RunError::Failed { .. }) => return Ok(()),
            Err(e) => {
                return Err(run_failure(
                    NAME,
                    "checking a rule",
                    option,
                    Some("iptables"),
                    e,
                ));
            }
            Ok(_) => {}
        }
        self.run_tables(rule, "-D").map(|_| ()).map_err(|e| {
            run_failure(
                NAME,
                &format!(
                    "deleting `{} -D {} {}`",
                    bin.display(),
                    self.cfg.chain,
                    rule.args.join(" ")
                ),
                option,
                Some("iptables"),
                e,
            )
        })
    }

    /// The batch, after a `create` line for each of its sets that has our
    /// settings. With `-exist` the line changes nothing when the set is
    /// there and recreates it when someone destroyed it; and ipset then
    /// knows the set's type from the script instead of asking the kernel
    /// for every line, which halves the time of a big batch.
    fn with_creates(&self, sets: &BTreeSet<(String, bool)>, script: &str) -> Vec<u8> {
        let mut out = String::with_capacity(script.len() + sets.len() * 80);
        for (name, v6) in sets {
            if self.known_sets.get(name) == Some(&true) {
                let _ = writeln!(out, "{}", self.create_args(name, *v6).join(" "));
            }
        }
        out.push_str(script);
        out.into_bytes()
    }

    fn restore(&self, script: Vec<u8>) -> Result<(), RunError> {
        self.run_ipset(&["restore", "-exist"], Some(script))
            .map(|_| ())
    }

    fn batch_failure(&self, count: usize, e: RunError) -> BackendError {
        let stderr = e.stderr().to_string();
        let mut err = run_failure(
            NAME,
            &format!("applying {count} change(s) with `ipset restore`"),
            "ipset_path",
            Some("ipset"),
            e,
        );
        if stderr.contains("Hash is full") {
            err.message.push_str(
                "; the set is full: raise backend.max_entries, then destroy the set (it is recreated at start) or `ipset create` it bigger",
            );
        } else if stderr.contains("without timeout support") {
            err.message.push_str(
                "; that set was made by another tool or an older setup: destroy it (`ipset destroy NAME`, after removing rules that use it) so logbus recreates it, or choose another set_prefix",
            );
        }
        err
    }
}

impl Backend for Ipset {
    fn name(&self) -> &'static str {
        NAME
    }

    fn start(&mut self, groups: &[GroupInfo]) -> Result<(), BackendError> {
        let mut sets = BTreeSet::new();
        for g in groups {
            Self::check_group(&self.cfg.prefix, &g.name)
                .map_err(|e| BackendError::new(NAME, format!("group `{}`: {e}", g.name)))?;
            sets.insert((self.set_name(&g.name, false), false));
            sets.insert((self.set_name(&g.name, true), true));
        }
        self.known_sets.clear();
        self.ensure_sets(&sets)?;
        if self.cfg.manage_rules {
            for g in groups {
                for rule in self.rules_for(g) {
                    self.ensure_rule(&rule)?;
                    if !self.rules.contains(&rule) {
                        self.rules.push(rule);
                    }
                }
            }
        }
        self.started.extend(groups.iter().map(|g| g.name.clone()));
        Ok(())
    }

    fn apply(&mut self, changes: &[Change]) -> Result<(), BackendError> {
        let (script, sets) = self.script(changes);
        if script.is_empty() {
            return Ok(());
        }
        if self.cfg.manage_rules {
            for c in changes {
                if !self.started.contains(c.group())
                    && self.unannounced.insert(c.group().to_string())
                {
                    tracing::warn!(
                        "ipset: group `{}` was not set up at start: its set is filled, but no rule drops its members",
                        c.group()
                    );
                }
            }
        }
        let unknown: BTreeSet<(String, bool)> = sets
            .iter()
            .filter(|(name, _)| !self.known_sets.contains_key(name))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            self.ensure_sets(&unknown)?;
        }
        match self.restore(self.with_creates(&sets, &script)) {
            Ok(()) => Ok(()),
            Err(e) if e.stderr().contains("does not exist") => {
                // A set of another tool's making vanished since we saw it
                // (`ipset destroy` by hand): create ours, apply once more.
                self.known_sets.clear();
                self.ensure_sets(&sets)?;
                self.restore(self.with_creates(&sets, &script))
                    .map_err(|e| self.batch_failure(changes.len(), e))
            }
            Err(e) => Err(self.batch_failure(changes.len(), e)),
        }
    }

    fn stop(&mut self) -> Result<(), BackendError> {
        let mut first_err = None;
        let mut kept = Vec::new();
        // Reverse order of insertion, so a partly failed stop can be
        // retried and removes the rest.
        for rule in std::mem::take(&mut self.rules).into_iter().rev() {
            if let Err(e) = self.remove_rule(&rule) {
                first_err.get_or_insert(e);
                kept.push(rule);
            }
        }
        kept.reverse();
        self.rules = kept;
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn backend(protocols: Vec<Protocol>) -> Ipset {
        Ipset::new(IpsetConfig {
            protocols,
            ..IpsetConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn script_lines() {
        let mut b = backend(vec![Protocol::Tcp]);
        let changes = vec![
            Change::Ban {
                ip: "192.0.2.1".parse().unwrap(),
                group: "ssh".into(),
                timeout: Some(Duration::from_millis(3_600_500)),
            },
            Change::Ban {
                ip: "2001:db8::1".parse().unwrap(),
                group: "ssh".into(),
                timeout: None,
            },
            Change::Ban {
                ip: "::ffff:198.51.100.7".parse().unwrap(),
                group: "web".into(),
                timeout: Some(Duration::from_secs(365 * 86_400)),
            },
            Change::Unban {
                ip: "192.0.2.1".parse().unwrap(),
                group: "ssh".into(),
            },
            Change::Unban {
                ip: "192.0.2.9".parse().unwrap(),
                group: "bad group".into(),
            },
        ];
        let (script, sets) = b.script(&changes);
        assert_eq!(
            script,
            "add blacklist-ssh 192.0.2.1 timeout 3601\n\
             add blacklist-ssh-v6 2001:db8::1 timeout 0\n\
             add blacklist-web 198.51.100.7 timeout 2147483\n\
             del blacklist-ssh 192.0.2.1\n"
        );
        let names: Vec<&str> = sets.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["blacklist-ssh", "blacklist-ssh-v6", "blacklist-web"]
        );
    }

    #[test]
    fn rules_per_family_protocol_and_port_run() {
        let b = backend(vec![Protocol::Tcp, Protocol::Udp]);
        let all = b.rules_for(&GroupInfo {
            name: "ssh".into(),
            ports: vec![],
        });
        assert_eq!(all.len(), 2);
        assert_eq!(
            all[0].args.join(" "),
            "-m set --match-set blacklist-ssh src -m comment --comment logbus: ban group ssh -j DROP"
        );
        assert!(all[1].v6 && all[1].args.contains(&"blacklist-ssh-v6".to_string()));
        let many: Vec<u16> = (1..=20).collect();
        let web = b.rules_for(&GroupInfo {
            name: "web".into(),
            ports: many,
        });
        // 2 families x 2 protocols x 2 runs of at most 15 ports.
        assert_eq!(web.len(), 8);
        assert_eq!(
            &web[0].args[..6],
            [
                "-p",
                "tcp",
                "-m",
                "multiport",
                "--dports",
                "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15"
            ]
        );
        assert_eq!(web[1].args[5], "16,17,18,19,20");
        assert_eq!(web[2].args[1], "udp");
    }

    #[test]
    fn name_limits() {
        assert!(Ipset::check_group("blacklist-", "ssh").is_ok());
        let err = Ipset::check_group("blacklist-", "a-very-long-group-name").unwrap_err();
        assert!(err.contains("31"), "{err}");
        assert!(
            Ipset::new(IpsetConfig {
                prefix: "x".repeat(28),
                ..IpsetConfig::default()
            })
            .is_err()
        );
        assert!(
            Ipset::new(IpsetConfig {
                chain: "IN PUT".into(),
                ..IpsetConfig::default()
            })
            .is_err()
        );
    }
}
