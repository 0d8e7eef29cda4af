//! `filter`: pass only events matching a condition.
//!
//! ```yaml
//! when:                      # pass events matching this (see `condition`)
//!   process.name: sshd
//! unless:                    # ... and drop those matching this
//!   message: {prefix: "Connection closed"}
//! ```
//!
//! Either or both may be given. Events not passed are counted in the
//! stage's `dropped` counter.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use serde::Deserialize;
use serde_yaml_ng::Value as Yaml;

use crate::condition::Condition;
use crate::event::{Batch, Event};
use crate::pipeline::{BuildContext, BuildError, BuiltStage, Outbox, Processor};
use crate::stages::{Module, ModuleKind};

/// Registry entry.
pub const MODULE: Module = Module {
    name: "filter",
    kind: ModuleKind::Transform,
    summary: "pass only events matching a condition",
    build,
};

/// Options of `filter`. Conditions are compiled by hand (not through
/// `Condition`'s `Deserialize`) so errors carry the full dotted path.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilterConfig {
    /// Pass only events matching this.
    #[serde(default)]
    when: Option<Yaml>,
    /// Drop events matching this.
    #[serde(default)]
    unless: Option<Yaml>,
}

fn compile(v: Option<&Yaml>, option: &str) -> Result<Option<Condition>, BuildError> {
    v.map(|v| {
        Condition::from_yaml(v).map_err(|e| {
            let field = if e.path.is_empty() {
                option.to_string()
            } else {
                format!("{option}.{}", e.path)
            };
            BuildError::field(field, e.message)
        })
    })
    .transpose()
}

fn build(ctx: &BuildContext) -> Result<BuiltStage, BuildError> {
    let cfg: FilterConfig = ctx.options()?;
    let when = compile(cfg.when.as_ref(), "when")?;
    let unless = compile(cfg.unless.as_ref(), "unless")?;
    if when.is_none() && unless.is_none() {
        return Err(BuildError::field(
            "when",
            "missing: give `when:` (events to pass), `unless:` (events to drop) or both",
        ));
    }
    Ok(BuiltStage::processor(Filter {
        when,
        unless,
        dropped: ctx.counters.extra("dropped"),
    }))
}

struct Filter {
    when: Option<Condition>,
    unless: Option<Condition>,
    dropped: Arc<AtomicU64>,
}

impl Filter {
    fn pass(&self, event: &Event) -> bool {
        self.when.as_ref().is_none_or(|c| c.matches(event))
            && !self.unless.as_ref().is_some_and(|c| c.matches(event))
    }
}

impl Processor for Filter {
    fn process(&mut self, event: Event, out: &mut Outbox) {
        self.process_batch(vec![event], out);
    }

    fn process_batch(&mut self, batch: Batch, out: &mut Outbox) {
        let dropped = self.dropped.clone();
        super::emit_kept(batch, out, &dropped, |e| self.pass(e));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::keep::test_support::{build, build_err, run};
    use super::*;

    #[test]
    fn when_passes_matching_events_unchanged() {
        let (mut p, counters) = build(&MODULE, "when:\n  process.name: sshd\n").unwrap();
        let (out, errors) = run(
            p.as_mut(),
            vec![
                json!({"process": {"name": "sshd"}, "message": "a"}),
                json!({"process": {"name": "cron"}, "message": "b"}),
                json!({"message": "c"}),
                json!({"process": {"name": "sshd", "pid": 1}, "message": "d"}),
            ],
        );
        assert!(errors.is_empty());
        assert_eq!(
            out,
            [
                json!({"process": {"name": "sshd"}, "message": "a"}),
                json!({"process": {"name": "sshd", "pid": 1}, "message": "d"}),
            ]
        );
        assert_eq!(counters.snapshot()["dropped"], 2);
    }

    #[test]
    fn unless_drops_matching_events() {
        let (mut p, counters) =
            build(&MODULE, "unless:\n  url.path: {suffix: [.png, .css]}\n").unwrap();
        let (out, _) = run(
            p.as_mut(),
            vec![
                json!({"url": {"path": "/a.png"}}),
                json!({"url": {"path": "/.env"}}),
                json!({"message": "no url"}),
            ],
        );
        assert_eq!(
            out,
            [
                json!({"url": {"path": "/.env"}}),
                json!({"message": "no url"})
            ]
        );
        assert_eq!(counters.snapshot()["dropped"], 1);
    }

    #[test]
    fn when_and_unless_together() {
        let (mut p, _) = build(
            &MODULE,
            "when: {http.response.status_code: {range: [400, 499]}}\nunless: {client.ip: [127.0.0.1, '::1']}\n",
        )
        .unwrap();
        let e = |status: i64, ip: &str| json!({"http": {"response": {"status_code": status}}, "client": {"ip": ip}});
        let (out, _) = run(
            p.as_mut(),
            vec![
                e(404, "1.2.3.4"),
                e(404, "127.0.0.1"),
                e(200, "1.2.3.4"),
                e(499, "::1"),
                e(403, "5.6.7.8"),
            ],
        );
        assert_eq!(out, [e(404, "1.2.3.4"), e(403, "5.6.7.8")]);
    }

    #[test]
    fn odd_values_do_not_match_or_panic() {
        let (mut p, _) = build(&MODULE, "when: {message: {regex: '^Failed'}}").unwrap();
        let lossy = String::from_utf8_lossy(b"Failed \xff\xfe").into_owned();
        let (out, _) = run(
            p.as_mut(),
            vec![
                json!({"message": lossy}),
                json!({"message": ["Failed"]}),
                json!({"message": {"Failed": 1}}),
                json!({"message": "x".repeat(1 << 20)}),
            ],
        );
        assert_eq!(out, [json!({"message": "Failed \u{FFFD}\u{FFFD}"})]);
    }

    #[test]
    fn option_errors_carry_the_condition_path() {
        let cases = [
            (
                "{}",
                "when",
                "missing: give `when:` (events to pass), `unless:` (events to drop) or both",
            ),
            (
                "when: {url.path: {suffix: 1}}",
                "when.url.path.suffix",
                "expected a string or a list of strings, found a number",
            ),
            (
                "unless: {any: [{a: {gt: x}}]}",
                "unless.any.0.a.gt",
                "expected a number, found a string",
            ),
            (
                "when: []",
                "when",
                "expected a mapping of field tests (or any/all/not), found a list",
            ),
        ];
        for (yaml, field, message) in cases {
            assert_eq!(
                build_err(&MODULE, yaml),
                (field.to_string(), message.to_string()),
                "{yaml}"
            );
        }
        let (field, message) = build_err(&MODULE, "when: {a: 1}\nwhere: {b: 2}");
        assert_eq!(field, "where");
        assert!(message.contains("unknown field `where`"), "{message}");
    }
}
