//! The in-memory record of bans: who is banned in which group until when,
//! and how often each address was banned before (for escalation).

use std::collections::HashMap;
use std::net::IpAddr;

use hashlink::LinkedHashMap;
use serde_json::{Map, Value, json};

use super::tracker::Key;
use crate::duration::Span;
use crate::event::Event;

/// Addresses whose ban history is remembered at most (oldest dropped first).
pub const MAX_HISTORY: usize = 1_000_000;

/// A decision to ban one address in one group.
#[derive(Debug, Clone, PartialEq)]
pub struct BanDecision {
    /// The address.
    pub ip: IpAddr,
    /// The ban group.
    pub group: String,
    /// The rule whose failure crossed the limit (or `manual`).
    pub rule: String,
    /// Failures counted.
    pub count: u32,
    /// First failure counted (ms since the epoch).
    pub first_seen_ms: i64,
    /// Last failure (ms).
    pub last_seen_ms: i64,
    /// When the ban starts (ms): the time of the failure that triggered it.
    pub since_ms: i64,
    /// When it ends; `None` = forever.
    pub until_ms: Option<i64>,
    /// The ban length applied (after escalation).
    pub bantime: Span,
    /// Earlier bans of this address within the escalation window.
    pub previous_bans: u32,
    /// Human-readable reason.
    pub reason: String,
    /// The failures that led to the ban (the most recent few).
    pub evidence: Vec<Evidence>,
}

/// One failure kept to explain a ban: when, which rule, the log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// When it happened (ms since the epoch).
    pub at_ms: i64,
    /// The rule that matched.
    pub rule: String,
    /// The log line (`message`), cut to [`EVIDENCE_LINE_BYTES`].
    pub line: String,
}

/// Longest log line kept as evidence; longer ones are cut.
pub const EVIDENCE_LINE_BYTES: usize = 512;

impl Evidence {
    /// Evidence of a failure, the line cut at a character boundary.
    pub fn new(at_ms: i64, rule: &str, line: &str) -> Self {
        let mut end = line.len().min(EVIDENCE_LINE_BYTES);
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        Self {
            at_ms,
            rule: rule.to_string(),
            line: line[..end].to_string(),
        }
    }
}

impl BanDecision {
    /// The `group~ip` key.
    pub fn key(&self) -> String {
        format!("{}~{}", self.group, self.ip)
    }

    /// The event emitted on the bans channel.
    pub fn to_event(&self) -> Event {
        let mut f2b = Map::new();
        f2b.insert("group".into(), json!(self.group));
        f2b.insert("key".into(), json!(self.key()));
        f2b.insert("rule".into(), json!(self.rule));
        f2b.insert("count".into(), json!(self.count));
        f2b.insert("banned".into(), json!(true));
        f2b.insert("bantime".into(), json!(self.bantime.to_string()));
        f2b.insert(
            "first_seen".into(),
            json!(ms_to_rfc3339(self.first_seen_ms)),
        );
        f2b.insert("last_seen".into(), json!(ms_to_rfc3339(self.last_seen_ms)));
        f2b.insert(
            "until".into(),
            self.until_ms
                .map_or(Value::Null, |u| json!(ms_to_rfc3339(u))),
        );
        f2b.insert("previous_bans".into(), json!(self.previous_bans));
        let mut m = Map::new();
        m.insert("@timestamp".into(), json!(ms_to_rfc3339(self.since_ms)));
        m.insert("message".into(), json!(self.summary()));
        m.insert("event".into(), json!({"action": "ban"}));
        m.insert("client".into(), json!({"ip": self.ip.to_string()}));
        m.insert("fail2ban".into(), Value::Object(f2b));
        Event::from_map(m)
    }

    /// One line for logs: `ban 192.0.2.1 in ssh for 1h (rule x, 3 failures)`.
    pub fn summary(&self) -> String {
        if self.rule == "manual" {
            return format!(
                "ban {} in {} for {} (by hand: {})",
                self.ip, self.group, self.bantime, self.reason
            );
        }
        let again = if self.previous_bans > 0 {
            format!(", banned {} time(s) before", self.previous_bans)
        } else {
            String::new()
        };
        format!(
            "ban {} in {} for {} (rule {}, {} failure(s){again})",
            self.ip, self.group, self.bantime, self.rule, self.count
        )
    }
}

/// Renders milliseconds since the epoch as RFC 3339 in the system zone.
pub fn ms_to_rfc3339(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => crate::time::format_timestamp(ts, &jiff::tz::TimeZone::system()),
        Err(_) => String::new(),
    }
}

/// Active bans and ban history.
#[derive(Debug)]
pub struct BanBook {
    active: HashMap<Key, Option<i64>>,
    history: LinkedHashMap<IpAddr, Vec<i64>>,
}

impl Default for BanBook {
    fn default() -> Self {
        Self {
            active: HashMap::new(),
            history: LinkedHashMap::new(),
        }
    }
}

impl BanBook {
    /// True when `key` is banned at `at_ms`.
    pub fn is_banned(&self, key: &Key, at_ms: i64) -> bool {
        match self.active.get(key) {
            Some(None) => true,
            Some(Some(until)) => *until > at_ms,
            None => false,
        }
    }

