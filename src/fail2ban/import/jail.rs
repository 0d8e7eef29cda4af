//! One fail2ban jail read into what logbus needs: the rule set, the logs,
//! the group settings, the allow-list, the firewall and escalation inputs.
//! Everything it cannot translate is reported as a [`Diagnostic`].

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use super::ini::Config;
use super::values::{self, Ports, Spec};
use super::{Diagnostic, Severity};
use crate::duration::Span;
use crate::fail2ban::builtin;
use crate::fail2ban::rules::{InputKind, RuleSetDef};

/// fail2ban's own defaults when no file sets them (its `Filter` class).
const F2B_MAXRETRY: u32 = 3;
const F2B_FINDTIME: Duration = Duration::from_secs(600);
const F2B_BANTIME: Duration = Duration::from_secs(600);

/// Old fail2ban filter names that are modes of a set today.
const ALIASES: &[(&str, &str, &str)] = &[
    ("sshd-ddos", "sshd", "ddos"),
    ("postfix-sasl", "postfix", "auth"),
    ("postfix-rbl", "postfix", "rbl"),
];

/// How a log file's lines reach the fail2ban stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reader {
    /// A syslog file: parse-syslog.
    Syslog,
    /// A daemon's own file read by a syslog rule set: parse-syslog that
    /// passes lines it cannot parse on unchanged.
    SyslogOrText,
    /// A web server access log: parse-access-log.
    AccessLog,
    /// Plain text (error logs): no parser, the rules read `message`.
    Text,
}

/// Where a jail's lines come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file or glob.
    File {
        /// The path as written (absolute).
        path: String,
        /// How its lines are parsed.
        reader: Reader,
        /// fail2ban's `head`: read from the start.
        from_start: bool,
    },
    /// The systemd journal.
    Journal {
        /// `journalpath=` of `backend = systemd[...]`.
        directory: Option<String>,
        /// `journalfiles=`.
        files: Vec<String>,
        /// journalmatch as OR-ed groups of `FIELD=value` terms; `None`
        /// reads every entry.
        matches: Option<Vec<Vec<String>>>,
    },
}

/// The firewall a jail's ban action drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Firewall {
    /// iptables (with or without ipset), ufw: logbus's `ipset` backend.
    Ipset,
    /// nftables, firewalld: logbus's `nftables` backend.
    Nftables,
}

impl Firewall {
    /// The backend `type`.
    pub fn backend(self) -> &'static str {
        match self {
            Firewall::Ipset => "ipset",
            Firewall::Nftables => "nftables",
        }
    }
}

/// `bantime.increment` and its companions, as written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Increment {
    /// `bantime.factor`.
    pub factor: Option<String>,
    /// `bantime.formula`.
    pub formula: Option<String>,
    /// `bantime.multipliers`.
    pub multipliers: Option<String>,
    /// `bantime.maxtime`.
    pub maxtime: Option<String>,
    /// `bantime.rndtime`.
    pub rndtime: Option<String>,
    /// `bantime.overalljails`.
    pub overalljails: bool,
}

/// A jail translated to logbus terms.
#[derive(Debug, Clone)]
pub struct Jail {
    /// The jail (section) name.
    pub name: String,
    /// The built-in rule set.
    pub set: String,
    /// The mode asked for (one the set has), `None` for its default.
    pub mode: Option<String>,
    /// The set's definition (modes, groups, input kind).
    pub def: RuleSetDef,
    /// `maxretry`.
    pub limit: u32,
    /// `findtime`.
    pub window: Duration,
    /// `bantime`.
    pub bantime: Span,
    /// What a ban blocks.
    pub ports: Ports,
    /// Protocols of port-scoped bans (`tcp`, `udp`).
    pub protocols: BTreeSet<&'static str>,
    /// A non-default iptables chain of the ban action.
    pub chain: Option<String>,
    /// The firewall its ban action drives, if logbus has it.
    pub firewall: Option<Firewall>,
    /// The firewall ban action(s), for notes.
    pub banaction: String,
    /// Logs.
    pub sources: Vec<Source>,
    /// `ignoreip` entries logbus takes.
    pub allow: Vec<String>,
    /// `bantime.increment = true` and its settings.
    pub increment: Option<Increment>,
}

