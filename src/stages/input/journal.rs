//! `journal`: read the systemd journal through journalctl.
//!
//! The stage runs `journalctl -o json` (as an argument vector, never through
//! a shell) and turns each JSON line into an event with the field names the
//! syslog parser uses (`message`, `process.name`, `process.pid`,
//! `host.name`, `@timestamp`, `log.syslog.*`), so rule sets written for
//! syslog files work on journal entries unchanged.
//!
//! # Position
//!
//! The `__CURSOR` of the last entry handed to the pipeline is kept in the
//! state store under `journal:<stage name>`, written at most once a second
//! and when the stage stops; the next run starts right after it
//! (`--after-cursor`). Without a stored cursor, `start_at` decides: `end`
//! (only new entries) or `beginning` (everything the journal holds).
//!
//! # journalctl dying
//!
//! In follow mode a journalctl that cannot be started, or that exits, is
//! reported on `errors` (with what it wrote on stderr) and started again
//! after a back-off (1 s, doubling up to 60 s; back to 1 s after a run that
//! delivered entries or lasted a minute), from the last cursor. In read-once mode
//! (`follow: false`) the stage ends when journalctl does.

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use super::lines::{BATCH_BYTES, take_line_piece};
use crate::event::{Batch, Event, FieldPath};
use crate::pipeline::{
    BoxFuture, BuildContext, BuildError, BuiltStage, ErrorRecord, ErrorSink, Input, InputContext,
    StageCounters, StageError,
};
use crate::stages::{BATCH_SIZE, Module, ModuleKind};
use crate::state::{StateError, StateStore, open_for_checkpoints};

/// Registry entry.
pub const MODULE: Module = Module {
    name: "journal",
    kind: ModuleKind::Input,
    summary: "read the systemd journal through journalctl",
    build,
};

/// Default longest JSON line taken from journalctl. Generous: journald
/// keeps messages up to 48 KiB by default, JSON escaping can grow them
/// several times, and a binary field is printed as a list of numbers.
const DEFAULT_MAX_ENTRY_BYTES: usize = 1024 * 1024;

/// Longest line of journalctl's stderr kept in an error event.
const MAX_STDERR_LINE: usize = 4096;

/// Stderr lines of one journalctl run reported one by one; more are counted.
const MAX_STDERR_LINES: usize = 50;

/// First pause before journalctl is started again.
const BACKOFF_FIRST: Duration = Duration::from_secs(1);

/// Longest pause before journalctl is started again.
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Least time between two checkpoint writes.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// How long the stderr of an exited journalctl may take to close.
const STDERR_GRACE: Duration = Duration::from_secs(1);

/// Longest cursor accepted (journald's are about 120 bytes).
const MAX_CURSOR_BYTES: usize = 512;

/// Longest journal field name (journald refuses longer ones).
const MAX_FIELD_NAME: usize = 64;

/// Options of the `journal` input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalConfig {
    /// The journalctl binary: a bare name is looked up in `PATH`, a path
    /// is relative to the configuration's directory.
    #[serde(default = "default_journalctl")]
    journalctl: String,
    /// Read the journal files in this directory (`--directory`).
    #[serde(default)]
    directory: Option<String>,
    /// Read these journal files (`--file`, globs expanded by journalctl).
    #[serde(default)]
    files: Vec<String>,
    /// `FIELD=value` matches, and `+` between groups (journalctl's syntax).
    #[serde(default)]
    matches: Vec<String>,
    /// Where to start when no cursor is stored.
    #[serde(default)]
    start_at: StartAt,
    /// Keep reading new entries (`--follow`); false reads what is there and ends.
    #[serde(default = "default_follow")]
    follow: bool,
    /// Put the entry's other fields under this path.
    #[serde(default)]
    other_fields: Option<FieldPath>,
    /// Longer JSON lines from journalctl are skipped (and reported).
    #[serde(default = "default_max_entry")]
    max_entry_bytes: usize,
}

fn default_journalctl() -> String {
    "journalctl".into()
}

fn default_follow() -> bool {
    true
}

fn default_max_entry() -> usize {
    DEFAULT_MAX_ENTRY_BYTES
}

/// Where reading starts when no cursor is stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum StartAt {
    /// Only entries written from now on (`--lines=0`), like fail2ban.
    #[default]
    End,
    /// Every entry the journal holds (`--no-tail`).
    Beginning,
}

/// Which journal journalctl opens.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    /// The system's journal (journalctl's default).
    System,
    /// `--directory`.
    Directory(PathBuf),
    /// `--file`, one per entry.
    Files(Vec<PathBuf>),
}

fn build(ctx: &BuildContext) -> Result<BuiltStage, BuildError> {
    JournalInput::configure(ctx).map(BuiltStage::input)
}

/// The configured stage.
#[derive(Debug)]
struct JournalInput {
    /// What to run.
    program: PathBuf,
    source: Source,
    matches: Vec<String>,
    start_at: StartAt,
    follow: bool,
    other_fields: Option<FieldPath>,
    max_entry_bytes: usize,
    /// The state store's key for this stage's cursor.
    checkpoint_key: String,
    /// The configured state store (resolved), if any.
    state_path: Option<PathBuf>,
    /// The zone `@timestamp` is rendered in.
    tz: TimeZone,
}

