//! The Prometheus endpoint: `metrics: {listen: 127.0.0.1:9464}` serves
//! `/metrics` in the text exposition format.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::pipeline::control::ControlContext;

/// Largest request head read.
const MAX_HEAD: usize = 8 * 1024;

/// Binds the endpoint (before any stage starts: a port that cannot be
/// served stops the run).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("metrics: cannot listen on {addr}: {e}"))
}

/// Serves `/metrics` until the task is dropped.
pub async fn serve(listener: TcpListener, ctx: ControlContext) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("metrics: http://{addr}/metrics");
    }
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let _ = handle(stream, &ctx).await;
        });
    }
}

async fn handle(mut stream: TcpStream, ctx: &ControlContext) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
    if !matches!(read, Ok(Ok(()))) {
        return Ok(());
    }
    let line = head
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, body) = match (method, path.split('?').next().unwrap_or("")) {
        ("GET" | "HEAD", "/metrics") => ("200 OK", render(ctx).await),
        ("GET" | "HEAD", _) => ("404 Not Found", "not found: try /metrics\n".to_string()),
        _ => ("405 Method Not Allowed", "only GET\n".to_string()),
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if method != "HEAD" {
        response.push_str(&body);
    }
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// Label names and values of one sample.
type Labels = Vec<(&'static str, String)>;

/// One metric family.
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    samples: Vec<(Labels, f64)>,
}

impl Family {
    fn new(name: &'static str, kind: &'static str, help: &'static str) -> Self {
        Self {
            name,
            kind,
            help,
            samples: Vec::new(),
        }
    }

    fn add(&mut self, labels: Labels, value: f64) {
        self.samples.push((labels, value));
    }

    fn write(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind);
        for (labels, value) in &self.samples {
            out.push_str(self.name);
            write_labels(out, labels);
            let _ = writeln!(out, " {value}");
        }
    }
}

fn write_labels(out: &mut String, labels: &[(&str, String)]) {
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{k}=\"");
        for c in v.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
}

fn num(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

/// The exposition text for the running pipeline.
pub async fn render(ctx: &ControlContext) -> String {
    let mut stage_families = [
        (
            "events_in",
            Family::new(
                "logbus_stage_events_in_total",
                "counter",
                "Events a stage received.",
            ),
        ),
        (
            "events_out",
            Family::new(
                "logbus_stage_events_out_total",
                "counter",
                "Events a stage sent on.",
            ),
        ),
        (
            "bytes_in",
            Family::new(
                "logbus_stage_bytes_in_total",
                "counter",
                "Bytes an input read or a parser parsed.",
            ),
        ),
        (
            "lines_in",
            Family::new(
                "logbus_stage_lines_in_total",
                "counter",
                "Lines an input read.",
            ),
        ),
        (
            "errors",
            Family::new(
                "logbus_stage_errors_total",
                "counter",
                "Errors a stage reported on the errors channel.",
            ),
        ),
    ];
    let mut extra = Family::new(
        "logbus_stage_value",
        "gauge",
        "Stage-specific counters and gauges (lines_truncated, dropped, tracked_keys, ...).",
    );
    for (stage, module, counters) in &ctx.stages {
        let snap = counters.snapshot();
        for (key, fam) in stage_families.iter_mut() {
            let v = snap.get(*key).and_then(Value::as_f64).unwrap_or(0.0);
            fam.add(
                vec![("stage", stage.clone()), ("module", module.clone())],
                v,
            );
        }
        for (k, v) in &snap {
            if stage_families.iter().any(|(key, _)| key == k) {
                continue;
            }
            extra.add(
                vec![
                    ("stage", stage.clone()),
                    ("module", module.clone()),
                    ("name", k.clone()),
                ],
                v.as_f64().unwrap_or(0.0),
            );
        }
    }
    let mut rule_hits = Family::new(
        "logbus_fail2ban_rule_matches_total",
        "counter",
        "Failures counted per rule.",
    );
    let mut bans = Family::new(
        "logbus_fail2ban_bans_total",
        "counter",
        "Bans decided per group since start.",
    );
    let mut active = Family::new(
        "logbus_fail2ban_active_bans",
        "gauge",
        "Bans in force per group.",
    );
    let mut tracked = Family::new(
        "logbus_fail2ban_tracked_keys",
        "gauge",
        "group~ip keys being counted.",
    );
    let mut failures = Family::new(
        "logbus_fail2ban_failures_total",
        "counter",
        "Failures counted (allow-listed ones excluded).",
    );
    let mut batches = Family::new(
        "logbus_fail2ban_backend_batches_total",
        "counter",
        "Firewall batches applied.",
    );
    let mut batch_failures = Family::new(
        "logbus_fail2ban_backend_failures_total",
        "counter",
        "Firewall batches refused (retried later).",
    );
    // A summary without quantiles: (labels, sum, count).
    let mut latency: Vec<(Labels, f64, f64)> = Vec::new();
    let mut pending = Family::new(
        "logbus_fail2ban_pending_changes",
        "gauge",
        "Firewall changes waiting for a retry.",
    );
    let mut store = Family::new(
        "logbus_fail2ban_state_store_bytes",
        "gauge",
        "Size of the state store (with its WAL).",
    );
    for t in &ctx.targets {
        let Some(m) = t.ask(json!({"cmd": "metrics"})).await else {
            continue;
        };
        let stage = || ("stage", t.stage.clone());
        for (rule, n) in m
            .get("rule_hits")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            rule_hits.add(
                vec![stage(), ("rule", rule.clone())],
                n.as_f64().unwrap_or(0.0),
            );
        }
        for (group, n) in m
            .get("bans_by_group")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            bans.add(
                vec![stage(), ("group", group.clone())],
                n.as_f64().unwrap_or(0.0),
            );
        }
        for (group, n) in m
            .get("active_by_group")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            active.add(
                vec![stage(), ("group", group.clone())],
                n.as_f64().unwrap_or(0.0),
            );
        }
        let backend = m
            .get("backend")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        tracked.add(vec![stage()], num(&m, "tracked_keys"));
        failures.add(vec![stage()], num(&m, "failures"));
        batches.add(
            vec![stage(), ("backend", backend.clone())],
            num(&m, "backend_batches"),
        );
        batch_failures.add(
            vec![stage(), ("backend", backend.clone())],
            num(&m, "backend_failures"),
        );
        pending.add(vec![stage()], num(&m, "pending_changes"));
        store.add(vec![stage()], num(&m, "state_store_bytes"));
        latency.push((
            vec![stage(), ("backend", backend)],
            num(&m, "backend_apply_seconds_sum"),
            num(&m, "backend_apply_count"),
        ));
    }
    let mut out = String::new();
    for (_, f) in &stage_families {
        f.write(&mut out);
    }
    extra.write(&mut out);
    for f in [
        &rule_hits,
        &bans,
        &active,
        &tracked,
        &failures,
        &batches,
        &batch_failures,
        &pending,
        &store,
    ] {
        if !f.samples.is_empty() {
            f.write(&mut out);
        }
    }
    if !latency.is_empty() {
        let name = "logbus_fail2ban_backend_apply_seconds";
        let _ = writeln!(out, "# HELP {name} Time to apply a firewall batch.");
        let _ = writeln!(out, "# TYPE {name} summary");
        for (labels, sum, count) in &latency {
            let _ = write!(out, "{name}_sum");
            write_labels(&mut out, labels);
            let _ = writeln!(out, " {sum}");
            let _ = write!(out, "{name}_count");
            write_labels(&mut out, labels);
            let _ = writeln!(out, " {count}");
        }
    }
    out
}
