//! The `syslog` input inside whole pipelines: end to end into the fail2ban
//! stage, and under back-pressure (a stage that stops reading): TCP senders
//! are slowed and lose nothing, UDP datagrams past the queue are dropped
//! and counted.

mod common;
mod syslog_server_util;

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::{Running, Sandbox, last_stats, logbus, path_str, wait_for};
use syslog_server_util::{Server, logger};

#[test]
fn logger_to_fail2ban_bans_the_attacker_never_the_relay() {
    let mut server = Server::start(
        r#"stats_interval: 1h
pipeline:
  in: {module: syslog, udp: "127.0.0.1:0"}
  ban:
    module: fail2ban
    inChannels: [in]
    rules: [sshd]
    backend: {type: dry-run}
    bansChannel: bans
  bans-out: {module: file, inChannels: [bans], path: bans.jsonl}
  events-out: {module: file, inChannels: [ban], path: events.jsonl}
  stats-out: {module: file, inChannels: [stats], path: stats.jsonl}
"#,
    );
    let port = server.port("udp").to_string();
    let send = |message: &str| {
        logger(&[
            "--server",
            "127.0.0.1",
            "--port",
            &port,
            "--udp",
            "--rfc3164",
            "--tag",
            "sshd",
            "--id",
            message,
        ])
    };
    // Not a failure: the relay's address is in no message, and an sshd
    // line that names none must not be pinned on it.
    send("Connection closed by 198.51.100.20 port 4242");
    send("Server listening on 0.0.0.0 port 22.");
    let pid = send("Invalid user x from 192.0.2.10 port 22");
    let bans = server.wait_events("bans.jsonl", 1);
    let events = server.wait_events("events.jsonl", 3);
    server.stop();

    assert_eq!(bans.len(), 1, "{bans:?}");
    assert_eq!(bans[0]["client"]["ip"], "192.0.2.10");
    assert_eq!(bans[0]["fail2ban"]["group"], "ssh");
    assert_eq!(bans[0]["fail2ban"]["rule"], "sshd-invalid-user");
    assert_eq!(bans[0]["fail2ban"]["count"], 1);
    assert_eq!(bans[0]["event"]["action"], "ban");

    // The failure was read from the message sshd wrote, through the
    // fields the input set; the relay is only in `log.syslog.peer`.
    let failure = &events[2];
    assert_eq!(failure["message"], "Invalid user x from 192.0.2.10 port 22");
    assert_eq!(failure["process"]["name"], "sshd");
    assert_eq!(failure["process"]["pid"], pid);
    assert_eq!(failure["fail2ban"]["key"], "ssh~192.0.2.10");
    assert_eq!(failure["fail2ban"]["rule"], "sshd-invalid-user");
    for event in &events {
        let peer = event["log"]["syslog"]["peer"].as_str().unwrap_or_default();
        assert!(peer.starts_with("127.0.0.1:"), "{event}");
        let text = event.to_string();
        let mentions_relay = text.replace(peer, "").contains("127.0.0.1");
        assert!(!mentions_relay, "the relay's address leaked: {event}");
    }
    assert!(events[0].get("fail2ban").is_none(), "{}", events[0]);
    assert!(events[1].get("fail2ban").is_none(), "{}", events[1]);

    let stats = server.final_stats("stats.jsonl", "ban");
    assert_eq!(stats["failures"], 1, "{stats}");
    assert_eq!(stats["bans"], 1, "{stats}");
    assert_eq!(stats["errors"], 0, "{stats}");
    let stats = server.final_stats("stats.jsonl", "in");
    assert_eq!(stats["lines_in"], 3, "{stats}");
    assert_eq!(stats["events_out"], 3, "{stats}");
}

/// A pipeline `syslog -> stdout` whose stdout the test reads only when it
/// wants to: until then the pipe fills and the pipeline stops moving.
fn start_blocked(options: &str) -> (Sandbox, Running) {
    let sb = Sandbox::new();
    let config = sb.config(&format!(
        r#"stats_interval: 100ms
pipeline:
  in: {{module: syslog, {options}}}
  out: {{module: stdout, inChannels: [in], format: text}}
  stats-out: {{module: file, inChannels: [stats], path: stats.jsonl}}
"#
    ));
    let mut cmd = logbus();
    cmd.args(["run", path_str(&config)]);
    let running = Running::spawn_raw(cmd, false);
    wait_for("the listener", || {
        running.stderr_now().contains("listening on ")
    });
    (sb, running)
}

