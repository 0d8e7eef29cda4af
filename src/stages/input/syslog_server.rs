//! `syslog`: receive syslog messages over UDP, TCP and a Unix socket.

use crate::pipeline::{BuildContext, BuildError, BuiltStage};
use crate::stages::{Module, ModuleKind};

/// Registry entry.
pub const MODULE: Module = Module {
    name: "syslog",
    kind: ModuleKind::Input,
    summary: "receive syslog messages over UDP, TCP and a Unix socket",
    build,
};

fn build(_ctx: &BuildContext) -> Result<BuiltStage, BuildError> {
    Err(BuildError::stage("not implemented yet"))
}
