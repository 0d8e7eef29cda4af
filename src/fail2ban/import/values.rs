//! fail2ban's value syntaxes: booleans, durations, `name[key=value, ...]`
//! specifications (filters, actions, backends), action lists, ports and
//! `ignoreip` entries.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use crate::duration::Span;

/// fail2ban's boolean: `1`, `on`, `true`, `yes` (any case) are true,
/// anything else false.
pub fn as_bool(value: &str) -> bool {
    matches!(
        value.trim().to_lowercase().as_str(),
        "1" | "on" | "true" | "yes"
    )
}

/// Seconds in each unit fail2ban knows (`MyTime.str2seconds`).
const UNITS: &[(&[&str], f64)] = &[
    (&["d", "dd", "da", "day", "days"], 86_400.0),
    (&["w", "ww", "we", "wee", "week", "weeks"], 604_800.0),
    (&["mo", "mon", "month", "months"], 2_629_800.0),
    (&["y", "yy", "ye", "yea", "year", "years"], 31_557_600.0),
    (&["s", "ss", "se", "sec", "second", "seconds"], 1.0),
    (&["m", "mm", "mi", "min", "minute", "minutes"], 60.0),
    (&["h", "hh", "ho", "hou", "hour", "hours"], 3_600.0),
];

/// A fail2ban duration in seconds: `600`, `10m`, `1h 30m`, `1d12h`,
/// `1year-6mo`, `2.5h`; terms are added (or subtracted after `-`).
/// Arithmetic beyond `+` and `-` (fail2ban evaluates Python) is refused.
pub fn seconds(text: &str) -> Result<f64, String> {
    let bad = || format!("`{text}` is not a duration logbus can read (e.g. 600, 10m, 1h, 1d, -1)");
    let t = text.trim();
    if t.is_empty() {
        return Err(bad());
    }
    let mut total = 0.0f64;
    let mut rest = t;
    let mut terms = 0;
    while !rest.is_empty() {
        let mut sign = 1.0;
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix('+') {
            rest = r.trim_start();
        } else if let Some(r) = rest.strip_prefix('-') {
            sign = -1.0;
            rest = r.trim_start();
        } else if terms > 0 && rest.starts_with(|c: char| !c.is_ascii_digit() && c != '.') {
            return Err(bad());
        }
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = rest[num_len..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = rest[..unit_len].to_lowercase();
        rest = &rest[unit_len..];
        let mult = if unit.is_empty() {
            1.0
        } else {
            UNITS
                .iter()
                .find(|(names, _)| names.contains(&unit.as_str()))
                .map(|(_, s)| *s)
                .ok_or_else(bad)?
        };
        total += sign * n * mult;
        terms += 1;
    }
    if total.is_finite() {
        Ok(total)
    } else {
        Err(bad())
    }
}

/// A fail2ban ban time: negative is forever.
pub fn bantime(text: &str) -> Result<Span, String> {
    let s = seconds(text)?;
    if s < 0.0 {
        return Ok(Span::Forever);
    }
    finite(s).map(Span::Finite)
}

/// A fail2ban duration that must be positive (`findtime`, `maxtime`).
pub fn positive(text: &str) -> Result<Duration, String> {
    let s = seconds(text)?;
    if s <= 0.0 {
        return Err(format!("`{text}` must be more than 0"));
    }
    finite(s)
}

fn finite(s: f64) -> Result<Duration, String> {
    // Whole milliseconds: our durations are written in ms at the finest.
    let ms = (s * 1000.0).round();
    if !(0.0..1e15).contains(&ms) {
        return Err(format!("{s} seconds is out of range"));
    }
    Ok(Duration::from_millis(ms as u64))
}

/// `name[key=value, key="value"][more=...]` as fail2ban writes filters,
/// actions and backends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The name before `[`.
    pub name: String,
    /// The options, in order.
    pub options: Vec<(String, String)>,
}

impl Spec {
    /// An option's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Parses one specification.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (name, rest) = match text.find('[') {
            Some(i) => (text[..i].trim(), &text[i..]),
            None => (text, ""),
        };
        if name.is_empty() {
            return Err(format!("`{text}` has no name"));
        }
        let mut options = Vec::new();
        let mut rest = rest.trim();
        while let Some(r) = rest.strip_prefix('[') {
            let (opts, after) = parse_options(r).map_err(|e| format!("`{text}`: {e}"))?;
            options.extend(opts);
            rest = after.trim_start();
        }
        if !rest.is_empty() {
            return Err(format!("`{text}`: unexpected `{rest}` after the options"));
        }
        Ok(Self {
            name: name.to_string(),
            options,
        })
    }
}

