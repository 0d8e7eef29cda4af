//! How the control socket reaches running stages: each processor gets a
//! small request queue next to its event queue, answered between batches.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::counters::StageCounters;

/// Requests waiting per stage; more callers wait their turn.
pub const CONTROL_QUEUE: usize = 8;

/// One request to a stage, with the way back.
#[derive(Debug)]
pub struct ControlCall {
    /// The request (`{"cmd": "bans.list", ...}`).
    pub request: Value,
    /// Where the stage's answer goes (`None`: nothing to say).
    pub reply: oneshot::Sender<Option<Value>>,
}

/// A running processor that can be asked things.
#[derive(Debug, Clone)]
pub struct ControlTarget {
    /// Stage name.
    pub stage: String,
    /// Module name.
    pub module: String,
    tx: mpsc::Sender<ControlCall>,
}

impl ControlTarget {
    /// A target sending into `tx`.
    pub fn new(stage: String, module: String, tx: mpsc::Sender<ControlCall>) -> Self {
        Self { stage, module, tx }
    }

    /// Asks the stage; `None` when it has nothing to say or has ended.
    pub async fn ask(&self, request: Value) -> Option<Value> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(ControlCall { request, reply }).await.ok()?;
        answer.await.ok().flatten()
    }
}

/// What the control server may see of a running pipeline.
#[derive(Debug, Clone)]
pub struct ControlContext {
    /// Processors, in configuration order.
    pub targets: Vec<ControlTarget>,
    /// Every stage's counters: (stage, module, counters).
    pub stages: Vec<(String, String, Arc<StageCounters>)>,
}
