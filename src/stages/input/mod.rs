//! Input stages.

pub mod file;
pub mod lines;
pub mod stdin;