    /// Earlier bans of `ip` that started within `window_ms` before `at_ms`.
    pub fn previous_bans(&self, ip: IpAddr, at_ms: i64, window_ms: i64) -> u32 {
        self.history.get(&ip).map_or(0, |h| {
            h.iter()
                .filter(|&&t| t <= at_ms && at_ms - t <= window_ms)
                .count() as u32
        })
    }

    /// Records a ban.
    pub fn record(&mut self, key: Key, since_ms: i64, until_ms: Option<i64>) {
        self.active.insert(key, until_ms);
        if !self.history.contains_key(&key.ip) && self.history.len() >= MAX_HISTORY {
            self.history.pop_front();
        }
        let h = self.history.entry(key.ip).or_insert_with(Vec::new);
        h.push(since_ms);
        if h.len() > 32 {
            h.remove(0);
        }
        self.history.to_back(&key.ip);
    }

    /// Puts back a ban still in force (loaded at start). Unlike
    /// [`record`](Self::record) it does not count the ban in the history
    /// a second time: the stored history, remembered first, holds it
    /// already, and counting it twice would escalate the next ban too far.
    pub fn reinstate(&mut self, key: Key, since_ms: i64, until_ms: Option<i64>) {
        self.active.insert(key, until_ms);
        self.remember(key.ip, since_ms);
    }

    /// Remembers an earlier ban of `ip` (history loaded at start).
    pub fn remember(&mut self, ip: IpAddr, since_ms: i64) {
        if !self.history.contains_key(&ip) && self.history.len() >= MAX_HISTORY {
            self.history.pop_front();
        }
        let h = self.history.entry(ip).or_insert_with(Vec::new);
        if !h.contains(&since_ms) {
            h.push(since_ms);
            h.sort_unstable();
            if h.len() > 32 {
                h.remove(0);
            }
        }
    }

    /// Lifts a ban; true when there was one.
    pub fn lift(&mut self, key: &Key) -> bool {
        self.active.remove(key).is_some()
    }

    /// Removes bans that ended by `at_ms`, returning their keys.
    pub fn expire(&mut self, at_ms: i64) -> Vec<Key> {
        let ended: Vec<Key> = self
            .active
            .iter()
            .filter(|(_, until)| until.is_some_and(|u| u <= at_ms))
            .map(|(k, _)| *k)
            .collect();
        for k in &ended {
            self.active.remove(k);
        }
        ended
    }

    /// Active bans.
    pub fn active(&self) -> impl Iterator<Item = (&Key, &Option<i64>)> {
        self.active.iter()
    }

    /// Number of active bans.
    pub fn active_count(&self) -> usize {
        self.active.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Key {
        Key {
            group: 0,
            ip: IpAddr::from([192, 0, 2, n]),
        }
    }

    #[test]
    fn active_until_expiry() {
        let mut b = BanBook::default();
        b.record(key(1), 0, Some(1000));
        assert!(b.is_banned(&key(1), 999));
        assert!(!b.is_banned(&key(1), 1000));
        assert!(!b.is_banned(&key(2), 0));
        assert_eq!(b.expire(1000), vec![key(1)]);
        assert_eq!(b.active_count(), 0);
        b.record(key(3), 0, None);
        assert!(b.is_banned(&key(3), i64::MAX));
        assert!(b.expire(i64::MAX).is_empty());
    }

    #[test]
    fn history_counts_within_window() {
        let mut b = BanBook::default();
        b.record(key(1), 0, Some(10));
        b.record(key(1), 100, Some(110));
        assert_eq!(b.previous_bans(key(1).ip, 150, 1000), 2);
        assert_eq!(b.previous_bans(key(1).ip, 150, 60), 1);
        assert_eq!(b.previous_bans(key(2).ip, 150, 1000), 0);
    }

    #[test]
    fn evidence_lines_are_cut_on_a_character_boundary() {
        let long = "é".repeat(400);
        let e = Evidence::new(1, "r", &long);
        assert!(e.line.len() <= EVIDENCE_LINE_BYTES);
        assert_eq!(e.line.len(), EVIDENCE_LINE_BYTES);
        assert!(e.line.chars().all(|c| c == 'é'));
        assert_eq!(Evidence::new(1, "r", "short").line, "short");
    }

    #[test]
    fn decision_event_shape() {
        let d = BanDecision {
            ip: IpAddr::from([192, 0, 2, 1]),
            group: "ssh".into(),
            rule: "sshd-invalid-user".into(),
            count: 3,
            first_seen_ms: 0,
            last_seen_ms: 1000,
            since_ms: 1000,
            until_ms: Some(3_601_000),
            bantime: Span::Finite(std::time::Duration::from_secs(3600)),
            previous_bans: 0,
            reason: String::new(),
            evidence: Vec::new(),
        };
        let v = d.to_event().into_value();
        assert_eq!(v["fail2ban"]["key"], "ssh~192.0.2.1");
        assert_eq!(v["fail2ban"]["bantime"], "1h");
        assert_eq!(v["client"]["ip"], "192.0.2.1");
        assert_eq!(v["event"]["action"], "ban");
        assert_eq!(
            d.summary(),
            "ban 192.0.2.1 in ssh for 1h (rule sshd-invalid-user, 3 failure(s))"
        );
    }
}
