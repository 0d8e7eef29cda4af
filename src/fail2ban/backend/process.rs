//! Running a firewall tool: an argv (never a shell), an optional script fed
//! through standard input, and a deadline after which the child is killed.
//!
//! Standard input is written and standard output/error are read on helper
//! threads, so a child that fills its stderr pipe while we are still writing
//! a large batch cannot deadlock us, and a child that stops reading cannot
//! block us past the deadline.

use std::ffi::OsStr;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use thiserror::Error;

/// Output kept per stream; firewall tools say what is wrong in a few lines,
/// and a runaway child must not grow our memory.
const MAX_CAPTURE: usize = 256 * 1024;

/// How long to wait for the output pipes to close after the child has
/// exited. A child may leave a background process holding them open; we do
/// not wait for that one.
const PIPE_GRACE: Duration = Duration::from_millis(200);

/// A finished run with exit status 0.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// Standard output (lossy UTF-8, capped).
    pub stdout: String,
}

/// Why a run did not succeed.
#[derive(Debug, Error)]
pub enum RunError {
    /// The program does not exist at that path or on `PATH`.
    #[error("`{program}` was not found")]
    NotFound {
        /// Program as configured.
        program: PathBuf,
    },
    /// The program exists but may not be executed.
    #[error("`{program}` cannot be executed: permission denied")]
    PermissionDenied {
        /// Program as configured.
        program: PathBuf,
    },
    /// Another error starting the child.
    #[error("cannot start `{program}`: {source}")]
    Spawn {
        /// Program as configured.
        program: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Waiting for the child failed.
    #[error("waiting for `{program}` failed: {source}")]
    Wait {
        /// Program as configured.
        program: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The child ran past the deadline and was killed.
    #[error("`{program}` did not finish within {}s and was killed{}", timeout.as_secs_f64(), tail(stderr))]
    TimedOut {
        /// Program as configured.
        program: PathBuf,
        /// The deadline.
        timeout: Duration,
        /// What it wrote to stderr before being killed.
        stderr: String,
    },
    /// The child exited unsuccessfully.
    #[error("`{program}` failed ({status}){}", tail(stderr))]
    Failed {
        /// Program as configured.
        program: PathBuf,
        /// Exit status, e.g. `exit status: 1`.
        status: ExitStatus,
        /// Its standard error.
        stderr: String,
        /// Its standard output.
        stdout: String,
    },
}

impl RunError {
    /// The child's standard error, when it ran.
    pub fn stderr(&self) -> &str {
        match self {
            RunError::TimedOut { stderr, .. } | RunError::Failed { stderr, .. } => stderr,
            _ => "",
        }
    }
}

/// `: first lines of stderr`, or nothing when it is empty.
fn tail(stderr: &str) -> String {
    let text = stderr.trim();
    if text.is_empty() {
        return String::new();
    }
    // A failing batch may print one error per bad line; the first few say
    // what is wrong.
    let mut lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(shorten)
        .collect();
    let more = lines.len().saturating_sub(4);
    lines.truncate(4);
    let mut out = format!(": {}", lines.join(" / "));
    if more > 0 {
        out.push_str(&format!(" (and {more} more line(s))"));
    }
    out
}

/// A line cut to a readable length: nft echoes the failing statement,
/// which for a big batch is one line with every address in it.
fn shorten(line: &str) -> String {
    const MAX: usize = 200;
    match line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line.to_string(),
    }
}

/// Runs `program args...`, feeding `input` on stdin (stdin is `/dev/null`
/// when `None`), and waits at most `timeout`.
pub fn run<S: AsRef<OsStr>>(
    program: &Path,
    args: &[S],
    input: Option<Vec<u8>>,
    timeout: Duration,
) -> Result<Output, RunError> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: a timeout kills what the child started
        // too, and a Ctrl-C meant for logbus does not cut a batch in half.
        .process_group(0);
    let mut child = cmd.spawn().map_err(|e| match e.kind() {
        ErrorKind::NotFound => RunError::NotFound {
            program: program.to_path_buf(),
        },
        ErrorKind::PermissionDenied => RunError::PermissionDenied {
            program: program.to_path_buf(),
        },
        _ => RunError::Spawn {
            program: program.to_path_buf(),
            source: e,
        },
    })?;

