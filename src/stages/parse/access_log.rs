//! `parse-access-log`: parse nginx/Apache access log lines.

use crate::pipeline::{BuildContext, BuildError, BuiltStage};
use crate::stages::{Module, ModuleKind};

/// Registry entry.
pub const MODULE: Module = Module {
    name: "parse-access-log",
    kind: ModuleKind::Parser,
    summary: "parse nginx/Apache access log lines",
    build,
};

fn build(_ctx: &BuildContext) -> Result<BuiltStage, BuildError> {
    Err(BuildError::stage("not implemented yet"))
}