impl JournalInput {
    fn configure(ctx: &BuildContext) -> Result<Self, BuildError> {
        let cfg: JournalConfig = ctx.options()?;
        if cfg.max_entry_bytes == 0 {
            return Err(BuildError::field("max_entry_bytes", "must be at least 1"));
        }
        if cfg.journalctl.is_empty() {
            return Err(BuildError::field("journalctl", "must not be empty"));
        }
        // A bare name is for PATH; anything with a slash is a file path.
        let program = if cfg.journalctl.contains('/') {
            ctx.resolve(&cfg.journalctl)
        } else {
            PathBuf::from(&cfg.journalctl)
        };
        let source = match (cfg.directory, cfg.files.is_empty()) {
            (Some(_), false) => {
                return Err(BuildError::stage(
                    "give `directory` or `files`, not both (journalctl takes one of them)",
                ));
            }
            (Some(d), true) => {
                if d.is_empty() {
                    return Err(BuildError::field("directory", "must not be empty"));
                }
                Source::Directory(ctx.resolve(d))
            }
            (None, false) => {
                let mut files = Vec::with_capacity(cfg.files.len());
                for (i, f) in cfg.files.iter().enumerate() {
                    if f.is_empty() {
                        return Err(BuildError::field(format!("files.{i}"), "empty path"));
                    }
                    // Absolute: journalctl cannot follow a file given by a
                    // relative path ("Failed to get journal fd").
                    files.push(ctx.resolve(f));
                }
                Source::Files(files)
            }
            (None, true) => Source::System,
        };
        check_matches(&cfg.matches)?;
        Ok(Self {
            program,
            source,
            matches: cfg.matches,
            start_at: cfg.start_at,
            follow: cfg.follow,
            other_fields: cfg.other_fields,
            max_entry_bytes: cfg.max_entry_bytes,
            checkpoint_key: format!("journal:{}", ctx.stage),
            state_path: ctx.settings.state_path.as_ref().map(|p| ctx.resolve(p)),
            tz: TimeZone::system(),
        })
    }

    /// journalctl's arguments, resuming after `cursor` when there is one.
    fn args(&self, cursor: Option<&str>) -> Vec<OsString> {
        let mut args: Vec<OsString> = ["--output=json", "--all", "--no-pager", "--quiet"]
            .into_iter()
            .map(OsString::from)
            .collect();
        if self.follow {
            args.push("--follow".into());
        }
        match &self.source {
            Source::System => {}
            Source::Directory(d) => args.push(prefixed("--directory=", d.as_os_str())),
            Source::Files(files) => {
                args.extend(files.iter().map(|f| prefixed("--file=", f.as_os_str())));
            }
        }
        match (cursor, self.start_at) {
            // `--no-tail` too: with `--follow` journalctl otherwise shows
            // only the last 10 entries after the cursor.
            (Some(c), _) => {
                args.push(format!("--after-cursor={c}").into());
                args.push("--no-tail".into());
            }
            (None, StartAt::Beginning) => args.push("--no-tail".into()),
            (None, StartAt::End) => args.push("--lines=0".into()),
        }
        if !self.matches.is_empty() {
            args.push("--".into());
            args.extend(self.matches.iter().map(OsString::from));
        }
        args
    }
}

/// `PREFIX` followed by `value`, without requiring UTF-8.
fn prefixed(prefix: &str, value: &std::ffi::OsStr) -> OsString {
    let mut s = OsString::from(prefix);
    s.push(value);
    s
}

/// Checks `matches`: `FIELD=value` entries (FIELD as journald names
/// fields: upper-case letters, digits and `_`, not starting with a digit)
/// and `+` between two of them.
fn check_matches(matches: &[String]) -> Result<(), BuildError> {
    for (i, m) in matches.iter().enumerate() {
        let field = format!("matches.{i}");
        if m == "+" {
            let inner = i > 0 && i + 1 < matches.len();
            if !inner || matches.get(i + 1).is_some_and(|n| n == "+") {
                return Err(BuildError::field(
                    field,
                    "`+` (or) must stand between two matches",
                ));
            }
            continue;
        }
        let Some((name, value)) = m.split_once('=') else {
            return Err(BuildError::field(
                field,
                format!("`{m}` is not FIELD=value (e.g. _SYSTEMD_UNIT=ssh.service)"),
            ));
        };
        if !is_field_name(name) {
            return Err(BuildError::field(
                field,
                format!(
                    "`{name}` is not a journal field name (upper-case letters, digits and _, \
                     not starting with a digit, at most {MAX_FIELD_NAME} characters)"
                ),
            ));
        }
        if value.contains('\0') {
            return Err(BuildError::field(field, "a match cannot hold a NUL byte"));
        }
    }
    Ok(())
}

/// A journal field name: `[A-Z_][A-Z0-9_]*`, at most 64 bytes.
fn is_field_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_FIELD_NAME
        && !b[0].is_ascii_digit()
        && b.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_')
}

/// A cursor as journalctl prints them: `key=value` pairs joined by `;`,
/// printable ASCII without spaces. Anything else is not passed to
/// `--after-cursor` (a hand-edited state file must not break the input).
fn is_cursor(c: &str) -> bool {
    !c.is_empty()
        && c.len() <= MAX_CURSOR_BYTES
        && c.bytes().all(|b| b.is_ascii_graphic())
        && c.split(';').all(|part| {
            part.split_once('=')
                .is_some_and(|(k, v)| !k.is_empty() && !v.is_empty())
        })
}

/// The stored form of a checkpoint.
#[derive(Debug, serde::Serialize, Deserialize)]
struct Checkpoint {
    cursor: String,
}

// ---------------------------------------------------------------------------
// Entries to events

