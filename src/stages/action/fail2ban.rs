//! `fail2ban`: recognises attacks in events, counts failures per
//! `group~ip`, bans offenders through a firewall backend, tags events and
//! emits ban decisions on `bansChannel`.
//!
//! Bans are written to the state store before they are sent to the
//! firewall, so a crash never loses an acknowledged ban; at start every ban
//! still in force is sent again (the firewall may have been flushed by a
//! reboot). A firewall that refuses a batch keeps it pending, retried with
//! back-off.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::event::Event;
use crate::fail2ban::allow::AllowList;
use crate::fail2ban::backend::{Backend, BackendDef, Change, GroupInfo};
use crate::fail2ban::book::BanDecision;
use crate::fail2ban::load_rules;
use crate::fail2ban::manager::{BanManager, ManagerConfig, duration_ms};
use crate::fail2ban::policy::{EscalationDef, GroupDef, GroupPolicy};
use crate::fail2ban::rules::RuleSource;
use crate::pipeline::{BuildContext, BuildError, BuiltStage, Outbox, Processor, StageError};
use crate::stages::{Module, ModuleKind};
use crate::state::{DEFAULT_STATE_PATH, StateStore};

/// Registry entry.
pub const MODULE: Module = Module {
    name: "fail2ban",
    kind: ModuleKind::Action,
    summary: "recognise attacks, count failures per group~ip, ban offenders",
    build,
};

/// Default cap on tracked `group~ip` keys.
pub const DEFAULT_MAX_TRACKED: usize = 1_000_000;

/// Ban history kept at least this long (escalation may ask for more).
const MIN_HISTORY: Duration = Duration::from_secs(7 * 86_400);

/// Longest timeout handed to the kernel (ipset's limit, the smallest of the
/// backends'). Longer bans go in as permanent entries, and logbus removes
/// them when they end (at the latest at its next start).
const KERNEL_TIMEOUT_MAX: Duration = Duration::from_secs(2_147_483);

/// Retry delays after a firewall failure: 1 s, doubling, at most a minute.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(60);

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
    let history = cfg
        .escalation
        .as_ref()
        .map_or(MIN_HISTORY, |e| e.window.0.max(MIN_HISTORY));
    let dry_run = cfg.backend.kind == "dry-run";
    let backend = cfg
        .backend
        .build()
        .map_err(|e| BuildError::field("backend", e))?;
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
    // A dry run changes nothing and, unless told where, keeps no state: it
    // must run anywhere, as any user.
    let store_path = match (&ctx.settings.state_path, dry_run) {
        (Some(p), _) => Some(ctx.resolve(p)),
        (None, true) => None,
        (None, false) => Some(PathBuf::from(DEFAULT_STATE_PATH)),
    };
    let group_infos = manager
        .groups()
        .iter()
        .map(|g| GroupInfo {
            name: g.name.clone(),
            ports: g.ports.clone(),
        })
        .collect();
    let counters = ctx.counters.clone();
    let stage = Fail2banStage {
        startup_errors: Vec::new(),
        batches: BatchStats::default(),
        bans_by_group: BTreeMap::new(),
        manager,
        backend,
        backend_started: false,
        group_infos,
        store_path,
        store: None,
        history,
        pending: Vec::new(),
        retry_at: None,
        retry_delay: RETRY_FIRST,
        has_bans_port: cfg.bans_channel.is_some(),
        failures: counters.extra("failures"),
        bans: counters.extra("bans"),
        tracked: counters.extra("tracked_keys"),
        pending_gauge: counters.extra("firewall_pending"),
    };
    let mut built = BuiltStage::processor(stage);
    built.extra_outputs = cfg.bans_channel.into_iter().collect();
    built.wants_control_socket = !dry_run;
    Ok(built)
}

/// A firewall change not yet accepted. Bans keep their end time so the
/// timeout sent is the time left when the change is finally applied.
#[derive(Debug, Clone, PartialEq)]
enum Pending {
    Ban {
        ip: IpAddr,
        group: String,
        until_ms: Option<i64>,
    },
    Unban {
        ip: IpAddr,
        group: String,
    },
}

