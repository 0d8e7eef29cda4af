//! Serving the control socket.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use super::MAX_REQUEST;
use crate::pipeline::control::ControlContext;

/// A bound socket; the file is removed when this is dropped.
#[derive(Debug)]
pub struct ControlListener {
    listener: UnixListener,
    path: PathBuf,
}

impl Drop for ControlListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds the socket at `path`, mode 0600 (only its owner, normally root,
/// may ban and unban). A stale file left by a crash is replaced; a socket
/// another logbus still serves is not.
pub fn bind(path: &Path) -> Result<ControlListener, String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(format!(
                "{} is served by another running logbus",
                path.display()
            ));
        }
        std::fs::remove_file(path)
            .map_err(|e| format!("cannot replace stale {}: {e}", path.display()))?;
    }
    let listener =
        UnixListener::bind(path).map_err(|e| format!("cannot bind {}: {e}", path.display()))?;
    let bound = ControlListener {
        listener,
        path: path.to_path_buf(),
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot restrict {}: {e}", path.display()))?;
    Ok(bound)
}

/// Answers requests until the task is dropped.
pub async fn serve(listener: ControlListener, ctx: ControlContext) {
    tracing::info!("control socket: {}", listener.path.display());
    loop {
        let stream = match listener.listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!("control socket: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let ctx = ctx.clone();
        tokio::spawn(async move {
            if let Err(e) = handle(stream, &ctx).await {
                tracing::debug!("control client: {e}");
            }
        });
    }
}

async fn handle(stream: UnixStream, ctx: &ControlContext) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(MAX_REQUEST as u64 + 1));
    let read = tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut line)).await;
    let answer = match read {
        Err(_) => json!({"ok": false, "error": "timed out waiting for the request"}),
        Ok(Err(e)) => json!({"ok": false, "error": format!("cannot read the request: {e}")}),
        Ok(Ok(_)) if line.len() > MAX_REQUEST => {
            json!({"ok": false, "error": "request too large"})
        }
        Ok(Ok(_)) => match serde_json::from_str::<Value>(&line) {
            Ok(req) => dispatch(req, ctx).await,
            Err(e) => json!({"ok": false, "error": format!("not a JSON request: {e}")}),
        },
    };
    let mut text = answer.to_string();
    text.push('\n');
    write.write_all(text.as_bytes()).await?;
    write.shutdown().await
}

/// Routes one request to the stages that can answer it.
pub async fn dispatch(req: Value, ctx: &ControlContext) -> Value {
    let cmd = req.get("cmd").and_then(Value::as_str).unwrap_or_default();
    match cmd {
        "status" => {
            let stages: Vec<Value> = ctx
                .stages
                .iter()
                .map(|(stage, module, counters)| {
                    let mut v = json!({"stage": stage, "module": module});
                    if let Some(m) = v.as_object_mut() {
                        m.extend(counters.snapshot());
                    }
                    v
                })
                .collect();
            let mut details = Vec::new();
            for t in &ctx.targets {
                if let Some(a) = t.ask(json!({"cmd": "status"})).await {
                    details.push(a);
                }
            }
            json!({"ok": true, "stages": stages, "fail2ban": details})
        }
        "bans.list" | "bans.remove" | "bans.explain" => {
            let key = if cmd == "bans.remove" {
                "removed"
            } else {
                "bans"
            };
            let mut all = Vec::new();
            let mut answered = false;
            for t in &ctx.targets {
                match t.ask(req.clone()).await {
                    Some(a) if a.get("ok") == Some(&json!(false)) => return a,
                    Some(a) => {
                        answered = true;
                        if let Some(Value::Array(items)) = a.get(key) {
                            all.extend(items.iter().cloned());
                        }
                    }
                    None => {}
                }
            }
            if !answered {
                return json!({"ok": false, "error": "this pipeline has no fail2ban stage"});
            }
            json!({"ok": true, key: all})
        }
        "bans.add" => {
            let mut groups = Vec::new();
            for t in &ctx.targets {
                match t.ask(req.clone()).await {
                    Some(a) if a.get("skip") == Some(&json!(true)) => {
                        if let Some(Value::Array(g)) = a.get("groups") {
                            groups.extend(g.iter().filter_map(Value::as_str).map(str::to_string));
                        }
                    }
                    Some(a) => return a,
                    None => {}
                }
            }
            let group = req.get("group").and_then(Value::as_str).unwrap_or_default();
            if groups.is_empty() {
                json!({"ok": false, "error": "this pipeline has no fail2ban stage"})
            } else {
                json!({"ok": false, "error": format!("unknown group `{group}` (groups: {})", groups.join(", "))})
            }
        }
        "" => json!({"ok": false, "error": "missing `cmd`"}),
        other => json!({"ok": false, "error": format!("unknown command `{other}`")}),
    }
}
