//! Per-stage counters, reported on the `stats` channel.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

/// Counters of one stage. Cheap to bump from any thread.
#[derive(Debug, Default)]
pub struct StageCounters {
    /// Events received.
    pub events_in: AtomicU64,
    /// Events sent (counted once per event, whatever the fan-out).
    pub events_out: AtomicU64,
    /// Bytes read (inputs) or parsed (parsers).
    pub bytes_in: AtomicU64,
    /// Lines read (inputs).
    pub lines_in: AtomicU64,
    /// Errors reported.
    pub errors: AtomicU64,
    extra: Mutex<Vec<(&'static str, Arc<AtomicU64>)>>,
}

impl StageCounters {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// A stage-specific counter (e.g. `lines_truncated`), created on first use.
    pub fn extra(&self, name: &'static str) -> Arc<AtomicU64> {
        let mut extra = self.extra.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, c)) = extra.iter().find(|(n, _)| *n == name) {
            return c.clone();
        }
        let c = Arc::new(AtomicU64::new(0));
        extra.push((name, c.clone()));
        c
    }

    /// A snapshot as JSON fields.
    pub fn snapshot(&self) -> Map<String, Value> {
        let mut m = Map::new();
        for (name, c) in [
            ("events_in", &self.events_in),
            ("events_out", &self.events_out),
            ("bytes_in", &self.bytes_in),
            ("lines_in", &self.lines_in),
            ("errors", &self.errors),
        ] {
            m.insert(name.into(), c.load(Ordering::Relaxed).into());
        }
        let extra = self.extra.lock().unwrap_or_else(|p| p.into_inner());
        for (name, c) in extra.iter() {
            m.insert((*name).into(), c.load(Ordering::Relaxed).into());
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_has_standard_and_extra() {
        let c = StageCounters::default();
        StageCounters::add(&c.lines_in, 3);
        let t = c.extra("lines_truncated");
        StageCounters::add(&t, 2);
        StageCounters::add(&c.extra("lines_truncated"), 1);
        let s = c.snapshot();
        assert_eq!(s["lines_in"], 3);
        assert_eq!(s["lines_truncated"], 3);
        assert_eq!(s["events_out"], 0);
    }
}
