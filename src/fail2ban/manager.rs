//! From events to ban decisions: rules find failures, the tracker counts
//! them per `group~ip`, the allow-list excuses, the book remembers bans.

use std::collections::{HashMap, VecDeque};

use hashlink::LinkedHashMap;
use std::net::IpAddr;
use std::time::Duration;

use serde_json::Value;

use super::allow::AllowList;
use super::book::{BanBook, BanDecision, Evidence};
use super::engine::{RuleEngine, Verdict};
use super::policy::{EscalationDef, GroupPolicy};
use super::tracker::{FailureTracker, Key};
use crate::duration::Span;
use crate::event::{Event, fields};

/// Counters of what the manager saw.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ManagerStats {
    /// Failures counted.
    pub failures: u64,
    /// Failures from allow-listed addresses (not counted).
    pub allowed: u64,
    /// Lines excused by an ignore pattern.
    pub ignored: u64,
    /// Rule matches whose address was not a valid IP.
    pub bad_addresses: u64,
    /// Ban decisions made.
    pub bans: u64,
}

/// Settings of a manager.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// Group policies by name; groups not listed get the defaults.
    pub groups: Vec<GroupPolicy>,
    /// Addresses never counted or banned.
    pub allow: AllowList,
    /// Most `group~ip` keys tracked at once.
    pub max_tracked: usize,
    /// Longer bans for repeat offenders.
    pub escalation: Option<EscalationDef>,
}

/// Turns events into failures and ban decisions.
pub struct BanManager {
    rules: RuleEngine,
    groups: Vec<GroupPolicy>,
    group_index: HashMap<String, u16>,
    allow: AllowList,
    tracker: FailureTracker,
    book: BanBook,
    escalation: Option<EscalationDef>,
    stats: ManagerStats,
    clock: LogClock,
    /// Failures per rule, by set and rule index.
    rule_hits: Vec<Vec<u64>>,
    /// Recent failures of tracked keys, to explain bans (bounded).
    evidence: LinkedHashMap<Key, VecDeque<Evidence>>,
}

/// Keys whose recent failures are kept for `logbus bans explain`; the
/// least recently failing are forgotten first. With
/// [`EVIDENCE_PER_KEY`] lines of at most 512 bytes this bounds the memory
/// to about 50 MB under any attack.
pub const EVIDENCE_KEYS: usize = 20_000;

/// Failures kept per key.
pub const EVIDENCE_PER_KEY: usize = 5;

/// The logs' own clock: the newest event time seen, advancing with the
/// wall clock since. Bans expire by it, so a replayed old log keeps its
/// bans for their time in log time, while live logs follow the wall clock.
#[derive(Debug, Clone, Copy, Default)]
struct LogClock {
    event_ms: i64,
    wall_ms: i64,
}

impl LogClock {
    fn observe(&mut self, event_ms: i64, wall_ms: i64) {
        if event_ms >= self.event_ms || self.wall_ms == 0 {
            *self = Self { event_ms, wall_ms };
        }
    }

    fn now(&self, wall_ms: i64) -> i64 {
        if self.wall_ms == 0 {
            return wall_ms;
        }
        self.event_ms
            .saturating_add(wall_ms.saturating_sub(self.wall_ms))
    }
}

