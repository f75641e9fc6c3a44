//! `ecomdash-storage`: the EcomDash store — a write-ahead log for durability and immutable,
//! zstd-compressed columnar segments, read through mmap, for scans.
//!
//! It is not a query engine (see `ecomdash-query`) and not a network service (see the `ecomdash`
//! daemon): it knows tables, columns and files, never HTTP or SQL.
//!
//! Layout of the crate:
//! - [`schema`]: the `events` and `sessions` column lists, as data;
//! - [`row`]: the row codec used by appends and WAL records;
//! - [`column`]: in-memory column vectors that scans yield.

pub mod column;
pub mod encoding;
mod mmap;
pub mod row;
pub mod schema;
pub mod segment;

pub use column::{ColumnBatch, ColumnVec, StrDict};
pub use row::{RowBuf, RowError, RowReader, Value};
pub use schema::{ColumnDef, ColumnType, Schema, Table};
pub use segment::{
    write_segment, write_segment_with, Segment, SegmentError, SegmentMeta, SortOrder, WriteOptions,
    Zone,
};