fn port_of(running: &Running, proto: &str) -> u16 {
    let log = running.stderr_now();
    let needle = format!("listening on {proto} 127.0.0.1:");
    let at = log.find(&needle).expect("listening line");
    log[at + needle.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .expect("port")
}

/// Reads stdout on a thread, counting lines; returns the lines at the end.
fn read_stdout(running: &mut Running, count: Arc<AtomicU64>) -> thread::JoinHandle<Vec<String>> {
    let out = running.child.stdout.take().expect("stdout is piped");
    thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(out).lines() {
            lines.push(line.expect("stdout line"));
            count.fetch_add(1, Ordering::Relaxed);
        }
        lines
    })
}

/// The latest `stats` event of stage `in` so far (`null` before the
/// first). Read while logbus writes: a last line still being written is
/// skipped.
fn stats_now(sb: &Sandbox) -> Value {
    sb.text_lines("stats.jsonl")
        .iter()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|s| s["stage"] == "in")
        .unwrap_or(Value::Null)
}

#[test]
fn tcp_senders_are_slowed_not_buffered_and_lose_nothing() {
    let (sb, mut running) = start_blocked(r#"tcp: "127.0.0.1:0""#);
    let addr = format!("127.0.0.1:{}", port_of(&running, "tcp"));
    let pad = "x".repeat(200);
    let line = move |i: u64| format!("<13>Nov 25 10:00:00 h app[1]: {i:08} {pad}\n");
    let line_len = line(0).len() as u64;

    let written = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (written, stop) = (written.clone(), stop.clone());
        let mut conn = TcpStream::connect(&addr).unwrap();
        thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                conn.write_all(line(i).as_bytes()).expect("write");
                i += 1;
                written.store(i, Ordering::Relaxed);
            }
            conn.shutdown(Shutdown::Write).expect("shutdown");
        })
    };
    // Nobody reads stdout: the writer must end up stuck, after the kernel's
    // socket buffers and logbus's bounded queues have filled. Without
    // back-pressure it would go on and pass the bound.
    let bound = 32 * 1024 * 1024;
    let mut last = 0;
    let mut still_since = Instant::now();
    loop {
        thread::sleep(Duration::from_millis(100));
        let now = written.load(Ordering::Relaxed);
        assert!(
            now * line_len < bound,
            "{now} lines accepted while nothing was read"
        );
        if now != last {
            last = now;
            still_since = Instant::now();
        } else if still_since.elapsed() > Duration::from_secs(2) {
            break;
        }
    }
    assert!(last > 0);
    eprintln!(
        "stalled after {last} lines ({} KiB) with nothing read",
        last * line_len / 1024
    );

    // Let it flow: everything written arrives, in order, nothing twice.
    stop.store(true, Ordering::Relaxed);
    let seen = Arc::new(AtomicU64::new(0));
    let reader = read_stdout(&mut running, seen.clone());
    writer.join().expect("writer");
    let total = written.load(Ordering::Relaxed);
    wait_for("every line on stdout", || {
        seen.load(Ordering::Relaxed) >= total
    });
    running.signal("TERM");
    assert_eq!(running.wait().code(), Some(0));
    let lines = reader.join().expect("reader");
    assert_eq!(lines.len() as u64, total);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l[..8], format!("{i:08}"), "line {i}");
    }
    let stats = last_stats(&sb.json_lines("stats.jsonl"), "in").clone();
    assert_eq!(stats["lines_in"], total, "{stats}");
    assert_eq!(stats["events_out"], total, "{stats}");
    assert_eq!(stats["bytes_in"], total * line_len, "{stats}");
}