/// `key=value` pairs in order.
type KeyValues = Vec<(String, String)>;

/// Options up to the closing `]`: `key=value` pairs separated by `,`,
/// values bare (up to `,` or `]`) or quoted. Returns them and what follows.
fn parse_options(mut s: &str) -> Result<(KeyValues, &str), String> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start();
        if let Some(r) = s.strip_prefix(']') {
            return Ok((out, r));
        }
        if let Some(r) = s.strip_prefix(',') {
            s = r;
            continue;
        }
        let key_len = s
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-' || c == '.'))
            .unwrap_or(s.len());
        if key_len == 0 {
            return Err(format!("expected `name=value` at `{}`", first_chars(s)));
        }
        let key = s[..key_len].to_string();
        s = s[key_len..].trim_start();
        let Some(r) = s.strip_prefix('=') else {
            return Err(format!("expected `=` after `{key}`"));
        };
        s = r.trim_start();
        let value;
        if let Some(q) = s.chars().next().filter(|c| *c == '"' || *c == '\'') {
            let body = &s[1..];
            let Some(end) = body.find(q) else {
                return Err(format!("unclosed quote in the value of `{key}`"));
            };
            value = body[..end].to_string();
            s = &body[end + 1..];
        } else {
            let end = s
                .find([',', ']'])
                .ok_or_else(|| "missing `]`".to_string())?;
            value = s[..end].trim().to_string();
            s = &s[end..];
        }
        out.push((key, value.trim().to_string()));
    }
}

fn first_chars(s: &str) -> String {
    s.chars().take(20).collect()
}

/// Splits an `action` value into specifications: separated by blanks or
/// new lines, a `[...]` (which may span lines) belonging to the name before it.
pub fn split_specs(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        let start = i;
        while i < chars.len() && !chars[i].is_whitespace() && chars[i] != '[' {
            i += 1;
        }
        // Option groups: `[...]`, possibly several, possibly after blanks.
        loop {
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            if j >= chars.len() || chars[j] != '[' {
                break;
            }
            i = j + 1;
            let mut quote: Option<char> = None;
            let mut closed = false;
            while i < chars.len() {
                let c = chars[i];
                i += 1;
                match quote {
                    Some(q) if c == q => quote = None,
                    Some(_) => {}
                    None if c == '"' || c == '\'' => quote = Some(c),
                    None if c == ']' => {
                        closed = true;
                        break;
                    }
                    None => {}
                }
            }
            if !closed {
                let spec: String = chars[start..].iter().collect();
                return Err(format!("missing `]` in `{}`", spec.trim()));
            }
        }
        out.push(
            chars[start..i]
                .iter()
                .collect::<String>()
                .trim()
                .to_string(),
        );
    }
    Ok(out)
}

/// Splits on blanks, commas and new lines (fail2ban's `splitwords`).
pub fn words(text: &str) -> Vec<&str> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect()
}

/// Ports a ban covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ports {
    /// Every port (fail2ban's `0:65535`, or an `allports` action).
    All,
    /// These ports.
    List(BTreeSet<u16>),
}

/// Longest port range expanded into single ports; wider ranges ban all ports.
pub const MAX_RANGE: u32 = 100;

/// Well-known service names fail2ban's jail.conf uses (`/etc/services`
/// numbers), so the translation does not depend on the machine.
const SERVICES: &[(&str, u16)] = &[
    ("ftp-data", 20),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("domain", 53),
    ("http", 80),
    ("www", 80),
    ("pop3", 110),
    ("nntp", 119),
    ("imap", 143),
    ("imap2", 143),
    ("snmp", 161),
    ("ldap", 389),
    ("https", 443),
    ("smtps", 465),
    ("ssmtp", 465),
    ("submissions", 465),
    ("submission", 587),
    ("ldaps", 636),
    ("rsync", 873),
    ("ftps-data", 989),
    ("ftps", 990),
    ("imaps", 993),
    ("pop3s", 995),
    ("socks", 1080),
    ("openvpn", 1194),
    ("ms-sql-s", 1433),
    ("mysql", 3306),
    ("sieve", 4190),
    ("postgresql", 5432),
    ("sip", 5060),
    ("sip-tls", 5061),
    ("xmpp-client", 5222),
    ("xmpp-server", 5269),
    ("redis", 6379),
    ("http-alt", 8080),
    ("webcache", 8080),
    ("mongodb", 27017),
];

