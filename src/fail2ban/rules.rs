//! Rule sets: the data that says what a failure looks like.
//!
//! A rule set is a YAML file (the built-in ones are compiled into the
//! binary). Each rule has an id, a ban group, optional field conditions
//! (`when`), and a regex with named captures applied to one field; the
//! captured `ip` is the address that failed. See the README's "Writing
//! rules" for the full format.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize;
use thiserror::Error;

use super::builtin;
use super::pattern_index::anchored_at_start;
use crate::condition::Condition;
use crate::event::{FieldPath, fields};

/// How `logbus match` turns a raw line of a log into an event for this set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputKind {
    /// Syslog lines (file, journal short format, RFC 5424).
    #[default]
    Syslog,
    /// Web server access logs, with other lines read as text.
    AccessLog,
    /// Anything else: a leading timestamp is recognised and stripped.
    Text,
}

/// What to do with the connection state of a session (see [`RuleDef`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistinctDef {
    /// Captures whose first non-empty value names the user of an attempt
    /// (an attempt without any user name adds none).
    pub captures: Vec<String>,
    /// The match is a failure once the session has seen this many users.
    /// `1` only records the user (the rule is then a plain failure or
    /// helper) so that a later rule of the session can count it.
    pub min: usize,
}

/// One rule as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    /// Unique id (`sshd-invalid-user`), used in reports and `disable_rules`.
    pub id: String,
    /// What the rule catches, for humans.
    #[serde(default)]
    pub description: Option<String>,
    /// Ban group; default: the set's `group`.
    #[serde(default)]
    pub group: Option<String>,
    /// Field conditions that must hold.
    #[serde(default)]
    pub when: Option<Condition>,
    /// The field the regex reads (default `message`).
    #[serde(default)]
    pub field: Option<FieldPath>,
    /// One regex or a list (alternatives, tried in order). Must start with `^`.
    #[serde(default, rename = "match")]
    pub pattern: Option<OneOrMany>,
    /// Take the address from this event field instead of an `ip` capture
    /// (e.g. `client.ip` set by parse-access-log).
    #[serde(default)]
    pub ip_field: Option<FieldPath>,
    /// Lines of the field matching any of these are not failures.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// Failures within the group's window that trigger a ban (default: the group's).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Captures copied onto the event: `{user: user.name}`.
    #[serde(default)]
    pub set: BTreeMap<String, FieldPath>,
    /// Modes in which the rule is active (default: all).
    #[serde(default)]
    pub modes: Option<Vec<String>>,
    /// `false` makes a helper rule: it only updates session state.
    #[serde(default = "yes")]
    pub failure: bool,
    /// Without an address in the line, use the one the session saw earlier;
    /// when there is none yet, the failure waits for the session's next
    /// address (reported by an `after_pending` rule).
    #[serde(default)]
    pub session_ip: bool,
    /// Active only when the session has a failure waiting for its address.
    #[serde(default)]
    pub after_pending: bool,
    /// Forget the session after this line (a successful login).
    #[serde(default)]
    pub forget: bool,
    /// This line starts a new connection: the session's earlier state (an
    /// address, a failure waiting for one, users) is dropped before the line
    /// is applied, so a reused pid does not inherit it.
    #[serde(default)]
    pub reset: bool,
    /// A failure only once the session has seen this many distinct users.
    #[serde(default)]
    pub distinct: Option<DistinctDef>,
}

fn yes() -> bool {
    true
}

