//! The allow-list: networks that are never counted and never banned.

use std::net::IpAddr;

use ipnet::IpNet;

/// Networks never counted nor banned. Default: loopback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList {
    nets: Vec<IpNet>,
}

impl Default for AllowList {
    fn default() -> Self {
        Self::parse(["127.0.0.0/8", "::1"]).unwrap_or(Self { nets: Vec::new() })
    }
}

impl AllowList {
    /// Parses CIDRs or single addresses (`192.0.2.0/24`, `2001:db8::/32`, `10.0.0.1`).
    /// The error names the entry that is wrong.
    pub fn parse<S: AsRef<str>>(entries: impl IntoIterator<Item = S>) -> Result<Self, String> {
        let mut nets = Vec::new();
        for e in entries {
            let e = e.as_ref().trim();
            let net = match e.parse::<IpNet>() {
                Ok(n) => n.trunc(),
                Err(_) => match e.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(ip.to_canonical()),
                    Err(_) => {
                        return Err(format!(
                            "`{e}` is not an IP address or CIDR network (e.g. 192.0.2.0/24)"
                        ));
                    }
                },
            };
            nets.push(net);
        }
        Ok(Self { nets })
    }

    /// True when `ip` is in one of the networks. IPv4-mapped IPv6 addresses
    /// are checked as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The networks, for display.
    pub fn nets(&self) -> &[IpNet] {
        &self.nets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn default_is_loopback() {
        let a = AllowList::default();
        assert!(a.contains(ip("127.0.0.1")));
        assert!(a.contains(ip("127.9.9.9")));
        assert!(a.contains(ip("::1")));
        assert!(a.contains(ip("::ffff:127.0.0.1")));
        assert!(!a.contains(ip("192.0.2.1")));
        assert!(!a.contains(ip("::2")));
    }

    #[test]
    fn cidrs_and_hosts() {
        let a =
            AllowList::parse(["192.0.2.0/24", "2001:db8::/32", "10.1.2.3", "10.9.0.7/16"]).unwrap();
        assert!(a.contains(ip("192.0.2.200")));
        assert!(!a.contains(ip("192.0.3.1")));
        assert!(a.contains(ip("2001:db8:ffff::1")));
        assert!(a.contains(ip("10.1.2.3")));
        assert!(!a.contains(ip("10.1.2.4")));
        assert!(
            a.contains(ip("10.9.200.1")),
            "host bits in a CIDR are ignored"
        );
    }

    #[test]
    fn bad_entries_are_named() {
        let e = AllowList::parse(["192.0.2.0/24", "999.1.1.1"]).unwrap_err();
        assert!(e.contains("999.1.1.1"), "{e}");
        assert!(AllowList::parse(["1.2.3.0/33"]).is_err());
    }
}
