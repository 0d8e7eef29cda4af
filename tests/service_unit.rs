//! `packaging/logbus.service` is a valid systemd unit (`systemd-analyze
//! verify`) with the hardening the README promises.

mod common;

use std::process::Command;

use common::{Sandbox, repo_root};

#[test]
fn unit_passes_systemd_analyze_verify() {
    let unit = std::fs::read_to_string(repo_root().join("packaging/logbus.service"))
        .expect("packaging/logbus.service");
    // verify checks that ExecStart's program exists: point it at this build.
    let unit_here = unit.replace("/usr/local/bin/logbus", env!("CARGO_BIN_EXE_logbus"));
    assert_ne!(unit, unit_here, "ExecStart names /usr/local/bin/logbus");
    let sb = Sandbox::new();
    let path = sb.write("logbus.service", unit_here);
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (package systemd) runs");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for directive in [
        "ExecStart=/usr/local/bin/logbus run",
        "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_DAC_READ_SEARCH",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/logbus /run/logbus",
        "StateDirectory=logbus",
        "RuntimeDirectory=logbus",
        "NoNewPrivileges=yes",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(
            unit.lines().any(|l| l.trim() == directive),
            "missing `{directive}`"
        );
    }
}

#[test]
fn example_config_passes_check() {
    let path = repo_root().join("packaging/logbus.yml.example");
    let out = Command::new(env!("CARGO_BIN_EXE_logbus"))
        .arg("check")
        .arg(&path)
        .output()
        .expect("run logbus");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(": ok (8 stages)"));
}
