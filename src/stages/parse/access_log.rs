//! `parse-access-log`: parse nginx/Apache access log lines.
//!
//! Layouts (`format:`):
//! - `common`: `client ident user [time] "request" status bytes`
//! - `combined`: `common` + ` "referrer" "user agent"` (more fields may
//!   follow, as nginx and Traefik add them)
//! - `vhost_combined`: `vhost:port ` + `combined` (Apache)
//! - `auto` (default): `vhost_combined` when the first word is
//!   `host:port`, else `combined` when referrer and user agent follow the
//!   byte count, else `common`.
//!
//! # Trust
//!
//! `client.ip` comes only from the first field (the second for
//! `vhost_combined`), which the web server writes, and only when it parses
//! as an IP address (`999.1.1.1` and `1.2.3` do not; `::ffff:1.2.3.4`
//! becomes `1.2.3.4`); anything else (a host name) goes to `client.address`
//! instead. The user,
//! request, referrer and user agent are attacker-controlled. Both servers
//! escape `"` inside them (nginx as `\x22`, Apache as `\"`), so a quote
//! that is not escaped ends a field, and the time is the first `[...]`
//! valid CLF stamp followed by ` "`, which a user name cannot fake. Fields
//! keep their escapes as written (`\x16\x03` stays visible to rules).

use std::net::IpAddr;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::common::{LineField, LineParserStage, TimestampCache, default_field, put};
use crate::event::{Event, FieldPath};
use crate::pipeline::{BuildContext, BuildError, BuiltStage, Outbox, StageCounters};
use crate::stages::{Module, ModuleKind};
use crate::timestamp::{self, LogTime, RawTime, TimeContext, TimeFormat};

/// Registry entry.
pub const MODULE: Module = Module {
    name: "parse-access-log",
    kind: ModuleKind::Parser,
    summary: "parse nginx/Apache access log lines",
    build,
};

/// Longest request method taken as one.
const MAX_METHOD: usize = 32;

/// Which access log layout to expect.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessLogFormat {
    /// Recognise the layout per line.
    #[default]
    Auto,
    /// NCSA combined: common + referrer and user agent.
    Combined,
    /// NCSA common.
    Common,
    /// Apache's `vhost_combined`: `vhost:port` + combined.
    VhostCombined,
}

/// Parses access log lines; reusable outside the pipeline.
#[derive(Debug, Clone)]
pub struct AccessLogParser {
    format: AccessLogFormat,
    ctx: TimeContext,
}

/// One parsed line; text fields borrow from it, as written (escapes kept).
#[derive(Debug, Clone, PartialEq)]
pub struct AccessRecord<'a> {
    /// The virtual host (`vhost_combined`), without the port.
    pub vhost: Option<&'a str>,
    /// The virtual host's port.
    pub vhost_port: Option<u16>,
    /// The client field as written (address or host name).
    pub client: &'a str,
    /// The client field as an IP address, IPv4-mapped IPv6 made IPv4.
    pub client_ip: Option<IpAddr>,
    /// The authenticated user; `None` for `-`.
    pub user: Option<&'a str>,
    /// The request time.
    pub timestamp: Option<LogTime>,
    /// The request line as written, between its quotes.
    pub request: &'a str,
    /// The method, when the request line has the shape `METHOD target [HTTP/x]`.
    pub method: Option<&'a str>,
    /// The request target (URL), with the method.
    pub target: Option<&'a str>,
    /// The HTTP version without `HTTP/` (`1.1`), when written.
    pub http_version: Option<&'a str>,
    /// The response status; `None` for `-`.
    pub status: Option<u16>,
    /// Bytes sent; `None` for `-`.
    pub bytes: Option<u64>,
    /// The referrer; `None` for `-` or in `common`.
    pub referrer: Option<&'a str>,
    /// The user agent; `None` for `-` or in `common`.
    pub user_agent: Option<&'a str>,
}

/// A record with its timestamp still text (the stage caches renderings).
struct Scanned<'a> {
    record: AccessRecord<'a>,
    time: (RawTime, &'a str),
}

impl AccessLogParser {
    /// A parser for `format`, resolving times without offset with `ctx`.
    pub fn new(format: AccessLogFormat, ctx: TimeContext) -> Self {
        Self { format, ctx }
    }

    /// Parses one line (a trailing CR/LF is ignored); `None` when it does
    /// not have the layout.
    pub fn parse<'a>(&self, line: &'a str) -> Option<AccessRecord<'a>> {
        let Scanned { mut record, time } = scan(line, self.format)?;
        record.timestamp = Some(time.0.resolve(&self.ctx)?);
        Some(record)
    }
}

