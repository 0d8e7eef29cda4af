//! Shared helpers for the integration tests: a temporary directory with a
//! pipeline file and inputs, running the real `logbus` binary with a
//! deadline, polling for conditions, and reading JSON-lines output.
//!
//! Every wait here polls a condition with a deadline; none is a bare sleep.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

pub mod rules;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long any single wait may take before the test fails. Generous: the
/// machine is shared, and a deadline is a failure detector, not a measurement.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// How often conditions are polled.
const POLL: Duration = Duration::from_millis(10);

/// The binary under test, with the log level the tests expect (info).
pub fn logbus() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_logbus"));
    cmd.env_remove("RUST_LOG");
    cmd
}

/// A temporary directory holding a pipeline file, its inputs and outputs.
/// Removed when dropped.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    /// An empty sandbox.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("create temp dir"),
        }
    }

    /// The sandbox directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the sandbox.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a file (creating parent directories) and returns its path.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent dir");
        }
        std::fs::write(&path, contents).expect("write fixture file");
        path
    }

    /// Writes `pipeline.yml` and returns its path.
    pub fn config(&self, yaml: &str) -> PathBuf {
        self.write("pipeline.yml", yaml)
    }

    /// Copies a directory tree (a fixture under `tests/data/`, or part of
    /// `examples/`) to `to` in the sandbox (`""`: its root).
    pub fn copy_tree(&self, from: &Path, to: &str) {
        copy_dir(from, &self.path(to));
    }

    /// The JSON lines of an output file in the sandbox.
    pub fn json_lines(&self, rel: &str) -> Vec<Value> {
        json_lines(&read_string(&self.path(rel)))
    }

    /// The `message` of each event of a JSON-lines output file.
    pub fn messages(&self, rel: &str) -> Vec<Value> {
        self.json_lines(rel)
            .into_iter()
            .map(|mut e| e["message"].take())
            .collect()
    }

    /// The lines of a text file in the sandbox (empty when it does not exist).
    pub fn text_lines(&self, rel: &str) -> Vec<String> {
        match std::fs::read_to_string(self.path(rel)) {
            Ok(t) => t.lines().map(str::to_string).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Makes `log.file.path` values relative to the sandbox, so expected
    /// output does not depend on where the temporary directory is.
    pub fn relative_paths(&self, events: Vec<Value>) -> Vec<Value> {
        let prefix = format!("{}/", self.dir.path().display());
        events
            .into_iter()
            .map(|mut e| {
                if let Some(Value::String(p)) = e.pointer_mut("/log/file/path")
                    && let Some(rel) = p.strip_prefix(&prefix)
                {
                    *p = rel.to_string();
                }
                e
            })
            .collect()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read fixture dir") {
        let entry = entry.expect("fixture dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy fixture file");
        }
    }
}

/// The repository's root (where `tests/` and `examples/` are).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Parses a fixture JSON file under `tests/data/`.
pub fn fixture_json(rel: &str) -> Value {
    let path = repo_root().join("tests/data").join(rel);
    serde_json::from_str(&read_string(&path))
        .unwrap_or_else(|e| panic!("{}: bad JSON: {e}", path.display()))
}

/// The whole file as text; a missing file fails the test with its name.
pub fn read_string(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Parses JSON lines; a bad line fails the test with the line.
pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// Groups events by `log.file.path` (`-` when absent, e.g. stdin), keeping
/// their order: events from one source keep their order through any graph,
/// while sources interleave freely.
pub fn by_source(events: &[Value]) -> BTreeMap<String, Vec<Value>> {
    let mut map: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for e in events {
        let src = e
            .pointer("/log/file/path")
            .and_then(Value::as_str)
            .unwrap_or("-")
            .to_string();
        map.entry(src).or_default().push(e.clone());
    }
    map
}

/// The last `stats` event of `stage` (the final round, emitted at shutdown).
pub fn last_stats<'a>(stats: &'a [Value], stage: &str) -> &'a Value {
    stats
        .iter()
        .rev()
        .find(|s| s["stage"] == stage)
        .unwrap_or_else(|| panic!("no stats for stage `{stage}` in {stats:#?}"))
}

/// Polls `cond` until it holds; fails the test naming `what` after [`DEADLINE`].
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < DEADLINE,
            "timed out after {DEADLINE:?} waiting for {what}"
        );
        std::thread::sleep(POLL);
    }
}

