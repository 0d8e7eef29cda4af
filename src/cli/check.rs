//! `logbus check FILE`.

use std::path::Path;
use std::process::ExitCode;

use super::run::load;

/// Validates the pipeline and prints its graph; exit 1 when invalid.
pub fn check(path: &Path) -> anyhow::Result<ExitCode> {
    match load(path) {
        Ok(pipeline) => {
            print!("{}", pipeline.describe());
            println!("{}: ok ({} stages)", path.display(), pipeline.stages.len());
            Ok(ExitCode::SUCCESS)
        }
        Err(()) => Ok(ExitCode::from(1)),
    }
}
