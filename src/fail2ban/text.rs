//! Lines that are not syslog: the text rule sets read them without their
//! leading timestamp, so one rule serves a daemon's own log file
//! (`[Sat Jun 01 02:17:42 2013] [error] ...`) and the same message via syslog.

use std::sync::LazyLock;

use crate::timestamp::{TimeContext, parse_prefix};

static CONTEXT: LazyLock<TimeContext> = LazyLock::new(TimeContext::system);

/// `line` without a leading timestamp (bracketed or not) and the blanks after it.
pub fn strip_timestamp(line: &str) -> &str {
    match parse_prefix(line, &CONTEXT) {
        Some((_, len)) => line.get(len..).unwrap_or("").trim_start(),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_known_layouts() {
        assert_eq!(
            strip_timestamp("[Sat Jun 01 02:17:42 2013] [error] [client 192.0.2.1] x"),
            "[error] [client 192.0.2.1] x"
        );
        assert_eq!(
            strip_timestamp("2012/04/09 11:53:29 [error] 2865#0: *66647 user"),
            "[error] 2865#0: *66647 user"
        );
        assert_eq!(strip_timestamp("no time here"), "no time here");
        assert_eq!(strip_timestamp(""), "");
    }
}
