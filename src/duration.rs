//! Human durations in configuration: `90s`, `10m`, `1h30m`, `7d`, `1w`, `forever`.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

/// A configured span of time. `Forever` is accepted only where a setting
/// allows it (ban times); other settings call [`Span::finite`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Span {
    /// A finite duration.
    Finite(Duration),
    /// No end.
    Forever,
}

impl Span {
    /// Parses `90s`, `10m`, `1h30m`, `2d`, `1w`, `500ms`, a bare number of
    /// seconds, or `forever`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("forever") || t == "-1" {
            return Ok(Span::Forever);
        }
        if t.is_empty() {
            return Err("empty duration".into());
        }
        if let Ok(secs) = t.parse::<u64>() {
            return Ok(Span::Finite(Duration::from_secs(secs)));
        }
        let mut total: u128 = 0;
        let mut rest = t;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(bad(text));
            }
            let n: u128 = rest[..digits].parse().map_err(|_| bad(text))?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let unit = &rest[..unit_len];
            rest = rest[unit_len..].trim_start();
            let millis: u128 = match unit {
                "ms" => 1,
                "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
                "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
                "h" | "hour" | "hours" => 3_600_000,
                "d" | "day" | "days" => 86_400_000,
                "w" | "week" | "weeks" => 604_800_000,
                _ => return Err(bad(text)),
            };
            total = total
                .checked_add(n.checked_mul(millis).ok_or_else(|| bad(text))?)
                .ok_or_else(|| bad(text))?;
        }
        let millis = u64::try_from(total).map_err(|_| bad(text))?;
        Ok(Span::Finite(Duration::from_millis(millis)))
    }

    /// The duration, or an error when this is `forever`.
    pub fn finite(self) -> Result<Duration, String> {
        match self {
            Span::Finite(d) => Ok(d),
            Span::Forever => Err("`forever` is not allowed here".into()),
        }
    }

    /// The duration, `None` for forever.
    pub fn as_duration(self) -> Option<Duration> {
        match self {
            Span::Finite(d) => Some(d),
            Span::Forever => None,
        }
    }
}

fn bad(text: &str) -> String {
    format!("invalid duration `{text}` (expected e.g. 90s, 10m, 1h, 7d, 1w or forever)")
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Span::Forever => f.write_str("forever"),
            Span::Finite(d) => write_duration(f, *d),
        }
    }
}

/// Writes a duration in the largest exact units (`1h30m`, `90ms`).
pub fn write_duration(f: &mut impl fmt::Write, d: Duration) -> fmt::Result {
    let mut ms = d.as_millis();
    if ms == 0 {
        return f.write_str("0s");
    }
    for (unit, size) in [
        ("w", 604_800_000u128),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= size {
            write!(f, "{}{unit}", ms / size)?;
            ms %= size;
        }
    }
    Ok(())
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(n) => Ok(Span::Finite(Duration::from_secs(n))),
            Raw::Text(s) => Span::parse(&s).map_err(serde::de::Error::custom),
        }
    }
}

impl Serialize for Span {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A finite duration in configuration (refuses `forever`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FiniteSpan(pub Duration);

impl<'de> Deserialize<'de> for FiniteSpan {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Span::deserialize(d)?
            .finite()
            .map(FiniteSpan)
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for FiniteSpan {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Span::Finite(self.0).serialize(s)
    }
}

impl fmt::Display for FiniteSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_duration(f, self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: &str) -> u64 {
        Span::parse(s).unwrap().finite().unwrap().as_secs()
    }

    #[test]
    fn units() {
        assert_eq!(secs("90s"), 90);
        assert_eq!(secs("10m"), 600);
        assert_eq!(secs("1h30m"), 5400);
        assert_eq!(secs("7d"), 604_800);
        assert_eq!(secs("1w"), 604_800);
        assert_eq!(secs("42"), 42);
        assert_eq!(
            Span::parse("250ms").unwrap(),
            Span::Finite(Duration::from_millis(250))
        );
        assert_eq!(Span::parse("forever").unwrap(), Span::Forever);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "m", "10x", "1.5h", "-3s", "99999999999999999999999w"] {
            assert!(Span::parse(bad).is_err(), "{bad}");
        }
        assert!(Span::Forever.finite().is_err());
    }

    #[test]
    fn display_round_trips() {
        for s in ["1h30m", "6d", "1w", "1w1d", "90ms", "forever", "0s"] {
            assert_eq!(Span::parse(s).unwrap().to_string(), s);
        }
    }
}
