//! `logbus import-fail2ban [DIR]`: the pipeline on stdout, what could not
//! be translated on stderr.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use logbus::fail2ban::import::{ImportError, ImportOptions, LogInput, import_dir};

/// Imports `dir` and prints the pipeline; exit 0 when one was written.
pub fn run(dir: &Path, input: LogInput, dry_run: bool) -> anyhow::Result<ExitCode> {
    let opts = ImportOptions {
        dir: dir.to_path_buf(),
        input,
        dry_run,
    };
    let imported = match import_dir(&opts) {
        Ok(i) => i,
        Err(ImportError::NothingImported {
            enabled,
            diagnostics,
        }) => {
            for d in &diagnostics {
                eprintln!("logbus: import-fail2ban: {d}");
            }
            let e = ImportError::NothingImported {
                enabled,
                diagnostics: Vec::new(),
            };
            eprintln!("logbus: import-fail2ban: {e}");
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(anyhow::Error::new(e).context("import-fail2ban")),
    };
    for d in &imported.diagnostics {
        eprintln!("logbus: import-fail2ban: {d}");
    }
    let mut out = std::io::stdout().lock();
    out.write_all(imported.yaml.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write the pipeline to standard output")?;
    let skipped = imported
        .diagnostics
        .iter()
        .filter(|d| d.severity == logbus::fail2ban::import::Severity::Skipped)
        .map(|d| d.jails.len().max(1))
        .sum::<usize>();
    eprintln!(
        "logbus: import-fail2ban: imported {} jail(s): {}{}",
        imported.jails.len(),
        imported.jails.join(", "),
        if skipped > 0 {
            format!("; {skipped} enabled jail(s) not imported")
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}