/// What a section turned out to be.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Not enabled.
    Disabled,
    /// A jail logbus runs.
    Jail(Box<Jail>),
    /// fail2ban's `recidive` jail: becomes escalation.
    Recidive {
        /// `findtime`.
        window: Duration,
        /// `bantime`.
        bantime: Span,
    },
    /// Enabled, but not translated (the reason is in the diagnostics).
    Skipped,
}

/// Reads one section of the jail configuration.
pub struct JailReader<'a> {
    /// The merged jail configuration.
    pub cfg: &'a Config,
    /// The fail2ban configuration directory (for filter.d).
    pub dir: &'a Path,
    /// Where problems go.
    pub diags: &'a mut Vec<Diagnostic>,
}

/// The jail is not translated; the reason is already reported.
struct Skip;

impl JailReader<'_> {
    fn diag(&mut self, jail: &str, severity: Severity, option: &str, message: String) {
        self.diags.push(Diagnostic {
            severity,
            jails: vec![jail.to_string()],
            option: (!option.is_empty()).then(|| option.to_string()),
            message,
        });
    }

    fn skip(&mut self, jail: &str, option: &str, message: String) -> Skip {
        self.diag(jail, Severity::Skipped, option, message);
        Skip
    }

    fn not_translated(&mut self, jail: &str, option: &str, message: String) {
        self.diag(jail, Severity::NotTranslated, option, message);
    }

    fn note(&mut self, jail: &str, option: &str, message: String) {
        self.diag(jail, Severity::Note, option, message);
    }

    /// An interpolated option; a broken reference makes fail2ban refuse
    /// the jail, and so does the import.
    fn get(&mut self, jail: &str, option: &str) -> Result<Option<String>, Skip> {
        match self.cfg.get(jail, option) {
            Ok(v) => Ok(v),
            Err(e) => Err(self.skip(
                jail,
                "",
                format!("{} (fail2ban refuses this jail too)", e.message),
            )),
        }
    }

    /// Like `get`, with empty values read as unset.
    fn get_set(&mut self, jail: &str, option: &str) -> Result<Option<String>, Skip> {
        Ok(self
            .get(jail, option)?
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty()))
    }

    /// Reads section `name`.
    pub fn read(&mut self, name: &str) -> Outcome {
        match self.read_inner(name) {
            Ok(o) => o,
            Err(Skip) => Outcome::Skipped,
        }
    }

    fn read_inner(&mut self, name: &str) -> Result<Outcome, Skip> {
        let enabled = self
            .get(name, "enabled")?
            .is_some_and(|v| values::as_bool(&v));
        if !enabled {
            return Ok(Outcome::Disabled);
        }
        let Some(filter) = self.get_set(name, "filter")? else {
            return Err(self.skip(name, "filter", "no filter: nothing to recognise".into()));
        };
        let spec = Spec::parse(&filter).map_err(|e| self.skip(name, "filter", e))?;
        let window = self.findtime(name)?;
        let bantime = self.bantime(name)?;
        if spec.name == "recidive" {
            return Ok(Outcome::Recidive { window, bantime });
        }
        let (set, def, mode) = self.rule_set(name, &spec)?;
        let sources = self.sources(name, &spec, &def)?;
        let limit = self.maxretry(name)?;
        let allow = self.ignoreip(name)?;
        let increment = self.increment(name)?;
        let action = self.action(name)?;
        self.unsupported_options(name, &set)?;
        Ok(Outcome::Jail(Box::new(Jail {
            name: name.to_string(),
            set,
            mode,
            def,
            limit,
            window,
            bantime,
            ports: action.ports,
            protocols: action.protocols,
            chain: action.chain,
            firewall: action.firewall,
            banaction: action.names,
            sources,
            allow,
            increment,
        })))
    }

    /// The built-in set for a filter, and the mode.
    fn rule_set(
        &mut self,
        jail: &str,
        spec: &Spec,
    ) -> Result<(String, RuleSetDef, Option<String>), Skip> {
        let (set, alias_mode) = match ALIASES.iter().find(|(old, _, _)| *old == spec.name) {
            Some((_, set, mode)) => (set.to_string(), Some(mode.to_string())),
            None => (spec.name.clone(), None),
        };
        let Some(yaml) = builtin::get(&set) else {
            return Err(self.skip(
                jail,
                "filter",
                format!(
                    "`{}` has no logbus rule set (built-in sets: {}); write rules for it (README \"Writing rules\") and add the file to `rules:`",
                    spec.name,
                    builtin::names().join(", ")
                ),
            ));
        };
        let def = RuleSetDef::from_yaml(&yaml, &set)
            .map_err(|e| self.skip(jail, "filter", format!("built-in rule set `{set}`: {e}")))?;
        let mut requested = alias_mode;
        for (k, v) in &spec.options {
            if k == "mode" {
                requested = Some(v.clone());
            } else {
                self.not_translated(
                    jail,
                    "filter",
                    format!(
                        "filter option `{k}={v}` of `{}`: the built-in rule set `{set}` has no such setting",
                        spec.name
                    ),
                );
            }
        }
        let mode = match requested {
            Some(m) if def.modes.contains(&m) => Some(m),
            // fail2ban passes `mode=normal` to every filter; sets without
            // modes have only that.
            Some(m) if def.modes.is_empty() && m == "normal" => None,
            Some(m) => {
                let modes = if def.modes.is_empty() {
                    "none".to_string()
                } else {
                    def.modes.join(", ")
                };
                self.not_translated(
                    jail,
                    "mode",
                    format!(
                        "mode `{m}` of filter `{}`: the rule set `{set}` has no such mode (modes: {modes}); its default is used",
                        spec.name
                    ),
                );
                None
            }
            None => None,
        };
        // Name the default mode only when asked for explicitly.
        let mode = mode.filter(|m| def.default_mode.as_deref() != Some(m.as_str()));
        Ok((set, def, mode))
    }

    fn sources(
        &mut self,
        jail: &str,
        filter: &Spec,
        def: &RuleSetDef,
    ) -> Result<Vec<Source>, Skip> {
        let backend = self
            .get_set(jail, "backend")?
            .unwrap_or_else(|| "auto".into());
        let spec = Spec::parse(&backend).map_err(|e| self.skip(jail, "backend", e))?;
        if spec.name == "systemd" {
            let mut directory = None;
            let mut files = Vec::new();
            for (k, v) in &spec.options {
                match k.as_str() {
                    "journalpath" => directory = Some(v.clone()),
                    "journalfiles" => files.extend(values::words(v).into_iter().map(String::from)),
                    _ => self.not_translated(
                        jail,
                        "backend",
                        format!(
                            "`systemd` option `{k}={v}` has no equivalent in the journal input"
                        ),
                    ),
                }
            }
            let matches = self.journalmatch(jail, filter)?;
            return Ok(vec![Source::Journal {
                directory,
                files,
                matches,
            }]);
        }
        if !matches!(
            spec.name.as_str(),
            "auto" | "polling" | "pyinotify" | "gamin"
        ) {
            self.not_translated(
                jail,
                "backend",
                format!(
                    "unknown backend `{}`: the jail's logpath is tailed",
                    spec.name
                ),
            );
        }
        let Some(logpath) = self.get_set(jail, "logpath")? else {
            return Err(self.skip(
                jail,
                "logpath",
                "no log file to read (logpath is empty)".into(),
            ));
        };
        let mut out = Vec::new();
        for line in logpath.split('\n') {
            let mut words: Vec<&str> = line.split_whitespace().collect();
            let from_start = match words.last() {
                Some(&"head") => {
                    words.pop();
                    true
                }
                Some(&"tail") => {
                    words.pop();
                    false
                }
                _ => false,
            };
            if words.len() > 1 {
                self.note(
                    jail,
                    "logpath",
                    format!(
                        "`{}`: fail2ban reads one path per line (the last word is taken for head/tail); each word is imported as a path",
                        line.trim()
                    ),
                );
            }
            for path in words {
                if !path.starts_with('/') {
                    self.not_translated(
                        jail,
                        "logpath",
                        format!("`{path}` is not an absolute path; left out"),
                    );
                    continue;
                }
                out.push(Source::File {
                    path: path.to_string(),
                    reader: reader_for(path, def),
                    from_start,
                });
            }
        }
        if out.is_empty() {
            return Err(self.skip(jail, "logpath", "no usable log path".into()));
        }
        Ok(out)
    }

    /// The jail's journalmatch, else its filter's (filter.d/NAME.conf).
    fn journalmatch(
        &mut self,
        jail: &str,
        filter: &Spec,
    ) -> Result<Option<Vec<Vec<String>>>, Skip> {
        let text = match self.get_set(jail, "journalmatch")? {
            Some(t) => Some(t),
            None => self.filter_journalmatch(jail, filter)?,
        };
        let Some(text) = text else {
            return Ok(None);
        };
        let mut groups: Vec<Vec<String>> = vec![Vec::new()];
        for word in text.split_whitespace() {
            if word == "+" {
                groups.push(Vec::new());
            } else if word.contains('=') && !word.starts_with('=') {
                if let Some(g) = groups.last_mut() {
                    g.push(word.to_string());
                }
            } else {
                self.not_translated(
                    jail,
                    "journalmatch",
                    format!("`{word}` is not a FIELD=value match; left out"),
                );
            }
        }
        groups.retain(|g| !g.is_empty());
        Ok((!groups.is_empty()).then_some(groups))
    }

    fn filter_journalmatch(&mut self, jail: &str, filter: &Spec) -> Result<Option<String>, Skip> {
        let base = self.dir.join("filter.d").join(&filter.name);
        let conf = base.with_extension("conf");
        if !conf.is_file() {
            self.note(
                jail,
                "journalmatch",
                format!(
                    "no {} to take the filter's journalmatch from: the journal input reads every entry (the rule set's program names still apply)",
                    conf.display()
                ),
            );
            return Ok(None);
        }
        let mut files = vec![conf];
        files.extend(sorted_glob(&base.with_extension("d"), "conf"));
        files.push(base.with_extension("local"));
        files.extend(sorted_glob(&base.with_extension("d"), "local"));
        let cfg =
            Config::load(&files, &[]).map_err(|e| self.skip(jail, "filter", e.to_string()))?;
        let mut vars: HashMap<String, String> = filter
            .options
            .iter()
            .map(|(k, v)| (k.to_lowercase(), v.clone()))
            .collect();
        for (k, e) in cfg.own_options("Init") {
            vars.entry(k.to_string()).or_insert_with(|| e.value.clone());
        }
        match cfg.get_with("Definition", "journalmatch", &vars) {
            Ok(v) => Ok(v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())),
            Err(e) => Err(self.skip(
                jail,
                "journalmatch",
                format!("filter.d/{}: {}", filter.name, e.message),
            )),
        }
    }

    fn maxretry(&mut self, jail: &str) -> Result<u32, Skip> {
        let Some(v) = self.get_set(jail, "maxretry")? else {
            return Ok(F2B_MAXRETRY);
        };
        match v.parse::<i64>() {
            Ok(n) if n >= 1 => Ok(u32::try_from(n).unwrap_or(u32::MAX)),
            Ok(n) => {
                self.note(
                    jail,
                    "maxretry",
                    format!("{n}: logbus bans at the first failure (limit 1)"),
                );
                Ok(1)
            }
            Err(_) => {
                self.not_translated(
                    jail,
                    "maxretry",
                    format!("`{v}` is not a number; fail2ban's default {F2B_MAXRETRY} is used"),
                );
                Ok(F2B_MAXRETRY)
            }
        }
    }

    fn findtime(&mut self, jail: &str) -> Result<Duration, Skip> {
        let Some(v) = self.get_set(jail, "findtime")? else {
            return Ok(F2B_FINDTIME);
        };
        match values::positive(&v) {
            Ok(d) => Ok(d),
            Err(e) => {
                self.not_translated(
                    jail,
                    "findtime",
                    format!("{e}; fail2ban's default 10m is used"),
                );
                Ok(F2B_FINDTIME)
            }
        }
    }

    fn bantime(&mut self, jail: &str) -> Result<Span, Skip> {
        let Some(v) = self.get_set(jail, "bantime")? else {
            return Ok(Span::Finite(F2B_BANTIME));
        };
        match values::bantime(&v) {
            Ok(Span::Finite(d)) if d.is_zero() => {
                self.not_translated(
                    jail,
                    "bantime",
                    "0: a ban must last; fail2ban's default 10m is used".into(),
                );
                Ok(Span::Finite(F2B_BANTIME))
            }
            Ok(s) => Ok(s),
            Err(e) => {
                self.not_translated(
                    jail,
                    "bantime",
                    format!("{e}; fail2ban's default 10m is used"),
                );
                Ok(Span::Finite(F2B_BANTIME))
            }
        }
    }

    fn ignoreip(&mut self, jail: &str) -> Result<Vec<String>, Skip> {
        let Some(v) = self.get_set(jail, "ignoreip")? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for w in values::words(&v) {
            match values::allow_entry(w) {
                Ok(e) => out.push(e),
                Err(e) => self.not_translated(jail, "ignoreip", e),
            }
        }
        Ok(out)
    }

    fn increment(&mut self, jail: &str) -> Result<Option<Increment>, Skip> {
        let on = self
            .get_set(jail, "bantime.increment")?
            .is_some_and(|v| values::as_bool(&v));
        if !on {
            return Ok(None);
        }
        Ok(Some(Increment {
            factor: self.get_set(jail, "bantime.factor")?,
            formula: self.get_set(jail, "bantime.formula")?,
            multipliers: self.get_set(jail, "bantime.multipliers")?,
            maxtime: self.get_set(jail, "bantime.maxtime")?,
            rndtime: self.get_set(jail, "bantime.rndtime")?,
            overalljails: self
                .get_set(jail, "bantime.overalljails")?
                .is_some_and(|v| values::as_bool(&v)),
        }))
    }

    fn action(&mut self, jail: &str) -> Result<ActionInfo, Skip> {
        let jail_port = self
            .get_set(jail, "port")?
            .unwrap_or_else(|| "0:65535".into());
        let jail_protocol = self
            .get_set(jail, "protocol")?
            .unwrap_or_else(|| "tcp".into());
        let action = self.get_set(jail, "action")?.unwrap_or_default();
        let specs = values::split_specs(&action).map_err(|e| self.skip(jail, "action", e))?;
        let mut info = ActionInfo {
            ports: Ports::List(BTreeSet::new()),
            protocols: BTreeSet::new(),
            chain: None,
            firewall: None,
            names: String::new(),
        };
        let mut names = Vec::new();
        let mut any_firewall = false;
        let mut unknown = Vec::new();
        for text in specs {
            let spec = Spec::parse(&text).map_err(|e| self.skip(jail, "action", e))?;
            match classify_action(&spec) {
                ActionKind::Firewall(fw, allports) => {
                    names.push(spec.name.clone());
                    any_firewall = true;
                    if info.firewall.is_some_and(|f| f != fw) {
                        self.note(
                            jail,
                            "action",
                            format!("`{}` drives another firewall than the jail's first ban action; the first is used", spec.name),
                        );
                    } else {
                        info.firewall = Some(fw);
                    }
                    let allports = allports || spec.get("type") == Some("allports");
                    if allports {
                        info.ports = Ports::All;
                    } else {
                        let port = spec.get("port").unwrap_or(&jail_port).to_string();
                        let (p, problems) = values::ports(&port);
                        for pr in problems {
                            self.not_translated(jail, "port", pr);
                        }
                        info.ports = merge_ports(&info.ports, &p);
                    }
                    let proto = spec.get("protocol").unwrap_or(&jail_protocol).to_string();
                    self.protocols(jail, &proto, &mut info.protocols);
                    if let Some(chain) = spec.get("chain")
                        && !chain.starts_with('<')
                        && !chain.is_empty()
                        && chain != "INPUT"
                    {
                        info.chain = Some(chain.to_string());
                    }
                }
                ActionKind::Report => self.not_translated(
                    jail,
                    "action",
                    format!(
                        "`{}` (mail, report or notification) is not imported: logbus sends ban decisions to `bansChannel`, logged by the `show-bans` stage",
                        spec.name
                    ),
                ),
                ActionKind::Unknown => unknown.push(spec.name.clone()),
            }
        }
        for u in &unknown {
            self.not_translated(
                jail,
                "action",
                format!(
                    "`{u}`: logbus has no backend that does what this action does{}",
                    if any_firewall {
                        ""
                    } else {
                        "; the jail's bans go to the pipeline's backend"
                    }
                ),
            );
        }
        if !any_firewall {
            // No firewall action: the group still needs its ports when the
            // pipeline's backend bans.
            let (p, problems) = values::ports(&jail_port);
            for pr in problems {
                self.not_translated(jail, "port", pr);
            }
            info.ports = p;
            self.protocols(jail, &jail_protocol, &mut info.protocols);
            if unknown.is_empty() {
                self.note(
                    jail,
                    "action",
                    "no ban action (fail2ban only records bans): the jail's bans go to the pipeline's backend".into(),
                );
            }
        }
        info.names = names.join(", ");
        Ok(info)
    }

    fn protocols(&mut self, jail: &str, text: &str, out: &mut BTreeSet<&'static str>) {
        for w in values::words(text) {
            match w.to_lowercase().as_str() {
                "tcp" => {
                    out.insert("tcp");
                }
                "udp" => {
                    out.insert("udp");
                }
                "all" => {
                    out.insert("tcp");
                    out.insert("udp");
                }
                other => self.not_translated(
                    jail,
                    "protocol",
                    format!("`{other}`: logbus bans tcp and udp only"),
                ),
            }
        }
    }

    /// Options logbus has no equivalent for, when they are set.
    fn unsupported_options(&mut self, jail: &str, set: &str) -> Result<(), Skip> {
        if let Some(v) = self.get_set(jail, "ignorecommand")? {
            self.not_translated(
                jail,
                "ignorecommand",
                format!("`{v}`: logbus runs no command to decide; list the addresses in `allow`"),
            );
        }
        if let Some(v) = self.get_set(jail, "usedns")?
            && !matches!(v.to_lowercase().as_str(), "warn" | "no")
        {
            self.not_translated(
                jail,
                "usedns",
                format!("`{v}`: logbus never resolves host names found in logs (as usedns = no)"),
            );
        }
        if let Some(v) = self.get_set(jail, "logencoding")?
            && !matches!(
                v.to_lowercase().as_str(),
                "auto" | "utf-8" | "utf8" | "ascii"
            )
        {
            self.not_translated(
                jail,
                "logencoding",
                format!("`{v}`: logbus reads UTF-8 (invalid bytes become U+FFFD)"),
            );
        }
        for opt in ["logtimezone", "datepattern"] {
            if let Some(v) = self.get_set(jail, opt)? {
                self.not_translated(
                    jail,
                    opt,
                    format!("`{v}`: logbus's parsers find timestamps and zones themselves (parse-syslog has `timezone`)"),
                );
            }
        }
        for opt in ["failregex", "ignoreregex", "prefregex"] {
            if self.get_set(jail, opt)?.is_some() {
                self.not_translated(
                    jail,
                    opt,
                    format!("fail2ban regexes are not converted: the built-in rule set `{set}` is used as is; write rules (README \"Writing rules\") or use `disable_rules`"),
                );
            }
        }
        Ok(())
    }
}

