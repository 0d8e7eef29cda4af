//! Helpers for the `syslog` input's tests: a running `logbus` whose
//! listening ports are read from its log (the pipelines listen on port 0,
//! so the kernel picks free ports and no test races another for one),
//! `logger` runs, and raw clients.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{DEADLINE, Running, Sandbox, last_stats, logbus, path_str, wait_for};

/// A `logbus run` of a pipeline in its own sandbox.
pub struct Server {
    /// Where the pipeline file, the socket and the outputs live.
    pub sb: Sandbox,
    /// The process.
    pub running: Running,
}

impl Server {
    /// Writes `yaml` as the pipeline (`SANDBOX` in it is replaced by the
    /// sandbox's path) and starts it; returns once every listener of the
    /// `syslog` stage `in` is bound.
    pub fn start(yaml: &str) -> Self {
        let sb = Sandbox::new();
        let config = sb.config(&yaml.replace("SANDBOX", path_str(sb.dir())));
        let mut cmd = logbus();
        cmd.args(["run", path_str(&config)]);
        let server = Self {
            running: Running::spawn(cmd, false),
            sb,
        };
        let kinds = ["udp", "tcp", "unix"]
            .into_iter()
            .filter(|k| yaml.contains(&format!(" {k}: ")))
            .count();
        wait_for("the syslog listeners", || {
            server.running.stderr_now().matches("listening on ").count() >= kinds || server.exited()
        });
        assert!(
            !server.exited(),
            "logbus exited:\n{}",
            server.running.stderr_now()
        );
        server
    }

    fn exited(&self) -> bool {
        let path = format!("/proc/{}/stat", self.running.pid());
        // A zombie (state Z) has exited but not been waited for.
        std::fs::read_to_string(path).map_or(true, |s| s.contains(") Z "))
    }

    /// The port the stage listens on for `proto` (`udp` or `tcp`).
    pub fn port(&self, proto: &str) -> u16 {
        let log = self.running.stderr_now();
        let needle = format!("listening on {proto} 127.0.0.1:");
        let at = log
            .find(&needle)
            .unwrap_or_else(|| panic!("no `{needle}` in the log:\n{log}"));
        let digits: String = log[at + needle.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits
            .parse()
            .unwrap_or_else(|e| panic!("bad port `{digits}`: {e}"))
    }

    /// The events of a JSON-lines output, once there are `n` of them.
    pub fn wait_events(&self, rel: &str, n: usize) -> Vec<Value> {
        wait_for(&format!("{n} event(s) in {rel}"), || {
            self.sb.text_lines(rel).len() >= n
        });
        self.sb.json_lines(rel)
    }

    /// SIGTERM, then the exit must be clean; returns the log.
    pub fn stop(&mut self) -> String {
        self.running.signal("TERM");
        let status = self.running.wait();
        let stderr = self.running.stderr();
        assert_eq!(status.code(), Some(0), "stderr:\n{stderr}");
        stderr
    }

    /// The final counters of stage `stage` (needs a `stats` file output
    /// writing `rel`).
    pub fn final_stats(&self, rel: &str, stage: &str) -> Value {
        last_stats(&self.sb.json_lines(rel), stage).clone()
    }
}

/// Runs `logger ARGS` to completion; its pid (what `-i` logs).
pub fn logger(args: &[&str]) -> u32 {
    let mut child = Command::new("logger")
        .args(args)
        .spawn()
        .expect("run logger (util-linux)");
    let pid = child.id();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for logger") {
            assert!(status.success(), "logger {args:?} failed: {status}");
            return pid;
        }
        assert!(start.elapsed() < DEADLINE, "logger {args:?} hangs");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// This machine's host name as `gethostname` gives it, and its short form
/// (up to the first dot), which RFC 3164 senders write.
pub fn host_names() -> (String, String) {
    let full = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("read the host name")
        .trim()
        .to_string();
    let short = full.split('.').next().unwrap_or_default().to_string();
    (full, short)
}

/// True once the server has closed `conn`: a read returns end of stream or
/// a reset. Polls until the deadline; data the server sent would fail the
/// test (it never sends any).
pub fn wait_closed(conn: &mut TcpStream) {
    conn.set_read_timeout(Some(Duration::from_millis(20)))
        .expect("set read timeout");
    let start = Instant::now();
    let mut buf = [0u8; 64];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => panic!("the server sent {n} bytes"),
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                return;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read failed: {e}"),
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the server did not close the connection"
        );
    }
}

/// Whether `conn` is closed by now, without waiting.
pub fn is_closed(conn: &mut TcpStream) -> bool {
    conn.set_nonblocking(true).expect("set nonblocking");
    let mut buf = [0u8; 64];
    let closed = match conn.read(&mut buf) {
        Ok(0) => true,
        Ok(n) => panic!("the server sent {n} bytes"),
        Err(e) if e.kind() == ErrorKind::WouldBlock => false,
        Err(_) => true,
    };
    conn.set_nonblocking(false).expect("set blocking");
    closed
}

/// `@timestamp` as an instant; fails unless it is within a few minutes of
/// now (the test just sent it).
pub fn assert_recent(ts: &Value) {
    let text = ts.as_str().unwrap_or_else(|| panic!("@timestamp {ts}"));
    let t: jiff::Timestamp = text
        .parse()
        .unwrap_or_else(|e| panic!("@timestamp `{text}`: {e}"));
    let age = jiff::Timestamp::now().as_second() - t.as_second();
    assert!(age.abs() < 300, "@timestamp `{text}` is {age}s from now");
}

/// Takes `log.syslog.peer` out of an event and checks it is a loopback
/// sender `127.0.0.1:PORT`; returns the port.
pub fn take_peer(event: &mut Value) -> u16 {
    let peer = event
        .pointer_mut("/log/syslog")
        .and_then(Value::as_object_mut)
        .and_then(|m| m.remove("peer"))
        .unwrap_or_else(|| panic!("no log.syslog.peer"));
    let text = peer.as_str().unwrap_or_default();
    let port = text
        .strip_prefix("127.0.0.1:")
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("peer `{text}` is not 127.0.0.1:PORT"));
    assert_ne!(port, 0);
    port
}