/// Firewall batches applied, for metrics.
#[derive(Debug, Default)]
struct BatchStats {
    ok: u64,
    failed: u64,
    seconds: f64,
}

impl BatchStats {
    fn record(&mut self, took: Duration, ok: bool) {
        if ok {
            self.ok += 1;
        } else {
            self.failed += 1;
        }
        self.seconds += took.as_secs_f64();
    }
}

struct Fail2banStage {
    manager: BanManager,
    startup_errors: Vec<crate::pipeline::ErrorRecord>,
    batches: BatchStats,
    /// Bans decided per group since start.
    bans_by_group: BTreeMap<String, u64>,
    backend: Box<dyn Backend>,
    backend_started: bool,
    group_infos: Vec<GroupInfo>,
    store_path: Option<PathBuf>,
    store: Option<StateStore>,
    history: Duration,
    /// Changes not yet accepted by the firewall.
    pending: Vec<Pending>,
    retry_at: Option<Instant>,
    retry_delay: Duration,
    has_bans_port: bool,
    failures: Arc<AtomicU64>,
    bans: Arc<AtomicU64>,
    tracked: Arc<AtomicU64>,
    pending_gauge: Arc<AtomicU64>,
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn unban_event(group: &str, ip: IpAddr, why: &str) -> Event {
    let mut e = Event::from_map(
        json!({
            "@timestamp": crate::time::now_rfc3339(),
            "message": format!("unban {ip} in {group}: {why}"),
            "event": {"action": "unban"},
            "client": {"ip": ip.to_string()},
            "fail2ban": {"group": group, "key": format!("{group}~{ip}"), "banned": false},
        })
        .as_object()
        .cloned()
        .unwrap_or_default(),
    );
    e.add_tag("unban");
    e
}

impl Fail2banStage {
    /// Records decisions in the store, queues them for the firewall and
    /// announces them.
    fn on_decisions(&mut self, decisions: Vec<BanDecision>, source: &str, out: &mut Outbox) {
        if decisions.is_empty() {
            return;
        }
        // A ban decided from old lines (a log read from its beginning) may
        // have ended already by the clock: it is announced, but neither
        // stored as in force nor sent to the firewall.
        let wall = now_ms();
        let (live, over): (Vec<BanDecision>, Vec<BanDecision>) = decisions
            .into_iter()
            .partition(|d| d.until_ms.is_none_or(|u| u > wall));
        for d in &over {
            tracing::info!(
                "{} (over already: the log lines are older than the ban time)",
                d.summary()
            );
            if self.has_bans_port {
                out.emit_to(1, d.to_event());
            }
        }
        let decisions = live;
        if decisions.is_empty() {
            return;
        }
        if let Some(store) = &mut self.store
            && let Err(e) = store.record_bans(&decisions, source)
        {
            out.error(
                format!(
                    "{} ban(s) not saved to the state store: {e}",
                    decisions.len()
                ),
                None,
            );
        }
        for d in decisions {
            tracing::info!("{}", d.summary());
            *self.bans_by_group.entry(d.group.clone()).or_default() += 1;
            self.pending.push(Pending::Ban {
                ip: d.ip,
                group: d.group.clone(),
                until_ms: d.until_ms,
            });
            if self.has_bans_port {
                out.emit_to(1, d.to_event());
            }
        }
    }

    fn on_unbans(&mut self, unbans: Vec<(String, IpAddr)>, why: &str, out: &mut Outbox) {
        for (group, ip) in unbans {
            tracing::info!("unban {ip} in {group}: {why}");
            if self.has_bans_port {
                out.emit_to(1, unban_event(&group, ip, why));
            }
            self.pending.push(Pending::Unban { ip, group });
        }
    }

