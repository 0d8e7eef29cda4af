//! The command backend with real programs: placeholders substituted per
//! argv element (no shell), a timeout that kills, failures that say what
//! failed, and a retried batch that does not rerun what succeeded.
//! Needs no root and no namespace: nothing here touches the firewall.

use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use logbus::fail2ban::backend::{Backend, BackendDef, Change};

fn backend(yaml: &str) -> Box<dyn Backend> {
    let def: BackendDef = serde_yaml_ng::from_str(yaml).expect("backend yaml");
    def.build().expect("build backend")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

fn ban(addr: &str, group: &str, secs: Option<u64>) -> Change {
    Change::Ban {
        ip: ip(addr),
        group: group.into(),
        timeout: secs.map(Duration::from_secs),
    }
}

fn unban(addr: &str, group: &str) -> Change {
    Change::Unban {
        ip: ip(addr),
        group: group.into(),
    }
}

/// Writes an executable script (run by the kernel through its `#!` line,
/// not through a shell string of ours).
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

#[test]
fn touch_files_named_by_placeholders() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path().display();
    let mut b = backend(&format!(
        "{{type: command, ban: [/usr/bin/touch, '{d}/ban-{{ip}}-{{group}}'], \
          unban: [/usr/bin/touch, '{d}/unban-{{ip}}-{{set}}']}}"
    ));
    b.apply(&[
        ban("192.0.2.1", "ssh", Some(3600)),
        ban("2001:db8::7", "web", None),
        unban("192.0.2.1", "ssh"),
    ])
    .expect("apply");
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "ban-192.0.2.1-ssh",
            "ban-2001:db8::7-web",
            "unban-192.0.2.1-blacklist-ssh"
        ]
    );
}

#[test]
fn arguments_reach_the_program_verbatim() {
    let dir = tempfile::tempdir().expect("temp dir");
    // One line per argument, into a file named after the first.
    let record = script(
        dir.path(),
        "record",
        "out=\"$(dirname \"$0\")/$1\"; shift; printf '%s\\n' \"$@\" > \"$out\"\n",
    );
    let mut b = backend(&format!(
        "{{type: command, \
          ban: ['{}', 'ban-{{ip}}', '{{ip}}', '{{group}}', '{{bantime}}', 'set={{set}}', '$(touch pwned); {{{{x}}}}'], \
          unban: ['{}', 'unban-{{ip}}', '{{ip}}', '{{group}}']}}",
        record.display(),
        record.display()
    ));
    b.apply(&[
        ban("198.51.100.4", "mail", Some(90)),
        ban("::ffff:203.0.113.9", "web", None),
        unban("198.51.100.4", "mail"),
    ])
    .expect("apply");
    let read = |name: &str| {
        std::fs::read_to_string(dir.path().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    assert_eq!(
        read("ban-198.51.100.4"),
        "198.51.100.4\nmail\n90\nset=blacklist-mail\n$(touch pwned); {x}\n"
    );
    // Mapped IPv6 is the IPv4 address; forever is 0.
    assert_eq!(
        read("ban-203.0.113.9"),
        "203.0.113.9\nweb\n0\nset=blacklist-web\n$(touch pwned); {x}\n"
    );
    assert_eq!(read("unban-198.51.100.4"), "198.51.100.4\nmail\n");
    assert!(
        !dir.path().join("pwned").exists(),
        "an argument ran as shell code"
    );
}

#[test]
fn timeout_kills_the_command() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pidfile = dir.path().join("pid");
    let slow = script(
        dir.path(),
        "slow",
        &format!("echo $$ > '{}'\nexec sleep 30\n", pidfile.display()),
    );
    let mut b = backend(&format!(
        "{{type: command, ban: ['{}', '{{ip}}'], timeout: 300ms}}",
        slow.display()
    ));
    let err = b
        .apply(&[ban("192.0.2.1", "ssh", Some(60))])
        .expect_err("a 30 s command under a 300 ms timeout")
        .to_string();
    assert!(
        err.contains("did not finish within 0.3s and was killed"),
        "{err}"
    );
    assert!(err.contains("backend.timeout"), "{err}");
    let pid = std::fs::read_to_string(&pidfile).expect("pid file");
    // Killed and reaped: no such process any more (not even a zombie).
    let proc = PathBuf::from(format!("/proc/{}", pid.trim()));
    let end = Instant::now() + Duration::from_secs(30);
    while proc.exists() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!proc.exists(), "the timed-out command is still running");
}

#[test]
fn missing_program_says_which_option() {
    let mut b = backend("{type: command, ban: [/nonexistent/cf-ban, '{ip}']}");
    let err = b
        .apply(&[ban("192.0.2.1", "ssh", Some(60))])
        .expect_err("no such program")
        .to_string();
    assert!(err.contains("/nonexistent/cf-ban` was not found"), "{err}");
    assert!(err.contains("backend.ban"), "{err}");
}

#[test]
fn retried_batch_skips_what_succeeded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    // Appends its address to `calls`; fails for the address in `fail`.
    let api = script(
        d,
        "api",
        "d=$(dirname \"$0\")\n\
         if [ -f \"$d/fail\" ] && [ \"$(cat \"$d/fail\")\" = \"$1\" ]; then echo 'api down' >&2; exit 3; fi\n\
         echo \"$1\" >> \"$d/calls\"\n",
    );
    let mut b = backend(&format!(
        "{{type: command, ban: ['{}', '{{ip}}'], unban: ['{}', 'un-{{ip}}']}}",
        api.display(),
        api.display()
    ));
    let batch = [
        ban("192.0.2.1", "web", Some(60)),
        ban("192.0.2.2", "web", Some(60)),
        unban("192.0.2.3", "web"),
    ];
    std::fs::write(d.join("fail"), "192.0.2.2").expect("write");
    let err = b.apply(&batch).expect_err("api down").to_string();
    assert!(err.contains("ban of 192.0.2.2 in group web"), "{err}");
    assert!(err.contains("exit status: 3"), "{err}");
    assert!(err.contains("api down"), "{err}");
    assert!(err.contains("change 2 of 3"), "{err}");
    let calls = || std::fs::read_to_string(d.join("calls")).expect("calls");
    assert_eq!(calls(), "192.0.2.1\n");

    std::fs::remove_file(d.join("fail")).expect("rm");
    // The caller retries the batch with a new change appended.
    let mut retry = batch.to_vec();
    retry.push(ban("192.0.2.4", "web", Some(60)));
    b.apply(&retry).expect("retry");
    assert_eq!(
        calls(),
        "192.0.2.1\n192.0.2.2\nun-192.0.2.3\n192.0.2.4\n",
        "the first ban ran twice"
    );
    // A new batch runs in full.
    b.apply(&batch[..1]).expect("new batch");
    assert!(calls().ends_with("192.0.2.4\n192.0.2.1\n"));
}