/// Field paths set from journal fields, split once.
struct Paths {
    timestamp: FieldPath,
    message: FieldPath,
    host: FieldPath,
    process_name: FieldPath,
    process_pid: FieldPath,
    priority: FieldPath,
    facility: FieldPath,
    severity: FieldPath,
    unit: FieldPath,
    user_unit: FieldPath,
    transport: FieldPath,
}

static PATHS: std::sync::LazyLock<Paths> = std::sync::LazyLock::new(|| {
    let p = |s: &str| FieldPath::parse(s).unwrap_or_else(|e| panic!("built-in field path: {e}"));
    Paths {
        timestamp: p("@timestamp"),
        message: p("message"),
        host: p("host.name"),
        process_name: p("process.name"),
        process_pid: p("process.pid"),
        priority: p("log.syslog.priority"),
        facility: p("log.syslog.facility.code"),
        severity: p("log.syslog.severity.code"),
        unit: p("systemd.unit"),
        user_unit: p("systemd.user_unit"),
        transport: p("systemd.transport"),
    }
});

/// A field's value as text. journalctl prints a value that is not
/// printable UTF-8 as a list of byte values (decoded here with invalid
/// UTF-8 replaced by U+FFFD) and a field that occurs more than once as a
/// list of values (the first is taken, as journalctl's own text output
/// does). `None` for anything else (`null`: a value journalctl left out).
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => {
            if let Some(bytes) = byte_list(items) {
                return Some(String::from_utf8_lossy(&bytes).into_owned());
            }
            items.first().and_then(text)
        }
        _ => None,
    }
}

/// The bytes of a binary value (a list of numbers 0 to 255); `None` when
/// the list holds anything else (then it is a list of values).
fn byte_list(items: &[Value]) -> Option<Vec<u8>> {
    items
        .iter()
        .map(|i| i.as_u64().and_then(|n| u8::try_from(n).ok()))
        .collect()
}

/// A value kept under `other_fields`: text, or a list of texts for a
/// field that occurs more than once.
fn other_value(v: Value) -> Value {
    match v {
        Value::Array(items) => match byte_list(&items) {
            Some(bytes) => Value::String(String::from_utf8_lossy(&bytes).into_owned()),
            None => Value::Array(items.into_iter().map(other_value).collect()),
        },
        other => other,
    }
}

/// A number made only of ASCII digits.
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Takes the first of `names` whose value is usable by `f`, removing it
/// from `entry` (a field used for an event field is not kept again under
/// `other_fields`).
fn take_first<T>(
    entry: &mut Map<String, Value>,
    names: &[&str],
    f: impl Fn(&Value) -> Option<T>,
) -> Option<T> {
    for name in names {
        if let Some(v) = entry.get(*name).and_then(&f) {
            entry.remove(*name);
            return Some(v);
        }
    }
    None
}

/// Turns one entry into an event, and returns its cursor when it has a
/// well-formed one.
fn entry_event(
    mut entry: Map<String, Value>,
    tz: &TimeZone,
    other_fields: Option<&FieldPath>,
) -> (Event, Option<String>) {
    let p = &*PATHS;
    let mut event = Event::new();
    let cursor = entry
        .get("__CURSOR")
        .and_then(Value::as_str)
        .filter(|c| is_cursor(c))
        .map(str::to_string);
    if let Some(ts) = take_first(&mut entry, &["__REALTIME_TIMESTAMP"], |v| {
        let micros = i64::try_from(digits(&text(v)?)?).ok()?;
        Timestamp::from_microsecond(micros).ok()
    }) {
        event.set(&p.timestamp, crate::time::format_timestamp(ts, tz));
    }
    if let Some(host) = take_first(&mut entry, &["_HOSTNAME"], text) {
        event.set(&p.host, host);
    }
    if let Some(name) = take_first(&mut entry, &["SYSLOG_IDENTIFIER", "_COMM"], text) {
        event.set(&p.process_name, name);
    }
    if let Some(pid) = take_first(&mut entry, &["_PID", "SYSLOG_PID"], text) {
        // A number, as parse-syslog writes it; text that is not one stays text.
        let v = digits(&pid).map_or(Value::String(pid), Value::from);
        event.set(&p.process_pid, v);
    }
    if let Some(msg) = take_first(&mut entry, &["MESSAGE"], text) {
        event.set(&p.message, msg);
    }
    let severity = take_first(&mut entry, &["PRIORITY"], |v| {
        digits(&text(v)?).filter(|n| *n <= 7)
    });
    if let Some(sev) = severity {
        event.set(&p.severity, sev);
        // The syslog priority combines both; without a facility it is unknown.
        if let Some(fac) = take_first(&mut entry, &["SYSLOG_FACILITY"], |v| {
            digits(&text(v)?).filter(|n| *n <= 23)
        }) {
            event.set(&p.facility, fac);
            event.set(&p.priority, fac * 8 + sev);
        }
    }
    for (name, path) in [
        ("_SYSTEMD_UNIT", &p.unit),
        ("_SYSTEMD_USER_UNIT", &p.user_unit),
        ("_TRANSPORT", &p.transport),
    ] {
        if let Some(v) = take_first(&mut entry, &[name], text) {
            event.set(path, v);
        }
    }
    if let Some(prefix) = other_fields {
        let rest: Map<String, Value> = entry
            .into_iter()
            // Journal field names never hold dots; a key that does is not
            // one and must not masquerade as a nested path.
            .filter(|(k, _)| {
                !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            })
            .map(|(k, v)| (k, other_value(v)))
            .collect();
        if !rest.is_empty() {
            event.set(prefix, Value::Object(rest));
        }
    }
    (event, cursor)
}

