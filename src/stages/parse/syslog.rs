//! `parse-syslog`: parse RFC 3164 / RFC 5424 syslog lines.
//!
//! # What is accepted
//!
//! - RFC 5424: `<34>1 2003-10-11T22:14:15.003Z host app procid msgid [sd] msg`,
//!   with `-` for absent fields, structured data (escapes `\"`, `\\`, `\]`)
//!   and a UTF-8 BOM before the message.
//! - RFC 3164 as files hold it, with or without `<PRI>`:
//!   `TIMESTAMP [HOST] [TAG] MSG`, where TIMESTAMP is any format
//!   [`crate::timestamp`] reads at the start of a line (`Feb 25 14:34:10`,
//!   rsyslog's `2005-02-25T14:34:10.123+01:00`, ...). It may be followed by
//!   a `:` (`2020-04-09T14:04:00.667Z: msg`).
//! - Lines without a timestamp, as `journalctl` and containers print them:
//!   `host prog[pid]: msg` and `prog[pid]: msg`.
//!
//! # Telling a host from a program
//!
//! TAG is `name[pid]:`, `name:`, `name(detail)[pid]:`, `[name]:`, or
//! `name[pid]` followed by a space (proftpd writes no colon). The name
//! starts with a letter and holds letters, digits and `_-./@+` (so
//! `postfix/smtpd`, `fail2ban.actions`); a `(detail)` suffix
//! (`vsftpd(pam_unix)`, `auth-worker(304)`) is not part of `process.name`.
//! The colon must be followed by a space, `[` or the end of the line.
//!
//! A timestamp in another layout (CLF, ctime, `[...]`, or followed by a
//! colon: `2020-04-09T14:04:00.667Z: Failed Login`) starts an application's
//! own log, not syslog: the rest of the line is all message. After a bare
//! RFC 3164, ISO 8601 or TAI64N timestamp:
//! 1. if the first word is a TAG, there is no host (`Feb 25 14:34:10 sshd[1]: x`);
//! 2. else if the first word looks like a host name (letters, digits,
//!    `.-_:`) and the second is a TAG, they are host and program;
//! 3. else if the timestamp was RFC 3164 (`Feb 25 ...`), whose writers
//!    always put the host next, the first word is the host and the rest the
//!    message (`Feb 25 14:34:10 host last message repeated 2 times`);
//! 4. else everything after the timestamp is the message (application logs
//!    with an ISO timestamp: `2013-06-12 03:57:58 login authenticator ...`).
//!
//! Without a timestamp or `<PRI>` nothing says a line is syslog, and a
//! bare message such as `error: PAM: Authentication failure` must not
//! turn into program `error`. Such a line is accepted only when its TAG
//! carries a numeric pid (`srv sshd[13709]: ...`, `sshd[1]: ...`), or is
//! `kernel:`; anything else is not syslog (`None`).
//!
//! The message keeps everything after the TAG and the one space that
//! follows it; Solaris' `[ID 800047 auth.info]` and the kernel's
//! `[ 123.456]` stay in it.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::common::{LineField, LineParserStage, TimestampCache, default_field, put, subrange};
use crate::event::{Event, FieldPath, fields};
use crate::pipeline::{BuildContext, BuildError, BuiltStage, Outbox, StageCounters};
use crate::stages::{Module, ModuleKind};
use crate::timestamp::{self, LogTime, RawTime, TimeContext, TimeFormat};

/// Registry entry.
pub const MODULE: Module = Module {
    name: "parse-syslog",
    kind: ModuleKind::Parser,
    summary: "parse RFC 3164 / RFC 5424 syslog lines",
    build,
};

/// Longest program name taken as a TAG; longer words are text.
const MAX_TAG_NAME: usize = 64;

/// Parses syslog lines; reusable outside the pipeline (`logbus match`).
#[derive(Debug, Clone)]
pub struct SyslogParser {
    ctx: TimeContext,
}

/// One parsed line; the text fields borrow from the line.
#[derive(Debug, Clone, PartialEq)]
pub struct SyslogRecord<'a> {
    /// `<PRI>`: facility * 8 + severity.
    pub priority: Option<u8>,
    /// RFC 5424's VERSION (`1`); `None` for RFC 3164.
    pub version: Option<u8>,
    /// The line's timestamp.
    pub timestamp: Option<LogTime>,
    /// The sending host.
    pub hostname: Option<&'a str>,
    /// The program (`sshd`, `postfix/smtpd`), without a `(detail)` suffix.
    pub app_name: Option<&'a str>,
    /// The `(detail)` after the program name (`pam_unix` in
    /// `vsftpd(pam_unix)[1]:`), which is not part of `app_name`.
    pub app_detail: Option<&'a str>,
    /// The process id as written (`1234`; RFC 5424 allows any text).
    pub proc_id: Option<&'a str>,
    /// RFC 5424 MSGID.
    pub msg_id: Option<&'a str>,
    /// RFC 5424 structured data as written (`[id k="v"]...`).
    pub structured_data: Option<&'a str>,
    /// The message (MSG / CONTENT).
    pub message: &'a str,
}

/// A record whose timestamp is still unresolved text: the stage resolves
/// it through a cache, [`SyslogParser::parse`] directly.
struct Scanned<'a> {
    record: SyslogRecord<'a>,
    time: Option<(RawTime, &'a str)>,
}

impl SyslogParser {
    /// A parser resolving year-less and zone-less timestamps with `ctx`.
    pub fn new(ctx: TimeContext) -> Self {
        Self { ctx }
    }

    /// Like [`parse`](Self::parse), with the timestamp left unresolved:
    /// resolving it (year, time zone) costs more than the rest of the
    /// parse, and `logbus match` needs it only for failure lines.
    pub(crate) fn parse_lazy<'a>(
        &self,
        line: &'a str,
    ) -> Option<(SyslogRecord<'a>, Option<RawTime>)> {
        let Scanned { record, time } = scan(line)?;
        Some((record, time.map(|(raw, _)| raw)))
    }

    /// Parses one line (a trailing CR/LF is ignored); `None` when it is not
    /// syslog or its timestamp is an impossible date.
    pub fn parse<'a>(&self, line: &'a str) -> Option<SyslogRecord<'a>> {
        let Scanned { mut record, time } = scan(line)?;
        if let Some((raw, _)) = time {
            record.timestamp = Some(raw.resolve(&self.ctx)?);
        }
        Some(record)
    }
}

