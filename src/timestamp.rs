//! Recognising the timestamps log lines carry, shared by the parser stages
//! and by `logbus match`.
//!
//! Every format is scanned by hand, byte by byte: these functions run on
//! every line, so they compile nothing per call and allocate nothing when a
//! line holds no timestamp. A scan first produces a `RawTime` (plain
//! numbers); only then is it turned into a [`jiff::Zoned`] with the help of a
//! [`TimeContext`], which supplies the year and the time zone a line leaves
//! out.
//!
//! Recognised formats (any of them may be wrapped in `[...]` at the start of
//! a line):
//!
//! | format | example |
//! |---|---|
//! | RFC 3164 | `Feb 25 14:34:10`, `Feb  5 14:34:10.123`, `Feb 25 2005 14:34:10` |
//! | ISO 8601 / RFC 3339 | `2005-02-25T14:34:10`, `2005-02-25 14:34:10,388`, `2019-09-06  1:45:18`, `...Z`, `...+01:00`, `...+0100`, `... +01:00` |
//! | CLF | `10/Oct/2000:13:55:36 -0700`, `14/Nov/2015:22:45:25.439` |
//! | nginx error log | `2015/01/20 19:53:28` |
//! | ctime / Apache error log | `Sat Jun 01 02:17:42 2013`, `Thu Sep  8 00:39:49.123456 2016` |
//! | BIND / PHP (roundcube) | `11-Aug-2013 03:36:11.372`, `10-May-2015 13:02:52 -0400` |
//! | compact (MySQL) | `20050225 14:34:10`, `130324  0:04:00` |
//! | TAI64N (daemontools) | `@400000004c91b044077a9e94` |
//! | epoch seconds (only at the start, 9-10 digits) | `1389657553`, `1389657553.123` |
//!
//! A timestamp must end at a word boundary: `14:34:101` is no time.

use std::ops::Range;

use jiff::civil::DateTime;
use jiff::tz::{Offset, TimeZone};
use jiff::{Timestamp, Zoned};

/// How far after "now" a year-less date may lie and still get the current
/// year. Hosts' clocks drift and time zones differ, so a line stamped a little
/// in the future is still this year's; a December line read in January is not.
const FUTURE_SLACK_SECS: i64 = 3 * 86_400;

/// What a timestamp is resolved against: the year and time zone a line may
/// leave out.
#[derive(Debug, Clone)]
pub struct TimeContext {
    /// A fixed reference "now" and its civil time in `tz`; `None` reads the
    /// clock on each call, so a long-running pipeline crosses New Year right.
    now: Option<(Zoned, DateTime)>,
    year: Option<i16>,
    tz: TimeZone,
}

impl Default for TimeContext {
    fn default() -> Self {
        Self::system()
    }
}

impl TimeContext {
    /// The live clock and the system time zone.
    pub fn system() -> Self {
        Self {
            now: None,
            year: None,
            tz: TimeZone::system(),
        }
    }

    /// Gives every year-less timestamp this year instead of inferring it.
    pub fn with_year(mut self, year: i16) -> Self {
        self.year = Some(year);
        self
    }

    /// Infers years relative to `now` instead of the clock (replaying old
    /// logs, tests).
    pub fn with_now(mut self, now: Zoned) -> Self {
        let civil = now.with_time_zone(self.tz.clone()).datetime();
        self.now = Some((now, civil));
        self
    }

    /// The time zone of timestamps that carry no UTC offset.
    pub fn with_tz(mut self, tz: TimeZone) -> Self {
        self.tz = tz;
        if let Some((now, _)) = self.now.take() {
            return self.with_now(now);
        }
        self
    }

    /// The time zone of timestamps that carry no UTC offset.
    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }

    /// The reference time as civil time in the context's zone.
    fn now_civil(&self) -> DateTime {
        match &self.now {
            Some((_, civil)) => *civil,
            None => self.tz.to_datetime(Timestamp::now()),
        }
    }

    /// The year for a date written without one: the fixed year, or the
    /// latest year in which the date is not more than [`FUTURE_SLACK_SECS`]
    /// after now. `None` when the date exists in no candidate year (Feb 29 in
    /// a fixed non-leap year).
    fn infer_year(&self, month: i8, day: i8, secs_of_day: i64) -> Option<i16> {
        if let Some(y) = self.year {
            return (day <= days_in_month(y, month)).then_some(y);
        }
        let now = self.now_civil();
        let now_key = day_number(now.year(), now.month(), now.day()) * 86_400
            + i64::from(now.hour()) * 3600
            + i64::from(now.minute()) * 60
            + i64::from(now.second());
        let mut year = now.year();
        // Feb 29 may need to go back to the last leap year: at most 8 years.
        for _ in 0..9 {
            if day <= days_in_month(year, month) {
                let key = day_number(year, month, day) * 86_400 + secs_of_day;
                if key <= now_key + FUTURE_SLACK_SECS {
                    return Some(year);
                }
            }
            year = year.checked_sub(1)?;
        }
        None
    }
}

/// A timestamp read from a log line.
#[derive(Debug, Clone, PartialEq)]
pub struct LogTime {
    /// The instant, in the line's own offset when it had one, else in the
    /// context's time zone.
    pub zoned: Zoned,
    /// The line wrote the year (or an epoch count); otherwise it was inferred.
    pub had_year: bool,
    /// The line fixed the instant itself (a UTC offset, `Z`, or an epoch
    /// count); otherwise the context's time zone was assumed.
    pub had_offset: bool,
}

impl LogTime {
    /// RFC 3339 with milliseconds and a numeric offset
    /// (`2005-02-25T14:34:10.000+01:00`).
    pub fn to_rfc3339(&self) -> String {
        crate::time::format_zoned(&self.zoned)
    }
}

/// Parses a timestamp at the start of `s` (optionally wrapped in `[...]`);
/// returns it and the number of bytes consumed (closing bracket included).
pub fn parse_prefix(s: &str, ctx: &TimeContext) -> Option<(LogTime, usize)> {
    let (raw, len) = scan_prefix(s.as_bytes(), true)?;
    Some((raw.resolve(ctx)?, len))
}

/// Finds the first recognised timestamp anywhere in `line`. Epoch counts
/// are found only in Linux audit records (`audit(1373330716.415:4063)`): a
/// bare number in a message is too easily misread. Returns the time and its
/// byte range, brackets not included.
pub fn find(line: &str, ctx: &TimeContext) -> Option<(LogTime, Range<usize>)> {
    let b = line.as_bytes();
    let mut from = 0;
    while let Some((raw, range)) = scan_find(b, from) {
        if let Some(t) = raw.resolve(ctx) {
            return Some((t, range));
        }
        // Well-formed but impossible (Feb 30): keep looking after it.
        from = range.start + 1;
    }
    None
}

