//! `syslog`: receive syslog messages over UDP, TCP and a Unix datagram
//! socket.
//!
//! # Shape
//!
//! One task per socket produces events; one forwarder (the input's own
//! task) batches them into the pipeline:
//!
//! ```text
//! udp  recv ──try──> datagram queue (bounded, full: dropped + counted) ──┐
//! unix recv ──try──┘                                                     ├─> forwarder ─> pipeline
//! tcp  accept ─> one task per connection ──wait──> stream queue ─────────┘
//! ```
//!
//! TCP connections wait for room in their queue, so a slow pipeline stops
//! them reading and the kernel's flow control slows the senders; nothing
//! grows without bound. Datagram senders cannot be slowed, so a datagram
//! that finds the queue full is dropped, counted (`dropped`) and not parsed.
//!
//! Messages are parsed with [`SyslogParser`], the parser of `parse-syslog`,
//! so events carry the same fields and the built-in rule sets work on them
//! unchanged. The sender's address goes to `log.syslog.peer` only: it is a
//! relay, never the address a rule bans.

mod datagram;
pub mod framing;
mod tcp;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::lines::{BATCH_BYTES, decode};
use crate::duration::Span;
use crate::event::{Batch, Event, FieldPath, fields};
use crate::pipeline::{
    BoxFuture, BuildContext, BuildError, BuiltStage, ErrorRecord, ErrorSink, Input, InputContext,
    StageCounters, StageError,
};
use crate::stages::parse::syslog::{SyslogParser, time_context};
use crate::stages::{BATCH_SIZE, Module, ModuleKind};

/// Registry entry.
pub const MODULE: Module = Module {
    name: "syslog",
    kind: ModuleKind::Input,
    summary: "receive syslog messages over UDP, TCP and a Unix socket",
    build,
};

/// Default longest message, in bytes (rsyslog's `maxMessageSize` is 8 KiB;
/// 64 KiB takes any UDP datagram whole).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Largest `max_message_bytes` accepted: each TCP connection may buffer
/// this much, so a typo must not reserve gigabytes.
const MAX_MESSAGE_BYTES_LIMIT: usize = 16 * 1024 * 1024;

/// Default most TCP connections served at once.
const DEFAULT_MAX_CONNECTIONS: usize = 256;

/// Default datagrams held while the pipeline is busy.
const DEFAULT_DATAGRAM_QUEUE: usize = 1024;

/// Chunks of TCP events in flight to the forwarder; each connection also
/// holds at most one chunk while it waits.
const STREAM_QUEUE: usize = 16;

/// Default unix socket mode: any local program may log, like /dev/log.
const DEFAULT_UNIX_MODE: u32 = 0o666;

/// Shortest time between two error events about the same flood (dropped
/// datagrams, refused connections); the counters keep the exact totals.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// `log.syslog.peer`: where a message came from (the sending host or relay,
/// `ADDRESS:PORT`, or the unix socket's path).
pub static PEER: LazyLock<FieldPath> = LazyLock::new(|| {
    FieldPath::parse("log.syslog.peer").unwrap_or_else(|e| panic!("built-in field path: {e}"))
});

/// Options of the `syslog` input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SyslogServerConfig {
    /// UDP address to listen on (`ADDRESS:PORT`).
    #[serde(default)]
    udp: Option<String>,
    /// TCP address to listen on (`ADDRESS:PORT`).
    #[serde(default)]
    tcp: Option<String>,
    /// Unix datagram socket to create.
    #[serde(default)]
    unix: Option<String>,
    /// The unix socket's mode, octal (`"0666"`).
    #[serde(default)]
    unix_mode: Option<serde_yaml_ng::Value>,
    /// Longest message; longer datagrams are cut, longer TCP frames close
    /// the connection.
    #[serde(default = "default_max_message")]
    max_message_bytes: usize,
    /// Most TCP connections at once; more are closed on arrival.
    #[serde(default = "default_max_connections")]
    max_connections: usize,
    /// A TCP connection silent this long is closed (`forever`: never).
    #[serde(default = "default_idle_timeout")]
    idle_timeout: Span,
    /// Datagrams held while the pipeline is busy; more are dropped.
    #[serde(default = "default_datagram_queue")]
    datagram_queue: usize,
    /// IANA zone of timestamps written without an offset (RFC 3164).
    #[serde(default)]
    timezone: Option<String>,
}

