//! The two channels every pipeline has: `errors` and `stats`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};

use super::counters::StageCounters;
use super::emitter::Emitter;
use super::stage::ErrorRecord;
use crate::event::Event;
use crate::time::now_rfc3339;

/// How many errors of one stage are logged when nobody reads `errors`.
const UNREAD_ERRORS_LOGGED: u64 = 10;

/// A stage's way to report errors. Each error is counted, then delivered on
/// the `errors` channel, or logged when no stage reads it.
#[derive(Clone, Debug)]
pub struct ErrorSink {
    tx: Option<mpsc::Sender<Event>>,
    /// Stages upstream of the `errors` readers wait for room (nothing is
    /// lost); stages that read `errors` themselves must not, or they could
    /// wait on their own queue.
    lossless: bool,
    stage: Arc<str>,
    module: Arc<str>,
    counters: Arc<StageCounters>,
    logged: Arc<AtomicU64>,
}

impl ErrorSink {
    pub(super) fn new(
        tx: Option<mpsc::Sender<Event>>,
        lossless: bool,
        stage: &str,
        module: &str,
        counters: Arc<StageCounters>,
    ) -> Self {
        Self {
            tx,
            lossless,
            stage: stage.into(),
            module: module.into(),
            counters,
            logged: Arc::default(),
        }
    }

    /// A sink that only counts and logs (for running a stage alone).
    pub fn detached(stage: &str, counters: Arc<StageCounters>) -> Self {
        Self::new(None, false, stage, stage, counters)
    }

    /// Reports one error.
    pub async fn report(&self, record: ErrorRecord) {
        StageCounters::add(&self.counters.errors, 1);
        let Some(tx) = &self.tx else {
            self.log_unread(&record.message);
            return;
        };
        let event = self.to_event(record);
        let sent = if self.lossless {
            tx.send(event).await.map_err(|e| e.0)
        } else {
            tx.try_send(event).map_err(|e| match e {
                mpsc::error::TrySendError::Full(ev) | mpsc::error::TrySendError::Closed(ev) => ev,
            })
        };
        if let Err(ev) = sent {
            let msg = ev
                .get_str(&crate::event::fields::MESSAGE)
                .unwrap_or_default()
                .to_string();
            self.log_unread(&msg);
        }
    }

    fn log_unread(&self, message: &str) {
        let n = self.logged.fetch_add(1, Ordering::Relaxed);
        if n < UNREAD_ERRORS_LOGGED {
            tracing::warn!(stage = %self.stage, "{message}");
        } else if n == UNREAD_ERRORS_LOGGED {
            tracing::warn!(
                stage = %self.stage,
                "further errors of this stage are only counted; read the `errors` channel to see them"
            );
        }
    }

    fn to_event(&self, record: ErrorRecord) -> Event {
        let mut m = Map::new();
        m.insert("@timestamp".into(), Value::String(now_rfc3339()));
        m.insert("message".into(), Value::String(record.message.clone()));
        m.insert("stage".into(), Value::String(self.stage.to_string()));
        m.insert("module".into(), Value::String(self.module.to_string()));
        let mut err = Map::new();
        err.insert("message".into(), Value::String(record.message));
        m.insert("error".into(), Value::Object(err));
        if let Some(input) = record.input {
            m.insert("input".into(), input.into_value());
        }
        Event::from_map(m)
    }
}

/// Forwards error events to the stages that read `errors` until told to close.
pub(super) async fn error_broker(
    mut rx: mpsc::Receiver<Event>,
    mut out: Emitter,
    mut close: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { break };
                let mut batch = vec![ev];
                while batch.len() < 256 {
                    match rx.try_recv() {
                        Ok(ev) => batch.push(ev),
                        Err(_) => break,
                    }
                }
                if out.send(batch).await.is_err() {
                    break;
                }
            }
            _ = &mut close => {
                let mut batch = Vec::new();
                while let Ok(ev) = rx.try_recv() {
                    batch.push(ev);
                }
                let _ = out.send(batch).await;
                break;
            }
        }
    }
}

/// Emits one event per stage on `stats` every `interval`, and a last round
/// when told to close.
pub(super) async fn stats_ticker(
    stages: Vec<(String, String, Arc<StageCounters>)>,
    mut out: Emitter,
    interval: Duration,
    mut close: oneshot::Receiver<()>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await; // the first tick is immediate; counters are all zero
    loop {
        let last = tokio::select! {
            _ = ticker.tick() => false,
            _ = &mut close => true,
        };
        let now = now_rfc3339();
        let batch = stages
            .iter()
            .map(|(stage, module, counters)| {
                let mut m = Map::new();
                m.insert("@timestamp".into(), Value::String(now.clone()));
                m.insert("stage".into(), Value::String(stage.clone()));
                m.insert("module".into(), Value::String(module.clone()));
                m.extend(counters.snapshot());
                Event::from_map(m)
            })
            .collect();
        if out.send(batch).await.is_err() || last {
            break;
        }
    }
}
