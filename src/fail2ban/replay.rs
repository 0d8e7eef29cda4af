//! Running rule sets over raw log lines, as `logbus match` does: each line
//! is parsed the way its rule set expects (syslog, access log, or text with
//! a timestamp somewhere), then judged by the rule engine.
//!
//! Reading and parsing run on their own thread, judging on the caller's:
//! the two halves cost about the same, so a file is read at the speed of
//! the slower one instead of the sum.

use std::io::Read;
use std::sync::mpsc;

use super::engine::{Candidates, RuleEngine, Scanner};
use super::rules::InputKind;
use crate::event::Event;
use crate::stages::input::lines::LineReader;
use crate::stages::parse::access_log::{AccessLogFormat, AccessLogParser};
use crate::stages::parse::syslog::SyslogParser;
use crate::timestamp::{self, LogTime, RawTime, TimeContext};

/// Lines handed from the parsing thread to the judge at once.
const CHUNK: usize = 256;
/// Spent events kept for reuse: about the chunks in flight.
const POOL: usize = 32 * CHUNK;

/// A line's time, resolved (year, zone) only when someone asks: most lines
/// judged are not failures, and resolving costs more than parsing.
#[derive(Debug, Clone)]
pub struct LineTime(TimeState);

#[derive(Debug, Clone)]
enum TimeState {
    Resolved(LogTime),
    Raw(RawTime),
}

impl LineTime {
    /// The time, year and zone from `ctx` (the parser's) where the line
    /// has none; `None` for an impossible date (Feb 30).
    pub fn resolve(&self, ctx: &TimeContext) -> Option<LogTime> {
        match &self.0 {
            TimeState::Resolved(t) => Some(t.clone()),
            TimeState::Raw(raw) => raw.resolve(ctx),
        }
    }
}

impl From<LogTime> for LineTime {
    fn from(t: LogTime) -> Self {
        Self(TimeState::Resolved(t))
    }
}

/// Turns raw lines into the events rules see.
#[derive(Debug, Clone)]
pub struct LineParser {
    scanner: Scanner,
    input: InputKind,
    syslog: SyslogParser,
    access: AccessLogParser,
    ctx: TimeContext,
    /// Judged events, refilled in place for later lines.
    pool: Vec<Event>,
}

impl LineParser {
    /// A parser for rule sets that read `input`; `scanner` finds the
    /// candidate rules, and lines with none are not turned into events.
    pub fn new(input: InputKind, scanner: Scanner, ctx: TimeContext) -> Self {
        Self {
            scanner,
            input,
            syslog: SyslogParser::new(ctx.clone()),
            access: AccessLogParser::new(AccessLogFormat::Auto, ctx.clone()),
            ctx,
            pool: Vec::new(),
        }
    }

    /// Takes back a judged event, to refill for a later line.
    pub fn recycle(&mut self, event: Event) {
        if self.pool.len() < POOL {
            self.pool.push(event);
        }
    }

    /// The parser `engine`'s first rule set asks for.
    pub fn for_engine(engine: &RuleEngine, ctx: TimeContext) -> Self {
        Self::new(
            engine.sets().next().map(|s| s.input).unwrap_or_default(),
            engine.scanner(),
            ctx,
        )
    }

    /// The event the rules see, its time (not rendered: most lines match
    /// nothing, and rendering costs more than parsing) and the candidate
    /// rules. `None` when no rule can match the line.
    pub fn parse(&mut self, raw: &str) -> Option<(Event, Option<LineTime>, Candidates)> {
        let (event, time, early) = match self.input {
            InputKind::Syslog => match self.syslog.parse_lazy(raw) {
                Some((rec, raw_time)) => {
                    let early = self.scanner.scan_line(rec.app_name, rec.message);
                    if early.as_ref().is_some_and(Candidates::is_empty) {
                        return None;
                    }
                    let time = raw_time.map(|t| LineTime(TimeState::Raw(t)));
                    let mut e = self.pool.pop().unwrap_or_default();
                    if !rec.refill(&mut e) {
                        e = Event::new();
                        rec.apply_without_time(&mut e);
                    }
                    (e, time, early)
                }
                None => self.text(raw)?,
            },
            InputKind::AccessLog => match self.access.parse(raw) {
                Some(rec) => {
                    // Rules see the parsed fields and, in `message`, the line.
                    let mut e = Event::from_message(raw);
                    rec.apply_without_time(&mut e);
                    (e, rec.timestamp.map(LineTime::from), None)
                }
                None => self.text(raw)?,
            },
            InputKind::Text => self.text(raw)?,
        };
        self.finish((event, time, early))
    }

