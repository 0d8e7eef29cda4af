//! `file`: read files (paths and globs) once to the end, one event per line.
//!
//! Files are read in the order given; a glob's matches are read in sorted
//! order. A file that cannot be read, or a glob that matches nothing, is
//! reported on `errors` (a typo must not be silent) and the other files are
//! still read. Bad glob syntax is refused when the pipeline is built.

use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::lines::{DEFAULT_MAX_LINE_BYTES, PumpEnd, pump, spawn_reader};
use crate::pipeline::{
    BoxFuture, BuildContext, BuildError, BuiltStage, ErrorRecord, Input, InputContext, Shutdown,
    StageError,
};
use crate::stages::{Module, ModuleKind};

/// Registry entry.
pub const MODULE: Module = Module {
    name: "file",
    kind: ModuleKind::Input,
    summary: "read files (paths and globs) once to the end",
    build,
};

/// Read buffer per file.
const READ_BUFFER: usize = 64 * 1024;

/// Options of the `file` input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileInputConfig {
    /// Files and globs (`*`, `?`, `[...]`, `**`), relative to the
    /// configuration's directory.
    paths: Vec<String>,
    /// Longer lines are truncated (and counted).
    #[serde(default = "default_max")]
    max_line_bytes: usize,
}

fn default_max() -> usize {
    DEFAULT_MAX_LINE_BYTES
}

/// One entry of `paths:` (shared with the `tail` input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Source {
    /// A plain path.
    Path(PathBuf),
    /// A glob, already checked, with the configuration's directory escaped in.
    Glob(String),
}

fn build(ctx: &BuildContext) -> Result<BuiltStage, BuildError> {
    FileInput::configure(ctx).map(BuiltStage::input)
}

/// Resolves one configured path; globs are compiled here so that bad syntax
/// fails `logbus check`.
pub(super) fn source(ctx: &BuildContext, text: &str) -> Result<Source, String> {
    if text.is_empty() {
        return Err("empty path".into());
    }
    if !text.contains(['*', '?', '[']) {
        return Ok(Source::Path(ctx.resolve(text)));
    }
    // Checked as written, so an error's position points into the user's text.
    glob::Pattern::new(text).map_err(|e| format!("bad glob `{text}`: {e}"))?;
    let pattern = if Path::new(text).is_absolute() {
        text.to_string()
    } else {
        // The directory is literal text: `[` in it must not act as a glob.
        let base = ctx.base_dir.to_str().ok_or_else(|| {
            format!(
                "the configuration's directory {} is not UTF-8; use an absolute glob",
                ctx.base_dir.display()
            )
        })?;
        format!("{}/{text}", glob::Pattern::escape(base))
    };
    glob::Pattern::new(&pattern).map_err(|e| format!("bad glob `{pattern}`: {e}"))?;
    Ok(Source::Glob(pattern))
}

struct FileInput {
    sources: Vec<Source>,
    max_line_bytes: usize,
}

impl Input for FileInput {
    fn run(self: Box<Self>, mut ctx: InputContext) -> BoxFuture<Result<(), StageError>> {
        Box::pin(async move {
            for source in &self.sources {
                let files = match source {
                    Source::Path(p) => vec![p.clone()],
                    Source::Glob(pattern) => {
                        let pattern = pattern.clone();
                        let Some(expanded) =
                            off_thread(&ctx.shutdown, move || expand(&pattern)).await?
                        else {
                            return Ok(());
                        };
                        for problem in expanded.problems {
                            report(&ctx, problem).await;
                        }
                        expanded.files
                    }
                };
                for path in files {
                    if !self.read_file(path, &mut ctx).await? {
                        return Ok(());
                    }
                }
            }
            Ok(())
        })
    }
}

/// The `paths` and `max_line_bytes` options of the file inputs (`file`,
/// `tail`), checked, with every path or glob resolved by `resolve`.
pub(super) fn sources<S>(
    ctx: &BuildContext,
    paths: &[String],
    max_line_bytes: usize,
    resolve: impl Fn(&BuildContext, &str) -> Result<S, String>,
) -> Result<Vec<S>, BuildError> {
    if max_line_bytes == 0 {
        return Err(BuildError::field("max_line_bytes", "must be at least 1"));
    }
    if paths.is_empty() {
        return Err(BuildError::field(
            "paths",
            "needs at least one file or glob",
        ));
    }
    paths
        .iter()
        .enumerate()
        .map(|(i, p)| resolve(ctx, p).map_err(|m| BuildError::field(format!("paths.{i}"), m)))
        .collect()
}

impl FileInput {
    fn configure(ctx: &BuildContext) -> Result<Self, BuildError> {
        let cfg: FileInputConfig = ctx.options()?;
        let sources = sources(ctx, &cfg.paths, cfg.max_line_bytes, source)?;
        Ok(Self {
            sources,
            max_line_bytes: cfg.max_line_bytes,
        })
    }

    /// Reads one file to its end. False when the pipeline is stopping (or
    /// nobody reads us any more), so no further file should be read.
    async fn read_file(&self, path: PathBuf, ctx: &mut InputContext) -> Result<bool, StageError> {
        let shown = path.display().to_string();
        let opened = off_thread(&ctx.shutdown, {
            let path = path.clone();
            move || open(&path)
        })
        .await?;
        let file = match opened {
            None => return Ok(false),
            Some(Ok(f)) => f,
            Some(Err(e)) => {
                report(ctx, format!("cannot read {shown}: {e}")).await;
                return Ok(true);
            }
        };
        let reader = BufReader::with_capacity(READ_BUFFER, file);
        let mut rx = spawn_reader(
            "file-input".into(),
            reader,
            self.max_line_bytes,
            Some(path.to_string_lossy().into_owned()),
        )
        .map_err(|e| StageError::new(format!("cannot start reading {shown}: {e}")))?;
        Ok(pump(&mut rx, ctx, &shown).await? == PumpEnd::Eof)
    }
}