impl AccessRecord<'_> {
    /// Fills the ECS fields: `client.ip` (or `client.address` when the
    /// client is not an IP address), `user.name`, `@timestamp`,
    /// `http.*`, `url.*`, `user_agent.original`, and `host.name` /
    /// `url.domain` / `url.port` from the virtual host.
    pub fn apply_to(&self, event: &mut Event) {
        self.apply_with(event, self.timestamp.as_ref().map(LogTime::to_rfc3339));
    }

    /// Sets every field but `@timestamp` (see the syslog record's twin).
    pub fn apply_without_time(&self, event: &mut Event) {
        self.apply_with(event, None);
    }

    fn apply_with(&self, event: &mut Event, timestamp: Option<String>) {
        if let Some(ts) = timestamp {
            put(event, &["@timestamp"], Value::String(ts));
        }
        match self.client_ip {
            // std's IPv4 parser takes only the canonical dotted quad, so the
            // text as written is already what `to_string` would give.
            Some(IpAddr::V4(_)) if !self.client.contains(':') => {
                put(event, &["client", "ip"], Value::from(self.client));
            }
            Some(ip) => put(event, &["client", "ip"], Value::String(ip.to_string())),
            None => put(event, &["client", "address"], Value::from(self.client)),
        }
        if let Some(user) = self.user {
            put(event, &["user", "name"], Value::from(user));
        }
        if let Some(method) = self.method {
            put(event, &["http", "request", "method"], Value::from(method));
        }
        if let Some(target) = self.target {
            put(event, &["url", "original"], Value::from(target));
            let parts = UrlParts::of(target);
            if let Some(path) = parts.path {
                put(event, &["url", "path"], Value::from(path));
            }
            if let Some(query) = parts.query {
                put(event, &["url", "query"], Value::from(query));
            }
            if let Some(fragment) = parts.fragment {
                put(event, &["url", "fragment"], Value::from(fragment));
            }
        }
        if let Some(version) = self.http_version {
            put(event, &["http", "version"], Value::from(version));
        }
        if let Some(status) = self.status {
            put(
                event,
                &["http", "response", "status_code"],
                Value::from(status),
            );
        }
        if let Some(bytes) = self.bytes {
            put(
                event,
                &["http", "response", "body", "bytes"],
                Value::from(bytes),
            );
        }
        if let Some(referrer) = self.referrer {
            put(
                event,
                &["http", "request", "referrer"],
                Value::from(referrer),
            );
        }
        if let Some(agent) = self.user_agent {
            put(event, &["user_agent", "original"], Value::from(agent));
        }
        if let Some(vhost) = self.vhost {
            put(event, &["host", "name"], Value::from(vhost));
            put(event, &["url", "domain"], Value::from(vhost));
        }
        if let Some(port) = self.vhost_port {
            put(event, &["url", "port"], Value::from(port));
        }
    }
}

/// A request target split into path, query and fragment.
#[derive(Debug, PartialEq)]
struct UrlParts<'a> {
    path: Option<&'a str>,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
}

impl<'a> UrlParts<'a> {
    /// Origin form (`/a?b#c`) and absolute form (`http://h/a?b`) have a
    /// path; authority form (`host:443`) and `*` do not.
    fn of(target: &'a str) -> Self {
        let rest = if target.starts_with('/') {
            Some(target)
        } else {
            target
                .split_once("://")
                .and_then(|(_, after)| after.find('/').and_then(|i| after.get(i..)))
        };
        let Some(rest) = rest else {
            return Self {
                path: None,
                query: None,
                fragment: None,
            };
        };
        let (before_fragment, fragment) = match rest.split_once('#') {
            Some((b, f)) => (b, Some(f)),
            None => (rest, None),
        };
        let (path, query) = match before_fragment.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (before_fragment, None),
        };
        Self {
            path: Some(path),
            query: query.filter(|q| !q.is_empty()),
            fragment: fragment.filter(|f| !f.is_empty()),
        }
    }
}

