//! The `tail` input through the real binary, on real files: appends while
//! running, rotation by rename + create and by copytruncate while a writer
//! keeps appending (with inotify and with polling), restarts from the
//! checkpoint (clean stop and `kill -9`), a same-inode rewrite, globs
//! picking up new files, files that appear later, and problems reported as
//! error events.
//!
//! Every line written carries a sequence number (`seq=000042`); the checks
//! are that each number arrives exactly once, in order, per file. Waits poll
//! the output with a deadline; sleeps only pace the writers.

mod common;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{Running, Sandbox, logbus, path_str, wait_for};
use serde_json::Value;

/// Padding so that lines have a realistic length.
const PAD: &str =
    "sshd[4242]: Connection closed by authenticating user root 192.0.2.1 port 22 [preauth]";

/// A pipeline: `tail` with `options` -> `out.jsonl`, errors -> `errors.jsonl`.
fn config(sb: &Sandbox, options: &str) -> PathBuf {
    sb.config(&format!(
        "state_path: state.db
stats_interval: 1h
pipeline:
  in:
    module: tail
{options}
  out: {{module: file, inChannels: [in], path: out.jsonl}}
  errs: {{module: file, inChannels: [errors], path: errors.jsonl}}
  counters: {{module: file, inChannels: [stats], path: stats.jsonl}}
"
    ))
}

fn start(config: &Path) -> Running {
    let mut cmd = logbus();
    cmd.args(["run", path_str(config)]);
    Running::spawn(cmd, false)
}

/// Waits for the log line saying `path` is followed (the initial scan is done).
fn wait_following(running: &Running, path: &Path) {
    let needle = format!("following {} from offset", path.display());
    wait_for(&needle, || running.stderr_now().contains(&needle));
}

/// SIGTERM, then a clean exit.
fn stop(mut running: Running) -> String {
    running.signal("TERM");
    let status = running.wait();
    let stderr = running.stderr();
    assert_eq!(status.code(), Some(0), "stderr:\n{stderr}");
    stderr
}

/// The complete JSON lines of an output file (a line being written is left
/// out until its newline is there; after `kill -9` a torn last line too).
fn complete_lines(path: &Path) -> Vec<Value> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    common::json_lines(complete)
}

/// Sequence numbers per `log.file.path`, in arrival order.
fn seqs(sb: &Sandbox) -> BTreeMap<String, Vec<u64>> {
    let mut map: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for e in complete_lines(&sb.path("out.jsonl")) {
        let path = e["log"]["file"]["path"].as_str().unwrap_or("-").to_string();
        let msg = e["message"].as_str().unwrap_or_default();
        let n = seq_of(msg).unwrap_or_else(|| panic!("not a numbered line: {e}"));
        map.entry(path).or_default().push(n);
    }
    map
}

fn seq_of(msg: &str) -> Option<u64> {
    msg.strip_prefix("seq=")?.get(..6)?.parse().ok()
}

fn total(sb: &Sandbox) -> usize {
    seqs(sb).values().map(Vec::len).sum()
}

fn line(n: u64) -> String {
    format!("seq={n:06} {PAD}\n")
}

fn append(path: &Path, range: std::ops::Range<u64>) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let text: String = range.map(line).collect();
    f.write_all(text.as_bytes()).unwrap();
}

fn assert_exactly(got: &[u64], want: std::ops::Range<u64>, what: &str) {
    let want: Vec<u64> = want.collect();
    if got != want {
        let dupes = got.len() as i64 - want.len() as i64;
        let first_bad = got.iter().zip(&want).position(|(a, b)| a != b);
        panic!(
            "{what}: got {} lines for {} expected ({dupes:+}); first difference at index {first_bad:?}: {:?}",
            got.len(),
            want.len(),
            first_bad.map(|i| &got[i.saturating_sub(3)..(i + 3).min(got.len())])
        );
    }
}

