//! The enabled jails merged into one logbus pipeline.
//!
//! The mapping (see the README's "Migrating from fail2ban"):
//!
//! - one `fail2ban` stage; each jail's filter is a built-in rule set in
//!   `rules:`, and the jail's settings go to the ban **groups** its rules
//!   belong to (`sshd` -> `ssh`, `postfix` -> `mail`, nginx and apache
//!   jails -> `web`). Jails that share a group are merged: the first
//!   jail's limit, window and bantime, the ports of all; the import says so;
//! - each log file is read once (by a `tail` input, or `file` with
//!   [`LogInput::File`]), through the parser its lines need; journal jails
//!   share one `journal` input whose matches are the OR of theirs;
//! - `ignoreip` of every jail makes one `allow:` list; `bantime.increment`
//!   (or the `recidive` jail) becomes `escalation:`; the ban actions choose
//!   the backend.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml_ng::{Mapping, Value};

use super::ini::{Config, DEFAULT, INCLUDES};
use super::jail::{
    self, Firewall, Increment, Jail, JailReader, Outcome, Reader, Source, groups_of,
};
use super::values::{self, Ports};
use super::{Diagnostic, ImportError, Severity, jail_files};
use crate::duration::{Span, write_duration};
use crate::fail2ban::rules::RuleSetDef;

/// fail2ban's default `dbpurgeage`: how long its database remembers bans,
/// so how far back `bantime.increment` looks.
const F2B_DBPURGEAGE: Duration = Duration::from_secs(86_400);

/// Which input module reads log files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogInput {
    /// `tail`: follow the files from their end, like fail2ban.
    #[default]
    Tail,
    /// `file`: read them once from the start (to replay old logs).
    File,
}

/// What to import and how.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The fail2ban configuration directory (`/etc/fail2ban`).
    pub dir: PathBuf,
    /// The input module for log files.
    pub input: LogInput,
    /// Use the `dry-run` backend whatever the ban actions say.
    pub dry_run: bool,
}

/// The result: the pipeline and what could not be translated.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The pipeline, YAML with a comment header.
    pub yaml: String,
    /// Everything not translated, and the choices made.
    pub diagnostics: Vec<Diagnostic>,
    /// The jails in the pipeline.
    pub jails: Vec<String>,
    /// The configuration files read, in order.
    pub files: Vec<PathBuf>,
}

/// Reads `opts.dir` and builds the pipeline.
pub fn import_dir(opts: &ImportOptions) -> Result<Imported, ImportError> {
    let dir = &opts.dir;
    if !dir.is_dir() {
        return Err(ImportError::NotADirectory(dir.clone()));
    }
    if !dir.join("jail.conf").is_file() && !dir.join("jail.local").is_file() {
        return Err(ImportError::NoJailConfig(dir.clone()));
    }
    let cfg = Config::load(
        &jail_files(dir),
        &[
            ("fail2ban_version", "1.0.2".to_string()),
            ("fail2ban_confpath", dir.display().to_string()),
        ],
    )?;
    let mut diags = Vec::new();
    let mut jails = Vec::new();
    let mut enabled = Vec::new();
    let mut recidive = None;
    for name in cfg.sections() {
        if name == INCLUDES || name == DEFAULT {
            continue;
        }
        let mut reader = JailReader {
            cfg: &cfg,
            dir,
            diags: &mut diags,
        };
        match reader.read(name) {
            Outcome::Disabled => {}
            Outcome::Skipped => enabled.push(name.clone()),
            Outcome::Jail(j) => {
                enabled.push(name.clone());
                jails.push(*j);
            }
            Outcome::Recidive { window, bantime } => {
                enabled.push(name.clone());
                recidive = Some((name.clone(), window, bantime));
            }
        }
    }
    if jails.is_empty() {
        if let Some((name, _, _)) = &recidive {
            diags.push(Diagnostic {
                severity: Severity::Skipped,
                jails: vec![name.clone()],
                option: None,
                message: "recidive only lengthens the bans of other jails, and none is imported"
                    .into(),
            });
        }
        return Err(ImportError::NothingImported {
            enabled,
            diagnostics: diags,
        });
    }
    let mut b = Builder { opts, diags, jails };
    let purge = b.dbpurgeage(dir);
    let yaml = b.build(recidive, purge, cfg.files());
    Ok(Imported {
        yaml,
        jails: b.jails.iter().map(|j| j.name.clone()).collect(),
        diagnostics: b.diags,
        files: cfg.files().to_vec(),
    })
}

struct Builder<'a> {
    opts: &'a ImportOptions,
    diags: Vec<Diagnostic>,
    jails: Vec<Jail>,
}

/// One group's settings, merged over its jails.
struct GroupAcc {
    jails: Vec<String>,
    limits: Vec<u32>,
    windows: Vec<Duration>,
    bantimes: Vec<Span>,
    ports: Ports,
}

