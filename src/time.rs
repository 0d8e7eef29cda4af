//! Time helpers shared by stages: the current time and RFC 3339 rendering.

use jiff::{Timestamp, Zoned, tz::TimeZone};

/// Now, in the system time zone, as RFC 3339 with milliseconds
/// (`2026-11-25T09:31:04.123+01:00`).
pub fn now_rfc3339() -> String {
    format_zoned(&Zoned::now())
}

/// Renders a zoned time as RFC 3339 with milliseconds and a numeric offset.
pub fn format_zoned(z: &Zoned) -> String {
    z.strftime("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
}

/// Renders an instant in `tz` as RFC 3339.
pub fn format_timestamp(ts: Timestamp, tz: &TimeZone) -> String {
    format_zoned(&ts.to_zoned(tz.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_shape() {
        let ts: Timestamp = "2024-02-29T13:14:15.5Z".parse().unwrap();
        let tz = TimeZone::fixed(jiff::tz::offset(1));
        assert_eq!(format_timestamp(ts, &tz), "2024-02-29T14:14:15.500+01:00");
    }
}
