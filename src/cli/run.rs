//! `logbus run FILE`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use logbus::config::PipelineConfig;
use logbus::pipeline::{Pipeline, RunOptions};

/// Loads and builds a pipeline, printing every problem to stderr.
pub fn load(path: &Path) -> Result<Pipeline, ()> {
    let config = PipelineConfig::load(path).map_err(|e| eprintln!("logbus: {e}"))?;
    Pipeline::build(&config).map_err(|errors| {
        for e in &errors {
            eprintln!("logbus: {e}");
        }
    })
}

/// Runs the pipeline until its inputs end or a signal stops it.
pub fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let Ok(pipeline) = load(path) else {
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
