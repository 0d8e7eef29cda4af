//! `rename`: rename fields.
//!
//! ```yaml
//! fields:
//!   remoteIp: client.ip
//!   src: source.ip
//! ```
//!
//! Every source is read from the event as it arrived, then every target is
//! written, so `{a: b, b: a}` swaps two fields. A missing source is a no-op
//! (the target is left as it was); a present source overwrites its target,
//! whatever was there (an object included). Sources may not overlap each
//! other (`a` and `a.b`), nor may targets, since the result would depend on
//! the order.

use serde::Deserialize;
use serde_json::Value;
use serde_yaml_ng::{Mapping, Value as Yaml};

use super::keep::nested_or_same;
use crate::event::{Event, FieldPath};
use crate::pipeline::{BuildContext, BuildError, BuiltStage, Outbox, Processor};
use crate::stages::{Module, ModuleKind};

/// Registry entry.
pub const MODULE: Module = Module {
    name: "rename",
    kind: ModuleKind::Transform,
    summary: "rename fields",
    build,
};

/// Options of `rename`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameConfig {
    /// `old.path: new.path`, in order.
    fields: Mapping,
}

fn build(ctx: &BuildContext) -> Result<BuiltStage, BuildError> {
    let cfg: RenameConfig = ctx.options()?;
    let pairs = parse_pairs(&cfg.fields)?;
    Ok(BuiltStage::processor(Rename {
        scratch: Vec::with_capacity(pairs.len()),
        pairs,
    }))
}

fn parse_pairs(fields: &Mapping) -> Result<Vec<(FieldPath, FieldPath)>, BuildError> {
    if fields.is_empty() {
        return Err(BuildError::field("fields", "the mapping is empty"));
    }
    let mut pairs: Vec<(FieldPath, FieldPath)> = Vec::with_capacity(fields.len());
    for (k, v) in fields {
        let Some(from) = k.as_str() else {
            return Err(BuildError::field("fields", "field names must be strings"));
        };
        let here = format!("fields.{from}");
        let Yaml::String(to) = v else {
            return Err(BuildError::field(here, "expected the new field path"));
        };
        let from = FieldPath::parse(from).map_err(|m| BuildError::field(&here, m))?;
        let to = FieldPath::parse(to).map_err(|m| BuildError::field(&here, m))?;
        if from == to {
            return Err(BuildError::field(
                here,
                "a field cannot be renamed to itself",
            ));
        }
        for (f, t) in &pairs {
            if nested_or_same(f, &from) {
                return Err(BuildError::field(
                    here,
                    format!("source `{from}` overlaps source `{f}`"),
                ));
            }
            if nested_or_same(t, &to) {
                return Err(BuildError::field(
                    here,
                    format!("target `{to}` overlaps target `{t}` (of `{f}`)"),
                ));
            }
        }
        pairs.push((from, to));
    }
    Ok(pairs)
}

struct Rename {
    pairs: Vec<(FieldPath, FieldPath)>,
    /// Values taken out of the event, reused between events.
    scratch: Vec<Option<Value>>,
}

impl Processor for Rename {
    fn process(&mut self, mut event: Event, out: &mut Outbox) {
        self.scratch.clear();
        self.scratch
            .extend(self.pairs.iter().map(|(from, _)| event.remove(from)));
        for ((_, to), value) in self.pairs.iter().zip(self.scratch.drain(..)) {
            if let Some(value) = value {
                event.set(to, value);
            }
        }
        out.emit(event);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::keep::test_support::{build_err, one, processor};
    use super::*;

    #[test]
    fn renames_nested_and_prunes() {
        let mut p = processor(
            &MODULE,
            "fields:\n  remoteIp: client.ip\n  log.offset: offset\n",
        );
        assert_eq!(
            one(
                p.as_mut(),
                json!({"remoteIp": "1.2.3.4", "log": {"offset": 7}, "client": {"port": 22}})
            ),
            json!({"client": {"ip": "1.2.3.4", "port": 22}, "offset": 7})
        );
    }

    #[test]
    fn missing_source_is_a_noop_and_null_is_moved() {
        let mut p = processor(&MODULE, "fields: {a: b}");
        assert_eq!(one(p.as_mut(), json!({"b": 1})), json!({"b": 1}));
        assert_eq!(one(p.as_mut(), json!({"a": null})), json!({"b": null}));
        assert_eq!(
            one(p.as_mut(), json!({"x": {"a": 1}})),
            json!({"x": {"a": 1}})
        );
    }

    #[test]
    fn overwrites_existing_target() {
        let mut p = processor(&MODULE, "fields: {a: b.c, x.y: x}");
        assert_eq!(
            one(
                p.as_mut(),
                json!({"a": 1, "b": {"c": 2, "d": 3}, "x": {"y": 4, "z": 5}})
            ),
            json!({"b": {"c": 1, "d": 3}, "x": 4})
        );
        let mut p = processor(&MODULE, "fields: {a: b}");
        assert_eq!(
            one(p.as_mut(), json!({"a": 1, "b": {"deep": true}})),
            json!({"b": 1})
        );
    }

    #[test]
    fn renames_are_simultaneous() {
        let mut p = processor(&MODULE, "fields: {a: b, b: a}");
        assert_eq!(
            one(p.as_mut(), json!({"a": 1, "b": 2})),
            json!({"a": 2, "b": 1})
        );
        let mut p = processor(&MODULE, "fields: {a: b, b: c}");
        assert_eq!(
            one(p.as_mut(), json!({"a": 1, "b": 2})),
            json!({"b": 1, "c": 2})
        );
        assert_eq!(one(p.as_mut(), json!({"a": 1})), json!({"b": 1}));
        // Into its own subtree.
        let mut p = processor(&MODULE, "fields: {a: a.inner}");
        assert_eq!(
            one(p.as_mut(), json!({"a": "v"})),
            json!({"a": {"inner": "v"}})
        );
    }

    #[test]
    fn option_errors() {
        let cases = [
            ("fields: {}", "fields", "the mapping is empty"),
            ("fields: {a: 1}", "fields.a", "expected the new field path"),
            (
                "fields: {a: a}",
                "fields.a",
                "a field cannot be renamed to itself",
            ),
            (
                "fields: {a: 'b..c'}",
                "fields.a",
                "field path `b..c` has an empty segment",
            ),
            (
                "fields: {a: x, a.b: y}",
                "fields.a.b",
                "source `a.b` overlaps source `a`",
            ),
            (
                "fields: {a: x, b: x.y}",
                "fields.b",
                "target `x.y` overlaps target `x` (of `a`)",
            ),
            (
                "fields: {a: x, b: x}",
                "fields.b",
                "target `x` overlaps target `x` (of `a`)",
            ),
            ("fields: {1: x}", "fields", "field names must be strings"),
        ];
        for (yaml, field, message) in cases {
            assert_eq!(
                build_err(&MODULE, yaml),
                (field.to_string(), message.to_string()),
                "{yaml}"
            );
        }
    }
}
