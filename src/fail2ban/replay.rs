//! Running rule sets over raw log lines, as `logbus match` does: each line
//! is parsed the way its rule set expects (syslog, access log, or text with
//! a timestamp somewhere), then judged by the rule engine.

use super::engine::{RuleEngine, Verdict};
use super::rules::InputKind;
use crate::event::{Event, fields};
use crate::stages::parse::access_log::{AccessLogFormat, AccessLogParser};
use crate::stages::parse::syslog::SyslogParser;
use crate::timestamp::{self, TimeContext};

/// One judged line.
#[derive(Debug, Clone)]
pub struct LineResult {
    /// What the rules said.
    pub verdict: Verdict,
    /// The line's time (RFC 3339), when it had one.
    pub time: Option<String>,
    /// The event the rules saw.
    pub event: Event,
}

/// Parses and judges lines.
pub struct Replay {
    engine: RuleEngine,
    input: InputKind,
    syslog: SyslogParser,
    access: AccessLogParser,
    ctx: TimeContext,
}

impl Replay {
    /// A replay of `engine`'s rules. The first set's input kind decides how
    /// lines are parsed.
    pub fn new(engine: RuleEngine, ctx: TimeContext) -> Self {
        let input = engine.sets().next().map(|s| s.input).unwrap_or_default();
        Self {
            engine,
            input,
            syslog: SyslogParser::new(ctx.clone()),
            access: AccessLogParser::new(AccessLogFormat::Auto, ctx.clone()),
            ctx,
        }
    }

    /// The rule engine (for rule names in reports).
    pub fn engine(&self) -> &RuleEngine {
        &self.engine
    }

    /// Turns a raw line into the event the rules see.
    pub fn parse(&self, raw: &str) -> (Event, Option<String>) {
        match self.input {
            InputKind::Syslog => {
                if let Some(rec) = self.syslog.parse(raw) {
                    let mut e = Event::new();
                    rec.apply_to(&mut e);
                    let time = rec.timestamp.as_ref().map(|t| t.to_rfc3339());
                    return (e, time);
                }
            }
            InputKind::AccessLog => {
                if let Some(rec) = self.access.parse(raw) {
                    // Rules see the parsed fields and, in `message`, the line.
                    let mut e = Event::from_message(raw);
                    rec.apply_to(&mut e);
                    let time = rec.timestamp.as_ref().map(|t| t.to_rfc3339());
                    return (e, time);
                }
            }
            InputKind::Text => {}
        }
        let mut e = Event::from_message(raw);
        let time = timestamp::find(raw, &self.ctx).map(|(t, _)| t.to_rfc3339());
        if let Some(t) = &time {
            e.set(&fields::TIMESTAMP, t.as_str());
        }
        (e, time)
    }

    /// Parses and judges one line.
    pub fn line(&mut self, raw: &str) -> LineResult {
        let (event, time) = self.parse(raw);
        let verdict = self.engine.evaluate(&event);
        LineResult {
            verdict,
            time,
            event,
        }
    }
}
