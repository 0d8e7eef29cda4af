//! The rule engine: decides whether an event is a failure, of which rule,
//! from which address.
//!
//! Per set and field, a [`PatternIndex`] over every rule's patterns finds
//! the candidate rules from the literal text they start with (every pattern
//! is anchored with `^`), so a line that can match nothing is rejected after
//! a few bytes. Candidates are confirmed in rule order by running the
//! pattern, which also yields the captures.

use std::borrow::Cow;
use std::net::IpAddr;

use regex::{Captures, Regex};

use super::ip::parse_client_ip;
use super::pattern_index::{PatternIndex, PrefixGuard};
use super::rules::{InputKind, IpSource, Rule, RuleError, RuleSet};
use super::session::Sessions;
use super::text::strip_timestamp;
use crate::event::{Event, FieldPath, fields, value_to_text};

/// Points at a rule of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuleRef {
    /// Index of the set.
    pub set: usize,
    /// Index of the rule in the set.
    pub rule: usize,
}

/// A failure found in an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The rule that matched.
    pub rule: RuleRef,
    /// The address that failed.
    pub ip: IpAddr,
    /// Values to copy onto the event (`user.name`, ...).
    pub captures: Vec<(FieldPath, String)>,
}

/// What the engine says about one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No rule applies.
    NoMatch,
    /// A rule matched, but an ignore pattern excused the line.
    Ignored(RuleRef),
    /// A helper rule matched (session bookkeeping only), or a distinct-user
    /// rule has not seen enough users yet.
    Helper(RuleRef),
    /// A failure whose address is not known yet (waits for the session).
    Deferred(RuleRef),
    /// A failure rule matched but the captured address is not a valid IP
    /// (a hostname, `999.1.1.1`): nothing can be banned.
    BadAddress(RuleRef, String),
    /// A failure.
    Failure(Failure),
}

#[derive(Debug, Clone)]
struct FieldIndex {
    field: FieldPath,
    index: PatternIndex,
    /// Pattern index in `index` -> (rule index, pattern index in the rule).
    rule_of: Vec<Candidate>,
}

impl FieldIndex {
    fn candidates(&mut self, view: &str, out: &mut Vec<Candidate>) {
        let rule_of = &self.rule_of;
        self.index.candidates(view, |p| out.push(rule_of[p]));
    }
}

struct CompiledSet {
    view: FieldView,
    rules: RuleSet,
    fields: Vec<FieldIndex>,
    /// Rules with no pattern (`when` only); always candidates.
    when_only: Vec<usize>,
}

/// The compiled rules of one fail2ban stage (or one `logbus match` run).
pub struct RuleEngine {
    sets: Vec<CompiledSet>,
    sessions: Sessions,
    scanner: Scanner,
}

