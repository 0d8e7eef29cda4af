//! The stage modules and the registry that maps module names to builders.
//!
//! Adding a module: write its file under `input/`, `parse/`, `transform/` or
//! `output/`, then add one line to [`MODULES`].

pub mod action;
pub mod input;
pub mod output;
pub mod parse;
pub mod transform;

use std::fmt;

use crate::pipeline::{BuildContext, BuildError, BuiltStage};

/// Events per batch sent by inputs: large enough to amortise queue costs,
/// small enough to keep latency and memory low.
pub const BATCH_SIZE: usize = 128;

/// What role a module plays in the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleKind {
    /// Produces events; reads no channel.
    Input,
    /// Turns text into fields.
    Parser,
    /// Reshapes or filters events.
    Transform,
    /// Writes events out; may be the end of the graph.
    Output,
    /// Acts on events (bans); may be the end of the graph.
    Action,
}

impl fmt::Display for ModuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModuleKind::Input => "input",
            ModuleKind::Parser => "parser",
            ModuleKind::Transform => "transform",
            ModuleKind::Output => "output",
            ModuleKind::Action => "action",
        })
    }
}

/// A registered module.
pub struct Module {
    /// The name used in `module:`.
    pub name: &'static str,
    /// Its role.
    pub kind: ModuleKind,
    /// One line for `--help` listings.
    pub summary: &'static str,
    /// Builds a stage from its options.
    pub build: fn(&BuildContext) -> Result<BuiltStage, BuildError>,
}

/// Every module logbus knows.
pub static MODULES: &[Module] = &[
    // inputs
    input::stdin::MODULE,
    input::file::MODULE,
    input::tail::MODULE,
    input::journal::MODULE,
    input::syslog_server::MODULE,
    // parsers
    parse::json::MODULE,
    parse::syslog::MODULE,
    parse::access_log::MODULE,
    // transforms
    transform::keep::MODULE,
    transform::drop::MODULE,
    transform::rename::MODULE,
    transform::cast::MODULE,
    transform::sample::MODULE,
    transform::filter::MODULE,
    // outputs
    output::stdout::MODULE,
    output::file::MODULE,
    output::log::MODULE,
    // actions
    action::fail2ban::MODULE,
];

/// The module called `name`. One name may serve as an input and as an
/// output (`file`): a stage that reads channels gets the output.
pub fn find(name: &str, reads_channels: bool) -> Option<&'static Module> {
    let mut found = MODULES.iter().filter(|m| m.name == name);
    let first = found.next()?;
    let wanted = |m: &Module| (m.kind == ModuleKind::Input) != reads_channels;
    if wanted(first) {
        return Some(first);
    }
    Some(found.find(|m| wanted(m)).unwrap_or(first))
}

/// All module names, for error messages.
pub fn names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = MODULES.iter().map(|m| m.name).collect();
    names.dedup();
    names.sort_unstable();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_is_input_or_output_by_role() {
        assert_eq!(find("file", false).map(|m| m.kind), Some(ModuleKind::Input));
        assert_eq!(find("file", true).map(|m| m.kind), Some(ModuleKind::Output));
        assert_eq!(
            find("stdout", false).map(|m| m.kind),
            Some(ModuleKind::Output)
        );
        assert!(find("nope", true).is_none());
    }
}
