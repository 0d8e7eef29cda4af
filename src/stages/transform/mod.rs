//! Transform stages: reshape and select events.

pub mod cast;
pub mod drop;
pub mod filter;
pub mod keep;
pub mod rename;
pub mod sample;

use std::sync::atomic::AtomicU64;

use crate::event::{Batch, Event};
use crate::pipeline::{Outbox, StageCounters};

/// Emits the events `keep` says yes to and counts the others in `dropped`
/// (one counter update per batch): what `filter` and `sample` share.
pub(crate) fn emit_kept(
    batch: Batch,
    out: &mut Outbox,
    dropped: &AtomicU64,
    mut keep: impl FnMut(&Event) -> bool,
) {
    let mut n = 0;
    for event in batch {
        if keep(&event) {
            out.emit(event);
        } else {
            n += 1;
        }
    }
    if n > 0 {
        StageCounters::add(dropped, n);
    }
}