    /// Sends pending changes to the firewall, unless a failure asked us to
    /// wait. `force` ignores the wait (shutdown).
    fn flush_backend(&mut self, out: &mut Outbox, force: bool) {
        if self.backend_started && self.pending.is_empty() {
            return;
        }
        if !force && self.retry_at.is_some_and(|t| Instant::now() < t) {
            return;
        }
        // The firewall is prepared (sets, drop rules) as soon as possible,
        // not at the first ban: rules written by hand may name our sets,
        // and stored bans may be few. Until it works, every tick retries
        // it with the back-off.
        if !self.backend_started {
            if let Err(e) = self.backend.start(&self.group_infos) {
                self.failed(format!("cannot prepare the firewall: {e}"), out);
                return;
            }
            self.backend_started = true;
            if self.pending.is_empty() {
                self.retry_at = None;
                self.retry_delay = RETRY_FIRST;
                return;
            }
        }
        let wall = now_ms();
        let mut changes = Vec::with_capacity(self.pending.len());
        let mut applied = Vec::new();
        let manager = &self.manager;
        self.pending.retain(|p| match p {
            // The allow-list is checked again right before the kernel sees
            // an address: a ban decided before a config reload, or stored
            // by an older version, must not lock out an allowed network.
            Pending::Ban { ip, group, .. } if manager.is_allowed(*ip) => {
                tracing::warn!("not banning {ip} in {group}: allow-listed");
                false
            }
            Pending::Ban {
                until_ms: Some(u), ..
            } if *u <= wall => false,
            _ => true,
        });
        for p in &self.pending {
            match p {
                Pending::Ban {
                    ip,
                    group,
                    until_ms,
                } => {
                    let timeout = until_ms
                        .map(|u| Duration::from_millis(u.saturating_sub(wall).max(1) as u64))
                        .filter(|t| *t <= KERNEL_TIMEOUT_MAX);
                    changes.push(Change::Ban {
                        ip: *ip,
                        group: group.clone(),
                        timeout,
                    });
                    applied.push((*ip, group.clone()));
                }
                Pending::Unban { ip, group } => changes.push(Change::Unban {
                    ip: *ip,
                    group: group.clone(),
                }),
            }
        }
        if changes.is_empty() {
            return;
        }
        let started = Instant::now();
        let result = self.backend.apply(&changes);
        self.batches.record(started.elapsed(), result.is_ok());
        match result {
            Ok(()) => {
                self.pending.clear();
                self.retry_at = None;
                self.retry_delay = RETRY_FIRST;
                if let Some(store) = &mut self.store
                    && let Err(e) = store.mark_applied(&applied)
                {
                    out.error(format!("state store: {e}"), None);
                }
            }
            Err(e) => self.failed(
                format!(
                    "{} firewall change(s) pending, retry in {}s: {e}",
                    changes.len(),
                    self.retry_delay.as_secs()
                ),
                out,
            ),
        }
    }

    fn failed(&mut self, message: String, out: &mut Outbox) {
        tracing::error!("{message}");
        out.error(message, None);
        self.retry_at = Some(Instant::now() + self.retry_delay);
        self.retry_delay = (self.retry_delay * 2).min(RETRY_MAX);
    }

    fn report_startup_errors(&mut self, out: &mut Outbox) {
        for e in self.startup_errors.drain(..) {
            out.error(e.message, e.input);
        }
    }

    fn update_counters(&self) {
        let s = self.manager.stats();
        self.failures.store(s.failures, Ordering::Relaxed);
        self.bans.store(s.bans, Ordering::Relaxed);
        self.tracked
            .store(self.manager.tracked() as u64, Ordering::Relaxed);
        self.pending_gauge
            .store(self.pending.len() as u64, Ordering::Relaxed);
    }

