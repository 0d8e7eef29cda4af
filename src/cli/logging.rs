//! The process log: human-readable lines on stderr.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Sets up logging; `RUST_LOG` overrides the -v/-q level.
pub fn init(verbose: u8, quiet: u8) {
    let level = match (i16::from(verbose) - i16::from(quiet)).clamp(-2, 2) {
        -2 => "error",
        -1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal, never into journald or a log file.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}
