//! `log`: write events through the process log.

use crate::pipeline::{BuildContext, BuildError, BuiltStage};
use crate::stages::{Module, ModuleKind};

/// Registry entry.
pub const MODULE: Module = Module {
    name: "log",
    kind: ModuleKind::Output,
    summary: "write events through the process log",
    build,
};

fn build(_ctx: &BuildContext) -> Result<BuiltStage, BuildError> {
    Err(BuildError::stage("not implemented yet"))
}