#[test]
fn udp_past_the_queue_is_dropped_and_counted() {
    let (sb, mut running) = start_blocked(r#"udp: "127.0.0.1:0", datagram_queue: 16"#);
    let target = format!("127.0.0.1:{}", port_of(&running, "udp"));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    // 8 KB each: the 64 KiB pipe holds 8, the queues a few dozen.
    let datagram = |i: u64| {
        let mut d = format!("<13>Nov 25 10:00:00 h app[1]: {i:06} ");
        d.push_str(&"u".repeat(8000 - d.len()));
        d
    };
    let mut sent = 0;
    let send_round = |sent: &mut u64| {
        for _ in 0..10 {
            sock.send_to(datagram(*sent).as_bytes(), &target).unwrap();
            *sent += 1;
        }
        // In rounds small enough for the kernel's receive buffer, each
        // waited for: every datagram sent is one logbus received.
        let want = *sent;
        wait_for(&format!("{want} datagrams received"), || {
            stats_now(&sb)["lines_in"] == want
        });
    };
    for _ in 0..30 {
        send_round(&mut sent);
    }
    let dropped = stats_now(&sb)["dropped"].as_u64().unwrap_or(0);
    // What the blocked pipeline holds: 8 lines in the pipe; the batch the
    // stdout stage is writing, its 4 queued batches and the forwarder's
    // batch, each at most the 16 queued datagrams plus a round of 10; and
    // the 16 in the datagram queue: at most 8 + 6 * 26 + 16 = 180.
    eprintln!("dropped {dropped} of {sent}");
    assert!(dropped >= 300 - 180, "dropped {dropped} of {sent}");

    // Reading again: the server recovered, new datagrams all arrive.
    let seen = Arc::new(AtomicU64::new(0));
    let reader = read_stdout(&mut running, seen.clone());
    let delivered = sent - dropped;
    wait_for("the queued datagrams", || {
        seen.load(Ordering::Relaxed) >= delivered
    });
    for _ in 0..3 {
        send_round(&mut sent);
    }
    wait_for("the datagrams sent after", || {
        seen.load(Ordering::Relaxed) >= delivered + 30
    });
    running.signal("TERM");
    let status = running.wait();
    let stderr = running.stderr();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("udp datagram(s) dropped: the pipeline is not keeping up"),
        "{stderr}"
    );
    let lines = reader.join().expect("reader");
    let numbers: Vec<u64> = lines.iter().map(|l| l[..6].parse().unwrap()).collect();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
    assert_eq!(
        &numbers[numbers.len() - 30..],
        (300..330).collect::<Vec<_>>()
    );
    let stats = last_stats(&sb.json_lines("stats.jsonl"), "in").clone();
    assert_eq!(stats["lines_in"], 330, "{stats}");
    assert_eq!(stats["dropped"], dropped, "{stats}");
    assert_eq!(stats["events_out"], 330 - dropped, "{stats}");
    assert_eq!(lines.len() as u64, 330 - dropped);
    assert_eq!(stats["bytes_in"], 330 * 8000, "{stats}");
}

#[test]
fn sigterm_passes_on_what_arrived_even_while_blocked() {
    let (sb, mut running) =
        start_blocked(r#"tcp: "127.0.0.1:0", udp: "127.0.0.1:0", datagram_queue: 16"#);
    let tcp = format!("127.0.0.1:{}", port_of(&running, "tcp"));
    let udp = format!("127.0.0.1:{}", port_of(&running, "udp"));
    let pad = "y".repeat(200);
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let written = written.clone();
        let mut conn = TcpStream::connect(&tcp).unwrap();
        thread::spawn(move || {
            // Until logbus cuts the connection at shutdown.
            for i in 0u64.. {
                let line = format!("<13>Nov 25 10:00:00 h app[1]: t{i:08} {pad}\n");
                if conn.write_all(line.as_bytes()).is_err() {
                    return;
                }
                written.store(i + 1, Ordering::Relaxed);
            }
        })
    };
    // Stuck: nothing is read, the writer stops moving.
    let mut last = u64::MAX;
    let mut still_since = Instant::now();
    loop {
        thread::sleep(Duration::from_millis(100));
        let now = written.load(Ordering::Relaxed);
        if now != last {
            last = now;
            still_since = Instant::now();
        } else if still_since.elapsed() > Duration::from_secs(2) {
            break;
        }
    }
    // Ten datagrams wait in the datagram queue (the forwarder is stuck on
    // a TCP batch).
    let before = stats_now(&sb)["lines_in"].as_u64().expect("stats");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..10 {
        sock.send_to(
            format!("<13>Nov 25 10:00:00 h app[1]: u{i}").as_bytes(),
            &udp,
        )
        .unwrap();
    }
    wait_for("the datagrams received", || {
        stats_now(&sb)["lines_in"].as_u64() == Some(before + 10)
    });
    running.signal("TERM");
    let seen = Arc::new(AtomicU64::new(0));
    let reader = read_stdout(&mut running, seen);
    let status = running.wait();
    let stderr = running.stderr();
    assert_eq!(status.code(), Some(0), "{stderr}");
    writer.join().expect("writer");
    let lines = reader.join().expect("reader");

    // Every datagram that was queued came out.
    let udp_lines: Vec<&String> = lines.iter().filter(|l| l.starts_with('u')).collect();
    let expected: Vec<String> = (0..10).map(|i| format!("u{i}")).collect();
    assert_eq!(udp_lines, expected.iter().collect::<Vec<_>>());
    // TCP: what logbus read came out, in order, without a gap: a prefix of
    // what the client wrote (the rest was in flight when it was cut off).
    let tcp_lines: Vec<&String> = lines.iter().filter(|l| l.starts_with('t')).collect();
    for (i, l) in tcp_lines.iter().enumerate() {
        assert_eq!(l[..9], format!("t{i:08}"), "line {i}");
    }
    assert!(tcp_lines.len() as u64 <= written.load(Ordering::Relaxed));
    let stats = last_stats(&sb.json_lines("stats.jsonl"), "in").clone();
    assert_eq!(stats["lines_in"], lines.len(), "{stats}");
    assert_eq!(stats["events_out"], lines.len(), "{stats}");
    assert_eq!(stats["dropped"], 0, "{stats}");
}