// ---------------------------------------------------------------------------
// Reading journalctl's output

/// One line of a child's output.
#[derive(Debug, PartialEq, Eq)]
struct RawLine {
    /// The line without its newline, cut to the limit.
    bytes: Vec<u8>,
    /// Bytes it took in the stream, newline included.
    raw_len: u64,
    /// It was longer than the limit.
    truncated: bool,
}

/// Splits an async stream into lines without holding more than `max`
/// bytes of one line. Cancel-safe: the part of a line read so far is kept
/// in `self`, so `next` can sit in a `select!`.
struct BoundedLines<R> {
    inner: BufReader<R>,
    max: usize,
    buf: Vec<u8>,
    len: u64,
    truncated: bool,
}

impl<R: AsyncRead + Unpin> BoundedLines<R> {
    fn new(inner: R, max: usize) -> Self {
        Self {
            inner: BufReader::with_capacity(64 * 1024, inner),
            max: max.max(1),
            buf: Vec::new(),
            len: 0,
            truncated: false,
        }
    }

    /// True when nothing is buffered: the next read may wait.
    fn is_drained(&self) -> bool {
        self.inner.buffer().is_empty()
    }

    /// The next line; at the end a last line without a newline is
    /// returned too, then `None`.
    async fn next(&mut self) -> io::Result<Option<RawLine>> {
        loop {
            let chunk = self.inner.fill_buf().await?;
            if chunk.is_empty() {
                return Ok((self.len > 0).then(|| self.take()));
            }
            let (used, done, cut) = take_line_piece(chunk, &mut self.buf, self.max);
            self.truncated |= cut;
            self.len += used as u64;
            self.inner.consume(used);
            if done {
                return Ok(Some(self.take()));
            }
        }
    }

    fn take(&mut self) -> RawLine {
        let line = RawLine {
            bytes: std::mem::take(&mut self.buf),
            raw_len: self.len,
            truncated: self.truncated,
        };
        self.len = 0;
        self.truncated = false;
        line
    }
}

// ---------------------------------------------------------------------------
// Running

impl Input for JournalInput {
    fn run(self: Box<Self>, ctx: InputContext) -> BoxFuture<Result<(), StageError>> {
        Box::pin(async move {
            let state_path = self.state_path.clone();
            let key = self.checkpoint_key.clone();
            let opened = tokio::task::spawn_blocking(move || load(state_path, &key))
                .await
                .map_err(|e| StageError::new(format!("journal input crashed: {e}")))?;
            let (store, stored) = opened.map_err(|e| StageError::new(e.to_string()))?;
            let mut runner = Runner {
                skipped: ctx.counters.extra("entries_skipped"),
                restarts: ctx.counters.extra("journalctl_restarts"),
                input: *self,
                ctx,
                store,
                cursor: None,
                dirty: false,
                saved_at: Instant::now(),
            };
            runner.cursor = match stored {
                Stored::None => None,
                Stored::Cursor(c) => Some(c),
                Stored::Bad(raw) => {
                    runner
                        .report(format!(
                            "the stored journal position `{}` is not a cursor; starting at the {}",
                            shorten(&raw, 200),
                            match runner.input.start_at {
                                StartAt::End => "end",
                                StartAt::Beginning => "beginning",
                            }
                        ))
                        .await;
                    None
                }
            };
            runner.run().await;
            runner.save().await;
            Ok(())
        })
    }
}

/// What the state store held for this stage.
enum Stored {
    None,
    Cursor(String),
    /// Something that is not a checkpoint of ours (shown in the report).
    Bad(String),
}

/// Opens the state store and reads this stage's cursor.
fn load(
    state_path: Option<PathBuf>,
    key: &str,
) -> Result<(Option<StateStore>, Stored), StateError> {
    let Some(store) = open_for_checkpoints(state_path.as_deref())? else {
        return Ok((None, Stored::None));
    };
    let stored = match store.checkpoint(key)? {
        None => Stored::None,
        Some(raw) => match serde_json::from_str::<Checkpoint>(&raw) {
            Ok(c) if is_cursor(&c.cursor) => Stored::Cursor(c.cursor),
            _ => Stored::Bad(raw),
        },
    };
    Ok((Some(store), stored))
}

/// How one journalctl run ended.
enum RunEnd {
    /// The pipeline is stopping.
    Shutdown,
    /// Nobody reads this input any more.
    Closed,
    /// journalctl could not be started.
    SpawnFailed(io::Error),
    /// journalctl exited (`None`: its status could not be read).
    Exited(Option<ExitStatus>),
}

/// Whether a failed run got as far as starting journalctl (for wording).
enum EndKind {
    NotStarted,
    Ended,
}

/// The running stage: the child's supervisor and the cursor's keeper.
struct Runner {
    input: JournalInput,
    ctx: InputContext,
    store: Option<StateStore>,
    /// The cursor of the last entry handed to the pipeline.
    cursor: Option<String>,
    /// `cursor` changed since it was last saved.
    dirty: bool,
    saved_at: Instant,
    skipped: Arc<AtomicU64>,
    restarts: Arc<AtomicU64>,
}

