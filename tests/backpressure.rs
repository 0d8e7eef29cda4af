//! Back-pressure: with an output that does not keep up, bounded queues hold
//! the input back instead of buffering the whole stream in memory.
//!
//! The test feeds 200 MiB of lines on stdin while, at first, nobody reads
//! logbus's stdout. A bounded pipeline takes in a few MiB and then stops
//! reading, so the feeder stalls; an unbounded one would swallow the whole
//! stream. Then the test reads everything and checks it. The assertions are
//! on amounts (bytes taken in before the stall, peak RSS), never on time.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use common::{Running, Sandbox, peak_rss_kib};

const LINE_BYTES: usize = 1024;
const LINES: usize = 200 * 1024; // 200 MiB
const TOTAL_BYTES: u64 = (LINE_BYTES * LINES) as u64;

/// Far above what a bounded pipeline holds (its queues, a few MiB, plus the
/// process itself), far below the 200 MiB an unbounded one would hold.
const MAX_PEAK_RSS_KIB: u64 = 100 * 1024;

/// What a bounded pipeline may take in while its output is stuck: pipe
/// buffers, the reader's channel and one queue of batches, with room to spare.
const MAX_TAKEN_WHILE_STUCK: u64 = 48 << 20;

/// Line `i`: its number, then filler, `LINE_BYTES` bytes with the newline.
fn line(i: usize) -> String {
    let mut s = format!("{i:09} ");
    s.push_str(&"x".repeat(LINE_BYTES - 1 - s.len()));
    s
}

#[test]
fn slow_output_bounds_memory() {
    let sb = Sandbox::new();
    let config = sb.config(
        "pipeline:
  in:
    module: stdin
  out:
    module: stdout
    inChannels: [in]
    format: text
",
    );
    let mut cmd = common::logbus();
    cmd.args(["run", common::path_str(&config)]);
    let mut running = Running::spawn_raw(cmd, true);
    let pid = running.pid();
    let mut stdin = running.child.stdin.take().unwrap();
    let stdout = running.child.stdout.take().unwrap();

    let written = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let feeder = {
        let (written, done) = (written.clone(), done.clone());
        thread::spawn(move || {
            let mut chunk = String::with_capacity(64 * LINE_BYTES);
            for start in (0..LINES).step_by(64) {
                chunk.clear();
                for i in start..(start + 64).min(LINES) {
                    chunk.push_str(&line(i));
                    chunk.push('\n');
                }
                stdin.write_all(chunk.as_bytes()).expect("feed stdin");
                written.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
            done.store(true, Ordering::Relaxed);
            // Everything is in; the peak so far is the peak of the run, as
            // what follows only drains. Read it while the process lives.
            let peak = peak_rss_kib(pid);
            drop(stdin);
            peak
        })
    };

    // Phase 1: nobody reads stdout. Wait until the feeder makes no progress
    // for a while (held back) or has fed everything (not held back).
    let mut last = u64::MAX;
    let mut still = 0;
    let mut polls = 0;
    while still < 20 && !done.load(Ordering::Relaxed) {
        thread::sleep(Duration::from_millis(10));
        let now = written.load(Ordering::Relaxed);
        still = if now == last { still + 1 } else { 0 };
        last = now;
        polls += 1;
        assert!(polls < 3000, "the feeder neither finished nor stalled");
    }
    let taken_while_stuck = written.load(Ordering::Relaxed);
    assert!(
        taken_while_stuck < MAX_TAKEN_WHILE_STUCK,
        "logbus took in {taken_while_stuck} bytes while its output was stuck"
    );

    // Phase 2: read everything and check it.
    let mut reader = BufReader::with_capacity(1 << 16, stdout);
    let mut got = String::with_capacity(LINE_BYTES);
    for i in 0..LINES {
        got.clear();
        let n = reader.read_line(&mut got).expect("read stdout");
        assert_eq!(n, LINE_BYTES, "line {i} has the wrong length");
        assert_eq!(got.trim_end_matches('\n'), line(i), "line {i}");
    }
    got.clear();
    assert_eq!(
        reader.read_line(&mut got).unwrap(),
        0,
        "nothing after the last line"
    );

    let peak = feeder.join().expect("feeder");
    let status = running.wait();
    assert_eq!(status.code(), Some(0), "stderr:\n{}", running.stderr());
    assert_eq!(written.load(Ordering::Relaxed), TOTAL_BYTES);
    assert!(
        peak < MAX_PEAK_RSS_KIB,
        "peak RSS {peak} KiB for {TOTAL_BYTES} bytes through a slow output"
    );
}
