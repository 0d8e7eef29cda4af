//! Turning captured text into an address we may ban.
//!
//! Only text from the daemon's own position in a line reaches this parser;
//! it still refuses anything that is not exactly one valid address, so a
//! malformed or hostile capture can never become a ban.

use std::net::IpAddr;

/// Parses a captured client address.
///
/// Accepts IPv4, IPv6, IPv6 in brackets (`[2001:db8::1]`), and IPv4-mapped
/// IPv6 (`::ffff:192.0.2.1`), which becomes the IPv4 address so both forms
/// count as one client. Refuses hostnames, zone ids (`fe80::1%eth0`: a
/// link-local scope is not a routable attacker), out-of-range octets
/// (`999.1.1.1`), short forms (`1.2.3`), leading zeros (`192.030.0.6`) and
/// unspecified/broadcast addresses, which no real client has.
pub fn parse_client_ip(text: &str) -> Option<IpAddr> {
    let t = text.trim();
    let t = t
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(t);
    if t.is_empty() || t.len() > 45 || t.contains('%') {
        return None;
    }
    let ip: IpAddr = t.parse().ok()?;
    let ip = ip.to_canonical();
    let ok = match ip {
        IpAddr::V4(v4) => !v4.is_unspecified() && !v4.is_broadcast(),
        IpAddr::V6(v6) => !v6.is_unspecified(),
    };
    ok.then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<String> {
        parse_client_ip(s).map(|i| i.to_string())
    }

    #[test]
    fn accepts_real_addresses() {
        assert_eq!(p("192.0.2.1").as_deref(), Some("192.0.2.1"));
        assert_eq!(p("::ffff:192.0.2.1").as_deref(), Some("192.0.2.1"));
        assert_eq!(p("[2001:db8::1]").as_deref(), Some("2001:db8::1"));
        assert_eq!(
            p("2001:DB8:0:0:0:0:0:1").as_deref(),
            Some("2001:db8::1"),
            "IPv6 is canonicalised"
        );
        assert_eq!(p("127.0.0.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(p("::1").as_deref(), Some("::1"));
    }

    #[test]
    fn refuses_bogus_addresses() {
        for bad in [
            "999.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "192.030.0.6",
            "example.com",
            "fe80::1%eth0",
            "0.0.0.0",
            "::",
            "255.255.255.255",
            "",
            "1.2.3.4 ",
            "[1.2.3.4",
            "1.2.3.4:22",
            "::ffff:999.1.1.1",
        ] {
            // Trailing spaces are trimmed by design; everything else must fail.
            if bad == "1.2.3.4 " {
                assert_eq!(p(bad).as_deref(), Some("1.2.3.4"));
                continue;
            }
            assert_eq!(p(bad), None, "{bad:?} must not parse");
        }
    }
}