impl Runner {
    /// Runs journalctl (again and again in follow mode) until the
    /// pipeline stops, nobody reads us, or (read-once) journalctl ends.
    async fn run(&mut self) {
        let mut delay = BACKOFF_FIRST;
        loop {
            if self.ctx.shutdown.is_set() {
                return;
            }
            let started = Instant::now();
            let mut delivered = 0u64;
            let end = self.run_once(&mut delivered).await;
            let shown = self.input.program.display().to_string();
            let end_kind = match end {
                RunEnd::SpawnFailed(_) => EndKind::NotStarted,
                _ => EndKind::Ended,
            };
            let problem = match end {
                RunEnd::Shutdown | RunEnd::Closed => return,
                RunEnd::Exited(Some(s)) if s.success() && !self.input.follow => return,
                RunEnd::SpawnFailed(e) => format!("cannot run journalctl `{shown}`: {e}"),
                RunEnd::Exited(Some(s)) => match (s.code(), unix_signal(&s)) {
                    (Some(code), _) => format!("journalctl exited with status {code}"),
                    (None, Some(sig)) => format!("journalctl was killed by signal {sig}"),
                    (None, None) => format!("journalctl ended: {s}"),
                },
                RunEnd::Exited(None) => "journalctl ended (its exit status is unknown)".into(),
            };
            // journalctl ending as the pipeline stops (killed from outside
            // in the same moment, say) is no failure worth reporting.
            if self.ctx.shutdown.is_set() {
                return;
            }
            if !self.input.follow {
                self.report(problem).await;
                return;
            }
            // A run that delivered entries, or lasted, was healthy: the
            // next failure is a new one, not a repeat.
            if delivered > 0 || started.elapsed() >= BACKOFF_MAX {
                delay = BACKOFF_FIRST;
            }
            let again = match end_kind {
                EndKind::NotStarted => "retrying",
                EndKind::Ended => "restarting",
            };
            self.report(format!("{problem}; {again} in {}s", delay.as_secs()))
                .await;
            // Keep the position safe while waiting, and wait interruptibly.
            if self.dirty {
                self.save().await;
            }
            let mut shutdown = self.ctx.shutdown.clone();
            tokio::select! {
                biased;
                _ = shutdown.wait() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            self.restarts.fetch_add(1, Ordering::Relaxed);
            delay = (delay * 2).min(BACKOFF_MAX);
        }
    }

    /// Starts journalctl once and forwards its entries until it ends.
    async fn run_once(&mut self, delivered: &mut u64) -> RunEnd {
        let mut cmd = Command::new(&self.input.program);
        cmd.args(self.input.args(self.cursor.as_deref()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: Ctrl-C on a terminal reaches logbus,
            // which stops journalctl itself after an orderly drain.
            .process_group(0)
            // Whatever way this future ends, journalctl does not outlive it.
            .kill_on_drop(true);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => return RunEnd::SpawnFailed(e),
        };
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            kill(&mut child).await;
            return RunEnd::SpawnFailed(io::Error::other("journalctl's pipes are missing"));
        };
        let stderr_task = tokio::spawn(forward_stderr(stderr, self.ctx.errors.clone()));
        let end = self.forward(stdout, delivered).await;
        let end = match end {
            Some(end) => {
                kill(&mut child).await;
                end
            }
            // End of output: journalctl is exiting; collect its status.
            None => {
                let mut shutdown = self.ctx.shutdown.clone();
                tokio::select! {
                    biased;
                    _ = shutdown.wait() => {
                        kill(&mut child).await;
                        RunEnd::Shutdown
                    }
                    status = child.wait() => RunEnd::Exited(status.ok()),
                }
            }
        };
        // Its stderr lines come before the report of its end.
        let mut stderr_task = stderr_task;
        if tokio::time::timeout(STDERR_GRACE, &mut stderr_task)
            .await
            .is_err()
        {
            stderr_task.abort();
        }
        end
    }

    /// Reads entries from journalctl's stdout into batches. `None` at end
    /// of output; otherwise why it stopped early.
    async fn forward(
        &mut self,
        stdout: tokio::process::ChildStdout,
        delivered: &mut u64,
    ) -> Option<RunEnd> {
        let mut lines = BoundedLines::new(stdout, self.input.max_entry_bytes);
        let mut batch: Batch = Vec::new();
        let mut batch_cursor: Option<String> = None;
        let mut batch_bytes = 0u64;
        let mut shutdown = self.ctx.shutdown.clone();
        loop {
            // Send when the batch is full, or when nothing more is buffered
            // (the next read may wait for the journal to grow).
            // The JSON text bounds what the batch holds in memory.
            let full = batch.len() >= BATCH_SIZE || batch_bytes >= BATCH_BYTES as u64;
            if !batch.is_empty() && (full || lines.is_drained()) {
                let n = batch.len() as u64;
                if self.ctx.out.send(std::mem::take(&mut batch)).await.is_err() {
                    return Some(RunEnd::Closed);
                }
                StageCounters::add(&self.ctx.counters.lines_in, n);
                StageCounters::add(&self.ctx.counters.bytes_in, batch_bytes);
                *delivered += n;
                if let Some(c) = batch_cursor.take() {
                    self.cursor = Some(c);
                    self.dirty = true;
                }
                batch_bytes = 0;
                if self.saved_at.elapsed() >= CHECKPOINT_EVERY {
                    self.save().await;
                }
            }
            let save_at = self.saved_at + CHECKPOINT_EVERY;
            let dirty = self.dirty;
            let line = tokio::select! {
                biased;
                _ = shutdown.wait() => return Some(RunEnd::Shutdown),
                _ = tokio::time::sleep_until(save_at), if dirty => {
                    self.save().await;
                    continue;
                }
                line = lines.next() => line,
            };
            let line = match line {
                Ok(Some(l)) => l,
                Ok(None) => break,
                Err(e) => {
                    self.report(format!("reading journalctl's output: {e}"))
                        .await;
                    break;
                }
            };
            if line.truncated {
                self.skipped.fetch_add(1, Ordering::Relaxed);
                StageCounters::add(&self.ctx.counters.bytes_in, line.raw_len);
                self.report(format!(
                    "a journal entry of {} bytes (as JSON) is longer than max_entry_bytes ({}); skipped",
                    line.raw_len.saturating_sub(1),
                    self.input.max_entry_bytes
                ))
                .await;
                continue;
            }
            if line.bytes.is_empty() {
                continue;
            }
            match serde_json::from_slice::<Map<String, Value>>(&line.bytes) {
                Ok(entry) => {
                    let (event, cursor) =
                        entry_event(entry, &self.input.tz, self.input.other_fields.as_ref());
                    batch_bytes += line.raw_len;
                    if cursor.is_some() {
                        batch_cursor = cursor;
                    }
                    batch.push(event);
                }
                Err(e) => {
                    self.skipped.fetch_add(1, Ordering::Relaxed);
                    StageCounters::add(&self.ctx.counters.bytes_in, line.raw_len);
                    let shown = String::from_utf8_lossy(&line.bytes);
                    self.ctx
                        .errors
                        .report(ErrorRecord {
                            message: format!(
                                "journalctl printed a line that is not a JSON object: {e}"
                            ),
                            input: Some(Event::from_message(shorten(&shown, 1024))),
                        })
                        .await;
                }
            }
        }
        // End of output: what was read still goes out.
        if !batch.is_empty() {
            let n = batch.len() as u64;
            if self.ctx.out.send(batch).await.is_err() {
                return Some(RunEnd::Closed);
            }
            StageCounters::add(&self.ctx.counters.lines_in, n);
            StageCounters::add(&self.ctx.counters.bytes_in, batch_bytes);
            *delivered += n;
            if let Some(c) = batch_cursor {
                self.cursor = Some(c);
                self.dirty = true;
            }
        }
        None
    }

    /// Writes the cursor to the state store when it changed. Off the async
    /// threads: a write waits for the disk.
    async fn save(&mut self) {
        self.saved_at = Instant::now();
        if !self.dirty {
            return;
        }
        self.dirty = false;
        let (Some(store), Some(cursor)) = (self.store.take(), self.cursor.clone()) else {
            return;
        };
        let key = self.input.checkpoint_key.clone();
        let position = match serde_json::to_string(&Checkpoint { cursor }) {
            Ok(p) => p,
            Err(e) => {
                self.store = Some(store);
                self.report(format!("cannot encode the journal cursor: {e}"))
                    .await;
                return;
            }
        };
        let done = tokio::task::spawn_blocking(move || {
            let mut store = store;
            let r = store.save_checkpoint(&key, &position, Timestamp::now().as_millisecond());
            (store, r)
        })
        .await;
        match done {
            Ok((store, r)) => {
                self.store = Some(store);
                if let Err(e) = r {
                    self.dirty = true;
                    self.report(format!("cannot save the journal cursor: {e}"))
                        .await;
                }
            }
            Err(e) => {
                self.report(format!(
                    "cannot save the journal cursor (the writer crashed: {e}); no more checkpoints"
                ))
                .await;
            }
        }
    }

    /// Reports a problem on `errors`. The future owns its sink: it must
    /// not borrow the runner, whose state store is not `Sync`.
    fn report(&self, message: String) -> impl Future<Output = ()> + Send + 'static {
        let errors = self.ctx.errors.clone();
        async move {
            errors
                .report(ErrorRecord {
                    message,
                    input: None,
                })
                .await;
        }
    }
}

