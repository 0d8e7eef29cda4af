//! `cast`: convert field types.
//!
//! ```yaml
//! fields:
//!   http.response.status_code: int
//!   client.ip: ip
//!   "@timestamp": {type: timestamp, format: "%d/%b/%Y:%H:%M:%S %z"}
//! on_error: keep            # keep (default) | drop | null
//! ```
//!
//! Types:
//! - `int`: integers, integral floats (`3.0`), numeric strings (`" 42 "`,
//!   `"1e3"`), booleans (1/0). Fractions and out-of-range values fail.
//! - `float`: numbers, numeric strings, booleans (1.0/0.0); not inf/NaN.
//! - `bool`: booleans, `true/false/yes/no/on/off/1/0` (any case), numbers 1/0.
//! - `string`: numbers and booleans as text, lists and objects as JSON.
//! - `ip`: an IPv4 or IPv6 address in canonical form; `::ffff:a.b.c.d`
//!   becomes `a.b.c.d`. `999.1.1.1`, `1.2.3` and the like fail.
//! - `timestamp`: with `format:` (strftime-style, jiff `strtime`), the text
//!   is parsed with it; a missing year is the current one; without an offset
//!   in the text the time is read in `timezone`. Without `format:`, RFC 3339
//!   text, a date-time without offset (read in `timezone`), or epoch
//!   seconds / milliseconds (a number or numeric string; magnitudes from
//!   1e11 up are milliseconds). The result is RFC 3339 with milliseconds in
//!   `timezone` (an IANA name or `UTC`; default: the system time zone).
//! - `lowercase`, `uppercase`: strings only.
//!
//! The mapping form `{type: ..., format: ..., timezone: ..., on_error: ...}`
//! sets options per field. Missing and `null` fields are left alone. A value
//! that cannot be cast is reported on `errors` (one record per event, with
//! the event as it was before `on_error` applied) and then, per `on_error`:
//! `keep` leaves the value as it was, `drop` removes the field, `null` sets
//! it to null. The event always goes on.

use std::net::IpAddr;

use jiff::fmt::strtime;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use serde::Deserialize;
use serde_json::Value;
use serde_yaml_ng::{Mapping, Value as Yaml};

use crate::event::{Event, FieldPath};
use crate::pipeline::{BuildContext, BuildError, BuiltStage, Outbox, Processor};
use crate::stages::{Module, ModuleKind};

/// Registry entry.
pub const MODULE: Module = Module {
    name: "cast",
    kind: ModuleKind::Transform,
    summary: "convert field types",
    build,
};

/// Options of `cast`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CastConfig {
    /// `path: TYPE` or `path: {type: TYPE, ...}`.
    fields: Mapping,
    /// What to do with a value that cannot be cast.
    #[serde(default)]
    on_error: OnError,
}

/// What happens to a field whose value cannot be cast.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum OnError {
    /// Leave the value as it was.
    #[default]
    Keep,
    /// Remove the field.
    Drop,
    /// Set the field to null.
    Null,
}

impl<'de> Deserialize<'de> for OnError {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // By hand because an unquoted `null` in YAML is the null value, not
        // the string: `on_error: null` must mean `Null`.
        match Yaml::deserialize(d)? {
            Yaml::Null => Ok(OnError::Null),
            Yaml::String(s) if s == "null" => Ok(OnError::Null),
            Yaml::String(s) if s == "keep" => Ok(OnError::Keep),
            Yaml::String(s) if s == "drop" => Ok(OnError::Drop),
            other => Err(serde::de::Error::custom(format!(
                "expected keep, drop or null, found {}",
                match other {
                    Yaml::String(s) => format!("`{s}`"),
                    _ => "a non-string value".into(),
                }
            ))),
        }
    }
}

/// `Some` even for YAML null (which `Option` would turn into `None`).
fn some_on_error<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<OnError>, D::Error> {
    OnError::deserialize(d).map(Some)
}

/// The target types, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum CastType {
    Int,
    Float,
    Bool,
    String,
    Ip,
    Timestamp,
    Lowercase,
    Uppercase,
}