    if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
        // A child that exits early (a syntax error on line 1) closes the
        // pipe: the write fails with EPIPE, and the exit status is what
        // reports the problem, so the write result is not needed.
        thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
    }
    let stdout = child.stdout.take().map(capture);
    let stderr = child.stderr.take().map(capture);

    let deadline = Instant::now() + timeout;
    let status = match wait_until(&mut child, deadline) {
        Ok(Some(status)) => status,
        Ok(None) => {
            kill_group(&mut child);
            let stderr = collect(stderr, Instant::now() + PIPE_GRACE);
            return Err(RunError::TimedOut {
                program: program.to_path_buf(),
                timeout,
                stderr,
            });
        }
        Err(source) => {
            kill_group(&mut child);
            return Err(RunError::Wait {
                program: program.to_path_buf(),
                source,
            });
        }
    };
    let grace = Instant::now() + PIPE_GRACE;
    let stdout = collect(stdout, grace);
    let stderr = collect(stderr, grace);
    if status.success() {
        if !stderr.trim().is_empty() {
            // Warnings of a successful run (iptables-nft prints some).
            tracing::debug!("{}: {}", program.display(), stderr.trim());
        }
        Ok(Output { stdout })
    } else {
        Err(RunError::Failed {
            program: program.to_path_buf(),
            status,
            stderr,
            stdout,
        })
    }
}

/// Polls the child until it exits or the deadline passes (`None`). The
/// standard library has no wait-with-timeout; polling with a growing
/// interval costs a few wake-ups per batch.
fn wait_until(child: &mut Child, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    let mut pause = Duration::from_micros(200);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Kills the child's process group (the child and whatever it started),
/// then reaps the child.
fn kill_group(child: &mut Child) {
    // std can signal only the child itself; `kill -KILL -- -PGID` reaches
    // the group. The group id is the child's pid (process_group(0)).
    let group = format!("-{}", child.id());
    let by_group = Command::new("kill")
        .args(["-KILL", "--", &group])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !by_group {
        let _ = child.kill();
    }
    let _ = child.wait();
}

/// A thread reading a stream to its end, keeping the first bytes.
fn capture<R: Read + Send + 'static>(mut stream: R) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let room = MAX_CAPTURE.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = tx.send(kept);
    });
    rx
}

/// What a capture thread read, or nothing if the pipe is still held open
/// at the deadline.
fn collect(rx: Option<mpsc::Receiver<Vec<u8>>>, until: Instant) -> String {
    let Some(rx) = rx else {
        return String::new();
    };
    let wait = until.saturating_duration_since(Instant::now());
    match rx.recv_timeout(wait) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(30);

    #[test]
    fn feeds_stdin_and_reads_stdout() {
        let out = run(
            Path::new("cat"),
            &[] as &[&str],
            Some(b"a\nb\n".to_vec()),
            LONG,
        )
        .unwrap();
        assert_eq!(out.stdout, "a\nb\n");
    }

    #[test]
    fn large_input_does_not_deadlock() {
        // More than a pipe buffer in both directions at once.
        let data = vec![b'x'; 4 * 1024 * 1024];
        let out = run(Path::new("cat"), &[] as &[&str], Some(data), LONG).unwrap();
        assert_eq!(out.stdout.len(), MAX_CAPTURE);
    }

    #[test]
    fn missing_program() {
        let err = run(Path::new("/nonexistent/logbus-tool"), &["x"], None, LONG).unwrap_err();
        assert!(matches!(err, RunError::NotFound { .. }), "{err}");
    }

    #[test]
    fn failure_carries_stderr() {
        let err = run(Path::new("ls"), &["/nonexistent/logbus-path"], None, LONG).unwrap_err();
        let RunError::Failed { stderr, .. } = &err else {
            panic!("{err}");
        };
        assert!(stderr.contains("logbus-path"), "{stderr}");
        assert!(err.to_string().contains("logbus-path"), "{err}");
    }

    #[test]
    fn timeout_kills() {
        let err = run(
            Path::new("sleep"),
            &["30"],
            None,
            Duration::from_millis(100),
        )
        .unwrap_err();
        assert!(matches!(err, RunError::TimedOut { .. }), "{err}");
    }

    #[test]
    fn tail_keeps_first_lines() {
        assert_eq!(tail(""), "");
        assert_eq!(tail("a\n\nb\n"), ": a / b");
        assert_eq!(
            tail("1\n2\n3\n4\n5\n6"),
            ": 1 / 2 / 3 / 4 (and 2 more line(s))"
        );
        let long = "x".repeat(1000);
        assert_eq!(tail(&long).len(), 2 + 200 + 3);
    }
}
