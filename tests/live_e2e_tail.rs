//! End to end on a live log: `tail -> parse-syslog -> fail2ban (dry-run)`,
//! with the ban decisions on `bansChannel` written to a file. The test
//! appends sshd attack lines to the followed file while logbus runs and
//! waits for the ban decisions; lines already in the file at the start are
//! not acted on (`start_at: end`), and a restart does not ban again from
//! lines already read.

mod common;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use common::{Running, Sandbox, logbus, path_str, wait_for};
use serde_json::Value;

const PIPELINE: &str = "state_path: state.db
stats_interval: 1h
pipeline:
  auth:
    module: tail
    paths: [auth.log]
  syslog:
    module: parse-syslog
    inChannels: [auth]
  ban:
    module: fail2ban
    inChannels: [syslog]
    rules: [sshd]
    groups: {ssh: {limit: 3, window: 10m, bantime: 1h}}
    backend: {type: dry-run}
    bansChannel: bans
  bans-out:
    module: file
    inChannels: [bans]
    path: bans.jsonl
";

fn start(config: &Path) -> Running {
    let mut cmd = logbus();
    cmd.args(["run", path_str(config)]);
    Running::spawn(cmd, false)
}

/// An sshd line stamped now (UTC, RFC 3339), as rsyslog writes them.
fn sshd(msg: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let (days, secs) = (now.as_secs() / 86_400, now.as_secs() % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}+00:00 srv sshd[4242]: {msg}\n",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        now.subsec_micros()
    )
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// Ban decisions so far (complete lines only).
fn bans(sb: &Sandbox) -> Vec<Value> {
    let text = std::fs::read_to_string(sb.path("bans.jsonl")).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |i| &text[..=i]);
    common::json_lines(complete)
        .into_iter()
        .filter(|b| b["event"]["action"] == "ban")
        .collect()
}

fn banned_ips(sb: &Sandbox) -> Vec<String> {
    bans(sb)
        .iter()
        .map(|b| b["client"]["ip"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn appended_attack_lines_become_ban_decisions() {
    let sb = Sandbox::new();
    let log = sb.path("auth.log");
    // Already there at the start: not acted on (`start_at: end`).
    append(&log, &sshd("Invalid user old from 192.0.2.99 port 22"));
    let config = sb.config(PIPELINE);
    let running = start(&config);
    let following = format!("following {} from offset", log.display());
    wait_for("the tail to follow auth.log", || {
        running.stderr_now().contains(&following)
    });

    append(&log, &sshd("Invalid user x from 192.0.2.10 port 22"));
    wait_for("the ban of 192.0.2.10", || !bans(&sb).is_empty());
    let ban = &bans(&sb)[0];
    assert_eq!(ban["client"]["ip"], "192.0.2.10");
    assert_eq!(ban["fail2ban"]["group"], "ssh");
    assert_eq!(ban["fail2ban"]["rule"], "sshd-invalid-user");
    assert_eq!(ban["fail2ban"]["banned"], true);

    // Three failed passwords (the group's limit is 3), and noise.
    append(
        &log,
        &[
            sshd("Accepted publickey for deploy from 198.51.100.4 port 40022 ssh2"),
            sshd("Failed password for root from 203.0.113.7 port 50001 ssh2"),
            sshd("Failed password for root from 203.0.113.7 port 50002 ssh2"),
        ]
        .concat(),
    );
    // The third arrives in two writes: the partial line waits for its newline.
    let third = sshd("Failed password for root from 203.0.113.7 port 50003 ssh2");
    let (head, tail) = third.split_at(30);
    append(&log, head);
    append(&log, tail);
    wait_for("the ban of 203.0.113.7", || bans(&sb).len() >= 2);
    assert_eq!(banned_ips(&sb), ["192.0.2.10", "203.0.113.7"]);

    running.signal("TERM");
    let mut running = running;
    let status = running.wait();
    let stderr = running.stderr();
    assert_eq!(status.code(), Some(0), "stderr:\n{stderr}");
    assert!(
        stderr.contains("dry-run"),
        "the dry run logs its bans:\n{stderr}"
    );

    // Restarted: lines already read are not read again (no second ban);
    // a new attacker is banned.
    let running = start(&config);
    wait_for("the tail to follow auth.log again", || {
        running.stderr_now().contains(&following)
    });
    append(&log, &sshd("Invalid user y from 192.0.2.11 port 22"));
    wait_for("the ban of 192.0.2.11", || bans(&sb).len() >= 3);
    running.signal("TERM");
    let mut running = running;
    assert_eq!(running.wait().code(), Some(0));
    assert_eq!(
        banned_ips(&sb),
        ["192.0.2.10", "203.0.113.7", "192.0.2.11"],
        "{}",
        running.stderr()
    );
}
