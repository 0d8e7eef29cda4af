//! Counting failures per `group~ip` key inside a sliding window, in bounded
//! memory.
//!
//! The window slides: a key reaches its limit when `limit` failures fall
//! within one `window`-long span that includes the newest failure. (A leaky
//! bucket would forgive a steady trickle; a sliding log does not, and with the
//! small limits used for bans the log costs a few timestamps per key.) Time is
//! the events' own time (log timestamps when present), so replayed logs count
//! as they happened; failures arriving a little out of order are placed where
//! they belong.
//!
//! Memory is capped at `max_keys`: when a new key would exceed it, the key
//! touched least recently is evicted, so an attack from millions of addresses
//! costs a fixed amount of memory (and evicts only the stalest counts).

use std::net::IpAddr;

use hashlink::LinkedHashMap;

/// The most failure times remembered per key; limits above this are
/// clamped (a limit of thousands inside one window is not a ban policy).
pub const MAX_TIMES_PER_KEY: usize = 64;

/// A `group~ip` key. Groups are small integers assigned by the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    /// The ban group's index.
    pub group: u16,
    /// The client address.
    pub ip: IpAddr,
}

#[derive(Debug, Clone)]
struct Entry {
    /// Failure times in milliseconds, ascending.
    times: Vec<i64>,
    /// When the key may be forgotten: newest failure + window.
    expires_at: i64,
}

/// What recording one failure led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    /// Failures in the window that ends at the newest failure.
    pub in_window: u32,
    /// True when some window containing this failure holds `limit` failures.
    pub reached: bool,
    /// Time of the oldest failure counted towards the limit (ms).
    pub first_ms: i64,
    /// Time of the newest failure of the key (ms).
    pub last_ms: i64,
}

/// Failure counts per key, bounded.
#[derive(Debug)]
pub struct FailureTracker {
    keys: LinkedHashMap<Key, Entry>,
    max_keys: usize,
    evicted: u64,
}

impl FailureTracker {
    /// A tracker holding at most `max_keys` keys (at least 1).
    pub fn new(max_keys: usize) -> Self {
        Self {
            keys: LinkedHashMap::new(),
            max_keys: max_keys.max(1),
            evicted: 0,
        }
    }

    /// Records a failure of `key` at `time_ms` and says whether the key
    /// reached `limit` within `window_ms`.
    pub fn record(&mut self, key: Key, time_ms: i64, window_ms: i64, limit: u32) -> Count {
        let limit = (limit.max(1) as usize).min(MAX_TIMES_PER_KEY);
        let window_ms = window_ms.max(0);
        if !self.keys.contains_key(&key) && self.keys.len() >= self.max_keys {
            self.keys.pop_front();
            self.evicted += 1;
        }
        let entry = self.keys.entry(key).or_insert_with(|| Entry {
            times: Vec::with_capacity(limit.min(8)),
            expires_at: time_ms,
        });
        let pos = entry.times.partition_point(|&t| t <= time_ms);
        entry.times.insert(pos, time_ms);
        let newest = entry.times.last().copied().unwrap_or(time_ms);
        // Older failures can never share a window with the newest one.
        let horizon = newest.saturating_sub(window_ms);
        let stale = entry.times.partition_point(|&t| t < horizon);
        // Keep this failure even when it arrived too late to matter, so it
        // is reported consistently; it is dropped on the next insert.
        let stale = stale.min(pos);
        entry.times.drain(..stale);
        if entry.times.len() > MAX_TIMES_PER_KEY {
            let extra = entry.times.len() - MAX_TIMES_PER_KEY;
            entry.times.drain(..extra);
        }
        entry.expires_at = newest.saturating_add(window_ms);
        let (best, first_ms) = best_window_containing(&entry.times, time_ms, window_ms);
        let in_window = entry.times.iter().filter(|&&t| t >= horizon).count() as u32;
        let count = Count {
            in_window: in_window.max(best as u32),
            reached: best >= limit,
            first_ms,
            last_ms: newest,
        };
        // Most recently touched keys live at the back.
        self.keys.to_back(&key);
        count
    }

    /// Forgets a key (after it was banned, so it starts again from zero).
    pub fn forget(&mut self, key: &Key) {
        self.keys.remove(key);
    }

    /// Drops keys whose newest failure is older than their window, as of
    /// `now_ms` (the newest event time seen). Returns how many were dropped.
    pub fn expire(&mut self, now_ms: i64) -> usize {
        let before = self.keys.len();
        self.keys.retain(|_, e| e.expires_at >= now_ms);
        before - self.keys.len()
    }

