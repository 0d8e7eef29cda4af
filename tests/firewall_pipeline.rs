//! End to end through the real `logbus` binary, inside the network lab:
//! failure lines on stdin -> `fail2ban` stage -> ipset / nftables sets in
//! the kernel -> the client's connections are dropped.
//!
//! The stage does not call the backend's `start` yet, so the binary only
//! fills the sets (which `apply` creates when missing); the drop rules are
//! then installed by the backend API in the test, the way `start` will once
//! the stage calls it.

mod lab;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lab::{Fw, Lab, PORTS};

const RULES: &str = r#"name: lab
description: test failures
group: web
rules:
  - id: lab-fail
    match: '^FAIL (?P<ip>\S+)$'
"#;

fn pipeline(fw: Fw) -> String {
    format!(
        "pipeline:
  in:
    module: stdin
  ban:
    module: fail2ban
    inChannels: [in]
    rules: [./rules.yml]
    groups:
      web: {{limit: 2, window: 10m, bantime: 1h, ports: [{}]}}
    backend: {{type: {}, manage_rules: true}}
  out:
    module: stdout
    inChannels: [ban]
",
        PORTS[0],
        fw.kind()
    )
}

fn end_to_end(lab: &Lab, fw: Fw) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("rules.yml"), RULES).expect("rules");
    let config = dir.path().join("pipeline.yml");
    std::fs::write(&config, pipeline(fw)).expect("pipeline");
    let (c4, c6) = (Lab::client_ip(false), Lab::client_ip(true));
    let lines = format!(
        "FAIL {c4}\nFAIL {c6}\nhello\nFAIL {c4}\nFAIL {c6}\nFAIL 198.51.100.20\nFAIL not-an-ip\n"
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_logbus"))
        .arg("run")
        .arg(&config)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run logbus");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(lines.as_bytes())
        .expect("feed lines");
    // stdin is closed: the pipeline drains, applies the last batch, exits.
    let end = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        assert!(
            Instant::now() < end,
            "logbus did not exit after its input ended"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("logbus stderr:\n{stderr}");
    assert!(out.status.success(), "logbus failed:\n{stderr}");
    assert!(!stderr.contains("not applied yet"), "{stderr}");

    // Two failures each: both client addresses banned; one failure: not.
    assert!(fw.contains("blacklist-web", c4), "{c4} not banned");
    assert!(fw.contains("blacklist-web-v6", c6), "{c6} not banned");
    assert_eq!(fw.members("blacklist-web"), 1);
    assert_eq!(fw.members("blacklist-web-v6"), 1);

    let mut b = fw.backend("manage_rules: true");
    b.start(&[lab::group_ports("web", &[PORTS[0]])])
        .expect("install the drop rules");
    for v6 in [false, true] {
        lab.assert_blocked(Lab::server_ip(v6), PORTS[0]);
        lab.assert_connects(Lab::server_ip(v6), PORTS[1]);
    }
    b.stop().expect("stop");
}

#[test]
fn logbus_bans_into_ipset() {
    if let Some(lab) = lab::enter("logbus_bans_into_ipset") {
        end_to_end(&lab, Fw::Ipset);
    }
}

#[test]
fn logbus_bans_into_nftables() {
    if let Some(lab) = lab::enter("logbus_bans_into_nftables") {
        end_to_end(&lab, Fw::Nftables);
    }
}
