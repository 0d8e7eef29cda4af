//! Per-group ban policy and escalation for repeat offenders.

use std::time::Duration;

use serde::Deserialize;

use crate::duration::{FiniteSpan, Span};

/// Failures within a group's window before a ban, when neither the group
/// nor the rule says.
pub const DEFAULT_LIMIT: u32 = 5;
/// Default counting window.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(600);
/// Default ban length.
pub const DEFAULT_BANTIME: Duration = Duration::from_secs(3600);

/// A group's settings as written under `groups:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupDef {
    /// Failures within `window` that trigger a ban (rules may override).
    #[serde(default)]
    pub limit: Option<u32>,
    /// The sliding window failures are counted in.
    #[serde(default)]
    pub window: Option<FiniteSpan>,
    /// How long a ban lasts (`forever` allowed).
    #[serde(default)]
    pub bantime: Option<Span>,
    /// Ports the ban applies to (firewall backends); empty = all traffic.
    #[serde(default)]
    pub ports: Vec<u16>,
}

/// A group's resolved settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPolicy {
    /// Group name (`ssh`).
    pub name: String,
    /// Default limit.
    pub limit: u32,
    /// Counting window.
    pub window: Duration,
    /// Ban length.
    pub bantime: Span,
    /// Ports (empty = all).
    pub ports: Vec<u16>,
}

impl GroupPolicy {
    /// Resolves a definition with the defaults.
    pub fn resolve(name: &str, def: Option<&GroupDef>) -> Result<Self, String> {
        let def = def.cloned().unwrap_or_default();
        let limit = def.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 {
            return Err("limit must be at least 1".into());
        }
        Ok(Self {
            name: name.to_string(),
            limit,
            window: def.window.map_or(DEFAULT_WINDOW, |w| w.0),
            bantime: def.bantime.unwrap_or(Span::Finite(DEFAULT_BANTIME)),
            ports: def.ports,
        })
    }
}

/// `escalation:` as written: repeat offenders get longer bans.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationDef {
    /// Each earlier ban within `window` multiplies the ban time by this.
    #[serde(default = "default_factor")]
    pub factor: f64,
    /// How far back earlier bans count.
    #[serde(default = "default_esc_window")]
    pub window: FiniteSpan,
    /// The longest ban escalation may give (`forever` allowed).
    #[serde(default = "default_esc_max")]
    pub max: Span,
}

fn default_factor() -> f64 {
    2.0
}
fn default_esc_window() -> FiniteSpan {
    FiniteSpan(Duration::from_secs(86_400))
}
fn default_esc_max() -> Span {
    Span::Finite(Duration::from_secs(7 * 86_400))
}

impl EscalationDef {
    /// Checks the values.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.factor.is_finite() && self.factor >= 1.0) {
            return Err(format!(
                "escalation.factor must be a number >= 1, not {}",
                self.factor
            ));
        }
        Ok(())
    }

    /// The ban time for an address banned `previous` times within the window:
    /// `bantime * factor^previous`, capped at `max`.
    pub fn bantime(&self, base: Span, previous: u32) -> Span {
        let Span::Finite(base) = base else {
            return Span::Forever;
        };
        let mult = self.factor.powi(previous.min(64) as i32);
        let secs = base.as_secs_f64() * mult;
        let scaled = if secs.is_finite() && secs < 1e15 {
            Span::Finite(Duration::from_secs_f64(secs))
        } else {
            Span::Forever
        };
        match (scaled, self.max) {
            (_, Span::Forever) => scaled,
            (Span::Forever, max) => max,
            (Span::Finite(s), Span::Finite(m)) => Span::Finite(s.min(m)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let p = GroupPolicy::resolve("ssh", None).unwrap();
        assert_eq!(
            (p.limit, p.window, p.bantime),
            (5, DEFAULT_WINDOW, Span::Finite(DEFAULT_BANTIME))
        );
        assert!(
            GroupPolicy::resolve(
                "x",
                Some(&GroupDef {
                    limit: Some(0),
                    ..Default::default()
                })
            )
            .is_err()
        );
    }

    #[test]
    fn escalation_grows_and_caps() {
        let e = EscalationDef {
            factor: 2.0,
            window: FiniteSpan(Duration::from_secs(86_400)),
            max: Span::Finite(Duration::from_secs(4 * 3600)),
        };
        let hour = Span::Finite(Duration::from_secs(3600));
        assert_eq!(e.bantime(hour, 0), hour);
        assert_eq!(e.bantime(hour, 1), Span::Finite(Duration::from_secs(7200)));
        assert_eq!(
            e.bantime(hour, 2),
            Span::Finite(Duration::from_secs(4 * 3600))
        );
        assert_eq!(
            e.bantime(hour, 10),
            Span::Finite(Duration::from_secs(4 * 3600))
        );
        assert_eq!(e.bantime(Span::Forever, 1), Span::Forever);
        let uncapped = EscalationDef {
            max: Span::Forever,
            ..e
        };
        assert_eq!(uncapped.bantime(hour, 1000), Span::Forever);
    }

    #[test]
    fn bad_factor() {
        let e = EscalationDef {
            factor: 0.5,
            window: default_esc_window(),
            max: default_esc_max(),
        };
        assert!(e.validate().is_err());
    }
}