/// A string or a list of strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// A rule set as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSetDef {
    /// Its name (`sshd`), named after the fail2ban filter it replaces.
    pub name: String,
    /// What it protects.
    #[serde(default)]
    pub description: Option<String>,
    /// How `logbus match` reads raw lines for it.
    #[serde(default)]
    pub input: InputKind,
    /// Regex the event's `process.name` must match when it has one.
    #[serde(default)]
    pub program: Option<String>,
    /// Default ban group of its rules.
    #[serde(default)]
    pub group: Option<String>,
    /// The modes rules may name.
    #[serde(default)]
    pub modes: Vec<String>,
    /// The mode used when none is asked for.
    #[serde(default)]
    pub default_mode: Option<String>,
    /// Fields that identify one connection, for multi-line rules. A line
    /// missing one of them has no session (its multi-line rules do nothing),
    /// unless the field is also listed in `session_optional`.
    #[serde(default)]
    pub session: Vec<FieldPath>,
    /// Session fields a line may lack (read as empty), e.g. `host.name` for
    /// `sshd[123]: ...` lines without a host. A line lacking every session
    /// field still has no session.
    #[serde(default)]
    pub session_optional: Vec<FieldPath>,
    /// Set-wide ignore patterns on `message`.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// A pattern (starting with `^`) whose match is cut from the start of
    /// `message` before any rule or ignore pattern reads it: decorations some
    /// systems put before the daemon's own text (Solaris' `[ID 800047
    /// auth.info] `). Only the daemon's side of a line may be cut this way.
    #[serde(default)]
    pub strip: Option<String>,
    /// The rules, tried in order; the first that matches wins.
    pub rules: Vec<RuleDef>,
}

/// A rule-set problem, naming the set (file or built-in name) and the rule.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("rule set {source_name}{}: {message}", rule.as_ref().map(|r| format!(", rule `{r}`")).unwrap_or_default())]
pub struct RuleError {
    /// The set's file or built-in name.
    pub source_name: String,
    /// The rule, when the problem is in one.
    pub rule: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// Where the address of a failure comes from.
#[derive(Debug, Clone)]
pub enum IpSource {
    /// The `ip` capture of the regex.
    Capture,
    /// An event field.
    Field(FieldPath),
    /// No address in the line (helper rules, session rules).
    None,
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique id.
    pub id: String,
    /// Ban group name.
    pub group: String,
    /// Conditions.
    pub when: Option<Condition>,
    /// The field the patterns read.
    pub field: FieldPath,
    /// Alternatives; empty when the rule is `when`-only.
    pub patterns: Vec<Regex>,
    /// Where the address comes from.
    pub ip: IpSource,
    /// Lines to skip.
    pub ignore: Vec<Regex>,
    /// Limit override.
    pub limit: Option<u32>,
    /// Captures to copy onto the event.
    pub set: Vec<(String, FieldPath)>,
    /// False for helper rules.
    pub failure: bool,
    /// Take the address from the session when the line has none.
    pub session_ip: bool,
    /// Only when the session waits for an address.
    pub after_pending: bool,
    /// Forget the session afterwards.
    pub forget: bool,
    /// Start a fresh session before applying the line.
    pub reset: bool,
    /// Distinct-user threshold.
    pub distinct: Option<DistinctDef>,
}

/// A compiled rule set, restricted to one mode.
#[derive(Debug, Clone)]
pub struct RuleSet {
    /// Name.
    pub name: String,
    /// How raw lines are read for it.
    pub input: InputKind,
    /// Program filter.
    pub program: Option<Regex>,
    /// Session fields.
    pub session: Vec<FieldPath>,
    /// Session fields that may be missing.
    pub session_optional: Vec<FieldPath>,
    /// Set-wide ignores.
    pub ignore: Vec<Regex>,
    /// Cut from the start of `message` before matching.
    pub strip: Option<Regex>,
    /// Active rules, in order.
    pub rules: Vec<Rule>,
    /// The mode it was compiled for.
    pub mode: Option<String>,
}

/// Which rule sets to load: a built-in name or a file, with an optional mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSource {
    /// Built-in name or path.
    pub name: String,
    /// Mode (`aggressive`), or the set's default.
    pub mode: Option<String>,
}

impl RuleSource {
    /// Parses `sshd`, `sshd:aggressive`, `./rules/local.yml`.
    pub fn parse(text: &str) -> Self {
        // A path may contain ':'; only a built-in name takes `:MODE`.
        match text.rsplit_once(':') {
            Some((name, mode))
                if !name.contains('/') && !name.ends_with(".yml") && !name.ends_with(".yaml") =>
            {
                Self {
                    name: name.to_string(),
                    mode: Some(mode.to_string()),
                }
            }
            _ => Self {
                name: text.to_string(),
                mode: None,
            },
        }
    }

    fn is_file(&self) -> bool {
        self.name.contains('/') || self.name.ends_with(".yml") || self.name.ends_with(".yaml")
    }
}

