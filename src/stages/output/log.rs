//! `log`: writes each event as one line through the process log (stderr).
//!
//! The line is the `template:` when given, else the `message` field, else the
//! event as compact JSON. Control characters are escaped: log text is often
//! attacker-controlled, and a newline in it must not forge a log line.

use serde::Deserialize;

use super::format::{EventFormat, FormatKind, TextTemplate};
use crate::event::{Event, fields};
use crate::pipeline::{BuildContext, BuildError, BuiltStage, Outbox, Processor};
use crate::stages::{Module, ModuleKind};

/// Registry entry.
pub const MODULE: Module = Module {
    name: "log",
    kind: ModuleKind::Output,
    summary: "write each event as one line through the process log",
    build,
};

/// The `level:` option.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Level {
    Debug,
    #[default]
    Info,
    Warn,
    Error,
}

/// Options of `log`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogConfig {
    /// The log level of the lines (default `info`).
    #[serde(default)]
    level: Level,
    /// `json`: always the whole event; `text` (default): the template or the message.
    #[serde(default)]
    format: Option<FormatKind>,
    /// Text template with `{field.path}` placeholders.
    #[serde(default)]
    template: Option<String>,
}

/// How a line is made from an event.
#[derive(Debug)]
enum Render {
    /// The whole event as compact JSON.
    Json,
    /// A text template.
    Template(TextTemplate),
    /// The `message` field, or the event as JSON when there is none.
    MessageOrJson,
}

fn build(ctx: &BuildContext) -> Result<BuiltStage, BuildError> {
    LogOutput::configure(ctx).map(BuiltStage::processor)
}

struct LogOutput {
    stage: String,
    level: Level,
    render: Render,
    scratch: String,
}

impl LogOutput {
    fn configure(ctx: &BuildContext) -> Result<Self, BuildError> {
        let cfg: LogConfig = ctx.options()?;
        let render = match (cfg.format, cfg.template.as_deref()) {
            (None | Some(FormatKind::Text), None) => Render::MessageOrJson,
            (format, template) => match EventFormat::from_options(format, template)? {
                EventFormat::Json => Render::Json,
                EventFormat::Text(t) => Render::Template(t),
            },
        };
        Ok(Self {
            stage: ctx.stage.to_string(),
            level: cfg.level,
            render,
            scratch: String::new(),
        })
    }

    /// The line for `event`, control characters escaped.
    fn line(&mut self, event: &Event) -> String {
        self.scratch.clear();
        match &self.render {
            Render::Template(t) => t.render(event, &mut self.scratch),
            Render::MessageOrJson => match event.get_str(&fields::MESSAGE) {
                Some(m) => self.scratch.push_str(m),
                None => self.scratch.push_str(&json(event)),
            },
            Render::Json => self.scratch.push_str(&json(event)),
        }
        escape_controls(&self.scratch)
    }
}

fn json(event: &Event) -> String {
    // A map with string keys always serializes; the fallback is never used.
    serde_json::to_string(event.as_map()).unwrap_or_default()
}

/// `text` with control characters (newlines, escape sequences) written as
/// Rust escapes, so one event is always one line.
fn escape_controls(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

impl Processor for LogOutput {
    fn process(&mut self, event: Event, _out: &mut Outbox) {
        let line = self.line(&event);
        let stage = self.stage.as_str();
        match self.level {
            Level::Debug => tracing::debug!(stage, "{line}"),
            Level::Info => tracing::info!(stage, "{line}"),
            Level::Warn => tracing::warn!(stage, "{line}"),
            Level::Error => tracing::error!(stage, "{line}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::event::FieldPath;
    use crate::pipeline::StageCounters;

    fn log_output(yaml: &str) -> Result<LogOutput, BuildError> {
        let opts: serde_yaml_ng::Mapping = serde_yaml_ng::from_str(yaml).unwrap();
        LogOutput::configure(&BuildContext {
            stage: "show",
            options: &opts,
            base_dir: Path::new("."),
            counters: Arc::new(StageCounters::default()),
            settings: &crate::config::Settings::default(),
        })
    }

    fn event() -> Event {
        let mut e = Event::from_message("Failed password\nFAKE LINE");
        e.set(&FieldPath::parse("client.ip").unwrap(), "192.0.2.7");
        e
    }

    #[test]
    fn default_is_message_escaped() {
        let mut o = log_output("{}").unwrap();
        assert_eq!(o.level, Level::Info);
        assert_eq!(o.line(&event()), "Failed password\\nFAKE LINE");
    }

    #[test]
    fn without_message_is_json() {
        let mut o = log_output("level: warn").unwrap();
        assert_eq!(o.level, Level::Warn);
        let mut e = Event::new();
        e.set(&FieldPath::parse("a.b").unwrap(), 1);
        assert_eq!(o.line(&e), r#"{"a":{"b":1}}"#);
    }

    #[test]
    fn template_and_json() {
        let mut o = log_output("template: \"ban {client.ip}\"").unwrap();
        assert_eq!(o.line(&event()), "ban 192.0.2.7");
        let mut o = log_output("format: json\nlevel: error").unwrap();
        assert_eq!(
            o.line(&event()),
            r#"{"client":{"ip":"192.0.2.7"},"message":"Failed password\nFAKE LINE"}"#
        );
    }

    #[test]
    fn bad_options() {
        let e = log_output("level: loud").err().unwrap();
        assert_eq!(e.field.as_deref(), Some("level"));
        let e = log_output("template: \"{oops\"").err().unwrap();
        assert_eq!(e.field.as_deref(), Some("template"));
        let e = log_output("format: json\ntemplate: x").err().unwrap();
        assert_eq!(e.field.as_deref(), Some("template"));
    }
}