/// Errors delivered on the `errors` channel.
fn error_messages(sb: &Sandbox) -> Vec<String> {
    complete_lines(&sb.path("errors.jsonl"))
        .iter()
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn appends_while_running_arrive_once_in_order() {
    let sb = Sandbox::new();
    let log = sb.path("app.log");
    // Written before the start: skipped (`start_at: end`), except the line
    // being written (no newline yet), which is read whole once it ends.
    std::fs::write(&log, "old 1\nold 2\nseq=000000 par").unwrap();
    let running = start(&config(&sb, "    paths: [app.log]"));
    wait_following(&running, &log);
    let mut f = OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(b"tial line\n").unwrap();
    for n in 1..500 {
        f.write_all(line(n).as_bytes()).unwrap();
        if n % 50 == 0 {
            thread::sleep(Duration::from_millis(2));
        }
    }
    // A partial line waits for its newline.
    f.write_all(b"seq=000500 no newline yet").unwrap();
    wait_for("499 appended lines", || total(&sb) >= 500);
    f.write_all(b" ... now\n").unwrap();
    wait_for("the completed line", || total(&sb) >= 501);
    let stderr = stop(running);
    let got = seqs(&sb);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_exactly(&got[path_str(&log)], 0..501, "app.log");
    let events = complete_lines(&sb.path("out.jsonl"));
    assert_eq!(events[0]["message"], "seq=000000 partial line");
    // `log.offset` is the line's byte offset: the first line started after "old 2\n".
    assert_eq!(events[0]["log"]["offset"], 12);
    assert_eq!(
        events[1]["log"]["offset"],
        12 + "seq=000000 partial line\n".len()
    );
    let stats = complete_lines(&sb.path("stats.jsonl"));
    let last = common::last_stats(&stats, "in");
    assert_eq!(last["lines_in"], 501);
    let bytes = std::fs::metadata(&log).unwrap().len() - 12;
    assert_eq!(last["bytes_in"], bytes);
    assert!(error_messages(&sb).is_empty(), "{stderr}");
}

/// How a [`Rotator`] rotates.
#[derive(Clone, Copy, Debug)]
enum Rotation {
    /// logrotate's default: rename to `NAME.K`, create `NAME` empty; the
    /// writer keeps writing to the renamed file for a while, then reopens
    /// (as a daemon does when its post-rotate signal arrives).
    RenameCreate,
    /// logrotate `copytruncate`: copy to `NAME.K`, then empty the file in
    /// place; the writer (O_APPEND) never reopens.
    CopyTruncate,
}

/// Appends numbered lines from one thread while another rotates the file
/// `rotations` times; returns when all `lines` are written.
fn write_while_rotating(log: &Path, lines: u64, rotations: u64, how: Rotation) {
    let lock = Arc::new(Mutex::new(()));
    let reopen = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (log, lock, reopen, written) = (
            log.to_path_buf(),
            lock.clone(),
            reopen.clone(),
            written.clone(),
        );
        thread::spawn(move || {
            let open = || {
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .unwrap()
            };
            let mut f = open();
            for n in 0..lines {
                {
                    let _g = lock.lock().unwrap();
                    if reopen.swap(false, Ordering::SeqCst) {
                        f = open();
                    }
                    f.write_all(line(n).as_bytes()).unwrap();
                }
                written.store(n + 1, Ordering::SeqCst);
                // Pacing: about 10,000 lines/s, in small bursts.
                if n % 10 == 9 {
                    thread::sleep(Duration::from_millis(1));
                }
            }
        })
    };
    for k in 1..=rotations {
        let at = lines * k / (rotations + 1);
        wait_for("the writer to get to the next rotation", || {
            written.load(Ordering::SeqCst) >= at
        });
        let rotated = PathBuf::from(format!("{}.{k}", log.display()));
        match how {
            Rotation::RenameCreate => {
                {
                    let _g = lock.lock().unwrap();
                    std::fs::rename(log, &rotated).unwrap();
                    File::create(log).unwrap();
                }
                // The writer still writes to the renamed file until told.
                let late = written.load(Ordering::SeqCst) + 25;
                wait_for("late writes to the renamed file", || {
                    written.load(Ordering::SeqCst) >= late.min(lines)
                });
                reopen.store(true, Ordering::SeqCst);
            }
            Rotation::CopyTruncate => {
                let _g = lock.lock().unwrap();
                std::fs::copy(log, &rotated).unwrap();
                OpenOptions::new()
                    .write(true)
                    .open(log)
                    .unwrap()
                    .set_len(0)
                    .unwrap();
            }
        }
    }
    writer.join().unwrap();
}

