//! The Prometheus endpoint (checked by `promtool check metrics`) and
//! `logbus bans explain`, against a running `logbus`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use common::{Running, Sandbox, logbus, path_str, wait_for};

const PIPELINE: &str = r#"
control_socket: SOCK
state_path: STATE
metrics: {listen: "127.0.0.1:PORT"}
pipeline:
  in: {module: stdin}
  sys: {module: parse-syslog, inChannels: [in]}
  ban:
    module: fail2ban
    inChannels: [sys]
    rules: [sshd]
    groups: {ssh: {limit: 3, window: 10m, bantime: 1h}}
"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn http_get(port: u16, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to /metrics");
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("send");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.to_string(), body.to_string())
}

fn cli(args: &[&str]) -> (i32, String, String) {
    let out = logbus().args(args).output().expect("run logbus");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sample(metrics: &str, name_and_labels: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
}

#[test]
fn metrics_pass_promtool_and_explain_shows_the_lines() {
    let sb = Sandbox::new();
    let port = free_port();
    let sock = sb.path("ctl.sock");
    let config = sb.config(
        &PIPELINE
            .replace("SOCK", path_str(&sock))
            .replace("STATE", path_str(&sb.path("state.db")))
            .replace("PORT", &port.to_string()),
    );
    let mut run = Running::run_piped(&config);
    let mut stdin = run.child.stdin.take().expect("stdin");
    // Stamped now: a ban from lines older than the ban time would be over
    // already, and never stored.
    let now = jiff::Timestamp::now();
    let stamp = |secs: i64| {
        (now + jiff::SignedDuration::from_secs(secs))
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let lines = [
        (
            1,
            "sshd[1]: Failed password for root from 198.51.100.7 port 22 ssh2",
        ),
        (
            2,
            "sshd[2]: Failed password for admin from 198.51.100.7 port 22 ssh2",
        ),
        (
            3,
            "sshd[3]: Failed password for root from 198.51.100.9 port 22 ssh2",
        ),
        (
            4,
            "sshd[4]: Failed password for oracle from 198.51.100.7 port 22 ssh2",
        ),
    ];
    for (secs, l) in lines {
        writeln!(stdin, "{} srv {l}", stamp(secs)).expect("write a line");
    }
    stdin.flush().expect("flush");
    let s = path_str(&sock);
    wait_for("the ban of 198.51.100.7", || {
        let (code, out, _) = cli(&["bans", "list", "--json", "--socket", s]);
        code == 0 && out.contains("198.51.100.7")
    });

    // Explain: the ban with its three lines, and the other address's
    // recent failure.
    let (code, out, err) = cli(&["bans", "explain", "198.51.100.7", "--json", "--socket", s]);
    assert_eq!(code, 0, "{err}");
    let items: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let ban = items
        .as_array()
        .and_then(|a| a.iter().find(|i| i["banned"] == true))
        .unwrap_or_else(|| panic!("no ban in {out}"));
    assert_eq!(ban["group"], "ssh");
    let failures: Vec<&str> = ban["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .filter_map(|f| f["line"].as_str())
        .collect();
    assert_eq!(
        failures,
        [
            "Failed password for root from 198.51.100.7 port 22 ssh2",
            "Failed password for admin from 198.51.100.7 port 22 ssh2",
            "Failed password for oracle from 198.51.100.7 port 22 ssh2",
        ]
    );
    let first: jiff::Timestamp = ban["failures"][0]["time"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("a time in {ban}"));
    assert_eq!(
        first.as_second(),
        (now + jiff::SignedDuration::from_secs(1)).as_second()
    );
    let (code, out, _) = cli(&["bans", "explain", "198.51.100.9", "--socket", s]);
    assert_eq!(code, 0);
    assert!(out.contains("recent failures, not banned"), "{out}");
    assert!(
        out.contains("Failed password for root from 198.51.100.9"),
        "{out}"
    );
    let (code, _, _) = cli(&["bans", "explain", "203.0.113.1", "--socket", s]);
    assert_eq!(code, 1, "nothing on record is exit 1");

    // Metrics: valid exposition format, and the numbers are right.
    let (head, body) = http_get(port, "/metrics");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(mut p) => {
            p.stdin
                .take()
                .expect("stdin")
                .write_all(body.as_bytes())
                .expect("feed promtool");
            let out = p.wait_with_output().expect("promtool");
            assert!(
                out.status.success(),
                "promtool: {}{}\n{body}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Err(e) => panic!("promtool is needed (scripts/test.sh installs `prometheus`): {e}"),
    }
    assert_eq!(
        sample(
            &body,
            r#"logbus_fail2ban_bans_total{stage="ban",group="ssh"}"#
        ),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        sample(
            &body,
            r#"logbus_fail2ban_rule_matches_total{stage="ban",rule="sshd-failed-auth"}"#
        ),
        Some(4.0),
        "{body}"
    );
    assert_eq!(
        sample(
            &body,
            r#"logbus_fail2ban_active_bans{stage="ban",group="ssh"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &body,
            r#"logbus_stage_events_in_total{stage="sys",module="parse-syslog"}"#
        ),
        Some(4.0)
    );
    assert!(
        sample(&body, r#"logbus_fail2ban_state_store_bytes{stage="ban"}"#).is_some_and(|b| b > 0.0)
    );
    let (head, _) = http_get(port, "/other");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");

    drop(stdin);
    assert!(run.wait().success(), "{}", run.stderr());
}

#[test]
fn a_metrics_port_in_use_stops_the_run() {
    let sb = Sandbox::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let config = sb.config(&format!(
        "metrics: {{listen: \"127.0.0.1:{port}\"}}\npipeline:\n  in: {{module: stdin}}\n  out: {{module: stdout, inChannels: [in]}}\n"
    ));
    let out = common::run_with(&["run", path_str(&config)], &[], Some(b""));
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr
            .contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{}",
        out.stderr
    );
}
