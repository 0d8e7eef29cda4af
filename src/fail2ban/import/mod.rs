//! `logbus import-fail2ban`: reads a fail2ban configuration directory the
//! way fail2ban does and writes the equivalent logbus pipeline.
//!
//! - [`ini`]: the file syntax, includes, precedence and `%(name)s`
//!   interpolation;
//! - [`values`]: fail2ban's durations, `name[key=value]` specifications,
//!   ports and `ignoreip` entries;
//! - [`jail`]: one jail in logbus terms;
//! - [`pipeline`]: the jails merged into one pipeline, and its YAML.
//!
//! Everything that cannot be translated is returned as a [`Diagnostic`],
//! so the caller can show it; the YAML carries the same list as comments.

pub mod ini;
pub mod jail;
pub mod pipeline;
pub mod values;

use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

pub use pipeline::{ImportOptions, Imported, LogInput, import_dir};

/// How much a diagnostic matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// An enabled jail that is left out of the pipeline.
    Skipped,
    /// An option (or part of one) that is left out or replaced.
    NotTranslated,
    /// A choice the import made that the user should know about.
    Note,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Skipped => "jail not imported",
            Severity::NotTranslated => "not translated",
            Severity::Note => "note",
        })
    }
}

/// Something the import could not translate, or a choice it made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// How much it matters.
    pub severity: Severity,
    /// The jails it concerns (none: the pipeline as a whole).
    pub jails: Vec<String>,
    /// The option (or pipeline part such as `backend`), when there is one.
    pub option: Option<String>,
    /// What happened and why.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    /// `not translated: [sshd] ignoreip: ...`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.severity)?;
        if !self.jails.is_empty() {
            write!(f, "[{}] ", self.jails.join(", "))?;
        }
        if let Some(o) = &self.option {
            write!(f, "{o}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// The same finding for several jails (an option set in `[DEFAULT]`)
/// becomes one diagnostic naming them all; order is kept.
pub fn merge_diagnostics(list: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = Vec::new();
    for d in list {
        match out.iter_mut().find(|o| {
            o.severity == d.severity
                && o.option == d.option
                && o.message == d.message
                && !o.jails.is_empty()
                && !d.jails.is_empty()
        }) {
            Some(o) => {
                for j in d.jails {
                    if !o.jails.contains(&j) {
                        o.jails.push(j);
                    }
                }
            }
            None => out.push(d),
        }
    }
    out
}

/// Why no pipeline could be written.
#[derive(Debug, Error)]
pub enum ImportError {
    /// The directory is missing or not a directory.
    #[error("{}: not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// Neither jail.conf nor jail.local.
    #[error("{}: no jail.conf or jail.local (is this a fail2ban configuration directory?)", .0.display())]
    NoJailConfig(PathBuf),
    /// A file that cannot be read or parsed.
    #[error(transparent)]
    Ini(#[from] ini::IniError),
    /// No enabled jail could be translated; the diagnostics say why.
    #[error("{}", nothing_message(.enabled))]
    NothingImported {
        /// Enabled jails (all skipped).
        enabled: Vec<String>,
        /// Why each was skipped.
        diagnostics: Vec<Diagnostic>,
    },
}

fn nothing_message(enabled: &[String]) -> String {
    if enabled.is_empty() {
        "no jail is enabled (`enabled = true`): nothing to import".into()
    } else {
        format!(
            "none of the enabled jails ({}) could be imported",
            enabled.join(", ")
        )
    }
}

/// The jail files of `dir` in fail2ban's order: jail.conf, jail.d/*.conf,
/// jail.local, jail.d/*.local (each jail.d list sorted).
pub fn jail_files(dir: &Path) -> Vec<PathBuf> {
    let jd = dir.join("jail.d");
    let mut files = vec![dir.join("jail.conf")];
    files.extend(jail::sorted_glob(&jd, "conf"));
    files.push(dir.join("jail.local"));
    files.extend(jail::sorted_glob(&jd, "local"));
    files
}