/// What the ban actions of a jail come to.
struct ActionInfo {
    ports: Ports,
    protocols: BTreeSet<&'static str>,
    chain: Option<String>,
    firewall: Option<Firewall>,
    names: String,
}

enum ActionKind {
    /// A firewall logbus drives; `true` when it blocks every port.
    Firewall(Firewall, bool),
    /// Mail, abuse reports, notifications: no ban.
    Report,
    Unknown,
}

fn classify_action(spec: &Spec) -> ActionKind {
    let n = spec.name.as_str();
    let allports = n.ends_with("allports");
    if n == "iptables" || n.starts_with("iptables-") {
        return ActionKind::Firewall(Firewall::Ipset, allports);
    }
    if n == "nftables" || n.starts_with("nftables-") {
        return ActionKind::Firewall(Firewall::Nftables, allports);
    }
    if n.starts_with("firewallcmd-") {
        return ActionKind::Firewall(Firewall::Nftables, allports);
    }
    // ufw blocks every port of the address (`to any`) unless an
    // application profile is named.
    if n == "ufw" {
        return ActionKind::Firewall(
            Firewall::Ipset,
            spec.get("application").is_none_or(str::is_empty),
        );
    }
    const REPORT: &[&str] = &[
        "sendmail",
        "mail",
        "complain",
        "xarf",
        "abuseipdb",
        "blocklist_de",
        "badips",
        "dshield",
        "mynetwatchman",
        "apprise",
        "smtp.py",
        "dummy",
    ];
    if REPORT.iter().any(|p| n.starts_with(p)) || n.ends_with("-whois") || n.contains("-whois-") {
        return ActionKind::Report;
    }
    ActionKind::Unknown
}

