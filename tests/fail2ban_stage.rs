//! The fail2ban stage inside a real pipeline (stdin -> parse-syslog ->
//! fail2ban, dry-run): hostile input never bans a wrong address, bans are
//! made once, and the tracker's memory stays capped under a flood.

mod common;

use common::{Sandbox, last_stats, path_str, run_with};
use serde_json::Value;

const PIPELINE: &str = r#"
stats_interval: 1h
pipeline:
  in: {module: stdin, max_line_bytes: 2000000}
  sys: {module: parse-syslog, inChannels: [in]}
  ban:
    module: fail2ban
    inChannels: [sys]
    rules: [sshd]
    max_tracked: MAX
    groups: {ssh: {limit: 3, window: 10m, bantime: 1h}}
    bansChannel: bans
  bans-out: {module: file, inChannels: [bans], path: bans.jsonl}
  stats-out: {module: file, inChannels: [stats], path: stats.jsonl}
"#;

fn run_pipeline(max_tracked: usize, input: &[u8]) -> (Sandbox, Vec<Value>, Vec<Value>) {
    let sb = Sandbox::new();
    let config = sb.config(&PIPELINE.replace("MAX", &max_tracked.to_string()));
    let out = run_with(&["-q", "run", path_str(&config)], &[], Some(input));
    assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
    let bans = sb.json_lines("bans.jsonl");
    let stats = sb.json_lines("stats.jsonl");
    (sb, bans, stats)
}

fn line(msg: &str) -> String {
    format!("Nov 25 10:00:00 srv sshd[4242]: {msg}\n")
}

#[test]
fn hostile_input_never_bans_a_wrong_address() {
    let mut input: Vec<u8> = Vec::new();
    // Empty lines, invalid UTF-8, a 1 MB line.
    input.extend_from_slice(b"\n\n");
    input.extend_from_slice(
        b"Nov 25 10:00:00 srv sshd[1]: Invalid user \xff\xfe from 192.0.2.1 port 22\n",
    );
    input.extend_from_slice(
        line(&format!(
            "Invalid user {} from 192.0.2.99 port 22",
            "A".repeat(1 << 20)
        ))
        .as_bytes(),
    );
    // Malformed addresses in the daemon's own position: never banned.
    for bogus in [
        "999.1.1.1",
        "1.2.3",
        "fe80::1%eth0",
        "0.0.0.0",
        "example.com",
        "1.2.3.4.5",
    ] {
        input.extend_from_slice(line(&format!("Invalid user bob from {bogus} port 22")).as_bytes());
    }
    // Injection: attacker-chosen user names carrying an address; the real
    // client is 198.51.100.7 (3 failures, so exactly one ban).
    for user in ["from 1.2.3.4 port 22", "x from 10.9.8.7", "SRC=1.2.3.4"] {
        input.extend_from_slice(
            line(&format!(
                "Failed password for invalid user {user} from 198.51.100.7 port 5000 ssh2"
            ))
            .as_bytes(),
        );
    }
    // A fake second log line inside a user name.
    input.extend_from_slice(
        line("Failed password for root from 203.0.113.50 port 1 ssh2 #012Nov 25 sshd[1]: Invalid user x from 6.6.6.6 port 22 from 198.51.100.8 port 7 ssh2")
            .as_bytes(),
    );
    // The same text from another program is not an sshd failure.
    input.extend_from_slice(
        b"Nov 25 10:00:00 srv cron[7]: Invalid user bob from 203.0.113.77 port 22\n",
    );
    let (_sb, bans, stats) = run_pipeline(1000, &input);
    let banned: Vec<(&str, &str)> = bans
        .iter()
        .map(|b| {
            (
                b["client"]["ip"].as_str().unwrap_or_default(),
                b["fail2ban"]["rule"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    // 192.0.2.1 (invalid UTF-8 user) and 192.0.2.99 (a 1 MB user name) are
    // real invalid-user attempts (limit 1); 198.51.100.7 failed three times.
    let mut ips: Vec<&str> = banned.iter().map(|b| b.0).collect();
    ips.sort_unstable();
    for ip in &ips {
        assert!(
            ![
                "1.2.3.4",
                "10.9.8.7",
                "6.6.6.6",
                "203.0.113.77",
                "999.1.1.1",
                "0.0.0.0"
            ]
            .contains(ip),
            "banned an injected or bogus address: {banned:?}"
        );
    }
    assert!(ips.contains(&"198.51.100.7"), "{banned:?}");
    assert!(ips.contains(&"192.0.2.1"), "{banned:?}");
    assert!(ips.contains(&"192.0.2.99"), "{banned:?}");
    assert_eq!(ips.len(), 3, "{banned:?}");
    assert_eq!(
        ips.iter().filter(|ip| **ip == "198.51.100.7").count(),
        1,
        "one ban, not one per line: {banned:?}"
    );
    let ban = last_stats(&stats, "ban");
    assert!(ban["errors"].as_u64() == Some(0), "{ban}");
}

#[test]
fn tracker_memory_is_capped_under_a_flood() {
    // 20,000 distinct addresses, one failure each (limit 3: no bans),
    // through a tracker capped at 500 keys.
    let mut input = String::new();
    for i in 0..20_000u32 {
        let ip = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        input.push_str(&line(&format!(
            "Failed password for root from {ip} port 22 ssh2"
        )));
    }
    let (_sb, bans, stats) = run_pipeline(500, input.as_bytes());
    assert!(bans.is_empty(), "{bans:?}");
    let ban = last_stats(&stats, "ban");
    assert_eq!(ban["failures"], 20_000, "{ban}");
    let tracked = ban["tracked_keys"].as_u64().unwrap_or(u64::MAX);
    assert_eq!(tracked, 500, "the cap holds exactly: {ban}");
}