impl SyslogRecord<'_> {
    /// Fills the ECS fields: `@timestamp`, `host.name`, `process.name`,
    /// `process.pid`, `message`, `log.syslog.*`.
    pub fn apply_to(&self, event: &mut Event) {
        self.apply_with(
            event,
            self.timestamp.as_ref().map(LogTime::to_rfc3339),
            true,
        );
    }

    /// Overwrites, keeping its allocations, an event that holds exactly
    /// what [`apply_without_time`](Self::apply_without_time) sets for the
    /// common line (`host.name`, `process.name`, a numeric `process.pid`,
    /// `message`), when this record has that shape too: `logbus match`
    /// recycles its events, and building the maps costs more than parsing.
    /// False, and the event untouched, when either shape differs.
    pub fn refill(&self, event: &mut Event) -> bool {
        let (Some(host), Some(app), Some(pid)) = (
            self.hostname,
            self.app_name,
            self.proc_id.and_then(pid_number),
        ) else {
            return false;
        };
        if self.priority.is_some()
            || self.version.is_some()
            || self.msg_id.is_some()
            || self.structured_data.is_some()
        {
            return false;
        }
        let Some((host_slot, message_slot, app_slot, pid_slot)) = common_slots(event.as_map_mut())
        else {
            return false;
        };
        for (slot, text) in [
            (host_slot, host),
            (message_slot, self.message),
            (app_slot, app),
        ] {
            slot.clear();
            slot.push_str(text);
        }
        *pid_slot = Value::from(pid);
        true
    }

    /// Sets every field but `@timestamp` (for callers that render the time
    /// only when they need it, like `logbus match`).
    pub fn apply_without_time(&self, event: &mut Event) {
        self.apply_with(event, None, true);
    }

    /// Sets the fields, with the timestamp already rendered; `message`
    /// only when `with_message` (the stage may reuse the line's buffer).
    fn apply_with(&self, event: &mut Event, timestamp: Option<String>, with_message: bool) {
        if let Some(ts) = timestamp {
            put(event, &["@timestamp"], Value::String(ts));
        }
        if let Some(host) = self.hostname {
            put(event, &["host", "name"], Value::from(host));
        }
        if let Some(app) = self.app_name {
            put(event, &["process", "name"], Value::from(app));
        }
        if let Some(pid) = self.proc_id {
            let pid = match pid_number(pid) {
                Some(n) => Value::from(n),
                None => Value::from(pid),
            };
            put(event, &["process", "pid"], pid);
        }
        if with_message {
            put(event, &["message"], Value::from(self.message));
        }
        if let Some(pri) = self.priority {
            put(event, &["log", "syslog", "priority"], Value::from(pri));
            put(
                event,
                &["log", "syslog", "facility", "code"],
                Value::from(pri >> 3),
            );
            put(
                event,
                &["log", "syslog", "severity", "code"],
                Value::from(pri & 7),
            );
        }
        if let Some(v) = self.version {
            put(event, &["log", "syslog", "version"], Value::from(v));
        }
        if let Some(id) = self.msg_id {
            put(event, &["log", "syslog", "msgid"], Value::from(id));
        }
        if let Some(sd) = self.structured_data {
            put(
                event,
                &["log", "syslog", "structured_data"],
                structured_data_object(sd),
            );
        }
    }
}

/// The value slots of `{host: {name}, message, process: {name, pid}}`
/// (pid a number) and nothing else: host, message, program, pid.
fn common_slots(
    map: &mut Map<String, Value>,
) -> Option<(&mut String, &mut String, &mut String, &mut Value)> {
    // Maps iterate in key order, so one pass hands out every slot at once.
    let mut it = map.iter_mut();
    let (
        Some((hk, Value::Object(host))),
        Some((mk, Value::String(message))),
        Some((pk, Value::Object(process))),
        None,
    ) = (it.next(), it.next(), it.next(), it.next())
    else {
        return None;
    };
    let mut it = host.iter_mut();
    let (Some((nk, Value::String(name))), None) = (it.next(), it.next()) else {
        return None;
    };
    let mut it = process.iter_mut();
    let (Some((ak, Value::String(app))), Some((ik, pid @ Value::Number(_))), None) =
        (it.next(), it.next(), it.next())
    else {
        return None;
    };
    if hk != "host" || mk != "message" || pk != "process" {
        return None;
    }
    (nk == "name" && ak == "name" && ik == "pid").then_some((name, message, app, pid))
}

/// A pid made only of digits, as a number.
fn pid_number(pid: &str) -> Option<u64> {
    if pid.is_empty() || !pid.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Splits a line into its parts, leaving the timestamp unresolved.
fn scan(line: &str) -> Option<Scanned<'_>> {
    let line = line.trim_end_matches(['\n', '\r']);
    let (priority, rest) = match priority(line) {
        Some((pri, len)) => (Some(pri), line.get(len..)?),
        None => (None, line),
    };
    // `<PRI>1 ` announces RFC 5424: such a line is that or nothing.
    if priority.is_some() && is_version(rest) {
        return scan_5424(rest, priority);
    }
    scan_3164(rest, priority)
}

/// `<PRI>` (0 to 191) at the start; the value and its length.
fn priority(line: &str) -> Option<(u8, usize)> {
    let b = line.as_bytes();
    if b.first() != Some(&b'<') {
        return None;
    }
    let digits = b
        .get(1..)?
        .iter()
        .take(4)
        .take_while(|c| c.is_ascii_digit())
        .count();
    if !(1..=3).contains(&digits) || b.get(1 + digits) != Some(&b'>') {
        return None;
    }
    let value: u16 = line.get(1..1 + digits)?.parse().ok()?;
    let pri = u8::try_from(value).ok().filter(|p| *p <= 191)?;
    Some((pri, digits + 2))
}

/// An RFC 5424 VERSION (1 to 99) and a space.
fn is_version(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = b.iter().take(3).take_while(|c| c.is_ascii_digit()).count();
    (1..=2).contains(&digits) && b.first() != Some(&b'0') && b.get(digits) == Some(&b' ')
}

/// `VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]`.
fn scan_5424(s: &str, priority: Option<u8>) -> Option<Scanned<'_>> {
    let (version, s) = word(s)?;
    let version: u8 = version.parse().ok()?;
    let (time, s) = if let Some(rest) = s.strip_prefix("- ") {
        (None, rest)
    } else {
        let (raw, len) = timestamp::scan_prefix(s.as_bytes(), false)?;
        if raw.format != TimeFormat::Iso8601 || s.starts_with('[') {
            return None;
        }
        let text = s.get(..len)?;
        (Some((raw, text)), s.get(len..)?.strip_prefix(' ')?)
    };
    let (hostname, s) = word(s)?;
    let (app_name, s) = word(s)?;
    let (proc_id, s) = word(s)?;
    let (msg_id, s) = word(s)?;
    let (structured_data, s) = if let Some(rest) = s.strip_prefix('-') {
        (None, rest)
    } else {
        let len = walk_structured_data(s, |_, _| {})?;
        (Some(s.get(..len)?), s.get(len..)?)
    };
    let message = match s.strip_prefix(' ') {
        Some(msg) => msg.strip_prefix('\u{FEFF}').unwrap_or(msg),
        None if s.is_empty() => "",
        None => return None,
    };
    Some(Scanned {
        record: SyslogRecord {
            priority,
            version: Some(version),
            timestamp: None,
            hostname: nil(hostname),
            app_name: nil(app_name),
            app_detail: None,
            proc_id: nil(proc_id),
            msg_id: nil(msg_id),
            structured_data,
            message,
        },
        time,
    })
}