/// The port of a service name: the table above, else `/etc/services`.
pub fn service_port(name: &str) -> Option<u16> {
    let lower = name.to_lowercase();
    if let Some((_, p)) = SERVICES.iter().find(|(n, _)| *n == lower) {
        return Some(*p);
    }
    let text = std::fs::read_to_string("/etc/services").ok()?;
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let (Some(service), Some(port_proto)) = (fields.next(), fields.next()) else {
            continue;
        };
        let aliases: Vec<&str> = fields.collect();
        if service == lower || aliases.contains(&lower.as_str()) {
            let port = port_proto.split('/').next()?;
            return port.parse().ok();
        }
    }
    None
}

/// Reads a fail2ban `port` value (`ssh`, `http,https`, `25,465,587`,
/// `1024:2048`, `0:65535`). Returns the ports and the items it could not
/// read, with why.
pub fn ports(text: &str) -> (Ports, Vec<String>) {
    let mut set = BTreeSet::new();
    let mut problems = Vec::new();
    let mut all = false;
    for item in words(text) {
        if item.eq_ignore_ascii_case("any") || item.eq_ignore_ascii_case("all") {
            all = true;
            continue;
        }
        // `a:b` (iptables) or `a-b` (nftables); a `-` may also be part of
        // a service name (`ftp-data`).
        let range = item.split_once(':').or_else(|| {
            item.split_once('-').filter(|(a, b)| {
                !a.is_empty()
                    && !b.is_empty()
                    && a.bytes().all(|c| c.is_ascii_digit())
                    && b.bytes().all(|c| c.is_ascii_digit())
            })
        });
        if let Some((a, b)) = range {
            let lo = port_number(a);
            let hi = port_number(b);
            match (lo, hi) {
                (Some(lo), Some(hi)) if lo <= hi => {
                    if lo <= 1 && hi == u16::MAX {
                        all = true;
                    } else if u32::from(hi) - u32::from(lo) < MAX_RANGE {
                        set.extend(lo..=hi);
                    } else {
                        problems.push(format!(
                            "range `{item}` is wider than {MAX_RANGE} ports: the ban covers every port"
                        ));
                        all = true;
                    }
                }
                _ => problems.push(format!("`{item}` is not a port range")),
            }
            continue;
        }
        match port_number(item) {
            Some(p) => {
                set.insert(p);
            }
            None => problems.push(format!(
                "`{item}` is not a port number or a known service name"
            )),
        }
    }
    if all {
        (Ports::All, problems)
    } else if set.is_empty() {
        if !problems.is_empty() {
            problems.push("no port left: the ban covers every port".into());
        }
        (Ports::All, problems)
    } else {
        (Ports::List(set), problems)
    }
}

fn port_number(s: &str) -> Option<u16> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    service_port(s)
}

