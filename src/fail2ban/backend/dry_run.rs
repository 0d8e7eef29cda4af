//! `dry-run`: logs what a firewall backend would do, changes nothing.

use super::{Backend, BackendError, Change};

/// Logs each change, as the ipset backend would apply it.
#[derive(Debug)]
pub struct DryRun {
    prefix: String,
    applied: u64,
}

impl DryRun {
    /// A dry-run backend naming sets `{prefix}{group}`.
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            applied: 0,
        }
    }

    /// Changes "applied" so far.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// The line logged for a change.
    pub fn describe(&self, c: &Change) -> String {
        match c {
            Change::Ban { ip, group, timeout } => {
                let set = set_name(&self.prefix, group, ip.is_ipv6());
                match timeout {
                    Some(t) => format!("dry-run: would add {ip} to {set} for {}s", t.as_secs()),
                    None => format!("dry-run: would add {ip} to {set} for ever"),
                }
            }
            Change::Unban { ip, group } => {
                let set = set_name(&self.prefix, group, ip.is_ipv6());
                format!("dry-run: would remove {ip} from {set}")
            }
        }
    }
}

/// The set holding a group's bans: `blacklist-ssh`, `blacklist-ssh-v6`.
pub fn set_name(prefix: &str, group: &str, v6: bool) -> String {
    if v6 {
        format!("{prefix}{group}-v6")
    } else {
        format!("{prefix}{group}")
    }
}

impl Backend for DryRun {
    fn name(&self) -> &'static str {
        "dry-run"
    }

    fn apply(&mut self, changes: &[Change]) -> Result<(), BackendError> {
        for c in changes {
            tracing::info!("{}", self.describe(c));
        }
        self.applied += changes.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn describes_changes() {
        let mut d = DryRun::new("blacklist-");
        let ban = Change::Ban {
            ip: "192.0.2.1".parse().unwrap(),
            group: "ssh".into(),
            timeout: Some(Duration::from_secs(3600)),
        };
        assert_eq!(
            d.describe(&ban),
            "dry-run: would add 192.0.2.1 to blacklist-ssh for 3600s"
        );
        let unban = Change::Unban {
            ip: "2001:db8::1".parse().unwrap(),
            group: "web".into(),
        };
        assert_eq!(
            d.describe(&unban),
            "dry-run: would remove 2001:db8::1 from blacklist-web-v6"
        );
        d.apply(&[ban, unban]).unwrap();
        assert_eq!(d.applied(), 2);
    }
}