fn merge_ports(a: &Ports, b: &Ports) -> Ports {
    match (a, b) {
        (Ports::All, _) | (_, Ports::All) => Ports::All,
        (Ports::List(x), Ports::List(y)) => Ports::List(x.union(y).copied().collect()),
    }
}

/// Union of two port sets (for jails merged into one group).
pub fn union_ports(a: &Ports, b: &Ports) -> Ports {
    merge_ports(a, b)
}

/// Log file names that are syslog files on Debian and RHEL.
const SYSLOG_FILES: &[&str] = &[
    "auth.log",
    "secure",
    "messages",
    "syslog",
    "mail.log",
    "mail.warn",
    "mail.err",
    "mail.info",
    "maillog",
    "daemon.log",
    "user.log",
    "kern.log",
];

/// How a log path is read, from its name, else from what the rule set reads.
pub fn reader_for(path: &str, def: &RuleSetDef) -> Reader {
    let base = path.rsplit('/').next().unwrap_or(path).to_lowercase();
    if SYSLOG_FILES.contains(&base.as_str()) {
        return Reader::Syslog;
    }
    if base.contains("access") {
        return Reader::AccessLog;
    }
    // Error logs, and vsftpd's own log (its rule set reads that format).
    if base.contains("error") || base == "vsftpd.log" {
        return Reader::Text;
    }
    match def.input {
        InputKind::Syslog => Reader::SyslogOrText,
        InputKind::AccessLog => Reader::AccessLog,
        InputKind::Text => Reader::Text,
    }
}

