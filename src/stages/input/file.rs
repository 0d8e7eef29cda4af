//! `file`: read files (paths and globs) once to the end.

use crate::pipeline::{BuildContext, BuildError, BuiltStage};
use crate::stages::{Module, ModuleKind};

/// Registry entry.
pub const MODULE: Module = Module {
    name: "file",
    kind: ModuleKind::Input,
    summary: "read files (paths and globs) once to the end",
    build,
};

fn build(_ctx: &BuildContext) -> Result<BuiltStage, BuildError> {
    Err(BuildError::stage("not implemented yet"))
}
