//! The `syslog` input against real senders: util-linux `logger` over UDP,
//! TCP (newline and octet-counted framing) and a unix datagram socket, in
//! both RFC formats; raw clients sending garbage; the connection limit and
//! the idle timeout.

mod common;
mod syslog_server_util;

use std::io::Write;
use std::net::TcpStream;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};

use serde_json::{Value, json};

use syslog_server_util::{
    Server, assert_recent, host_names, is_closed, logger, take_peer, wait_closed,
};

/// A syslog input `in` with OPTIONS, its events, stats and errors in files.
fn pipeline(options: &str) -> String {
    format!(
        r#"stats_interval: 1h
pipeline:
  in: {{module: syslog, {options}}}
  out: {{module: file, inChannels: [in], path: out.jsonl}}
  stats-out: {{module: file, inChannels: [stats], path: stats.jsonl}}
  errors-out: {{module: file, inChannels: [errors], path: errors.jsonl}}
"#
    )
}

/// What `logger` sends with the default priority (user.notice): `<13>`.
fn user_notice() -> Value {
    json!({"priority": 13, "facility": {"code": 1}, "severity": {"code": 5}})
}

/// Checks an event from `logger --rfc5424`: its structured data is
/// logger's `timeQuality` element (whose `isSynced` depends on the clock),
/// which is then removed, and the version is 1.
fn take_rfc5424_parts(event: &mut Value) {
    let syslog = event
        .pointer_mut("/log/syslog")
        .and_then(Value::as_object_mut)
        .expect("log.syslog");
    assert_eq!(syslog.remove("version"), Some(json!(1)));
    let sd = syslog.remove("structured_data").expect("structured data");
    assert_eq!(sd["timeQuality"]["tzKnown"], "1", "{sd}");
}

