//! `logbus match`: our fail2ban-regex. Runs rule sets over a log file and
//! reports what matched.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use logbus::fail2ban::engine::Verdict;
use logbus::fail2ban::engine::{RuleEngine, RuleRef};
use logbus::fail2ban::load_rules;
use logbus::fail2ban::replay::{LineKind, LineParser, parse_in_background};
use logbus::fail2ban::rules::RuleSource;
use logbus::timestamp::TimeContext;

/// Longest line judged; longer lines are cut (and still judged).
const MAX_LINE: usize = 1 << 20;

/// What `logbus match` was asked.
#[derive(Debug)]
pub struct MatchArgs {
    /// Rule sets (built-in names or files).
    pub rules: Vec<String>,
    /// Mode for every set without `:MODE`.
    pub mode: Option<String>,
    /// One JSON object per failure line.
    pub json: bool,
    /// Year for timestamps that have none.
    pub year: Option<i16>,
    /// Print lines no rule matched.
    pub print_missed: bool,
    /// The log file (`-` for stdin).
    pub file: PathBuf,
}

#[derive(Default)]
struct Summary {
    lines: u64,
    skipped: u64,
    matched: u64,
    helper: u64,
    ignored: u64,
    bad_address: u64,
    per_rule: HashMap<RuleRef, u64>,
    per_ip: HashMap<std::net::IpAddr, u64>,
}

/// Runs the match and prints the report.
pub fn run(args: &MatchArgs) -> anyhow::Result<ExitCode> {
    if args.rules.is_empty() {
        bail!("give at least one --rules NAME|FILE");
    }
    let sources: Vec<RuleSource> = args
        .rules
        .iter()
        .map(|r| {
            let mut s = RuleSource::parse(r);
            if s.mode.is_none() {
                s.mode.clone_from(&args.mode);
            }
            s
        })
        .collect();
    let cwd = Path::new(".");
    let engine = load_rules(&sources, &[], cwd)?;
    // One reference "now" for the whole file: year inference then costs no
    // clock reads, and a file read across New Year stays consistent.
    let mut ctx = TimeContext::system().with_now(jiff::Zoned::now());
    if let Some(y) = args.year {
        ctx = ctx.with_year(y);
    }
    let mut engine = engine;
    let parser = LineParser::for_engine(&engine, ctx.clone());
    let reader: Box<dyn std::io::Read + Send> = if args.file.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            File::open(&args.file)
                .with_context(|| format!("cannot open {}", args.file.display()))?,
        )
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut summary = Summary::default();
    let mut missed: Vec<(u64, String)> = Vec::new();
    let started = Instant::now();
    let background = parse_in_background(reader, MAX_LINE, parser, args.print_missed);
    for chunk in background.lines.iter() {
        let mut chunk = chunk.with_context(|| format!("cannot read {}", args.file.display()))?;
        for line in chunk.iter_mut() {
            summary.lines += 1;
            let verdict = match &line.kind {
                LineKind::Skip => {
                    summary.skipped += 1;
                    continue;
                }
                LineKind::NoMatch => Verdict::NoMatch,
                LineKind::Event(event, _, candidates) => engine.decide(event, candidates),
            };
            let time = match &line.kind {
                LineKind::Event(_, t, _) => t.as_ref(),
                _ => None,
            };
            match verdict {
                Verdict::Failure(f) => {
                    summary.matched += 1;
                    let rule = engine.rule(f.rule);
                    *summary.per_rule.entry(f.rule).or_default() += 1;
                    *summary.per_ip.entry(f.ip).or_default() += 1;
                    if args.json {
                        let time = time.and_then(|t| t.resolve(&ctx));
                        write_json_line(
                            &mut out,
                            line.number,
                            f.ip,
                            &rule.id,
                            &rule.group,
                            time.as_ref(),
                        )?;
                    }
                }
                Verdict::Ignored(_) => summary.ignored += 1,
                Verdict::Helper(_) | Verdict::Deferred(_) => summary.helper += 1,
                Verdict::BadAddress(..) => summary.bad_address += 1,
                Verdict::NoMatch => {
                    if args.print_missed {
                        missed.push((line.number, std::mem::take(&mut line.text)));
                    }
                }
            }
        }
        // When the parser is behind, free here rather than wait for it.
        let _ = background.spent.try_send(chunk);
    }
    let elapsed = started.elapsed();
    if !args.json {
        print_summary(&mut out, args, &engine, &summary, elapsed)?;
    }
    if args.print_missed {
        writeln!(out, "\nMissed lines ({}):", missed.len())?;
        for (n, l) in &missed {
            writeln!(out, "{n}: {l}")?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// One failure as the JSON contract wants it:
/// `{"line":N,"ip":"...","rule":"...","group":"...","time":"..."}`.
fn write_json_line(
    out: &mut impl Write,
    number: u64,
    ip: std::net::IpAddr,
    rule: &str,
    group: &str,
    time: Option<&logbus::timestamp::LogTime>,
) -> anyhow::Result<()> {
    write!(out, "{{\"line\":{number},\"ip\":\"{ip}\",\"rule\":")?;
    serde_json::to_writer(&mut *out, rule)?;
    out.write_all(b",\"group\":")?;
    serde_json::to_writer(&mut *out, group)?;
    if let Some(t) = time {
        // RFC 3339 text holds no character JSON must escape.
        write!(out, ",\"time\":\"{}\"", t.to_rfc3339())?;
    }
    out.write_all(b"}\n")?;
    Ok(())
}

fn print_summary(
    out: &mut impl Write,
    args: &MatchArgs,
    engine: &RuleEngine,
    s: &Summary,
    elapsed: std::time::Duration,
) -> std::io::Result<()> {
    let sets: Vec<String> = engine
        .sets()
        .map(|set| match &set.mode {
            Some(m) => format!("{} (mode {m})", set.name),
            None => set.name.clone(),
        })
        .collect();
    writeln!(out, "Rules: {}", sets.join(", "))?;
    writeln!(out, "File:  {}", args.file.display())?;
    writeln!(out)?;
    writeln!(out, "Failures: {} total", s.matched)?;
    writeln!(out, "|-  #) [# of hits] rule")?;
    for (i, (r, rule)) in engine.rules().enumerate() {
        let hits = s.per_rule.get(&r).copied().unwrap_or(0);
        writeln!(out, "|  {:>2}) [{hits}] {}", i + 1, rule.id)?;
    }
    writeln!(out, "`-")?;
    writeln!(out)?;
    let mut ips: Vec<(&std::net::IpAddr, &u64)> = s.per_ip.iter().collect();
    ips.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    writeln!(out, "Addresses: {} distinct", ips.len())?;
    for (ip, n) in ips.iter().take(10) {
        writeln!(out, "|  {ip}: {n}")?;
    }
    writeln!(out)?;
    let judged = s.lines - s.skipped;
    let missed = judged - s.matched - s.ignored - s.helper - s.bad_address;
    writeln!(
        out,
        "Lines: {} lines, {} comment/blank, {} matched, {} ignored, {} context-only, {} unusable address, {} missed",
        s.lines, s.skipped, s.matched, s.ignored, s.helper, s.bad_address, missed
    )?;
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        s.lines as f64 / secs
    } else {
        0.0
    };
    writeln!(out, "[processed in {secs:.3} s, {rate:.0} lines/s]")
}