fn default_max_message() -> usize {
    DEFAULT_MAX_MESSAGE_BYTES
}

fn default_max_connections() -> usize {
    DEFAULT_MAX_CONNECTIONS
}

fn default_idle_timeout() -> Span {
    Span::Finite(Duration::from_secs(600))
}

fn default_datagram_queue() -> usize {
    DEFAULT_DATAGRAM_QUEUE
}

/// The limits every socket task applies.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// Longest message in bytes.
    pub(crate) max_message: usize,
    /// Most TCP connections at once.
    pub(crate) max_connections: usize,
    /// Silence after which a TCP connection is closed.
    pub(crate) idle_timeout: Option<Duration>,
}

fn build(ctx: &BuildContext) -> Result<BuiltStage, BuildError> {
    let cfg: SyslogServerConfig = ctx.options()?;
    let udp = cfg
        .udp
        .as_deref()
        .map(|a| listen_address("udp", a))
        .transpose()?;
    let tcp = cfg
        .tcp
        .as_deref()
        .map(|a| listen_address("tcp", a))
        .transpose()?;
    let unix = match cfg.unix.as_deref() {
        Some("") => return Err(BuildError::field("unix", "empty path")),
        Some(p) => Some(ctx.resolve(p)),
        None => None,
    };
    if udp.is_none() && tcp.is_none() && unix.is_none() {
        return Err(BuildError::stage(
            "listens nowhere: set `udp`, `tcp` (ADDRESS:PORT) or `unix` (a path)",
        ));
    }
    let unix_mode = match &cfg.unix_mode {
        None => DEFAULT_UNIX_MODE,
        Some(v) => parse_mode(v).map_err(|m| BuildError::field("unix_mode", m))?,
    };
    if cfg.unix_mode.is_some() && unix.is_none() {
        return Err(BuildError::field("unix_mode", "set without `unix`"));
    }
    if !(1..=MAX_MESSAGE_BYTES_LIMIT).contains(&cfg.max_message_bytes) {
        return Err(BuildError::field(
            "max_message_bytes",
            format!("must be between 1 and {MAX_MESSAGE_BYTES_LIMIT}"),
        ));
    }
    if cfg.max_connections == 0 {
        return Err(BuildError::field("max_connections", "must be at least 1"));
    }
    if cfg.datagram_queue == 0 {
        return Err(BuildError::field("datagram_queue", "must be at least 1"));
    }
    let idle_timeout = match cfg.idle_timeout {
        Span::Finite(d) if d.is_zero() => {
            return Err(BuildError::field(
                "idle_timeout",
                "must be longer than 0s (or `forever`)",
            ));
        }
        span => span.as_duration(),
    };
    let time = time_context(None, cfg.timezone.as_deref())?;
    Ok(BuiltStage::input(SyslogServer {
        stage: ctx.stage.to_string(),
        udp,
        tcp,
        unix,
        unix_mode,
        datagram_queue: cfg.datagram_queue,
        limits: Limits {
            max_message: cfg.max_message_bytes,
            max_connections: cfg.max_connections,
            idle_timeout,
        },
        parser: SyslogParser::new(time),
    }))
}

/// `ADDRESS:PORT` with an IP address (`0.0.0.0:514`, `[::]:514`); port 0
/// picks a free port (the address is logged).
fn listen_address(field: &str, text: &str) -> Result<SocketAddr, BuildError> {
    text.parse().map_err(|_| {
        BuildError::field(
            field,
            format!(
                "`{text}` is not ADDRESS:PORT with an IP address \
                 (e.g. 0.0.0.0:514, 127.0.0.1:5140, [::]:514)"
            ),
        )
    })
}