impl BanManager {
    /// A manager over compiled rules. Every group a rule names gets a
    /// policy (the configured one, else the defaults).
    pub fn new(rules: RuleEngine, config: ManagerConfig) -> Result<Self, String> {
        let mut groups = config.groups;
        for (_, r) in rules.rules() {
            if !groups.iter().any(|g| g.name == r.group) {
                groups.push(GroupPolicy::resolve(&r.group, None)?);
            }
        }
        if groups.len() > usize::from(u16::MAX) {
            return Err("too many groups".into());
        }
        let group_index = groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.name.clone(), i as u16))
            .collect();
        let rule_hits = rules.sets().map(|s| vec![0; s.rules.len()]).collect();
        Ok(Self {
            groups,
            group_index,
            allow: config.allow,
            tracker: FailureTracker::new(config.max_tracked),
            book: BanBook::default(),
            escalation: config.escalation,
            stats: ManagerStats::default(),
            clock: LogClock::default(),
            rule_hits,
            evidence: LinkedHashMap::new(),
            rules,
        })
    }

    /// The rule engine.
    pub fn rules(&self) -> &RuleEngine {
        &self.rules
    }

    /// The group policies.
    pub fn groups(&self) -> &[GroupPolicy] {
        &self.groups
    }

    /// Counters so far.
    pub fn stats(&self) -> &ManagerStats {
        &self.stats
    }

    /// Keys tracked now.
    pub fn tracked(&self) -> usize {
        self.tracker.len()
    }

    /// Active bans.
    pub fn active_bans(&self) -> usize {
        self.book.active_count()
    }

    /// Judges one event at `now_ms` (used when the event has no time),
    /// tags it, and returns the ban decision it caused, if any.
    pub fn handle(&mut self, event: &mut Event, now_ms: i64) -> Option<BanDecision> {
        let verdict = self.rules.evaluate(event);
        let failure = match verdict {
            Verdict::Failure(f) => f,
            Verdict::Ignored(_) => {
                self.stats.ignored += 1;
                return None;
            }
            Verdict::BadAddress(..) => {
                self.stats.bad_addresses += 1;
                return None;
            }
            Verdict::NoMatch | Verdict::Helper(_) | Verdict::Deferred(_) => return None,
        };
        if let Some(n) = self
            .rule_hits
            .get_mut(failure.rule.set)
            .and_then(|s| s.get_mut(failure.rule.rule))
        {
            *n += 1;
        }
        let rule = self.rules.rule(failure.rule);
        let group_name = rule.group.clone();
        let rule_id = rule.id.clone();
        let rule_limit = rule.limit;
        for (path, value) in &failure.captures {
            if !event.contains(path) {
                event.set(path, value.as_str());
            }
        }
        if !event.contains(&fields::CLIENT_IP) {
            event.set(&fields::CLIENT_IP, failure.ip.to_string());
        }
        event.set(&fields::FAIL2BAN_GROUP, group_name.as_str());
        event.set(&fields::FAIL2BAN_RULE, rule_id.as_str());
        event.set(
            &fields::FAIL2BAN_KEY,
            format!("{group_name}~{}", failure.ip),
        );
        if self.allow.contains(failure.ip) {
            self.stats.allowed += 1;
            event.set(&fields::FAIL2BAN_ALLOWED, true);
            event.set(&fields::FAIL2BAN_BANNED, false);
            return None;
        }
        self.stats.failures += 1;
        let &gi = self.group_index.get(&group_name)?;
        let policy = &self.groups[usize::from(gi)];
        let at = event_time_ms(event).unwrap_or(now_ms);
        self.clock.observe(at, now_ms);
        let key = Key {
            group: gi,
            ip: failure.ip,
        };
        if self.book.is_banned(&key, at) {
            event.set(&fields::FAIL2BAN_COUNT, self.tracker.count(&key) as u64 + 1);
            event.set(&fields::FAIL2BAN_BANNED, true);
            return None;
        }
        let window = duration_ms(policy.window);
        let limit = rule_limit.unwrap_or(policy.limit);
        let line = event.get_str(&fields::MESSAGE).unwrap_or_default();
        self.remember_failure(key, Evidence::new(at, &rule_id, line));
        let count = self.tracker.record(key, at, window, limit);
        event.set(&fields::FAIL2BAN_COUNT, u64::from(count.in_window));
        if !count.reached {
            event.set(&fields::FAIL2BAN_BANNED, false);
            return None;
        }
        event.set(&fields::FAIL2BAN_BANNED, true);
        event.add_tag("banned");
        let mut decision = self.decide(
            key,
            &rule_id,
            count.in_window,
            count.first_ms,
            count.last_ms,
            at,
        );
        // The failures behind the ban go with it (to the store); the key
        // starts again from nothing.
        decision.evidence = self
            .evidence
            .remove(&key)
            .map(Vec::from)
            .unwrap_or_default();
        self.tracker.forget(&key);
        Some(decision)
    }

    fn decide(
        &mut self,
        key: Key,
        rule: &str,
        count: u32,
        first: i64,
        last: i64,
        at: i64,
    ) -> BanDecision {
        let policy = &self.groups[usize::from(key.group)];
        let (bantime, previous) = match &self.escalation {
            Some(esc) => {
                let prev = self
                    .book
                    .previous_bans(key.ip, at, duration_ms(esc.window.0));
                (esc.bantime(policy.bantime, prev), prev)
            }
            None => (policy.bantime, 0),
        };
        let until = bantime
            .as_duration()
            .map(|d| at.saturating_add(duration_ms(d)));
        self.book.record(key, at, until);
        self.stats.bans += 1;
        BanDecision {
            ip: key.ip,
            group: policy.name.clone(),
            rule: rule.to_string(),
            count,
            first_seen_ms: first,
            last_seen_ms: last,
            since_ms: at,
            until_ms: until,
            bantime,
            previous_bans: previous,
            reason: format!("{count} failure(s) of rule {rule}"),
            evidence: Vec::new(),
        }
    }

    /// Ends bans whose time is up, returning (group, ip) of each, and
    /// forgets failure counts older than their window. `wall_ms` is the wall
    /// clock; expiry follows the logs' clock (see [`LogClock`]).
    pub fn expire(&mut self, wall_ms: i64) -> Vec<(String, IpAddr)> {
        let at = self.clock.now(wall_ms);
        self.tracker.expire(at);
        self.book
            .expire(at)
            .into_iter()
            .map(|k| (self.groups[usize::from(k.group)].name.clone(), k.ip))
            .collect()
    }

    fn remember_failure(&mut self, key: Key, evidence: Evidence) {
        if !self.evidence.contains_key(&key) && self.evidence.len() >= EVIDENCE_KEYS {
            self.evidence.pop_front();
        }
        let lines = self.evidence.entry(key).or_insert_with(VecDeque::new);
        if lines.len() >= EVIDENCE_PER_KEY {
            lines.pop_front();
        }
        lines.push_back(evidence);
        self.evidence.to_back(&key);
    }

    /// Recent failures of `ip` not (yet) part of a ban, per group.
    pub fn recent_failures(&self, ip: IpAddr) -> Vec<(String, Vec<Evidence>)> {
        let ip = ip.to_canonical();
        self.groups
            .iter()
            .enumerate()
            .filter_map(|(gi, g)| {
                let key = Key {
                    group: gi as u16,
                    ip,
                };
                self.evidence
                    .get(&key)
                    .map(|e| (g.name.clone(), e.iter().cloned().collect()))
            })
            .collect()
    }

    /// Failures counted per rule id, in rule order.
    pub fn rule_hits(&self) -> Vec<(&str, u64)> {
        self.rules
            .rules()
            .map(|(r, rule)| {
                let n = self
                    .rule_hits
                    .get(r.set)
                    .and_then(|s| s.get(r.rule))
                    .copied()
                    .unwrap_or(0);
                (rule.id.as_str(), n)
            })
            .collect()
    }

    /// Active bans per group name.
    pub fn active_by_group(&self) -> Vec<(String, u64)> {
        let mut counts = vec![0u64; self.groups.len()];
        for (key, _) in self.book.active() {
            if let Some(c) = counts.get_mut(usize::from(key.group)) {
                *c += 1;
            }
        }
        self.groups
            .iter()
            .zip(counts)
            .map(|(g, n)| (g.name.clone(), n))
            .collect()
    }

    /// The logs' clock at wall time `wall_ms` (see [`LogClock`]).
    pub fn log_now(&self, wall_ms: i64) -> i64 {
        self.clock.now(wall_ms)
    }

    /// Restores bans in force and ban history (from the state store at
    /// start). Bans of groups this manager does not know are skipped and
    /// returned.
    pub fn restore(&mut self, bans: &[BanDecision], history: &[(IpAddr, i64)]) -> Vec<BanDecision> {
        for (ip, since) in history {
            self.book.remember(*ip, *since);
        }
        let mut unknown = Vec::new();
        for b in bans {
            match self.group_index.get(&b.group) {
                Some(&gi) => self.book.reinstate(
                    Key {
                        group: gi,
                        ip: b.ip,
                    },
                    b.since_ms,
                    b.until_ms,
                ),
                None => unknown.push(b.clone()),
            }
        }
        unknown
    }

    /// Bans `ip` in `group` by hand. Refused for allow-listed addresses and
    /// unknown groups. `bantime` None means the group's (escalated) ban time.
    pub fn manual_ban(
        &mut self,
        ip: IpAddr,
        group: &str,
        bantime: Option<Span>,
        reason: &str,
        wall_ms: i64,
    ) -> Result<BanDecision, String> {
        let ip = ip.to_canonical();
        if self.allow.contains(ip) {
            return Err(format!(
                "{ip} is on the allow-list ({}); it is never banned",
                self.allow
                    .nets()
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let Some(&gi) = self.group_index.get(group) else {
            return Err(format!(
                "unknown group `{group}` (groups: {})",
                self.groups
                    .iter()
                    .map(|g| g.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        let at = self.clock.now(wall_ms);
        let key = Key { group: gi, ip };
        let mut d = self.decide(key, "manual", 0, at, at, at);
        if let Some(span) = bantime {
            d.bantime = span;
            d.until_ms = span
                .as_duration()
                .map(|t| at.saturating_add(duration_ms(t)));
            self.book.record(key, at, d.until_ms);
        }
        d.reason = if reason.is_empty() {
            "manual ban".into()
        } else {
            reason.to_string()
        };
        self.tracker.forget(&key);
        Ok(d)
    }

    /// Lifts the bans of `ip` (in `group`, or every group). Returns the
    /// (group, ip) pairs that were banned.
    pub fn lift(&mut self, ip: IpAddr, group: Option<&str>) -> Vec<(String, IpAddr)> {
        let ip = ip.to_canonical();
        let mut lifted = Vec::new();
        for (gi, g) in self.groups.iter().enumerate() {
            if group.is_some_and(|want| want != g.name) {
                continue;
            }
            let key = Key {
                group: gi as u16,
                ip,
            };
            self.tracker.forget(&key);
            if self.book.lift(&key) {
                lifted.push((g.name.clone(), ip));
            }
        }
        lifted
    }

    /// True when `ip` is allow-listed.
    pub fn is_allowed(&self, ip: IpAddr) -> bool {
        self.allow.contains(ip)
    }
}

/// The event's `@timestamp` in ms, when it has a parseable one.
pub fn event_time_ms(event: &Event) -> Option<i64> {
    match event.get(&fields::TIMESTAMP)? {
        Value::String(s) => s
            .parse::<jiff::Timestamp>()
            .ok()
            .map(|t| t.as_millisecond()),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// A duration in whole milliseconds, saturating.
pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fail2ban::engine::RuleEngine;
    use crate::fail2ban::policy::GroupDef;
    use crate::fail2ban::rules::RuleSetDef;

    const RULES: &str = r#"
name: t
group: ssh
rules:
  - id: bad
    match: '^bad login from (?P<ip>\S+)$'
  - id: worse
    match: '^invalid user from (?P<ip>\S+)$'
    limit: 1
"#;

    fn manager(limit: u32, allow: &[&str], escalation: Option<EscalationDef>) -> BanManager {
        let set = RuleSetDef::from_yaml(RULES, "t")
            .unwrap()
            .compile(None, "t")
            .unwrap();
        let engine = RuleEngine::new(vec![set]).unwrap();
        let def = GroupDef {
            limit: Some(limit),
            window: Some(crate::duration::FiniteSpan(Duration::from_secs(600))),
            bantime: Some(Span::Finite(Duration::from_secs(3600))),
            ports: vec![],
        };
        BanManager::new(
            engine,
            ManagerConfig {
                groups: vec![GroupPolicy::resolve("ssh", Some(&def)).unwrap()],
                allow: AllowList::parse(allow.iter().copied().chain(["127.0.0.0/8"])).unwrap(),
                max_tracked: 1000,
                escalation,
            },
        )
        .unwrap()
    }

    /// An event at `secs` seconds into 2005-02-25 UTC.
    fn ev(msg: &str, secs: i64) -> Event {
        let mut e = Event::from_message(msg);
        let ts = jiff::Timestamp::from_second(1_109_289_600 + secs).unwrap();
        e.set(&fields::TIMESTAMP, ts.to_string());
        e
    }

    #[test]
    fn bans_once_at_the_limit_and_tags_events() {
        let mut m = manager(3, &[], None);
        let mut decisions = Vec::new();
        let mut events = Vec::new();
        for i in 0..5 {
            let mut e = ev("bad login from 192.0.2.1", i);
            decisions.extend(m.handle(&mut e, 0));
            events.push(e.into_value());
        }
        assert_eq!(decisions.len(), 1, "one decision, not one per line");
        let d = &decisions[0];
        assert_eq!(
            (
                d.ip.to_string().as_str(),
                d.group.as_str(),
                d.rule.as_str(),
                d.count
            ),
            ("192.0.2.1", "ssh", "bad", 3)
        );
        assert_eq!(d.first_seen_ms, 1_109_289_600_000);
        assert_eq!(d.until_ms, Some(1_109_289_602_000 + 3_600_000));
        assert_eq!(events[0]["fail2ban"]["count"], 1);
        assert_eq!(events[0]["fail2ban"]["banned"], false);
        assert_eq!(events[2]["fail2ban"]["banned"], true);
        assert_eq!(events[2]["fail2ban"]["key"], "ssh~192.0.2.1");
        assert_eq!(
            events[4]["fail2ban"]["banned"], true,
            "later lines while banned are tagged"
        );
        assert_eq!(events[4]["client"]["ip"], "192.0.2.1");
        assert_eq!(m.stats().bans, 1);
    }

    #[test]
    fn bans_carry_their_evidence_and_recent_failures_are_kept() {
        let mut m = manager(2, &[], None);
        assert!(
            m.handle(&mut ev("bad login from 192.0.2.8", 0), 0)
                .is_none()
        );
        let other = "192.0.2.9".parse().unwrap();
        m.handle(&mut ev("bad login from 192.0.2.9", 1), 0);
        let d = m.handle(&mut ev("bad login from 192.0.2.8", 2), 0).unwrap();
        let lines: Vec<&str> = d.evidence.iter().map(|e| e.line.as_str()).collect();
        assert_eq!(
            lines,
            ["bad login from 192.0.2.8", "bad login from 192.0.2.8"]
        );
        assert_eq!(d.evidence[0].rule, "bad");
        assert_eq!(d.evidence[1].at_ms - d.evidence[0].at_ms, 2000);
        assert!(m.recent_failures(d.ip).is_empty(), "moved into the ban");
        let recent = m.recent_failures(other);
        assert_eq!(recent.len(), 1);
        assert_eq!(recent[0].0, "ssh");
        assert_eq!(recent[0].1.len(), 1);
        assert_eq!(m.rule_hits(), [("bad", 3), ("worse", 0)]);
    }

    #[test]
    fn rule_limit_overrides_group_limit() {
        let mut m = manager(5, &[], None);
        assert!(
            m.handle(&mut ev("invalid user from 192.0.2.2", 0), 0)
                .is_some()
        );
    }

    #[test]
    fn allow_list_is_never_counted() {
        let mut m = manager(1, &["192.0.2.0/24"], None);
        let mut e = ev("bad login from 192.0.2.9", 0);
        assert!(m.handle(&mut e, 0).is_none());
        assert_eq!(e.into_value()["fail2ban"]["allowed"], true);
        assert!(
            m.handle(&mut ev("bad login from 127.0.0.1", 0), 0)
                .is_none()
        );
        assert!(
            m.handle(&mut ev("bad login from ::ffff:127.0.0.1", 0), 0)
                .is_none()
        );
        assert_eq!(m.stats().failures, 0);
        assert_eq!(m.stats().allowed, 3);
        assert_eq!(m.tracked(), 0);
    }

    #[test]
    fn mapped_ipv6_counts_as_ipv4() {
        let mut m = manager(2, &[], None);
        assert!(
            m.handle(&mut ev("bad login from 198.51.100.7", 0), 0)
                .is_none()
        );
        let d = m.handle(&mut ev("bad login from ::ffff:198.51.100.7", 1), 0);
        assert_eq!(d.map(|d| d.ip.to_string()).as_deref(), Some("198.51.100.7"));
    }

    #[test]
    fn replayed_logs_count_by_their_own_time() {
        let mut m = manager(2, &[], None);
        // Two failures 11 minutes apart in log time: outside the 10m window,
        // although they are processed within the same wall-clock instant.
        assert!(
            m.handle(&mut ev("bad login from 192.0.2.3", 0), 5)
                .is_none()
        );
        assert!(
            m.handle(&mut ev("bad login from 192.0.2.3", 660), 5)
                .is_none()
        );
        assert!(
            m.handle(&mut ev("bad login from 192.0.2.3", 700), 5)
                .is_some()
        );
    }

    #[test]
    fn ban_ends_and_the_address_can_be_banned_again() {
        let mut m = manager(1, &[], None);
        let wall = 1_000_000;
        assert!(
            m.handle(&mut ev("bad login from 192.0.2.4", 0), wall)
                .is_some()
        );
        // An hour of log time later (as seen by the log clock) the ban ends.
        assert!(m.expire(wall + 3_599_000).is_empty());
        assert_eq!(
            m.expire(wall + 3_600_000),
            vec![("ssh".to_string(), "192.0.2.4".parse().unwrap())]
        );
        assert_eq!(m.active_bans(), 0);
        assert!(
            m.handle(&mut ev("bad login from 192.0.2.4", 3700), wall)
                .is_some()
        );
    }

    #[test]
    fn repeat_offenders_get_longer_bans() {
        let esc = EscalationDef {
            factor: 2.0,
            window: crate::duration::FiniteSpan(Duration::from_secs(86_400)),
            max: Span::Finite(Duration::from_secs(3 * 3600)),
        };
        let mut m = manager(1, &[], Some(esc));
        let d1 = m.handle(&mut ev("bad login from 192.0.2.5", 0), 0).unwrap();
        let d2 = m
            .handle(&mut ev("bad login from 192.0.2.5", 4000), 0)
            .unwrap();
        let d3 = m
            .handle(&mut ev("bad login from 192.0.2.5", 4000 + 7300), 0)
            .unwrap();
        let d4 = m
            .handle(&mut ev("bad login from 192.0.2.5", 4000 + 7300 + 10_900), 0)
            .unwrap();
        let hours = |d: &BanDecision| d.bantime.as_duration().unwrap().as_secs() / 3600;
        assert_eq!(
            (hours(&d1), hours(&d2), hours(&d3), hours(&d4)),
            (1, 2, 3, 3)
        );
        assert_eq!(d3.previous_bans, 2);
    }

    /// After a restart, a ban still in force comes back from the store both
    /// as a ban and in the history: it must count once, not twice.
    #[test]
    fn restored_ban_counts_once_for_escalation() {
        let esc = EscalationDef {
            factor: 2.0,
            window: crate::duration::FiniteSpan(Duration::from_secs(86_400)),
            max: Span::Finite(Duration::from_secs(7 * 86_400)),
        };
        let mut before = manager(1, &[], Some(esc.clone()));
        let first = before
            .handle(&mut ev("bad login from 192.0.2.6", 0), 0)
            .unwrap();
        let mut after = manager(1, &[], Some(esc));
        let history = [(first.ip, first.since_ms)];
        assert!(
            after
                .restore(std::slice::from_ref(&first), &history)
                .is_empty()
        );
        assert_eq!(after.lift(first.ip, None).len(), 1);
        let second = after
            .handle(&mut ev("bad login from 192.0.2.6", 60), 0)
            .unwrap();
        assert_eq!(second.previous_bans, 1);
        assert_eq!(second.bantime, Span::Finite(Duration::from_secs(7200)));
    }
}
