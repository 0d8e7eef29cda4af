//! `stdout`: writes events to standard output as JSON lines or text.

use std::io::{BufWriter, Stdout, Write};

use serde::Deserialize;

use super::format::{EventFormat, FormatKind};
use crate::event::Batch;
use crate::event::Event;
use crate::pipeline::{BuildContext, BuildError, BuiltStage, Outbox, Processor, StageError};
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
    let format = EventFormat::from_options(cfg.format, cfg.template.as_deref())
        .map_err(|(f, m)| BuildError::field(f, m))?;
    Ok(BuiltStage::processor(StdoutOutput {
        format,
        out: BufWriter::with_capacity(64 * 1024, std::io::stdout()),
        scratch: String::new(),
        broken: false,
    }))
}

struct StdoutOutput {
    format: EventFormat,
    out: BufWriter<Stdout>,
    scratch: String,
    /// stdout went away (closed pipe): stop trying, report once.
    broken: bool,
}

impl StdoutOutput {
    fn write_one(&mut self, event: &Event, out: &mut Outbox) {
        if self.broken {
            return;
        }
        if let Err(e) = self.format.write(event, &mut self.scratch, &mut self.out) {
            self.broken = true;
            out.error(format!("cannot write to stdout: {e}"), None);
        }
    }
}

impl Processor for StdoutOutput {
    fn process(&mut self, event: Event, out: &mut Outbox) {
        self.write_one(&event, out);
    }

    fn process_batch(&mut self, batch: Batch, out: &mut Outbox) {
        for event in &batch {
            self.write_one(event, out);
        }
        // Flush per batch so interactive use sees output at once; batches
        // are large under load, so this costs little.
        if !self.broken
            && let Err(e) = self.out.flush()
        {
            self.broken = true;
            out.error(format!("cannot write to stdout: {e}"), None);
        }
    }

    fn finish(&mut self, _out: &mut Outbox) -> Result<(), StageError> {
        if self.broken {
            return Ok(());
        }
        self.out
            .flush()
            .map_err(|e| StageError::new(format!("cannot write to stdout: {e}")))
    }

    fn blocking(&self) -> bool {
        true
    }
}
