//! `ecomdash-engine`: the `ecomdash` daemon — HTTP intake, validation, enrichment, per-site and
//! per-session actors, live aggregates and durable acknowledgements on top of `ecomdash-storage`.
//!
//! It is not a storage engine or a query engine: it owns no file formats (except the small
//! `sites.json` and salt files in the data dir) and plans no queries; it wires the other crates
//! into a service.
//!
//! - [`server::serve`] is the entry point; [`config`] says what can be configured;
//! - [`http`] holds the routes, with [`http::error`] the one place errors become statuses;
//! - [`pipeline`] turns a validated event into a stored row using [`enrich`];
//! - [`actors`] has the SiteActor / SessionActor / Supervisor; [`live`] the realtime figures;
//! - [`admission`] bounds work in flight; [`import`] is bulk NDJSON import;
//! - [`quic`] is the QUIC listener for FlatBuffers batches (same pipeline as HTTP intake).

pub mod actors;
pub mod admission;
pub mod clock;
pub mod config;
pub mod engine;
pub mod enrich;
pub mod http;
pub mod import;
pub mod live;
pub mod lock;
pub mod metrics;
pub mod pipeline;
pub mod quic;
pub mod rows;
pub mod server;
pub mod session;
pub mod sites;

pub use config::Config;
pub use server::{serve, Listeners};