    /// Scans the whole event when the line alone could not say.
    fn finish(
        &mut self,
        (event, time, early): (Event, Option<LineTime>, Option<Candidates>),
    ) -> Option<(Event, Option<LineTime>, Candidates)> {
        let candidates = match early {
            Some(c) => c,
            None => self.scanner.scan_event(&event),
        };
        (!candidates.is_empty()).then_some((event, time, candidates))
    }

    /// A line that is not syslog or access log: all of it is the message.
    fn text(&mut self, raw: &str) -> Option<(Event, Option<LineTime>, Option<Candidates>)> {
        let early = self.scanner.scan_line(None, raw);
        if early.as_ref().is_some_and(Candidates::is_empty) {
            return None;
        }
        let time = timestamp::find(raw, &self.ctx).map(|(t, _)| LineTime::from(t));
        Some((Event::from_message(raw), time, early))
    }
}

/// One line read from the file.
#[derive(Debug, Clone)]
pub struct ParsedLine {
    /// 1-based line number (every line counts, comments and blanks too).
    pub number: u64,
    /// The text of a line no rule matched, when asked for (`--print-missed`);
    /// empty otherwise.
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
    /// A log line for the rules, with its time and candidate rules.
    Event(Event, Option<LineTime>, Candidates),
}

/// The two ends the judging side holds: parsed chunks in, spent chunks back.
pub struct Background {
    /// Chunks of parsed lines, then at most one read error.
    pub lines: mpsc::Receiver<Result<Vec<ParsedLine>, std::io::Error>>,
    /// Judged chunks go back to the parsing thread, which refills their
    /// events for later lines and frees the rest (a free on the thread that
    /// allocated is much cheaper than a remote one).
    pub spent: mpsc::SyncSender<Vec<ParsedLine>>,
}

/// Reads and parses `reader` on a new thread.
pub fn parse_in_background<R: Read + Send + 'static>(
    reader: R,
    max_line: usize,
    mut parser: LineParser,
    keep_missed: bool,
) -> Background {
    let (tx, rx) = mpsc::sync_channel(8);
    let (spent_tx, spent_rx) = mpsc::sync_channel::<Vec<ParsedLine>>(16);
    std::thread::spawn(move || {
        let mut lines = LineReader::new(
            std::io::BufReader::with_capacity(256 * 1024, reader),
            max_line,
            0,
        );
        let mut chunk = Vec::with_capacity(CHUNK);
        let mut number = 0u64;
        loop {
            // Lines are read by reference: most are never kept.
            match lines.next_text(true) {
                Ok(Some(text)) => {
                    number += 1;
                    // Comment and blank lines are not log lines (annotated
                    // sample logs carry both).
                    let kind = if text.trim().is_empty() || text.starts_with('#') {
                        LineKind::Skip
                    } else {
                        match parser.parse(&text) {
                            Some((e, t, c)) => LineKind::Event(e, t, c),
                            None => LineKind::NoMatch,
                        }
                    };
                    let text = if keep_missed && !matches!(kind, LineKind::Skip) {
                        text.into_owned()
                    } else {
                        String::new()
                    };
                    chunk.push(ParsedLine { number, text, kind });
                    if chunk.len() == CHUNK {
                        if tx.send(Ok(std::mem::take(&mut chunk))).is_err() {
                            return;
                        }
                        while let Ok(old) = spent_rx.try_recv() {
                            for line in old {
                                if let LineKind::Event(e, ..) = line.kind {
                                    parser.recycle(e);
                                }
                            }
                        }
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
    Background {
        lines: rx,
        spent: spent_tx,
    }
}
