//! `ecomdash-loadtest`: a generator of realistic shop traffic for EcomDash and a load driver
//! that reports throughput and latency honestly (open-loop latencies are measured from the
//! intended send time, so queueing is not hidden by coordinated omission).
//!
//! It depends on `ecomdash-protocol` and `ecomdash-client` (for QUIC) only: it speaks the
//! daemon's public HTTP and QUIC APIs and never links the engine. It is not a benchmark of
//! anything by itself: the figures it prints are those of the server it drives, as long as the
//! generator has CPU to spare.

pub mod agents;
pub mod catalog;
pub mod driver;
pub mod dump;
pub mod duration;
pub mod model;
pub mod pool;
pub mod quic;
pub mod report;
pub mod verify;