impl std::fmt::Debug for RuleEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleEngine")
            .field(
                "sets",
                &self.sets.iter().map(|s| &s.rules.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl RuleEngine {
    /// Builds the engine; rule ids must be unique across sets.
    pub fn new(sets: Vec<RuleSet>) -> Result<Self, RuleError> {
        let mut seen: std::collections::HashMap<String, String> = Default::default();
        let mut compiled = Vec::new();
        for rules in sets {
            for r in &rules.rules {
                if let Some(other) = seen.insert(r.id.clone(), rules.name.clone()) {
                    return Err(RuleError {
                        source_name: rules.name.clone(),
                        rule: Some(r.id.clone()),
                        message: format!("rule id also used by rule set `{other}`"),
                    });
                }
            }
            compiled.push(compile_set(rules)?);
        }
        let scanner = Scanner::new(&compiled);
        Ok(Self {
            sets: compiled,
            sessions: Sessions::default(),
            scanner,
        })
    }

    /// The rule a reference points at.
    pub fn rule(&self, r: RuleRef) -> &Rule {
        &self.sets[r.set].rules.rules[r.rule]
    }

    /// All sets.
    pub fn sets(&self) -> impl Iterator<Item = &RuleSet> {
        self.sets.iter().map(|s| &s.rules)
    }

    /// Every rule with its reference.
    pub fn rules(&self) -> impl Iterator<Item = (RuleRef, &Rule)> {
        self.sets.iter().enumerate().flat_map(|(si, s)| {
            s.rules
                .rules
                .iter()
                .enumerate()
                .map(move |(ri, r)| (RuleRef { set: si, rule: ri }, r))
        })
    }

    /// The stateless half of judging, to run elsewhere (another thread)
    /// before [`decide`](Self::decide); see [`Scanner`].
    pub fn scanner(&self) -> Scanner {
        self.scanner.clone()
    }

    /// Judges one event. Sets are tried in order; within a set, rules in
    /// order; the first rule that matches decides.
    pub fn evaluate(&mut self, event: &Event) -> Verdict {
        let candidates = self.scanner.scan_event(event);
        self.decide(event, &candidates)
    }

    /// Judges an event whose candidates a [`Scanner`] of this engine found.
    pub fn decide(&mut self, event: &Event, candidates: &Candidates) -> Verdict {
        for (si, cands) in &candidates.sets {
            if let Some(v) = self.decide_set(*si, event, cands) {
                return v;
            }
        }
        Verdict::NoMatch
    }

    fn decide_set<'s>(
        &'s mut self,
        si: usize,
        event: &Event,
        candidates: &[Candidate],
    ) -> Option<Verdict> {
        let cs = &self.sets[si];
        let session_key = session_key(&cs.rules.session, &cs.rules.session_optional, event);
        for &(ri, first_pattern) in candidates {
            let cs = &self.sets[si];
            let rule = &cs.rules.rules[ri];
            let r = RuleRef { set: si, rule: ri };
            if let Some(w) = &rule.when
                && !w.matches(event)
            {
                continue;
            }
            if rule.after_pending
                && !session_key
                    .as_deref()
                    .is_some_and(|k| self.sessions.is_pending(k))
            {
                continue;
            }
            let value = event.get_str(&rule.field).unwrap_or_default();
            let view = field_view(&cs.view, &rule.field, value);
            let matched = if rule.patterns.is_empty() {
                None
            } else {
                // The index said which alternative may match: try it first.
                let run = |re: &'s Regex| re.captures(view).map(|c| (re, c));
                let known = first_pattern
                    .and_then(|p| rule.patterns.get(p))
                    .and_then(run);
                match known.or_else(|| rule.patterns.iter().find_map(run)) {
                    Some(m) => Some(m),
                    None => continue,
                }
            };
            // The first rule that matches decides, so the set's ignore
            // patterns are asked once, here, and only about a real match.
            if rule.ignore.iter().any(|p| p.is_match(view)) || set_ignores(cs, event) {
                return Some(Verdict::Ignored(r));
            }
            let captured = |name: &str| group(matched.as_ref(), name);
            let (mut ip, raw_ip) = match &rule.ip {
                IpSource::Capture => match captured("ip") {
                    Some(raw) => (parse_client_ip(raw), Some(Cow::Borrowed(raw))),
                    None => (None, None),
                },
                IpSource::Field(f) => {
                    let raw = event.get(f).map(value_to_text);
                    (raw.as_deref().and_then(parse_client_ip), raw)
                }
                IpSource::None => (None, None),
            };
            let distinct_user = rule.distinct.as_ref().map(|d| {
                let user = d
                    .captures
                    .iter()
                    .filter_map(|c| captured(c))
                    .find(|v| !v.is_empty());
                (d.min, user.unwrap_or_default())
            });
            let mut verdict = None;
            if let Some(key) = session_key.as_deref() {
                if rule.reset {
                    self.sessions.forget(key);
                }
                let session = self.sessions.get_mut(key);
                if ip.is_some() {
                    session.ip = ip;
                }
                if let Some((min, user)) = distinct_user {
                    // An attempt without a user name is no new user.
                    if !user.is_empty()
                        && !session.users.iter().any(|u| u == user)
                        && session.users.len() < 64
                    {
                        session.users.push(user.to_string());
                    }
                    if min > 1 && session.users.len() < min {
                        verdict = Some(Verdict::Helper(r));
                    }
                }
                if verdict.is_none() && rule.failure {
                    if ip.is_none() && rule.session_ip {
                        ip = session.ip;
                    }
                    if ip.is_none() && rule.session_ip && raw_ip.is_none() {
                        session.pending = true;
                        verdict = Some(Verdict::Deferred(r));
                    } else if ip.is_some() {
                        session.pending = false;
                    }
                }
                if rule.forget {
                    self.sessions.forget(key);
                }
            } else if distinct_user.is_some_and(|(min, _)| min > 1) {
                // Without a session there is no one to count users for.
                verdict = Some(Verdict::Helper(r));
            }
            if let Some(v) = verdict {
                return Some(v);
            }
            if !rule.failure {
                return Some(Verdict::Helper(r));
            }
            return Some(match ip {
                Some(ip) => Verdict::Failure(Failure {
                    rule: r,
                    ip,
                    // Copied only for failures: most matches are helpers.
                    captures: rule
                        .set
                        .iter()
                        .filter_map(|(cap, path)| {
                            captured(cap).map(|v| (path.clone(), v.to_string()))
                        })
                        .collect(),
                }),
                None => Verdict::BadAddress(r, raw_ip.map(Cow::into_owned).unwrap_or_default()),
            });
        }
        None
    }
}

/// The text of the capture group `name` of a match.
fn group<'h>(matched: Option<&(&Regex, Captures<'h>)>, name: &str) -> Option<&'h str> {
    let (re, caps) = matched?;
    // A handful of names compared in place beats the hashed lookup by name.
    let i = re.capture_names().position(|n| n == Some(name))?;
    caps.get(i).map(|m| m.as_str())
}