/// Splits a line, leaving the time unresolved.
fn scan(line: &str, format: AccessLogFormat) -> Option<Scanned<'_>> {
    let line = line.trim_end_matches(['\n', '\r']);
    let b = line.as_bytes();
    let (first, mut i) = token(line, 0)?;
    let vhost_split = split_vhost(first);
    let with_vhost = match format {
        AccessLogFormat::VhostCombined => true,
        AccessLogFormat::Auto => vhost_split.is_some(),
        AccessLogFormat::Combined | AccessLogFormat::Common => false,
    };
    let (vhost, vhost_port, client) = if with_vhost {
        let (host, port) = vhost_split?;
        let (client, next) = token(line, i)?;
        i = next;
        (Some(host), Some(port), client)
    } else {
        (None, None, first)
    };
    let (_ident, next) = token(line, i)?;
    let user_start = next;
    // The time: the first ` [` + CLF stamp + `] "` after the ident.
    let mut search = user_start;
    let (user_end, time, time_len) = loop {
        let at = search + memchr::memchr(b'[', b.get(search..)?)?;
        if at > user_start
            && b.get(at - 1) == Some(&b' ')
            && let Some((raw, len)) = timestamp::scan_prefix(b.get(at..)?, false)
            && raw.format == TimeFormat::Clf
            && b.get(at + len..at + len + 2) == Some(b" \"".as_slice())
        {
            break (at - 1, raw, len);
        }
        search = at + 1;
    };
    let user = line.get(user_start..user_end)?;
    let time_text = line.get(user_end + 1..user_end + 1 + time_len)?;
    let req_start = user_end + 1 + time_len + 2;
    // The request ends at the quote followed by ` <status> `.
    let status_follows = |q: usize| {
        let digits = b.get(q + 1) == Some(&b' ')
            && b.get(q + 2..q + 5)
                .is_some_and(|s| s.iter().all(u8::is_ascii_digit))
            && matches!(b.get(q + 5), None | Some(b' '));
        digits || b.get(q + 1..q + 4) == Some(b" - ".as_slice())
    };
    let req_end = closing_quote(b, req_start, status_follows)?;
    let request = line.get(req_start..req_end)?;
    let (status_text, i) = token(line, req_end + 2)?;
    let (bytes_text, i) = match token(line, i) {
        Some(t) => t,
        None => (line.get(i..)?, line.len()),
    };
    let status = number::<u16>(status_text)?;
    let bytes = number::<u64>(bytes_text)?;
    let rest = line.get(i..)?;
    let wants_agent = matches!(
        format,
        AccessLogFormat::Combined | AccessLogFormat::VhostCombined
    ) || (format == AccessLogFormat::Auto && rest.starts_with('"'));
    let (referrer, user_agent) = if wants_agent {
        referrer_and_agent(line, i)?
    } else {
        (None, None)
    };
    let (method, target, http_version) = split_request(request);
    Some(Scanned {
        record: AccessRecord {
            vhost,
            vhost_port,
            client,
            client_ip: client_ip(client),
            user: dash(user),
            timestamp: None,
            request,
            method,
            target,
            http_version,
            status,
            bytes,
            referrer,
            user_agent,
        },
        time: (time, time_text),
    })
}

/// `"referrer" "agent"` at `i`, followed by the end or a space.
fn referrer_and_agent(line: &str, i: usize) -> Option<(Option<&str>, Option<&str>)> {
    let b = line.as_bytes();
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let ref_end = closing_quote(b, i + 1, |q| b.get(q + 1..q + 3) == Some(b" \"".as_slice()))?;
    let ua_start = ref_end + 3;
    let ua_end = closing_quote(b, ua_start, |q| matches!(b.get(q + 1), None | Some(b' ')))?;
    Some((
        dash(line.get(i + 1..ref_end)?),
        dash(line.get(ua_start..ua_end)?),
    ))
}

/// The index of the quote closing a field that starts at `start`: the
/// first unescaped `"` for which `accept` holds. Should nothing qualify
/// (a server that does not escape backslashes), backslashes are taken as
/// plain text and the search is repeated.
fn closing_quote(b: &[u8], start: usize, accept: impl Fn(usize) -> bool) -> Option<usize> {
    for escapes in [true, false] {
        let mut i = start;
        while let Some(&c) = b.get(i) {
            match c {
                b'\\' if escapes => i += 2,
                b'"' if accept(i) => return Some(i),
                _ => i += 1,
            }
        }
    }
    None
}

/// A space-free word at `i` and the index after its separating space (or
/// the end). `None` for an empty word.
fn token(line: &str, i: usize) -> Option<(&str, usize)> {
    let rest = line.get(i..)?;
    match rest.find(' ') {
        Some(0) => None,
        Some(n) => Some((rest.get(..n)?, i + n + 1)),
        None if rest.is_empty() => None,
        None => Some((rest, line.len())),
    }
}

/// `host:port` of a virtual host (`[v6]:port` too); a bare IPv6 address
/// (`2001:db8::1`) is not one.
fn split_vhost(w: &str) -> Option<(&str, u16)> {
    let (host, port) = w.rsplit_once(':')?;
    let port = number::<u16>(port)??;
    let host_ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        inner.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'))
    };
    host_ok.then_some((host, port))
}

