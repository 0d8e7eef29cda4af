//! `file`: append events to a file as JSON lines.

use crate::pipeline::{BuildContext, BuildError, BuiltStage};
use crate::stages::{Module, ModuleKind};

/// Registry entry.
pub const MODULE: Module = Module {
    name: "file",
    kind: ModuleKind::Output,
    summary: "append events to a file as JSON lines",
    build,
};

fn build(_ctx: &BuildContext) -> Result<BuiltStage, BuildError> {
    Err(BuildError::stage("not implemented yet"))
}