/// A file mode written as an octal string (`"0666"`, `"0o660"`, `"660"`;
/// unquoted `0666` is fine too, the YAML parser keeps it as text). A YAML
/// number (`666`, `0o666`) is refused: whether it was meant as octal
/// cannot be told, and a silently wrong socket mode is worse than an error.
fn parse_mode(v: &serde_yaml_ng::Value) -> Result<u32, String> {
    let Some(text) = v.as_str() else {
        return Err("write the mode as a quoted octal string, e.g. \"0666\"".into());
    };
    let digits = text.strip_prefix("0o").unwrap_or(text);
    let mode = u32::from_str_radix(digits, 8)
        .map_err(|_| format!("`{text}` is not an octal mode such as \"0666\""))?;
    if digits.is_empty() || mode > 0o777 {
        return Err(format!(
            "`{text}` is not a permission mode between 0000 and 0777"
        ));
    }
    Ok(mode)
}

struct SyslogServer {
    stage: String,
    udp: Option<SocketAddr>,
    tcp: Option<SocketAddr>,
    unix: Option<PathBuf>,
    unix_mode: u32,
    datagram_queue: usize,
    limits: Limits,
    parser: SyslogParser,
}

/// The stage's own counters, beside `lines_in` and `bytes_in`.
#[derive(Debug)]
pub(crate) struct Stats {
    /// Messages that are not syslog (passed on as plain `message`).
    pub(crate) unparsed: Arc<AtomicU64>,
    /// Datagrams longer than `max_message_bytes`, cut to it.
    pub(crate) truncated: Arc<AtomicU64>,
    /// Datagrams dropped because the queue was full.
    pub(crate) dropped: Arc<AtomicU64>,
    /// TCP connections accepted.
    pub(crate) connections: Arc<AtomicU64>,
    /// TCP connections open now (a gauge).
    pub(crate) connections_open: Arc<AtomicU64>,
    /// TCP connections closed on arrival: `max_connections` were open.
    pub(crate) connections_refused: Arc<AtomicU64>,
    /// TCP connections closed because the client sent no syslog.
    pub(crate) protocol_errors: Arc<AtomicU64>,
    /// TCP connections closed after `idle_timeout` of silence.
    pub(crate) idle_closed: Arc<AtomicU64>,
}

impl Stats {
    fn new(c: &StageCounters) -> Self {
        Self {
            unparsed: c.extra("unparsed"),
            truncated: c.extra("truncated"),
            dropped: c.extra("dropped"),
            connections: c.extra("connections"),
            connections_open: c.extra("connections_open"),
            connections_refused: c.extra("connections_refused"),
            protocol_errors: c.extra("protocol_errors"),
            idle_closed: c.extra("idle_closed"),
        }
    }
}

/// Where a message came from.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    /// For `log.syslog.peer`.
    text: Arc<str>,
    /// The local unix socket: messages without a host are this host's.
    local: bool,
}

impl Peer {
    /// A network sender; an IPv4-mapped IPv6 address (from a `[::]`
    /// socket) is written as the IPv4 address it is.
    pub(crate) fn net(addr: SocketAddr) -> Self {
        let addr = match addr {
            SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
                Some(v4) => SocketAddr::new(v4.into(), v6.port()),
                None => addr,
            },
            v4 => v4,
        };
        Self {
            text: addr.to_string().into(),
            local: false,
        }
    }

    /// The local unix socket at `path`.
    pub(crate) fn unix(path: &str) -> Self {
        Self {
            text: path.into(),
            local: true,
        }
    }

    /// As recorded in `log.syslog.peer`.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }
}