/// Opens a file for reading; a directory is an error here rather than a
/// read error later.
fn open(path: &Path) -> io::Result<File> {
    let file = File::open(path)?;
    if file.metadata()?.is_dir() {
        return Err(io::Error::other("is a directory"));
    }
    Ok(file)
}

/// What a glob expanded to.
#[derive(Debug, Default, PartialEq, Eq)]
struct Expanded {
    /// Matching files, sorted.
    files: Vec<PathBuf>,
    /// Messages for the `errors` channel.
    problems: Vec<String>,
}

/// Expands a checked glob. Directories are skipped; dot files only match a
/// pattern that names the dot, as in the shell.
fn expand(pattern: &str) -> Expanded {
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    let mut out = Expanded::default();
    let paths = match glob::glob_with(pattern, options) {
        Ok(p) => p,
        // Checked at build time; kept as a report rather than a panic.
        Err(e) => {
            out.problems.push(format!("bad glob `{pattern}`: {e}"));
            return out;
        }
    };
    for entry in paths {
        match entry {
            Ok(p) if p.is_dir() => {}
            Ok(p) => out.files.push(p),
            Err(e) => {
                out.problems
                    .push(format!("cannot read {}: {}", e.path().display(), e.error()))
            }
        }
    }
    out.files.sort();
    if out.files.is_empty() {
        out.problems.push(format!("no file matches `{pattern}`"));
    }
    out
}

/// Runs blocking file-system work off the async threads; `None` when the
/// pipeline stops first (a path on a stuck network mount must not hold up
/// shutdown).
async fn off_thread<T: Send + 'static>(
    shutdown: &Shutdown,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<Option<T>, StageError> {
    let mut shutdown = shutdown.clone();
    let task = tokio::task::spawn_blocking(f);
    tokio::select! {
        biased;
        _ = shutdown.wait() => Ok(None),
        done = task => done
            .map(Some)
            .map_err(|e| StageError::new(format!("file input crashed: {e}"))),
    }
}

async fn report(ctx: &InputContext, message: String) {
    ctx.errors
        .report(ErrorRecord {
            message,
            input: None,
        })
        .await;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::pipeline::StageCounters;

    fn build_at(base: &Path, yaml: &str) -> Result<Vec<Source>, BuildError> {
        let opts: serde_yaml_ng::Mapping = serde_yaml_ng::from_str(yaml).unwrap();
        FileInput::configure(&BuildContext {
            stage: "in",
            options: &opts,
            base_dir: base,
            counters: Arc::new(StageCounters::default()),
            settings: &crate::config::Settings::default(),
        })
        .map(|f| f.sources)
    }

    #[test]
    fn paths_resolve_against_the_config_dir() {
        let s = build_at(
            Path::new("/etc/logbus"),
            "paths: [a.log, /var/log/b.log, \"*.log\"]",
        )
        .unwrap();
        assert_eq!(
            s,
            [
                Source::Path("/etc/logbus/a.log".into()),
                Source::Path("/var/log/b.log".into()),
                Source::Glob("/etc/logbus/*.log".into()),
            ]
        );
    }

    #[test]
    fn glob_chars_in_the_config_dir_are_literal() {
        let s = build_at(Path::new("/srv/[x]"), "paths: [\"*.log\"]").unwrap();
        assert_eq!(s, [Source::Glob("/srv/[[]x[]]/*.log".into())]);
    }

    #[test]
    fn bad_options_name_the_field() {
        let e = build_at(Path::new("/etc"), "paths: [a.log, \"x/[z-a\"]").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("paths.1"));
        assert_eq!(
            e.message,
            "bad glob `x/[z-a`: Pattern syntax error near position 2: invalid range pattern"
        );
        let e = build_at(Path::new("/"), "paths: []").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("paths"));
        let e = build_at(Path::new("/"), "paths: [a]\nmax_line_bytes: 0").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("max_line_bytes"));
        let e = build_at(Path::new("/"), "paths: a.log").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("paths"));
    }

    #[test]
    fn glob_expansion_is_sorted_and_skips_dirs_and_dot_files() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["b.log", "a.log", ".hidden.log", "c.txt"] {
            std::fs::write(dir.path().join(f), "x\n").unwrap();
        }
        std::fs::create_dir(dir.path().join("d.log")).unwrap();
        let pattern = format!("{}/*.log", dir.path().display());
        let e = expand(&pattern);
        assert_eq!(
            e.files,
            [dir.path().join("a.log"), dir.path().join("b.log")]
        );
        assert!(e.problems.is_empty());
        let none = expand(&format!("{}/*.nope", dir.path().display()));
        assert!(none.files.is_empty());
        assert_eq!(
            none.problems,
            [format!("no file matches `{}/*.nope`", dir.path().display())]
        );
    }

    #[test]
    fn directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = open(dir.path()).unwrap_err();
        assert_eq!(e.to_string(), "is a directory");
    }
}