    /// Loads the store and queues every ban still in force.
    fn restore(&mut self) -> Result<(), StageError> {
        let store = match &self.store_path {
            Some(p) => StateStore::open(p),
            None => StateStore::in_memory(),
        }
        .map_err(|e| StageError::new(e.to_string()))?;
        let wall = now_ms();
        let store_err = |e: crate::state::StateError| StageError::new(e.to_string());
        let mut store = store;
        let ended = store.expire(wall, self.history).map_err(store_err)?;
        if !ended.is_empty() {
            tracing::info!("{} ban(s) ended while logbus was not running", ended.len());
        }
        let (allowed, active): (Vec<BanDecision>, Vec<BanDecision>) = store
            .active_bans(wall, None)
            .map_err(store_err)?
            .into_iter()
            .map(|b| b.decision)
            .partition(|b| self.manager.is_allowed(b.ip));
        // Bans of addresses allow-listed since: dropped from the store too,
        // not only kept from the kernel, so `bans list` and the stage do not
        // call banned an address that is not.
        for b in &allowed {
            tracing::warn!(
                "stored ban of {} in {} dropped: the address is allow-listed",
                b.ip,
                b.group
            );
            store
                .remove_ban(b.ip, Some(b.group.as_str()))
                .map_err(store_err)?;
        }
        let history = store
            .all_history(wall.saturating_sub(duration_ms(self.history)))
            .map_err(store_err)?;
        let unknown = self.manager.restore(&active, &history);
        for b in &unknown {
            tracing::warn!(
                "stored ban of {} in group {} is left alone: this stage has no such group",
                b.ip,
                b.group
            );
        }
        let restored = active.len() - unknown.len();
        if restored > 0 {
            tracing::info!(
                "re-applying {restored} ban(s) from {}",
                store.path().display()
            );
        }
        for b in active.iter().filter(|b| !unknown.contains(b)) {
            self.pending.push(Pending::Ban {
                ip: b.ip,
                group: b.group.clone(),
                until_ms: b.until_ms,
            });
        }
        self.store = Some(store);
        Ok(())
    }
}

impl Processor for Fail2banStage {
    fn start(&mut self) -> Result<(), StageError> {
        self.restore()?;
        let mut out = Outbox::with_ports(1);
        self.flush_backend(&mut out, true);
        // `start` has no way to the `errors` channel; keep its complaints
        // (a firewall that cannot be prepared) for the first tick or batch.
        self.startup_errors = out.take_errors();
        self.update_counters();
        Ok(())
    }

    fn process(&mut self, event: Event, out: &mut Outbox) {
        self.process_batch(vec![event], out);
    }

    fn process_batch(&mut self, batch: Vec<Event>, out: &mut Outbox) {
        self.report_startup_errors(out);
        let wall = now_ms();
        let mut decisions = Vec::new();
        for mut event in batch {
            if let Some(d) = self.manager.handle(&mut event, wall) {
                decisions.push(d);
            }
            out.emit(event);
        }
        // One store transaction and one firewall batch per batch of events.
        self.on_decisions(decisions, "auto", out);
        self.flush_backend(out, false);
        self.update_counters();
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some(Duration::from_secs(1))
    }

    fn tick(&mut self, out: &mut Outbox) {
        let wall = now_ms();
        let ended = self.manager.expire(wall);
        self.on_unbans(ended, "ban time is over", out);
        self.report_startup_errors(out);
        // The store holds only bans in force by the clock (see
        // `on_decisions`), so it expires by the clock too.
        if let Some(store) = &mut self.store
            && let Err(e) = store.expire(wall, self.history)
        {
            out.error(format!("state store: {e}"), None);
        }
        self.flush_backend(out, false);
        self.update_counters();
    }

    fn finish(&mut self, out: &mut Outbox) -> Result<(), StageError> {
        self.flush_backend(out, true);
        if self.backend_started
            && let Err(e) = self.backend.stop()
        {
            out.error(format!("firewall cleanup: {e}"), None);
        }
        if !self.pending.is_empty() {
            out.error(
                format!(
                    "{} firewall change(s) not applied at shutdown; they are in the state store and will be applied at the next start",
                    self.pending.len()
                ),
                None,
            );
        }
        self.update_counters();
        Ok(())
    }

    fn blocking(&self) -> bool {
        // Firewall backends and the state store do I/O.
        true
    }

