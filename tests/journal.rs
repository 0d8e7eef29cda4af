//! The `journal` input against the real thing: journal files written by
//! `systemd-journal-remote` from export-format text, read by the real
//! `journalctl` (`--file`, `--directory`), resumed by cursor across
//! restarts, a journalctl that is missing, fails or is killed, and a
//! `journal -> fail2ban` pipeline that bans an sshd attacker.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use common::{Running, Sandbox, logbus, path_str, read_string, repo_root, run_with};
use serde_json::{Value, json};

/// Debian's path of the tool that writes journal files.
const JOURNAL_REMOTE: &str = "/lib/systemd/systemd-journal-remote";

/// The boot every test entry claims (journal-remote needs one).
const BOOT_ID: &str = "0123456789abcdef0123456789abcdef";

/// 2023-11-14T22:13:20Z, in microseconds.
const T0: u64 = 1_700_000_000_000_000;

/// One journal entry: fields in order, values as bytes.
#[derive(Clone, Debug)]
struct Entry(Vec<(String, Vec<u8>)>);

impl Entry {
    /// An entry at `realtime_us` with the fields journald always adds.
    fn at(realtime_us: u64) -> Self {
        Entry(vec![
            (
                "__REALTIME_TIMESTAMP".into(),
                realtime_us.to_string().into(),
            ),
            // Monotonic time follows realtime, so files merge in time order.
            (
                "__MONOTONIC_TIMESTAMP".into(),
                (realtime_us - 1_600_000_000_000_000).to_string().into(),
            ),
            ("_BOOT_ID".into(), BOOT_ID.into()),
        ])
    }

    /// A syslog-style entry: host `web1`, program, pid, message.
    fn syslog(realtime_us: u64, program: &str, pid: u32, message: &str) -> Self {
        Self::at(realtime_us)
            .with("_HOSTNAME", "web1")
            .with("SYSLOG_IDENTIFIER", program)
            .with("_PID", &pid.to_string())
            .with("PRIORITY", "6")
            .with("MESSAGE", message)
    }

    fn with(self, key: &str, value: &str) -> Self {
        self.with_bytes(key, value.as_bytes())
    }

    fn with_bytes(mut self, key: &str, value: &[u8]) -> Self {
        self.0.push((key.into(), value.to_vec()));
        self
    }
}

/// The journal export format: `KEY=value` lines, or for a value that is
/// not single-line UTF-8 `KEY\n`, its length as 64-bit little endian, the
/// bytes and `\n`; a blank line ends an entry.
fn export(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        for (k, v) in &e.0 {
            let text = std::str::from_utf8(v).ok().filter(|t| !t.contains('\n'));
            match text {
                Some(t) => out.extend_from_slice(format!("{k}={t}\n").as_bytes()),
                None => {
                    out.extend_from_slice(k.as_bytes());
                    out.push(b'\n');
                    out.extend_from_slice(&(v.len() as u64).to_le_bytes());
                    out.extend_from_slice(v);
                    out.push(b'\n');
                }
            }
        }
        out.push(b'\n');
    }
    out
}

/// Writes `entries` into the journal file `path` (appending when it
/// exists) with systemd-journal-remote.
fn write_journal(path: &Path, entries: &[Entry]) {
    write_export(path, &export(entries));
}

fn write_export(path: &Path, text: &[u8]) {
    assert!(
        Path::new(JOURNAL_REMOTE).exists(),
        "{JOURNAL_REMOTE} is missing: apt-get install systemd-journal-remote"
    );
    assert!(path.extension().is_some_and(|e| e == "journal"));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create journal dir");
    }
    let mut child = Command::new(JOURNAL_REMOTE)
        .arg(format!("--output={}", path.display()))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run systemd-journal-remote");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(text)
        .expect("feed systemd-journal-remote");
    let out = child.wait_with_output().expect("wait for journal-remote");
    assert!(
        out.status.success(),
        "systemd-journal-remote failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The cursors of a journal file's entries, as journalctl prints them.
fn cursors(path: &Path) -> Vec<String> {
    let out = Command::new("journalctl")
        .arg(format!("--file={}", path.display()))
        .args(["--output=json", "--no-pager", "--quiet"])
        .output()
        .expect("run journalctl");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("journalctl JSON");
            v["__CURSOR"].as_str().expect("cursor").to_string()
        })
        .collect()
}