/// The signal that ended a process, if one did.
fn unix_signal(s: &ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    s.signal()
}

/// Kills journalctl and reaps it. It holds no data worth a gentler stop:
/// everything it printed was read, the cursor says where to go on.
async fn kill(child: &mut Child) {
    let _ = child.start_kill();
    let _ = child.wait().await;
}

/// Reports journalctl's stderr lines as errors, the first
/// [`MAX_STDERR_LINES`] of a run one by one, then how many more there were.
async fn forward_stderr(stderr: tokio::process::ChildStderr, errors: ErrorSink) {
    let mut lines = BoundedLines::new(stderr, MAX_STDERR_LINE);
    let mut seen = 0usize;
    while let Ok(Some(line)) = lines.next().await {
        let text = String::from_utf8_lossy(&line.bytes);
        let text = text.trim_end();
        if text.is_empty() {
            continue;
        }
        seen += 1;
        if seen <= MAX_STDERR_LINES {
            errors
                .report(ErrorRecord {
                    message: format!("journalctl: {text}"),
                    input: None,
                })
                .await;
        }
    }
    if seen > MAX_STDERR_LINES {
        errors
            .report(ErrorRecord {
                message: format!(
                    "journalctl: {} more line(s) on stderr not shown",
                    seen - MAX_STDERR_LINES
                ),
                input: None,
            })
            .await;
    }
}