/// The mapping form of one field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldSpec {
    #[serde(rename = "type")]
    kind: CastType,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default, deserialize_with = "some_on_error")]
    on_error: Option<OnError>,
}

#[derive(Debug)]
enum Kind {
    Int,
    Float,
    Bool,
    Str,
    Ip,
    Timestamp {
        format: Option<String>,
        tz: TimeZone,
    },
    Lower,
    Upper,
}

#[derive(Debug)]
struct FieldCast {
    path: FieldPath,
    kind: Kind,
    on_error: OnError,
}

fn build(ctx: &BuildContext) -> Result<BuiltStage, BuildError> {
    let cfg: CastConfig = ctx.options()?;
    if cfg.fields.is_empty() {
        return Err(BuildError::field("fields", "the mapping is empty"));
    }
    let mut fields = Vec::with_capacity(cfg.fields.len());
    for (k, v) in &cfg.fields {
        let Some(name) = k.as_str() else {
            return Err(BuildError::field("fields", "field names must be strings"));
        };
        let here = format!("fields.{name}");
        let path = FieldPath::parse(name).map_err(|m| BuildError::field(&here, m))?;
        let spec: FieldSpec = match v {
            Yaml::Mapping(_) => crate::config::deserialize_located(v.clone(), |field, msg| {
                BuildError::field(
                    field.map_or_else(|| here.clone(), |f| format!("{here}.{f}")),
                    msg,
                )
            })?,
            _ => FieldSpec {
                kind: crate::config::deserialize_located(v.clone(), |_, msg| {
                    BuildError::field(&here, msg)
                })?,
                format: None,
                timezone: None,
                on_error: None,
            },
        };
        fields.push(FieldCast {
            path,
            kind: kind(spec.kind, spec.format, spec.timezone.as_deref(), &here)?,
            on_error: spec.on_error.unwrap_or(cfg.on_error),
        });
    }
    Ok(BuiltStage::processor(Cast { fields }))
}

fn kind(
    t: CastType,
    format: Option<String>,
    timezone: Option<&str>,
    here: &str,
) -> Result<Kind, BuildError> {
    if t != CastType::Timestamp {
        if format.is_some() {
            return Err(BuildError::field(
                format!("{here}.format"),
                "only applies to `type: timestamp`",
            ));
        }
        if timezone.is_some() {
            return Err(BuildError::field(
                format!("{here}.timezone"),
                "only applies to `type: timestamp`",
            ));
        }
    }
    Ok(match t {
        CastType::Int => Kind::Int,
        CastType::Float => Kind::Float,
        CastType::Bool => Kind::Bool,
        CastType::String => Kind::Str,
        CastType::Ip => Kind::Ip,
        CastType::Lowercase => Kind::Lower,
        CastType::Uppercase => Kind::Upper,
        CastType::Timestamp => {
            let tz = match timezone {
                None | Some("local") => TimeZone::system(),
                Some("UTC") => TimeZone::UTC,
                Some(name) => TimeZone::get(name).map_err(|e| {
                    BuildError::field(
                        format!("{here}.timezone"),
                        format!("unknown time zone: {e}"),
                    )
                })?,
            };
            if let Some(f) = &format {
                // jiff checks directives only when used: try one now so a
                // typo fails at start-up, not on every event.
                let sample = Timestamp::UNIX_EPOCH.to_zoned(TimeZone::UTC);
                strtime::format(f, &sample).map_err(|e| {
                    BuildError::field(format!("{here}.format"), format!("invalid format: {e}"))
                })?;
            }
            Kind::Timestamp { format, tz }
        }
    })
}

struct Cast {
    fields: Vec<FieldCast>,
}