/// Which layout a timestamp had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeFormat {
    /// `Feb 25 14:34:10`
    Rfc3164,
    /// `2005-02-25T14:34:10+01:00`
    Iso8601,
    /// `10/Oct/2000:13:55:36 -0700`
    Clf,
    /// `2015/01/20 19:53:28`
    NginxError,
    /// `Sat Jun 01 02:17:42 2013`
    Ctime,
    /// `11-Aug-2013 03:36:11.372`
    DayMonthYear,
    /// `20050225 14:34:10`, `130324  0:04:00`
    Compact,
    /// `1389657553.123`
    Epoch,
    /// `@400000004c91b044077a9e94`
    Tai64n,
}

/// A timestamp as written, before a year or zone is supplied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawTime {
    /// The layout it was written in.
    pub(crate) format: TimeFormat,
    value: RawValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RawValue {
    Civil {
        year: Option<i16>,
        month: i8,
        day: i8,
        clock: Clock,
        /// Seconds east of UTC.
        offset: Option<i32>,
    },
    Epoch {
        secs: i64,
        nanos: i32,
    },
}

/// A validated time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Clock {
    hour: i8,
    minute: i8,
    second: i8,
    nanos: i32,
}

impl Clock {
    fn secs_of_day(self) -> i64 {
        i64::from(self.hour) * 3600 + i64::from(self.minute) * 60 + i64::from(self.second)
    }
}

impl RawTime {
    /// Supplies the missing year and zone. `None` for dates that do not
    /// exist (Feb 30, Feb 29 of a fixed non-leap year) or are out of range.
    pub(crate) fn resolve(&self, ctx: &TimeContext) -> Option<LogTime> {
        match self.value {
            RawValue::Epoch { secs, nanos } => {
                let ts = Timestamp::new(secs, nanos).ok()?;
                Some(LogTime {
                    zoned: ts.to_zoned(ctx.tz.clone()),
                    had_year: true,
                    had_offset: true,
                })
            }
            RawValue::Civil {
                year,
                month,
                day,
                clock,
                offset,
            } => {
                let had_year = year.is_some();
                let year = match year {
                    Some(y) => y,
                    None => ctx.infer_year(month, day, clock.secs_of_day())?,
                };
                if day > days_in_month(year, month) {
                    return None;
                }
                let dt = DateTime::new(
                    year,
                    month,
                    day,
                    clock.hour,
                    clock.minute,
                    clock.second,
                    clock.nanos,
                )
                .ok()?;
                let tz = match offset {
                    Some(secs) => TimeZone::fixed(Offset::from_seconds(secs).ok()?),
                    None => ctx.tz.clone(),
                };
                Some(LogTime {
                    zoned: dt.to_zoned(tz).ok()?,
                    had_year,
                    had_offset: offset.is_some(),
                })
            }
        }
    }
}

/// Scans a timestamp at the start of `b`, allowing one level of `[...]`
/// around it. `epoch` admits bare epoch counts.
pub(crate) fn scan_prefix(b: &[u8], epoch: bool) -> Option<(RawTime, usize)> {
    if b.first() == Some(&b'[') {
        let inner = b.get(1..)?;
        let (raw, len) = scan_at(inner, epoch)?;
        return (inner.get(len) == Some(&b']')).then_some((raw, len + 2));
    }
    scan_at(b, epoch)
}

/// The first timestamp in `b` starting at or after `from` (at a word start;
/// a bare epoch count only at the very start or in an audit record).
fn scan_find(b: &[u8], from: usize) -> Option<(RawTime, Range<usize>)> {
    let mut i = from;
    while let Some(&c) = b.get(i) {
        let word_start = i == 0 || b.get(i - 1).is_some_and(|p| !p.is_ascii_alphanumeric());
        if word_start
            && (c.is_ascii_digit() || c.is_ascii_uppercase())
            && let Some(rest) = b.get(i..)
            && let Some((raw, len)) = scan_at(rest, i == 0 || after_audit(b, i))
        {
            return Some((raw, i..i + len));
        }
        i += 1;
    }
    None
}

/// Linux audit records stamp themselves `audit(1373330716.415:4063)`: the
/// one place inside a line where an epoch count is certainly a time.
fn after_audit(b: &[u8], i: usize) -> bool {
    i >= 6 && b.get(i - 6..i) == Some(b"audit(")
}

/// Scans one timestamp at the very start of `b`.
fn scan_at(b: &[u8], epoch: bool) -> Option<(RawTime, usize)> {
    let first = *b.first()?;
    let (raw, len) = if first.is_ascii_digit() {
        let run = b.iter().take(11).take_while(|c| c.is_ascii_digit()).count();
        match (run, b.get(run)) {
            (4, Some(b'-')) => scan_iso(b)?,
            (4, Some(b'/')) => scan_nginx(b)?,
            (1 | 2, Some(b'/')) => scan_clf(b)?,
            (1 | 2, Some(b'-')) => scan_day_month_year(b)?,
            (6 | 8, Some(b' ')) => scan_compact(b, run)?,
            (9 | 10, _) if epoch => scan_epoch(b, run)?,
            _ => return None,
        }
    } else if first == b'@' {
        scan_tai64n(b)?
    } else if first.is_ascii_alphabetic() {
        if month_at(b, 0).is_some() {
            scan_rfc3164(b, 0)?
        } else if is_weekday(b) {
            scan_ctime(b)?
        } else {
            return None;
        }
    } else {
        return None;
    };
    // A timestamp ends at a word boundary.
    if b.get(len).is_some_and(u8::is_ascii_alphanumeric) {
        return None;
    }
    Some((raw, len))
}

fn civil(
    format: TimeFormat,
    year: Option<i16>,
    month: i8,
    day: i8,
    clock: Clock,
    offset: Option<i32>,
) -> Option<RawTime> {
    // The year is checked at resolve time; here only what can never exist.
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year.unwrap_or(2000), month) {
        return None;
    }
    Some(RawTime {
        format,
        value: RawValue::Civil {
            year,
            month,
            day,
            clock,
            offset,
        },
    })
}

/// `Mmm dd HH:MM:SS[.f]` (day space-padded or not), optionally
/// `Mmm dd YYYY HH:MM:SS`; starts at `i`.
fn scan_rfc3164(b: &[u8], i: usize) -> Option<(RawTime, usize)> {
    let (month, i) = rfc3164_date(b, i)?;
    let (day, i) = month_day(b, i)?;
    // Some devices put the year between the day and the time.
    let (year, i) = match num(b, i, 4) {
        Some(y) if b.get(i + 4) == Some(&b' ') => (Some(y as i16), i + 5),
        _ => (None, i),
    };
    let (clock, i) = clock(b, i, false)?;
    Some((
        civil(TimeFormat::Rfc3164, year, month, day, clock, None)?,
        i,
    ))
}

/// The month name at `i` and the index after the spaces that follow it.
fn rfc3164_date(b: &[u8], i: usize) -> Option<(i8, usize)> {
    let month = month_at(b, i)?;
    let i = i + 3;
    let spaces = count_spaces(b, i);
    (1..=2).contains(&spaces).then_some((month, i + spaces))
}

