//! `keep`: keep only the listed fields.
//!
//! ```yaml
//! fields: [message, client.ip, url.path]      # keep these, drop the rest
//! fields:                                     # target: first present source
//!   client.ip: [client.ip, source.ip, remoteIp]
//!   msg: message
//! fields:                                     # both, mixed
//!   - message
//!   - client.ip: [client.ip, source.ip]
//! ```
//!
//! A source counts as present when it exists and is not `null`. Nested paths
//! keep their nesting (`client.ip` is written as `{"client": {"ip": ...}}`).
//! Entries are written in order, so when targets overlap (`a` and `a.b`) the
//! later one is written over the earlier one, as `Event::set` does. An event
//! that has none of the fields goes on as an empty object.

use serde::Deserialize;
use serde_yaml_ng::Value as Yaml;

use crate::event::{Event, FieldPath};
use crate::pipeline::{BuildContext, BuildError, BuiltStage, Outbox, Processor};
use crate::stages::{Module, ModuleKind};

/// Registry entry.
pub const MODULE: Module = Module {
    name: "keep",
    kind: ModuleKind::Transform,
    summary: "keep only the listed fields",
    build,
};

/// Options of `keep`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeepConfig {
    /// A list of paths, a mapping `target: source(s)`, or a list mixing
    /// paths and one-entry mappings.
    fields: Yaml,
}

/// One output field and where to take it from.
#[derive(Debug)]
struct Rule {
    target: FieldPath,
    sources: Vec<FieldPath>,
}

fn build(ctx: &BuildContext) -> Result<BuiltStage, BuildError> {
    let cfg: KeepConfig = ctx.options()?;
    let rules = parse_rules(&cfg.fields)?;
    let all_sources: Vec<&FieldPath> = rules.iter().flat_map(|r| &r.sources).collect();
    // Moving values out of the input is cheaper than cloning, but only safe
    // when no value is read twice (same or nested sources).
    let can_move = all_sources
        .iter()
        .enumerate()
        .all(|(i, a)| all_sources[i + 1..].iter().all(|b| !nested_or_same(a, b)));
    Ok(BuiltStage::processor(Keep { rules, can_move }))
}

fn parse_rules(v: &Yaml) -> Result<Vec<Rule>, BuildError> {
    let mut rules = Vec::new();
    match v {
        Yaml::Sequence(items) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                let here = format!("fields.{i}");
                match item {
                    Yaml::String(s) => {
                        let p = path(s, &here)?;
                        rules.push(Rule {
                            target: p.clone(),
                            sources: vec![p],
                        });
                    }
                    Yaml::Mapping(m) if !m.is_empty() => {
                        for (k, v) in m {
                            rules.push(rule(k, v, &here)?);
                        }
                    }
                    _ => {
                        return Err(BuildError::field(
                            here,
                            "expected a field path or a mapping `target: source(s)`",
                        ));
                    }
                }
            }
        }
        Yaml::Mapping(m) if !m.is_empty() => {
            for (k, v) in m {
                rules.push(rule(k, v, "fields")?);
            }
        }
        _ => {
            return Err(BuildError::field(
                "fields",
                "expected a non-empty list of field paths or a mapping `target: source(s)`",
            ));
        }
    }
    for (i, r) in rules.iter().enumerate() {
        if rules[..i].iter().any(|o| o.target == r.target) {
            return Err(BuildError::field(
                format!("fields.{}", r.target),
                format!("`{}` is listed twice", r.target),
            ));
        }
    }
    Ok(rules)
}

fn path(text: &str, at: &str) -> Result<FieldPath, BuildError> {
    FieldPath::parse(text).map_err(|m| BuildError::field(at, m))
}

/// `target: source` or `target: [source, ...]`.
fn rule(key: &Yaml, value: &Yaml, parent: &str) -> Result<Rule, BuildError> {
    let Some(key) = key.as_str() else {
        return Err(BuildError::field(
            parent,
            "target field names must be strings",
        ));
    };
    let here = format!("{parent}.{key}");
    let target = path(key, &here)?;
    let sources = match value {
        Yaml::String(s) => vec![path(s, &here)?],
        Yaml::Sequence(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Yaml::String(s) => path(s, &format!("{here}.{i}")),
                _ => Err(BuildError::field(
                    format!("{here}.{i}"),
                    "expected a field path",
                )),
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(BuildError::field(
                here,
                "expected a source field path or a non-empty list of them",
            ));
        }
    };
    Ok(Rule { target, sources })
}

/// Parses a non-empty list of paths; errors name `at.N`.
pub(super) fn field_list(items: &[String], at: &str) -> Result<Vec<FieldPath>, BuildError> {
    if items.is_empty() {
        return Err(BuildError::field(at, "the list is empty"));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, s)| path(s, &format!("{at}.{i}")))
        .collect()
}

