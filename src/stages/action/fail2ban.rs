//! `fail2ban`: recognises attacks in events, counts failures per
//! `group~ip`, bans offenders through a firewall backend, tags events and
//! emits ban decisions on `bansChannel`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::event::Event;
use crate::fail2ban::allow::AllowList;
use crate::fail2ban::backend::{Backend, BackendDef, Change};
use crate::fail2ban::manager::{BanManager, ManagerConfig};
use crate::fail2ban::policy::{EscalationDef, GroupDef, GroupPolicy};
use crate::fail2ban::rules::RuleSource;
use crate::fail2ban::{book::BanDecision, load_rules};
use crate::pipeline::{BuildContext, BuildError, BuiltStage, Outbox, Processor, StageError};
use crate::stages::{Module, ModuleKind};

/// Registry entry.
pub const MODULE: Module = Module {
    name: "fail2ban",
    kind: ModuleKind::Action,
    summary: "recognise attacks, count failures per group~ip, ban offenders",
    build,
};

/// Default cap on tracked `group~ip` keys.
pub const DEFAULT_MAX_TRACKED: usize = 1_000_000;

/// A rule set to load: `sshd`, `sshd:aggressive`, `./rules/local.yml`, or
/// `{name: postfix, mode: aggressive}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RuleSpec {
    Short(String),
    Full {
        name: String,
        #[serde(default)]
        mode: Option<String>,
    },
}

/// Options of `fail2ban`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fail2banConfig {
    /// Rule sets, tried in order.
    rules: Vec<RuleSpec>,
    /// Rule ids to switch off.
    #[serde(default)]
    disable_rules: Vec<String>,
    /// Networks never counted or banned (loopback is always included).
    #[serde(default)]
    allow: Vec<String>,
    /// Most `group~ip` keys tracked at once.
    #[serde(default = "default_max_tracked")]
    max_tracked: usize,
    /// Per-group limit, window, bantime, ports.
    #[serde(default)]
    groups: BTreeMap<String, GroupDef>,
    /// Longer bans for repeat offenders.
    #[serde(default)]
    escalation: Option<EscalationDef>,
    /// Where bans are enforced.
    #[serde(default)]
    backend: BackendDef,
    /// Channel for ban/unban decisions.
    #[serde(default, rename = "bansChannel")]
    bans_channel: Option<String>,
}

fn default_max_tracked() -> usize {
    DEFAULT_MAX_TRACKED
}

fn build(ctx: &BuildContext) -> Result<BuiltStage, BuildError> {
    let cfg: Fail2banConfig = ctx.options()?;
    if cfg.rules.is_empty() {
        return Err(BuildError::field(
            "rules",
            "name at least one rule set (e.g. [sshd])",
        ));
    }
    if cfg.max_tracked == 0 {
        return Err(BuildError::field("max_tracked", "must be at least 1"));
    }
    let sources: Vec<RuleSource> = cfg
        .rules
        .iter()
        .map(|r| match r {
            RuleSpec::Short(s) => RuleSource::parse(s),
            RuleSpec::Full { name, mode } => RuleSource {
                name: name.clone(),
                mode: mode.clone(),
            },
        })
        .collect();
    let engine = load_rules(&sources, &cfg.disable_rules, ctx.base_dir).map_err(|e| {
        let field = if e.source_name == "disable_rules" {
            "disable_rules"
        } else {
            "rules"
        };
        BuildError::field(field, e.to_string())
    })?;
    let mut allow_entries = vec!["127.0.0.0/8".to_string(), "::1".to_string()];
    allow_entries.extend(cfg.allow.iter().cloned());
    let allow = AllowList::parse(&allow_entries).map_err(|e| BuildError::field("allow", e))?;
    let mut groups = Vec::new();
    for (name, def) in &cfg.groups {
        groups.push(
            GroupPolicy::resolve(name, Some(def))
                .map_err(|e| BuildError::field(format!("groups.{name}"), e))?,
        );
    }
    if let Some(esc) = &cfg.escalation {
        esc.validate()
            .map_err(|e| BuildError::field("escalation", e))?;
    }
    let backend = cfg
        .backend
        .build()
        .map_err(|e| BuildError::field("backend.type", e))?;
    let manager = BanManager::new(
        engine,
        ManagerConfig {
            groups,
            allow,
            max_tracked: cfg.max_tracked,
            escalation: cfg.escalation,
        },
    )
    .map_err(|e| BuildError::field("groups", e))?;
    let counters = ctx.counters.clone();
    let stage = Fail2banStage {
        manager,
        backend,
        pending: Vec::new(),
        has_bans_port: cfg.bans_channel.is_some(),
        failures: counters.extra("failures"),
        bans: counters.extra("bans"),
        tracked: counters.extra("tracked_keys"),
    };
    let mut built = BuiltStage::processor(stage);
    built.extra_outputs = cfg.bans_channel.into_iter().collect();
    Ok(built)
}

