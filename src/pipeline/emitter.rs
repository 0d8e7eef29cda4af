//! Sending batches to the stages that read a channel.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::counters::StageCounters;
use crate::event::Batch;

/// Every downstream stage is gone; nobody will read what we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no stage reads this output any more")]
pub struct Closed;

/// The senders of one stage, one list per output port. A channel read by
/// several stages gets a copy of each batch per reader (fan-out); bounded
/// queues make a slow reader slow the writer down (back-pressure).
#[derive(Clone, Debug)]
pub struct Emitter {
    ports: Vec<Vec<mpsc::Sender<Batch>>>,
    counters: Arc<StageCounters>,
}

impl Emitter {
    /// An emitter over the given senders.
    pub fn new(ports: Vec<Vec<mpsc::Sender<Batch>>>, counters: Arc<StageCounters>) -> Self {
        Self { ports, counters }
    }

    /// Sends on the main output.
    pub async fn send(&mut self, batch: Batch) -> Result<(), Closed> {
        self.send_to(0, batch).await
    }

    /// Sends on `port`, waiting for room in every reader's queue. Readers
    /// that have gone away are dropped; `Closed` once none is left.
    pub async fn send_to(&mut self, port: usize, batch: Batch) -> Result<(), Closed> {
        if batch.is_empty() {
            return Ok(());
        }
        let Some(senders) = self.ports.get_mut(port) else {
            return Err(Closed);
        };
        let n = batch.len() as u64;
        let mut batch = Some(batch);
        let count = senders.len();
        let mut alive = Vec::with_capacity(count);
        for (i, tx) in senders.iter().enumerate() {
            let copy = if i + 1 == count {
                batch.take().unwrap_or_default()
            } else {
                batch.clone().unwrap_or_default()
            };
            alive.push(tx.send(copy).await.is_ok());
        }
        let mut idx = 0;
        senders.retain(|_| {
            let keep = alive[idx];
            idx += 1;
            keep
        });
        if senders.is_empty() {
            return Err(Closed);
        }
        StageCounters::add(&self.counters.events_out, n);
        Ok(())
    }

    /// Number of output ports.
    pub fn port_count(&self) -> usize {
        self.ports.len()
    }
}
