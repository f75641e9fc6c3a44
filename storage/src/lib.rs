//! `ecomdash-storage`: the EcomDash store — a write-ahead log for durability and immutable,
//! zstd-compressed columnar segments, read through mmap, for scans.
//!
//! It is not a query engine (see `ecomdash-query`) and not a network service (see the `ecomdash`
//! daemon): it knows tables, columns and files, never HTTP or SQL.
//!
//! Layout of the crate:
//! - [`schema`]: the `events` and `sessions` column lists, as data;
//! - [`row`]: the row codec used by appends and WAL records;
//! - [`column`]: in-memory column vectors that scans yield;
//! - [`Store`] (`store.rs`, `writer.rs`, `flush.rs`, `recovery.rs`): open/append/flush/close,
//!   the WAL writer thread with group commit, the applier thread (memtable inserts, then acks),
//!   the flusher thread and recovery;
//! - [`wal`], [`manifest`]: the write-ahead log and the manifest (docs/format-wal-manifest.md);
//! - `memtable.rs`, `dedup.rs`: rows not yet in segments and the idempotency window;
//! - [`Snapshot`] (`snapshot.rs`): consistent views and the scan API;
//! - `compaction.rs`, `ttl.rs`, `retention.rs`, `scrub.rs`: segment merging, the `event_id`
//!   column TTL, retention, erasure and checksum scrubbing;
//! - [`failpoints`]: fault injection behind the `failpoints` feature.

mod batch;
pub mod column;
mod compaction;
mod concat;
mod config;
mod dedup;
pub mod encoding;
mod error;
pub mod failpoints;
mod flush;
pub mod manifest;
mod memtable;
mod mmap;
mod recovery;
mod retention;
pub mod row;
pub mod schema;
mod scrub;
pub mod segment;
mod snapshot;
mod store;
mod ttl;
pub mod wal;
mod writer;

pub use column::{ColumnBatch, ColumnVec, StrDict};
pub use compaction::CompactionReport;
pub use config::{Durability, StoreConfig};
pub use error::{AppendError, ScanError, StoreError};
pub use memtable::{day_of, MICROS_PER_DAY};
pub use retention::{EraseReport, RetentionReport};
pub use row::{RowBuf, RowError, RowReader, Value};
pub use schema::{ColumnDef, ColumnType, Schema, Table};
pub use scrub::ScrubReport;
pub use segment::{
    rewrite_with_null_columns, write_segment, write_segment_with, Segment, SegmentError,
    SegmentMeta, SortOrder, WriteOptions, Zone,
};
pub use snapshot::{ColumnStats, ScanPlan, ScanRequest, ScanUnit, Snapshot};
pub use store::{AppendReceipt, AppendTicket, Store, StoreStats, APPEND_QUEUE_CAPACITY};