fn rotation_case(how: Rotation, watcher: &str) {
    const LINES: u64 = 20_000;
    let sb = Sandbox::new();
    let log = sb.path("app.log");
    std::fs::write(&log, "").unwrap();
    let running = start(&config(
        &sb,
        &format!("    paths: [app.log]\n    watcher: {watcher}\n    poll_interval: 50ms"),
    ));
    wait_following(&running, &log);
    write_while_rotating(&log, LINES, 5, how);
    wait_for("every line", || total(&sb) >= LINES as usize);
    let stderr = stop(running);
    let got = seqs(&sb);
    assert_eq!(got.keys().collect::<Vec<_>>(), [path_str(&log)], "{stderr}");
    assert_exactly(
        &got[path_str(&log)],
        0..LINES,
        &format!("{how:?} with {watcher}"),
    );
    assert!(error_messages(&sb).is_empty(), "{:?}", error_messages(&sb));
    let wanted = match how {
        Rotation::RenameCreate => "was rotated or removed",
        Rotation::CopyTruncate => "was truncated or rewritten",
    };
    assert!(stderr.contains(wanted), "{stderr}");
    // How often the copy had to be read (we were behind at the truncation).
    eprintln!(
        "{how:?} with {watcher}: {} rotation(s) noticed, {} read from the copy",
        stderr.matches(wanted).count(),
        stderr.matches("reading the rest of").count()
    );
}

#[test]
fn rename_and_create_with_a_late_writer() {
    rotation_case(Rotation::RenameCreate, "inotify");
}

#[test]
fn copytruncate_while_writing() {
    rotation_case(Rotation::CopyTruncate, "inotify");
}

#[test]
fn polling_rename_and_create_with_a_late_writer() {
    rotation_case(Rotation::RenameCreate, "poll");
}

#[test]
fn polling_copytruncate_while_writing() {
    rotation_case(Rotation::CopyTruncate, "poll");
}

#[test]
fn polling_follows_appends() {
    let sb = Sandbox::new();
    let log = sb.path("app.log");
    let running = start(&config(
        &sb,
        "    paths: [app.log]\n    watcher: poll\n    poll_interval: 20ms",
    ));
    wait_for("the wait for app.log", || {
        running.stderr_now().contains("waiting for")
    });
    append(&log, 0..100);
    wait_for("100 lines", || total(&sb) >= 100);
    append(&log, 100..300);
    wait_for("300 lines", || total(&sb) >= 300);
    stop(running);
    assert_exactly(&seqs(&sb)[path_str(&log)], 0..300, "polled");
}

#[test]
fn clean_restart_resumes_from_the_checkpoint() {
    let sb = Sandbox::new();
    let log = sb.path("app.log");
    append(&log, 0..10); // before the first start: skipped (start_at: end)
    let cfg = config(&sb, "    paths: [app.log]");

    let running = start(&cfg);
    wait_following(&running, &log);
    append(&log, 10..1000);
    wait_for("the first lines", || total(&sb) >= 990);
    stop(running);

    // Written while stopped: read at the next start, from the checkpoint.
    append(&log, 1000..1500);
    let running = start(&cfg);
    wait_following(&running, &log);
    append(&log, 1500..2000);
    wait_for("every line", || total(&sb) >= 1990);
    let stderr = stop(running);
    assert_exactly(
        &seqs(&sb)[path_str(&log)],
        10..2000,
        "across a clean restart",
    );
    assert!(
        stderr.contains(&format!(
            "following {} from offset {}",
            log.display(),
            1000 * line(0).len()
        )),
        "{stderr}"
    );
}