/// A day of month (one or two digits) followed by one space.
fn month_day(b: &[u8], i: usize) -> Option<(i8, usize)> {
    let (day, n) = num_range(b, i, 1, 2)?;
    (b.get(i + n) == Some(&b' ')).then_some((day as i8, i + n + 1))
}

/// `Ddd Mmm dd HH:MM:SS[.f] YYYY` (the year may be missing).
fn scan_ctime(b: &[u8]) -> Option<(RawTime, usize)> {
    if b.get(3) != Some(&b' ') {
        return None;
    }
    let (month, i) = rfc3164_date(b, 4)?;
    let (day, i) = month_day(b, i)?;
    let (clock, i) = clock(b, i, false)?;
    let (year, i) = match num(b, i + 1, 4) {
        Some(y) if b.get(i) == Some(&b' ') => (Some(y as i16), i + 5),
        _ => (None, i),
    };
    Some((civil(TimeFormat::Ctime, year, month, day, clock, None)?, i))
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.f][ ][offset]`, also `YYYY-MM-DD  H:MM:SS`.
fn scan_iso(b: &[u8]) -> Option<(RawTime, usize)> {
    let year = num(b, 0, 4)? as i16;
    let (month, n) = num_range(b, 5, 1, 2)?;
    let i = 5 + n;
    if b.get(i) != Some(&b'-') {
        return None;
    }
    let (day, n) = num_range(b, i + 1, 1, 2)?;
    let i = i + 1 + n;
    let i = match b.get(i) {
        Some(b'T' | b't' | b' ') => i + 1,
        _ => return None,
    };
    // MySQL pads a one-digit hour with a space: `2019-09-06  1:45:18`.
    let (clock, i) = if b.get(i) == Some(&b' ') {
        let (c, j) = clock(b, i + 1, true)?;
        (c.hour < 10).then_some((c, j))?
    } else {
        clock(b, i, true)?
    };
    let (offset, i) = offset(b, i, true)?;
    Some((
        civil(
            TimeFormat::Iso8601,
            Some(year),
            month as i8,
            day as i8,
            clock,
            offset,
        )?,
        i,
    ))
}

/// `YYYY/MM/DD HH:MM:SS` (nginx error log).
fn scan_nginx(b: &[u8]) -> Option<(RawTime, usize)> {
    let year = num(b, 0, 4)? as i16;
    let month = num(b, 5, 2)? as i8;
    if b.get(7) != Some(&b'/') {
        return None;
    }
    let day = num(b, 8, 2)? as i8;
    if b.get(10) != Some(&b' ') {
        return None;
    }
    let (clock, i) = clock(b, 11, false)?;
    Some((
        civil(TimeFormat::NginxError, Some(year), month, day, clock, None)?,
        i,
    ))
}

/// `DD/Mon/YYYY:HH:MM:SS[.f][ +zzzz]` (Common Log Format, HAProxy).
fn scan_clf(b: &[u8]) -> Option<(RawTime, usize)> {
    let (day, n) = num_range(b, 0, 1, 2)?;
    let month = month_at(b, n + 1)?;
    let i = n + 4;
    if b.get(i) != Some(&b'/') {
        return None;
    }
    let year = num(b, i + 1, 4)? as i16;
    if b.get(i + 5) != Some(&b':') {
        return None;
    }
    let (clock, i) = clock(b, i + 6, false)?;
    let (offset, i) = offset(b, i, false)?;
    Some((
        civil(TimeFormat::Clf, Some(year), month, day as i8, clock, offset)?,
        i,
    ))
}

/// `DD-Mon-YYYY HH:MM:SS[.f][ +zzzz]` (BIND, PHP's error log).
fn scan_day_month_year(b: &[u8]) -> Option<(RawTime, usize)> {
    let (day, n) = num_range(b, 0, 1, 2)?;
    let month = month_at(b, n + 1)?;
    let i = n + 4;
    if b.get(i) != Some(&b'-') {
        return None;
    }
    let year = num(b, i + 1, 4)? as i16;
    if b.get(i + 5) != Some(&b' ') {
        return None;
    }
    let (clock, i) = clock(b, i + 6, false)?;
    let (offset, i) = offset(b, i, false)?;
    Some((
        civil(
            TimeFormat::DayMonthYear,
            Some(year),
            month,
            day as i8,
            clock,
            offset,
        )?,
        i,
    ))
}

/// `YYYYMMDD HH:MM:SS` or MySQL's `YYMMDD H:MM:SS` (hour space-padded).
fn scan_compact(b: &[u8], digits: usize) -> Option<(RawTime, usize)> {
    let (year, d) = if digits == 8 {
        (num(b, 0, 4)? as i16, 4)
    } else {
        (2000 + num(b, 0, 2)? as i16, 2)
    };
    let month = num(b, d, 2)? as i8;
    let day = num(b, d + 2, 2)? as i8;
    let mut i = digits + 1;
    let padded = b.get(i) == Some(&b' ');
    if padded {
        i += 1;
    }
    let (clock, i) = clock(b, i, true)?;
    if padded && clock.hour >= 10 {
        return None;
    }
    Some((
        civil(TimeFormat::Compact, Some(year), month, day, clock, None)?,
        i,
    ))
}

/// Seconds since 1970 (9 or 10 digits, so 1973 to 2286), optional fraction.
fn scan_epoch(b: &[u8], digits: usize) -> Option<(RawTime, usize)> {
    let secs = b
        .get(..digits)?
        .iter()
        .fold(0i64, |acc, c| acc * 10 + i64::from(c - b'0'));
    let (nanos, i) = fraction(b, digits);
    Some((
        RawTime {
            format: TimeFormat::Epoch,
            value: RawValue::Epoch { secs, nanos },
        },
        i,
    ))
}

/// TAI64N label: `@` and 24 hex digits (seconds + 2^62, nanoseconds).
///
/// libtai's labels run 10 s ahead of UTC; fail2ban and most readers ignore
/// that and so do we, so our times agree with theirs.
fn scan_tai64n(b: &[u8]) -> Option<(RawTime, usize)> {
    let hex = b.get(1..25)?;
    let mut secs: u64 = 0;
    let mut nanos: u64 = 0;
    for (k, c) in hex.iter().enumerate() {
        let v = u64::from(char::from(*c).to_digit(16)?);
        if k < 16 {
            secs = (secs << 4) | v;
        } else {
            nanos = (nanos << 4) | v;
        }
    }
    let secs = i64::try_from(secs.checked_sub(1 << 62)?).ok()?;
    if nanos >= 1_000_000_000 {
        return None;
    }
    Some((
        RawTime {
            format: TimeFormat::Tai64n,
            value: RawValue::Epoch {
                secs,
                nanos: nanos as i32,
            },
        },
        25,
    ))
}

/// `HH:MM:SS[.f]` at `i` (`H:MM:SS` too when `short_hour`). A leap second
/// (`:60`) is read as `:59`, which jiff can represent.
fn clock(b: &[u8], i: usize, short_hour: bool) -> Option<(Clock, usize)> {
    let (hour, n) = num_range(b, i, if short_hour { 1 } else { 2 }, 2)?;
    let i = i + n;
    if b.get(i) != Some(&b':') {
        return None;
    }
    let minute = num(b, i + 1, 2)?;
    if b.get(i + 3) != Some(&b':') {
        return None;
    }
    let second = num(b, i + 4, 2)?;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let (nanos, i) = fraction(b, i + 6);
    Some((
        Clock {
            hour: hour as i8,
            minute: minute as i8,
            second: second.min(59) as i8,
            nanos,
        },
        i,
    ))
}

/// `.ddd` or `,ddd` at `i`: nanoseconds (digits past the ninth are
/// consumed and ignored) and the index after; `(0, i)` when absent.
fn fraction(b: &[u8], i: usize) -> (i32, usize) {
    if !matches!(b.get(i), Some(b'.' | b',')) || !b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        return (0, i);
    }
    let mut j = i + 1;
    let mut nanos: i32 = 0;
    let mut scale = 100_000_000;
    while let Some(c) = b.get(j).filter(|c| c.is_ascii_digit()) {
        nanos += i32::from(c - b'0') * scale;
        scale /= 10;
        j += 1;
    }
    (nanos, j)
}

/// A UTC offset at `i`: `Z`, `+HH`, `+HHMM`, `+HH:MM`, or one space and a
/// signed offset (or `UTC`/`GMT`). `Z` and the colon forms only when `iso`.
/// Returns the offset in seconds (`None` when there is none) and the index
/// after it; `None` altogether when an offset is there but impossible
/// (`+25:00`).
fn offset(b: &[u8], i: usize, iso: bool) -> Option<(Option<i32>, usize)> {
    let (start, spaced) = if b.get(i) == Some(&b' ') {
        (i + 1, true)
    } else {
        (i, false)
    };
    match b.get(start) {
        Some(b'Z' | b'z') if iso && !spaced => Some((Some(0), start + 1)),
        // `+HH` alone only when glued to the time, ISO style: after a space
        // a short number is more likely text (`10:00:00 +12 items`).
        Some(b'+' | b'-') => match signed_offset(b, start, iso, iso && !spaced) {
            SignedOffset::Valid(secs, end) => Some((Some(secs), end)),
            SignedOffset::Absent => Some((None, i)),
            SignedOffset::Impossible => None,
        },
        Some(b'U' | b'G') if spaced => match b.get(start..start + 3) {
            Some(b"UTC" | b"GMT") if !b.get(start + 3).is_some_and(u8::is_ascii_alphanumeric) => {
                Some((Some(0), start + 3))
            }
            _ => Some((None, i)),
        },
        _ => Some((None, i)),
    }
}

/// What stands at a `+`/`-` after a time.
enum SignedOffset {
    Valid(i32, usize),
    /// Not an offset at all (`- msg`, `+12 items`).
    Absent,
    /// Shaped like an offset but out of range.
    Impossible,
}

fn signed_offset(b: &[u8], i: usize, iso: bool, hours_only: bool) -> SignedOffset {
    let sign = if b.get(i) == Some(&b'-') { -1 } else { 1 };
    let Some(hours) = num(b, i + 1, 2) else {
        return SignedOffset::Absent;
    };
    let (minutes, end) = if let Some(m) = num(b, i + 3, 2) {
        (m, i + 5)
    } else if let (true, Some(b':'), Some(m)) = (iso, b.get(i + 3), num(b, i + 4, 2)) {
        (m, i + 6)
    } else if hours_only {
        (0, i + 3)
    } else {
        return SignedOffset::Absent;
    };
    if hours > 23 || minutes > 59 {
        return SignedOffset::Impossible;
    }
    SignedOffset::Valid(sign * (hours as i32 * 3600 + minutes as i32 * 60), end)
}

/// Exactly `n` ASCII digits at `i` (what follows is the caller's business).
fn num(b: &[u8], i: usize, n: usize) -> Option<u32> {
    b.get(i..i + n)?.iter().try_fold(0u32, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// Between `min` and `max` digits at `i` (all the digits there are); the
/// value and how many.
fn num_range(b: &[u8], i: usize, min: usize, max: usize) -> Option<(u32, usize)> {
    let n = b
        .get(i..)?
        .iter()
        .take(max + 1)
        .take_while(|c| c.is_ascii_digit())
        .count();
    if n < min || n > max {
        return None;
    }
    Some((num(b, i, n)?, n))
}

fn count_spaces(b: &[u8], i: usize) -> usize {
    b.get(i..)
        .map_or(0, |r| r.iter().take(3).take_while(|c| **c == b' ').count())
}

const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];
const WEEKDAYS: [&[u8; 3]; 7] = [b"mon", b"tue", b"wed", b"thu", b"fri", b"sat", b"sun"];

fn lower3(b: &[u8], i: usize) -> Option<[u8; 3]> {
    let s = b.get(i..i + 3)?;
    Some([
        s.first()?.to_ascii_lowercase(),
        s.get(1)?.to_ascii_lowercase(),
        s.get(2)?.to_ascii_lowercase(),
    ])
}

/// An English month abbreviation at `i` (any case), as 1..=12. It must
/// not run on into a longer word (`Marble`).
fn month_at(b: &[u8], i: usize) -> Option<i8> {
    let name = lower3(b, i)?;
    if b.get(i + 3).is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    MONTHS.iter().position(|m| **m == name).map(|p| p as i8 + 1)
}

fn is_weekday(b: &[u8]) -> bool {
    lower3(b, 0).is_some_and(|d| WEEKDAYS.contains(&&d))
}

fn is_leap(year: i16) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i16, month: i8) -> i8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm);
/// only differences matter here.
fn day_number(year: i16, month: i8, day: i8) -> i64 {
    let (y, m, d) = (i64::from(year), i64::from(month), i64::from(day));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// fail2ban's test clock: 2005-08-14 12:00 in CET/CEST; we use a fixed
    /// +02:00 so tests do not depend on the machine's zone database.
    fn ctx() -> TimeContext {
        let tz = TimeZone::fixed(jiff::tz::offset(2));
        let now = DateTime::new(2005, 8, 14, 12, 0, 0, 0)
            .unwrap()
            .to_zoned(tz.clone())
            .unwrap();
        TimeContext::system().with_tz(tz).with_now(now)
    }

    fn utc_ctx() -> TimeContext {
        ctx().with_tz(TimeZone::UTC)
    }

    /// Parses a prefix and renders it.
    fn p(s: &str) -> Option<(String, usize)> {
        parse_prefix(s, &ctx()).map(|(t, n)| (t.to_rfc3339(), n))
    }

    fn rendered(s: &str) -> String {
        p(s).map(|(t, _)| t)
            .unwrap_or_else(|| format!("<none for {s:?}>"))
    }

    #[test]
    fn rfc3164_with_inferred_year() {
        assert_eq!(
            p("Feb 25 14:34:10 belka sshd[31602]: x"),
            Some(("2005-02-25T14:34:10.000+02:00".into(), 15))
        );
        assert_eq!(
            rendered("Feb  5 14:34:10 x"),
            "2005-02-05T14:34:10.000+02:00"
        );
        assert_eq!(
            rendered("Mar 7 02:09:33 x"),
            "2005-03-07T02:09:33.000+02:00"
        );
        assert_eq!(
            rendered("Jul 20 14:42:11.123456 x"),
            "2005-07-20T14:42:11.123+02:00"
        );
        // Later in the year than "now" (Aug 14): last year.
        assert_eq!(
            rendered("Nov 28 10:00:00 x"),
            "2004-11-28T10:00:00.000+02:00"
        );
        assert_eq!(
            rendered("Aug 18 08:20:22 x"),
            "2004-08-18T08:20:22.000+02:00"
        );
        // A little in the future (clock skew): still this year.
        assert_eq!(
            rendered("Aug 17 08:20:22 x"),
            "2005-08-17T08:20:22.000+02:00"
        );
        // Lower-case month and the year between day and time.
        assert_eq!(rendered("feb 25 14:34:10"), "2005-02-25T14:34:10.000+02:00");
        assert_eq!(
            rendered("Feb 25 2003 14:34:10 x"),
            "2003-02-25T14:34:10.000+02:00"
        );
    }

    #[test]
    fn december_line_read_in_january_is_last_year() {
        let tz = TimeZone::UTC;
        let now = DateTime::new(2024, 1, 2, 8, 0, 0, 0)
            .unwrap()
            .to_zoned(tz.clone())
            .unwrap();
        let ctx = TimeContext::system().with_tz(tz).with_now(now);
        let (t, _) = parse_prefix("Dec 31 23:59:59 h p: m", &ctx).unwrap();
        assert_eq!(t.to_rfc3339(), "2023-12-31T23:59:59.000+00:00");
        assert!(!t.had_year && !t.had_offset);
        let (t, _) = parse_prefix("Jan  2 07:00:00 h p: m", &ctx).unwrap();
        assert_eq!(t.zoned.year(), 2024);
        // Feb 29 goes back to the last leap year.
        let (t, _) = parse_prefix("Feb 29 07:00:00", &ctx).unwrap();
        assert_eq!(t.zoned.year(), 2020);
    }

    #[test]
    fn fixed_year() {
        let ctx = ctx().with_year(2012);
        let (t, _) = parse_prefix("Nov 28 10:00:00", &ctx).unwrap();
        assert_eq!(t.to_rfc3339(), "2012-11-28T10:00:00.000+02:00");
        assert!(parse_prefix("Feb 29 10:00:00", &ctx).is_some());
        assert!(parse_prefix("Feb 29 10:00:00", &ctx.with_year(2013)).is_none());
    }

    #[test]
    fn live_clock_gives_a_recent_year() {
        let ctx = TimeContext::system().with_tz(TimeZone::UTC);
        let (t, _) = parse_prefix("Jan  1 00:00:00", &ctx).unwrap();
        let this_year = Timestamp::now().to_zoned(TimeZone::UTC).year();
        assert!(t.zoned.year() == this_year || t.zoned.year() == this_year - 1);
    }

    #[test]
    fn iso8601_variants() {
        assert_eq!(
            p("2005-02-25T14:34:10 host"),
            Some(("2005-02-25T14:34:10.000+02:00".into(), 19))
        );
        assert_eq!(
            rendered("2015-04-16T18:02:50.321974+00:00 host sshd[2716]:"),
            "2015-04-16T18:02:50.321+00:00"
        );
        assert_eq!(
            rendered("2019-07-08T17:40:16.954167-04:00 h"),
            "2019-07-08T17:40:16.954-04:00"
        );
        assert_eq!(
            rendered("2019-01-03T08:50:04.634875Z 113"),
            "2019-01-03T08:50:04.634+00:00"
        );
        assert_eq!(
            rendered("2020-10-19T17:44:33+0200 lvl"),
            "2020-10-19T17:44:33.000+02:00"
        );
        assert_eq!(
            rendered("2013-11-16 21:59:30,121 novo"),
            "2013-11-16T21:59:30.121+02:00"
        );
        assert_eq!(
            rendered("2019-11-25 21:39:58.464 +01:00 [WRN]"),
            "2019-11-25T21:39:58.464+01:00"
        );
        assert_eq!(
            rendered("2019-09-06  1:45:18 140581192722176"),
            "2019-09-06T01:45:18.000+02:00"
        );
        assert_eq!(
            rendered("2005-03-7T02:09:33 x"),
            "2005-03-07T02:09:33.000+02:00"
        );
        assert_eq!(
            rendered("2019-01-01 10:00:00 UTC x"),
            "2019-01-01T10:00:00.000+00:00"
        );
        assert_eq!(
            rendered("2020-04-09T14:04:00.667Z:"),
            "2020-04-09T14:04:00.667+00:00"
        );
        // "- " is no offset; a number after the time is not one either.
        assert_eq!(
            p("2015-10-07 06:09:42 - x"),
            Some(("2015-10-07T06:09:42.000+02:00".into(), 19))
        );
        assert_eq!(
            p("2015-10-07 06:09:42 5907 [Warning]"),
            Some(("2015-10-07T06:09:42.000+02:00".into(), 19))
        );
        let (t, _) = parse_prefix("2005-02-25T14:34:10+01:00", &ctx()).unwrap();
        assert!(t.had_year && t.had_offset);
        let (t, _) = parse_prefix("2005-02-25T14:34:10", &ctx()).unwrap();
        assert!(t.had_year && !t.had_offset);
    }

    #[test]
    fn clf_and_haproxy() {
        assert_eq!(
            p("10/Oct/2000:13:55:36 -0700] \"GET"),
            Some(("2000-10-10T13:55:36.000-07:00".into(), 26))
        );
        assert_eq!(
            p("[10/Oct/2000:13:55:36 -0700] \"GET"),
            Some(("2000-10-10T13:55:36.000-07:00".into(), 28))
        );
        assert_eq!(
            rendered("[14/Nov/2015:22:45:25.439] main"),
            "2015-11-14T22:45:25.439+02:00"
        );
        assert_eq!(
            rendered("18/Nov/2018:21:34:30 +0000"),
            "2018-11-18T21:34:30.000+00:00"
        );
    }

    #[test]
    fn nginx_ctime_named_compact() {
        assert_eq!(
            p("2015/01/20 19:53:28 [error] 2833#0"),
            Some(("2015-01-20T19:53:28.000+02:00".into(), 19))
        );
        assert_eq!(
            p("[Sat Jun 01 02:17:42 2013] [error]"),
            Some(("2013-06-01T02:17:42.000+02:00".into(), 26))
        );
        assert_eq!(
            rendered("[Sun Sep 14 21:44:43.008606 2014] [authz_core:error]"),
            "2014-09-14T21:44:43.008+02:00"
        );
        assert_eq!(
            rendered("Thu Sep  8 00:39:49 2016 [pid 15019]"),
            "2016-09-08T00:39:49.000+02:00"
        );
        // ctime without a year: inferred.
        assert_eq!(
            rendered("[Mon Mar 10 12:00:00] x"),
            "2005-03-10T12:00:00.000+02:00"
        );
        assert_eq!(
            rendered("11-Aug-2013 03:36:11.372 error:"),
            "2013-08-11T03:36:11.372+02:00"
        );
        assert_eq!(
            rendered("[10-May-2015 13:02:52 -0400]: Failed"),
            "2015-05-10T13:02:52.000-04:00"
        );
        assert_eq!(
            rendered("20050225 14:34:10 x"),
            "2005-02-25T14:34:10.000+02:00"
        );
        assert_eq!(
            p("130324  0:04:00 [Warning]"),
            Some(("2013-03-24T00:04:00.000+02:00".into(), 15))
        );
        assert_eq!(
            rendered("130916 21:30:26 [Warning]"),
            "2013-09-16T21:30:26.000+02:00"
        );
        assert_eq!(
            rendered("[2012-02-13 17:21:54] NOTICE[1638]"),
            "2012-02-13T17:21:54.000+02:00"
        );
    }

    #[test]
    fn epoch_and_tai64n() {
        let c = utc_ctx();
        let (t, n) = parse_prefix("1389657553 x", &c).unwrap();
        assert_eq!(
            (t.to_rfc3339().as_str(), n),
            ("2014-01-13T23:59:13.000+00:00", 10)
        );
        assert!(t.had_year && t.had_offset);
        let (t, n) = parse_prefix("1389657553.123 x", &c).unwrap();
        assert_eq!(
            (t.to_rfc3339().as_str(), n),
            ("2014-01-13T23:59:13.123+00:00", 14)
        );
        // portsentry: fail2ban annotates 17:51:19 CEST.
        let (t, _) = parse_prefix("1403884279 - 06/27/2014 17:51:19 Host", &ctx()).unwrap();
        assert_eq!(t.to_rfc3339(), "2014-06-27T17:51:19.000+02:00");
        // Too short, too long, glued to letters: no epoch.
        assert!(parse_prefix("12345678 x", &c).is_none());
        assert!(parse_prefix("12345678901 x", &c).is_none());
        assert!(parse_prefix("1389657553abc", &c).is_none());
        // dovecot via multilog: fail2ban annotates 07:51:00 CEST.
        let (t, n) = parse_prefix("@400000004c91b044077a9e94 imap-login:", &ctx()).unwrap();
        assert_eq!(
            (t.to_rfc3339().as_str(), n),
            ("2010-09-16T07:51:00.125+02:00", 25)
        );
        assert!(parse_prefix("@40000000zzzzzzzz077a9e94", &c).is_none());
        assert!(parse_prefix("@400000004c91b044", &c).is_none());
    }

    #[test]
    fn invalid_dates_and_times_are_none() {
        for s in [
            "Feb 30 10:00:00",
            "Feb 25 25:00:00",
            "Feb 25 14:60:00",
            "Feb 25 14:34:61",
            "Foo 25 14:34:10",
            "Feb 32 14:34:10",
            "Feb 0 14:34:10",
            "2005-02-30T14:34:10",
            "2005-13-01T14:34:10",
            "2005-02-25T24:00:00",
            "2005-02-25T14:34:10+25:00",
            "31/Apr/2000:13:55:36 -0700",
            "2015/02/29 19:53:28",
            "Sat Feb 30 02:17:42 2013",
            "20050230 14:34:10",
            "2005-02-25",
            "Feb 25 14:34",
            "Feb 25 14:34:101",
            "Feb 25 14:34:10x",
            "Marble 25 14:34:10",
            "[Feb 25 14:34:10",
            "",
            "1",
            "@",
            "\u{FFFD}Feb 25 14:34:10",
        ] {
            assert!(parse_prefix(s, &ctx()).is_none(), "{s:?} parsed");
        }
        // A leap second is clamped rather than refused.
        assert_eq!(
            rendered("2016-12-31T23:59:60Z"),
            "2016-12-31T23:59:59.000+00:00"
        );
    }

    #[test]
    fn find_anywhere() {
        let c = ctx();
        let line = "[client 1.2.3.4] x [Sat Jun 01 02:17:42 2013] y";
        let (t, r) = find(line, &c).unwrap();
        assert_eq!(&line[r.clone()], "Sat Jun 01 02:17:42 2013");
        assert_eq!(t.to_rfc3339(), "2013-06-01T02:17:42.000+02:00");

        let line = "t=2020-10-19T17:44:33+0200 lvl=eror msg=x";
        let (t, r) = find(line, &c).unwrap();
        assert_eq!(r, 2..26);
        assert_eq!(t.to_rfc3339(), "2020-10-19T17:44:33.000+02:00");

        let line = "host 2005-02-25 14:34:10 x";
        assert_eq!(find(line, &c).map(|(_, r)| r), Some(5..24));
        // An impossible date is skipped for a later good one.
        let line = "Feb 30 10:00:00 then Feb 25 14:34:10";
        assert_eq!(find(line, &c).map(|(_, r)| r), Some(21..36));
        // Epoch counts are found only in audit records.
        let line = "type=USER_LOGIN msg=audit(1373330716.415:4063): user pid=11998";
        let (t, r) = find(line, &utc_ctx()).unwrap();
        assert_eq!(&line[r], "1373330716.415");
        assert_eq!(t.to_rfc3339(), "2013-07-09T00:45:16.415+00:00");
        // ... and at the very start (portsentry), as parse_prefix has them.
        let line = "1403884279 - 06/27/2014 17:51:19 Host: 192.0.2.1/192.0.2.1 Port: 1";
        let (t, r) = find(line, &c).unwrap();
        assert_eq!(r, 0..10);
        assert_eq!(t.to_rfc3339(), "2014-06-27T17:51:19.000+02:00");
        // Epoch counts elsewhere and mid-word matches are not found.
        assert!(find("pid 1389657553 x", &c).is_none());
        assert!(find("xFeb 25 14:34:10", &c).is_none());
        assert!(find("no time here 12:00", &c).is_none());
        assert!(find("", &c).is_none());
    }

    #[test]
    fn non_ascii_input_does_not_panic() {
        let c = ctx();
        for s in [
            "Feb 25 14:34:1\u{FFFD}",
            "\u{FFFD}\u{FFFD}2005-02-25T14:34:10",
            "2005-02-25T14:34:10\u{FFFD}",
            "é2005-02-25T14:34:10",
        ] {
            let _ = parse_prefix(s, &c);
            let _ = find(s, &c);
        }
        let (_, r) = find("é 2005-02-25T14:34:10 é", &c).unwrap();
        assert_eq!(r, 3..22);
    }

    #[test]
    fn huge_lines_are_linear() {
        let c = ctx();
        let junk = "1 Feb 2005-02 10/Oct/ Sat Jun ".repeat(40_000);
        assert!(find(&junk, &c).is_none());
        let mut line = "x".repeat(1 << 20);
        line.push_str(" Feb 25 14:34:10");
        assert_eq!(find(&line, &c).map(|(_, r)| r.start), Some((1 << 20) + 1));
    }

    /// One line start per timestamp layout of each file in fail2ban's
    /// annotated sample logs (fail2ban 1.0.2 test data, GPL-2.0-or-later,
    /// see shared/corpus/fail2ban/README.md), with the time fail2ban
    /// annotates: wall-clock time in its test zone, CET/CEST, years inferred
    /// from its clock, 2005-08-14 12:00.
    #[test]
    fn fail2ban_corpus_times() {
        let cet = TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        let now = DateTime::new(2005, 8, 14, 12, 0, 0, 0)
            .unwrap()
            .to_zoned(cet.clone())
            .unwrap();
        let ctx = TimeContext::system().with_tz(cet.clone()).with_now(now);
        for (file, line, want) in [
            (
                "apache-auth",
                "[Thu Jul 11 01:21:41 2013] [error] [client 194.228.20.113] user ",
                "2013-07-11T01:21:41",
            ),
            (
                "apache-auth",
                "Feb 15 16:23:00 srv httpd[22034]: [authz_core:error] [pid 22034]",
                "2005-02-15T16:23:00",
            ),
            (
                "apache-badbots",
                "1.2.3.4 - - [05/Mar/2007:14:39:21 +0100] \"POST /123.html/trackba",
                "2007-03-05T14:39:21",
            ),
            (
                "apache-botsearch",
                "[Tue Jul 22 06:48:30 2008] [error] [client 198.51.100.86] script",
                "2008-07-22T06:48:30",
            ),
            (
                "apache-nohome",
                "[Sat Jun 01 11:23:08 2013] [error] [client 1.2.3.4] File does no",
                "2013-06-01T11:23:08",
            ),
            (
                "apache-noscript",
                "[Sun Jun 09 07:57:47 2013] [error] [client 192.0.43.10] script '",
                "2013-06-09T07:57:47",
            ),
            (
                "apache-overflows",
                "[Tue Mar 16 15:39:29 2010] [error] [client 58.179.109.179] Inval",
                "2010-03-16T15:39:29",
            ),
            (
                "apache-shellshock",
                "[Thu Sep 25 09:27:18.813902 2014] [cgi:error] [pid 16860] [clien",
                "2014-09-25T09:27:18",
            ),
            (
                "asterisk",
                "[2012-02-13 17:21:54] NOTICE[1638] chan_sip.c: Registration from",
                "2012-02-13T17:21:54",
            ),
            (
                "asterisk",
                "[Jan 18 17:39:50] NOTICE[12049]: res_pjsip_session.c:2337 new_in",
                "2005-01-18T17:39:50",
            ),
            (
                "asterisk",
                "Nov 4 18:30:40 localhost asterisk[32229]: NOTICE[32257]: chan_si",
                "2004-11-04T18:30:40",
            ),
            (
                "asterisk",
                "Mar  1 15:35:53 pbx asterisk[2350]: WARNING[1195][C-00000b43]: E",
                "2005-03-01T15:35:53",
            ),
            (
                "bitwarden",
                "2019-11-26 01:04:49.008 +08:00 [WRN] Failed login attempt. 192.1",
                "2019-11-25T18:04:49",
            ),
            (
                "bitwarden",
                "2019-09-24T13:16:50 e5a81dbf7fd1 Bitwarden-Identity[1]: [Bit.Cor",
                "2019-09-24T13:16:50",
            ),
            (
                "courier-smtp",
                "Apr 10 03:47:57 web courieresmtpd: error,relay=::ffff:1.2.3.4,id",
                "2005-04-10T03:47:57",
            ),
            (
                "courier-smtp",
                "Jul  3 23:07:20 szerver courieresmtpd: error,relay=::ffff:1.2.3.",
                "2005-07-03T23:07:20",
            ),
            (
                "dovecot",
                "@400000004c91b044077a9e94 imap-login: Info: Aborted login (auth ",
                "2010-09-16T07:51:00",
            ),
            (
                "dovecot",
                "Dec 12 11:19:11 dunnart dovecot: pop3-login: Aborted login (trie",
                "2004-12-12T11:19:11",
            ),
            (
                "dovecot",
                "2013-08-11 03:56:40 auth-worker(default): Info: pam(username,1.2",
                "2013-08-11T03:56:40",
            ),
            (
                "dropbear",
                "Mar 24 15:25:51 buffalo1 dropbear[4092]: bad password attempt fo",
                "2005-03-24T15:25:51",
            ),
            (
                "exim",
                "2013-01-04 17:03:46 login authenticator failed for rrcs-24-106-1",
                "2013-01-04T17:03:46",
            ),
            (
                "gitlab",
                "2020-04-09T14:04:00.667Z: Failed Login: username=admin ip=80.10.",
                "2020-04-09T16:04:00",
            ),
            (
                "grafana",
                "t=2020-10-19T17:44:33+0200 lvl=eror msg=\"Invalid username or pas",
                "2020-10-19T17:44:33",
            ),
            (
                "haproxy-http-auth",
                "Nov 14 22:45:11 test haproxy[760]: 192.168.33.1:58430 [14/Nov/20",
                "2004-11-14T22:45:11",
            ),
            (
                "mysqld-auth",
                "130324  0:04:00 [Warning] Access denied for user 'root'@'192.168",
                "2013-03-24T00:04:00",
            ),
            (
                "mysqld-auth",
                "130324 17:56:13 [Warning] Access denied for user 'root'@'61.160.",
                "2013-03-24T17:56:13",
            ),
            (
                "mysqld-auth",
                "Sep 16 21:30:26 catinthehat mysqld: 130916 21:30:26 [Warning] Ac",
                "2004-09-16T21:30:26",
            ),
            (
                "mysqld-auth",
                "2015-10-07 06:09:42 5907 [Warning] Access denied for user 'root'",
                "2015-10-07T06:09:42",
            ),
            (
                "mysqld-auth",
                "2015-10-07  8:25:38 139845235329792 [Warning] Access denied for ",
                "2015-10-07T08:25:38",
            ),
            (
                "mysqld-auth",
                "2016-02-24T15:26:18.237955 6 [Note] Access denied for user 'root",
                "2016-02-24T15:26:18",
            ),
            (
                "named-refused",
                "Jul 24 14:16:55 raid5 named[3935]: client 194.145.196.18#4795: q",
                "2005-07-24T14:16:55",
            ),
            (
                "named-refused",
                "11-Aug-2013 03:36:11.372 error: client 1.2.3.4#52115: zone trans",
                "2013-08-11T03:36:11",
            ),
            (
                "nginx-bad-request",
                "12.34.56.78 - - [20/Jan/2015:19:53:28 +0100] \"\" 400 47 \"-\" \"-\" \"",
                "2015-01-20T19:53:28",
            ),
            (
                "nginx-bad-request",
                "7.8.9.10 - root [20/Jan/2015:01:17:07 +0100] \"CONNECT 123.123.12",
                "2015-01-20T01:17:07",
            ),
            (
                "nginx-botsearch",
                "12.34.56.78 - - [20/Jan/2015:19:53:28 +0100] \"GET //phpMyAdmin-2",
                "2015-01-20T19:53:28",
            ),
            (
                "nginx-botsearch",
                "7.8.9.10 - root [20/Jan/2015:01:17:07 +0100] \"GET /cgi-bin/recen",
                "2015-01-20T01:17:07",
            ),
            (
                "nginx-botsearch",
                "2015/01/21 10:56:10 [error] 2833#0: *16336 open() \"/var/www/site",
                "2015-01-21T10:56:10",
            ),
            (
                "nginx-http-auth",
                "2012/04/09 11:53:29 [error] 2865#0: *66647 user \"xyz\" was not fo",
                "2012-04-09T11:53:29",
            ),
            (
                "nginx-limit-req",
                "2015/10/29 20:01:02 [error] 256554#0: *99927 limiting requests, ",
                "2015-10-29T20:01:02",
            ),
            (
                "pam-generic",
                "Feb  7 15:10:42 example pure-ftpd: (pam_unix) authentication fai",
                "2005-02-07T15:10:42",
            ),
            (
                "pam-generic",
                "May 12 09:47:54 vaio sshd[16004]: (pam_unix) authentication fail",
                "2005-05-12T09:47:54",
            ),
            (
                "portsentry",
                "1403884279 - 06/27/2014 17:51:19 Host: 192.168.56.1/192.168.56.1",
                "2014-06-27T17:51:19",
            ),
            (
                "postfix",
                "Feb 21 09:21:54 xxx postfix/smtpd[14398]: NOQUEUE: reject: RCPT ",
                "2005-02-21T09:21:54",
            ),
            (
                "postfix",
                "Apr  6 13:05:01 server postfix/smtpd[20589]: NOQUEUE: reject: RC",
                "2005-04-06T13:05:01",
            ),
            (
                "proftpd",
                "Jan 10 00:00:00 myhost proftpd[12345] myhost.domain.com (123.123",
                "2005-01-10T00:00:00",
            ),
            (
                "proftpd",
                "Oct  2 15:45:44 ftp01 proftpd[5517]: 192.0.2.13 (192.0.2.13[192.",
                "2004-10-02T15:45:44",
            ),
            (
                "proftpd",
                "2013-11-16 21:59:30,121 novo proftpd[25891] localhost (andy[1.2.",
                "2013-11-16T21:59:30",
            ),
            (
                "pure-ftpd",
                "Jan 31 16:54:07 desktop pure-ftpd: (?@24.79.92.194) [WARNING] Au",
                "2005-01-31T16:54:07",
            ),
            (
                "recidive",
                "2006-02-13 15:52:30,388 fail2ban.actions: NOTICE [sendmail] Ban ",
                "2006-02-13T15:52:30",
            ),
            (
                "recidive",
                "Sep 16 00:44:55 spaceman fail2ban.actions: NOTICE [jail] Ban 10.",
                "2004-09-16T00:44:55",
            ),
            (
                "roundcube-auth",
                "[22-Jan-2013 22:28:21 +0200]: FAILED login for user1 from 192.0.",
                "2013-01-22T21:28:21",
            ),
            (
                "roundcube-auth",
                "May 26 07:12:40 hamster roundcube: IMAP Error: Login failed for ",
                "2005-05-26T07:12:40",
            ),
            (
                "selinux-ssh",
                "type=USER_ERR msg=audit(1373330717.000:4070): user pid=12000 uid",
                "2013-07-09T02:45:17",
            ),
            (
                "sendmail-auth",
                "Feb 16 23:33:20 smtp1 sm-mta[5133]: s1GNXHYB005133: [190.5.230.1",
                "2005-02-16T23:33:20",
            ),
            (
                "sendmail-reject",
                "Feb 25 03:01:10 kismet sm-acceptingconnections[27713]: s1P819mk0",
                "2005-02-25T03:01:10",
            ),
            (
                "sendmail-reject",
                "Nov  3 11:35:30 Microsoft sendmail[26254]: rA37ZTSC026254: from=",
                "2004-11-03T11:35:30",
            ),
            (
                "sshd",
                "Jun 21 16:47:48 digital-mlhhyiqscv sshd[13709]: error: PAM: Auth",
                "2005-06-21T16:47:48",
            ),
            (
                "sshd",
                "Jan  5 01:31:41 www sshd[1643]: ROOT LOGIN REFUSED FROM 1.2.3.4",
                "2005-01-05T01:31:41",
            ),
            (
                "sshd",
                "2015-04-16T18:02:50.568798+00:00 host sshd[2716]: Connection clo",
                "2015-04-16T20:02:50",
            ),
            (
                "sshd",
                "<38>1 2019-07-08T17:40:16.954167-04:00 hostname.example.com sshd",
                "2019-07-08T23:40:16",
            ),
            (
                "traefik-auth",
                "10.0.0.2 - username [18/Nov/2018:21:34:34 +0000] \"GET /dashboard",
                "2018-11-18T22:34:34",
            ),
            (
                "traefik-auth",
                "10.0.0.2 - - [18/Nov/2018:21:34:30 +0000] \"GET /dashboard/ HTTP/",
                "2018-11-18T22:34:30",
            ),
            (
                "vsftpd",
                "Oct 11 01:06:47 ServerJV vsftpd: (pam_unix) authentication failu",
                "2004-10-11T01:06:47",
            ),
            (
                "vsftpd",
                "Fri Jan 19 12:20:33 2007 [pid 27202] [anonymous] FAIL LOGIN: Cli",
                "2007-01-19T12:20:33",
            ),
            (
                "vsftpd",
                "Thu Sep  8 00:39:49 2016 [pid 15019] [guest] FAIL LOGIN: Client ",
                "2016-09-08T00:39:49",
            ),
        ] {
            let time = parse_prefix(line, &ctx)
                .map(|(t, _)| t)
                .or_else(|| find(line, &ctx).map(|(t, _)| t));
            let got = time.map(|t| {
                t.zoned
                    .with_time_zone(cet.clone())
                    .strftime("%Y-%m-%dT%H:%M:%S")
                    .to_string()
            });
            assert_eq!(got.as_deref(), Some(want), "{file}: {line}");
        }
    }

    #[test]
    fn day_number_matches_jiff() {
        for (y, m, d) in [(1970, 1, 1), (2000, 2, 29), (2005, 8, 14), (1969, 12, 31)] {
            let ours = day_number(y, m, d);
            let jiffs = jiff::civil::date(y, m, d)
                .to_zoned(TimeZone::UTC)
                .unwrap()
                .timestamp()
                .as_second()
                / 86_400;
            assert_eq!(ours, jiffs, "{y}-{m}-{d}");
        }
    }
}