/// `dir/*.EXT`, sorted, without hidden files.
pub fn sorted_glob(dir: &Path, ext: &str) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<std::path::PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == ext)
                && p.file_name()
                    .is_some_and(|n| !n.to_string_lossy().starts_with('.'))
        })
        .collect();
    out.sort();
    out
}

/// Groups of the rules a set runs in `mode` (`None`: its default).
pub fn groups_of(def: &RuleSetDef, mode: Option<&str>) -> BTreeSet<String> {
    active_rules(def, mode)
        .into_iter()
        .filter_map(|(_, g)| g)
        .collect()
}

/// (rule id, group) of the rules active in `mode`.
pub fn active_rules(def: &RuleSetDef, mode: Option<&str>) -> Vec<(String, Option<String>)> {
    let mode = mode.or(def.default_mode.as_deref());
    def.rules
        .iter()
        .filter(|r| match &r.modes {
            None => true,
            Some(ms) => mode.is_some_and(|m| ms.iter().any(|x| x == m)),
        })
        .map(|r| (r.id.clone(), r.group.clone().or_else(|| def.group.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(name: &str) -> RuleSetDef {
        let yaml = builtin::get(name).unwrap();
        RuleSetDef::from_yaml(&yaml, name).unwrap()
    }

    #[test]
    fn readers_by_path_then_set() {
        let sshd = def("sshd");
        assert_eq!(reader_for("/var/log/auth.log", &sshd), Reader::Syslog);
        assert_eq!(
            reader_for("/var/log/sshd-own.log", &sshd),
            Reader::SyslogOrText
        );
        let nginx = def("nginx-botsearch");
        assert_eq!(
            reader_for("/var/log/nginx/*error.log", &nginx),
            Reader::Text
        );
        assert_eq!(
            reader_for("/var/log/nginx/*access.log", &nginx),
            Reader::AccessLog
        );
        assert_eq!(reader_for("/srv/web.log", &nginx), Reader::AccessLog);
        assert_eq!(
            reader_for("/var/log/vsftpd.log", &def("vsftpd")),
            Reader::Text
        );
        assert_eq!(reader_for("/srv/x.log", &def("apache-auth")), Reader::Text);
    }

    #[test]
    fn groups_follow_modes() {
        let postfix = def("postfix");
        assert_eq!(groups_of(&postfix, None), ["mail".to_string()].into());
        let all = active_rules(&postfix, Some("aggressive")).len();
        assert!(all >= active_rules(&postfix, Some("rbl")).len());
    }

    #[test]
    fn action_kinds() {
        let k = |s: &str| classify_action(&Spec::parse(s).unwrap());
        assert!(matches!(
            k("iptables-ipset-proto6"),
            ActionKind::Firewall(Firewall::Ipset, false)
        ));
        assert!(matches!(
            k("iptables-allports"),
            ActionKind::Firewall(Firewall::Ipset, true)
        ));
        assert!(matches!(
            k("nftables-multiport"),
            ActionKind::Firewall(Firewall::Nftables, false)
        ));
        assert!(matches!(
            k("ufw"),
            ActionKind::Firewall(Firewall::Ipset, true)
        ));
        assert!(matches!(
            k("sendmail-whois-lines[dest=x]"),
            ActionKind::Report
        ));
        assert!(matches!(k("mail-whois"), ActionKind::Report));
        assert!(matches!(k("cloudflare"), ActionKind::Unknown));
    }
}
