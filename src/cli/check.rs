//! `logbus check [FILE]`.

use std::process::ExitCode;

use super::run::{Source, load};

/// Validates the pipeline and prints its graph; exit 1 when invalid.
pub fn check(source: &Source) -> anyhow::Result<ExitCode> {
    match load(source) {
        Ok((pipeline, name)) => {
            print!("{}", pipeline.describe());
            println!("{name}: ok ({} stages)", pipeline.stages.len());
            Ok(ExitCode::SUCCESS)
        }
        Err(()) => Ok(ExitCode::from(1)),
    }
}