/// A non-empty word and what follows its single space separator.
fn word(s: &str) -> Option<(&str, &str)> {
    let (w, rest) = s.split_once(' ')?;
    (!w.is_empty()).then_some((w, rest))
}

/// RFC 5424's NILVALUE `-` as `None`.
fn nil(s: &str) -> Option<&str> {
    (s != "-").then_some(s)
}

/// Walks `[id param="value" ...]...` at the start of `s`, calling `visit`
/// with each element id and (param, raw value) pairs, or `(id, None)` for an
/// element without params. Returns the length of the structured data, or
/// `None` when it is malformed.
fn walk_structured_data<'a>(
    s: &'a str,
    mut visit: impl FnMut(&'a str, Option<(&'a str, &'a str)>),
) -> Option<usize> {
    let b = s.as_bytes();
    let name_end = |from: usize| {
        b.get(from..).map_or(from, |r| {
            from + r
                .iter()
                .take_while(|c| c.is_ascii_graphic() && !matches!(c, b'=' | b']' | b'"'))
                .count()
        })
    };
    let mut i = 0;
    while b.get(i) == Some(&b'[') {
        let id_end = name_end(i + 1);
        let id = s.get(i + 1..id_end).filter(|id| !id.is_empty())?;
        i = id_end;
        let mut params = 0;
        loop {
            match b.get(i) {
                Some(b']') => {
                    i += 1;
                    break;
                }
                Some(b' ') => {
                    let p_end = name_end(i + 1);
                    let param = s.get(i + 1..p_end).filter(|p| !p.is_empty())?;
                    if b.get(p_end) != Some(&b'=') || b.get(p_end + 1) != Some(&b'"') {
                        return None;
                    }
                    let v_start = p_end + 2;
                    let mut j = v_start;
                    loop {
                        match b.get(j)? {
                            b'\\' => j += 2,
                            b'"' => break,
                            _ => j += 1,
                        }
                    }
                    visit(id, Some((param, s.get(v_start..j)?)));
                    params += 1;
                    i = j + 1;
                }
                _ => return None,
            }
        }
        if params == 0 {
            visit(id, None);
        }
    }
    (i > 0).then_some(i)
}

/// Structured data as `{id: {param: value}}`, values unescaped.
fn structured_data_object(sd: &str) -> Value {
    let mut out = Map::new();
    walk_structured_data(sd, |id, param| {
        let entry = out
            .entry(id.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let (Some((name, raw)), Value::Object(params)) = (param, entry) {
            params.insert(name.to_string(), Value::String(unescape_param(raw)));
        }
    });
    Value::Object(out)
}

/// Undoes RFC 5424's `\"`, `\\` and `\]`; other backslashes stay.
fn unescape_param(raw: &str) -> String {
    if !raw.contains('\\') {
        return raw.to_string();
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(e @ ('"' | '\\' | ']')) => out.push(e),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `[TIMESTAMP] [HOST] [TAG] MSG`, see the module documentation.
fn scan_3164(s: &str, priority: Option<u8>) -> Option<Scanned<'_>> {
    let (time, rest) = match timestamp::scan_prefix(s.as_bytes(), false) {
        // An epoch count is no syslog timestamp: too easily a message's number.
        Some((raw, len)) if raw.format != TimeFormat::Epoch => {
            let text = s.get(..len)?;
            let rest = s.get(len..)?;
            let (rest, colon) = match rest.strip_prefix(':') {
                Some(r) => (r, true),
                None => (rest, false),
            };
            if !(rest.is_empty() || rest.starts_with(' ')) {
                return None;
            }
            let rest = rest.trim_start_matches(' ');
            // Syslog writers put a bare RFC 3164 or ISO stamp (or multilog's
            // TAI64N) first. Other layouts, brackets or a colon after the
            // time mean an application's own log, where `IMAP Error: ...`
            // is text, not host and program.
            let syslog_layout = matches!(
                raw.format,
                TimeFormat::Rfc3164 | TimeFormat::Iso8601 | TimeFormat::Tai64n
            ) && !text.starts_with('[')
                && !colon;
            if !syslog_layout {
                return Some(message_only(priority, Some((raw, text)), rest));
            }
            (Some((raw, text)), rest)
        }
        _ => (None, s),
    };
    let evidence = time.is_some() || priority.is_some();
    let tag_ok = |tag: &Tag| evidence || tag.numeric_pid() || tag.name == "kernel";

    let (hostname, tag, message) =
        if let Some((tag, msg)) = parse_tag(rest).filter(|t| tag_ok(&t.0)) {
            (None, Some(tag), msg)
        } else {
            let (first, after) = rest.split_once(' ').unwrap_or((rest, ""));
            let after_spaces = after.trim_start_matches(' ');
            if is_hostname(first) {
                if let Some((tag, msg)) = parse_tag(after_spaces).filter(|t| tag_ok(&t.0)) {
                    (Some(first), Some(tag), msg)
                } else if time.is_some_and(|(raw, _)| raw.format == TimeFormat::Rfc3164) {
                    (Some(first), None, after)
                } else if evidence {
                    (None, None, rest)
                } else {
                    return None;
                }
            } else if evidence {
                (None, None, rest)
            } else {
                return None;
            }
        };
    Some(Scanned {
        record: SyslogRecord {
            priority,
            version: None,
            timestamp: None,
            hostname,
            app_name: tag.as_ref().map(|t| t.name),
            app_detail: tag.as_ref().and_then(|t| t.detail),
            proc_id: tag.as_ref().and_then(|t| t.pid),
            msg_id: None,
            structured_data: None,
            message,
        },
        time,
    })
}

/// A line with a timestamp (or PRI) but no header: all of it is message.
fn message_only<'a>(
    priority: Option<u8>,
    time: Option<(RawTime, &'a str)>,
    message: &'a str,
) -> Scanned<'a> {
    Scanned {
        record: SyslogRecord {
            priority,
            version: None,
            timestamp: None,
            hostname: None,
            app_name: None,
            app_detail: None,
            proc_id: None,
            msg_id: None,
            structured_data: None,
            message,
        },
        time,
    }
}

/// A syslog TAG: program name, optional `(detail)`, optional `[pid]`.
#[derive(Debug)]
struct Tag<'a> {
    name: &'a str,
    detail: Option<&'a str>,
    pid: Option<&'a str>,
}

impl Tag<'_> {
    fn numeric_pid(&self) -> bool {
        self.pid.is_some_and(|p| pid_number(p).is_some())
    }
}

