//! Orderly shutdown: the first SIGTERM stops the inputs and drains what they
//! read through the graph (exit 0, nothing lost); a second signal exits at
//! once with 130.

mod common;

use std::io::{Read, Write};
use std::thread;

use common::{Running, Sandbox, last_stats, wait_for};

#[test]
fn sigterm_drains_every_line_read() {
    let sb = Sandbox::new();
    let config = sb.config(
        "pipeline:
  in:
    module: stdin
  out:
    module: file
    inChannels: [in]
    path: out.txt
    format: text
  counters:
    module: file
    inChannels: [stats]
    path: stats.json
",
    );
    let mut running = Running::run_piped(&config);
    let mut stdin = running.child.stdin.take().unwrap();
    // Numbered lines, as fast as logbus takes them, until it goes away: the
    // signal arrives while lines are in flight.
    let writer = thread::spawn(move || {
        let mut n: u64 = 0;
        loop {
            let mut chunk = String::new();
            for _ in 0..1000 {
                chunk.push_str(&format!("{n:09}\n"));
                n += 1;
            }
            if stdin.write_all(chunk.as_bytes()).is_err() {
                return;
            }
        }
    });
    wait_for("some output before the signal", || {
        sb.text_lines("out.txt").len() >= 1000
    });
    running.signal("TERM");
    let status = running.wait();
    let stderr = running.stderr();
    assert_eq!(status.code(), Some(0), "stderr:\n{stderr}");
    writer.join().unwrap();
    assert!(
        stderr.contains("stopping: draining queued events"),
        "{stderr}"
    );

    // Every line the input read came out, in order, and nothing else.
    let lines = sb.text_lines("out.txt");
    let read = lines.len();
    assert!(read >= 1000);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line, &format!("{i:09}"));
    }
    let stats = sb.json_lines("stats.json");
    assert_eq!(last_stats(&stats, "in")["lines_in"], read);
    assert_eq!(last_stats(&stats, "in")["events_out"], read);
    assert_eq!(last_stats(&stats, "out")["events_in"], read);
    assert_eq!(last_stats(&stats, "out")["errors"], 0);
}

#[test]
fn second_signal_exits_at_once() {
    let sb = Sandbox::new();
    // Lines far bigger than a pipe's buffer: once logbus has written one
    // byte of the first, it cannot finish until someone reads, so the drain
    // after the first signal cannot complete.
    let line = "z".repeat(1 << 20);
    sb.write("big.log", format!("{line}\n{line}\n{line}\n"));
    let config = sb.config(
        "pipeline:
  in:
    module: file
    paths: [big.log]
    max_line_bytes: 2097152
  out:
    module: stdout
    inChannels: [in]
    format: text
",
    );
    let mut cmd = common::logbus();
    cmd.args(["run", common::path_str(&config)]);
    let mut running = Running::spawn_raw(cmd, false);
    let mut stdout = running.child.stdout.take().unwrap();
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"z");

    running.signal("TERM");
    wait_for("the first signal to be handled", || {
        running
            .stderr_now()
            .contains("stopping: draining queued events")
    });
    assert!(
        running.child.try_wait().unwrap().is_none(),
        "the drain is blocked, so logbus is still running"
    );
    running.signal("TERM");
    let status = running.wait();
    assert_eq!(status.code(), Some(130));
    assert!(running.stderr().contains("second signal: exiting now"));
    drop(stdout);
}
