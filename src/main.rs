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
        /// The pipeline file (YAML). Default: /etc/logbus/logbus.yml, else the
        /// built-in default pipeline for this machine.
        config: Option<PathBuf>,
        /// Print the built-in default pipeline (as YAML) and exit.
        #[arg(long, conflicts_with = "config")]
        print_default: bool,
    },
    /// Validate a pipeline without running it and print its graph.
    Check {
        /// The pipeline file (YAML). Default: as for `run`.
        config: Option<PathBuf>,
    },
    /// Translate a fail2ban configuration (jails, filters, actions) into a
    /// pipeline, written to stdout; what cannot be translated goes to stderr.
    #[command(name = "import-fail2ban")]
    ImportFail2ban {
        /// The fail2ban configuration directory.
        #[arg(default_value = "/etc/fail2ban")]
        dir: PathBuf,
        /// How log files are read: `tail` follows them (like fail2ban),
        /// `file` reads them once from the start (to replay old logs).
        #[arg(long, value_enum, default_value_t = InputArg::Tail)]
        input: InputArg,
        /// Use the dry-run backend (log bans, touch no firewall), whatever
        /// the jails' ban actions are: to run next to fail2ban and compare.
        #[arg(long)]
        dry_run: bool,
    },
    /// Manage bans of a running logbus (through its control socket).
    Bans {
        #[command(flatten)]
        target: SocketArgs,
        #[command(subcommand)]
        action: BansAction,
    },
    /// Show the stages, counters and firewall health of a running logbus.
    Status {
        #[command(flatten)]
        target: SocketArgs,
        /// Print the raw JSON status.
        #[arg(long)]
        json: bool,
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

/// `import-fail2ban --input`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum InputArg {
    /// Follow the files (`tail` input).
    Tail,
    /// Read them once (`file` input).
    File,
}

/// Where the control socket is.
#[derive(Debug, clap::Args)]
struct SocketArgs {
    /// The control socket (default: the config's `control_socket`, else /run/logbus/control.sock).
    #[arg(long, global = true)]
    socket: Option<PathBuf>,
    /// Read `control_socket` from this pipeline file.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum BansAction {
    /// List active bans.
    List {
        /// Only this group.
        #[arg(long)]
        group: Option<String>,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Ban an address by hand (refused for allow-listed addresses).
    Add {
        /// The address.
        ip: String,
        /// The ban group (e.g. ssh).
        #[arg(long)]
        group: String,
        /// How long (e.g. 1h, 7d, forever); default: the group's bantime.
        #[arg(long = "for")]
        duration: Option<String>,
        /// Why, for the record.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Why an address was banned: the matched log lines, their times and rules.
    Explain {
        /// The address.
        ip: String,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Lift the bans of an address.
    Remove {
        /// The address.
        ip: String,
        /// Only in this group.
        #[arg(long)]
        group: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::logging::init(cli.verbose, cli.quiet);
    let result = match cli.command {
        Command::Run {
            print_default: true,
            ..
        } => cli::run::print_default(),
        Command::Run { config, .. } => cli::run::run(&cli::run::Source::from_arg(config)),
        Command::Check { config } => cli::check::check(&cli::run::Source::from_arg(config)),
        Command::ImportFail2ban {
            dir,
            input,
            dry_run,
        } => cli::import::run(
            &dir,
            match input {
                InputArg::Tail => logbus::fail2ban::import::LogInput::Tail,
                InputArg::File => logbus::fail2ban::import::LogInput::File,
            },
            dry_run,
        ),
        Command::Status { target, json } => {
            cli::bans::socket_path(target.socket.as_deref(), target.config.as_deref())
                .and_then(|s| cli::bans::status(&s, json))
        }
        Command::Bans { target, action } => cli::bans::socket_path(
            target.socket.as_deref(),
            target.config.as_deref(),
        )
        .and_then(|s| match action {
            BansAction::List { group, json } => cli::bans::list(&s, group.as_deref(), json),
            BansAction::Add {
                ip,
                group,
                duration,
                reason,
            } => cli::bans::add(&s, &ip, &group, duration.as_deref(), reason.as_deref()),
            BansAction::Remove { ip, group } => cli::bans::remove(&s, &ip, group.as_deref()),
            BansAction::Explain { ip, json } => cli::bans::explain(&s, &ip, json),
        }),
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
