//! Error types of the store, one enum per operation family.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

use crate::segment::SegmentError;

/// Errors of [`crate::Store`] operations other than appends (open, flush, compaction,
/// retention, erasure, close).
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("invalid store config: {0}")]
    Config(String),
    #[error("io error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("disk full while writing {path}")]
    DiskFull { path: PathBuf },
    #[error("corrupt {path} at offset {offset}: {reason}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("segment error: {0}")]
    Segment(#[from] SegmentError),
    #[error("store is poisoned by a failed fsync and must be reopened")]
    Poisoned,
    #[error("store is closed")]
    Closed,
    #[error("store directory {path} is locked by another process")]
    Locked { path: PathBuf },
}

impl StoreError {
    /// Converts a segment error, turning ENOSPC into [`StoreError::DiskFull`].
    pub(crate) fn from_segment(error: SegmentError) -> StoreError {
        match error {
            SegmentError::Io { path, source } if is_disk_full(&source) => {
                StoreError::DiskFull { path }
            }
            other => StoreError::Segment(other),
        }
    }

    /// Wraps an io error with the path it happened on, turning ENOSPC into [`StoreError::DiskFull`].
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> StoreError {
        let path = path.into();
        if is_disk_full(&source) {
            StoreError::DiskFull { path }
        } else {
            StoreError::Io { path, source }
        }
    }
}

/// Why an append was not acknowledged. Nothing of a failed append is visible to readers, and
/// nothing acknowledged earlier is damaged by the failure.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AppendError {
    /// The WAL write failed with ENOSPC. The partial write was cut off again; appends succeed
    /// once space returns. The daemon answers 507.
    #[error("disk full")]
    DiskFull,
    /// An earlier fsync failed. Whether the kernel dropped dirty pages is unknown, so the store
    /// refuses all further appends until it is reopened (no fsync retry).
    #[error("store is poisoned by a failed fsync")]
    Poisoned,
    /// The append queue is full: the writer thread is behind. Retry later (the daemon answers 503).
    #[error("append queue is full")]
    Overloaded,
    /// The store was closed before the append was written.
    #[error("store is closed")]
    Closed,
    /// The rows cannot be appended or the WAL write failed for another reason.
    #[error("append failed: {0}")]
    Io(String),
}

/// Errors of [`crate::ScanUnit::read`].
#[derive(Debug, Error)]
pub enum ScanError {
    #[error("segment error: {0}")]
    Segment(#[from] SegmentError),
    #[error("column {column} does not exist in table {table}")]
    NoSuchColumn { table: crate::Table, column: usize },
}

pub(crate) fn is_disk_full(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::StorageFull || error.raw_os_error() == Some(28)
}