/// True when one of the set's own ignore patterns matches the message.
fn set_ignores(cs: &CompiledSet, event: &Event) -> bool {
    if cs.rules.ignore.is_empty() {
        return false;
    }
    event.get_str(&fields::MESSAGE).is_some_and(|msg| {
        let view = field_view(&cs.view, &fields::MESSAGE, msg);
        cs.rules.ignore.iter().any(|r| r.is_match(view))
    })
}

/// Remembers the last program name a set judged: consecutive lines mostly
/// come from the same program, and a string compare beats a regex run.
#[derive(Debug, Clone, Default)]
struct ProgramCache {
    last: String,
    admitted: bool,
}

impl ProgramCache {
    fn admits(&mut self, program: &regex::Regex, name: &str) -> bool {
        if self.last != name {
            self.admitted = program.is_match(name);
            self.last.clear();
            self.last.push_str(name);
        }
        self.admitted
    }
}

/// How a set reads a field: text sets without a leading timestamp, and
/// `message` without the set's `strip` prefix.
#[derive(Debug, Clone)]
struct FieldView {
    text_input: bool,
    strip: Option<(regex::Regex, PrefixGuard)>,
}

fn field_view<'v>(view: &FieldView, field: &FieldPath, value: &'v str) -> &'v str {
    let v = if view.text_input {
        strip_timestamp(value)
    } else {
        value
    };
    match &view.strip {
        // Most lines carry no decoration: the guard says so without a
        // regex run.
        Some((p, guard)) if *field == *fields::MESSAGE && guard.may_match(v) => match p.find(v) {
            Some(m) if m.start() == 0 => &v[m.end()..],
            _ => v,
        },
        _ => v,
    }
}

/// A candidate rule and the first of its patterns that matched (`None` for
/// a rule with no pattern).
type Candidate = (usize, Option<usize>);

/// The rules that may match an event: per set (in order), the candidate
/// rules (in order) with the first of their patterns that matched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Candidates {
    sets: Vec<(usize, Vec<Candidate>)>,
}

impl Candidates {
    /// True when no rule can match.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }
}

/// The stateless half of judging: which rules' patterns match an event.
/// It needs no session state, so `logbus match` runs it on the parsing
/// thread and hands [`Candidates`] to [`RuleEngine::decide`]; with only a
/// line's program and message it can rule a line out before any event is
/// built.
#[derive(Debug, Clone)]
pub struct Scanner {
    sets: Vec<ScanSet>,
}

