//! The `logbus` command line: argument parsing and wiring only.

mod cli;

// Events are many small allocations made on one thread and freed on
// another; mimalloc handles that pattern far better than glibc's malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A log pipeline engine whose flagship stage replaces fail2ban.
#[derive(Debug, Parser)]
#[command(name = "logbus", version, about, propagate_version = true)]
struct Cli {
    /// More log output on stderr (-v: debug, -vv: trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Less log output on stderr (-q: warnings and errors only, -qq: errors only).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    quiet: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a pipeline until its inputs end or SIGINT/SIGTERM.
    Run {
        /// The pipeline file (YAML).
        config: PathBuf,
    },
    /// Validate a pipeline without running it and print its graph.
    Check {
        /// The pipeline file (YAML).
        config: PathBuf,
    },
    /// Run rule sets over a log file and report what matched (like fail2ban-regex).
    Match {
        /// Rule set: a built-in name (sshd, postfix, ...), NAME:MODE, or a YAML file. Repeatable.
        #[arg(long = "rules", short = 'r', required = true)]
        rules: Vec<String>,
        /// Mode for the rule sets (e.g. aggressive); default: each set's default mode.
        #[arg(long)]
        mode: Option<String>,
        /// Print one JSON object per failure line: {"line", "ip", "time", "rule"}.
        #[arg(long)]
        json: bool,
        /// Year for timestamps that carry none (default: inferred from today).
        #[arg(long)]
        year: Option<i16>,
        /// Also print the lines no rule matched.
        #[arg(long)]
        print_missed: bool,
        /// The log file (`-` for standard input).
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::logging::init(cli.verbose, cli.quiet);
    let result = match cli.command {
        Command::Run { config } => cli::run::run(&config),
        Command::Check { config } => cli::check::check(&config),
        Command::Match {
            rules,
            mode,
            json,
            year,
            print_missed,
            file,
        } => cli::match_cmd::run(&cli::match_cmd::MatchArgs {
            rules,
            mode,
            json,
            year,
            print_missed,
            file,
        }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("logbus: {e:#}");
            ExitCode::from(1)
        }
    }
}
