//! `stdin`: one event per line of standard input, until end of input.

use std::io::BufReader;

use serde::Deserialize;

use super::lines::{DEFAULT_MAX_LINE_BYTES, pump, spawn_reader};
use crate::pipeline::{
    BoxFuture, BuildContext, BuildError, BuiltStage, Input, InputContext, StageError,
};
use crate::stages::{Module, ModuleKind};

/// Registry entry.
pub const MODULE: Module = Module {
    name: "stdin",
    kind: ModuleKind::Input,
    summary: "read lines from standard input until it ends",
    build,
};

/// Options of `stdin`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StdinConfig {
    /// Longer lines are truncated (and counted).
    #[serde(default = "default_max")]
    max_line_bytes: usize,
}

fn default_max() -> usize {
    DEFAULT_MAX_LINE_BYTES
}

fn build(ctx: &BuildContext) -> Result<BuiltStage, BuildError> {
    let cfg: StdinConfig = ctx.options()?;
    if cfg.max_line_bytes == 0 {
        return Err(BuildError::field("max_line_bytes", "must be at least 1"));
    }
    Ok(BuiltStage::input(StdinInput {
        max_line_bytes: cfg.max_line_bytes,
    }))
}

struct StdinInput {
    max_line_bytes: usize,
}

impl Input for StdinInput {
    fn run(self: Box<Self>, mut ctx: InputContext) -> BoxFuture<Result<(), StageError>> {
        Box::pin(async move {
            let reader = BufReader::with_capacity(64 * 1024, std::io::stdin());
            let mut rx = spawn_reader("stdin".into(), reader, self.max_line_bytes, None)
                .map_err(|e| StageError::new(format!("cannot start reading stdin: {e}")))?;
            pump(&mut rx, &mut ctx, "stdin").await?;
            Ok(())
        })
    }
}
