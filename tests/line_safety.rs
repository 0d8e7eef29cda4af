//! Hostile input through file input -> file output: invalid UTF-8 is
//! replaced, overlong lines are cut to `max_line_bytes` and counted, and
//! the run ends normally.

mod common;

use common::{Sandbox, last_stats, run};
use serde_json::{Value, json};

#[test]
fn invalid_utf8_and_overlong_lines() {
    let sb = Sandbox::new();
    let mut input: Vec<u8> = Vec::new();
    input.extend_from_slice(b"ok\n"); // offset 0
    input.extend_from_slice(b"bad \xff\xfe byte\n"); // offset 3
    input.extend_from_slice(&[b'x'; 40]); // offset 15, cut to 16 bytes
    input.push(b'\n');
    input.extend_from_slice(
        "y\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\n".as_bytes(),
    ); // offset 56, cut inside an é
    input.extend_from_slice(b"crlf\r\n"); // offset 78
    input.extend_from_slice(b"no newline"); // offset 84
    sb.write("hostile.log", &input);
    let config = sb.config(
        "pipeline:
  in:
    module: file
    paths: [hostile.log]
    max_line_bytes: 16
  out:
    module: file
    inChannels: [in]
    path: out.json
  errs:
    module: file
    inChannels: [errors]
    path: errors.json
  counters:
    module: file
    inChannels: [stats]
    path: stats.json
",
    );
    let out = run(&config);
    assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);

    let got: Vec<Value> = sb
        .json_lines("out.json")
        .into_iter()
        .map(|e| json!([e["log"]["offset"], e["message"]]))
        .collect();
    assert_eq!(
        got,
        [
            json!([0, "ok"]),
            json!([3, "bad \u{fffd}\u{fffd} byte"]),
            json!([15, "x".repeat(16)]),
            // 'y' + 7 é = 15 bytes, then the first byte of the 8th é.
            json!([56, "y\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{fffd}"]),
            json!([78, "crlf"]),
            json!([84, "no newline"]),
        ]
    );

    let stats = sb.json_lines("stats.json");
    let input_stats = last_stats(&stats, "in");
    assert_eq!(input_stats["lines_in"], 6);
    assert_eq!(input_stats["bytes_in"], input.len());
    assert_eq!(input_stats["lines_truncated"], 2);
    assert_eq!(input_stats["events_out"], 6);

    // Truncation is reported on `errors` too, with the file's path; the
    // reports may be split across batches, so add up their counts.
    let prefix = format!("{}: ", sb.path("hostile.log").display());
    let suffix = " line(s) longer than the limit were truncated";
    let reported: u64 = sb
        .json_lines("errors.json")
        .iter()
        .map(|e| {
            let m = e["message"].as_str().unwrap();
            assert_eq!(e["stage"], "in");
            m.strip_prefix(&prefix)
                .and_then(|m| m.strip_suffix(suffix))
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("unexpected error event: {e}"))
        })
        .sum();
    assert_eq!(reported, 2);
}