/// A TAG at the start of `s` and the message after it (see the module
/// documentation for the accepted shapes).
fn parse_tag(s: &str) -> Option<(Tag<'_>, &str)> {
    let b = s.as_bytes();
    let bracketed = b.first() == Some(&b'[');
    let start = usize::from(bracketed);
    if !b.get(start).is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    let name_len = b
        .get(start..)?
        .iter()
        .take(MAX_TAG_NAME + 1)
        .take_while(|c| {
            c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'/' | b'@' | b'+')
        })
        .count();
    if name_len > MAX_TAG_NAME {
        return None;
    }
    let name = s.get(start..start + name_len)?;
    let mut i = start + name_len;
    let detail = if b.get(i) == Some(&b'(') {
        let len = enclosed(b, i + 1, b')')?;
        let d = s.get(i + 1..i + 1 + len)?;
        i += len + 2;
        Some(d)
    } else {
        None
    };
    let pid = if b.get(i) == Some(&b'[') {
        let len = enclosed(b, i + 1, b']')?;
        let p = s.get(i + 1..i + 1 + len)?;
        i += len + 2;
        Some(p)
    } else {
        None
    };
    if bracketed {
        if b.get(i) != Some(&b']') || pid.is_some() {
            return None;
        }
        i += 1;
    }
    let tag = Tag { name, detail, pid };
    match b.get(i) {
        Some(b':') => match b.get(i + 1) {
            None => Some((tag, "")),
            Some(b' ') => Some((tag, s.get(i + 2..)?)),
            Some(b'[') => Some((tag, s.get(i + 1..)?)),
            Some(_) => None,
        },
        // proftpd: `proftpd[123] host (...)`, no colon; a numeric pid makes
        // it unmistakable.
        Some(b' ') if tag.numeric_pid() && !bracketed => Some((tag, s.get(i + 1..)?)),
        _ => None,
    }
}

/// Length of a non-empty run without spaces up to `close`, starting at `i`.
fn enclosed(b: &[u8], i: usize, close: u8) -> Option<usize> {
    let len = b
        .get(i..)?
        .iter()
        .take(MAX_TAG_NAME + 1)
        .take_while(|c| **c != close && **c != b' ' && **c != b'(' && **c != b'[')
        .count();
    (len > 0 && len <= MAX_TAG_NAME && b.get(i + len) == Some(&close)).then_some(len)
}

/// Looks like a host name or address: letters, digits, `.-_:`, not ending
/// in `:` (that would be a TAG), at most 255 bytes.
fn is_hostname(w: &str) -> bool {
    let b = w.as_bytes();
    !b.is_empty()
        && b.len() <= 255
        && !w.ends_with(':')
        && b.iter().any(u8::is_ascii_alphanumeric)
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b':'))
}

/// Options of `parse-syslog`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SyslogConfig {
    /// The field holding the line.
    #[serde(default = "default_field")]
    field: FieldPath,
    /// Year for timestamps written without one (default: inferred).
    #[serde(default)]
    year: Option<i16>,
    /// IANA zone for timestamps without offset (default: the system's).
    #[serde(default)]
    timezone: Option<String>,
    /// Pass lines that do not parse on, unchanged, besides the error.
    #[serde(default)]
    keep_unparsed: bool,
    /// Keep the raw line in `event.original`.
    #[serde(default)]
    keep_original: bool,
}

/// Builds a [`TimeContext`] from the `year` and `timezone` options.
pub(crate) fn time_context(
    year: Option<i16>,
    timezone: Option<&str>,
) -> Result<TimeContext, BuildError> {
    let mut ctx = TimeContext::system();
    if let Some(name) = timezone {
        let tz = jiff::tz::TimeZone::get(name).map_err(|e| {
            BuildError::field("timezone", format!("unknown time zone `{name}`: {e}"))
        })?;
        ctx = ctx.with_tz(tz);
    }
    if let Some(y) = year {
        if !(1..=9999).contains(&y) {
            return Err(BuildError::field(
                "year",
                format!("year {y} is not between 1 and 9999"),
            ));
        }
        ctx = ctx.with_year(y);
    }
    Ok(ctx)
}

fn build(ctx: &BuildContext) -> Result<BuiltStage, BuildError> {
    let cfg: SyslogConfig = ctx.options()?;
    let time = time_context(cfg.year, cfg.timezone.as_deref())?;
    Ok(BuiltStage::processor(SyslogStage {
        overwrites_field: cfg.field == *fields::MESSAGE,
        line: LineField {
            field: cfg.field,
            keep_unparsed: cfg.keep_unparsed,
            keep_original: cfg.keep_original,
        },
        parser: SyslogParser::new(time),
        cache: TimestampCache::default(),
        counters: ctx.counters.clone(),
    }))
}

struct SyslogStage {
    line: LineField,
    /// The line is in `message`, which the parse replaces with MSG.
    overwrites_field: bool,
    parser: SyslogParser,
    cache: TimestampCache,
    counters: std::sync::Arc<StageCounters>,
}

impl SyslogStage {
    /// Handles one event; returns the bytes of line it looked at.
    fn handle(&mut self, mut event: Event, out: &mut Outbox) -> usize {
        let line = match self.line.take(&mut event) {
            Ok(line) => line,
            Err(problem) => {
                self.line.reject(event, None, problem, out);
                return 0;
            }
        };
        let len = line.len();
        let Some(scanned) = scan(&line) else {
            self.line
                .reject(event, Some(line), "not a syslog line".into(), out);
            return len;
        };
        let ts = match scanned.time {
            Some((raw, text)) => {
                let ctx = &self.parser.ctx;
                match self
                    .cache
                    .render(text, || raw.resolve(ctx).map(|t| t.to_rfc3339()))
                {
                    Some(ts) => Some(ts),
                    None => {
                        let msg = format!("impossible timestamp `{text}`");
                        self.line.reject(event, Some(line), msg, out);
                        return len;
                    }
                }
            }
            None => None,
        };
        // The message is a slice of the line: when nobody needs the line
        // any more, cut it down in place rather than copy it.
        let reuse = self.overwrites_field && !self.line.keep_original;
        let msg_range = subrange(&line, scanned.record.message).filter(|_| reuse);
        scanned
            .record
            .apply_with(&mut event, ts, msg_range.is_none());
        match msg_range {
            Some(range) => {
                let mut line = line;
                line.truncate(range.end);
                line.drain(..range.start);
                self.line.restore(&mut event, line);
            }
            None => self.line.finish(&mut event, line, self.overwrites_field),
        }
        out.emit(event);
        len
    }
}

impl LineParserStage for SyslogStage {
    fn handle(&mut self, event: Event, out: &mut Outbox) -> usize {
        SyslogStage::handle(self, event, out)
    }