#[derive(Debug, Clone)]
struct ScanSet {
    program: Option<regex::Regex>,
    cache: ProgramCache,
    fields: Vec<FieldIndex>,
    when_only: Vec<usize>,
    view: FieldView,
}

impl ScanSet {
    /// False when the set's program filter refuses the event's program.
    fn admits(&mut self, program: Option<&str>) -> bool {
        match (&self.program, program) {
            (Some(re), Some(p)) => self.cache.admits(re, p),
            _ => true,
        }
    }

    /// True when the set's rules read nothing but `message`.
    fn message_only(&self) -> bool {
        self.when_only.is_empty() && self.fields.iter().all(|f| f.field == *fields::MESSAGE)
    }
}

impl Scanner {
    fn new(sets: &[CompiledSet]) -> Self {
        Self {
            sets: sets
                .iter()
                .map(|cs| ScanSet {
                    program: cs.rules.program.clone(),
                    cache: ProgramCache::default(),
                    fields: cs.fields.clone(),
                    when_only: cs.when_only.clone(),
                    view: cs.view.clone(),
                })
                .collect(),
        }
    }

    /// Candidates for a whole event.
    pub fn scan_event(&mut self, event: &Event) -> Candidates {
        let program = event.get(&fields::PROCESS_NAME).map(value_to_text);
        let mut out = Candidates::default();
        for (si, set) in self.sets.iter_mut().enumerate() {
            if !set.admits(program.as_deref()) {
                continue;
            }
            let mut cands: Vec<Candidate> = set.when_only.iter().map(|&r| (r, None)).collect();
            for fi in &mut set.fields {
                let Some(value) = event.get_str(&fi.field) else {
                    continue;
                };
                let view = field_view(&set.view, &fi.field, value);
                fi.candidates(view, &mut cands);
            }
            push_set(&mut out, si, cands);
        }
        out
    }

    /// Candidates from a line's program and message alone, before an event
    /// is built; `None` when a set that admits the program reads other
    /// fields too (then build the event and use [`scan_event`](Self::scan_event)).
    pub fn scan_line(&mut self, program: Option<&str>, message: &str) -> Option<Candidates> {
        let mut out = Candidates::default();
        for (si, set) in self.sets.iter_mut().enumerate() {
            if !set.admits(program) {
                continue;
            }
            if !set.message_only() {
                return None;
            }
            let mut cands = Vec::new();
            for fi in &mut set.fields {
                let view = field_view(&set.view, &fi.field, message);
                fi.candidates(view, &mut cands);
            }
            push_set(&mut out, si, cands);
        }
        Some(out)
    }
}

fn push_set(out: &mut Candidates, si: usize, mut cands: Vec<Candidate>) {
    if cands.is_empty() {
        return;
    }
    cands.sort_unstable();
    cands.dedup_by_key(|c| c.0);
    out.sets.push((si, cands));
}

/// The session an event belongs to: its `paths` values joined. A missing
/// field means no session unless it is `optional` (then it is empty); an
/// event with none of the fields has no session.
fn session_key(paths: &[FieldPath], optional: &[FieldPath], event: &Event) -> Option<String> {
    let mut key = String::with_capacity(48);
    let mut present = false;
    for p in paths {
        match event.get(p) {
            Some(v) => {
                present = true;
                // Numbers (pids) written in place: this runs on every
                // candidate line.
                match v {
                    serde_json::Value::String(t) => key.push_str(t),
                    serde_json::Value::Number(n) => {
                        let _ = std::fmt::Write::write_fmt(&mut key, format_args!("{n}"));
                    }
                    other => key.push_str(&value_to_text(other)),
                }
            }
            None if optional.contains(p) => {}
            None => return None,
        }
        key.push('\u{1f}');
    }
    present.then_some(key)
}

