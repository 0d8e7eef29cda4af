//! `parse-json`: parse a field holding JSON into fields.
//!
//! An object's keys are merged at the top level of the event (replacing
//! what was there, shallowly), or the parsed value is put under `target`.
//! A value that is not an object needs a `target`. Keys keep their dots:
//! `{"client.ip": 1}` is the key `client.ip`, not a path.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::common::{LineField, LineParserStage, default_field, json_kind};
use crate::event::{Event, FieldPath};
use crate::pipeline::{BuildContext, BuildError, BuiltStage, Outbox, StageCounters};
use crate::stages::{Module, ModuleKind};

/// Registry entry.
pub const MODULE: Module = Module {
    name: "parse-json",
    kind: ModuleKind::Parser,
    summary: "parse a field holding JSON into fields",
    build,
};

/// Options of `parse-json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonConfig {
    /// The field holding the JSON text.
    #[serde(default = "default_field")]
    field: FieldPath,
    /// Where to put the parsed value (default: merge an object's keys at
    /// the top level).
    #[serde(default)]
    target: Option<FieldPath>,
    /// Pass events whose field does not parse on, besides the error.
    #[serde(default)]
    keep_unparsed: bool,
    /// Drop the source field once parsed (a same-named key in the JSON
    /// still lands there).
    #[serde(default)]
    remove_field: bool,
}

fn build(ctx: &BuildContext) -> Result<BuiltStage, BuildError> {
    let cfg: JsonConfig = ctx.options()?;
    Ok(BuiltStage::processor(JsonStage {
        line: LineField {
            field: cfg.field,
            keep_unparsed: cfg.keep_unparsed,
            keep_original: false,
        },
        target: cfg.target,
        remove_field: cfg.remove_field,
        counters: ctx.counters.clone(),
    }))
}

struct JsonStage {
    line: LineField,
    target: Option<FieldPath>,
    remove_field: bool,
    counters: Arc<StageCounters>,
}

impl JsonStage {
    /// Handles one event; returns the bytes of text it looked at.
    fn handle(&mut self, mut event: Event, out: &mut Outbox) -> usize {
        let text = match self.line.take(&mut event) {
            Ok(text) => text,
            Err(problem) => {
                self.line.reject(event, None, problem, out);
                return 0;
            }
        };
        let len = text.len();
        let value = match serde_json::from_str::<Value>(&text) {
            Ok(value) => value,
            Err(e) => {
                let msg = format!("field `{}` is not valid JSON: {e}", self.line.field);
                self.line.reject(event, Some(text), msg, out);
                return len;
            }
        };
        if self.target.is_none() && !value.is_object() {
            let msg = format!(
                "field `{}` holds {}, not an object; set `target` to keep it",
                self.line.field,
                json_kind(&value)
            );
            self.line.reject(event, Some(text), msg, out);
            return len;
        }
        // Source field first, parsed keys second: the JSON wins a clash.
        if self.remove_field {
            event.remove(&self.line.field);
        } else {
            self.line.restore(&mut event, text);
        }
        match (&self.target, value) {
            (Some(target), value) => event.set(target, value),
            (None, Value::Object(map)) => event.as_map_mut().extend(map),
            // Refused above.
            (None, _) => {}
        }
        out.emit(event);
        len
    }
}

impl LineParserStage for JsonStage {
    fn handle(&mut self, event: Event, out: &mut Outbox) -> usize {
        JsonStage::handle(self, event, out)
    }

