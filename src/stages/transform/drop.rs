//! `drop`: remove fields.
//!
//! ```yaml
//! fields: [log.offset, user_agent.original]
//! ```
//!
//! Missing fields are ignored; parent objects left empty are removed too
//! (dropping `log.offset` from `{"log": {"offset": 1}}` leaves no `log`).

use serde::Deserialize;

use super::keep::field_list;
use crate::event::{Event, FieldPath};
use crate::pipeline::{BuildContext, BuildError, BuiltStage, Outbox, Processor};
use crate::stages::{Module, ModuleKind};

/// Registry entry.
pub const MODULE: Module = Module {
    name: "drop",
    kind: ModuleKind::Transform,
    summary: "remove fields",
    build,
};

/// Options of `drop`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DropConfig {
    /// Paths to remove.
    fields: Vec<String>,
}

fn build(ctx: &BuildContext) -> Result<BuiltStage, BuildError> {
    let cfg: DropConfig = ctx.options()?;
    let fields = field_list(&cfg.fields, "fields")?;
    Ok(BuiltStage::processor(Drop { fields }))
}

struct Drop {
    fields: Vec<FieldPath>,
}

impl Processor for Drop {
    fn process(&mut self, mut event: Event, out: &mut Outbox) {
        for f in &self.fields {
            event.remove(f);
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
    fn removes_fields_and_prunes_empty_parents() {
        let mut p = processor(
            &MODULE,
            "fields: [log.offset, user_agent.original, message]",
        );
        assert_eq!(
            one(
                p.as_mut(),
                json!({
                    "log": {"offset": 5},
                    "user_agent": {"original": "curl", "name": "curl"},
                    "message": "m",
                    "host": {"name": "h"}
                })
            ),
            json!({"user_agent": {"name": "curl"}, "host": {"name": "h"}})
        );
    }

    #[test]
    fn missing_fields_and_scalar_parents_are_left_alone() {
        let mut p = processor(&MODULE, "fields: [a.b, c]");
        assert_eq!(
            one(p.as_mut(), json!({"a": "scalar", "d": null})),
            json!({"a": "scalar", "d": null})
        );
        assert_eq!(one(p.as_mut(), json!({})), json!({}));
        assert_eq!(
            one(p.as_mut(), json!({"c": null, "a": {"b": [1]}})),
            json!({})
        );
    }

    #[test]
    fn option_errors() {
        assert_eq!(
            build_err(&MODULE, "fields: []"),
            ("fields".to_string(), "the list is empty".to_string())
        );
        assert_eq!(
            build_err(&MODULE, "fields: [a, 'a..b']"),
            (
                "fields.1".to_string(),
                "field path `a..b` has an empty segment".to_string()
            )
        );
        let (field, message) = build_err(&MODULE, "fields: a");
        assert_eq!(field, "fields");
        assert!(message.contains("expected a sequence"), "{message}");
    }
}
