//! The built-in default pipeline (`logbus run --print-default`, and `logbus
//! check` / `run` without a file) on machines with and without each log
//! source: the search paths point at a temporary root
//! (`LOGBUS_DEFAULT_ROOT`), and which firewall programs exist is decided by
//! the `PATH` given to logbus (links to the real programs, or none).

mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Sandbox, logbus, path_str};

const JOURNAL_REMOTE: &str = "/lib/systemd/systemd-journal-remote";

/// A directory of links to the named real programs, to serve as `PATH`.
fn bin_dir(sb: &Sandbox, programs: &[&str]) -> PathBuf {
    let dir = sb.path("bin");
    std::fs::create_dir_all(&dir).expect("bin dir");
    for p in programs {
        let real = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(p))
            .find(|c| c.exists())
            .unwrap_or_else(|| panic!("{p} is installed (scripts/test.sh installs it)"));
        symlink(real, dir.join(p)).expect("link a program");
    }
    dir
}

fn print_default(root: &Path, path: &Path) -> (String, String) {
    let out = logbus()
        .args(["run", "--print-default"])
        .env("LOGBUS_DEFAULT_ROOT", root)
        .env("PATH", path)
        .output()
        .expect("run logbus");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `logbus check` accepts the printed default.
fn assert_checks(sb: &Sandbox, yaml: &str) {
    let file = sb.write("printed.yml", yaml);
    let out = logbus()
        .args(["check", path_str(&file)])
        .output()
        .expect("run logbus");
    assert!(
        out.status.success(),
        "{}\n{yaml}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n")
}

#[test]
fn bare_machine_waits_for_auth_log_and_warns_about_the_firewall() {
    let sb = Sandbox::new();
    let root = sb.path("root");
    std::fs::create_dir_all(&root).expect("root");
    let (yaml, err) = print_default(&root, &bin_dir(&sb, &[]));
    let auth = root.join("var/log/auth.log");
    assert!(
        yaml.contains(&format!("paths: [\"{}\"]", auth.display())),
        "{yaml}"
    );
    assert!(yaml.contains("rules: [sshd]"), "{yaml}");
    assert!(yaml.contains("backend: {type: dry-run}"), "{yaml}");
    assert!(!yaml.contains("module: journal"), "{yaml}");
    assert!(err.contains("WARNING: NO FIREWALL"), "{err}");
    assert!(err.contains("waiting for"), "{err}");
    assert_checks(&sb, &yaml);
}

#[test]
fn log_files_and_nftables() {
    let sb = Sandbox::new();
    let root = sb.path("root");
    for f in [
        "var/log/secure",
        "var/log/kern.log",
        "var/log/maillog",
        "var/log/nginx/access.log",
        "var/log/nginx/error.log",
        "var/log/httpd/error_log",
    ] {
        sb.write(&format!("root/{f}"), "");
    }
    let (yaml, err) = print_default(&root, &bin_dir(&sb, &["nft"]));
    let p = |f: &str| format!("\"{}\"", root.join(f).display());
    assert!(
        yaml.contains(&format!("paths: [{}]", p("var/log/secure"))),
        "{yaml}"
    );
    assert!(
        yaml.contains(&format!("paths: [{}]", p("var/log/kern.log"))),
        "{yaml}"
    );
    assert!(
        yaml.contains(&format!("paths: [{}]", p("var/log/maillog"))),
        "{yaml}"
    );
    assert!(
        yaml.contains(&format!(
            "paths: [{}, {}]",
            p("var/log/nginx/error.log"),
            p("var/log/httpd/error_log")
        )),
        "{yaml}"
    );
    assert!(yaml.contains("inChannels: [auth, kernel, mail]"), "{yaml}");
    assert!(
        yaml.contains("rules: [sshd, iptables, postfix, dovecot, web-scanners, nginx-botsearch, nginx-http-auth, apache-auth, apache-noscript, apache-overflows]"),
        "{yaml}"
    );
    if is_root() {
        // `nft list tables` needs CAP_NET_ADMIN.
        assert!(
            yaml.contains("backend: {type: nftables, manage_rules: true}"),
            "{yaml}"
        );
        assert!(!err.contains("NO FIREWALL"), "{err}");
    } else {
        eprintln!("not root: nft cannot list tables, the backend check is skipped");
    }
    assert_checks(&sb, &yaml);
}

#[test]
fn ipset_when_nft_is_missing() {
    if !is_root() {
        eprintln!("skipped: needs root (ipset and iptables need CAP_NET_ADMIN)");
        return;
    }
    let sb = Sandbox::new();
    let root = sb.path("root");
    sb.write("root/var/log/auth.log", "");
    let (yaml, _) = print_default(&root, &bin_dir(&sb, &["ipset", "iptables"]));
    assert!(
        yaml.contains("backend: {type: ipset, manage_rules: true}"),
        "{yaml}"
    );
    // ipset without iptables cannot drop anything: a dry run.
    let sb2 = Sandbox::new();
    let (yaml, err) = print_default(&root, &bin_dir(&sb2, &["ipset"]));
    assert!(yaml.contains("backend: {type: dry-run}"), "{yaml}");
    assert!(err.contains("NO FIREWALL"), "{err}");
}

#[test]
fn a_journal_with_entries_is_read_instead_of_files() {
    let sb = Sandbox::new();
    let root = sb.path("root");
    sb.write("root/var/log/auth.log", "");
    let dir = root.join("var/log/journal");
    std::fs::create_dir_all(&dir).expect("journal dir");
    let export = "__REALTIME_TIMESTAMP=1764064800000000\n__MONOTONIC_TIMESTAMP=1000\n_BOOT_ID=3c1d4b7e9a2f4d6b8c0e1f2a3b4c5d6e\n_HOSTNAME=srv\nSYSLOG_IDENTIFIER=sshd\n_PID=7\nMESSAGE=Invalid user x from 192.0.2.10 port 22\n\n";
    let mut child = Command::new(JOURNAL_REMOTE)
        .arg(format!("--output={}", dir.join("test.journal").display()))
        .arg("-")
        .stdin(Stdio::piped())
        .spawn()
        .expect("systemd-journal-remote (package systemd-journal-remote)");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), export.as_bytes())
        .expect("feed the export");
    assert!(child.wait().expect("wait").success());
    // Without journalctl the files are used; with it, the journal.
    let (yaml, _) = print_default(&root, &bin_dir(&sb, &[]));
    assert!(!yaml.contains("module: journal"), "{yaml}");
    let sb2 = Sandbox::new();
    let (yaml, _) = print_default(&root, &bin_dir(&sb2, &["journalctl"]));
    assert!(yaml.contains("module: journal"), "{yaml}");
    assert!(
        yaml.contains(&format!("directory: \"{}\"", dir.display())),
        "{yaml}"
    );
    assert!(!yaml.contains("auth.log"), "{yaml}");
    assert!(
        yaml.contains("rules: [sshd, iptables, postfix, dovecot]"),
        "{yaml}"
    );
    assert_checks(&sb, &yaml);
}

