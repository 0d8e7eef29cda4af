//! `filter`: pass only events matching a condition.

use crate::pipeline::{BuildContext, BuildError, BuiltStage};
use crate::stages::{Module, ModuleKind};

/// Registry entry.
pub const MODULE: Module = Module {
    name: "filter",
    kind: ModuleKind::Transform,
    summary: "pass only events matching a condition",
    build,
};

fn build(_ctx: &BuildContext) -> Result<BuiltStage, BuildError> {
    Err(BuildError::stage("not implemented yet"))
}
