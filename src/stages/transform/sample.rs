//! `sample`: pass 1 in N events, or a fraction.
//!
//! ```yaml
//! every: 10          # deterministic: the 1st, 11th, 21st, ... event
//! # or
//! rate: 0.05         # each event passes with probability 0.05
//! seed: 42           # optional, with `rate`: reproducible choices
//! ```
//!
//! Events not passed are counted in the stage's `dropped` counter.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use serde::Deserialize;

use crate::event::{Batch, Event};
use crate::pipeline::{BuildContext, BuildError, BuiltStage, Outbox, Processor};
use crate::stages::{Module, ModuleKind};

/// Registry entry.
pub const MODULE: Module = Module {
    name: "sample",
    kind: ModuleKind::Transform,
    summary: "pass 1 in N events, or a fraction",
    build,
};

/// Options of `sample`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SampleConfig {
    /// Pass one event in `every`.
    #[serde(default)]
    every: Option<u64>,
    /// Pass each event with this probability.
    #[serde(default)]
    rate: Option<f64>,
    /// Seed for `rate`, for reproducible runs.
    #[serde(default)]
    seed: Option<u64>,
}

enum Mode {
    /// Pass when `next` is 0; `next` counts modulo `n`.
    Every {
        n: u64,
        next: u64,
    },
    Rate {
        rate: f64,
        rng: fastrand::Rng,
    },
}

fn build(ctx: &BuildContext) -> Result<BuiltStage, BuildError> {
    let cfg: SampleConfig = ctx.options()?;
    let mode = match (cfg.every, cfg.rate) {
        (Some(_), Some(_)) => {
            return Err(BuildError::field(
                "rate",
                "give either `every` or `rate`, not both",
            ));
        }
        (None, None) => {
            return Err(BuildError::field(
                "every",
                "missing: give `every: N` (one event in N) or `rate: R` (a fraction from 0.0 to 1.0)",
            ));
        }
        (Some(0), None) => return Err(BuildError::field("every", "must be at least 1")),
        (Some(n), None) => {
            if cfg.seed.is_some() {
                return Err(BuildError::field(
                    "seed",
                    "only applies with `rate` (`every` is deterministic)",
                ));
            }
            Mode::Every { n, next: 0 }
        }
        (None, Some(rate)) => {
            // `contains` is false for NaN too.
            if !(0.0..=1.0).contains(&rate) {
                return Err(BuildError::field(
                    "rate",
                    format!("must be between 0.0 and 1.0, got {rate}"),
                ));
            }
            let rng = cfg
                .seed
                .map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed);
            Mode::Rate { rate, rng }
        }
    };
    Ok(BuiltStage::processor(Sample {
        mode,
        dropped: ctx.counters.extra("dropped"),
    }))
}

struct Sample {
    mode: Mode,
    dropped: Arc<AtomicU64>,
}

impl Sample {
    fn pass(&mut self) -> bool {
        match &mut self.mode {
            Mode::Every { n, next } => {
                let pass = *next == 0;
                *next = (*next + 1) % *n;
                pass
            }
            // `f64()` is in [0, 1): rate 1.0 passes all, 0.0 none.
            Mode::Rate { rate, rng } => rng.f64() < *rate,
        }
    }
}

impl Processor for Sample {
    fn process(&mut self, event: Event, out: &mut Outbox) {
        self.process_batch(vec![event], out);
    }

    fn process_batch(&mut self, batch: Batch, out: &mut Outbox) {
        let dropped = self.dropped.clone();
        super::emit_kept(batch, out, &dropped, |_| self.pass());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use serde_json::{Value, json};

    use super::super::keep::test_support::{build, build_err, run};
    use super::*;

    fn numbered(n: u64) -> Vec<Value> {
        (0..n).map(|i| json!({"n": i})).collect()
    }

    fn passed(emitted: &[Value]) -> Vec<u64> {
        emitted.iter().filter_map(|e| e["n"].as_u64()).collect()
    }

    #[test]
    fn every_n_passes_first_then_each_nth_across_batches() {
        let (mut p, counters) = build(&MODULE, "every: 3").unwrap();
        let (out, errors) = run(p.as_mut(), numbered(7));
        assert!(errors.is_empty());
        assert_eq!(passed(&out), [0, 3, 6]);
        // The count carries over to the next batch: events 7, 8 are the
        // 8th and 9th, then the 10th passes.
        let (out, _) = run(
            p.as_mut(),
            vec![json!({"n": 7}), json!({"n": 8}), json!({"n": 9})],
        );
        assert_eq!(passed(&out), [9]);
        assert_eq!(counters.snapshot()["dropped"], 6);
        assert_eq!(out, [json!({"n": 9})]);
    }

    #[test]
    fn every_one_passes_all() {
        let (mut p, counters) = build(&MODULE, "every: 1").unwrap();
        let (out, _) = run(p.as_mut(), numbered(5));
        assert_eq!(passed(&out), [0, 1, 2, 3, 4]);
        assert_eq!(counters.snapshot()["dropped"], 0);
    }

    #[test]
    fn rate_with_seed_is_reproducible_and_roughly_right() {
        let (mut a, counters) = build(&MODULE, "rate: 0.25\nseed: 7").unwrap();
        let (mut b, _) = build(&MODULE, "rate: 0.25\nseed: 7").unwrap();
        let (out_a, _) = run(a.as_mut(), numbered(10_000));
        let (out_b, _) = run(b.as_mut(), numbered(10_000));
        assert_eq!(passed(&out_a), passed(&out_b));
        // Binomial(10000, 0.25): mean 2500, sd ~43; 10 sd either side.
        assert!((2070..=2930).contains(&out_a.len()), "{}", out_a.len());
        let dropped = counters.extra("dropped").load(Ordering::Relaxed);
        assert_eq!(dropped + out_a.len() as u64, 10_000);
    }

    #[test]
    fn rate_bounds() {
        let (mut all, _) = build(&MODULE, "rate: 1.0").unwrap();
        assert_eq!(run(all.as_mut(), numbered(1000)).0.len(), 1000);
        let (mut none, counters) = build(&MODULE, "rate: 0").unwrap();
        assert_eq!(run(none.as_mut(), numbered(1000)).0.len(), 0);
        assert_eq!(counters.snapshot()["dropped"], 1000);
    }

    #[test]
    fn option_errors() {
        let cases = [
            (
                "every: 2\nrate: 0.5",
                "rate",
                "give either `every` or `rate`, not both",
            ),
            (
                "{}",
                "every",
                "missing: give `every: N` (one event in N) or `rate: R` (a fraction from 0.0 to 1.0)",
            ),
            ("every: 0", "every", "must be at least 1"),
            (
                "every: 2\nseed: 1",
                "seed",
                "only applies with `rate` (`every` is deterministic)",
            ),
            ("rate: 1.5", "rate", "must be between 0.0 and 1.0, got 1.5"),
            (
                "rate: -0.1",
                "rate",
                "must be between 0.0 and 1.0, got -0.1",
            ),
            ("rate: .nan", "rate", "must be between 0.0 and 1.0, got NaN"),
        ];
        for (yaml, field, message) in cases {
            assert_eq!(
                build_err(&MODULE, yaml),
                (field.to_string(), message.to_string()),
                "{yaml}"
            );
        }
        let (field, message) = build_err(&MODULE, "every: -1");
        assert_eq!(field, "every");
        assert!(message.contains("invalid value"), "{message}");
    }
}