/// At most `max` bytes of `s`, cut at a character boundary, with `...`
/// when cut.
fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;

    fn configure(yaml: &str) -> Result<JournalInput, BuildError> {
        let opts: serde_yaml_ng::Mapping = serde_yaml_ng::from_str(yaml).unwrap();
        let settings = crate::config::Settings {
            state_path: Some("state/s.db".into()),
            ..Default::default()
        };
        JournalInput::configure(&BuildContext {
            stage: "jr",
            options: &opts,
            base_dir: Path::new("/etc/logbus"),
            counters: Arc::new(StageCounters::default()),
            settings: &settings,
        })
    }

    fn args(yaml: &str, cursor: Option<&str>) -> Vec<String> {
        configure(yaml)
            .unwrap()
            .args(cursor)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    const COMMON: [&str; 4] = ["--output=json", "--all", "--no-pager", "--quiet"];

    #[test]
    fn defaults_follow_the_system_journal_from_its_end() {
        let j = configure("{}").unwrap();
        assert_eq!(j.program, PathBuf::from("journalctl"));
        assert_eq!(j.source, Source::System);
        assert_eq!(j.start_at, StartAt::End);
        assert!(j.follow);
        assert_eq!(j.max_entry_bytes, 1024 * 1024);
        assert_eq!(j.checkpoint_key, "journal:jr");
        assert_eq!(j.state_path, Some(PathBuf::from("/etc/logbus/state/s.db")));
        let mut want: Vec<&str> = COMMON.to_vec();
        want.extend(["--follow", "--lines=0"]);
        assert_eq!(args("{}", None), want);
    }

    #[test]
    fn paths_resolve_against_the_config_dir() {
        let j = configure("journalctl: bin/jctl\ndirectory: j").unwrap();
        assert_eq!(j.program, PathBuf::from("/etc/logbus/bin/jctl"));
        assert_eq!(j.source, Source::Directory("/etc/logbus/j".into()));
        let j =
            configure("journalctl: /usr/bin/journalctl\nfiles: [a.journal, /x/*.journal]").unwrap();
        assert_eq!(j.program, PathBuf::from("/usr/bin/journalctl"));
        assert_eq!(
            j.source,
            Source::Files(vec!["/etc/logbus/a.journal".into(), "/x/*.journal".into()])
        );
    }

    #[test]
    fn arguments_for_each_start() {
        let yaml = "files: [/j/a.journal, /j/b.journal]\nstart_at: beginning\nfollow: false\n\
                    matches: [_SYSTEMD_UNIT=ssh.service, +, SYSLOG_IDENTIFIER=sshd]";
        let mut want: Vec<&str> = COMMON.to_vec();
        want.extend([
            "--file=/j/a.journal",
            "--file=/j/b.journal",
            "--no-tail",
            "--",
            "_SYSTEMD_UNIT=ssh.service",
            "+",
            "SYSLOG_IDENTIFIER=sshd",
        ]);
        assert_eq!(args(yaml, None), want);
        // A stored cursor wins over start_at, and `--no-tail` keeps
        // `--follow` from cutting what follows it to 10 entries.
        let mut want: Vec<&str> = COMMON.to_vec();
        want.extend([
            "--follow",
            "--directory=/var/log/journal",
            "--after-cursor=s=1;i=2",
            "--no-tail",
        ]);
        assert_eq!(args("directory: /var/log/journal", Some("s=1;i=2")), want);
    }

    #[test]
    fn bad_options_name_the_field() {
        let field = |yaml: &str| {
            let e = configure(yaml).unwrap_err();
            (e.field, e.message)
        };
        assert_eq!(
            field("matches: [sshd]"),
            (
                Some("matches.0".into()),
                "`sshd` is not FIELD=value (e.g. _SYSTEMD_UNIT=ssh.service)".into()
            )
        );
        let (f, m) = field("matches: [A=1, unit=ssh]");
        assert_eq!(f.as_deref(), Some("matches.1"));
        assert!(m.starts_with("`unit` is not a journal field name"), "{m}");
        assert_eq!(field("matches: [1A=x]").0.as_deref(), Some("matches.0"));
        assert_eq!(field("matches: [\"-A=x\"]").0.as_deref(), Some("matches.0"));
        assert_eq!(
            field("matches: [\"+\", A=1]").0.as_deref(),
            Some("matches.0")
        );
        assert_eq!(
            field("matches: [A=1, \"+\"]").0.as_deref(),
            Some("matches.1")
        );
        assert_eq!(
            field("matches: [A=1, \"+\", \"+\", B=2]").0.as_deref(),
            Some("matches.1")
        );
        assert_eq!(
            field("matches: [\"A=\\0\"]").0.as_deref(),
            Some("matches.0")
        );
        assert_eq!(
            field("directory: /a\nfiles: [/b]"),
            (
                None,
                "give `directory` or `files`, not both (journalctl takes one of them)".into()
            )
        );
        assert_eq!(field("directory: ''").0.as_deref(), Some("directory"));
        assert_eq!(field("files: ['']").0.as_deref(), Some("files.0"));
        assert_eq!(field("journalctl: ''").0.as_deref(), Some("journalctl"));
        assert_eq!(
            field("max_entry_bytes: 0").0.as_deref(),
            Some("max_entry_bytes")
        );
        assert_eq!(field("start_at: middle").0.as_deref(), Some("start_at"));
        assert_eq!(field("files: /a.journal").0.as_deref(), Some("files"));
        assert_eq!(field("paths: [/a]").0.as_deref(), Some("paths"));
        // Empty matches values and `+` between matches are fine.
        configure("matches: [A=, \"+\", B_2=x y]").unwrap();
    }

    #[test]
    fn cursors_are_checked() {
        assert!(is_cursor(
            "s=703a7a610a874f9ea784a8f8497f0e22;i=1;b=0123456789abcdef0123456789abcdef;m=3039;t=60a2418202240;x=2be77ac1070bb908"
        ));
        for bad in ["", "s=1; i=2", "s=1;;i=2", "x", "=1", "s=", "s=1\n"] {
            assert!(!is_cursor(bad), "{bad:?}");
        }
        assert!(!is_cursor(&format!("s={}", "a".repeat(600))));
    }

    fn event(entry: Value, other: Option<&str>) -> (Value, Option<String>) {
        let Value::Object(map) = entry else {
            panic!("not an object")
        };
        let tz = TimeZone::fixed(jiff::tz::offset(1));
        let other = other.map(|p| FieldPath::parse(p).unwrap());
        let (e, c) = entry_event(map, &tz, other.as_ref());
        (e.into_value(), c)
    }

    const CURSOR: &str = "s=ab;i=1;b=cd;m=3039;t=60a2418202240;x=2b";

    #[test]
    fn an_entry_maps_onto_the_syslog_parser_fields() {
        let (e, c) = event(
            json!({
                "__CURSOR": CURSOR,
                "__REALTIME_TIMESTAMP": "1700000000123456",
                "__MONOTONIC_TIMESTAMP": "12345",
                "_BOOT_ID": "0123",
                "_HOSTNAME": "web1",
                "SYSLOG_IDENTIFIER": "sshd",
                "_COMM": "sshd-session",
                "_PID": "4242",
                "SYSLOG_PID": "1",
                "PRIORITY": "6",
                "SYSLOG_FACILITY": "4",
                "_SYSTEMD_UNIT": "ssh.service",
                "_TRANSPORT": "syslog",
                "MESSAGE": "Invalid user x from 192.0.2.10 port 22",
            }),
            Some("journald"),
        );
        assert_eq!(c.as_deref(), Some(CURSOR));
        assert_eq!(
            e,
            json!({
                "@timestamp": "2023-11-14T23:13:20.123+01:00",
                "host": {"name": "web1"},
                "process": {"name": "sshd", "pid": 4242},
                "message": "Invalid user x from 192.0.2.10 port 22",
                "log": {"syslog": {"priority": 38, "facility": {"code": 4}, "severity": {"code": 6}}},
                "systemd": {"unit": "ssh.service", "transport": "syslog"},
                "journald": {
                    "__CURSOR": CURSOR,
                    "__MONOTONIC_TIMESTAMP": "12345",
                    "_BOOT_ID": "0123",
                    "_COMM": "sshd-session",
                    "SYSLOG_PID": "1",
                },
            })
        );
    }

    #[test]
    fn fallbacks_bytes_and_repeated_fields() {
        let (e, c) = event(
            json!({
                "__CURSOR": "not a cursor",
                "_COMM": "cron",
                "SYSLOG_PID": "abc",
                "PRIORITY": "3",
                "MESSAGE": [98, 97, 100, 32, 255, 254, 10, 120],
                "_SYSTEMD_USER_UNIT": ["a.service", "b.service"],
                "EXTRA": ["one", [255, 50]],
                "BIG": null,
            }),
            Some("j.other"),
        );
        assert_eq!(c, None);
        assert_eq!(
            e,
            json!({
                "process": {"name": "cron", "pid": "abc"},
                "message": "bad \u{fffd}\u{fffd}\nx",
                "log": {"syslog": {"severity": {"code": 3}}},
                "systemd": {"user_unit": "a.service"},
                "j": {"other": {
                    "__CURSOR": "not a cursor",
                    "EXTRA": ["one", "\u{fffd}2"],
                    "BIG": null,
                }},
            })
        );
    }

    #[test]
    fn unusable_values_are_left_out_or_kept_aside() {
        let entry = json!({
            "PRIORITY": "9",
            "SYSLOG_FACILITY": "4",
            "__REALTIME_TIMESTAMP": "soon",
            "_PID": null,
            "MESSAGE": "m",
            "we.ird": "x",
        });
        let (e, _) = event(entry.clone(), None);
        assert_eq!(e, json!({"message": "m"}));
        let (e, _) = event(entry, Some("rest"));
        assert_eq!(
            e,
            json!({"message": "m", "rest": {
                "PRIORITY": "9",
                "SYSLOG_FACILITY": "4",
                "__REALTIME_TIMESTAMP": "soon",
                "_PID": null,
            }})
        );
    }

    async fn read_all(input: &[u8], max: usize) -> Vec<RawLine> {
        let mut r = BoundedLines::new(input, max);
        let mut out = Vec::new();
        while let Some(l) = r.next().await.unwrap() {
            out.push(l);
        }
        out
    }

    #[tokio::test]
    async fn lines_are_bounded() {
        let lines = read_all(b"{}\n0123456789abc\n\nlast", 10).await;
        let want = [
            (&b"{}"[..], 3, false),
            (&b"0123456789"[..], 14, true),
            (&b""[..], 1, false),
            (&b"last"[..], 4, false),
        ];
        assert_eq!(lines.len(), want.len());
        for (l, (bytes, len, cut)) in lines.iter().zip(want) {
            assert_eq!(
                (l.bytes.as_slice(), l.raw_len, l.truncated),
                (bytes, len, cut)
            );
        }
    }

    #[test]
    fn shorten_cuts_at_a_character() {
        assert_eq!(shorten("héllo", 2), "h...");
        assert_eq!(shorten("hello", 5), "hello");
    }
}
