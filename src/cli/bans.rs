//! `logbus bans ...` and `logbus status`: clients of the control socket.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use logbus::config::PipelineConfig;
use logbus::control::client;
use logbus::pipeline::DEFAULT_CONTROL_SOCKET;
use serde_json::{Value, json};

/// How to find the socket: `--socket`, else `--config`'s `control_socket`,
/// else the default.
pub fn socket_path(socket: Option<&Path>, config: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(s) = socket {
        return Ok(s.to_path_buf());
    }
    if let Some(c) = config {
        let cfg = PipelineConfig::load(c)?;
        if let Some(p) = cfg.settings.control_socket {
            return Ok(if p.is_absolute() {
                p
            } else {
                cfg.base_dir.join(p)
            });
        }
    }
    Ok(PathBuf::from(DEFAULT_CONTROL_SOCKET))
}

/// Sends a request; a refusal by the daemon becomes an error message.
fn ask(socket: &Path, req: Value) -> anyhow::Result<Value> {
    let answer = client::request(socket, &req)?;
    if answer.get("ok") == Some(&json!(true)) {
        Ok(answer)
    } else {
        let msg = answer
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("the daemon refused the request");
        anyhow::bail!("{msg}")
    }
}

/// `logbus bans list`.
pub fn list(socket: &Path, group: Option<&str>, as_json: bool) -> anyhow::Result<ExitCode> {
    let answer = ask(socket, json!({"cmd": "bans.list", "group": group}))?;
    let bans = answer.get("bans").cloned().unwrap_or(json!([]));
    if as_json {
        println!("{}", serde_json::to_string_pretty(&bans)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows = bans.as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        println!("no active bans");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<40} {:<12} {:<30} {:<8} RULE",
        "IP", "GROUP", "UNTIL", "SOURCE"
    );
    for b in rows {
        let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let until = b.get("until").and_then(Value::as_str).unwrap_or("forever");
        println!(
            "{:<40} {:<12} {:<30} {:<8} {}",
            s("ip"),
            s("group"),
            until,
            s("source"),
            s("rule")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `logbus bans add`.
pub fn add(
    socket: &Path,
    ip: &str,
    group: &str,
    span: Option<&str>,
    reason: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let answer = ask(
        socket,
        json!({"cmd": "bans.add", "ip": ip, "group": group, "for": span, "reason": reason}),
    )?;
    println!(
        "{}",
        answer
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("banned")
    );
    if answer.get("applied") == Some(&json!(false)) {
        eprintln!(
            "logbus: the firewall has not accepted it yet; it is pending and will be retried"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `logbus bans remove`.
pub fn remove(socket: &Path, ip: &str, group: Option<&str>) -> anyhow::Result<ExitCode> {
    let answer = ask(
        socket,
        json!({"cmd": "bans.remove", "ip": ip, "group": group}),
    )?;
    let removed = answer
        .get("removed")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if removed.is_empty() {
        println!("{ip} was not banned");
        return Ok(ExitCode::from(1));
    }
    for r in removed {
        println!(
            "unbanned {} in {}",
            r.get("ip").and_then(Value::as_str).unwrap_or(ip),
            r.get("group").and_then(Value::as_str).unwrap_or("?")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `logbus bans explain`.
pub fn explain(socket: &Path, ip: &str, as_json: bool) -> anyhow::Result<ExitCode> {
    let answer = ask(socket, json!({"cmd": "bans.explain", "ip": ip}))?;
    let items = answer
        .get("bans")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if as_json {
        println!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(ExitCode::SUCCESS);
    }
    if items.is_empty() {
        println!("{ip}: no bans and no recent failures on record");
        return Ok(ExitCode::from(1));
    }
    for item in &items {
        let s = |k: &str| {
            item.get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        if item.get("recent") == Some(&json!(true)) {
            println!("{ip} in {}: recent failures, not banned", s("group"));
        } else if item.get("banned") == Some(&json!(true)) {
            let until = item
                .get("until")
                .and_then(Value::as_str)
                .unwrap_or("forever");
            println!(
                "{ip} in {}: BANNED since {} until {until} ({})",
                s("group"),
                s("since"),
                s("reason")
            );
        } else {
            println!(
                "{ip} in {}: banned from {} (ended or lifted)",
                s("group"),
                s("since")
            );
        }
        for f in item
            .get("failures")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let t = |k: &str| f.get(k).and_then(Value::as_str).unwrap_or("");
            println!("  {}  {:<28} {}", t("time"), t("rule"), t("line"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `logbus status`.
pub fn status(socket: &Path, as_json: bool) -> anyhow::Result<ExitCode> {
    let answer = ask(socket, json!({"cmd": "status"})).context("cannot get the status")?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<20} {:<18} {:>10} {:>10} {:>8}",
        "STAGE", "MODULE", "EVENTS_IN", "EVENTS_OUT", "ERRORS"
    );
    for s in answer
        .get("stages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let t = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let n = |k: &str| s.get(k).and_then(Value::as_u64).unwrap_or(0);
        println!(
            "{:<20} {:<18} {:>10} {:>10} {:>8}",
            t("stage"),
            t("module"),
            n("events_in"),
            n("events_out"),
            n("errors")
        );
    }
    for f in answer
        .get("fail2ban")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        println!();
        let backend = f.get("backend").and_then(Value::as_str).unwrap_or("?");
        let ok = f.get("backend_ok") == Some(&json!(true));
        println!(
            "firewall: {backend} ({}), {} change(s) pending",
            if ok { "healthy" } else { "FAILING, retrying" },
            f.get("pending_changes")
                .and_then(Value::as_u64)
                .unwrap_or(0)
        );
        println!(
            "tracked keys: {}, failures: {}, bans decided: {}",
            f.get("tracked_keys").and_then(Value::as_u64).unwrap_or(0),
            f.get("failures").and_then(Value::as_u64).unwrap_or(0),
            f.get("bans_decided").and_then(Value::as_u64).unwrap_or(0)
        );
        if let Some(groups) = f.get("bans_per_group").and_then(Value::as_object) {
            for (g, n) in groups {
                println!("  {g}: {n} active ban(s)");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
