//! `tail`: follow files and globs as they grow, across rotations.

use crate::pipeline::{BuildContext, BuildError, BuiltStage};
use crate::stages::{Module, ModuleKind};

/// Registry entry.
pub const MODULE: Module = Module {
    name: "tail",
    kind: ModuleKind::Input,
    summary: "follow files and globs as they grow, across rotations",
    build,
};

fn build(_ctx: &BuildContext) -> Result<BuiltStage, BuildError> {
    Err(BuildError::stage("not implemented yet"))
}