#[test]
fn rotations_while_stopped_are_caught_up() {
    let sb = Sandbox::new();
    let log = sb.path("app.log");
    std::fs::write(&log, "").unwrap();
    let cfg = config(&sb, "    paths: [app.log]");
    let running = start(&cfg);
    wait_following(&running, &log);
    append(&log, 0..100);
    wait_for("the first lines", || total(&sb) >= 100);
    stop(running);

    // While stopped: more lines, then rename + create, then more lines.
    append(&log, 100..200);
    std::fs::rename(&log, sb.path("app.log.1")).unwrap();
    append(&log, 200..300);
    let running = start(&cfg);
    wait_for("the renamed file's rest and the new file", || {
        total(&sb) >= 300
    });
    stop(running);

    // Again, with copytruncate.
    append(&log, 300..400);
    std::fs::copy(&log, sb.path("app.log.2")).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&log, 400..450);
    let running = start(&cfg);
    wait_for("the copy's rest and the new lines", || total(&sb) >= 450);
    let stderr = stop(running);
    assert_exactly(&seqs(&sb)[path_str(&log)], 0..450, "rotated while stopped");
    assert!(stderr.contains("reading the rest of"), "{stderr}");
}

#[test]
fn crash_rereads_at_most_the_last_second() {
    const RATE: u64 = 500; // lines per second
    let sb = Sandbox::new();
    let log = sb.path("app.log");
    std::fs::write(&log, "").unwrap();
    let cfg = config(&sb, "    paths: [app.log]");
    let mut running = start(&cfg);
    wait_following(&running, &log);
    // 3.5 s of lines at a steady rate, with the time each was written (not
    // a whole number of seconds: checkpoints are saved every second from
    // the start, and the crash should not fall right after one).
    const LINES: u64 = 7 * RATE / 2;
    let mut written_at = Vec::new();
    let start_time = Instant::now();
    let mut f = OpenOptions::new().append(true).open(&log).unwrap();
    for n in 0..LINES {
        let due = start_time + Duration::from_micros(n * 1_000_000 / RATE);
        thread::sleep(due.saturating_duration_since(Instant::now()));
        f.write_all(line(n).as_bytes()).unwrap();
        written_at.push(Instant::now());
    }
    wait_for("every line of the first run", || {
        total(&sb) >= LINES as usize
    });
    running.child.kill().unwrap(); // SIGKILL: no checkpoint at exit
    let killed_at = Instant::now();
    running.wait();
    drop(running);
    let first_run = total(&sb);

    append(&log, LINES..LINES + 100);
    let running = start(&cfg);
    wait_for("the lines after the crash", || {
        seqs(&sb)[path_str(&log)].contains(&(LINES + 99))
    });
    stop(running);
    let got = &seqs(&sb)[path_str(&log)];
    // Nothing lost, every line in order within each run.
    let (before, after) = got.split_at(first_run);
    assert_exactly(before, 0..LINES, "before the crash");
    let resumed_at = after[0];
    assert_exactly(after, resumed_at..LINES + 100, "after the crash");
    // Re-read: the lines since the last checkpoint, saved at most a second
    // before the crash (plus scheduling slack on a shared machine).
    let reread = LINES - resumed_at;
    let written_in_window = written_at
        .iter()
        .filter(|t| killed_at.duration_since(**t) <= Duration::from_millis(2000))
        .count() as u64;
    assert!(
        reread <= written_in_window,
        "{reread} lines read twice, but only {written_in_window} were written in the 2 s before the crash"
    );
    eprintln!("lines read again after kill -9: {reread}");
}

#[test]
fn same_inode_rewritten_is_read_from_the_start() {
    let sb = Sandbox::new();
    let log = sb.path("app.log");
    std::fs::write(&log, "").unwrap();
    let cfg = config(&sb, "    paths: [app.log]");
    let running = start(&cfg);
    wait_following(&running, &log);
    append(&log, 0..100);
    wait_for("the first lines", || total(&sb) >= 100);
    // Same inode, same size, other content: only the fingerprint tells.
    let ino = || std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&log).unwrap());
    let before = ino();
    let text: String = (100..200).map(line).collect();
    let mut f = OpenOptions::new().write(true).open(&log).unwrap();
    f.write_all(text.as_bytes()).unwrap();
    drop(f);
    assert_eq!(ino(), before);
    wait_for("the rewritten lines", || total(&sb) >= 200);
    stop(running);

    // The same while stopped: truncated and written again, a bit longer.
    let text: String = (200..310).map(line).collect();
    std::fs::write(&log, text).unwrap(); // O_TRUNC: same inode
    assert_eq!(ino(), before);
    let running = start(&cfg);
    wait_for("the lines written while stopped", || total(&sb) >= 310);
    stop(running);
    assert_exactly(&seqs(&sb)[path_str(&log)], 0..310, "rewritten in place");
}

