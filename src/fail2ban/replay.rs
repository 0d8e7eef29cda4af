//! Running rule sets over raw log lines, as `logbus match` does: each line
//! is parsed the way its rule set expects (syslog, access log, or text with
//! a timestamp somewhere), then judged by the rule engine.
//!
//! Reading and parsing run on their own thread, judging on the caller's:
//! the two halves cost about the same, so a file is read at the speed of
//! the slower one instead of the sum.

use std::io::Read;
use std::sync::mpsc;

use super::engine::{Prefilter, RuleEngine};
use super::rules::InputKind;
use crate::event::Event;
use crate::stages::input::lines::LineReader;
use crate::stages::parse::access_log::{AccessLogFormat, AccessLogParser};
use crate::stages::parse::syslog::SyslogParser;
use crate::timestamp::{self, LogTime, TimeContext};

/// Lines handed from the parsing thread to the judge at once.
const CHUNK: usize = 256;

/// Turns raw lines into the events rules see.
#[derive(Debug, Clone)]
pub struct LineParser {
    prefilter: Prefilter,
    input: InputKind,
    syslog: SyslogParser,
    access: AccessLogParser,
    ctx: TimeContext,
}

impl LineParser {
    /// A parser for rule sets that read `input`; lines `prefilter` rules
    /// out are not turned into events.
    pub fn new(input: InputKind, prefilter: Prefilter, ctx: TimeContext) -> Self {
        Self {
            prefilter,
            input,
            syslog: SyslogParser::new(ctx.clone()),
            access: AccessLogParser::new(AccessLogFormat::Auto, ctx.clone()),
            ctx,
        }
    }

    /// The parser `engine`'s first rule set asks for.
    pub fn for_engine(engine: &RuleEngine, ctx: TimeContext) -> Self {
        Self::new(
            engine.sets().next().map(|s| s.input).unwrap_or_default(),
            engine.prefilter(),
            ctx,
        )
    }

    /// The event the rules see, and the line's time (not rendered: most
    /// lines match nothing, and rendering costs more than parsing). `None`
    /// when no rule can match the line.
    pub fn parse(&mut self, raw: &str) -> Option<(Event, Option<LogTime>)> {
        match self.input {
            InputKind::Syslog => {
                if let Some(rec) = self.syslog.parse(raw) {
                    if self.prefilter.rules_out(rec.app_name, rec.message) {
                        return None;
                    }
                    let mut e = Event::new();
                    rec.apply_without_time(&mut e);
                    return Some((e, rec.timestamp));
                }
            }
            InputKind::AccessLog => {
                if let Some(rec) = self.access.parse(raw) {
                    // Rules see the parsed fields and, in `message`, the line.
                    let mut e = Event::from_message(raw);
                    rec.apply_without_time(&mut e);
                    return Some((e, rec.timestamp));
                }
            }
            InputKind::Text => {}
        }
        if self.prefilter.rules_out(None, raw) {
            return None;
        }
        let time = timestamp::find(raw, &self.ctx).map(|(t, _)| t);
        Some((Event::from_message(raw), time))
    }
}

/// One line read from the file.
#[derive(Debug, Clone)]
pub struct ParsedLine {
    /// 1-based line number (every line counts, comments and blanks too).
    pub number: u64,
    /// The text, for `--print-missed`.
    pub text: String,
    /// What the line is.
    pub kind: LineKind,
}

/// A line as the judge gets it.
#[derive(Debug, Clone)]
pub enum LineKind {
    /// A comment or blank line: not a log line.
    Skip,
    /// A log line no rule can match.
    NoMatch,
    /// A log line for the rules, with its time.
    Event(Event, Option<LogTime>),
}

/// Reads and parses `reader` on a new thread; chunks of lines arrive on the
/// returned channel, then at most one read error.
pub fn parse_in_background<R: Read + Send + 'static>(
    reader: R,
    max_line: usize,
    mut parser: LineParser,
) -> mpsc::Receiver<Result<Vec<ParsedLine>, std::io::Error>> {
    let (tx, rx) = mpsc::sync_channel(8);
    std::thread::spawn(move || {
        let mut lines = LineReader::new(
            std::io::BufReader::with_capacity(256 * 1024, reader),
            max_line,
            0,
        );
        let mut chunk = Vec::with_capacity(CHUNK);
        let mut number = 0u64;
        loop {
            match lines.next_line(true) {
                Ok(Some(line)) => {
                    number += 1;
                    let text = line.text;
                    // Comment and blank lines are not log lines (annotated
                    // sample logs carry both).
                    let kind = if text.trim().is_empty() || text.starts_with('#') {
                        LineKind::Skip
                    } else {
                        match parser.parse(&text) {
                            Some((e, t)) => LineKind::Event(e, t),
                            None => LineKind::NoMatch,
                        }
                    };
                    chunk.push(ParsedLine { number, text, kind });
                    if chunk.len() == CHUNK && tx.send(Ok(std::mem::take(&mut chunk))).is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(Ok(std::mem::take(&mut chunk)));
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
        let _ = tx.send(Ok(chunk));
    });
    rx
}