/// The complete JSON lines of a file so far (a line still being written
/// is left for later); none when the file does not exist yet.
fn lines_of(path: &Path) -> Vec<Value> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    common::json_lines(complete)
}

fn messages(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["message"].as_str().unwrap_or("<none>"))
        .collect()
}

fn error_messages(sb: &Sandbox) -> Vec<String> {
    lines_of(&sb.path("errors.jsonl"))
        .iter()
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// A pipeline: the journal stage with `options`, its events to
/// `events.jsonl`, errors to `errors.jsonl`, state in the sandbox.
fn pipeline(sb: &Sandbox, options: &str) -> PathBuf {
    let options: String = options.lines().map(|l| format!("    {l}\n")).collect();
    sb.config(&format!(
        "state_path: state.db
stats_interval: 1h
pipeline:
  jr:
    module: journal
{options}  out:
    module: file
    inChannels: [jr]
    path: events.jsonl
  errs:
    module: file
    inChannels: [errors]
    path: errors.jsonl
  stats-out:
    module: file
    inChannels: [stats]
    path: stats.jsonl
"
    ))
}

/// Runs a pipeline that ends by itself (read-once) and checks it went well.
fn run_once(config: &Path, tz: &str) {
    let out = run_with(&["run", path_str(config)], &[("TZ", tz)], None);
    assert_eq!(out.code, Some(0), "stderr:\n{}", out.stderr);
}

/// Starts `logbus run CONFIG` in the background.
fn start(config: &Path) -> Running {
    let mut cmd = logbus();
    cmd.args(["run", path_str(config)]).env("TZ", "UTC");
    Running::spawn(cmd, false)
}

/// SIGTERM, then a clean exit.
fn stop(mut running: Running) {
    running.signal("TERM");
    let status = running.wait();
    assert_eq!(status.code(), Some(0), "stderr:\n{}", running.stderr());
}

/// Polls `cond` until it holds, failing at once (with the process log)
/// when logbus exits, and after [`common::DEADLINE`] with the log, the
/// errors and the events so far.
fn wait_running(running: &mut Running, sb: &Sandbox, what: &str, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        if let Ok(Some(status)) = running.child.try_wait() {
            panic!(
                "logbus exited ({status}) while waiting for {what}; stderr:\n{}",
                running.stderr()
            );
        }
        if start.elapsed() > common::DEADLINE {
            panic!(
                "timed out waiting for {what}; errors: {:?}; events: {:?}; stderr:\n{}",
                error_messages(sb),
                messages(&lines_of(&sb.path("events.jsonl"))),
                running.stderr_now()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Waits until `events.jsonl` holds at least `n` events; returns them.
fn wait_events(running: &mut Running, sb: &Sandbox, n: usize) -> Vec<Value> {
    let path = sb.path("events.jsonl");
    wait_running(running, sb, &format!("{n} events"), || {
        lines_of(&path).len() >= n
    });
    lines_of(&path)
}

/// The journalctl processes `pid` has started, with their arguments.
fn journalctl_children(pid: u32) -> Vec<(u32, Vec<String>)> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for child in children.split_whitespace() {
            let Ok(child) = child.parse::<u32>() else {
                continue;
            };
            let comm = std::fs::read_to_string(format!("/proc/{child}/comm")).unwrap_or_default();
            if comm.trim() != "journalctl" {
                continue;
            }
            let cmdline = std::fs::read(format!("/proc/{child}/cmdline")).unwrap_or_default();
            let args = cmdline
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            out.push((child, args));
        }
    }
    out
}

fn now_us() -> u64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    u64::try_from(d.as_micros()).expect("time fits")
}

#[test]
fn journal_files_become_events_with_the_syslog_field_names() {
    let sb = Sandbox::new();
    write_journal(
        &sb.path("j/system.journal"),
        &[
            Entry::at(T0 + 123_456)
                .with("_HOSTNAME", "web1")
                .with("SYSLOG_IDENTIFIER", "sshd")
                .with("_COMM", "sshd")
                .with("_PID", "4242")
                .with("SYSLOG_FACILITY", "4")
                .with("PRIORITY", "6")
                .with("_SYSTEMD_UNIT", "ssh.service")
                .with("_TRANSPORT", "syslog")
                .with("MESSAGE", "Invalid user x from 192.0.2.10 port 22"),
            // No SYSLOG_IDENTIFIER nor _PID: _COMM and SYSLOG_PID stand in.
            // The message is not UTF-8, so the journal holds it as binary.
            Entry::at(T0 + 1_000_000)
                .with("_HOSTNAME", "web1")
                .with("_COMM", "cron")
                .with("SYSLOG_PID", "77")
                .with("PRIORITY", "3")
                .with_bytes("MESSAGE", b"caf\xe9 \xff\xfe\nsecond line"),
            Entry::at(T0 + 2_000_000)
                .with("_HOSTNAME", "web2")
                .with("SYSLOG_IDENTIFIER", "kernel")
                .with("PRIORITY", "4")
                .with("MESSAGE", "h\u{e9}llo \u{2713} \"quoted\" \ttab"),
        ],
    );
    let config = pipeline(
        &sb,
        "files: [j/system.journal]\nfollow: false\nstart_at: beginning",
    );
    // `@timestamp` is in the system's zone, here +05:30.
    run_once(&config, "Asia/Kolkata");
    assert_eq!(
        lines_of(&sb.path("events.jsonl")),
        [
            json!({
                "@timestamp": "2023-11-15T03:43:20.123+05:30",
                "host": {"name": "web1"},
                "process": {"name": "sshd", "pid": 4242},
                "message": "Invalid user x from 192.0.2.10 port 22",
                "log": {"syslog": {"priority": 38, "facility": {"code": 4}, "severity": {"code": 6}}},
                "systemd": {"unit": "ssh.service", "transport": "syslog"},
            }),
            json!({
                "@timestamp": "2023-11-15T03:43:21.000+05:30",
                "host": {"name": "web1"},
                "process": {"name": "cron", "pid": 77},
                "message": "caf\u{fffd} \u{fffd}\u{fffd}\nsecond line",
                "log": {"syslog": {"severity": {"code": 3}}},
            }),
            json!({
                "@timestamp": "2023-11-15T03:43:22.000+05:30",
                "host": {"name": "web2"},
                "process": {"name": "kernel"},
                "message": "h\u{e9}llo \u{2713} \"quoted\" \ttab",
                "log": {"syslog": {"severity": {"code": 4}}},
            }),
        ]
    );
    assert_eq!(error_messages(&sb), Vec::<String>::new());
}

#[test]
fn a_directory_is_merged_in_time_order_and_matches_filter_it() {
    let sb = Sandbox::new();
    write_journal(
        &sb.path("jdir/a.journal"),
        &[
            Entry::syslog(T0, "sshd", 10, "a0"),
            Entry::syslog(T0 + 2_000_000, "sshd", 10, "a2"),
            Entry::syslog(T0 + 4_000_000, "cron", 11, "cron a4"),
        ],
    );
    write_journal(
        &sb.path("jdir/b.journal"),
        &[
            Entry::syslog(T0 + 1_000_000, "sshd", 12, "b1"),
            Entry::syslog(T0 + 3_000_000, "sshd", 12, "b3"),
        ],
    );
    let config = pipeline(
        &sb,
        "directory: jdir\nfollow: false\nstart_at: beginning\n\
         matches: [SYSLOG_IDENTIFIER=sshd]\nother_fields: journald",
    );
    run_once(&config, "UTC");
    let events = lines_of(&sb.path("events.jsonl"));
    assert_eq!(messages(&events), ["a0", "b1", "a2", "b3"]);
    // The fields not mapped are kept under `other_fields`.
    let first = &events[0];
    assert_eq!(first["journald"]["_BOOT_ID"], BOOT_ID);
    assert_eq!(
        first["journald"]["__MONOTONIC_TIMESTAMP"],
        (T0 - 1_600_000_000_000_000).to_string()
    );
    let cursor = first["journald"]["__CURSOR"].as_str().unwrap_or_default();
    assert_eq!(cursor, cursors(&sb.path("jdir/a.journal"))[0]);
    let keys: Vec<&String> = first["journald"]
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert_eq!(error_messages(&sb), Vec::<String>::new());
}

#[test]
fn read_once_resumes_after_its_cursor() {
    let sb = Sandbox::new();
    write_journal(
        &sb.path("jdir/one.journal"),
        &[
            Entry::syslog(T0, "sshd", 1, "m1"),
            Entry::syslog(T0 + 1_000_000, "sshd", 1, "m2"),
            Entry::syslog(T0 + 2_000_000, "sshd", 1, "m3"),
        ],
    );
    let config = pipeline(&sb, "directory: jdir\nfollow: false\nstart_at: beginning");
    run_once(&config, "UTC");
    assert_eq!(
        messages(&lines_of(&sb.path("events.jsonl"))),
        ["m1", "m2", "m3"]
    );
    // More entries, in a second file of the directory.
    write_journal(
        &sb.path("jdir/two.journal"),
        &[
            Entry::syslog(T0 + 3_000_000, "sshd", 1, "m4"),
            Entry::syslog(T0 + 4_000_000, "sshd", 1, "m5"),
        ],
    );
    run_once(&config, "UTC");
    // The output file is appended to: nothing twice, nothing lost.
    assert_eq!(
        messages(&lines_of(&sb.path("events.jsonl"))),
        ["m1", "m2", "m3", "m4", "m5"]
    );
    run_once(&config, "UTC");
    assert_eq!(lines_of(&sb.path("events.jsonl")).len(), 5);
    // `start_at: end` does not matter once a cursor is stored.
    let config = pipeline(&sb, "directory: jdir\nfollow: false\nstart_at: end");
    write_journal(
        &sb.path("jdir/two.journal"),
        &[Entry::syslog(T0 + 5_000_000, "sshd", 1, "m6")],
    );
    run_once(&config, "UTC");
    assert_eq!(
        messages(&lines_of(&sb.path("events.jsonl"))),
        ["m1", "m2", "m3", "m4", "m5", "m6"]
    );
    assert_eq!(error_messages(&sb), Vec::<String>::new());
}

#[test]
fn following_resumes_after_sigterm_without_repeats() {
    let sb = Sandbox::new();
    // In a directory of its own: journalctl watches the file's directory,
    // and a write to our outputs next to it would wake it up and hide the
    // 10-entry limit checked below.
    let journal = sb.path("j/live.journal");
    let entry = |i: u64| Entry::syslog(T0 + i * 1_000_000, "sshd", 7, &format!("m{i}"));
    write_journal(&journal, &[entry(1), entry(2)]);
    let config = pipeline(&sb, "files: [j/live.journal]\nstart_at: beginning");
    let mut running = start(&config);
    wait_events(&mut running, &sb, 2);
    // Entries written while journalctl follows the file.
    write_journal(&journal, &[entry(3), entry(4)]);
    wait_events(&mut running, &sb, 4);
    stop(running);
    // More than 10 while stopped: `--follow` alone would show only the
    // last 10 after the cursor.
    let more: Vec<Entry> = (5..=16).map(entry).collect();
    write_journal(&journal, &more);
    let mut running = start(&config);
    wait_events(&mut running, &sb, 16);
    stop(running);
    let want: Vec<String> = (1..=16).map(|i| format!("m{i}")).collect();
    assert_eq!(messages(&lines_of(&sb.path("events.jsonl"))), want);
    assert_eq!(error_messages(&sb), Vec::<String>::new());
}

#[test]
fn start_at_end_skips_what_the_journal_already_holds() {
    let sb = Sandbox::new();
    let journal = sb.path("live.journal");
    let t = now_us();
    write_journal(
        &journal,
        &[
            Entry::syslog(t, "sshd", 1, "old 1"),
            Entry::syslog(t + 1, "sshd", 1, "old 2"),
        ],
    );
    let config = pipeline(&sb, "files: [live.journal]");
    let mut running = start(&config);
    // journalctl may not have reached the end when the first probes are
    // written; those are then old too. Probe until one comes through.
    let mut probe = 0u64;
    let path = sb.path("events.jsonl");
    wait_running(&mut running, &sb, "a probe written after the start", || {
        probe += 1;
        write_journal(
            &journal,
            &[Entry::syslog(
                t + 1 + probe,
                "sshd",
                1,
                &format!("probe {probe}"),
            )],
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
        while std::time::Instant::now() < deadline {
            if !lines_of(&path).is_empty() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        false
    });
    // After the first probe through, every later probe comes through too.
    write_journal(&journal, &[Entry::syslog(t + 1000, "sshd", 1, "last")]);
    wait_running(&mut running, &sb, "the last entry", || {
        messages(&lines_of(&path)).last() == Some(&"last")
    });
    stop(running);
    let events = lines_of(&path);
    let got = messages(&events);
    let first: u64 = got[0]
        .strip_prefix("probe ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the first event is no probe: {got:?}"));
    let mut want: Vec<String> = (first..=probe).map(|i| format!("probe {i}")).collect();
    want.push("last".into());
    assert_eq!(got, want);
}

#[test]
fn a_killed_journalctl_is_restarted_after_the_last_cursor() {
    let sb = Sandbox::new();
    let journal = sb.path("live.journal");
    let entry = |i: u64| Entry::syslog(T0 + i * 1_000_000, "sshd", 7, &format!("m{i}"));
    write_journal(&journal, &[entry(1), entry(2), entry(3)]);
    let config = pipeline(&sb, "files: [live.journal]\nstart_at: beginning");
    let mut running = start(&config);
    wait_events(&mut running, &sb, 3);
    let children = journalctl_children(running.pid());
    assert_eq!(children.len(), 1, "{children:?}");
    let (first_pid, first_args) = &children[0];
    assert!(
        first_args.contains(&"--no-tail".to_string()),
        "{first_args:?}"
    );
    assert!(
        !first_args.iter().any(|a| a.starts_with("--after-cursor")),
        "{first_args:?}"
    );
    let status = Command::new("kill")
        .args(["-KILL", &first_pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    wait_running(&mut running, &sb, "the death to be reported", || {
        error_messages(&sb) == ["journalctl was killed by signal 9; restarting in 1s"]
    });
    // Written during the back-off, so that the new journalctl finds them
    // when it opens the file. (Entries written while journalctl is between
    // opening the journal and watching it are only seen at the next write:
    // journalctl's own race, which a test must not stumble on.)
    let after = format!("--after-cursor={}", cursors(&journal)[2]);
    write_journal(&journal, &[entry(4), entry(5)]);
    // The new journalctl starts after the last entry handed on.
    let pid = running.pid();
    wait_running(&mut running, &sb, "journalctl to be started again", || {
        journalctl_children(pid)
            .iter()
            .any(|(pid, args)| pid != first_pid && args.contains(&after))
    });
    wait_events(&mut running, &sb, 5);
    stop(running);
    assert_eq!(
        messages(&lines_of(&sb.path("events.jsonl"))),
        ["m1", "m2", "m3", "m4", "m5"]
    );
    assert_eq!(
        error_messages(&sb),
        ["journalctl was killed by signal 9; restarting in 1s"]
    );
}

#[test]
fn a_failing_journalctl_is_reported_and_retried_until_it_works() {
    let sb = Sandbox::new();
    // The directory does not exist yet: journalctl fails at once.
    let config = pipeline(&sb, "directory: jdir\nstart_at: beginning");
    let mut running = start(&config);
    let dir = sb.path("jdir");
    wait_running(&mut running, &sb, "the failure to be reported", || {
        error_messages(&sb).len() >= 2
    });
    let errors = error_messages(&sb);
    assert_eq!(
        errors[..2],
        [
            format!(
                "journalctl: Failed to open {}: No such file or directory",
                dir.display()
            ),
            "journalctl exited with status 1; restarting in 1s".to_string(),
        ]
    );
    // Made elsewhere and renamed into place: a journalctl starting just
    // then sees no directory or a complete one (see the test above).
    let staging = sb.path("staging/jdir");
    write_journal(
        &staging.join("a.journal"),
        &[Entry::syslog(T0, "sshd", 1, "finally")],
    );
    std::fs::rename(&staging, &dir).expect("move the journal directory into place");
    assert_eq!(messages(&wait_events(&mut running, &sb, 1)), ["finally"]);
    // A new file in the followed directory is read too.
    write_journal(
        &dir.join("b.journal"),
        &[Entry::syslog(T0 + 1_000_000, "sshd", 1, "new file")],
    );
    wait_events(&mut running, &sb, 2);
    stop(running);
    assert_eq!(
        messages(&lines_of(&sb.path("events.jsonl"))),
        ["finally", "new file"]
    );
    // Each failure doubled the wait; the errors say so, in order.
    let errors = error_messages(&sb);
    let waits: Vec<&str> = errors
        .iter()
        .filter_map(|e| e.strip_prefix("journalctl exited with status 1; restarting in "))
        .collect();
    let want = ["1s", "2s", "4s", "8s", "16s"];
    assert!(
        !waits.is_empty() && waits[..] == want[..waits.len()],
        "{errors:?}"
    );
}

#[test]
fn a_missing_journalctl_is_an_error_event_and_retried() {
    let sb = Sandbox::new();
    let config = pipeline(&sb, "journalctl: no/such/journalctl");
    let mut running = start(&config);
    wait_running(&mut running, &sb, "two attempts", || {
        error_messages(&sb).len() >= 2
    });
    // Still running: the input waits to try again.
    stop(running);
    let missing = sb.path("no/such/journalctl");
    let msg = |wait: &str| {
        format!(
            "cannot run journalctl `{}`: No such file or directory (os error 2); retrying in {wait}",
            missing.display()
        )
    };
    let errors = error_messages(&sb);
    assert_eq!(errors[..2], [msg("1s"), msg("2s")]);
    assert!(errors.len() <= 3, "{errors:?}");
    assert_eq!(lines_of(&sb.path("events.jsonl")), Vec::<Value>::new());
}

#[test]
fn read_once_with_a_missing_journalctl_reports_and_ends() {
    let sb = Sandbox::new();
    let config = pipeline(&sb, "journalctl: /no/such/journalctl\nfollow: false");
    run_once(&config, "UTC");
    assert_eq!(
        error_messages(&sb),
        ["cannot run journalctl `/no/such/journalctl`: No such file or directory (os error 2)"]
    );
}

#[test]
fn journal_to_fail2ban_bans_the_sshd_attacker() {
    let sb = Sandbox::new();
    let journal = sb.path("auth.journal");
    let t = now_us();
    write_journal(
        &journal,
        &[Entry::syslog(
            t,
            "sshd",
            4000,
            "Accepted publickey for alice from 198.51.100.20 port 50000 ssh2",
        )],
    );
    let config = sb.config(
        "state_path: state.db
stats_interval: 1h
pipeline:
  auth:
    module: journal
    files: [auth.journal]
    start_at: beginning
  ban:
    module: fail2ban
    inChannels: [auth]
    rules: [sshd]
    groups: {ssh: {limit: 1, window: 10m, bantime: 1h}}
    backend: {type: dry-run}
    bansChannel: bans
  bans-out:
    module: file
    inChannels: [bans]
    path: bans.jsonl
  seen:
    module: file
    inChannels: [auth]
    path: events.jsonl
  errs:
    module: file
    inChannels: [errors]
    path: errors.jsonl
",
    );
    let mut running = start(&config);
    // Once the first entry is through, journalctl watches the file.
    wait_events(&mut running, &sb, 1);
    // The attack arrives while logbus follows the journal: the fixture's
    // entries, stamped now.
    let fixture = read_string(&repo_root().join("tests/data/journal/sshd-attack.export"));
    let mut text = Vec::new();
    for (i, entry) in fixture
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .enumerate()
    {
        let at = t + 1_000 * (i as u64 + 1);
        let stamp = export(&[Entry::at(at)]);
        // The stamp without its entry-ending blank line, then the entry.
        text.extend_from_slice(&stamp[..stamp.len() - 1]);
        text.extend_from_slice(entry.trim().as_bytes());
        text.extend_from_slice(b"\n\n");
    }
    write_export(&journal, &text);
    let bans_path = sb.path("bans.jsonl");
    wait_running(&mut running, &sb, "the ban", || {
        !lines_of(&bans_path).is_empty()
    });
    stop(running);
    let bans = lines_of(&bans_path);
    assert_eq!(bans.len(), 1, "{bans:#?}");
    let ban = &bans[0];
    assert_eq!(ban["client"]["ip"], "192.0.2.10", "{ban:#}");
    assert_eq!(ban["fail2ban"]["group"], "ssh", "{ban:#}");
    assert_eq!(ban["fail2ban"]["rule"], "sshd-invalid-user", "{ban:#}");
    // Every entry went through fail2ban, the cron one included (not sshd:
    // no failure, no ban).
    assert_eq!(
        messages(&lines_of(&sb.path("events.jsonl"))),
        [
            "Accepted publickey for alice from 198.51.100.20 port 50000 ssh2",
            "Connection from 192.0.2.10 port 40022 on 198.51.100.1 port 22",
            "Invalid user x from 192.0.2.10 port 22",
            "Invalid user y from 203.0.113.77 port 22",
        ]
    );
    assert_eq!(error_messages(&sb), Vec::<String>::new());
}

/// A stand-in for journalctl (a test may use a shell; logbus never does):
/// it records its arguments, prints what `stdout` holds, one line of
/// stderr, and exits with status 3.
const FAKE_JOURNALCTL: &str = r#"#!/bin/sh
for a in "$@"; do printf '%s\n' "$a"; done > "$(dirname "$0")/args.$$"
cat "$(dirname "$0")/stdout.txt"
echo 'something went wrong' >&2
exit 3
"#;

#[test]
fn bad_output_is_reported_never_fatal() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    let fake = sb.write("bin/journalctl", FAKE_JOURNALCTL);
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let long = format!("{{\"MESSAGE\":\"{}\"}}", "x".repeat(200));
    sb.write(
        "bin/stdout.txt",
        format!(
            "not json\n[1,2]\n\n{{\"MESSAGE\":\"ok\",\"__CURSOR\":\"s=1;i=1\"}}\n{long}\n{{\"MESSAGE\":\"cut"
        ),
    );
    let config = pipeline(
        &sb,
        "journalctl: bin/journalctl\nfollow: false\nmax_entry_bytes: 100",
    );
    run_once(&config, "UTC");
    assert_eq!(
        lines_of(&sb.path("events.jsonl")),
        [json!({"message": "ok"})]
    );
    let mut errors = error_messages(&sb);
    // journalctl's own end comes last; the rest may interleave with stderr.
    assert_eq!(
        errors.pop().as_deref(),
        Some("journalctl exited with status 3")
    );
    errors.sort();
    assert_eq!(
        errors,
        [
            "a journal entry of 214 bytes (as JSON) is longer than max_entry_bytes (100); skipped",
            "journalctl printed a line that is not a JSON object: EOF while parsing a string at line 1 column 15",
            "journalctl printed a line that is not a JSON object: expected ident at line 1 column 2",
            "journalctl printed a line that is not a JSON object: invalid type: sequence, expected a map at line 1 column 0",
            "journalctl: something went wrong",
        ]
    );
    let stats = lines_of(&sb.path("stats.jsonl"));
    let jr = common::last_stats(&stats, "jr");
    assert_eq!(
        (&jr["lines_in"], &jr["events_out"], &jr["entries_skipped"]),
        (&json!(1), &json!(1), &json!(4)),
        "{jr:#}"
    );
    // The bad line rides along with its error.
    let bad = lines_of(&sb.path("errors.jsonl"));
    assert!(
        bad.iter()
            .any(|e| e["input"] == json!({"message": "not json"})),
        "{bad:#?}"
    );
    // The next run resumes after the cursor of the one good entry.
    run_once(&config, "UTC");
    let mut runs: Vec<Vec<String>> = std::fs::read_dir(sb.path("bin"))
        .expect("read bin")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("args."))
        .map(|e| read_string(&e.path()).lines().map(str::to_string).collect())
        .collect();
    runs.sort_by_key(|args| args.iter().any(|a| a.starts_with("--after-cursor")));
    assert_eq!(
        runs,
        [
            vec![
                "--output=json",
                "--all",
                "--no-pager",
                "--quiet",
                "--lines=0"
            ],
            vec![
                "--output=json",
                "--all",
                "--no-pager",
                "--quiet",
                "--after-cursor=s=1;i=1",
                "--no-tail"
            ],
        ]
    );
}