fn compile_set(rules: RuleSet) -> Result<CompiledSet, RuleError> {
    type Slot = (FieldPath, Vec<String>, Vec<Candidate>);
    let mut fields: Vec<Slot> = Vec::new();
    let mut when_only = Vec::new();
    for (ri, rule) in rules.rules.iter().enumerate() {
        if rule.patterns.is_empty() {
            when_only.push(ri);
            continue;
        }
        let slot = match fields.iter().position(|(f, _, _)| *f == rule.field) {
            Some(i) => i,
            None => {
                fields.push((rule.field.clone(), Vec::new(), Vec::new()));
                fields.len() - 1
            }
        };
        for (pi, p) in rule.patterns.iter().enumerate() {
            fields[slot].1.push(p.as_str().to_string());
            fields[slot].2.push((ri, Some(pi)));
        }
    }
    let fields = fields
        .into_iter()
        .map(|(field, pats, rule_of)| {
            PatternIndex::new(&pats)
                .map(|index| FieldIndex {
                    field,
                    index,
                    rule_of,
                })
                .map_err(|message| RuleError {
                    source_name: rules.name.clone(),
                    rule: None,
                    message,
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CompiledSet {
        view: FieldView {
            text_input: rules.input == InputKind::Text,
            strip: rules
                .strip
                .clone()
                .map(|p| (p.clone(), PrefixGuard::new(p.as_str()))),
        },
        rules,
        fields,
        when_only,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fail2ban::rules::RuleSetDef;

    const SSHD: &str = r#"
name: mini-sshd
group: ssh
program: '^sshd$'
session: [process.pid]
modes: [normal, aggressive]
default_mode: normal
rules:
  - id: invalid-user
    match: '^Invalid user (?P<user>.*?) from (?P<ip>\S+)(?: port \d+)?$'
    limit: 1
  - id: failed-password
    match: '^Failed password for (?:invalid user )?(?P<user>.*?) from (?P<ip>\S+) port \d+'
  - id: connection-from
    match: '^Connection from (?P<ip>\S+) port \d+'
    failure: false
  - id: too-many
    match: '^Disconnecting: Too many authentication failures'
    session_ip: true
  - id: closed-after-pending
    match: '^Connection closed by (?P<ip>\S+)(?: port \d+)? \[preauth\]$'
    after_pending: true
  - id: accepted
    match: '^Accepted \S+ for (?P<user>\S+) from (?P<ip>\S+)'
    failure: false
    forget: true
"#;

    fn engine(mode: Option<&str>) -> RuleEngine {
        let set = RuleSetDef::from_yaml(SSHD, "t")
            .unwrap()
            .compile(mode, "t")
            .unwrap();
        RuleEngine::new(vec![set]).unwrap()
    }

    fn ev(prog: &str, pid: u32, msg: &str) -> Event {
        let mut e = Event::from_message(msg);
        e.set(&fields::PROCESS_NAME, prog);
        e.set(&fields::PROCESS_PID, pid);
        e
    }

    fn failure_ip(v: &Verdict) -> Option<String> {
        match v {
            Verdict::Failure(f) => Some(f.ip.to_string()),
            _ => None,
        }
    }

    #[test]
    fn single_line_failures() {
        let mut e = engine(None);
        let v = e.evaluate(&ev("sshd", 1, "Invalid user bob from 192.0.2.1 port 22"));
        assert_eq!(failure_ip(&v).as_deref(), Some("192.0.2.1"));
        if let Verdict::Failure(f) = v {
            assert_eq!(e.rule(f.rule).id, "invalid-user");
            assert_eq!(f.captures, vec![(fields::USER_NAME.clone(), "bob".into())]);
        }
        let v = e.evaluate(&ev(
            "sshd",
            1,
            "Failed password for root from ::ffff:192.0.2.9 port 22 ssh2",
        ));
        assert_eq!(failure_ip(&v).as_deref(), Some("192.0.2.9"));
    }

    #[test]
    fn a_set_ignore_names_the_rule_that_matched() {
        let text = format!("{SSHD}ignore: ['^Failed password for trusted ']\n");
        let set = RuleSetDef::from_yaml(&text, "t")
            .unwrap()
            .compile(None, "t")
            .unwrap();
        let mut e = RuleEngine::new(vec![set]).unwrap();
        let v = e.evaluate(&ev(
            "sshd",
            1,
            "Failed password for trusted from 192.0.2.1 port 22",
        ));
        match v {
            Verdict::Ignored(r) => assert_eq!(e.rule(r).id, "failed-password"),
            other => panic!("not ignored: {other:?}"),
        }
        // The ignore pattern alone, with no rule matching: nothing to excuse.
        let v = e.evaluate(&ev("sshd", 1, "Failed password for trusted"));
        assert_eq!(v, Verdict::NoMatch);
        let v = e.evaluate(&ev(
            "sshd",
            1,
            "Failed password for bob from 192.0.2.2 port 22",
        ));
        assert_eq!(failure_ip(&v).as_deref(), Some("192.0.2.2"));
    }

    #[test]
    fn asking_about_a_pending_session_creates_none() {
        let mut e = engine(None);
        // "closed-after-pending" is a candidate of every "Connection closed"
        // line; with no failure pending it is passed over, and no session
        // is made for it.
        for pid in 0..50 {
            let v = e.evaluate(&ev(
                "sshd",
                pid,
                "Connection closed by 192.0.2.1 port 22 [preauth]",
            ));
            assert_eq!(v, Verdict::NoMatch);
        }
        assert_eq!(e.sessions.len(), 0);
    }

    #[test]
    fn other_programs_are_not_judged() {
        let mut e = engine(None);
        let v = e.evaluate(&ev("cron", 1, "Invalid user bob from 192.0.2.1 port 22"));
        assert_eq!(v, Verdict::NoMatch);
        // No program at all (a bare line): the set still applies.
        let v = e.evaluate(&Event::from_message(
            "Invalid user bob from 192.0.2.1 port 22",
        ));
        assert_eq!(failure_ip(&v).as_deref(), Some("192.0.2.1"));
    }

    #[test]
    fn injected_addresses_are_not_taken() {
        let mut e = engine(None);
        // The user name carries "from 10.10.1.1": the real client is last.
        let v = e.evaluate(&ev(
            "sshd",
            2,
            "Failed password for invalid user from 10.10.1.1 from 127.0.0.1 port 58946 ssh2",
        ));
        assert_eq!(failure_ip(&v).as_deref(), Some("127.0.0.1"));
        // A hostname or bogus address is never a ban.
        let v = e.evaluate(&ev("sshd", 2, "Invalid user x from 999.1.1.1"));
        assert!(
            matches!(v, Verdict::BadAddress(_, ref raw) if raw == "999.1.1.1"),
            "{v:?}"
        );
        let v = e.evaluate(&ev("sshd", 2, "Invalid user x from 1.2.3"));
        assert!(matches!(v, Verdict::BadAddress(..)));
    }

    #[test]
    fn session_supplies_the_address() {
        let mut e = engine(None);
        assert!(matches!(
            e.evaluate(&ev(
                "sshd",
                7,
                "Connection from 192.0.2.7 port 5000 on 10.0.0.1 port 22"
            )),
            Verdict::Helper(_)
        ));
        let v = e.evaluate(&ev(
            "sshd",
            7,
            "Disconnecting: Too many authentication failures [preauth]",
        ));
        assert_eq!(failure_ip(&v).as_deref(), Some("192.0.2.7"));
        // Another pid knows nothing: the failure waits for an address.
        let v = e.evaluate(&ev(
            "sshd",
            8,
            "Disconnecting: Too many authentication failures [preauth]",
        ));
        assert!(matches!(v, Verdict::Deferred(_)));
        // A different pid closing does not complete it.
        let v = e.evaluate(&ev("sshd", 9, "Connection closed by 192.0.2.9 [preauth]"));
        assert_eq!(v, Verdict::NoMatch);
        let v = e.evaluate(&ev("sshd", 8, "Connection closed by 192.0.2.8 [preauth]"));
        assert_eq!(failure_ip(&v).as_deref(), Some("192.0.2.8"));
        // Completed: the next close is not a failure any more.
        let v = e.evaluate(&ev("sshd", 8, "Connection closed by 192.0.2.8 [preauth]"));
        assert_eq!(v, Verdict::NoMatch);
    }

    #[test]
    fn forget_clears_the_session() {
        let mut e = engine(None);
        e.evaluate(&ev(
            "sshd",
            3,
            "Connection from 192.0.2.3 port 1 on 10.0.0.1 port 22",
        ));
        e.evaluate(&ev(
            "sshd",
            3,
            "Accepted publickey for git from 192.0.2.3 port 1 ssh2",
        ));
        let v = e.evaluate(&ev(
            "sshd",
            3,
            "Disconnecting: Too many authentication failures [preauth]",
        ));
        assert!(matches!(v, Verdict::Deferred(_)), "{v:?}");
    }

    const SESSIONS: &str = r#"
name: sessions
group: ssh
session: [host.name, process.name, process.pid]
session_optional: [host.name]
strip: '^(?:\[ID \d+ [\w.]+\] )'
rules:
  - id: connection-from
    match: '^Connection from (?P<ip>\S+) port \d+$'
    failure: false
    reset: true
  - id: pam
    match: '^pam: failure ruser=(?P<ruser>\S*) rhost=(?P<ip>\S+)(?: user=(?P<user>\S*))?$'
    distinct: {captures: [user, ruser], min: 2}
  - id: failed
    match: '^Failed password for (?P<user>\S*) from (?P<ip>\S+)$'
    distinct: {captures: [user], min: 1}
  - id: too-many
    match: '^Too many failures$'
    session_ip: true
  - id: closed
    match: '^Connection closed by (?P<ip>\S+)$'
    after_pending: true
  - id: accepted
    match: '^Accepted password for (?P<user>\S+) from (?P<ip>\S+)$'
    distinct: {captures: [user], min: 2}
    forget: true
"#;

    fn sessions_engine() -> RuleEngine {
        let set = RuleSetDef::from_yaml(SESSIONS, "t")
            .unwrap()
            .compile(None, "t")
            .unwrap();
        RuleEngine::new(vec![set]).unwrap()
    }

    fn on_host(host: Option<&str>, pid: Option<u32>, msg: &str) -> Event {
        let mut e = Event::from_message(msg);
        e.set(&fields::PROCESS_NAME, "sshd");
        if let Some(h) = host {
            e.set(&fields::HOST_NAME, h);
        }
        if let Some(p) = pid {
            e.set(&fields::PROCESS_PID, p);
        }
        e
    }

    #[test]
    fn optional_session_fields_may_be_missing() {
        let mut e = sessions_engine();
        // No host: still one session per pid.
        e.evaluate(&on_host(None, Some(5), "Connection from 192.0.2.5 port 1"));
        let v = e.evaluate(&on_host(None, Some(5), "Too many failures"));
        assert_eq!(failure_ip(&v).as_deref(), Some("192.0.2.5"));
        // The host is part of the key when present: another host's pid 5
        // knows nothing.
        let v = e.evaluate(&on_host(Some("b"), Some(5), "Too many failures"));
        assert!(matches!(v, Verdict::Deferred(_)), "{v:?}");
        // A required field (the pid) missing: no session at all, so no
        // address can ever be found for the line.
        e.evaluate(&on_host(None, None, "Connection from 192.0.2.6 port 1"));
        let v = e.evaluate(&on_host(None, None, "Too many failures"));
        assert!(matches!(v, Verdict::BadAddress(..)), "{v:?}");
    }

    #[test]
    fn missing_session_fields_make_no_key() {
        let host = fields::HOST_NAME.clone();
        let pid = fields::PROCESS_PID.clone();
        let paths = [host.clone(), pid.clone()];
        let opt = [host.clone()];
        let bare = Event::from_message("x");
        assert_eq!(session_key(&paths, &opt, &bare), None);
        let mut e = Event::from_message("x");
        e.set(&pid, 7u32);
        assert_eq!(
            session_key(&paths, &opt, &e).as_deref(),
            Some("\u{1f}7\u{1f}")
        );
        assert_eq!(session_key(&paths, &[], &e), None);
        // Only optional fields, all missing: no session.
        assert_eq!(session_key(&opt, &opt, &bare), None);
    }

    #[test]
    fn reset_drops_what_a_reused_pid_left() {
        let mut e = sessions_engine();
        let v = e.evaluate(&on_host(Some("h"), Some(9), "Too many failures"));
        assert!(matches!(v, Verdict::Deferred(_)));
        // A new connection on the same pid: the old failure must not be
        // pinned on the new client.
        e.evaluate(&on_host(
            Some("h"),
            Some(9),
            "Connection from 192.0.2.9 port 1",
        ));
        let v = e.evaluate(&on_host(
            Some("h"),
            Some(9),
            "Connection closed by 192.0.2.9",
        ));
        assert_eq!(v, Verdict::NoMatch);
    }

    #[test]
    fn strip_cuts_only_a_leading_decoration() {
        let mut e = sessions_engine();
        let v = e.evaluate(&on_host(
            Some("h"),
            Some(1),
            "[ID 800047 auth.info] Failed password for bob from 192.0.2.1",
        ));
        assert_eq!(failure_ip(&v).as_deref(), Some("192.0.2.1"));
        // Not at the start: the line is not the daemon's format.
        let v = e.evaluate(&on_host(
            Some("h"),
            Some(1),
            "x [ID 800047 auth.info] Failed password for bob from 192.0.2.1",
        ));
        assert_eq!(v, Verdict::NoMatch);
        let bad = SESSIONS.replace("strip: '^(?:", "strip: '(?:");
        let e = RuleSetDef::from_yaml(&bad, "t")
            .unwrap()
            .compile(None, "t")
            .unwrap_err();
        assert!(e.message.contains("must start with `^`"), "{e}");
    }

    #[test]
    fn distinct_users_count_across_rules() {
        let mut e = sessions_engine();
        let ev = |m: &str| on_host(Some("h"), Some(2), m);
        // One user, failed twice, then logs in: only the plain failures.
        assert!(matches!(
            e.evaluate(&ev("pam: failure ruser= rhost=192.0.2.2 user=alice")),
            Verdict::Helper(_)
        ));
        let v = e.evaluate(&ev("Failed password for alice from 192.0.2.2"));
        assert_eq!(failure_ip(&v).as_deref(), Some("192.0.2.2"));
        let v = e.evaluate(&ev("Accepted password for alice from 192.0.2.2"));
        assert!(matches!(v, Verdict::Helper(_)), "{v:?}");
        // Forgotten: a new attempt starts from nothing; an attempt without a
        // user name is no user.
        assert!(matches!(
            e.evaluate(&ev("pam: failure ruser= rhost=192.0.2.2")),
            Verdict::Helper(_)
        ));
        assert!(matches!(
            e.evaluate(&ev("pam: failure ruser=root rhost=192.0.2.2")),
            Verdict::Helper(_)
        ));
        // `min: 1` records the user and stays a failure even without one.
        let v = e.evaluate(&ev("Failed password for  from 192.0.2.2"));
        assert_eq!(failure_ip(&v).as_deref(), Some("192.0.2.2"));
        // A second user name in the connection: the success is a failure.
        let v = e.evaluate(&ev("Accepted password for known from 192.0.2.2"));
        assert_eq!(failure_ip(&v).as_deref(), Some("192.0.2.2"));
    }

    #[test]
    fn distinct_without_a_session_is_no_failure() {
        let mut e = sessions_engine();
        // A bare message: nobody to count users for, so no failure either.
        let v = e.evaluate(&Event::from_message(
            "Accepted password for alice from 192.0.2.3",
        ));
        assert!(matches!(v, Verdict::Helper(_)), "{v:?}");
        let v = e.evaluate(&Event::from_message(
            "Failed password for alice from 192.0.2.3",
        ));
        assert_eq!(failure_ip(&v).as_deref(), Some("192.0.2.3"));
    }
}