impl Builder<'_> {
    fn note(&mut self, option: &str, message: String) {
        self.diags.push(Diagnostic {
            severity: Severity::Note,
            jails: Vec::new(),
            option: Some(option.to_string()),
            message,
        });
    }

    fn not_translated(&mut self, jail: Option<&str>, option: &str, message: String) {
        self.diags.push(Diagnostic {
            severity: Severity::NotTranslated,
            jails: jail.map(str::to_string).into_iter().collect(),
            option: Some(option.to_string()),
            message,
        });
    }

    /// `dbpurgeage` from fail2ban.conf (and its .local and .d files).
    fn dbpurgeage(&mut self, dir: &Path) -> Duration {
        let jd = dir.join("fail2ban.d");
        let mut files = vec![dir.join("fail2ban.conf")];
        files.extend(jail::sorted_glob(&jd, "conf"));
        files.push(dir.join("fail2ban.local"));
        files.extend(jail::sorted_glob(&jd, "local"));
        let value = match Config::load(&files, &[]) {
            Ok(cfg) => cfg.get("Definition", "dbpurgeage"),
            Err(e) => {
                self.note(
                    "escalation",
                    format!("{e}; fail2ban's default dbpurgeage 1d is used"),
                );
                return F2B_DBPURGEAGE;
            }
        };
        match value {
            Ok(Some(v)) => match values::positive(&v) {
                Ok(d) => d,
                Err(e) => {
                    self.note("escalation", format!("dbpurgeage: {e}; 1d is used"));
                    F2B_DBPURGEAGE
                }
            },
            Ok(None) => F2B_DBPURGEAGE,
            Err(e) => {
                self.note(
                    "escalation",
                    format!("dbpurgeage: {}; 1d is used", e.message),
                );
                F2B_DBPURGEAGE
            }
        }
    }

    fn build(
        &mut self,
        recidive: Option<(String, Duration, Span)>,
        purge: Duration,
        files: &[PathBuf],
    ) -> String {
        let rules = self.rules();
        let groups = self.groups(&rules);
        let (inputs, channels) = self.inputs();
        let allow = self.allow();
        let escalation = self.escalation(recidive, purge);
        let backend = self.backend();

        let mut f2b = Mapping::new();
        f2b.insert(s("module"), s("fail2ban"));
        f2b.insert(s("inChannels"), strings(&channels));
        f2b.insert(
            s("rules"),
            strings(&rules.iter().map(|u| u.rule_name()).collect::<Vec<_>>()),
        );
        if !allow.is_empty() {
            f2b.insert(s("allow"), strings(&allow));
        }
        let mut gmap = Mapping::new();
        for (name, g) in &groups {
            let mut m = Mapping::new();
            m.insert(s("limit"), Value::from(g.limit));
            m.insert(s("window"), s(&duration(g.window)));
            m.insert(s("bantime"), s(&g.bantime.to_string()));
            if let Ports::List(p) = &g.ports {
                m.insert(
                    s("ports"),
                    Value::Sequence(p.iter().map(|n| Value::from(*n)).collect()),
                );
            }
            gmap.insert(s(name), Value::Mapping(m));
        }
        f2b.insert(s("groups"), Value::Mapping(gmap));
        if let Some(e) = &escalation {
            let mut m = Mapping::new();
            m.insert(s("factor"), number(e.factor));
            m.insert(s("window"), s(&duration(e.window)));
            m.insert(s("max"), s(&e.max.to_string()));
            f2b.insert(s("escalation"), Value::Mapping(m));
        }
        f2b.insert(s("backend"), Value::Mapping(backend.mapping()));
        f2b.insert(s("bansChannel"), s("bans"));

        let mut pipeline = Mapping::new();
        for (name, stage) in inputs {
            pipeline.insert(s(&name), Value::Mapping(stage));
        }
        pipeline.insert(s("fail2ban"), Value::Mapping(f2b));
        let mut show = Mapping::new();
        show.insert(s("module"), s("log"));
        show.insert(s("inChannels"), strings(&["bans".to_string()]));
        pipeline.insert(s("show-bans"), Value::Mapping(show));

        let mut top = Mapping::new();
        if backend.kind != "dry-run" {
            top.insert(s("state_path"), s(crate::state::DEFAULT_STATE_PATH));
            top.insert(
                s("control_socket"),
                s(crate::pipeline::DEFAULT_CONTROL_SOCKET),
            );
        }
        top.insert(s("pipeline"), Value::Mapping(pipeline));
        let mut body = serde_yaml_ng::to_string(&Value::Mapping(top)).unwrap_or_default();
        if !body.ends_with('\n') {
            body.push('\n');
        }
        self.diags = super::merge_diagnostics(std::mem::take(&mut self.diags));
        let mut out = self.header(&rules, &groups, files);
        out.push_str(&body);
        out
    }

    /// The comment block at the top of the YAML.
    fn header(
        &self,
        rules: &[SetUse],
        groups: &BTreeMap<String, Group>,
        files: &[PathBuf],
    ) -> String {
        let mut h = String::new();
        let _ = writeln!(
            h,
            "# logbus pipeline written by `logbus import-fail2ban {}`",
            comment(&self.opts.dir.display().to_string())
        );
        let dir = &self.opts.dir;
        let names: Vec<String> = files
            .iter()
            .map(|f| {
                f.strip_prefix(dir)
                    .map_or_else(|_| f.display().to_string(), |r| r.display().to_string())
            })
            .collect();
        let _ = writeln!(h, "# from: {}", comment(&names.join(", ")));
        let _ = writeln!(h, "#");
        let _ = writeln!(h, "# jail -> rule set -> group:");
        for j in &self.jails {
            let set = rules
                .iter()
                .find(|u| u.set == j.set)
                .map_or_else(|| j.set.clone(), SetUse::rule_name);
            let gs: Vec<&str> = groups
                .iter()
                .filter(|(_, g)| g.jails.contains(&j.name))
                .map(|(n, _)| n.as_str())
                .collect();
            let _ = writeln!(
                h,
                "#   {} -> {} -> {}",
                comment(&j.name),
                comment(&set),
                gs.join(", ")
            );
        }
        if !self.diags.is_empty() {
            let _ = writeln!(h, "#");
            let _ = writeln!(
                h,
                "# Not translated, and choices made (also printed on stderr):"
            );
            for d in &self.diags {
                let _ = writeln!(h, "#   {}", comment(&d.to_string()));
            }
        }
        h.push('\n');
        h
    }

    /// One entry per rule set, with a mode that covers every jail using it.
    fn rules(&mut self) -> Vec<SetUse> {
        let mut uses: Vec<SetUse> = Vec::new();
        for j in &self.jails {
            match uses.iter_mut().find(|u| u.set == j.set) {
                Some(u) => u.jails.push((j.name.clone(), j.mode.clone())),
                None => uses.push(SetUse {
                    set: j.set.clone(),
                    def: j.def.clone(),
                    jails: vec![(j.name.clone(), j.mode.clone())],
                    mode: None,
                }),
            }
        }
        for u in &mut uses {
            u.mode = u.jails.first().and_then(|(_, m)| m.clone());
        }
        let mut notes = Vec::new();
        for u in &mut uses {
            let requested: Vec<Option<String>> = u.jails.iter().map(|(_, m)| m.clone()).collect();
            if requested.iter().all(|m| *m == requested[0]) {
                continue;
            }
            let (mode, lost) = covering_mode(&u.def, &requested);
            u.mode = mode.filter(|m| u.def.default_mode.as_deref() != Some(m.as_str()));
            let asked: Vec<String> = u
                .jails
                .iter()
                .map(|(j, m)| format!("[{j}] {}", m.as_deref().unwrap_or(default_name(&u.def))))
                .collect();
            let used = u
                .mode
                .as_deref()
                .unwrap_or(default_name(&u.def))
                .to_string();
            let mut msg = format!(
                "jails share the rule set `{}` in different modes ({}); a set runs once, in mode `{used}`",
                u.set,
                asked.join(", ")
            );
            if lost.is_empty() {
                msg.push_str(", which has the rules of all of them");
            } else {
                let _ = write!(
                    msg,
                    "; rules of the other modes left out: {}",
                    lost.join(", ")
                );
            }
            notes.push(msg);
        }
        for n in notes {
            self.note("rules", n);
        }
        uses
    }

    /// Groups with their merged settings.
    fn groups(&mut self, rules: &[SetUse]) -> BTreeMap<String, Group> {
        let mut acc: BTreeMap<String, GroupAcc> = BTreeMap::new();
        for j in &self.jails {
            let mode = rules
                .iter()
                .find(|u| u.set == j.set)
                .and_then(|u| u.mode.clone());
            for g in groups_of(&j.def, mode.as_deref()) {
                let a = acc.entry(g).or_insert_with(|| GroupAcc {
                    jails: Vec::new(),
                    limits: Vec::new(),
                    windows: Vec::new(),
                    bantimes: Vec::new(),
                    ports: Ports::List(BTreeSet::new()),
                });
                if a.jails.is_empty() {
                    a.ports = j.ports.clone();
                } else {
                    a.ports = jail::union_ports(&a.ports, &j.ports);
                }
                a.jails.push(j.name.clone());
                a.limits.push(j.limit);
                a.windows.push(j.window);
                a.bantimes.push(j.bantime);
            }
        }
        let mut out = BTreeMap::new();
        let mut notes = Vec::new();
        for (name, a) in acc {
            // The first jail (in fail2ban's order) sets the group's values:
            // later jails on the same daemon are usually narrow ones (an
            // RBL hit, a bad bot) whose maxretry 1 must not apply to every
            // failure of the group.
            let limit = a.limits.first().copied().unwrap_or(1);
            let window = a
                .windows
                .first()
                .copied()
                .unwrap_or(Duration::from_secs(600));
            let bantime = a
                .bantimes
                .first()
                .copied()
                .unwrap_or(Span::Finite(Duration::from_secs(600)));
            if a.jails.len() > 1 {
                let mut diffs = Vec::new();
                let per = |vals: Vec<String>| -> Option<String> {
                    let first = vals.first()?;
                    if vals.iter().all(|v| v == first) {
                        return None;
                    }
                    Some(
                        a.jails
                            .iter()
                            .zip(vals.iter())
                            .map(|(j, v)| format!("[{j}] {v}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                    )
                };
                if let Some(d) = per(a.limits.iter().map(u32::to_string).collect()) {
                    diffs.push(format!("maxretry {d}"));
                }
                if let Some(d) = per(a.windows.iter().map(|w| duration(*w)).collect()) {
                    diffs.push(format!("findtime {d}"));
                }
                if let Some(d) = per(a.bantimes.iter().map(Span::to_string).collect()) {
                    diffs.push(format!("bantime {d}"));
                }
                let jails = a
                    .jails
                    .iter()
                    .map(|j| format!("[{j}]"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let msg = if diffs.is_empty() {
                    format!(
                        "jails {jails} count in one group `{name}` (their rule sets' group), with the same settings"
                    )
                } else {
                    format!(
                        "jails {jails} count in one group `{name}` (their rule sets' group); their settings differ ({}): the group takes [{}]'s (limit {limit}, window {}, bantime {bantime}) and the ports of all",
                        diffs.join("; "),
                        a.jails.first().map_or("", String::as_str),
                        duration(window)
                    )
                };
                notes.push((name.clone(), msg));
            }
            out.insert(
                name,
                Group {
                    jails: a.jails,
                    limit,
                    window,
                    bantime,
                    ports: a.ports,
                },
            );
        }
        for (g, n) in notes {
            self.note(&format!("groups.{g}"), n);
        }
        out
    }

    /// Input (and parser) stages, and the channels the fail2ban stage reads.
    fn inputs(&mut self) -> (Vec<(String, Mapping)>, Vec<String>) {
        // Each path once: the first jail that names it decides how it is read.
        let mut files: Vec<(String, Reader, bool, String)> = Vec::new();
        let mut journals: Vec<JournalAcc> = Vec::new();
        let mut notes = Vec::new();
        let tail = self.opts.input == LogInput::Tail;
        for j in &self.jails {
            for src in &j.sources {
                match src {
                    Source::File {
                        path,
                        reader,
                        from_start,
                    } => {
                        let from_start = *from_start && tail;
                        match files.iter().find(|f| f.0 == *path) {
                            Some((_, r, fs, first)) => {
                                if r != reader || *fs != from_start {
                                    notes.push(format!(
                                        "`{path}` is read once, as [{first}] reads it ({}), for [{}] too",
                                        reader_name(*r, *fs),
                                        j.name
                                    ));
                                }
                            }
                            None => files.push((path.clone(), *reader, from_start, j.name.clone())),
                        }
                    }
                    Source::Journal {
                        directory,
                        files: jfiles,
                        matches,
                    } => {
                        match journals
                            .iter_mut()
                            .find(|a| a.directory == *directory && a.files == *jfiles)
                        {
                            Some(a) => a.add(matches.as_ref()),
                            None => {
                                let mut a = JournalAcc {
                                    directory: directory.clone(),
                                    files: jfiles.clone(),
                                    matches: Some(Vec::new()),
                                };
                                a.add(matches.as_ref());
                                journals.push(a);
                            }
                        }
                    }
                }
            }
        }
        // A file that a glob of the list also matches would be read twice.
        let globs: Vec<(String, glob::Pattern)> = files
            .iter()
            .filter(|f| f.0.contains(['*', '?', '[']))
            .filter_map(|f| glob::Pattern::new(&f.0).ok().map(|p| (f.0.clone(), p)))
            .collect();
        files.retain(|f| {
            if f.0.contains(['*', '?', '[']) {
                return true;
            }
            let opts = glob::MatchOptions {
                case_sensitive: true,
                require_literal_separator: true,
                require_literal_leading_dot: true,
            };
            match globs.iter().find(|(_, p)| p.matches_with(&f.0, opts)) {
                Some((g, _)) => {
                    notes.push(format!(
                        "`{}` is left out: `{g}` covers it (it would be read twice)",
                        f.0
                    ));
                    false
                }
                None => true,
            }
        });
        for n in notes {
            self.note("inputs", n);
        }
        let module = match self.opts.input {
            LogInput::Tail => "tail",
            LogInput::File => "file",
        };
        let mut stages = Vec::new();
        let mut channels = Vec::new();
        for reader in [
            Reader::Syslog,
            Reader::SyslogOrText,
            Reader::AccessLog,
            Reader::Text,
        ] {
            let (base, parser) = match reader {
                Reader::Syslog => ("syslog-logs", Some("syslog")),
                Reader::SyslogOrText => ("daemon-logs", Some("daemon-syslog")),
                Reader::AccessLog => ("access-logs", Some("access")),
                Reader::Text => ("text-logs", None),
            };
            let mut names = Vec::new();
            for from_start in [false, true] {
                let paths: Vec<String> = files
                    .iter()
                    .filter(|f| f.1 == reader && f.2 == from_start)
                    .map(|f| f.0.clone())
                    .collect();
                if paths.is_empty() {
                    continue;
                }
                let name = if from_start {
                    format!("{base}-from-start")
                } else {
                    base.to_string()
                };
                let mut m = Mapping::new();
                m.insert(s("module"), s(module));
                m.insert(s("paths"), strings(&paths));
                if from_start {
                    m.insert(s("start_at"), s("beginning"));
                }
                stages.push((name.clone(), m));
                names.push(name);
            }
            if names.is_empty() {
                continue;
            }
            match parser {
                Some(p) => {
                    let mut m = Mapping::new();
                    m.insert(
                        s("module"),
                        s(if reader == Reader::AccessLog {
                            "parse-access-log"
                        } else {
                            "parse-syslog"
                        }),
                    );
                    m.insert(s("inChannels"), strings(&names));
                    if reader == Reader::SyslogOrText {
                        m.insert(s("keep_unparsed"), Value::Bool(true));
                    }
                    stages.push((p.to_string(), m));
                    channels.push(p.to_string());
                }
                None => channels.extend(names),
            }
        }
        for (i, a) in journals.iter().enumerate() {
            let name = if i == 0 {
                "journal".to_string()
            } else {
                format!("journal-{}", i + 1)
            };
            let mut m = Mapping::new();
            m.insert(s("module"), s("journal"));
            if let Some(d) = &a.directory {
                m.insert(s("directory"), s(d));
            }
            if !a.files.is_empty() {
                m.insert(s("files"), strings(&a.files));
            }
            if let Some(groups) = &a.matches
                && !groups.is_empty()
            {
                let mut terms = Vec::new();
                for (k, g) in groups.iter().enumerate() {
                    if k > 0 {
                        terms.push("+".to_string());
                    }
                    terms.extend(g.iter().cloned());
                }
                m.insert(s("matches"), strings(&terms));
            }
            stages.push((name.clone(), m));
            channels.push(name);
        }
        (stages, channels)
    }

    /// The union of the jails' `ignoreip`.
    fn allow(&mut self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for j in &self.jails {
            for e in &j.allow {
                if !out.contains(e) {
                    out.push(e.clone());
                }
            }
        }
        let differ = self.jails.iter().any(|j| {
            let mine: BTreeSet<&String> = j.allow.iter().collect();
            let all: BTreeSet<&String> = out.iter().collect();
            mine != all
        });
        if differ {
            let per: Vec<String> = self
                .jails
                .iter()
                .map(|j| {
                    format!(
                        "[{}] {}",
                        j.name,
                        if j.allow.is_empty() {
                            "-".into()
                        } else {
                            j.allow.join(" ")
                        }
                    )
                })
                .collect();
            self.note(
                "allow",
                format!(
                    "ignoreip differs between jails ({}); the stage has one allow-list, the union of them",
                    per.join("; ")
                ),
            );
        }
        out
    }

    fn escalation(
        &mut self,
        recidive: Option<(String, Duration, Span)>,
        purge: Duration,
    ) -> Option<Escalation> {
        let with: Vec<(String, Increment, Span)> = self
            .jails
            .iter()
            .filter_map(|j| j.increment.clone().map(|i| (j.name.clone(), i, j.bantime)))
            .collect();
        let Some((first_jail, inc, base)) = with.first().cloned() else {
            let (name, window, bantime) = recidive?;
            self.diags.push(Diagnostic {
                severity: Severity::Note,
                jails: vec![name],
                option: None,
                message: format!(
                    "becomes `escalation`: each earlier ban of an address within {} doubles its ban time, up to {bantime} (fail2ban's recidive bans after maxretry bans, on every port; logbus keeps the group's ports)",
                    duration(window)
                ),
            });
            return Some(Escalation {
                factor: 2.0,
                window,
                max: bantime,
            });
        };
        let j = Some(first_jail.as_str());
        for (other, i, _) in &with[1..] {
            if *i != inc {
                self.note(
                    "escalation",
                    format!("[{other}]'s bantime.* settings differ from [{first_jail}]'s; escalation is one for the stage and follows [{first_jail}]"),
                );
            }
        }
        let without: Vec<String> = self
            .jails
            .iter()
            .filter(|x| x.increment.is_none())
            .map(|x| format!("[{}]", x.name))
            .collect();
        if !without.is_empty() {
            self.note(
                "escalation",
                format!(
                    "bantime.increment is set for some jails only; escalation applies to every group, also for {}",
                    without.join(", ")
                ),
            );
        }
        let f2b_factor = match &inc.factor {
            None => 1.0,
            Some(f) => match f.parse::<f64>() {
                Ok(v) if v.is_finite() && v > 0.0 => v,
                _ => {
                    self.not_translated(
                        j,
                        "bantime.factor",
                        format!("`{f}` is not a number logbus can use; 1 is used"),
                    );
                    1.0
                }
            },
        };
        let mut factor = 2.0;
        let mut cap: Option<Span> = None;
        if let Some(m) = &inc.multipliers {
            match geometric(m) {
                Some((first, ratio, last)) => {
                    factor = ratio;
                    if (first * f2b_factor - 1.0).abs() > f64::EPSILON {
                        self.not_translated(
                            j,
                            "bantime.multipliers",
                            format!("`{m}` with bantime.factor {f2b_factor}: the first repeat ban is bantime x {}, logbus's is bantime x {ratio}", first * f2b_factor * ratio),
                        );
                    }
                    if let Span::Finite(b) = base {
                        let c = b.mul_f64(last * f2b_factor);
                        cap = Some(Span::Finite(c));
                        self.note(
                            "escalation",
                            format!(
                                "bantime.multipliers `{m}`: factor {ratio}, at most {} x [{first_jail}]'s bantime {} = {}",
                                last * f2b_factor,
                                duration(b),
                                duration(c)
                            ),
                        );
                    }
                }
                None => self.not_translated(
                    j,
                    "bantime.multipliers",
                    format!("`{m}` is not a geometric series: logbus multiplies by a constant factor; factor 2 is used"),
                ),
            }
        } else if let Some(f) = &inc.formula {
            self.not_translated(
                j,
                "bantime.formula",
                format!("`{f}`: formulas are not evaluated; logbus doubles the ban time for each earlier ban (factor 2)"),
            );
        } else if (f2b_factor - 1.0).abs() > f64::EPSILON {
            self.not_translated(
                j,
                "bantime.factor",
                format!("{f2b_factor}: fail2ban multiplies repeat bans by it on top of the doubling; logbus only doubles (factor 2)"),
            );
        }
        if let Some(r) = &inc.rndtime {
            self.not_translated(
                j,
                "bantime.rndtime",
                format!("`{r}`: logbus adds no random time to bans"),
            );
        }
        let max = match &inc.maxtime {
            Some(t) => match values::bantime(t) {
                Ok(m) => Some(m),
                Err(e) => {
                    self.not_translated(j, "bantime.maxtime", e);
                    None
                }
            },
            None => None,
        };
        let max = match (max, cap) {
            (Some(Span::Finite(a)), Some(Span::Finite(b))) => Span::Finite(a.min(b)),
            (Some(m), _) | (None, Some(m)) => m,
            (None, None) => {
                self.note(
                    "escalation",
                    "bantime.maxtime is not set: escalated bans grow without a limit (max: forever), as in fail2ban; set escalation.max to cap them".into(),
                );
                Span::Forever
            }
        };
        if !inc.overalljails {
            self.note(
                "escalation",
                "logbus counts an address's earlier bans in every group (fail2ban's bantime.overalljails = true); fail2ban counted them per jail".into(),
            );
        }
        if let Some((name, _, _)) = recidive {
            self.diags.push(Diagnostic {
                severity: Severity::Note,
                jails: vec![name],
                option: None,
                message: "not imported: escalation from bantime.increment already lengthens the bans of repeat offenders".into(),
            });
        }
        Some(Escalation {
            factor,
            window: purge,
            max,
        })
    }

    fn backend(&mut self) -> Backend {
        let mut count: BTreeMap<Firewall, Vec<String>> = BTreeMap::new();
        for j in &self.jails {
            if let Some(fw) = j.firewall {
                count
                    .entry(fw)
                    .or_default()
                    .push(format!("[{}] {}", j.name, j.banaction));
            }
        }
        // The most used; on a tie, nftables (the current Debian default).
        let chosen = count
            .iter()
            .max_by_key(|(fw, v)| (v.len(), **fw == Firewall::Nftables))
            .map(|(fw, _)| *fw);
        let mut b = Backend {
            kind: "dry-run",
            manage_rules: false,
            chain: None,
            protocols: None,
        };
        let Some(fw) = chosen else {
            if !self.opts.dry_run {
                self.not_translated(
                    None,
                    "backend",
                    "no jail bans through a firewall logbus drives (iptables, ipset, nftables, firewalld, ufw): the backend is dry-run, bans are only logged; set backend.type".into(),
                );
            }
            return b;
        };
        let from: Vec<String> = count.get(&fw).cloned().unwrap_or_default();
        let others: Vec<String> = count
            .iter()
            .filter(|(f, _)| **f != fw)
            .flat_map(|(_, v)| v.iter().cloned())
            .collect();
        let mixed = if others.is_empty() {
            String::new()
        } else {
            format!(
                "; the other jails' firewalls ({}) are not used: one backend serves the stage",
                others.join("; ")
            )
        };
        if self.opts.dry_run {
            self.note(
                "backend",
                format!(
                    "dry-run as asked; the ban actions would give `{}` ({}){mixed}",
                    fw.backend(),
                    from.join("; ")
                ),
            );
            return b;
        }
        b.kind = fw.backend();
        b.manage_rules = true;
        self.note(
            "backend",
            format!(
                "`{}` with manage_rules (logbus creates its sets and drop rules), from {}{mixed}",
                fw.backend(),
                from.join("; ")
            ),
        );
        // Chain (iptables only) and protocols.
        let chains: BTreeSet<(String, String)> = self
            .jails
            .iter()
            .filter_map(|j| j.chain.clone().map(|c| (c, j.name.clone())))
            .collect();
        let distinct: BTreeSet<&String> = chains.iter().map(|(c, _)| c).collect();
        if let Some(first) = distinct.iter().next() {
            if fw == Firewall::Ipset && distinct.len() == 1 {
                b.chain = Some((*first).clone());
            } else {
                let list: Vec<String> = chains.iter().map(|(c, j)| format!("[{j}] {c}")).collect();
                self.not_translated(
                    None,
                    "backend.chain",
                    format!(
                        "{}: {}",
                        list.join(", "),
                        if fw == Firewall::Ipset {
                            "one chain serves every group; INPUT is used"
                        } else {
                            "the nftables backend uses its own table and chain"
                        }
                    ),
                );
            }
        }
        let protocols: BTreeSet<&str> = self
            .jails
            .iter()
            .flat_map(|j| j.protocols.iter().copied())
            .collect();
        if protocols.len() == 1 {
            b.protocols = Some(protocols.iter().map(|p| p.to_string()).collect());
        }
        b
    }
}

/// A rule set and the jails that use it.
struct SetUse {
    set: String,
    def: RuleSetDef,
    jails: Vec<(String, Option<String>)>,
    /// The mode it runs in (`None`: its default).
    mode: Option<String>,
}

impl SetUse {
    /// `sshd` or `sshd:aggressive`.
    fn rule_name(&self) -> String {
        match &self.mode {
            Some(m) => format!("{}:{m}", self.set),
            None => self.set.clone(),
        }
    }
}

fn default_name(def: &RuleSetDef) -> &str {
    def.default_mode.as_deref().unwrap_or("default")
}

/// A mode whose rules include those of every requested mode: a requested
/// one if it does, else the smallest such mode of the set. Otherwise the
/// first requested, with the ids of the rules that are lost.
fn covering_mode(def: &RuleSetDef, requested: &[Option<String>]) -> (Option<String>, Vec<String>) {
    let ids = |m: Option<&str>| -> BTreeSet<String> {
        jail::active_rules(def, m)
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    };
    let needed: BTreeSet<String> = requested.iter().flat_map(|m| ids(m.as_deref())).collect();
    let mut candidates: Vec<Option<String>> = Vec::new();
    for m in requested {
        if !candidates.contains(m) {
            candidates.push(m.clone());
        }
    }
    let mut by_size: Vec<(usize, String)> = def
        .modes
        .iter()
        .map(|m| (ids(Some(m)).len(), m.clone()))
        .collect();
    by_size.sort();
    candidates.extend(by_size.into_iter().map(|(_, m)| Some(m)));
    for c in &candidates {
        if ids(c.as_deref()).is_superset(&needed) {
            return (c.clone(), Vec::new());
        }
    }
    let first = requested.first().cloned().flatten();
    let have = ids(first.as_deref());
    (first, needed.difference(&have).cloned().collect())
}

/// `1 2 4 8` -> (first, ratio, last) when each term is the previous times
/// one ratio.
fn geometric(text: &str) -> Option<(f64, f64, f64)> {
    let nums: Vec<f64> = text
        .split_whitespace()
        .map(|w| w.parse::<f64>().ok().filter(|v| *v > 0.0))
        .collect::<Option<Vec<f64>>>()?;
    let first = *nums.first()?;
    let last = *nums.last()?;
    if nums.len() == 1 {
        return Some((first, 1.0, last));
    }
    let ratio = nums[1] / nums[0];
    if ratio < 1.0 {
        return None;
    }
    let ok = nums
        .windows(2)
        .all(|w| (w[1] - w[0] * ratio).abs() < 1e-9 * w[1].max(1.0));
    ok.then_some((first, ratio, last))
}

struct Group {
    jails: Vec<String>,
    limit: u32,
    window: Duration,
    bantime: Span,
    ports: Ports,
}

struct Escalation {
    factor: f64,
    window: Duration,
    max: Span,
}

struct Backend {
    kind: &'static str,
    manage_rules: bool,
    chain: Option<String>,
    protocols: Option<Vec<String>>,
}

impl Backend {
    fn mapping(&self) -> Mapping {
        let mut m = Mapping::new();
        m.insert(s("type"), s(self.kind));
        if self.manage_rules {
            m.insert(s("manage_rules"), Value::Bool(true));
        }
        if let Some(c) = &self.chain {
            m.insert(s("chain"), s(c));
        }
        if let Some(p) = &self.protocols {
            m.insert(s("protocols"), strings(p));
        }
        m
    }
}

/// Journal jails that share a journal (directory, files).
struct JournalAcc {
    directory: Option<String>,
    files: Vec<String>,
    /// OR-ed groups; `None` once a jail reads every entry.
    matches: Option<Vec<Vec<String>>>,
}

impl JournalAcc {
    fn add(&mut self, m: Option<&Vec<Vec<String>>>) {
        match (m, &mut self.matches) {
            (None, _) => self.matches = None,
            (Some(_), None) => {}
            (Some(groups), Some(mine)) => {
                for g in groups {
                    if !mine.contains(g) {
                        mine.push(g.clone());
                    }
                }
            }
        }
    }
}

fn reader_name(r: Reader, from_start: bool) -> String {
    let how = match r {
        Reader::Syslog => "syslog",
        Reader::SyslogOrText => "syslog or text",
        Reader::AccessLog => "access log",
        Reader::Text => "text",
    };
    if from_start {
        format!("{how}, from the start")
    } else {
        how.to_string()
    }
}

/// A YAML string. logbus expands `${VAR}` in every string of a pipeline,
/// so a literal `${` from fail2ban's configuration is written `$${`.
fn s(text: &str) -> Value {
    Value::String(text.replace("${", "$${"))
}

fn strings(items: &[String]) -> Value {
    Value::Sequence(items.iter().map(|i| s(i)).collect())
}

fn number(v: f64) -> Value {
    if v.fract() == 0.0 && (0.0..1e15).contains(&v) {
        Value::from(v as u64)
    } else {
        Value::from(v)
    }
}

fn duration(d: Duration) -> String {
    let mut out = String::new();
    let _ = write_duration(&mut out, d);
    out
}

/// Text safe inside a `#` comment line.
fn comment(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometric_series() {
        assert_eq!(geometric("1 2 4 8 16 32 64"), Some((1.0, 2.0, 64.0)));
        assert_eq!(geometric("1 3 9"), Some((1.0, 3.0, 9.0)));
        assert_eq!(geometric("1 5 30 60"), None);
        assert_eq!(geometric("x"), None);
    }

    #[test]
    fn env_references_are_escaped() {
        assert_eq!(
            s("/var/log/${HOST}/a"),
            Value::String("/var/log/$${HOST}/a".into())
        );
        assert_eq!(s("plain $x"), Value::String("plain $x".into()));
    }

    fn postfix() -> RuleSetDef {
        let yaml = crate::fail2ban::builtin::get("postfix").unwrap();
        RuleSetDef::from_yaml(&yaml, "postfix").unwrap()
    }

    fn ids(def: &RuleSetDef, mode: Option<&str>) -> BTreeSet<String> {
        jail::active_rules(def, mode)
            .into_iter()
            .map(|r| r.0)
            .collect()
    }

    #[test]
    fn modes_are_merged_to_one_that_covers_all() {
        let def = postfix();
        // The default (`more`) has every rule of `errors`: it is kept.
        assert_eq!(
            covering_mode(&def, &[None, Some("errors".into())]),
            (None, vec![])
        );
        // normal + ddos: only `aggressive` has both.
        let (m, lost) = covering_mode(&def, &[Some("normal".into()), Some("ddos".into())]);
        assert_eq!((m.as_deref(), lost.len()), (Some("aggressive"), 0));
        let have = ids(&def, Some("aggressive"));
        assert!(have.is_superset(&ids(&def, Some("normal"))));
        assert!(have.is_superset(&ids(&def, Some("ddos"))));
        // auth + rbl: no mode has both; the first is kept, the rest named.
        let (m, lost) = covering_mode(&def, &[Some("auth".into()), Some("rbl".into())]);
        assert_eq!(m.as_deref(), Some("auth"));
        assert_eq!(lost, vec!["postfix-rbl".to_string()]);
    }
}