impl Processor for Cast {
    fn process(&mut self, mut event: Event, out: &mut Outbox) {
        // Allocated only when something fails.
        let mut failures: Vec<(usize, String)> = Vec::new();
        for (i, f) in self.fields.iter().enumerate() {
            let Some(value) = event.get(&f.path).filter(|v| !v.is_null()) else {
                continue;
            };
            match f.kind.apply(value) {
                Ok(None) => {}
                Ok(Some(new)) => event.set(&f.path, new),
                Err(reason) => {
                    failures.push((i, format!("{}: {} {reason}", f.path, preview(value))))
                }
            }
        }
        if !failures.is_empty() {
            let detail: Vec<&str> = failures.iter().map(|(_, m)| m.as_str()).collect();
            out.error(format!("cast: {}", detail.join("; ")), Some(event.clone()));
            for (i, _) in failures {
                let Some(f) = self.fields.get(i) else {
                    continue;
                };
                match f.on_error {
                    OnError::Keep => {}
                    OnError::Drop => {
                        event.remove(&f.path);
                    }
                    OnError::Null => event.set(&f.path, Value::Null),
                }
            }
        }
        out.emit(event);
    }
}

/// A short, escaped rendering of a value for error messages.
fn preview(v: &Value) -> String {
    const MAX: usize = 64;
    match v {
        Value::String(s) => {
            let cut: String = s.chars().take(MAX).collect();
            let more = if cut.len() < s.len() { "..." } else { "" };
            format!("{cut:?}{more}")
        }
        other => {
            let text = other.to_string();
            match text.char_indices().nth(MAX) {
                Some((i, _)) => format!("{}...", &text[..i]),
                None => text,
            }
        }
    }
}

impl Kind {
    /// The cast value, `None` when it is already right, or why it failed.
    fn apply(&self, v: &Value) -> Result<Option<Value>, String> {
        match self {
            Kind::Int => to_int(v),
            Kind::Float => to_float(v),
            Kind::Bool => to_bool(v),
            Kind::Str => Ok(to_string(v)),
            Kind::Ip => to_ip(v),
            Kind::Timestamp { format, tz } => to_timestamp(v, format.as_deref(), tz),
            Kind::Lower | Kind::Upper => {
                let Value::String(s) = v else {
                    return Err("is not a string".into());
                };
                let new = if matches!(self, Kind::Lower) {
                    s.to_lowercase()
                } else {
                    s.to_uppercase()
                };
                Ok((new != *s).then_some(Value::String(new)))
            }
        }
    }
}

fn to_int(v: &Value) -> Result<Option<Value>, String> {
    const NOT: &str = "is not an integer";
    match v {
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(None),
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| NOT.to_string())
            .and_then(float_to_int)
            .map(Some),
        Value::String(s) => {
            let t = s.trim();
            if let Ok(i) = t.parse::<i64>() {
                Ok(Some(i.into()))
            } else if let Ok(u) = t.parse::<u64>() {
                Ok(Some(u.into()))
            } else if let Ok(f) = t.parse::<f64>() {
                float_to_int(f).map(Some)
            } else {
                Err(NOT.into())
            }
        }
        Value::Bool(b) => Ok(Some(u8::from(*b).into())),
        _ => Err(NOT.into()),
    }
}

fn float_to_int(f: f64) -> Result<Value, String> {
    // 2^63: the first f64 beyond i64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if !f.is_finite() {
        Err("is not an integer".into())
    } else if f.fract() != 0.0 {
        Err("has a fractional part".into())
    } else if !(-LIMIT..LIMIT).contains(&f) {
        Err("is out of the integer range".into())
    } else {
        // In range and integral: exact.
        Ok(Value::from(f as i64))
    }
}

fn float_value(f: f64) -> Result<Value, String> {
    serde_json::Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| "is not a finite number".to_string())
}

fn to_float(v: &Value) -> Result<Option<Value>, String> {
    match v {
        Value::Number(n) if n.is_f64() => Ok(None),
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| "is not a number".to_string())
            .and_then(float_value)
            .map(Some),
        Value::String(s) => match s.trim().parse::<f64>() {
            Ok(f) => float_value(f).map(Some),
            Err(_) => Err("is not a number".into()),
        },
        Value::Bool(b) => float_value(if *b { 1.0 } else { 0.0 }).map(Some),
        _ => Err("is not a number".into()),
    }
}

