//! `logbus run [FILE]`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use logbus::config::PipelineConfig;
use logbus::defaults::{self, Machine};
use logbus::pipeline::{Pipeline, RunOptions};

/// Where a pipeline comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A file given on the command line.
    File(PathBuf),
    /// None given: `/etc/logbus/logbus.yml`, else the built-in default.
    Default,
}

impl Source {
    /// The source for an optional command-line argument.
    pub fn from_arg(config: Option<PathBuf>) -> Self {
        config.map_or(Source::Default, Source::File)
    }
}

/// The name the built-in default goes by in messages.
const DEFAULT_NAME: &str = "<built-in default>";

/// The built-in default for this machine, its warnings printed.
fn default_yaml() -> String {
    let (yaml, warnings) = defaults::pipeline(&Machine::from_env().probe());
    for w in warnings {
        eprintln!("logbus: WARNING: {w}");
    }
    yaml
}

/// Loads and builds a pipeline, printing every problem to stderr. Returns
/// the name to call it by.
pub fn load(source: &Source) -> Result<(Pipeline, String), ()> {
    let config = match source {
        Source::File(path) => PipelineConfig::load(path),
        Source::Default => match Machine::from_env().config_file() {
            Some(path) => PipelineConfig::load(&path),
            None => PipelineConfig::from_text(Path::new(DEFAULT_NAME), &default_yaml(), |k| {
                std::env::var(k).ok()
            }),
        },
    }
    .map_err(|e| eprintln!("logbus: {e}"))?;
    let name = config.path.display().to_string();
    Pipeline::build(&config)
        .map(|p| (p, name))
        .map_err(|errors| {
            for e in &errors {
                eprintln!("logbus: {e}");
            }
        })
}

/// `logbus run --print-default`: the built-in default as YAML.
pub fn print_default() -> anyhow::Result<ExitCode> {
    print!("{}", default_yaml());
    Ok(ExitCode::SUCCESS)
}

/// Runs the pipeline until its inputs end or a signal stops it.
pub fn run(source: &Source) -> anyhow::Result<ExitCode> {
    let Ok((pipeline, _)) = load(source) else {
        return Ok(ExitCode::from(1));
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("logbus")
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(pipeline.run(RunOptions {
        handle_signals: true,
    }));
    // Reader threads blocked on stdin must not keep the process alive.
    runtime.shutdown_background();
    if report.ok() {
        Ok(ExitCode::SUCCESS)
    } else {
        for (stage, why) in &report.failures {
            eprintln!("logbus: stage `{stage}` failed: {why}");
        }
        Ok(ExitCode::from(1))
    }
}