/// A decimal number, `None` inside for `-`; outer `None` when neither.
fn number<T: std::str::FromStr>(s: &str) -> Option<Option<T>> {
    if s == "-" {
        return Some(None);
    }
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().map(Some)
}

/// `None` for the CLF placeholder `-` (and for nothing at all).
fn dash(s: &str) -> Option<&str> {
    (s != "-" && !s.is_empty()).then_some(s)
}

/// The client field as an address: only a whole, valid IP (`999.1.1.1`,
/// `1.2.3`, `01.2.3.4` and zones are refused); IPv4-mapped IPv6 made IPv4.
fn client_ip(s: &str) -> Option<IpAddr> {
    match s.parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) => Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)),
        v4 => Some(v4),
    }
}

/// `METHOD target [HTTP/version]`; all `None` when the request line has
/// not that shape (TLS bytes, `-`, a lone word).
fn split_request(req: &str) -> (Option<&str>, Option<&str>, Option<&str>) {
    let Some((method, rest)) = req.split_once(' ') else {
        return (None, None, None);
    };
    let method_ok = !method.is_empty()
        && method.len() <= MAX_METHOD
        && method
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_'));
    if !method_ok {
        return (None, None, None);
    }
    let (target, version) = match rest.rsplit_once(' ') {
        Some((t, proto)) if proto.starts_with("HTTP/") => (t, proto.get(5..)),
        _ => (rest, None),
    };
    if target.is_empty() {
        return (None, None, None);
    }
    (
        Some(method),
        Some(target),
        version.filter(|v| !v.is_empty()),
    )
}

/// Options of `parse-access-log`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessLogConfig {
    /// The field holding the line.
    #[serde(default = "default_field")]
    field: FieldPath,
    /// `auto`, `combined`, `common` or `vhost_combined`.
    #[serde(default)]
    format: AccessLogFormat,
    /// Pass lines that do not parse on, unchanged, besides the error.
    #[serde(default)]
    keep_unparsed: bool,
    /// Keep the raw line in `event.original`.
    #[serde(default)]
    keep_original: bool,
}

fn build(ctx: &BuildContext) -> Result<BuiltStage, BuildError> {
    let cfg: AccessLogConfig = ctx.options()?;
    Ok(BuiltStage::processor(AccessLogStage {
        line: LineField {
            field: cfg.field,
            keep_unparsed: cfg.keep_unparsed,
            keep_original: cfg.keep_original,
        },
        parser: AccessLogParser::new(cfg.format, TimeContext::system()),
        cache: TimestampCache::default(),
        counters: ctx.counters.clone(),
    }))
}

struct AccessLogStage {
    line: LineField,
    parser: AccessLogParser,
    cache: TimestampCache,
    counters: Arc<StageCounters>,
}

impl AccessLogStage {
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
        let Some(scanned) = scan(&line, self.parser.format) else {
            self.line
                .reject(event, Some(line), "not an access log line".into(), out);
            return len;
        };
        let (raw, text) = scanned.time;
        let ctx = &self.parser.ctx;
        let Some(ts) = self
            .cache
            .render(text, || raw.resolve(ctx).map(|t| t.to_rfc3339()))
        else {
            let msg = format!("impossible timestamp `{text}`");
            self.line.reject(event, Some(line), msg, out);
            return len;
        };
        scanned.record.apply_with(&mut event, Some(ts));
        self.line.finish(&mut event, line, false);
        out.emit(event);
        len
    }
}

impl LineParserStage for AccessLogStage {
    fn handle(&mut self, event: Event, out: &mut Outbox) -> usize {
        AccessLogStage::handle(self, event, out)
    }

    fn counters(&self) -> &StageCounters {
        &self.counters
    }
}

#[cfg(test)]
mod tests {
    use jiff::tz::TimeZone;
    use serde_json::json;

    use super::super::common::testing::build_with;
    use super::*;
    use crate::event::fields;

    fn parser(format: AccessLogFormat) -> AccessLogParser {
        AccessLogParser::new(format, TimeContext::system().with_tz(TimeZone::UTC))
    }