    fn control(&mut self, request: &Value, out: &mut Outbox) -> Option<Value> {
        let cmd = request.get("cmd").and_then(Value::as_str)?;
        let text = |k: &str| request.get(k).and_then(Value::as_str);
        Some(match cmd {
            "status" => self.status(),
            "bans.list" => self.list(text("group")),
            "bans.add" => self.add(
                text("ip").unwrap_or_default(),
                text("group").unwrap_or_default(),
                text("for"),
                text("reason").unwrap_or_default(),
                out,
            ),
            "bans.remove" => self.remove(text("ip").unwrap_or_default(), text("group"), out),
            "bans.explain" => self.explain(text("ip").unwrap_or_default()),
            "metrics" => self.metrics(),
            _ => return None,
        })
    }
}

fn error(message: impl Into<String>) -> Value {
    json!({"ok": false, "error": message.into()})
}

/// Parses an address given on the command line; bogus text is refused.
fn cli_ip(text: &str) -> Result<IpAddr, Value> {
    crate::fail2ban::ip::parse_client_ip(text)
        .ok_or_else(|| error(format!("`{text}` is not a valid IP address")))
}

impl Fail2banStage {
    fn status(&self) -> Value {
        let wall = now_ms();
        let mut per_group: BTreeMap<String, u64> = self
            .manager
            .groups()
            .iter()
            .map(|g| (g.name.clone(), 0))
            .collect();
        if let Some(store) = &self.store
            && let Ok(bans) = store.active_bans(wall, None)
        {
            for b in bans {
                *per_group.entry(b.decision.group).or_default() += 1;
            }
        }
        let s = self.manager.stats();
        json!({
            "backend": self.backend.name(),
            "backend_ready": self.backend_started,
            // Not ok while the firewall could not even be prepared, with or
            // without bans waiting.
            "backend_ok": self.backend_started
                && (self.pending.is_empty() || self.retry_at.is_none()),
            "pending_changes": self.pending.len(),
            "bans_per_group": per_group,
            "tracked_keys": self.manager.tracked(),
            "failures": s.failures,
            "bans_decided": s.bans,
            "state_path": self.store.as_ref().map(|st| st.path().display().to_string()),
        })
    }

    fn list(&self, group: Option<&str>) -> Value {
        let Some(store) = &self.store else {
            return error("state store not open yet");
        };
        let at = now_ms();
        match store.active_bans(at, group) {
            Ok(bans) => {
                let bans: Vec<Value> = bans
                    .into_iter()
                    .map(|b| {
                        let d = &b.decision;
                        json!({
                            "ip": d.ip.to_string(),
                            "group": d.group,
                            "since": crate::fail2ban::book::ms_to_rfc3339(d.since_ms),
                            "until": d.until_ms.map(crate::fail2ban::book::ms_to_rfc3339),
                            "bantime": d.bantime.to_string(),
                            "rule": d.rule,
                            "reason": d.reason,
                            "failures": d.count,
                            "previous_bans": d.previous_bans,
                            "source": b.source,
                            "applied": b.applied,
                        })
                    })
                    .collect();
                json!({"ok": true, "bans": bans})
            }
            Err(e) => error(e.to_string()),
        }
    }

    fn add(
        &mut self,
        ip: &str,
        group: &str,
        span: Option<&str>,
        reason: &str,
        out: &mut Outbox,
    ) -> Value {
        if !self.manager.groups().iter().any(|g| g.name == group) {
            let groups: Vec<&str> = self
                .manager
                .groups()
                .iter()
                .map(|g| g.name.as_str())
                .collect();
            return json!({"skip": true, "groups": groups});
        }
        let ip = match cli_ip(ip) {
            Ok(ip) => ip,
            Err(e) => return e,
        };
        let span = match span.map(crate::duration::Span::parse).transpose() {
            Ok(s) => s,
            Err(e) => return error(e),
        };
        match self.manager.manual_ban(ip, group, span, reason, now_ms()) {
            Ok(d) => {
                let summary = d.summary();
                self.on_decisions(vec![d.clone()], "manual", out);
                self.flush_backend(out, true);
                json!({
                    "ok": true,
                    "message": summary,
                    "applied": self.pending.is_empty(),
                    "ban": {"ip": d.ip.to_string(), "group": d.group,
                            "until": d.until_ms.map(crate::fail2ban::book::ms_to_rfc3339)},
                })
            }
            Err(e) => error(e),
        }
    }

