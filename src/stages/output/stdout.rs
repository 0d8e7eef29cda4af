//! `stdout`: writes events to standard output as JSON lines or text.

use std::io::Stdout;

use serde::Deserialize;

use super::format::{EventFormat, EventWriter, FormatKind};
use crate::event::{Batch, Event};
use crate::pipeline::{BuildContext, BuildError, BuiltStage, Outbox, Processor};
use crate::stages::{Module, ModuleKind};

/// Registry entry.
pub const MODULE: Module = Module {
    name: "stdout",
    kind: ModuleKind::Output,
    summary: "write events to standard output (JSON lines or a text template)",
    build,
};

/// Options of `stdout`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StdoutConfig {
    /// `json` (default) or `text`.
    #[serde(default)]
    format: Option<FormatKind>,
    /// Text template with `{field.path}` placeholders; implies `text`.
    #[serde(default)]
    template: Option<String>,
}

fn build(ctx: &BuildContext) -> Result<BuiltStage, BuildError> {
    let cfg: StdoutConfig = ctx.options()?;
    let format = EventFormat::from_options(cfg.format, cfg.template.as_deref())?;
    Ok(BuiltStage::processor(StdoutOutput {
        writer: EventWriter::new(format),
        out: std::io::stdout(),
        broken: false,
    }))
}

struct StdoutOutput {
    writer: EventWriter,
    out: Stdout,
    /// stdout went away (closed pipe): stop trying, report once.
    broken: bool,
}

impl Processor for StdoutOutput {
    fn process(&mut self, event: Event, out: &mut Outbox) {
        self.process_batch(vec![event], out);
    }

    fn process_batch(&mut self, batch: Batch, out: &mut Outbox) {
        if self.broken {
            return;
        }
        // Written and flushed per batch so interactive use sees output at
        // once; batches are large under load, so this costs little.
        if let Err(e) = self.writer.write_batch(&batch, &mut self.out) {
            self.broken = true;
            out.error(format!("cannot write to stdout: {e}"), None);
        }
    }

    fn blocking(&self) -> bool {
        true
    }
}
