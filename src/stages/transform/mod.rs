//! Transform stages: reshape and select events.

pub mod cast;
pub mod drop;
pub mod filter;
pub mod keep;
pub mod rename;
pub mod sample;