#[test]
fn the_system_config_wins_over_the_default() {
    let sb = Sandbox::new();
    let root = sb.path("root");
    sb.write(
        "root/etc/logbus/logbus.yml",
        "pipeline:\n  in: {module: stdin}\n  out: {module: stdout, inChannels: [in]}\n",
    );
    let out = logbus()
        .arg("check")
        .env("LOGBUS_DEFAULT_ROOT", &root)
        .output()
        .expect("run logbus");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "{}: ok (2 stages)",
            root.join("etc/logbus/logbus.yml").display()
        )),
        "{stdout}"
    );
    // Without it, the built-in default is checked.
    let sb2 = Sandbox::new();
    let out = logbus()
        .arg("check")
        .env("LOGBUS_DEFAULT_ROOT", sb2.dir())
        .env("PATH", bin_dir(&sb2, &[]))
        .output()
        .expect("run logbus");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("<built-in default>: ok ("),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn services_with_their_own_logs_are_protected() {
    let sb = Sandbox::new();
    let root = sb.path("root");
    sb.write("root/var/log/auth.log", "");
    let exim = sb.write("root/var/log/exim4/mainlog", "");
    let asterisk = sb.write("root/var/log/asterisk/messages", "");
    // No firewall program on PATH: a dry run, banning nothing for real.
    let (yaml, _) = print_default(&root, &bin_dir(&sb, &[]));
    assert!(
        yaml.contains(&format!(
            "  exim:\n    module: tail\n    paths: [\"{}\"]",
            exim.display()
        )),
        "{yaml}"
    );
    assert!(
        yaml.contains("inChannels: [syslog, exim, asterisk]"),
        "{yaml}"
    );
    assert!(yaml.contains("rules: [sshd, exim, asterisk]"), "{yaml}");
    assert!(
        yaml.contains("voip: {limit: 5, window: 10m, bantime: 1h, ports: [5060, 5061]}"),
        "{yaml}"
    );
    assert!(
        !yaml.contains("db: {"),
        "no MySQL log, no db group:\n{yaml}"
    );
    assert_checks(&sb, &yaml);

    // Run it (state and socket moved into the sandbox) and attack both.
    let yaml = yaml
        .replace("/var/lib/logbus/state.db", path_str(&sb.path("state.db")))
        .replace(
            "/run/logbus/control.sock",
            path_str(&sb.path("control.sock")),
        );
    let config = sb.write("default.yml", &yaml);
    let mut cmd = logbus();
    cmd.arg("run").arg(&config).env("RUST_LOG", "info");
    let running = common::Running::spawn(cmd, false);
    let append = |file: &Path, line: String| {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(file)
            .expect("open log");
        std::io::Write::write_all(&mut f, format!("{line}\n").as_bytes()).expect("append");
    };
    common::wait_for("bans in the mail and voip groups", || {
        // Keep writing until the tails (which start at the end) have seen
        // enough: lines written before they opened the files are not read.
        let now = jiff::Zoned::now().strftime("%Y-%m-%d %H:%M:%S").to_string();
        append(
            &exim,
            format!(
                "{now} login authenticator failed for (ylmf-pc) [192.0.2.10]: 535 Incorrect authentication data (set_id=198.51.100.1)"
            ),
        );
        append(
            &asterisk,
            format!(
                "[{now}] NOTICE[22382] manager.c: 192.0.2.20 failed to authenticate as 'admin'"
            ),
        );
        let err = running.stderr_now();
        err.contains("ban 192.0.2.10 in mail") && err.contains("ban 192.0.2.20 in voip")
    });
    let err = running.stderr_now();
    assert!(
        !err.contains("198.51.100.1"),
        "the injected address is never taken:\n{err}"
    );
}