/// What the socket tasks share.
pub(crate) struct Shared {
    stage: String,
    parser: SyslogParser,
    pub(crate) limits: Limits,
    pub(crate) counters: Arc<StageCounters>,
    pub(crate) stats: Stats,
    errors: ErrorSink,
    /// This host's name, for local messages that carry none (rsyslog
    /// writes it into /var/log/auth.log the same way).
    local_host: Option<String>,
}

impl Shared {
    /// The event for one received message, `None` for an empty one.
    /// Counts it in `lines_in` (and `unparsed`).
    pub(crate) fn event(&self, raw: &[u8], peer: &Peer) -> Option<Event> {
        let raw = trim_message(raw);
        if raw.is_empty() {
            return None;
        }
        StageCounters::add(&self.counters.lines_in, 1);
        let text = decode(raw);
        let mut event = Event::new();
        let parsed = match self.parser.parse(&text) {
            Some(record) => {
                record.apply_to(&mut event);
                true
            }
            None => false,
        };
        if !parsed {
            StageCounters::add(&self.stats.unparsed, 1);
            event.set(&fields::MESSAGE, text);
        }
        if peer.local
            && !event.contains(&fields::HOST_NAME)
            && let Some(host) = &self.local_host
        {
            event.set(&fields::HOST_NAME, host.as_str());
        }
        event.set(&PEER, peer.as_str());
        Some(event)
    }

    /// Reports an error on the `errors` channel, waiting for room.
    pub(crate) async fn report(&self, message: String) {
        self.errors
            .report(ErrorRecord {
                message: format!("{}: {message}", self.stage),
                input: None,
            })
            .await;
    }

    /// Reports an error without waiting: for loops that must keep
    /// receiving (datagrams, accepting), whose reports are throttled.
    pub(crate) fn report_detached(&self, message: String) {
        let errors = self.errors.clone();
        let message = format!("{}: {message}", self.stage);
        tokio::spawn(async move {
            errors
                .report(ErrorRecord {
                    message,
                    input: None,
                })
                .await;
        });
    }
}

/// A message without the line ending and NUL padding some senders add.
pub(crate) fn trim_message(raw: &[u8]) -> &[u8] {
    let end = raw
        .iter()
        .rposition(|b| !matches!(b, b'\n' | b'\r' | b'\0'))
        .map_or(0, |i| i + 1);
    &raw[..end]
}

/// Counts occurrences of a flood and says when to report it: the first at
/// once, then at most one report per [`REPORT_EVERY`], with the number of
/// occurrences since the last report.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    last: Option<Instant>,
    pending: u64,
}

impl Throttle {
    /// Notes one occurrence; `Some(n)` when it is time to report `n`.
    pub(crate) fn note(&mut self) -> Option<u64> {
        self.pending += 1;
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < REPORT_EVERY)
        {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.pending))
    }
}

/// The host name, short form (before the first dot), as syslog writes it.
fn local_host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let short = name.trim().split('.').next()?.to_string();
    (!short.is_empty()).then_some(short)
}