#[test]
fn logger_over_udp_and_tcp_in_both_formats() {
    let mut server = Server::start(&pipeline(r#"udp: "127.0.0.1:0", tcp: "127.0.0.1:0""#));
    let udp = server.port("udp").to_string();
    let tcp = server.port("tcp").to_string();
    let (full_host, short_host) = host_names();
    // (transport, extra logger options, message, RFC 5424?)
    let cases: [(&str, &[&str], &str, bool); 6] = [
        ("--udp", &["--rfc3164"], "udp rfc3164", false),
        ("--udp", &["--rfc5424"], "udp rfc5424 ünïcode", true),
        ("--tcp", &["--rfc3164"], "tcp rfc3164", false),
        ("--tcp", &["--rfc5424"], "tcp rfc5424", true),
        (
            "--tcp",
            &["--rfc3164", "--octet-count"],
            "tcp rfc3164 counted",
            false,
        ),
        (
            "--tcp",
            &["--rfc5424", "--octet-count"],
            "tcp rfc5424 counted",
            true,
        ),
    ];
    let mut peers = Vec::new();
    for (i, (transport, format, message, rfc5424)) in cases.iter().enumerate() {
        let port = if *transport == "--udp" { &udp } else { &tcp };
        let mut args = vec!["--server", "127.0.0.1", "--port", port, transport];
        args.extend_from_slice(format);
        args.extend_from_slice(&["--tag", "sshd", "--id", message]);
        let pid = logger(&args);
        // One at a time: events from different sockets have no order.
        let mut event = server.wait_events("out.jsonl", i + 1)[i].clone();
        assert_recent(&event["@timestamp"]);
        event.as_object_mut().unwrap().remove("@timestamp");
        peers.push(take_peer(&mut event));
        if *rfc5424 {
            take_rfc5424_parts(&mut event);
        }
        let host = if *rfc5424 { &full_host } else { &short_host };
        assert_eq!(
            event,
            json!({
                "host": {"name": host},
                "process": {"name": "sshd", "pid": pid},
                "message": message,
                "log": {"syslog": user_notice()},
            }),
            "case {i}: {transport} {format:?}"
        );
    }
    server.stop();
    let stats = server.final_stats("stats.jsonl", "in");
    assert_eq!(stats["lines_in"], 6, "{stats}");
    assert_eq!(stats["events_out"], 6, "{stats}");
    assert_eq!(stats["unparsed"], 0, "{stats}");
    assert_eq!(stats["connections"], 4, "{stats}");
    assert_eq!(stats["connections_open"], 0, "{stats}");
    assert_eq!(stats["protocol_errors"], 0, "{stats}");
    assert_eq!(stats["errors"], 0, "{stats}");
    assert!(server.sb.text_lines("errors.jsonl").is_empty());
}

#[test]
fn unix_socket_takes_logger_and_is_removed_at_shutdown() {
    let sb_path = "SANDBOX/log.sock";
    let mut server = Server::start(&pipeline(&format!(r#"unix: "{sb_path}""#)));
    let sock = server.sb.path("log.sock");
    let sock_text = sock.to_str().unwrap().to_string();
    let meta = std::fs::symlink_metadata(&sock).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o666);

    let (full_host, short_host) = host_names();
    let pid = logger(&["--socket", &sock_text, "--tag", "sshd", "--id", "local one"]);
    let mut event = server.wait_events("out.jsonl", 1)[0].clone();
    assert_recent(&event["@timestamp"]);
    event.as_object_mut().unwrap().remove("@timestamp");
    // logger writes no host name to a local socket: the event gets this
    // host's, as rsyslog would write it into /var/log/auth.log.
    let mut syslog = user_notice();
    syslog["peer"] = json!(sock_text);
    assert_eq!(
        event,
        json!({
            "host": {"name": short_host},
            "process": {"name": "sshd", "pid": pid},
            "message": "local one",
            "log": {"syslog": syslog},
        })
    );

    let pid = logger(&[
        "-u",
        &sock_text,
        "--rfc5424",
        "--tag",
        "sshd",
        "--id",
        "local two",
    ]);
    let mut event = server.wait_events("out.jsonl", 2)[1].clone();
    assert_recent(&event["@timestamp"]);
    event.as_object_mut().unwrap().remove("@timestamp");
    take_rfc5424_parts(&mut event);
    assert_eq!(
        event,
        json!({
            "host": {"name": full_host},
            "process": {"name": "sshd", "pid": pid},
            "message": "local two",
            "log": {"syslog": syslog},
        })
    );
    server.stop();
    assert!(!sock.exists(), "the socket file outlived the run");
    let stats = server.final_stats("stats.jsonl", "in");
    assert_eq!(stats["lines_in"], 2, "{stats}");
    assert_eq!(stats["events_out"], 2, "{stats}");
}

#[test]
fn stale_socket_is_replaced_and_other_files_are_not() {
    // A socket file nobody receives on, as a crash leaves it.
    let sb = common::Sandbox::new();
    let stale = sb.path("stale.sock");
    drop(std::os::unix::net::UnixDatagram::bind(&stale).unwrap());
    assert!(stale.exists());
    let config = pipeline(&format!(
        r#"unix: "{}", unix_mode: "0620""#,
        stale.display()
    ));
    let mut server = Server::start(&config);
    let meta = std::fs::symlink_metadata(&stale).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o620);
    // A second server on the same path: the socket is live, so it is not
    // taken over.
    let second = sb.config(&config);
    let out = common::run(&second);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("{} is in use by another program", stale.display())),
        "{}",
        out.stderr
    );
    server.stop();
    assert!(!stale.exists());

    // A regular file in the way is an error, and stays as it was.
    let file = sb.write("not-a-socket", "precious\n");
    let config = sb.config(&pipeline(&format!(r#"unix: "{}""#, file.display())));
    let out = common::run(&config);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("exists and is not a socket"),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious\n");
}

#[test]
fn garbage_clients_are_disconnected_and_counted() {
    let mut server = Server::start(&pipeline(r#"tcp: "127.0.0.1:0", max_message_bytes: 1000"#));
    let addr = format!("127.0.0.1:{}", server.port("tcp"));
    let garbage: [(&[u8], String); 3] = [
        // A TLS ClientHello's first bytes: a client configured for TLS.
        (
            b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
            "binary data (byte 0x16 where a frame should start)".into(),
        ),
        // A line far longer than the limit, never ended.
        (
            &[b'A'; 5000],
            "frame longer than max_message_bytes (1000) without a newline".into(),
        ),
        (
            b"99999999999 <13>Nov 25 10:00:00 h sshd[1]: x",
            "bad octet count `99999999999` (must be 1 to 1000)".into(),
        ),
    ];
    let mut expected_errors = Vec::new();
    for (bytes, why) in &garbage {
        let mut conn = TcpStream::connect(&addr).unwrap();
        let port = conn.local_addr().unwrap().port();
        // The server may cut the client off mid-write: that is the point.
        let _ = conn.write_all(bytes);
        wait_closed(&mut conn);
        expected_errors.push(format!(
            "in: tcp client 127.0.0.1:{port} disconnected: {why}"
        ));
    }
    // The server still serves the next client; invalid UTF-8 is replaced.
    let mut conn = TcpStream::connect(&addr).unwrap();
    let port = conn.local_addr().unwrap().port();
    conn.write_all(b"<13>Nov 25 10:00:00 h sshd[7]: bad \xff byte\nnot syslog at all\n")
        .unwrap();
    drop(conn);
    let events = server.wait_events("out.jsonl", 2);
    let peer = format!("127.0.0.1:{port}");
    assert_eq!(events[0]["message"], "bad \u{fffd} byte");
    assert_eq!(events[0]["process"]["name"], "sshd");
    assert_eq!(events[0]["log"]["syslog"]["peer"], peer.as_str());
    // Not syslog: passed on as it came, counted as unparsed.
    assert_eq!(
        events[1],
        json!({"message": "not syslog at all", "log": {"syslog": {"peer": peer}}})
    );
    server.stop();
    let errors: Vec<String> = server
        .sb
        .json_lines("errors.jsonl")
        .iter()
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(errors, expected_errors);
    let stats = server.final_stats("stats.jsonl", "in");
    assert_eq!(stats["protocol_errors"], 3, "{stats}");
    assert_eq!(stats["connections"], 4, "{stats}");
    assert_eq!(stats["connections_open"], 0, "{stats}");
    assert_eq!(stats["lines_in"], 2, "{stats}");
    assert_eq!(stats["unparsed"], 1, "{stats}");
    assert_eq!(stats["events_out"], 2, "{stats}");
    assert_eq!(stats["errors"], 3, "{stats}");
}

#[test]
fn connection_limit_is_enforced() {
    let mut server = Server::start(&pipeline(r#"tcp: "127.0.0.1:0", max_connections: 2"#));
    let addr = format!("127.0.0.1:{}", server.port("tcp"));
    let line = |text: &str| format!("<13>Nov 25 10:00:00 h app[1]: {text}\n");
    let mut first = TcpStream::connect(&addr).unwrap();
    let mut second = TcpStream::connect(&addr).unwrap();
    // Both are served: their messages arrive (one after the other, as
    // messages from different connections have no order).
    first.write_all(line("first").as_bytes()).unwrap();
    server.wait_events("out.jsonl", 1);
    second.write_all(line("second").as_bytes()).unwrap();
    server.wait_events("out.jsonl", 2);

    // A third is closed on arrival, unread.
    let mut third = TcpStream::connect(&addr).unwrap();
    let _ = third.write_all(line("third").as_bytes());
    wait_closed(&mut third);
    let mut refused = 1;

    // Once one leaves, a newcomer is served. The server frees the slot
    // when it sees the close, so a newcomer may still be turned away
    // meanwhile: each try either gets its message through or is closed.
    drop(first);
    let mut tries = 0;
    loop {
        tries += 1;
        assert!(tries < 1000, "no newcomer was ever served");
        let mut conn = TcpStream::connect(&addr).unwrap();
        let text = format!("newcomer {tries}");
        let _ = conn.write_all(line(&text).as_bytes());
        let mut served = false;
        common::wait_for("the newcomer served or closed", || {
            served = server
                .sb
                .messages("out.jsonl")
                .contains(&Value::from(text.as_str()));
            served || is_closed(&mut conn)
        });
        if served {
            break;
        }
        refused += 1;
    }
    let messages = server.sb.messages("out.jsonl");
    assert_eq!(
        messages,
        [
            json!("first"),
            json!("second"),
            json!(format!("newcomer {tries}"))
        ]
    );
    server.stop();
    drop(second);
    let stats = server.final_stats("stats.jsonl", "in");
    assert_eq!(stats["connections"], 3, "{stats}");
    assert_eq!(stats["connections_refused"], refused, "{stats}");
    // The first refusal is reported; later ones within 10 s only counted.
    let errors = server.sb.json_lines("errors.jsonl");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let port = third.local_addr().unwrap().port();
    assert_eq!(
        errors[0]["message"],
        format!(
            "in: tcp connection from 127.0.0.1:{port} refused: max_connections (2) \
             are open (1 refused since the last report)"
        )
    );
}

#[test]
fn idle_connections_are_closed_and_their_last_line_kept() {
    let mut server = Server::start(&pipeline(r#"tcp: "127.0.0.1:0", idle_timeout: 1s"#));
    let addr = format!("127.0.0.1:{}", server.port("tcp"));
    let mut conn = TcpStream::connect(&addr).unwrap();
    // A complete line, then one still waiting for its newline.
    conn.write_all(b"<13>Nov 25 10:00:00 h app[1]: whole\n<13>Nov 25 10:00:00 h app[1]: half")
        .unwrap();
    wait_closed(&mut conn);
    server.wait_events("out.jsonl", 2);
    let messages = server.sb.messages("out.jsonl");
    assert_eq!(messages, [json!("whole"), json!("half")]);
    server.stop();
    let stats = server.final_stats("stats.jsonl", "in");
    assert_eq!(stats["idle_closed"], 1, "{stats}");
    assert_eq!(stats["connections_open"], 0, "{stats}");
    assert_eq!(stats["protocol_errors"], 0, "{stats}");
}

#[test]
fn bad_options_are_refused_by_check() {
    let sb = common::Sandbox::new();
    for (options, field, problem) in [
        ("udp: \"localhost:514\"", "udp", "is not ADDRESS:PORT"),
        ("tcp: \"0.0.0.0\"", "tcp", "is not ADDRESS:PORT"),
        (
            "max_connections: 0, tcp: \"127.0.0.1:1\"",
            "max_connections",
            "at least 1",
        ),
        (
            "max_message_bytes: 0, udp: \"127.0.0.1:1\"",
            "max_message_bytes",
            "between 1 and",
        ),
        (
            "unix: a.sock, unix_mode: 666",
            "unix_mode",
            "quoted octal string",
        ),
        (
            "udp: \"127.0.0.1:1\", unix_mode: \"0600\"",
            "unix_mode",
            "set without `unix`",
        ),
        (
            "udp: \"127.0.0.1:1\", idle_timeout: 0s",
            "idle_timeout",
            "longer than 0s",
        ),
        ("udp: \"127.0.0.1:1\", bogus: 1", "bogus", "unknown field"),
    ] {
        let config = sb.config(&pipeline(options));
        let out = common::check(&config);
        assert_eq!(out.code, Some(1), "{options}: {}", out.stdout);
        let text = format!("{}{}", out.stdout, out.stderr);
        assert!(text.contains(field), "{options}: {text}");
        assert!(text.contains(problem), "{options}: {text}");
    }
    let config =
        sb.config("pipeline:\n  in: {module: syslog}\n  out: {module: stdout, inChannels: [in]}\n");
    let out = common::check(&config);
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains("listens nowhere"),
        "{}{}",
        out.stdout,
        out.stderr
    );
    let config = sb.config(&pipeline(
        r#"udp: "0.0.0.0:514", tcp: "[::]:514", unix: /dev/log, unix_mode: "0666""#,
    ));
    let out = common::check(&config);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}