    fn rec(line: &str) -> AccessRecord<'_> {
        parser(AccessLogFormat::Auto)
            .parse(line)
            .unwrap_or_else(|| panic!("did not parse: {line:?}"))
    }

    fn event_of(line: &str) -> Value {
        let mut e = Event::new();
        rec(line).apply_to(&mut e);
        e.into_value()
    }

    #[test]
    fn combined_fills_ecs_fields() {
        let v = event_of(
            r#"192.0.2.7 - alice [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif?a=1&b=2#top HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#,
        );
        assert_eq!(
            v,
            json!({
                "@timestamp": "2000-10-10T13:55:36.000-07:00",
                "client": {"ip": "192.0.2.7"},
                "user": {"name": "alice"},
                "http": {
                    "request": {"method": "GET", "referrer": "http://www.example.com/start.html"},
                    "response": {"status_code": 200, "body": {"bytes": 2326}},
                    "version": "1.0",
                },
                "url": {"original": "/apache_pb.gif?a=1&b=2#top", "path": "/apache_pb.gif", "query": "a=1&b=2", "fragment": "top"},
                "user_agent": {"original": "Mozilla/4.08 [en] (Win98; I ;Nav)"},
            })
        );
    }

    #[test]
    fn common_and_dashes() {
        let r = rec(r#"127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 304 -"#);
        assert_eq!(
            (r.user, r.status, r.bytes, r.referrer, r.user_agent),
            (None, Some(304), None, None, None)
        );
        let v = event_of(
            r#"127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 304 - "-" "-""#,
        );
        assert!(v.get("user").is_none() && v.get("user_agent").is_none());
        assert!(v["http"]["request"].get("referrer").is_none());
        assert!(v["http"]["response"].get("body").is_none());
        // format: common ignores what follows the byte count.
        let r = parser(AccessLogFormat::Common)
            .parse(r#"1.2.3.4 - - [05/Mar/2007:14:39:21 +0100] "GET / HTTP/1.0" 301 459 "http://r" "UA""#)
            .unwrap();
        assert_eq!((r.referrer, r.user_agent), (None, None));
        // format: combined insists on them.
        assert!(
            parser(AccessLogFormat::Combined)
                .parse(r#"1.2.3.4 - - [05/Mar/2007:14:39:21 +0100] "GET / HTTP/1.0" 301 459"#)
                .is_none()
        );
    }

    #[test]
    fn vhost_combined() {
        let line = r#"www.example.com:443 2001:db8::7 - - [05/Mar/2007:14:39:21 +0100] "GET /x HTTP/1.1" 200 5 "-" "curl/8""#;
        let v = event_of(line);
        assert_eq!(v["host"]["name"], "www.example.com");
        assert_eq!(v["url"]["domain"], "www.example.com");
        assert_eq!(v["url"]["port"], 443);
        assert_eq!(v["client"]["ip"], "2001:db8::7");
        let r = parser(AccessLogFormat::VhostCombined).parse(line).unwrap();
        assert_eq!(
            (r.vhost, r.client),
            (Some("www.example.com"), "2001:db8::7")
        );
        // A bare IPv6 client is not taken for `host:port`.
        let r =
            rec(r#"2001:db8::1 - - [05/Mar/2007:14:39:21 +0100] "GET / HTTP/1.1" 200 5 "-" "x""#);
        assert_eq!((r.vhost, r.client_ip), (None, "2001:db8::1".parse().ok()));
        assert!(
            parser(AccessLogFormat::VhostCombined)
                .parse(r#"1.2.3.4 - - [05/Mar/2007:14:39:21 +0100] "GET / HTTP/1.1" 200 5 "-" "x""#)
                .is_none()
        );
    }

    #[test]
    fn corpus_lines() {
        // nginx-botsearch (nginx adds "$http_x_forwarded_for").
        let r = rec(
            r#"12.34.56.78 - - [20/Jan/2015:19:53:28 +0100] "GET //phpMyAdmin-2.8.2.3/scripts/setup.php HTTP/1.1" 404 47 "-" "-" "-""#,
        );
        assert_eq!(r.client_ip, "12.34.56.78".parse().ok());
        assert_eq!(
            (r.method, r.target, r.status),
            (
                Some("GET"),
                Some("//phpMyAdmin-2.8.2.3/scripts/setup.php"),
                Some(404)
            )
        );
        assert_eq!(
            r.timestamp.map(|t| t.to_rfc3339()).as_deref(),
            Some("2015-01-20T19:53:28.000+01:00")
        );
        assert_eq!(rec(r#"2.5.2.5 - tomcat [12/Dec/2014:22:59:02 +0100] "GET /cgi-bin/tools/tools.pl HTTP/1.1" 404 162 "-" "-" "-""#).user, Some("tomcat"));
        // nginx-bad-request: empty, binary, lone word, CONNECT.
        let r = rec(r#"12.34.56.78 - - [20/Jan/2015:19:53:28 +0100] "" 400 47 "-" "-" "-""#);
        assert_eq!(
            (r.request, r.method, r.target, r.status),
            ("", None, None, Some(400))
        );
        let r = rec(
            r#"12.34.56.78 - - [20/Jan/2015:19:53:28 +0100] "\x03\x00\x00/*\xE0\x00\x00\x00\x00\x00Cookie: mstshash=Administr" 400 47 "-" "-" "-""#,
        );
        assert_eq!((r.method, r.target), (None, None));
        assert_eq!(
            r.request,
            r"\x03\x00\x00/*\xE0\x00\x00\x00\x00\x00Cookie: mstshash=Administr"
        );
        assert_eq!(
            rec(r#"12.34.56.78 - - [20/Jan/2015:19:54:28 +0100] "HELP" 400 47 "-" "-" "-""#).method,
            None
        );
        let v = event_of(
            r#"7.8.9.10 - root [20/Jan/2015:01:17:07 +0100] "CONNECT 123.123.123.123 HTTP/1.1" 400 162 "-" "-" "-""#,
        );
        assert_eq!(v["url"], json!({"original": "123.123.123.123"}));
        assert_eq!(v["http"]["request"]["method"], "CONNECT");
        // apache-badbots.
        let r = rec(
            r#"1.2.3.4 - - [05/Mar/2007:14:39:21 +0100] "POST /123.html/trackback/ HTTP/1.0" 301 459 "http://www.mydomain.tld/123.html/trackback" "TrackBack/1.02""#,
        );
        assert_eq!(
            (r.referrer, r.user_agent),
            (
                Some("http://www.mydomain.tld/123.html/trackback"),
                Some("TrackBack/1.02")
            )
        );
        // traefik-auth: CRLF and extra fields after the agent.
        let r = rec(
            "10.0.0.2 - username [18/Nov/2018:21:34:30 +0000] \"GET /dashboard/ HTTP/2.0\" 401 17 \"-\" \"Mozilla/5.0 (X11; Linux x86_64; rv:57.0) Gecko/20100101 Firefox/57.0\" 72 \"Auth for frontend-Host-traefik-0\" \"/dashboard/\" 0ms\r",
        );
        assert_eq!(
            (r.user, r.status, r.http_version),
            (Some("username"), Some(401), Some("2.0"))
        );
        assert_eq!(
            r.user_agent,
            Some("Mozilla/5.0 (X11; Linux x86_64; rv:57.0) Gecko/20100101 Firefox/57.0")
        );
        // gen_logs.py --kind nginx: TLS on the HTTP port, IPv6, PRI.
        let r = rec(
            r#"59.26.17.223 - - [24/Nov/2025:12:00:48 +0000] "\x16\x03\x01\x13\x51\xDF" 400 157 "-" "-""#,
        );
        assert_eq!((r.method, r.status, r.user_agent), (None, Some(400), None));
        let r = rec(
            r#"2800:631:f96f:6196::1a - - [24/Nov/2025:12:00:00 +0000] "GET /docs/config#pipeline HTTP/1.1" 200 33832 "https://duckduckgo.com/" "Mozilla/5.0""#,
        );
        assert_eq!(r.client_ip, "2800:631:f96f:6196::1a".parse().ok());
        assert_eq!(
            rec(
                r#"59.26.17.223 - - [24/Nov/2025:12:01:40 +0000] "PRI * HTTP/2.0" 400 157 "-" "-""#
            )
            .target,
            Some("*")
        );
    }

    #[test]
    fn escaped_quotes_stay_inside_fields() {
        // Apache escapes `"` as `\"`, nginx as `\x22`.
        let r = rec(
            r#"1.2.3.4 - - [05/Mar/2007:14:39:21 +0100] "GET /a\"b HTTP/1.1" 404 1 "r\"ef" "ua \"quoted\" 1.2.3.4""#,
        );
        assert_eq!((r.target, r.status), (Some(r#"/a\"b"#), Some(404)));
        assert_eq!(
            (r.referrer, r.user_agent),
            (Some(r#"r\"ef"#), Some(r#"ua \"quoted\" 1.2.3.4"#))
        );
        let r = rec(
            r#"1.2.3.4 - - [05/Mar/2007:14:39:21 +0100] "GET /a\x22b HTTP/1.1" 404 1 "-" "x\x22 200 5""#,
        );
        assert_eq!(
            (r.target, r.user_agent),
            (Some(r"/a\x22b"), Some(r"x\x22 200 5"))
        );
        // A server that does not escape: the quote followed by a status wins.
        let r =
            rec(r#"1.2.3.4 - - [05/Mar/2007:14:39:21 +0100] "GET /a"b HTTP/1.1" 404 1 "-" "-""#);
        assert_eq!((r.target, r.status), (Some(r#"/a"b"#), Some(404)));
        let r = rec(r#"1.2.3.4 - - [05/Mar/2007:14:39:21 +0100] "GET /a\ HTTP/1.1" 404 1 "-" "-""#);
        assert_eq!((r.target, r.status), (Some(r"/a\"), Some(404)));
    }

    #[test]
    fn client_ip_only_from_a_valid_first_field() {
        for (client, ip) in [
            ("999.1.1.1", None),
            ("1.2.3", None),
            ("01.2.3.4", None),
            ("1.2.3.4.5", None),
            ("fe80::1%eth0", None),
            ("example.com", None),
            ("::ffff:192.0.2.1", Some("192.0.2.1")),
            ("::1", Some("::1")),
            ("2001:DB8:0:0:0:0:0:1", Some("2001:db8::1")),
        ] {
            let line = format!(
                r#"{client} - - [05/Mar/2007:14:39:21 +0100] "GET / HTTP/1.1" 200 5 "-" "-""#
            );
            let v = event_of(&line);
            assert_eq!(
                v["client"].get("ip").and_then(Value::as_str),
                ip,
                "{client}"
            );
            let address = v["client"].get("address").and_then(Value::as_str);
            assert_eq!(address, ip.is_none().then_some(client), "{client}");
        }
    }

    #[test]
    fn injection_never_moves_client_ip() {
        // Fake addresses and a fake second line in URL, agent, referrer, user.
        let line = r#"192.0.2.9 - - [05/Mar/2007:14:39:21 +0100] "GET /?x=1.2.3.4%0a6.6.6.6 - - [05/Mar/2007:14:39:21 +0100] HTTP/1.1" 401 5 "1.2.3.4" "6.6.6.6 - - [05/Mar/2007:14:39:21 +0100] \"GET / HTTP/1.1\" 200 5 \"-\" \"-\"""#;
        let r = rec(line);
        assert_eq!(r.client_ip, "192.0.2.9".parse().ok());
        assert_eq!(r.status, Some(401));
        // A user name holding a fake stamp cannot shift the fields (servers
        // escape the quote it would need).
        let line = r#"192.0.2.9 - x [01/Jan/2000:00:00:00 +0000] \"GET /ok HTTP/1.1\" 200 [05/Mar/2007:14:39:21 +0100] "GET /admin HTTP/1.1" 401 5 "-" "-""#;
        let r = rec(line);
        assert_eq!((r.status, r.target), (Some(401), Some("/admin")));
        assert_eq!(
            r.user,
            Some(r#"x [01/Jan/2000:00:00:00 +0000] \"GET /ok HTTP/1.1\" 200"#)
        );
        assert_eq!(r.client_ip, "192.0.2.9".parse().ok());
        // A user name with a space is fine too.
        assert_eq!(
            rec(r#"192.0.2.9 - john doe [05/Mar/2007:14:39:21 +0100] "GET / HTTP/1.1" 401 5"#).user,
            Some("john doe")
        );
    }

    #[test]
    fn garbage_and_huge_lines() {
        let p = parser(AccessLogFormat::Auto);
        for line in [
            "",
            "-",
            "1.2.3.4",
            "1.2.3.4 - - [05/Mar/2007:14:39:21 +0100]",
            r#"1.2.3.4 - - [05/Mar/2007:14:39:21 +0100] "GET / HTTP/1.1""#,
            r#"1.2.3.4 - - [05/Mar/2007:14:39:21 +0100] "GET / HTTP/1.1" abc 5"#,
            r#"1.2.3.4 - - [31/Feb/2007:14:39:21 +0100] "GET / HTTP/1.1" 200 5"#,
            r#"1.2.3.4 - - [05/Mar/2007 14:39:21] "GET / HTTP/1.1" 200 5"#,
            r#"1.2.3.4 - - [05/Mar/2007:14:39:21 +0100] "GET / HTTP/1.1" 200 5 "unterminated"#,
            "Feb 25 14:34:10 host sshd[1]: not an access log",
            "\u{FFFD}\u{FFFD} - - [\u{FFFD}",
        ] {
            assert!(p.parse(line).is_none(), "{line:?} parsed");
        }
        let big_url = "a".repeat(1 << 20);
        let line = format!(
            r#"1.2.3.4 - - [05/Mar/2007:14:39:21 +0100] "GET /{big_url} HTTP/1.1" 414 5 "-" "-""#
        );
        assert_eq!(
            p.parse(&line).and_then(|r| r.target.map(str::len)),
            Some((1 << 20) + 1)
        );
        for junk in [
            format!("1.2.3.4 - - {}", " [".repeat(1 << 19)),
            format!(
                r#"1.2.3.4 - - [05/Mar/2007:14:39:21 +0100] "{}"#,
                "\\\"".repeat(1 << 19)
            ),
            format!(
                r#"1.2.3.4 - - [05/Mar/2007:14:39:21 +0100] "GET / HTTP/1.1" 200 5 "{}"#,
                "\" ".repeat(1 << 19)
            ),
            "[".repeat(1 << 20),
        ] {
            let _ = p.parse(&junk);
        }
        // Replacement characters inside fields are just text.
        let r = rec(
            "1.2.3.4 - - [05/Mar/2007:14:39:21 +0100] \"GET /\u{FFFD} HTTP/1.1\" 200 5 \"-\" \"\u{FFFD}\"",
        );
        assert_eq!(
            (r.target, r.user_agent),
            (Some("/\u{FFFD}"), Some("\u{FFFD}"))
        );
    }

    #[test]
    fn url_parts() {
        let parts = |t| {
            let p = UrlParts::of(t);
            (p.path, p.query, p.fragment)
        };
        assert_eq!(parts("/a/b?c=d"), (Some("/a/b"), Some("c=d"), None));
        assert_eq!(parts("/a?"), (Some("/a"), None, None));
        assert_eq!(parts("http://h.example/p?q"), (Some("/p"), Some("q"), None));
        assert_eq!(parts("http://h.example"), (None, None, None));
        assert_eq!(parts("*"), (None, None, None));
        assert_eq!(parts("/a#f?x"), (Some("/a"), None, Some("f?x")));
    }

    #[test]
    fn stage_parses_and_reports() {
        let mut st = build_with(build, "format: combined\nkeep_original: true").unwrap();
        let line = r#"1.2.3.4 - - [05/Mar/2007:14:39:21 +0100] "GET / HTTP/1.1" 200 5 "-" "x""#;
        let out = st.run(vec![
            Event::from_message(line),
            Event::from_message(line),
            Event::from_message("garbage"),
        ]);
        assert_eq!(out.port(0).len(), 2);
        let v = out.port(0)[1].clone().into_value();
        assert_eq!(v["message"], line);
        assert_eq!(v["event"]["original"], line);
        assert_eq!(v["@timestamp"], "2007-03-05T14:39:21.000+01:00");
        assert_eq!(out.errors().len(), 1);
        assert_eq!(out.errors()[0].message, "not an access log line");
        assert_eq!(
            st.counters
                .bytes_in
                .load(std::sync::atomic::Ordering::Relaxed),
            (line.len() * 2 + "garbage".len()) as u64
        );

        let mut st = build_with(build, "keep_unparsed: true").unwrap();
        let out = st.line("garbage");
        assert_eq!(out.port(0)[0].get_str(&fields::MESSAGE), Some("garbage"));
        assert_eq!(out.errors().len(), 1);

        assert!(build_with(build, "format: apache").is_err());
        assert!(build_with(build, "year: 2000").is_err());
    }

    /// `cargo test --release --lib access_log_speed -- --ignored --nocapture`
    /// prints parse speed; it asserts nothing about time.
    #[test]
    #[ignore = "benchmark: run explicitly with --release"]
    fn access_log_speed() {
        let templates = [
            r#"25.84.241.40 - - [24/Nov/2025:12:00:SS +0000] "GET /login HTTP/1.1" 200 21233 "https://news.ycombinator.com/" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15""#,
            r#"2800:631:f96f:6196::1a - - [24/Nov/2025:12:00:SS +0000] "GET /docs/config#pipeline HTTP/1.1" 200 33832 "https://duckduckgo.com/" "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0""#,
            r#"192.168.0.78 - - [24/Nov/2025:12:00:SS +0000] "GET /healthz HTTP/1.1" 200 2 "-" "kube-probe/1.29""#,
            r#"59.26.17.223 - - [24/Nov/2025:12:00:SS +0000] "\x16\x03\x01\x13\x51\xDF\x0E\xFB" 400 157 "-" "-""#,
        ];
        let lines: Vec<String> = (0..500_000)
            .map(|i| templates[i % templates.len()].replace("SS", &format!("{:02}", i / 9 % 60)))
            .collect();
        let p = parser(AccessLogFormat::Auto);
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
            "AccessLogParser::parse + apply_to: {:.0} lines/s ({fields} fields)",
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
            "parse-access-log stage: {:.0} lines/s ({emitted} events)",
            lines.len() as f64 / t
        );
        assert_eq!(emitted, lines.len());
    }
}
