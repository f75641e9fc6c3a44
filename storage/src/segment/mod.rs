//! Immutable columnar segment files: one (table, site, UTC day) partition's rows, split into
//! chunks of up to 64Ki rows; per chunk and column one checksummed, zstd-compressed block with
//! a zone map (min/max) in the footer; one sorted string dictionary per `Str` column.
//!
//! [`write_segment`] builds a file atomically (temp name, fsync, rename, fsync directory);
//! [`Segment::open`] maps it read-only and validates the footer; reads decode only the chunks and
//! columns asked for and verify each block's CRC32C first. The byte layout is in
//! `docs/format-segment.md` and [`format`].

mod decode;
mod encode;
pub mod format;
mod reader;
mod rewrite;
mod writer;

use std::io;
use std::path::PathBuf;

use thiserror::Error;

pub use reader::Segment;
pub use rewrite::rewrite_with_null_columns;
pub use writer::{write_segment, write_segment_with, SortOrder, WriteOptions};

use crate::schema::Table;

/// What a segment holds, from its footer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentMeta {
    pub table: Table,
    pub site: String,
    /// Days since the Unix epoch, UTC.
    pub day: i32,
    pub row_count: u64,
    /// Minimum and maximum of the schema's `time_column` in µs over non-null values (0 and 0 if
    /// there are none).
    pub min_ts: i64,
    pub max_ts: i64,
    pub file_bytes: u64,
}

/// Min/max of one column in one chunk over its non-null values.
///
/// `Str` zones are codes into the segment's sorted dictionary ([`Segment::dictionary`]): code
/// order is byte-wise string order, so a literal's position in the dictionary decides pruning.
/// `Float` zones ignore NaN values (min and max are NaN only when every value is NaN).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Zone {
    Int { min: i64, max: i64 },
    Float { min: f64, max: f64 },
    Bool { min: bool, max: bool },
    Str { min_code: u32, max_code: u32 },
}

#[derive(Debug, Error)]
pub enum SegmentError {
    #[error("segment io error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file's bytes are not a valid segment: checksum mismatch, truncation, bad structure.
    #[error("corrupt segment {path} at offset {offset}: {reason}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    /// A well-formed segment of a format version this build does not read.
    #[error("segment {path} has unsupported format version {version}")]
    UnsupportedVersion { path: PathBuf, version: u32 },
    /// The segment's column list conflicts with the table schema (same name, other type).
    #[error("segment {path} column {column} is {found}, schema says {expected}")]
    SchemaMismatch {
        path: PathBuf,
        column: String,
        found: &'static str,
        expected: &'static str,
    },
    /// The batch handed to the writer does not fit the table schema.
    #[error("invalid batch for table {table}: {reason}")]
    InvalidBatch { table: Table, reason: String },
    /// A chunk or column index past the end.
    #[error("{what} index {index} out of range (len {len})")]
    OutOfRange {
        what: &'static str,
        index: usize,
        len: usize,
    },
}

impl SegmentError {
    pub fn is_corrupt(&self) -> bool {
        matches!(self, SegmentError::Corrupt { .. })
    }
}
