//! `parse-syslog`: parse RFC 3164 / RFC 5424 syslog lines.

use crate::pipeline::{BuildContext, BuildError, BuiltStage};
use crate::stages::{Module, ModuleKind};

/// Registry entry.
pub const MODULE: Module = Module {
    name: "parse-syslog",
    kind: ModuleKind::Parser,
    summary: "parse RFC 3164 / RFC 5424 syslog lines",
    build,
};

fn build(_ctx: &BuildContext) -> Result<BuiltStage, BuildError> {
    Err(BuildError::stage("not implemented yet"))
}