impl Input for SyslogServer {
    fn run(self: Box<Self>, mut ctx: InputContext) -> BoxFuture<Result<(), StageError>> {
        Box::pin(async move {
            let this = *self;
            // Everything is bound before anything is served: a port that
            // cannot be had fails the run at once, naming it.
            let udp = match this.udp {
                Some(addr) => Some(datagram::bind_udp(addr)?),
                None => None,
            };
            let tcp = match this.tcp {
                Some(addr) => Some(tcp::bind(addr)?),
                None => None,
            };
            let unix = match &this.unix {
                Some(path) => Some(datagram::bind_unix(path, this.unix_mode)?),
                None => None,
            };
            let shared = Arc::new(Shared {
                stage: this.stage.clone(),
                parser: this.parser,
                limits: this.limits,
                counters: ctx.counters.clone(),
                stats: Stats::new(&ctx.counters),
                errors: ctx.errors.clone(),
                local_host: local_host_name(),
            });
            let (stream_tx, stream_rx) = mpsc::channel(STREAM_QUEUE);
            let (dgram_tx, dgram_rx) = mpsc::channel(this.datagram_queue);
            let mut tasks = JoinSet::new();
            if let Some(sock) = udp {
                log_listening(&this.stage, "udp", &sock.local_addr());
                tasks.spawn(datagram::serve(
                    datagram::Socket::Udp(sock, None),
                    shared.clone(),
                    dgram_tx.clone(),
                    ctx.shutdown.clone(),
                ));
            }
            if let Some(listener) = tcp {
                log_listening(&this.stage, "tcp", &listener.local_addr());
                tasks.spawn(tcp::serve(
                    listener,
                    shared.clone(),
                    stream_tx.clone(),
                    ctx.shutdown.clone(),
                ));
            }
            if let Some(sock) = unix {
                tracing::info!(
                    "syslog input `{}`: listening on unix {}",
                    this.stage,
                    sock.path_text()
                );
                tasks.spawn(datagram::serve(
                    sock.into_socket(),
                    shared.clone(),
                    dgram_tx.clone(),
                    ctx.shutdown.clone(),
                ));
            }
            // Only the socket tasks hold senders now: once they have all
            // stopped (at shutdown), the queues close and the forwarder ends.
            drop(stream_tx);
            drop(dgram_tx);
            forward(&mut ctx, stream_rx, dgram_rx).await;
            // Normally every task has ended; when nobody reads this input
            // any more they are still serving, and are stopped here (the
            // unix socket file goes with its task).
            tasks.shutdown().await;
            Ok(())
        })
    }
}

fn log_listening(stage: &str, proto: &str, addr: &std::io::Result<SocketAddr>) {
    match addr {
        Ok(a) => tracing::info!("syslog input `{stage}`: listening on {proto} {a}"),
        Err(e) => tracing::info!("syslog input `{stage}`: listening on {proto} (address: {e})"),
    }
}