    /// Keys tracked now.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Keys evicted because the cap was reached.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// The failure count of a key within its remembered window.
    pub fn count(&self, key: &Key) -> usize {
        self.keys.get(key).map_or(0, |e| e.times.len())
    }
}

/// The largest number of `times` inside one window-long span that contains
/// `t`, and the first time of that span.
fn best_window_containing(times: &[i64], t: i64, window_ms: i64) -> (usize, i64) {
    let mut best = (0, t);
    for (i, &start) in times.iter().enumerate() {
        if start > t {
            break;
        }
        if t - start > window_ms {
            continue;
        }
        let end = start.saturating_add(window_ms);
        let n = times[i..].iter().take_while(|&&x| x <= end).count();
        if n > best.0 {
            best = (n, start);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn key(n: u8) -> Key {
        Key {
            group: 0,
            ip: IpAddr::from([192, 0, 2, n]),
        }
    }

    #[test]
    fn reaches_exactly_at_the_limit() {
        let mut t = FailureTracker::new(10);
        assert!(!t.record(key(1), 0, 10 * MIN, 3).reached);
        assert!(!t.record(key(1), MIN, 10 * MIN, 3).reached);
        let c = t.record(key(1), 2 * MIN, 10 * MIN, 3);
        assert!(c.reached);
        assert_eq!(c.in_window, 3);
        assert_eq!(c.first_ms, 0);
        assert_eq!(c.last_ms, 2 * MIN);
    }

    #[test]
    fn window_edge_is_inclusive_and_just_outside_is_not() {
        let mut t = FailureTracker::new(10);
        t.record(key(1), 0, 10 * MIN, 2);
        // Exactly one window later: still inside (inclusive).
        assert!(t.record(key(1), 10 * MIN, 10 * MIN, 2).reached);
        let mut t = FailureTracker::new(10);
        t.record(key(2), 0, 10 * MIN, 2);
        // One millisecond outside: the first failure no longer counts.
        let c = t.record(key(2), 10 * MIN + 1, 10 * MIN, 2);
        assert!(!c.reached);
        assert_eq!(c.in_window, 1);
    }

    #[test]
    fn out_of_order_failures_count_where_they_belong() {
        let mut t = FailureTracker::new(10);
        t.record(key(1), 100_000, MIN, 3);
        t.record(key(1), 130_000, MIN, 3);
        // Arrives late, but happened between the two: three inside one minute.
        let c = t.record(key(1), 110_000, MIN, 3);
        assert!(c.reached);
        assert_eq!(c.first_ms, 100_000);
        // A late failure that is far too old does not make a ban.
        let mut t = FailureTracker::new(10);
        t.record(key(2), 10 * MIN, MIN, 2);
        assert!(!t.record(key(2), 0, MIN, 2).reached);
    }

    #[test]
    fn keys_count_separately() {
        let mut t = FailureTracker::new(10);
        t.record(key(1), 0, MIN, 2);
        assert!(!t.record(key(2), 1, MIN, 2).reached);
        let other_group = Key {
            group: 1,
            ip: key(1).ip,
        };
        assert!(!t.record(other_group, 2, MIN, 2).reached);
        assert!(t.record(key(1), 3, MIN, 2).reached);
    }

    #[test]
    fn cap_evicts_the_stalest_key() {
        let mut t = FailureTracker::new(3);
        t.record(key(1), 0, MIN, 5);
        t.record(key(2), 1, MIN, 5);
        t.record(key(3), 2, MIN, 5);
        t.record(key(1), 3, MIN, 5); // key 1 is fresh again; key 2 is the stalest
        t.record(key(4), 4, MIN, 5);
        assert_eq!(t.len(), 3);
        assert_eq!(t.evicted(), 1);
        assert_eq!(t.count(&key(2)), 0, "the stalest key was evicted");
        assert_eq!(t.count(&key(1)), 2);
        // A flood of distinct keys never grows past the cap.
        for n in 0..=255u8 {
            t.record(key(n), 10, MIN, 5);
        }
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn expire_and_forget() {
        let mut t = FailureTracker::new(10);
        t.record(key(1), 0, MIN, 5);
        t.record(key(2), 5 * MIN, MIN, 5);
        assert_eq!(t.expire(3 * MIN), 1);
        assert_eq!(t.len(), 1);
        t.forget(&key(2));
        assert!(t.is_empty());
    }

    #[test]
    fn huge_limits_are_clamped() {
        let mut t = FailureTracker::new(10);
        for i in 0..1000 {
            t.record(key(1), i, MIN, u32::MAX);
        }
        assert!(t.count(&key(1)) <= MAX_TIMES_PER_KEY);
    }
}