#[test]
fn globs_pick_up_new_files_and_files_appear_later() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.path("logs")).unwrap();
    let a = sb.path("logs/a.log");
    append(&a, 0..5); // before the start: skipped
    let running = start(&config(
        &sb,
        "    paths: [\"logs/*.log\", later.log, sub/dir/later.log]\n    poll_interval: 100ms",
    ));
    wait_following(&running, &a);
    append(&a, 5..10);
    // New while running: read from their start.
    let b = sb.path("logs/b.log");
    append(&b, 0..20);
    append(&sb.path("logs/c.txt"), 0..3); // not matched
    let later = sb.path("later.log");
    append(&later, 0..7);
    // A directory that did not exist either: found by the periodic check.
    std::fs::create_dir_all(sb.path("sub/dir")).unwrap();
    let deep = sb.path("sub/dir/later.log");
    append(&deep, 0..4);
    wait_for("lines of every file", || total(&sb) >= 5 + 20 + 7 + 4);
    append(&b, 20..30);
    wait_for("more lines of the new file", || total(&sb) >= 46);
    let stderr = stop(running);
    let got = seqs(&sb);
    assert_eq!(got.len(), 4, "{got:?}\n{stderr}");
    assert_exactly(&got[path_str(&a)], 5..10, "a.log");
    assert_exactly(&got[path_str(&b)], 0..30, "b.log");
    assert_exactly(&got[path_str(&later)], 0..7, "later.log");
    assert_exactly(&got[path_str(&deep)], 0..4, "sub/dir/later.log");
    assert!(stderr.contains(&format!("waiting for {} to appear", later.display())));
}

#[test]
fn problems_are_error_events_not_crashes() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.path("adir")).unwrap();
    let fifo = sb.path("fifo.log");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let log = sb.path("app.log");
    std::fs::write(&log, "").unwrap();
    let running = start(&config(
        &sb,
        "    paths: [adir, fifo.log, app.log]\n    max_line_bytes: 100\n    poll_interval: 50ms",
    ));
    wait_following(&running, &log);
    let mut f = OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(b"seq=000000 bad \xff\xfe bytes\n").unwrap();
    f.write_all(format!("seq=000001 {}\n", "x".repeat(500)).as_bytes())
        .unwrap();
    wait_for("both lines", || total(&sb) >= 2);
    // Checked many times (every 50 ms), reported once each.
    let start_wait = Instant::now();
    wait_for("a few periodic checks", || {
        start_wait.elapsed() >= Duration::from_millis(300)
    });
    stop(running);
    let events = complete_lines(&sb.path("out.jsonl"));
    assert_eq!(
        events[0]["message"],
        "seq=000000 bad \u{fffd}\u{fffd} bytes"
    );
    assert_eq!(events[1]["message"].as_str().unwrap().len(), 100);
    let errors = error_messages(&sb);
    let dir_errors: Vec<&String> = errors.iter().filter(|m| m.contains("adir")).collect();
    let fifo_errors: Vec<&String> = errors.iter().filter(|m| m.contains("fifo.log")).collect();
    assert_eq!(dir_errors.len(), 1, "{errors:?}");
    assert!(dir_errors[0].contains("is a directory"), "{errors:?}");
    assert_eq!(fifo_errors.len(), 1, "{errors:?}");
    assert!(fifo_errors[0].contains("not a regular file"), "{errors:?}");
    assert!(
        errors
            .iter()
            .any(|m| m.contains("1 line(s) longer than the limit")),
        "{errors:?}"
    );
}