    fn counters(&self) -> &StageCounters {
        &self.counters
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::DateTime;
    use jiff::tz::TimeZone;
    use serde_json::json;

    use super::super::common::path;
    use super::super::common::testing::build_with;
    use super::*;

    /// fail2ban's test clock (2005-08-14 12:00) at a fixed +02:00.
    fn parser() -> SyslogParser {
        let tz = TimeZone::fixed(jiff::tz::offset(2));
        let now = DateTime::new(2005, 8, 14, 12, 0, 0, 0)
            .unwrap()
            .to_zoned(tz.clone())
            .unwrap();
        SyslogParser::new(TimeContext::system().with_tz(tz).with_now(now))
    }

    fn ts(r: &SyslogRecord) -> Option<String> {
        r.timestamp.as_ref().map(LogTime::to_rfc3339)
    }

    /// (host, program, pid, message) of a line that must parse.
    fn parts(line: &str) -> (Option<&str>, Option<&str>, Option<&str>, &str) {
        let r = parser()
            .parse(line)
            .unwrap_or_else(|| panic!("did not parse: {line:?}"));
        (r.hostname, r.app_name, r.proc_id, r.message)
    }

    #[test]
    fn refill_gives_what_a_fresh_event_gets() {
        let p = parser();
        let fresh = |line: &str| {
            let (r, _) = p.parse_lazy(line).unwrap();
            let mut e = Event::new();
            r.apply_without_time(&mut e);
            e
        };
        let mut e = fresh("Aug 14 11:59:58 host1 sshd[1]: first message");
        let second = "Aug 14 11:59:59 other-host cron[65536]: second, longer message";
        let (r, _) = p.parse_lazy(second).unwrap();
        assert!(r.refill(&mut e));
        assert_eq!(e, fresh(second));
        // Other shapes are refused and leave the event as it was.
        let before = e.clone();
        for line in [
            "Aug 14 11:59:59 host sshd: no pid",
            "Aug 14 11:59:59 host sshd[abc]: a pid that is no number",
            "<13>Aug 14 11:59:59 host sshd[2]: with a priority",
            "Aug 14 11:59:59 sshd[2]: no host",
        ] {
            let (r, _) = p.parse_lazy(line).unwrap();
            assert!(!r.refill(&mut e), "{line}");
            assert_eq!(e, before, "{line}");
        }
        let mut odd = fresh(second);
        odd.set(&path("log.file.path"), "/x");
        assert!(!r.refill(&mut odd), "an event with more fields is refused");
    }

    fn event_of(line: &str) -> Value {
        let r = parser().parse(line).unwrap();
        let mut e = Event::new();
        r.apply_to(&mut e);
        e.into_value()
    }

    #[test]
    fn rfc3164_file_line_fills_ecs_fields() {
        let line = "Feb 25 14:34:10 belka sshd[31602]: Failed password for invalid user ROOT from 194.117.26.69 port 50273 ssh2";
        let r = parser().parse(line).unwrap();
        assert_eq!(ts(&r).as_deref(), Some("2005-02-25T14:34:10.000+02:00"));
        assert_eq!(
            event_of(line),
            json!({
                "@timestamp": "2005-02-25T14:34:10.000+02:00",
                "host": {"name": "belka"},
                "process": {"name": "sshd", "pid": 31602},
                "message": "Failed password for invalid user ROOT from 194.117.26.69 port 50273 ssh2",
            })
        );
    }

    #[test]
    fn priority_gives_facility_and_severity() {
        let v = event_of("<38>Feb  5 14:34:10 host sshd[1]: x");
        assert_eq!(v["log"]["syslog"]["priority"], 38);
        assert_eq!(v["log"]["syslog"]["facility"]["code"], 4);
        assert_eq!(v["log"]["syslog"]["severity"]["code"], 6);
        assert_eq!(v["host"]["name"], "host");
        // Out of range: no PRI, and then nothing says syslog.
        assert!(
            parser()
                .parse("<192>Feb  5 14:34:10 host sshd[1]: x")
                .is_none()
        );
        // PRI alone is evidence enough for a program without pid.
        assert_eq!(
            parts("<13>myapp: hello"),
            (None, Some("myapp"), None, "hello")
        );
    }

    #[test]
    fn corpus_sshd_and_dropbear() {
        assert_eq!(
            parts(
                "Jun 21 16:47:48 digital-mlhhyiqscv sshd[13709]: error: PAM: Authentication failure for myhlj1374 from 192.030.0.6"
            ),
            (
                Some("digital-mlhhyiqscv"),
                Some("sshd"),
                Some("13709"),
                "error: PAM: Authentication failure for myhlj1374 from 192.030.0.6"
            )
        );
        assert_eq!(
            parts("Mar 29 05:20:09 dusky sshd[19558]: [ID 800047 auth.info] Failed keyboard-interactive for james from 205.186.180.30 port 54520 ssh2").3,
            "[ID 800047 auth.info] Failed keyboard-interactive for james from 205.186.180.30 port 54520 ssh2"
        );
        assert_eq!(
            parts(
                "Mar  3 00:17:22 [sshd]: User root from 211.188.220.49 not allowed because not listed in AllowUsers"
            ),
            (
                None,
                Some("sshd"),
                None,
                "User root from 211.188.220.49 not allowed because not listed in AllowUsers"
            )
        );
        // Without the colon, `[sshd]` is no TAG: the line is kept as message.
        assert_eq!(
            parts("Jun 25 23:53:34 [sshd] User root from 1.2.3.4 not allowed"),
            (
                None,
                None,
                None,
                "[sshd] User root from 1.2.3.4 not allowed"
            )
        );
        let r = parser().parse("2015-04-16T18:02:50.321974+00:00 host sshd[2716]: Connection closed by 192.0.2.112 [preauth]").unwrap();
        assert_eq!(ts(&r).as_deref(), Some("2015-04-16T18:02:50.321+00:00"));
        assert_eq!(
            (r.hostname, r.app_name, r.proc_id),
            (Some("host"), Some("sshd"), Some("2716"))
        );
        assert_eq!(
            parts(
                "Feb 11 15:23:17 dropbear[1252]: login attempt for nonexistent user from ::ffff:198.51.100.215:60495"
            ),
            (
                None,
                Some("dropbear"),
                Some("1252"),
                "login attempt for nonexistent user from ::ffff:198.51.100.215:60495"
            )
        );
        assert_eq!(
            parts("Jul 27 01:04:12 fail2ban-test dropbear[1335]: Bad password attempt for 'root' from 1.2.3.4:60588").0,
            Some("fail2ban-test")
        );
    }

    #[test]
    fn journal_short_forms() {
        // sshd-journal: host and program, no timestamp.
        let r = parser()
            .parse("srv sshd[20880]: kernel:[12970.699398] Failed password for user admin from 2001:db8::1 port 42746 ssh2")
            .unwrap();
        assert!(r.timestamp.is_none());
        assert_eq!(
            (r.hostname, r.app_name, r.proc_id),
            (Some("srv"), Some("sshd"), Some("20880"))
        );
        assert_eq!(
            r.message,
            "kernel:[12970.699398] Failed password for user admin from 2001:db8::1 port 42746 ssh2"
        );
        assert_eq!(
            parts("sshd[1]: msg"),
            (None, Some("sshd"), Some("1"), "msg")
        );
        assert_eq!(
            parts("atom named[1806]: client @0x7fb13400eec0 192.0.2.1#61977 (.): query (cache) './ANY/IN' denied").0,
            Some("atom")
        );
        assert_eq!(
            parts("kernel: [ 123.456] eth0: link up"),
            (None, Some("kernel"), None, "[ 123.456] eth0: link up")
        );
        assert_eq!(
            parts("host kernel: [ 1.5] x"),
            (Some("host"), Some("kernel"), None, "[ 1.5] x")
        );
        // The journal event has no @timestamp.
        assert!(event_of("sshd[1]: msg").get("@timestamp").is_none());
    }

    #[test]
    fn bare_messages_are_not_syslog() {
        for line in [
            "",
            "   ",
            "error: PAM: Authentication failure for myhlj1374 from 192.030.0.6",
            "Connection closed by 1.2.3.4 port 22: [preauth]",
            "Connection error: timeout",
            "srv dovecot: imap-login: x",
            "host prog[abc]: x",
            "1389657553 epoch first",
            "http://example.com/: x",
            "\u{FFFD}\u{FFFD}: x",
            "[1]: x",
        ] {
            assert!(parser().parse(line).is_none(), "{line:?} parsed");
        }
    }

    #[test]
    fn corpus_postfix_dovecot_ftp() {
        assert_eq!(
            parts(
                "Apr  6 13:05:01 server postfix/smtpd[20589]: NOQUEUE: reject: RCPT from unknown[192.0.2.116]: 504 5.5.2 x"
            ),
            (
                Some("server"),
                Some("postfix/smtpd"),
                Some("20589"),
                "NOQUEUE: reject: RCPT from unknown[192.0.2.116]: 504 5.5.2 x"
            )
        );
        assert_eq!(
            parts("Mar 14 11:12:13 server postfix-smo/submission/smtpd[1]: x").1,
            Some("postfix-smo/submission/smtpd")
        );
        assert_eq!(
            parts(
                "Aug 28 06:38:51 s166-62-100-187 dovecot: imap-login: Disconnected (auth failed, 1 attempts in 9 secs): user=<a>"
            ),
            (
                Some("s166-62-100-187"),
                Some("dovecot"),
                None,
                "imap-login: Disconnected (auth failed, 1 attempts in 9 secs): user=<a>"
            )
        );
        let r = parser()
            .parse("Jun 13 16:30:54 auth-worker(57065): Info: conn unix:auth-worker")
            .unwrap();
        assert_eq!(
            (r.hostname, r.app_name, r.app_detail),
            (None, Some("auth-worker"), Some("57065"))
        );
        let r = parser().parse("2013-08-11 03:56:40 auth-worker(default): Info: pam(username,1.2.3.4): pam_authenticate() failed").unwrap();
        assert_eq!(ts(&r).as_deref(), Some("2013-08-11T03:56:40.000+02:00"));
        assert_eq!(
            (r.app_name, r.app_detail),
            (Some("auth-worker"), Some("default"))
        );
        let r = parser().parse("@400000004c91b044077a9e94 imap-login: Info: Aborted login (auth failed, 1 attempts): user=<m>").unwrap();
        assert_eq!(ts(&r).as_deref(), Some("2010-09-16T07:51:00.125+02:00"));
        assert_eq!((r.hostname, r.app_name), (None, Some("imap-login")));
        let r = parser().parse("Feb 6 12:02:29 server vsftpd(pam_unix)[15522]: authentication failure; logname= uid=0").unwrap();
        assert_eq!(
            (r.app_name, r.app_detail, r.proc_id),
            (Some("vsftpd"), Some("pam_unix"), Some("15522"))
        );
        // vsftpd's own log: ctime stamp, all message.
        let r = parser().parse("Fri Jan 19 12:20:33 2007 [pid 27202] [anonymous] FAIL LOGIN: Client \"64.106.46.98\"").unwrap();
        assert_eq!(ts(&r).as_deref(), Some("2007-01-19T12:20:33.000+02:00"));
        assert_eq!((r.hostname, r.app_name), (None, None));
        assert_eq!(
            r.message,
            "[pid 27202] [anonymous] FAIL LOGIN: Client \"64.106.46.98\""
        );
        // proftpd writes no colon after its pid.
        assert_eq!(
            parts(
                "Jun 09 07:30:58 platypus.ace-hosting.com.au proftpd[11864] platypus.ace-hosting.com.au (mail.bloodymonster.net[::ffff:67.227.224.66]) - USER username (Login failed): Incorrect password."
            ),
            (
                Some("platypus.ace-hosting.com.au"),
                Some("proftpd"),
                Some("11864"),
                "platypus.ace-hosting.com.au (mail.bloodymonster.net[::ffff:67.227.224.66]) - USER username (Login failed): Incorrect password."
            )
        );
        let r = parser().parse("2013-11-16 21:59:30,121 novo proftpd[25891] localhost (andy[1.2.3.4]): USER kjsad: no such user found from andy [1.2.3.4] to 1.2.3.4:21").unwrap();
        assert_eq!(ts(&r).as_deref(), Some("2013-11-16T21:59:30.121+02:00"));
        assert_eq!((r.hostname, r.app_name), (Some("novo"), Some("proftpd")));
        assert_eq!(
            parts(
                "Jan 31 16:54:07 desktop pure-ftpd: (?@24.79.92.194) [WARNING] Authentication failed for user [Administrator]"
            ),
            (
                Some("desktop"),
                Some("pure-ftpd"),
                None,
                "(?@24.79.92.194) [WARNING] Authentication failed for user [Administrator]"
            )
        );
    }

    #[test]
    fn application_logs_with_timestamps_are_all_message() {
        for (line, msg) in [
            (
                "2020-04-09T14:04:00.667Z: Failed Login: username=admin ip=80.10.11.12",
                "Failed Login: username=admin ip=80.10.11.12",
            ),
            (
                "[30-Dec-2014 13:02:34 -0500]: IMAP Error: Login failed for admin",
                "IMAP Error: Login failed for admin",
            ),
            (
                "[2012-02-13 17:21:54] NOTICE[1638] chan_sip.c: Registration",
                "NOTICE[1638] chan_sip.c: Registration",
            ),
            (
                "11-Aug-2013 03:36:11.372 error: client 1.2.3.4#52115: denied",
                "error: client 1.2.3.4#52115: denied",
            ),
            (
                "2013-06-12 03:57:58 login authenticator failed for (ylmf-pc) [120.196.140.45]: 535",
                "login authenticator failed for (ylmf-pc) [120.196.140.45]: 535",
            ),
            (
                "2015/01/21 10:56:10 [error] 2833#0: *16336 open() failed",
                "[error] 2833#0: *16336 open() failed",
            ),
        ] {
            let r = parser().parse(line).unwrap_or_else(|| panic!("{line:?}"));
            assert!(r.timestamp.is_some(), "{line:?}");
            assert_eq!(
                (r.hostname, r.app_name, r.message),
                (None, None, msg),
                "{line:?}"
            );
        }
        // RFC 3164 stamp without a TAG: the first word is still the host.
        assert_eq!(
            parts("Feb 25 14:34:10 host last message repeated 2 times"),
            (Some("host"), None, None, "last message repeated 2 times")
        );
    }

    #[test]
    fn rfc5424() {
        let line = "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \u{FEFF}'su root' failed for lonvick on /dev/pts/8";
        let r = parser().parse(line).unwrap();
        assert_eq!(ts(&r).as_deref(), Some("2003-10-11T22:14:15.003+00:00"));
        assert_eq!(
            (
                r.priority,
                r.version,
                r.hostname,
                r.app_name,
                r.proc_id,
                r.msg_id,
                r.structured_data
            ),
            (
                Some(34),
                Some(1),
                Some("mymachine.example.com"),
                Some("su"),
                None,
                Some("ID47"),
                None
            )
        );
        assert_eq!(r.message, "'su root' failed for lonvick on /dev/pts/8");

        let v = event_of(
            r#"<165>1 2003-10-11T22:14:15.003Z host evntslog 12a ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] An application event"#,
        );
        assert_eq!(
            v["log"]["syslog"]["structured_data"],
            json!({
                "exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"},
                "examplePriority@32473": {"class": "high"},
            })
        );
        assert_eq!(v["log"]["syslog"]["version"], 1);
        assert_eq!(v["log"]["syslog"]["msgid"], "ID47");
        assert_eq!(v["process"]["pid"], "12a");
        assert_eq!(v["message"], "An application event");

        // Escapes, a `]` inside quotes, an element without params.
        let v = event_of(
            r#"<38>1 2019-07-08T17:40:17.954167-04:00 hostname.example.com sshd 55555 - [timeQuality tzKnown="1" isSynced="0"][xxx@123 test="[brackets]" e="a\"b\]c\\d\x"][bare] Failed unknown for invalid user redmond from 192.0.2.2 port 55555 ssh2"#,
        );
        assert_eq!(
            v["log"]["syslog"]["structured_data"],
            json!({
                "timeQuality": {"tzKnown": "1", "isSynced": "0"},
                "xxx@123": {"test": "[brackets]", "e": "a\"b]c\\d\\x"},
                "bare": {},
            })
        );
        assert_eq!(v["@timestamp"], "2019-07-08T17:40:17.954-04:00");
        assert_eq!(v["process"]["pid"], 55555);
        assert_eq!(
            v["message"],
            "Failed unknown for invalid user redmond from 192.0.2.2 port 55555 ssh2"
        );

        // All NILVALUEs and no MSG.
        let r = parser().parse("<14>1 - - - - - -").unwrap();
        assert!(r.timestamp.is_none() && r.hostname.is_none() && r.app_name.is_none());
        assert_eq!(r.message, "");
        // `<PRI>1 ` promises RFC 5424: a line that breaks it is refused.
        for bad in [
            "<14>1 2003-10-11T22:14:15Z h a - - [x a=\"unterminated] m",
            "<14>1 2003-10-11T22:14:15Z h a - - [x a=1] m",
            "<14>1 2003-10-11T22:14:15Z h a - - x m",
            "<14>1 Oct 11 22:14:15 h a - - - m",
            "<14>1 2003-10-11T22:14:15Z h a -",
            "<14>1 [2003-10-11T22:14:15Z] h a - - - m",
        ] {
            assert!(parser().parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn impossible_dates_and_year_inference() {
        assert!(parser().parse("Feb 30 10:00:00 host sshd[1]: x").is_none());
        assert!(parser().parse("Feb 25 25:00:00 host sshd[1]: x").is_none());
        assert!(
            parser()
                .parse("<34>1 2003-02-30T22:14:15Z h a - - - m")
                .is_none()
        );
        // Well-formed but absent in the fixed year: refused at resolve time.
        let p = SyslogParser::new(TimeContext::system().with_year(2005));
        assert!(p.parse("Feb 29 10:00:00 host sshd[1]: x").is_none());
        assert!(p.parse("Feb 28 10:00:00 host sshd[1]: x").is_some());
        let now = DateTime::new(2024, 1, 2, 8, 0, 0, 0)
            .unwrap()
            .to_zoned(TimeZone::UTC)
            .unwrap();
        let p = SyslogParser::new(TimeContext::system().with_tz(TimeZone::UTC).with_now(now));
        let r = p.parse("Dec 31 23:59:59 host sshd[1]: x").unwrap();
        assert_eq!(ts(&r).as_deref(), Some("2023-12-31T23:59:59.000+00:00"));
        let p = SyslogParser::new(TimeContext::system().with_tz(TimeZone::UTC).with_year(2010));
        let r = p.parse("Dec 31 23:59:59 host sshd[1]: x").unwrap();
        assert_eq!(ts(&r).as_deref(), Some("2010-12-31T23:59:59.000+00:00"));
    }

    #[test]
    fn injected_headers_stay_in_the_message() {
        let line = "Feb 25 14:34:10 belka sshd[1]: Invalid user Feb 25 14:34:10 evil sshd[2]: Failed password for root from 6.6.6.6";
        assert_eq!(
            parts(line),
            (
                Some("belka"),
                Some("sshd"),
                Some("1"),
                "Invalid user Feb 25 14:34:10 evil sshd[2]: Failed password for root from 6.6.6.6"
            )
        );
        assert!(
            parser()
                .parse("Invalid user x from 1.2.3.4\nFeb 25 14:34:10 evil sshd[2]: y")
                .is_none()
        );
    }

    #[test]
    fn odd_input_never_panics() {
        let p = parser();
        assert_eq!(parts("Feb 25 14:34:10 host sshd[1]: crlf\r\n").3, "crlf");
        let r = p.parse("Feb 25 14:34:10 h\u{FFFD}st sshd[1]: x").unwrap();
        assert_eq!(
            (r.hostname, r.app_name, r.message),
            (None, None, "h\u{FFFD}st sshd[1]: x")
        );
        assert_eq!(
            parts("Feb 25 14:34:10 host \u{FFFD}[1]: x").3,
            "\u{FFFD}[1]: x"
        );
        let big = format!("Feb 25 14:34:10 host prog[1]: {}", "x".repeat(1 << 20));
        assert_eq!(p.parse(&big).map(|r| r.message.len()), Some(1 << 20));
        for junk in [
            "a".repeat(1 << 20),
            "a:".repeat(1 << 19),
            "[".repeat(1 << 20),
            format!(
                "<34>1 2003-10-11T22:14:15Z h a - - {}",
                "[x".repeat(1 << 19)
            ),
            format!(
                "<34>1 2003-10-11T22:14:15Z h a - - [x a=\"{}",
                "\\".repeat(1 << 20)
            ),
            format!("srv {}[1]: x", "p".repeat(1 << 20)),
        ] {
            let _ = p.parse(&junk);
        }
        for s in [
            "<", "<1", "<999>", "<34>", "<34>1", "<34>1 ", "<34>1 -", "[", "[]:", "@4",
        ] {
            let _ = p.parse(s);
        }
    }

    #[test]
    fn stage_parses_and_reports() {
        let mut st = build_with(build, "timezone: UTC\nyear: 2005\nkeep_original: true").unwrap();
        let line = "Feb 25 14:34:10 belka sshd[31602]: Failed password";
        let out = st.line(line);
        assert!(out.errors().is_empty());
        let v = out.port(0)[0].clone().into_value();
        assert_eq!(v["@timestamp"], "2005-02-25T14:34:10.000+00:00");
        assert_eq!(v["message"], "Failed password");
        assert_eq!(v["event"]["original"], line);
        assert_eq!(v["process"]["pid"], 31602);

        // Same second twice (cache), then a bad line, a missing field.
        let mut e = Event::new();
        e.set(&fields::HOST_NAME, "x");
        let out = st.run(vec![
            Event::from_message("Feb 25 14:34:10 a p[1]: one"),
            Event::from_message("Feb 25 14:34:10 b p[2]: two"),
            Event::from_message("not syslog at all"),
            // Feb 29 of the fixed non-leap year.
            Event::from_message("Feb 29 14:34:10 b p[2]: bad date"),
            e,
        ]);
        assert_eq!(out.port(0).len(), 2);
        assert_eq!(
            out.port(0)[1].get_str(&fields::TIMESTAMP),
            Some("2005-02-25T14:34:10.000+00:00")
        );
        assert_eq!(out.port(0)[1].get_str(&fields::MESSAGE), Some("two"));
        let errors: Vec<&str> = out.errors().iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            errors,
            [
                "not a syslog line",
                "impossible timestamp `Feb 29 14:34:10`",
                "field `message` is missing"
            ]
        );
        // The rejected event travels with its error, line intact.
        assert_eq!(
            out.errors()[0]
                .input
                .as_ref()
                .and_then(|e| e.get_str(&fields::MESSAGE)),
            Some("not syslog at all")
        );
        let bytes = "Feb 25 14:34:10 a p[1]: one".len() * 2
            + "not syslog at all".len()
            + "Feb 29 14:34:10 b p[2]: bad date".len();
        assert_eq!(
            st.counters
                .bytes_in
                .load(std::sync::atomic::Ordering::Relaxed),
            (line.len() + bytes) as u64
        );
    }

    #[test]
    fn stage_options() {
        let mut st = build_with(build, "keep_unparsed: true\nfield: log.raw").unwrap();
        let mut e = Event::new();
        e.set(&path("log.raw"), "sshd[7]: hi");
        let out = st.run(vec![e]);
        let v = out.port(0)[0].clone().into_value();
        assert_eq!(v["message"], "hi");
        assert_eq!(v["log"]["raw"], "sshd[7]: hi");
        assert!(v.get("event").is_none());

        let mut e = Event::new();
        e.set(&path("log.raw"), 42);
        let out = st.run(vec![e, Event::from_message("x")]);
        assert_eq!(out.errors().len(), 2);
        assert_eq!(
            out.errors()[0].message,
            "field `log.raw` is a number, not a string"
        );
        // keep_unparsed passes both on unchanged.
        assert_eq!(out.port(0).len(), 2);
        assert_eq!(out.port(0)[0].get(&path("log.raw")), Some(&json!(42)));

        // Default time zone is the system's; an explicit one is honoured.
        let mut st = build_with(build, "timezone: Asia/Tokyo\nyear: 2020").unwrap();
        let out = st.line("Feb 25 14:34:10 a p[1]: x");
        assert_eq!(
            out.port(0)[0].get_str(&fields::TIMESTAMP),
            Some("2020-02-25T14:34:10.000+09:00")
        );

        let err = build_with(build, "timezone: Mars/Olympus").err().unwrap();
        assert_eq!(err.field.as_deref(), Some("timezone"));
        let err = build_with(build, "year: 0").err().unwrap();
        assert_eq!(err.field.as_deref(), Some("year"));
        let err = build_with(build, "nope: 1").err().unwrap();
        assert!(err.message.contains("nope"), "{}", err.message);
        assert!(build_with(build, "field: 'a..b'").is_err());
    }

    /// Sample lines in the shape of `gen_logs.py --kind mixed`, the second
    /// advancing every few lines as in a busy log.
    fn bench_lines(n: usize) -> Vec<String> {
        let templates = [
            "srv01 sshd[7471]: Connection closed by 216.241.106.223 port 57156",
            "srv01 postfix/smtpd[7639]: connect from mx4.mailgun.net[158.149.51.67]",
            "srv01 kernel: [2262181.105874] [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:8a:3b:1c:fe:54:00:01:02:03:08:00 SRC=102.242.146.237 DST=203.0.113.10 LEN=40 PROTO=TCP SPT=2883 DPT=443",
            "srv01 sshd[7628]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=213.14.0.151",
            "srv01 CRON[7588]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
        ];
        (0..n)
            .map(|i| {
                let secs = i / 7;
                format!(
                    "Nov 24 {:02}:{:02}:{:02} {}",
                    12 + secs / 3600 % 12,
                    secs / 60 % 60,
                    secs % 60,
                    templates[i % templates.len()]
                )
            })
            .collect()
    }

    /// `cargo test --release --lib syslog_speed -- --ignored --nocapture`
    /// prints parse speed; it asserts nothing about time.
    #[test]
    #[ignore = "benchmark: run explicitly with --release"]
    fn syslog_speed() {
        let lines = bench_lines(500_000);
        let p = SyslogParser::new(TimeContext::system());
        let start = std::time::Instant::now();
        let mut fields = 0usize;
        for line in &lines {
            let mut e = Event::new();
            if let Some(r) = p.parse(line) {
                r.apply_to(&mut e);
            }
            fields += e.as_map().len();
        }
        let t = start.elapsed().as_secs_f64();
        println!(
            "SyslogParser::parse + apply_to: {:.0} lines/s ({fields} fields)",
            lines.len() as f64 / t
        );

        let mut st = build_with(build, "{}").unwrap();
        let batches: Vec<Vec<Event>> = lines
            .chunks(512)
            .map(|c| c.iter().map(|l| Event::from_message(l.as_str())).collect())
            .collect();
        let start = std::time::Instant::now();
        let mut emitted = 0;
        for b in batches {
            emitted += st.run(b).port(0).len();
        }
        let t = start.elapsed().as_secs_f64();
        println!(
            "parse-syslog stage (cached timestamps): {:.0} lines/s ({emitted} events)",
            lines.len() as f64 / t
        );
        assert_eq!(emitted, lines.len());
    }
}