impl RuleSetDef {
    /// Loads a built-in set by name, or a file (relative to `base_dir`).
    pub fn load(source: &RuleSource, base_dir: &Path) -> Result<(Self, String), RuleError> {
        let (text, origin) = if source.is_file() {
            let path: PathBuf = base_dir.join(&source.name);
            let text = std::fs::read_to_string(&path).map_err(|e| RuleError {
                source_name: path.display().to_string(),
                rule: None,
                message: format!("cannot read: {e}"),
            })?;
            (text, path.display().to_string())
        } else {
            let text = builtin::get(&source.name).ok_or_else(|| RuleError {
                source_name: source.name.clone(),
                rule: None,
                message: format!(
                    "no built-in rule set of that name (built-in: {}); a file path must end in .yml or contain '/'",
                    builtin::names().join(", ")
                ),
            })?;
            (text.into_owned(), format!("built-in `{}`", source.name))
        };
        Self::from_yaml(&text, &origin).map(|d| (d, origin))
    }

    /// Parses a rule set from YAML text.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, RuleError> {
        let de = serde_yaml_ng::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let line = inner
                .location()
                .map(|l| format!(" (line {})", l.line()))
                .unwrap_or_default();
            RuleError {
                source_name: origin.to_string(),
                rule: None,
                message: format!("field `{path}`{line}: {inner}"),
            }
        })
    }

    /// Compiles the rules active in `mode` (default: the set's default mode).
    pub fn compile(self, mode: Option<&str>, origin: &str) -> Result<RuleSet, RuleError> {
        let err = |rule: Option<&str>, message: String| RuleError {
            source_name: origin.to_string(),
            rule: rule.map(str::to_string),
            message,
        };
        let mode = mode.map(str::to_string).or(self.default_mode.clone());
        if let Some(m) = &mode
            && !self.modes.iter().any(|d| d == m)
        {
            return Err(err(
                None,
                if self.modes.is_empty() {
                    format!("mode `{m}` asked for, but this set has no modes")
                } else {
                    format!("unknown mode `{m}` (modes: {})", self.modes.join(", "))
                },
            ));
        }
        let program = self
            .program
            .as_deref()
            .map(|p| compile_regex(p).map_err(|e| err(None, format!("program: {e}"))))
            .transpose()?;
        let ignore = self
            .ignore
            .iter()
            .map(|p| compile_regex(p).map_err(|e| err(None, format!("ignore: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let strip = match self.strip.as_deref() {
            Some(p) => Some(compile_anchored(p).map_err(|e| err(None, format!("strip: {e}")))?),
            None => None,
        };
        if let Some(extra) = self
            .session_optional
            .iter()
            .find(|f| !self.session.contains(f))
        {
            return Err(err(
                None,
                format!("session_optional names `{extra}`, which is not in `session`"),
            ));
        }
        let mut seen = HashSet::new();
        let mut rules = Vec::new();
        for def in self.rules {
            let id = def.id.clone();
            if !seen.insert(id.clone()) {
                return Err(err(Some(&id), "duplicate rule id".into()));
            }
            if let Some(modes) = &def.modes {
                if let Some(bad) = modes.iter().find(|m| !self.modes.contains(m)) {
                    return Err(err(
                        Some(&id),
                        format!(
                            "unknown mode `{bad}` in `modes` (the set declares: {})",
                            self.modes.join(", ")
                        ),
                    ));
                }
                if !mode.as_ref().is_some_and(|m| modes.contains(m)) {
                    continue;
                }
            }
            let group = def
                .group
                .clone()
                .or_else(|| self.group.clone())
                .ok_or_else(|| {
                    err(
                        Some(&id),
                        "no `group` (set one on the rule or the set)".into(),
                    )
                })?;
            rules.push(
                compile_rule(def, group, !self.session.is_empty())
                    .map_err(|m| err(Some(&id), m))?,
            );
        }
        Ok(RuleSet {
            name: self.name,
            input: self.input,
            program,
            session: self.session,
            session_optional: self.session_optional,
            ignore,
            strip,
            rules,
            mode,
        })
    }
}

fn compile_regex(p: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(p)
        .size_limit(4 << 20)
        .build()
        .map_err(|e| format!("invalid regex: {e}"))
}

/// Compiles a pattern that may match only at the start of the text: an
/// unanchored one can be steered by attacker text earlier in the line (a
/// user name containing "from 1.2.3.4"), and so can `^a|b`, whose `b`
/// matches anywhere.
fn compile_anchored(p: &str) -> Result<Regex, String> {
    let re = compile_regex(p)?;
    if !anchored_at_start(p) {
        return Err(format!(
            "pattern `{p}` must start with `^` in every alternative (anchor it to the daemon's own text)"
        ));
    }
    Ok(re)
}

fn compile_rule(def: RuleDef, group: String, has_session: bool) -> Result<Rule, String> {
    let patterns = def
        .pattern
        .map(OneOrMany::into_vec)
        .unwrap_or_default()
        .iter()
        .map(|p| compile_anchored(p))
        .collect::<Result<Vec<_>, _>>()?;
    if patterns.is_empty() && def.when.is_none() {
        return Err("a rule needs `match` or `when`".into());
    }
    let captures_ip = !patterns.is_empty()
        && patterns
            .iter()
            .all(|r| r.capture_names().any(|n| n == Some("ip")));
    let any_ip = patterns
        .iter()
        .any(|r| r.capture_names().any(|n| n == Some("ip")));
    if any_ip && !captures_ip {
        return Err("either every pattern of a rule captures `ip` or none does".into());
    }
    let ip = match (&def.ip_field, captures_ip) {
        (Some(_), true) => return Err("give either an `ip` capture or `ip_field`, not both".into()),
        (Some(f), false) => IpSource::Field(f.clone()),
        (None, true) => IpSource::Capture,
        (None, false) => IpSource::None,
    };
    let needs_ip = def.failure && !def.session_ip;
    if needs_ip && matches!(ip, IpSource::None) {
        return Err(
            "a failure rule needs an `(?P<ip>...)` capture, `ip_field`, or `session_ip: true`"
                .into(),
        );
    }
    if (def.session_ip || def.after_pending || def.forget || def.reset || def.distinct.is_some())
        && !has_session
    {
        return Err("session options need the set's `session:` fields".into());
    }
    for cap in def.set.keys() {
        if !patterns
            .iter()
            .any(|r| r.capture_names().any(|n| n == Some(cap.as_str())))
        {
            return Err(format!("`set` names capture `{cap}`, which no pattern has"));
        }
    }
    if let Some(d) = &def.distinct {
        if d.min < 1 {
            return Err("distinct.min must be at least 1".into());
        }
        if d.captures.is_empty() {
            return Err("distinct.captures is empty".into());
        }
    }
    let mut set: Vec<(String, FieldPath)> = def.set.into_iter().collect();
    // A `user` capture lands in user.name unless the rule says otherwise.
    if !set.iter().any(|(c, _)| c == "user")
        && patterns
            .iter()
            .any(|r| r.capture_names().any(|n| n == Some("user")))
    {
        set.push(("user".into(), fields::USER_NAME.clone()));
    }
    let ignore = def
        .ignore
        .iter()
        .map(|p| compile_regex(p))
        .collect::<Result<Vec<_>, _>>()?;
    if def.limit == Some(0) {
        return Err("limit must be at least 1".into());
    }
    Ok(Rule {
        id: def.id,
        group,
        when: def.when,
        field: def.field.unwrap_or_else(|| fields::MESSAGE.clone()),
        patterns,
        ip,
        ignore,
        limit: def.limit,
        set,
        failure: def.failure,
        session_ip: def.session_ip,
        after_pending: def.after_pending,
        forget: def.forget,
        reset: def.reset,
        distinct: def.distinct,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SET: &str = r#"
name: demo
group: ssh
modes: [normal, aggressive]
default_mode: normal
session: [process.pid]
rules:
  - id: invalid-user
    match: '^Invalid user (?P<user>\S*) from (?P<ip>\S+)'
    limit: 1
  - id: closed
    match: '^Connection closed by (?P<ip>\S+) \[preauth\]$'
    modes: [aggressive]
"#;

    fn compile(text: &str, mode: Option<&str>) -> Result<RuleSet, RuleError> {
        RuleSetDef::from_yaml(text, "test")?.compile(mode, "test")
    }

    #[test]
    fn modes_select_rules() {
        let normal = compile(SET, None).unwrap();
        assert_eq!(normal.rules.len(), 1);
        assert_eq!(normal.mode.as_deref(), Some("normal"));
        let aggr = compile(SET, Some("aggressive")).unwrap();
        assert_eq!(aggr.rules.len(), 2);
        let e = compile(SET, Some("ddos")).unwrap_err();
        assert!(e.message.contains("unknown mode `ddos`"), "{e}");
    }

    #[test]
    fn user_capture_defaults_to_user_name() {
        let s = compile(SET, None).unwrap();
        assert_eq!(s.rules[0].set[0].1.as_str(), "user.name");
        assert!(matches!(s.rules[0].ip, IpSource::Capture));
    }

    #[test]
    fn unanchored_patterns_are_refused() {
        let bad = SET.replace("'^Invalid user", "'Invalid user");
        let e = compile(&bad, None).unwrap_err();
        assert_eq!(e.rule.as_deref(), Some("invalid-user"));
        assert!(e.message.contains("must start with `^`"), "{e}");
        // `^a|b`: the second alternative matches anywhere.
        let bad = SET.replace("'^Invalid user", "'^Welcome|Invalid user");
        let e = compile(&bad, None).unwrap_err();
        assert_eq!(e.rule.as_deref(), Some("invalid-user"));
        assert!(e.message.contains("in every alternative"), "{e}");
    }

    #[test]
    fn failure_rules_need_an_address() {
        let bad = "name: x\ngroup: g\nrules:\n  - id: r\n    match: '^boom'\n";
        let e = compile(bad, None).unwrap_err();
        assert!(e.message.contains("needs an `(?P<ip>"), "{e}");
        let ok = "name: x\ngroup: g\nrules:\n  - id: r\n    match: '^boom'\n    failure: false\n";
        assert!(compile(ok, None).is_ok());
    }

    #[test]
    fn unknown_keys_and_bad_regex_are_located() {
        let e = compile("name: x\nrules:\n  - id: r\n    mtach: '^a'\n", None).unwrap_err();
        assert!(e.message.contains("mtach"), "{e}");
        let e = compile(
            "name: x\ngroup: g\nrules:\n  - id: r\n    match: '^(?P<ip>'\n",
            None,
        )
        .unwrap_err();
        assert!(e.message.contains("invalid regex"), "{e}");
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let dup = "name: x\ngroup: g\nrules:\n  - {id: r, match: '^a (?P<ip>\\S+)'}\n  - {id: r, match: '^b (?P<ip>\\S+)'}\n";
        assert!(
            compile(dup, None)
                .unwrap_err()
                .message
                .contains("duplicate")
        );
    }

    #[test]
    fn sources_parse() {
        assert_eq!(
            RuleSource::parse("sshd:aggressive"),
            RuleSource {
                name: "sshd".into(),
                mode: Some("aggressive".into())
            }
        );
        assert_eq!(RuleSource::parse("./rules/a:b.yml").mode, None);
        assert!(RuleSource::parse("local.yml").is_file());
    }

    #[test]
    fn session_options_are_checked() {
        let base = "name: x\ngroup: g\nsession: [process.pid]\n";
        let e = compile(
            &format!("{base}session_optional: [host.name]\nrules:\n  - {{id: r, match: '^a (?P<ip>\\S+)'}}\n"),
            None,
        )
        .unwrap_err();
        assert!(e.message.contains("not in `session`"), "{e}");
        let e = compile(
            &format!("{base}rules:\n  - {{id: r, match: '^a (?P<ip>\\S+)', distinct: {{captures: [u], min: 0}}}}\n"),
            None,
        )
        .unwrap_err();
        assert!(e.message.contains("at least 1"), "{e}");
        let ok = compile(
            &format!("{base}rules:\n  - {{id: r, match: '^a (?P<ip>\\S+)', reset: true, failure: false}}\n"),
            None,
        )
        .unwrap();
        assert!(ok.rules[0].reset);
        let e = compile(
            "name: x\ngroup: g\nrules:\n  - {id: r, match: '^a (?P<ip>\\S+)', reset: true}\n",
            None,
        )
        .unwrap_err();
        assert!(e.message.contains("session options"), "{e}");
    }
}