#[test]
fn sigterm_stops_promptly_while_lines_keep_coming() {
    let sb = Sandbox::new();
    let log = sb.path("app.log");
    std::fs::write(&log, "").unwrap();
    let cfg = config(&sb, "    paths: [app.log]");
    let mut running = start(&cfg);
    wait_following(&running, &log);
    let stop_writing = Arc::new(AtomicBool::new(false));
    let writer = {
        let (log, stop_writing) = (log.clone(), stop_writing.clone());
        thread::spawn(move || {
            let mut n = 0;
            while !stop_writing.load(Ordering::SeqCst) {
                append(&log, n..n + 100);
                n += 100;
                thread::sleep(Duration::from_millis(1));
            }
            n
        })
    };
    wait_for("lines flowing", || total(&sb) >= 2000);
    running.signal("TERM");
    let t = Instant::now();
    let status = running.wait();
    let took = t.elapsed();
    stop_writing.store(true, Ordering::SeqCst);
    let written = writer.join().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(took < Duration::from_secs(5), "took {took:?} to stop");
    // What was read is a prefix; the rest comes at the next start.
    let first = total(&sb);
    assert_exactly(&seqs(&sb)[path_str(&log)], 0..first as u64, "first run");
    let running = start(&cfg);
    wait_for("the rest", || total(&sb) >= written as usize);
    stop(running);
    assert_exactly(&seqs(&sb)[path_str(&log)], 0..written, "after the restart");
}

/// Back-pressure: a 200 MiB file to follow from its beginning, into an
/// output nobody reads at first. The follower must stop reading (bounded
/// memory) instead of loading the file; then everything arrives.
#[test]
fn slow_output_bounds_what_is_read_ahead() {
    use std::io::Read;
    const LINE_BYTES: usize = 1024;
    const LINES: usize = 200 * 1024;
    let sb = Sandbox::new();
    let log = sb.path("big.log");
    {
        let mut f = std::io::BufWriter::new(File::create(&log).unwrap());
        for i in 0..LINES {
            let mut l = format!("{i:09} ");
            l.push_str(&"x".repeat(LINE_BYTES - 1 - l.len()));
            l.push('\n');
            f.write_all(l.as_bytes()).unwrap();
        }
    }
    let config = sb.config(
        "state_path: state.db
stats_interval: 100ms
pipeline:
  in: {module: tail, paths: [big.log], start_at: beginning}
  out: {module: stdout, inChannels: [in], format: text}
  counters: {module: file, inChannels: [stats], path: stats.jsonl}
",
    );
    let mut cmd = logbus();
    cmd.args(["run", path_str(&config)]);
    let mut running = Running::spawn_raw(cmd, false);
    let pid = running.pid();
    // Stuck: wait until the bytes read stop growing for 5 stats rounds.
    let read_so_far = || -> Option<u64> {
        let stats = complete_lines(&sb.path("stats.jsonl"));
        stats.iter().rev().find(|s| s["stage"] == "in")?["bytes_in"].as_u64()
    };
    let mut last = None;
    let mut same = 0;
    wait_for("the input to stall", || {
        let now = read_so_far();
        same = if now.is_some() && now == last {
            same + 1
        } else {
            0
        };
        last = now;
        // Stats come every 100 ms; polls every 10 ms: 50 polls ≈ 5 rounds.
        same >= 50
    });
    let stalled_at = last.unwrap_or(0);
    let peak = common::peak_rss_kib(pid);
    assert!(
        stalled_at < 48 << 20,
        "read {stalled_at} bytes of a file nobody could take"
    );
    assert!(peak < 100 * 1024, "peak RSS {peak} KiB while stuck");
    // Unstuck: every line arrives, in order.
    let mut stdout = running.child.stdout.take().unwrap();
    let mut seen = 0usize;
    let mut buf = vec![0u8; 1 << 20];
    let mut carry = Vec::new();
    while seen < LINES {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "stdout closed after {seen} lines");
        carry.extend_from_slice(&buf[..n]);
        let mut start = 0;
        while let Some(i) = carry[start..].iter().position(|b| *b == b'\n') {
            let l = &carry[start..start + i];
            assert_eq!(&l[..9], format!("{seen:09}").as_bytes());
            seen += 1;
            start += i + 1;
        }
        carry.drain(..start);
    }
    running.signal("TERM");
    assert_eq!(running.wait().code(), Some(0));
    eprintln!("read ahead while stuck: {stalled_at} bytes, peak RSS {peak} KiB");
}