/// Moves events from the socket tasks into the pipeline, in batches of at
/// most [`BATCH_SIZE`] events or [`BATCH_BYTES`] of text, until every
/// socket task has stopped (after shutdown, with what they received
/// drained) or nobody reads this input.
async fn forward(
    ctx: &mut InputContext,
    mut stream_rx: mpsc::Receiver<Batch>,
    mut dgram_rx: mpsc::Receiver<Event>,
) {
    let mut shutdown = ctx.shutdown.clone();
    let mut stopping = false;
    let mut carry: Option<Batch> = None;
    loop {
        let mut batch = carry.take().unwrap_or_default();
        if batch.is_empty() {
            tokio::select! {
                // The socket tasks watch the signal themselves; here it
                // only stops this branch from firing again.
                _ = shutdown.wait(), if !stopping => {
                    stopping = true;
                    continue;
                }
                Some(chunk) = stream_rx.recv() => batch = chunk,
                Some(event) = dgram_rx.recv() => batch.push(event),
                else => return,
            }
        }
        let mut held: usize = batch.iter().map(Event::message_len).sum();
        while batch.len() < BATCH_SIZE && held < BATCH_BYTES {
            if let Ok(event) = dgram_rx.try_recv() {
                held += event.message_len();
                batch.push(event);
                continue;
            }
            match stream_rx.try_recv() {
                Ok(chunk) if batch.len() + chunk.len() > BATCH_SIZE => {
                    carry = Some(chunk);
                    break;
                }
                Ok(chunk) => {
                    held += chunk.iter().map(Event::message_len).sum::<usize>();
                    batch.extend(chunk);
                }
                Err(_) => break,
            }
        }
        if ctx.out.send(batch).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use serde_json::json;

    use super::*;
    use crate::timestamp::TimeContext;

    fn shared() -> Shared {
        let counters = Arc::new(StageCounters::default());
        Shared {
            stage: "in".into(),
            parser: SyslogParser::new(
                TimeContext::system()
                    .with_tz(jiff::tz::TimeZone::UTC)
                    .with_year(2026),
            ),
            limits: Limits {
                max_message: 100,
                max_connections: 1,
                idle_timeout: None,
            },
            stats: Stats::new(&counters),
            errors: ErrorSink::detached("in", counters.clone()),
            counters,
            local_host: Some("here".into()),
        }
    }

    #[test]
    fn events_carry_parse_syslog_fields_and_the_peer() {
        let s = shared();
        let peer = Peer::net("192.0.2.1:51234".parse().unwrap());
        let e = s
            .event(
                b"<38>Nov 25 10:00:00 srv sshd[42]: Invalid user x from 198.51.100.1 port 22\n",
                &peer,
            )
            .unwrap();
        assert_eq!(
            e.into_value(),
            json!({
                "@timestamp": "2026-11-25T10:00:00.000+00:00",
                "host": {"name": "srv"},
                "process": {"name": "sshd", "pid": 42},
                "message": "Invalid user x from 198.51.100.1 port 22",
                "log": {"syslog": {
                    "priority": 38,
                    "facility": {"code": 4},
                    "severity": {"code": 6},
                    "peer": "192.0.2.1:51234"
                }}
            })
        );
        let e = s
            .event(
                b"<13>1 2026-11-25T10:00:00.5Z h app 7 ID1 [x a=\"1\"] hi\0",
                &peer,
            )
            .unwrap();
        let v = e.into_value();
        assert_eq!(v["message"], "hi");
        assert_eq!(v["log"]["syslog"]["msgid"], "ID1");
        assert_eq!(
            v["log"]["syslog"]["structured_data"],
            json!({"x": {"a": "1"}})
        );
    }

    #[test]
    fn unparsed_and_invalid_utf8_still_make_events() {
        let s = shared();
        let peer = Peer::net("[::ffff:192.0.2.7]:9".parse().unwrap());
        assert_eq!(peer.as_str(), "192.0.2.7:9");
        let e = s.event(b"just text \xff here\r\n", &peer).unwrap();
        assert_eq!(
            e.into_value(),
            json!({"message": "just text \u{fffd} here", "log": {"syslog": {"peer": "192.0.2.7:9"}}})
        );
        assert!(s.event(b"\r\n\0", &peer).is_none());
        assert_eq!(s.stats.unparsed.load(Ordering::Relaxed), 1);
        assert_eq!(s.counters.lines_in.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn local_messages_get_this_host() {
        let s = shared();
        let peer = Peer::unix("/run/log.sock");
        let v = s
            .event(b"<13>Nov 25 10:00:00 sshd[1]: hi", &peer)
            .unwrap()
            .into_value();
        assert_eq!(v["host"]["name"], "here");
        assert_eq!(v["log"]["syslog"]["peer"], "/run/log.sock");
        let v = s
            .event(b"<13>Nov 25 10:00:00 other sshd[1]: hi", &peer)
            .unwrap()
            .into_value();
        assert_eq!(v["host"]["name"], "other");
    }

    #[test]
    fn modes() {
        let m = |y: &str| parse_mode(&serde_yaml_ng::from_str(y).unwrap());
        assert_eq!(m("\"0666\""), Ok(0o666));
        assert_eq!(m("\"0o660\""), Ok(0o660));
        assert_eq!(m("'600'"), Ok(0o600));
        // Unquoted, YAML keeps a leading-zero number as text: still octal.
        assert_eq!(m("0666"), Ok(0o666));
        assert!(m("666").is_err());
        assert!(m("0o666").is_err());
        assert!(m("\"0888\"").is_err());
        assert!(m("\"4777\"").is_err());
        assert!(m("\"\"").is_err());
    }

    #[test]
    fn throttle_reports_first_then_waits() {
        let mut t = Throttle::default();
        assert_eq!(t.note(), Some(1));
        assert_eq!(t.note(), None);
        assert_eq!(t.note(), None);
        t.last = Instant::now().checked_sub(REPORT_EVERY);
        assert_eq!(t.note(), Some(3));
    }
}