    fn counters(&self) -> &StageCounters {
        &self.counters
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::common::testing::{TestStage, build_with};
    use super::*;

    fn stage(options: &str) -> TestStage {
        build_with(build, options).unwrap_or_else(|e| panic!("{options}: {e}"))
    }

    fn one(options: &str, event: Value) -> (Vec<Value>, Vec<String>) {
        let Value::Object(map) = event else {
            panic!("test event must be an object")
        };
        let out = stage(options).run(vec![Event::from_map(map)]);
        (
            out.port(0).iter().map(|e| e.clone().into_value()).collect(),
            out.errors().iter().map(|e| e.message.clone()).collect(),
        )
    }

    #[test]
    fn merges_object_keys_at_top_level() {
        let (events, errors) = one(
            "{}",
            json!({"message": r#"{"user": {"name": "bob"}, "n": 1, "client.ip": "x"}"#, "user": {"id": 7}, "keep": true}),
        );
        assert!(errors.is_empty());
        assert_eq!(
            events,
            [json!({
                "message": r#"{"user": {"name": "bob"}, "n": 1, "client.ip": "x"}"#,
                "user": {"name": "bob"},
                "n": 1,
                "client.ip": "x",
                "keep": true,
            })]
        );
    }

    #[test]
    fn target_and_remove_field() {
        let (events, _) = one(
            "target: parsed.data\nremove_field: true\nfield: log.raw",
            json!({"log": {"raw": "[1, 2]"}, "message": "m"}),
        );
        assert_eq!(
            events,
            [json!({"parsed": {"data": [1, 2]}, "message": "m"})]
        );
        // The JSON's own key wins over the removed (or kept) field.
        let (events, _) = one(
            "remove_field: true",
            json!({"message": r#"{"message": "inner", "a": 1}"#}),
        );
        assert_eq!(events, [json!({"message": "inner", "a": 1})]);
        let (events, _) = one("{}", json!({"message": r#"{"message": "inner"}"#}));
        assert_eq!(events, [json!({"message": "inner"})]);
        let (events, _) = one("remove_field: true", json!({"message": "{}", "x": 1}));
        assert_eq!(events, [json!({"x": 1})]);
    }

    #[test]
    fn non_objects_need_a_target() {
        let (events, errors) = one("{}", json!({"message": "42"}));
        assert!(events.is_empty());
        assert_eq!(
            errors,
            ["field `message` holds a number, not an object; set `target` to keep it"]
        );
        let (events, errors) = one("target: n", json!({"message": "42"}));
        assert!(errors.is_empty());
        assert_eq!(events, [json!({"message": "42", "n": 42})]);
    }

    #[test]
    fn invalid_json_is_an_error_with_the_event() {
        let mut st = stage("{}");
        let out = st.run(vec![
            Event::from_message("{\"a\": "),
            Event::from_message(""),
            Event::from_message("{\"a\": 1} trailing"),
            Event::from_message("\u{FFFD}"),
            Event::new(),
        ]);
        assert!(out.port(0).is_empty());
        let errors = out.errors();
        assert_eq!(errors.len(), 5);
        assert!(
            errors[0]
                .message
                .starts_with("field `message` is not valid JSON: EOF"),
            "{}",
            errors[0].message
        );
        assert_eq!(errors[4].message, "field `message` is missing");
        assert_eq!(
            errors[0].input.as_ref().map(|e| e.clone().into_value()),
            Some(json!({"message": "{\"a\": "}))
        );
        // keep_unparsed passes them on unchanged.
        let mut st = stage("keep_unparsed: true");
        let out = st.run(vec![
            Event::from_message("nope"),
            Event::from_message("{\"a\":1}"),
        ]);
        assert_eq!(
            out.port(0)
                .iter()
                .map(|e| e.clone().into_value())
                .collect::<Vec<_>>(),
            [
                json!({"message": "nope"}),
                json!({"message": "{\"a\":1}", "a": 1})
            ]
        );
        assert_eq!(out.errors().len(), 1);
    }

    #[test]
    fn hostile_input_does_not_crash() {
        // Deep nesting hits serde_json's recursion limit: an error.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let (events, errors) = one("target: x", json!({ "message": deep }));
        assert!(events.is_empty());
        assert!(errors[0].contains("recursion limit"), "{}", errors[0]);
        // A 1 MB string value parses.
        let big = format!(r#"{{"k": "{}"}}"#, "x".repeat(1 << 20));
        let (events, _) = one("remove_field: true", json!({ "message": big }));
        assert_eq!(events[0]["k"].as_str().map(str::len), Some(1 << 20));
        // A non-string field is reported, not parsed.
        let (events, errors) = one("{}", json!({"message": {"already": "parsed"}}));
        assert!(events.is_empty());
        assert_eq!(errors, ["field `message` is an object, not a string"]);
    }

    #[test]
    fn options_are_checked() {
        assert!(build_with(build, "keep_original: true").is_err());
        assert!(build_with(build, "target: ''").is_err());
        let mut st = stage("{}");
        let _ = st.line("{\"a\": 1}");
        assert_eq!(
            st.counters
                .bytes_in
                .load(std::sync::atomic::Ordering::Relaxed),
            8
        );
    }
}