/// True when `a` and `b` are the same path or one lies inside the other
/// (`a` / `a.b`).
pub(super) fn nested_or_same(a: &FieldPath, b: &FieldPath) -> bool {
    let (a, b) = (a.as_str(), b.as_str());
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    long.strip_prefix(short)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

struct Keep {
    rules: Vec<Rule>,
    can_move: bool,
}

impl Processor for Keep {
    fn process(&mut self, mut event: Event, out: &mut Outbox) {
        let mut kept = Event::new();
        for rule in &self.rules {
            let Some(source) = rule
                .sources
                .iter()
                .find(|s| event.get(s).is_some_and(|v| !v.is_null()))
            else {
                continue;
            };
            let value = if self.can_move {
                event.remove(source)
            } else {
                event.get(source).cloned()
            };
            if let Some(value) = value {
                kept.set(&rule.target, value);
            }
        }
        out.emit(kept);
    }
}

/// Helpers shared by the transform tests.
#[cfg(test)]
pub(crate) mod test_support {
    use std::path::Path;
    use std::sync::Arc;

    use serde_json::Value;
    use serde_yaml_ng::Mapping;

    use crate::event::Event;
    use crate::pipeline::{BuildContext, BuildError, Outbox, Processor, StageBody, StageCounters};
    use crate::stages::Module;

    /// Builds `module` from YAML options.
    pub fn build(
        module: &Module,
        yaml: &str,
    ) -> Result<(Box<dyn Processor>, Arc<StageCounters>), BuildError> {
        let options: Mapping = serde_yaml_ng::from_str(yaml).expect("test YAML");
        let counters = Arc::new(StageCounters::default());
        let ctx = BuildContext {
            stage: "test",
            options: &options,
            base_dir: Path::new("."),
            counters: counters.clone(),
            settings: &crate::config::Settings::default(),
        };
        match (module.build)(&ctx)?.body {
            StageBody::Processor(p) => Ok((p, counters)),
            StageBody::Input(_) => panic!("not a processor"),
        }
    }

    /// Builds `module`, expecting success.
    pub fn processor(module: &Module, yaml: &str) -> Box<dyn Processor> {
        match build(module, yaml) {
            Ok((p, _)) => p,
            Err(e) => panic!("{yaml}: {e:?}"),
        }
    }

    /// Builds `module`, expecting an error: `(field, message)`.
    pub fn build_err(module: &Module, yaml: &str) -> (String, String) {
        match build(module, yaml) {
            Ok(_) => panic!("{yaml}: built"),
            Err(e) => (e.field.unwrap_or_default(), e.message),
        }
    }

    /// An event from a JSON object.
    pub fn ev(v: Value) -> Event {
        match v {
            Value::Object(m) => Event::from_map(m),
            other => panic!("not an object: {other}"),
        }
    }

    /// Runs events through `p` as one batch: emitted events and errors
    /// (message, input event).
    pub fn run(p: &mut dyn Processor, events: Vec<Value>) -> (Vec<Value>, Vec<(String, Value)>) {
        let mut out = Outbox::with_ports(1);
        p.process_batch(events.into_iter().map(ev).collect(), &mut out);
        let emitted = out
            .take_port(0)
            .into_iter()
            .map(Event::into_value)
            .collect();
        let errors = out
            .take_errors()
            .into_iter()
            .map(|e| (e.message, e.input.map_or(Value::Null, Event::into_value)))
            .collect();
        (emitted, errors)
    }

    /// Runs one event and expects exactly one event out and no error.
    pub fn one(p: &mut dyn Processor, event: Value) -> Value {
        let (mut emitted, errors) = run(p, vec![event]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(emitted.len(), 1, "{emitted:?}");
        emitted.remove(0)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::test_support::{build_err, one, processor};
    use super::*;

    #[test]
    fn list_keeps_listed_fields_nested() {
        let mut p = processor(&MODULE, "fields: [message, client.ip, log.file.path]");
        let out = one(
            p.as_mut(),
            json!({
                "message": "m",
                "client": {"ip": "1.2.3.4", "port": 22},
                "log": {"file": {"path": "/x", "size": 3}, "offset": 5},
                "host": {"name": "h"}
            }),
        );
        assert_eq!(
            out,
            json!({"message": "m", "client": {"ip": "1.2.3.4"}, "log": {"file": {"path": "/x"}}})
        );
    }

    #[test]
    fn missing_and_null_fields_are_skipped() {
        let mut p = processor(&MODULE, "fields: [a, b.c, d]");
        let out = one(p.as_mut(), json!({"a": null, "b": "scalar", "e": 1}));
        assert_eq!(out, json!({}));
        let out = one(
            p.as_mut(),
            json!({"a": 0, "b": {"c": [1, 2]}, "d": {"x": {}}}),
        );
        assert_eq!(out, json!({"a": 0, "b": {"c": [1, 2]}, "d": {"x": {}}}));
    }

    #[test]
    fn mapping_takes_first_present_source() {
        let mut p = processor(
            &MODULE,
            "fields:\n  client.ip: [client.ip, source.ip, remoteIp]\n  msg: message\n",
        );
        assert_eq!(
            one(
                p.as_mut(),
                json!({"remoteIp": "9.9.9.9", "source": {"ip": "5.5.5.5"}, "message": "x"})
            ),
            json!({"client": {"ip": "5.5.5.5"}, "msg": "x"})
        );
        assert_eq!(
            one(
                p.as_mut(),
                json!({"remoteIp": "9.9.9.9", "client": {"ip": null}})
            ),
            json!({"client": {"ip": "9.9.9.9"}})
        );
        assert_eq!(
            one(
                p.as_mut(),
                json!({"client": {"ip": "1.1.1.1", "port": 1}, "remoteIp": "9.9.9.9"})
            ),
            json!({"client": {"ip": "1.1.1.1"}})
        );
        assert_eq!(one(p.as_mut(), json!({"other": 1})), json!({}));
    }

    #[test]
    fn mixed_list() {
        let mut p = processor(
            &MODULE,
            "fields:\n  - message\n  - ip: [client.ip, source.ip]\n",
        );
        assert_eq!(
            one(
                p.as_mut(),
                json!({"message": "m", "source": {"ip": "2.2.2.2"}, "z": 1})
            ),
            json!({"message": "m", "ip": "2.2.2.2"})
        );
    }

    #[test]
    fn shared_and_nested_sources_are_copied_not_moved() {
        let mut p = processor(&MODULE, "fields:\n  a: x\n  b: x\n  c: [y.z]\n  d: y\n");
        assert_eq!(
            one(p.as_mut(), json!({"x": "v", "y": {"z": 1, "w": 2}})),
            json!({"a": "v", "b": "v", "c": 1, "d": {"z": 1, "w": 2}})
        );
        // Overlapping targets: later entries are written over earlier ones.
        let mut p = processor(&MODULE, "fields: [a.b, a]");
        assert_eq!(
            one(p.as_mut(), json!({"a": {"b": 1, "c": 2}})),
            json!({"a": {"b": 1, "c": 2}})
        );
    }

    #[test]
    fn odd_values_pass_through() {
        let lossy = String::from_utf8_lossy(b"x\xff").into_owned();
        let huge = "y".repeat(1 << 20);
        let mut p = processor(&MODULE, "fields: [a, b]");
        assert_eq!(
            one(p.as_mut(), json!({"a": lossy, "b": huge, "c": 1})),
            json!({"a": "x\u{FFFD}", "b": "y".repeat(1 << 20)})
        );
    }

    #[test]
    fn option_errors_name_the_field() {
        let cases = [
            (
                "fields: []",
                "fields",
                "expected a non-empty list of field paths or a mapping `target: source(s)`",
            ),
            (
                "fields: message",
                "fields",
                "expected a non-empty list of field paths or a mapping `target: source(s)`",
            ),
            (
                "fields: [a, 5]",
                "fields.1",
                "expected a field path or a mapping `target: source(s)`",
            ),
            (
                "fields: [a, 'b..c']",
                "fields.1",
                "field path `b..c` has an empty segment",
            ),
            (
                "fields: {a: []}",
                "fields.a",
                "expected a source field path or a non-empty list of them",
            ),
            ("fields: {a: [b, 1]}", "fields.a.1", "expected a field path"),
            (
                "fields: [{a: [b, '']}]",
                "fields.0.a.1",
                "field path is empty",
            ),
            ("fields: [a, {a: b}]", "fields.a", "`a` is listed twice"),
        ];
        for (yaml, field, message) in cases {
            assert_eq!(
                build_err(&MODULE, yaml),
                (field.to_string(), message.to_string()),
                "{yaml}"
            );
        }
        let (field, message) = build_err(&MODULE, "fields: [a]\nextra: 1");
        assert_eq!(field, "extra");
        assert!(message.contains("unknown field `extra`"), "{message}");
        let (field, message) = build_err(&MODULE, "{}");
        assert_eq!(field, "");
        assert!(message.contains("missing field `fields`"), "{message}");
    }

    #[test]
    fn nested_or_same_is_by_segment() {
        let p = |s: &str| FieldPath::parse(s).unwrap();
        assert!(nested_or_same(&p("a"), &p("a")));
        assert!(nested_or_same(&p("a"), &p("a.b")));
        assert!(nested_or_same(&p("a.b.c"), &p("a.b")));
        assert!(!nested_or_same(&p("a"), &p("ab")));
        assert!(!nested_or_same(&p("a.b"), &p("a.c")));
    }
}
