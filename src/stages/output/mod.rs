//! Output stages.

pub mod file;
pub mod format;
pub mod log;
pub mod stdout;