struct Fail2banStage {
    manager: BanManager,
    backend: Box<dyn Backend>,
    /// Changes not yet accepted by the backend (retried on the next tick).
    pending: Vec<Change>,
    has_bans_port: bool,
    failures: std::sync::Arc<std::sync::atomic::AtomicU64>,
    bans: std::sync::Arc<std::sync::atomic::AtomicU64>,
    tracked: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

impl Fail2banStage {
    fn on_decision(&mut self, d: BanDecision, out: &mut Outbox) {
        tracing::warn!("{}", d.summary());
        let now = now_ms();
        // The kernel gets the time left from now; a ban replayed from an old
        // log that already ended is recorded but not enforced.
        let timeout = d
            .until_ms
            .map(|u| std::time::Duration::from_millis(u.saturating_sub(now).max(0) as u64));
        if timeout.is_none_or(|t| !t.is_zero()) {
            self.pending.push(Change::Ban {
                ip: d.ip,
                group: d.group.clone(),
                timeout,
            });
        }
        if self.has_bans_port {
            out.emit_to(1, d.to_event());
        }
    }

    fn flush_backend(&mut self, out: &mut Outbox) {
        if self.pending.is_empty() {
            return;
        }
        match self.backend.apply(&self.pending) {
            Ok(()) => self.pending.clear(),
            Err(e) => out.error(
                format!(
                    "{} change(s) not applied yet, will retry: {e}",
                    self.pending.len()
                ),
                None,
            ),
        }
    }

    fn update_counters(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let s = self.manager.stats();
        self.failures.store(s.failures, Relaxed);
        self.bans.store(s.bans, Relaxed);
        self.tracked.store(self.manager.tracked() as u64, Relaxed);
    }
}

impl Processor for Fail2banStage {
    fn process(&mut self, mut event: Event, out: &mut Outbox) {
        if let Some(d) = self.manager.handle(&mut event, now_ms()) {
            self.on_decision(d, out);
        }
        out.emit(event);
    }

    fn process_batch(&mut self, batch: Vec<Event>, out: &mut Outbox) {
        for e in batch {
            self.process(e, out);
        }
        // One backend transaction per batch, not one per ban.
        self.flush_backend(out);
        self.update_counters();
    }

    fn tick_interval(&self) -> Option<std::time::Duration> {
        Some(std::time::Duration::from_secs(1))
    }

    fn tick(&mut self, out: &mut Outbox) {
        for (group, ip) in self.manager.expire(now_ms()) {
            tracing::info!("unban {ip} in {group}: ban time is over");
            self.pending.push(Change::Unban { ip, group });
        }
        self.flush_backend(out);
        self.update_counters();
    }

    fn finish(&mut self, out: &mut Outbox) -> Result<(), StageError> {
        self.flush_backend(out);
        self.update_counters();
        Ok(())
    }

    fn blocking(&self) -> bool {
        // Firewall backends run commands.
        true
    }
}