    /// Why `ip` is banned, or what it did: the failures behind its bans
    /// (from the store) and its recent failures not yet banned (memory).
    fn explain(&self, ip: &str) -> Value {
        let ip = match cli_ip(ip) {
            Ok(ip) => ip,
            Err(e) => return e,
        };
        let at = now_ms();
        let fmt = crate::fail2ban::book::ms_to_rfc3339;
        let evidence = |e: &crate::fail2ban::book::Evidence| json!({"time": fmt(e.at_ms), "rule": e.rule, "line": e.line});
        let mut items = Vec::new();
        if let Some(store) = &self.store {
            let active = store.active_bans(at, None).unwrap_or_default();
            let mut bans: Vec<(String, i64, Vec<Value>)> = Vec::new();
            for (group, since, e) in store.evidence(ip).unwrap_or_default() {
                match bans.iter_mut().find(|b| b.0 == group && b.1 == since) {
                    Some(b) => b.2.push(evidence(&e)),
                    None => bans.push((group, since, vec![evidence(&e)])),
                }
            }
            for b in active.iter().filter(|b| b.decision.ip == ip) {
                let d = &b.decision;
                if !bans
                    .iter()
                    .any(|(g, s, _)| *g == d.group && *s == d.since_ms)
                {
                    bans.push((d.group.clone(), d.since_ms, Vec::new()));
                }
            }
            for (group, since, failures) in bans {
                let current = active.iter().find(|b| {
                    b.decision.ip == ip && b.decision.group == group && b.decision.since_ms == since
                });
                items.push(json!({
                    "ip": ip.to_string(),
                    "group": group,
                    "banned": current.is_some(),
                    "since": fmt(since),
                    "until": current.and_then(|b| b.decision.until_ms).map(fmt),
                    "rule": current.map(|b| b.decision.rule.clone()),
                    "reason": current.map(|b| b.decision.reason.clone()),
                    "failures": failures,
                }));
            }
        }
        for (group, recent) in self.manager.recent_failures(ip) {
            items.push(json!({
                "ip": ip.to_string(),
                "group": group,
                "banned": false,
                "recent": true,
                "failures": recent.iter().map(evidence).collect::<Vec<_>>(),
            }));
        }
        json!({"ok": true, "bans": items})
    }

    /// Numbers for the Prometheus endpoint.
    fn metrics(&self) -> Value {
        let s = self.manager.stats();
        let store_bytes = self.store_path.as_ref().map_or(0, |p| {
            [p.clone(), PathBuf::from(format!("{}-wal", p.display()))]
                .iter()
                .filter_map(|f| std::fs::metadata(f).ok())
                .map(|m| m.len())
                .sum::<u64>()
        });
        let bans_by_group: BTreeMap<&str, u64> = self
            .bans_by_group
            .iter()
            .map(|(g, n)| (g.as_str(), *n))
            .collect();
        json!({
            "ok": true,
            "rule_hits": self.manager.rule_hits().into_iter().collect::<BTreeMap<_, _>>(),
            "bans_by_group": bans_by_group,
            "active_by_group": self.manager.active_by_group().into_iter().collect::<BTreeMap<_, _>>(),
            "tracked_keys": self.manager.tracked(),
            "failures": s.failures,
            "allowed": s.allowed,
            "ignored": s.ignored,
            "bad_addresses": s.bad_addresses,
            "backend": self.backend.name(),
            "backend_batches": self.batches.ok,
            "backend_failures": self.batches.failed,
            "backend_apply_seconds_sum": self.batches.seconds,
            "backend_apply_count": self.batches.ok + self.batches.failed,
            "pending_changes": self.pending.len(),
            "state_store_bytes": store_bytes,
        })
    }

    fn remove(&mut self, ip: &str, group: Option<&str>, out: &mut Outbox) -> Value {
        let ip = match cli_ip(ip) {
            Ok(ip) => ip,
            Err(e) => return e,
        };
        let mut removed: Vec<(String, IpAddr)> = self.manager.lift(ip, group);
        if let Some(store) = &mut self.store {
            match store.remove_ban(ip, group) {
                Ok(rows) => {
                    for r in rows {
                        let pair = (r.decision.group, r.decision.ip);
                        if !removed.contains(&pair) {
                            removed.push(pair);
                        }
                    }
                }
                Err(e) => return error(e.to_string()),
            }
        }
        let list: Vec<Value> = removed
            .iter()
            .map(|(g, ip)| json!({"ip": ip.to_string(), "group": g}))
            .collect();
        self.on_unbans(removed, "removed by hand", out);
        self.flush_backend(out, true);
        json!({"ok": true, "removed": list, "applied": self.pending.is_empty()})
    }
}