/// How a finished run went.
#[derive(Debug)]
pub struct Outcome {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error (the process log).
    pub stderr: String,
}

/// Runs `logbus ARGS` to completion with `stdin` as input (none: empty).
pub fn run_with(args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Outcome {
    let mut cmd = logbus();
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    outcome(cmd, stdin)
}

/// Runs `cmd` to completion with `stdin` as input (none: empty).
pub fn outcome(cmd: Command, stdin: Option<&[u8]>) -> Outcome {
    let mut running = Running::spawn(cmd, stdin.is_some());
    if let Some(input) = stdin {
        let mut pipe = running.child.stdin.take().expect("stdin is piped");
        std::io::Write::write_all(&mut pipe, input).expect("write stdin");
    }
    let status = running.wait();
    Outcome {
        code: status.code(),
        stdout: running.stdout(),
        stderr: running.stderr(),
    }
}

/// `logbus check CONFIG`.
pub fn check(config: &Path) -> Outcome {
    run_with(&["check", path_str(config)], &[], None)
}

/// `logbus run CONFIG` with no input on stdin.
pub fn run(config: &Path) -> Outcome {
    run_with(&["run", path_str(config)], &[], None)
}

/// The path as UTF-8 (temporary directories always are).
pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// A running `logbus` whose stdout and stderr are collected by threads, so a
/// full pipe never blocks it (unless the test asks for stdout itself).
pub struct Running {
    /// The process.
    pub child: Child,
    stdout: Option<Collector>,
    stderr: Collector,
}

/// Reads a pipe to its end on a thread, keeping everything read.
struct Collector {
    buf: Arc<Mutex<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
}

impl Collector {
    fn spawn(mut pipe: impl Read + Send + 'static) -> Self {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let thread = std::thread::spawn(move || {
            let mut chunk = [0u8; 64 * 1024];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => sink
                        .lock()
                        .expect("collector lock")
                        .extend_from_slice(&chunk[..n]),
                }
            }
        });
        Self {
            buf,
            thread: Some(thread),
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().expect("collector lock")).into_owned()
    }

    fn finish(&mut self) -> String {
        if let Some(t) = self.thread.take() {
            t.join().expect("collector thread");
        }
        self.text()
    }
}

impl Running {
    /// Spawns `cmd`; stdin is piped when asked (else empty), stdout and
    /// stderr are collected.
    pub fn spawn(cmd: Command, piped_stdin: bool) -> Self {
        let mut r = Self::spawn_raw(cmd, piped_stdin);
        let out = r.child.stdout.take().expect("stdout is piped");
        r.stdout = Some(Collector::spawn(out));
        r
    }

    /// Like [`spawn`](Self::spawn), but stdout is left in `child.stdout` for
    /// the test to read (or not read) itself.
    pub fn spawn_raw(mut cmd: Command, piped_stdin: bool) -> Self {
        cmd.stdin(if piped_stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn logbus");
        let err = child.stderr.take().expect("stderr is piped");
        Self {
            child,
            stdout: None,
            stderr: Collector::spawn(err),
        }
    }

    /// `logbus run CONFIG` with a pipe on stdin that the test writes.
    pub fn run_piped(config: &Path) -> Self {
        let mut cmd = logbus();
        cmd.args(["run", path_str(config)]);
        Self::spawn(cmd, true)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`TERM`, `HUP`, ...) with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the process to exit; kills it and fails after [`DEADLINE`].
    pub fn wait(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if start.elapsed() > DEADLINE {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "logbus did not exit within {DEADLINE:?}; stderr:\n{}",
                    self.stderr.text()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Standard error so far (all of it once the process has exited).
    pub fn stderr_now(&self) -> String {
        self.stderr.text()
    }

    /// Standard output, complete (waits for the pipe to close).
    pub fn stdout(&mut self) -> String {
        self.stdout
            .as_mut()
            .map(Collector::finish)
            .unwrap_or_default()
    }

    /// Standard error, complete (waits for the pipe to close).
    pub fn stderr(&mut self) -> String {
        self.stderr.finish()
    }
}

impl Drop for Running {
    /// A failing test must not leave a `logbus` behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The peak resident set size of a live process, in KiB (`VmHWM`).
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = read_string(Path::new(&format!("/proc/{pid}/status")));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in /proc/{pid}/status"))
}
