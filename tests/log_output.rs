//! The `log` output: one line per event in the process log, at the chosen
//! level, with control characters escaped so a line cannot forge another.

mod common;

use common::{Sandbox, path_str, run_with};

#[test]
fn events_become_log_lines() {
    let sb = Sandbox::new();
    let config = sb.config(
        "pipeline:
  in:
    module: stdin
  plain:
    module: log
    inChannels: [in]
  templated:
    module: log
    inChannels: [in]
    level: warn
    template: \"seen: {message}\"
  hidden:
    module: log
    inChannels: [in]
    level: debug
",
    );
    let out = run_with(
        &["run", path_str(&config)],
        &[],
        Some(b"first\nsecond \x1b[31mred\n"),
    );
    assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
    // Drop the timestamp; keep level, text and the stage field.
    let mut lines: Vec<&str> = out
        .stderr
        .lines()
        .map(|l| l.split_once(' ').map_or(l, |(_, rest)| rest.trim_start()))
        .collect();
    // The two stages run concurrently; each keeps its own order.
    lines.sort();
    assert_eq!(
        lines,
        [
            "INFO first stage=\"plain\"",
            "INFO second \\u{1b}[31mred stage=\"plain\"",
            "WARN seen: first stage=\"templated\"",
            "WARN seen: second \\u{1b}[31mred stage=\"templated\"",
        ]
    );
}