fn to_bool(v: &Value) -> Result<Option<Value>, String> {
    const NOT: &str = "is not a boolean";
    match v {
        Value::Bool(_) => Ok(None),
        Value::String(s) => {
            let t = s.trim();
            let is = |words: &[&str]| words.iter().any(|w| t.eq_ignore_ascii_case(w));
            if is(&["true", "yes", "on", "1"]) {
                Ok(Some(Value::Bool(true)))
            } else if is(&["false", "no", "off", "0"]) {
                Ok(Some(Value::Bool(false)))
            } else {
                Err(NOT.into())
            }
        }
        Value::Number(n) => match n.as_f64() {
            Some(1.0) => Ok(Some(Value::Bool(true))),
            Some(0.0) => Ok(Some(Value::Bool(false))),
            _ => Err(NOT.into()),
        },
        _ => Err(NOT.into()),
    }
}

fn to_string(v: &Value) -> Option<Value> {
    match v {
        Value::String(_) => None,
        other => Some(Value::String(other.to_string())),
    }
}

fn to_ip(v: &Value) -> Result<Option<Value>, String> {
    const NOT: &str = "is not an IP address";
    let Value::String(s) = v else {
        return Err(NOT.into());
    };
    let ip: IpAddr = s.trim().parse().map_err(|_| NOT.to_string())?;
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    let canonical = ip.to_string();
    Ok((canonical != *s).then_some(Value::String(canonical)))
}

/// Epoch magnitudes from here up are milliseconds (1e11 s is year 5138).
const MILLIS_FROM: f64 = 1e11;

fn epoch(n: &serde_json::Number) -> Result<Timestamp, String> {
    const BAD: &str = "is out of the timestamp range";
    if let Some(i) = n.as_i64() {
        // `as f64` only classifies the magnitude.
        let ts = if (i as f64).abs() >= MILLIS_FROM {
            Timestamp::from_millisecond(i)
        } else {
            Timestamp::from_second(i)
        };
        return ts.map_err(|_| BAD.to_string());
    }
    let f = n.as_f64().filter(|f| f.is_finite()).ok_or(BAD)?;
    let per_unit: i128 = if f.abs() >= MILLIS_FROM {
        1_000_000
    } else {
        1_000_000_000
    };
    // Whole units and the fraction apart, so that `1700000000.25` gives
    // exactly 250 ms. `as` saturates; jiff refuses what is out of range.
    let whole = f.trunc();
    let frac = ((f - whole) * per_unit as f64).round() as i128;
    let nanos = (whole as i128)
        .checked_mul(per_unit)
        .and_then(|n| n.checked_add(frac))
        .ok_or(BAD)?;
    Timestamp::from_nanosecond(nanos).map_err(|_| BAD.to_string())
}

fn parse_with_format(s: &str, format: &str, tz: &TimeZone) -> Result<Timestamp, String> {
    let fail = |e: jiff::Error| format!("does not match `{format}`: {e}");
    let mut tm = strtime::parse(format, s).map_err(fail)?;
    if let Some(ts) = tm.timestamp() {
        return Ok(ts);
    }
    if tm.year().is_none() {
        // Syslog-style stamps have no year: assume the current one.
        let year = Zoned::now().with_time_zone(tz.clone()).year();
        tm.set_year(Some(year)).map_err(fail)?;
    }
    if tm.offset().is_some() {
        return tm.to_timestamp().map_err(fail);
    }
    if tm.iana_time_zone().is_some() {
        return tm.to_zoned().map(|z| z.timestamp()).map_err(fail);
    }
    let dt = tm.to_datetime().map_err(fail)?;
    tz.to_ambiguous_zoned(dt)
        .compatible()
        .map(|z| z.timestamp())
        .map_err(fail)
}

fn parse_auto(s: &str, tz: &TimeZone) -> Result<Timestamp, String> {
    const NOT: &str = "is not an RFC 3339 timestamp or epoch time";
    let t = s.trim();
    if let Ok(ts) = t.parse::<Timestamp>() {
        return Ok(ts);
    }
    if let Ok(dt) = t.parse::<jiff::civil::DateTime>() {
        return tz
            .to_ambiguous_zoned(dt)
            .compatible()
            .map(|z| z.timestamp())
            .map_err(|e| format!("{NOT}: {e}"));
    }
    if let Ok(i) = t.parse::<i64>() {
        return epoch(&i.into());
    }
    match t.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
        Some(n) => epoch(&n),
        None => Err(NOT.into()),
    }
}