/// One `ignoreip` entry as logbus's `allow:` takes it: an address or CIDR
/// as written, a `ADDR/NETMASK` rewritten as CIDR; `Err` says why it cannot
/// be translated.
pub fn allow_entry(entry: &str) -> Result<String, String> {
    if entry.parse::<IpAddr>().is_ok() || entry.parse::<IpNet>().is_ok() {
        return Ok(entry.to_string());
    }
    if let Some((addr, mask)) = entry.split_once('/')
        && let (Ok(IpAddr::V4(a)), Ok(IpAddr::V4(m))) =
            (addr.parse::<IpAddr>(), mask.parse::<IpAddr>())
    {
        let bits = u32::from(m);
        let prefix = bits.leading_ones();
        if bits.checked_shl(prefix).unwrap_or(0) == 0 {
            return Ok(format!("{a}/{prefix}"));
        }
        return Err(format!("`{entry}`: netmask `{m}` is not contiguous"));
    }
    if entry.starts_with("file:") {
        return Err(format!(
            "`{entry}`: address lists read from files are not imported; copy the addresses into `allow`"
        ));
    }
    if entry
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && entry.chars().any(|c| c.is_ascii_alphabetic())
    {
        return Err(format!(
            "`{entry}` is a host name: logbus never resolves names; add its addresses to `allow`"
        ));
    }
    Err(format!("`{entry}` is not an IP address or network"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(seconds("600").unwrap(), 600.0);
        assert_eq!(seconds("10m").unwrap(), 600.0);
        assert_eq!(seconds("1h 30m").unwrap(), 5400.0);
        assert_eq!(seconds("1d12h").unwrap(), 129_600.0);
        assert_eq!(seconds("2.5h").unwrap(), 9000.0);
        assert_eq!(seconds("1w").unwrap(), 604_800.0);
        assert_eq!(seconds("1year-6mo").unwrap(), 15_778_800.0);
        assert_eq!(seconds("30 MIN").unwrap(), 1800.0);
        assert_eq!(seconds("-1").unwrap(), -1.0);
        for bad in ["", "10x", "ms", "1h*2", "(1h)", "10ms"] {
            assert!(seconds(bad).is_err(), "{bad}");
        }
        assert_eq!(bantime("-1").unwrap(), Span::Forever);
        assert_eq!(
            bantime("1h").unwrap(),
            Span::Finite(Duration::from_secs(3600))
        );
        assert!(positive("0").is_err());
    }

    #[test]
    fn specs() {
        let s = Spec::parse("sshd[mode=aggressive]").unwrap();
        assert_eq!(s.name, "sshd");
        assert_eq!(s.get("mode"), Some("aggressive"));
        let s = Spec::parse(
            r#"iptables-multiport[port="http,https", protocol="tcp", chain="INPUT"][name=x]"#,
        )
        .unwrap();
        assert_eq!(s.get("port"), Some("http,https"));
        assert_eq!(s.get("name"), Some("x"));
        assert_eq!(Spec::parse("  auto ").unwrap().options, vec![]);
        assert!(Spec::parse("x[mode=").is_err());
        assert!(Spec::parse("x[mode=a] junk").is_err());
        assert!(Spec::parse("[mode=a]").is_err());
    }

    #[test]
    fn action_lists() {
        let v = split_specs(
            "iptables-multiport[port=\"ssh\", chain=\"INPUT\"]\nsendmail-whois[dest=\"a b\",\n   sender=x]\n  abuseipdb",
        )
        .unwrap();
        assert_eq!(
            v,
            vec![
                "iptables-multiport[port=\"ssh\", chain=\"INPUT\"]",
                "sendmail-whois[dest=\"a b\",\n   sender=x]",
                "abuseipdb"
            ]
        );
        assert!(split_specs("x[a=1").is_err());
    }

    #[test]
    fn port_values() {
        let (p, e) = ports("ssh");
        assert_eq!(p, Ports::List([22].into()));
        assert!(e.is_empty());
        assert_eq!(ports("ftp,ftp-data").0, Ports::List([20, 21].into()));
        assert_eq!(ports("6000-6001").0, Ports::List([6000, 6001].into()));
        let (p, _) = ports("smtp,465,submission");
        assert_eq!(p, Ports::List([25, 465, 587].into()));
        assert_eq!(ports("0:65535").0, Ports::All);
        assert_eq!(ports("6000:6002").0, Ports::List([6000, 6001, 6002].into()));
        let (p, e) = ports("1024:65000");
        assert_eq!(p, Ports::All);
        assert_eq!(e.len(), 1);
        let (p, e) = ports("http,nosuchservice-xyz");
        assert_eq!(p, Ports::List([80].into()));
        assert!(e[0].contains("nosuchservice-xyz"), "{e:?}");
    }

    #[test]
    fn allow_entries() {
        assert_eq!(allow_entry("127.0.0.1/8").unwrap(), "127.0.0.1/8");
        assert_eq!(allow_entry("::1").unwrap(), "::1");
        assert_eq!(allow_entry("10.0.0.0/255.255.0.0").unwrap(), "10.0.0.0/16");
        assert!(allow_entry("10.0.0.0/255.0.255.0").is_err());
        assert!(
            allow_entry("home.example.org")
                .unwrap_err()
                .contains("host name")
        );
        assert!(allow_entry("file:/etc/x").unwrap_err().contains("files"));
    }
}