fn to_timestamp(v: &Value, format: Option<&str>, tz: &TimeZone) -> Result<Option<Value>, String> {
    let ts = match (v, format) {
        (Value::String(s), Some(f)) => parse_with_format(s, f, tz)?,
        (Value::String(s), None) => parse_auto(s, tz)?,
        (Value::Number(n), _) => epoch(n)?,
        _ => return Err("is not a timestamp".into()),
    };
    let text = crate::time::format_timestamp(ts, tz);
    Ok((v.as_str() != Some(&text)).then_some(Value::String(text)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::keep::test_support::{build_err, one, processor, run};
    use super::*;

    /// Casts `value` at field `v` with `spec`; the result value or the error
    /// message (the event then keeps its value).
    fn cast(spec: &str, value: Value) -> Result<Value, String> {
        let mut p = processor(&MODULE, &format!("fields:\n  v: {spec}\n"));
        let (out, errors) = run(p.as_mut(), vec![json!({ "v": value.clone() })]);
        assert_eq!(out.len(), 1);
        match errors.as_slice() {
            [] => Ok(out[0]["v"].clone()),
            [(message, input)] => {
                assert_eq!(out[0], json!({ "v": value }), "keep leaves the value");
                assert_eq!(*input, json!({ "v": value }));
                Err(message.clone())
            }
            more => panic!("{more:?}"),
        }
    }

    #[test]
    fn int() {
        assert_eq!(cast("int", json!("42")), Ok(json!(42)));
        assert_eq!(cast("int", json!(" -7 ")), Ok(json!(-7)));
        assert_eq!(
            cast("int", json!("18446744073709551615")),
            Ok(json!(u64::MAX))
        );
        assert_eq!(cast("int", json!("1e3")), Ok(json!(1000)));
        assert_eq!(cast("int", json!(3.0)), Ok(json!(3)));
        assert_eq!(cast("int", json!(12)), Ok(json!(12)));
        assert_eq!(cast("int", json!(true)), Ok(json!(1)));
        assert_eq!(
            cast("int", json!("3.5")),
            Err(r#"cast: v: "3.5" has a fractional part"#.into())
        );
        assert_eq!(
            cast("int", json!(2.5)),
            Err("cast: v: 2.5 has a fractional part".into())
        );
        assert_eq!(
            cast("int", json!("1e30")),
            Err(r#"cast: v: "1e30" is out of the integer range"#.into())
        );
        assert_eq!(
            cast("int", json!("abc")),
            Err(r#"cast: v: "abc" is not an integer"#.into())
        );
        assert_eq!(
            cast("int", json!("inf")),
            Err(r#"cast: v: "inf" is not an integer"#.into())
        );
        assert_eq!(
            cast("int", json!([1])),
            Err("cast: v: [1] is not an integer".into())
        );
    }

    #[test]
    fn float() {
        assert_eq!(cast("float", json!("1.5")), Ok(json!(1.5)));
        assert_eq!(cast("float", json!(" 2 ")), Ok(json!(2.0)));
        assert_eq!(cast("float", json!(7)), Ok(json!(7.0)));
        assert_eq!(cast("float", json!(0.25)), Ok(json!(0.25)));
        assert_eq!(cast("float", json!(false)), Ok(json!(0.0)));
        assert_eq!(
            cast("float", json!("NaN")),
            Err(r#"cast: v: "NaN" is not a finite number"#.into())
        );
        assert_eq!(
            cast("float", json!("1e999")),
            Err(r#"cast: v: "1e999" is not a finite number"#.into())
        );
        assert_eq!(
            cast("float", json!("x1")),
            Err(r#"cast: v: "x1" is not a number"#.into())
        );
        assert_eq!(
            cast("float", json!({"a": 1})),
            Err(r#"cast: v: {"a":1} is not a number"#.into())
        );
    }

    #[test]
    fn bool() {
        for (input, want) in [
            (json!("true"), true),
            (json!("Yes"), true),
            (json!(" ON "), true),
            (json!("1"), true),
            (json!(1), true),
            (json!("FALSE"), false),
            (json!("no"), false),
            (json!("off"), false),
            (json!(0), false),
            (json!(false), false),
        ] {
            assert_eq!(cast("bool", input.clone()), Ok(json!(want)), "{input}");
        }
        assert_eq!(
            cast("bool", json!("maybe")),
            Err(r#"cast: v: "maybe" is not a boolean"#.into())
        );
        assert_eq!(
            cast("bool", json!(2)),
            Err("cast: v: 2 is not a boolean".into())
        );
    }

    #[test]
    fn string_lowercase_uppercase() {
        assert_eq!(cast("string", json!(404)), Ok(json!("404")));
        assert_eq!(cast("string", json!(1.5)), Ok(json!("1.5")));
        assert_eq!(cast("string", json!(true)), Ok(json!("true")));
        assert_eq!(cast("string", json!([1, "a"])), Ok(json!("[1,\"a\"]")));
        assert_eq!(cast("string", json!("x")), Ok(json!("x")));
        assert_eq!(
            cast("lowercase", json!("GET Ünïcode")),
            Ok(json!("get ünïcode"))
        );
        assert_eq!(cast("uppercase", json!("get")), Ok(json!("GET")));
        assert_eq!(
            cast("lowercase", json!(5)),
            Err("cast: v: 5 is not a string".into())
        );
    }

    #[test]
    fn ip() {
        assert_eq!(cast("ip", json!("1.2.3.4")), Ok(json!("1.2.3.4")));
        assert_eq!(cast("ip", json!(" 10.0.0.1\n")), Ok(json!("10.0.0.1")));
        assert_eq!(
            cast("ip", json!("::ffff:192.0.2.7")),
            Ok(json!("192.0.2.7"))
        );
        assert_eq!(
            cast("ip", json!("2001:DB8:0:0::0001")),
            Ok(json!("2001:db8::1"))
        );
        assert_eq!(cast("ip", json!("::1")), Ok(json!("::1")));
        for bad in [
            json!("999.1.1.1"),
            json!("1.2.3"),
            json!("1.2.3.4.5"),
            json!("01.2.3.4"),
            json!("1.2.3.4/24"),
            json!("[::1]"),
            json!("fe80::1%eth0"),
            json!(""),
            json!("host.example"),
            json!("1.2.3.\u{FFFD}"),
        ] {
            assert_eq!(
                cast("ip", bad.clone()),
                Err(format!("cast: v: {bad} is not an IP address")),
                "{bad}"
            );
        }
        assert_eq!(
            cast("ip", json!(16909060)),
            Err("cast: v: 16909060 is not an IP address".into())
        );
    }

    #[test]
    fn timestamp_with_format() {
        let spec = r#"{type: timestamp, format: "%d/%b/%Y:%H:%M:%S %z", timezone: UTC}"#;
        assert_eq!(
            cast(spec, json!("10/Oct/2000:13:55:36 -0700")),
            Ok(json!("2000-10-10T20:55:36.000+00:00"))
        );
        let e = cast(spec, json!("10/Oct/2000 13:55:36")).unwrap_err();
        assert!(
            e.starts_with(
                r#"cast: v: "10/Oct/2000 13:55:36" does not match `%d/%b/%Y:%H:%M:%S %z`: "#
            ),
            "{e}"
        );
        // No offset in the text: read in `timezone`.
        let paris = "{type: timestamp, format: '%Y-%m-%d %H:%M:%S', timezone: Europe/Paris}";
        assert_eq!(
            cast(paris, json!("2024-07-01 12:00:00")),
            Ok(json!("2024-07-01T12:00:00.000+02:00"))
        );
        // No year: the current one.
        let syslog = "{type: timestamp, format: '%b %e %H:%M:%S', timezone: UTC}";
        let year = Zoned::now().with_time_zone(TimeZone::UTC).year();
        assert_eq!(
            cast(syslog, json!("Mar  5 06:07:08")),
            Ok(json!(format!("{year}-03-05T06:07:08.000+00:00")))
        );
    }

    #[test]
    fn timestamp_without_format() {
        let utc = "{type: timestamp, timezone: UTC}";
        assert_eq!(
            cast(utc, json!("2024-02-29T13:14:15.5+01:00")),
            Ok(json!("2024-02-29T12:14:15.500+00:00"))
        );
        assert_eq!(
            cast(utc, json!("2024-02-29T13:14:15Z")),
            Ok(json!("2024-02-29T13:14:15.000+00:00"))
        );
        assert_eq!(
            cast(utc, json!("2024-02-29T13:14:15")),
            Ok(json!("2024-02-29T13:14:15.000+00:00"))
        );
        assert_eq!(
            cast(utc, json!(1_700_000_000)),
            Ok(json!("2023-11-14T22:13:20.000+00:00"))
        );
        assert_eq!(
            cast(utc, json!("1700000000")),
            Ok(json!("2023-11-14T22:13:20.000+00:00"))
        );
        assert_eq!(
            cast(utc, json!(1_700_000_000_123_i64)),
            Ok(json!("2023-11-14T22:13:20.123+00:00"))
        );
        assert_eq!(
            cast(utc, json!(1_700_000_000.25)),
            Ok(json!("2023-11-14T22:13:20.250+00:00"))
        );
        assert_eq!(
            cast(utc, json!(0)),
            Ok(json!("1970-01-01T00:00:00.000+00:00"))
        );
        // Already normalised: unchanged.
        assert_eq!(
            cast(utc, json!("2023-11-14T22:13:20.000+00:00")),
            Ok(json!("2023-11-14T22:13:20.000+00:00"))
        );
        assert_eq!(
            cast(utc, json!("yesterday")),
            Err(r#"cast: v: "yesterday" is not an RFC 3339 timestamp or epoch time"#.into())
        );
        assert_eq!(
            cast(utc, json!(1e300)),
            Err("cast: v: 1e+300 is out of the timestamp range".into())
        );
        assert_eq!(
            cast(utc, json!(i64::MAX)),
            Err("cast: v: 9223372036854775807 is out of the timestamp range".into())
        );
        assert_eq!(
            cast(utc, json!(true)),
            Err("cast: v: true is not a timestamp".into())
        );
        // Plain `timestamp` uses the system zone; the instant is kept.
        let local = cast("timestamp", json!(1_700_000_000)).unwrap();
        let back: Timestamp = local.as_str().unwrap().parse().unwrap();
        assert_eq!(back.as_second(), 1_700_000_000);
    }

    #[test]
    fn missing_null_and_nested_fields() {
        let mut p = processor(&MODULE, "fields:\n  a.b: int\n  c: ip\n");
        assert_eq!(one(p.as_mut(), json!({"x": 1})), json!({"x": 1}));
        assert_eq!(
            one(p.as_mut(), json!({"a": {"b": null}, "c": null})),
            json!({"a": {"b": null}, "c": null})
        );
        assert_eq!(
            one(
                p.as_mut(),
                json!({"a": {"b": "5", "z": 1}, "c": "::ffff:1.2.3.4"})
            ),
            json!({"a": {"b": 5, "z": 1}, "c": "1.2.3.4"})
        );
    }

    #[test]
    fn one_error_per_event_and_on_error_modes() {
        let event = json!({"a": "x", "b": "7", "c": "999.1.1.1"});
        let mut keep = processor(&MODULE, "fields: {a: int, b: int, c: ip}");
        let (out, errors) = run(keep.as_mut(), vec![event.clone()]);
        assert_eq!(out, [json!({"a": "x", "b": 7, "c": "999.1.1.1"})]);
        assert_eq!(
            errors,
            [(
                r#"cast: a: "x" is not an integer; c: "999.1.1.1" is not an IP address"#
                    .to_string(),
                json!({"a": "x", "b": 7, "c": "999.1.1.1"})
            )]
        );

        let mut drop = processor(&MODULE, "fields: {a: int, b: int, c: ip}\non_error: drop");
        let (out, errors) = run(drop.as_mut(), vec![event.clone()]);
        assert_eq!(out, [json!({"b": 7})]);
        assert_eq!(errors[0].1, json!({"a": "x", "b": 7, "c": "999.1.1.1"}));

        let mut null = processor(
            &MODULE,
            "fields: {a: int, b: int, c: {type: ip, on_error: keep}}\non_error: null",
        );
        let (out, errors) = run(null.as_mut(), vec![event]);
        assert_eq!(out, [json!({"a": null, "b": 7, "c": "999.1.1.1"})]);
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn huge_and_lossy_values_are_previewed_briefly() {
        let huge = format!("{}x", "9".repeat(1 << 20));
        let (message, _) = {
            let mut p = processor(&MODULE, "fields: {v: int}");
            let (out, mut errors) = run(p.as_mut(), vec![json!({ "v": huge.clone() })]);
            assert_eq!(out, [json!({ "v": huge })]);
            errors.remove(0)
        };
        assert_eq!(
            message,
            format!("cast: v: {:?}... is not an integer", "9".repeat(64))
        );
        let lossy = String::from_utf8_lossy(b"1.2.3.\xff").into_owned();
        assert_eq!(
            cast("ip", json!(lossy)),
            Err("cast: v: \"1.2.3.\u{FFFD}\" is not an IP address".into())
        );
        assert_eq!(
            cast("lowercase", json!("ÀB\u{FFFD}")),
            Ok(json!("àb\u{FFFD}"))
        );
    }

    #[test]
    fn option_errors() {
        let cases = [
            ("fields: {}", "fields", "the mapping is empty"),
            (
                "fields: {'a..b': int}",
                "fields.a..b",
                "field path `a..b` has an empty segment",
            ),
            (
                "fields: {a: {type: int, format: '%Y'}}",
                "fields.a.format",
                "only applies to `type: timestamp`",
            ),
            (
                "fields: {a: {type: ip, timezone: UTC}}",
                "fields.a.timezone",
                "only applies to `type: timestamp`",
            ),
            ("fields: {1: int}", "fields", "field names must be strings"),
        ];
        for (yaml, field, message) in cases {
            assert_eq!(
                build_err(&MODULE, yaml),
                (field.to_string(), message.to_string()),
                "{yaml}"
            );
        }
        let (field, message) = build_err(&MODULE, "fields: {a: integer}");
        assert_eq!(field, "fields.a");
        assert!(
            message.starts_with("unknown variant `integer`, expected one of `int`"),
            "{message}"
        );
        let (field, message) = build_err(&MODULE, "fields: {a: {type: timestamp, fromat: x}}");
        assert_eq!(field, "fields.a.fromat");
        assert!(message.contains("unknown field `fromat`"), "{message}");
        let (field, message) = build_err(&MODULE, "fields: {a: {format: x}}");
        assert_eq!(field, "fields.a");
        assert!(message.contains("missing field `type`"), "{message}");
        let (field, message) = build_err(
            &MODULE,
            "fields: {a: {type: timestamp, timezone: Mars/Olympus}}",
        );
        assert_eq!(field, "fields.a.timezone");
        assert!(message.starts_with("unknown time zone: "), "{message}");
        let (field, message) =
            build_err(&MODULE, "fields: {a: {type: timestamp, format: '%Y %!'}}");
        assert_eq!(field, "fields.a.format");
        assert!(message.starts_with("invalid format: "), "{message}");
        let (field, message) = build_err(&MODULE, "fields: {a: int}\non_error: explode");
        assert_eq!(field, "on_error");
        assert_eq!(message, "expected keep, drop or null, found `explode`");
        let (field, message) = build_err(&MODULE, "fields: {a: {type: int, on_error: 5}}");
        assert_eq!(field, "fields.a.on_error");
        assert_eq!(
            message,
            "expected keep, drop or null, found a non-string value"
        );
    }
}
