//! Snapshots and the scan API.
//!
//! A [`Snapshot`] holds `Arc`s of the segments and memtable batches that were live when it was
//! taken, so flushes, compactions, retention and erasure never disturb a running scan: files a
//! compaction deletes stay readable through their mappings until the last snapshot drops them.
//!
//! [`Snapshot::plan_scan`] turns a [`ScanRequest`] into independent [`ScanUnit`]s (one segment
//! chunk or one memtable batch each) that the query engine reads in parallel. Pruning by site,
//! time range and zone maps is only an optimization: a unit may contain rows outside the
//! requested sites, time range or int ranges, and the query engine filters rows itself.

use std::sync::Arc;

use crate::batch::project;
use crate::column::{ColumnBatch, StrDict};
use crate::error::ScanError;
use crate::memtable::FrozenBatch;
use crate::schema::{ColumnType, Table};
use crate::segment::Zone;
use crate::store::LiveSegment;

/// What a scan needs. All ranges are inclusive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanRequest {
    pub table: Table,
    /// Schema indexes of the columns to decode, in the order the batches should carry them.
    pub columns: Vec<usize>,
    /// Only these sites (`None`: all).
    pub sites: Option<Vec<String>>,
    /// Only rows whose `schema.time_column` is within `[from_us, to_us]`.
    pub time_range: Option<(i64, i64)>,
    /// `(column, min, max)`: only rows whose `Int`/`Timestamp` column is within `[min, max]`
    /// (nulls excluded). Used for zone-map pruning of segment chunks only.
    pub int_ranges: Vec<(usize, i64, i64)>,
}

impl ScanRequest {
    /// All rows of `table`, the given columns.
    pub fn new(table: Table, columns: Vec<usize>) -> ScanRequest {
        ScanRequest {
            table,
            columns,
            sites: None,
            time_range: None,
            int_ranges: Vec::new(),
        }
    }
}

/// A consistent, immutable view of the store.
#[derive(Clone)]
pub struct Snapshot {
    inner: Arc<SnapshotInner>,
}

struct SnapshotInner {
    segments: Vec<Arc<LiveSegment>>,
    memtable: Vec<Arc<FrozenBatch>>,
}

/// The units of a scan and what pruning skipped.
pub struct ScanPlan {
    pub units: Vec<ScanUnit>,
    /// Segments with at least one unit in the plan.
    pub segments_scanned: usize,
    /// Segments of the table skipped entirely (by site, time range or zone maps).
    pub segments_pruned: usize,
    /// Chunks skipped by zone maps in segments that were scanned.
    pub chunks_pruned: usize,
}

enum Source {
    Chunk {
        segment: Arc<LiveSegment>,
        chunk: usize,
    },
    Memtable(Arc<FrozenBatch>),
}

/// A segment chunk's statistics of one column, from the footer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ColumnStats {
    /// Min and max of the non-null values; `None` when every value is null.
    pub zone: Option<Zone>,
    pub null_count: u64,
}

/// One independently readable piece of a scan.
pub struct ScanUnit {
    source: Source,
    columns: Vec<usize>,
}

impl ScanUnit {
    /// Decodes the requested columns. A segment chunk whose checksum fails returns
    /// [`ScanError::Segment`] with a `Corrupt` error, never its bytes.
    pub fn read(&self) -> Result<ColumnBatch, ScanError> {
        self.read_columns(&self.columns)
    }

    /// Decodes only schema columns `columns` of this unit's rows (any subset of the table's
    /// columns, in the order given), so a reader that learns from [`ScanUnit::column_stats`]
    /// that a requested column is not needed for these rows can skip decoding it. An empty
    /// `columns` decodes nothing and returns a batch with the unit's row count.
    pub fn read_columns(&self, columns: &[usize]) -> Result<ColumnBatch, ScanError> {
        self.read_columns_rows(columns, None)
    }

    /// [`ScanUnit::read_columns`] for a reader that looks at rows `rows` (ascending) only:
    /// segment columns whose encoding allows it are decoded at those rows alone and read as
    /// null elsewhere ([`crate::segment::Segment::read_chunk_at`]); memtable batches are
    /// returned whole. Values at other rows are unspecified.
    pub fn read_columns_at(
        &self,
        columns: &[usize],
        rows: &[u32],
    ) -> Result<ColumnBatch, ScanError> {
        self.read_columns_rows(columns, Some(rows))
    }

    fn read_columns_rows(
        &self,
        columns: &[usize],
        rows: Option<&[u32]>,
    ) -> Result<ColumnBatch, ScanError> {
        match &self.source {
            Source::Chunk { segment, chunk } => segment
                .segment
                .read_chunk_cached(*chunk, columns, rows)
                .map_err(|e| {
                    if e.is_corrupt() {
                        tracing::error!(file = %segment.entry.file, chunk, error = %e, "corrupt segment block, run Store::scrub to quarantine it");
                    }
                    ScanError::from(e)
                }),
            Source::Memtable(frozen) => {
                project(&frozen.batch, columns).ok_or_else(|| ScanError::NoSuchColumn {
                    table: frozen.key.table,
                    column: columns
                        .iter()
                        .copied()
                        .find(|&c| c >= frozen.batch.columns.len())
                        .unwrap_or(usize::MAX),
                })
            }
        }
    }

    /// What the segment footer records about schema column `column` of this unit's rows: the
    /// zone (min/max of the non-null values) and the null count. `None` for memtable batches
    /// (no statistics are kept for them) and for a column outside the schema. The statistics
    /// are exact for the chunk, so a reader may decide a predicate from them for every row.
    pub fn column_stats(&self, column: usize) -> Option<ColumnStats> {
        match &self.source {
            Source::Chunk { segment, chunk } => {
                (column < segment.table.schema().len()).then(|| ColumnStats {
                    zone: segment.segment.zone(*chunk, column),
                    null_count: segment.segment.null_count(*chunk, column),
                })
            }
            Source::Memtable(_) => None,
        }
    }

    /// The sorted dictionary (byte-wise ascending, unique; checked when decoded) that schema
    /// `Str` column `column` of this unit's rows indexes, shared by the segment's chunks, so a
    /// reader can look a literal up by binary search and compare its code with the chunk's
    /// [`ColumnStats`] zone before decoding any code. `Ok(None)` for memtable batches (their
    /// dictionaries are in arrival order) and for columns of other types.
    pub fn sorted_dictionary(&self, column: usize) -> Result<Option<Arc<StrDict>>, ScanError> {
        match &self.source {
            Source::Chunk { segment, .. } => {
                let schema = segment.table.schema();
                if column >= schema.len() || schema.column(column).ty != ColumnType::Str {
                    return Ok(None);
                }
                Ok(Some(segment.segment.dictionary(column)?))
            }
            Source::Memtable(_) => Ok(None),
        }
    }

    pub fn row_count(&self) -> usize {
        match &self.source {
            Source::Chunk { segment, chunk } => segment.segment.chunk_rows(*chunk),
            Source::Memtable(frozen) => frozen.batch.row_count,
        }
    }

    /// Bytes this unit reads: stored (compressed) bytes of the requested columns for a segment
    /// chunk, an estimate of the in-memory size for a memtable batch.
    pub fn bytes(&self) -> u64 {
        self.bytes_of(&self.columns)
    }

    /// [`ScanUnit::bytes`] for reading only `columns`.
    pub fn bytes_of(&self, columns: &[usize]) -> u64 {
        match &self.source {
            Source::Chunk { segment, chunk } => {
                let width = segment.table.schema().len();
                columns
                    .iter()
                    .filter(|&&c| c < width)
                    .map(|&c| segment.segment.compressed_bytes(*chunk, c))
                    .sum()
            }
            Source::Memtable(frozen) => {
                let width = frozen.batch.columns.len().max(1);
                (frozen.bytes * columns.len() / width) as u64
            }
        }
    }

    /// Whether the rows are still in the memtable (not yet in a segment).
    pub fn is_memtable(&self) -> bool {
        matches!(self.source, Source::Memtable(_))
    }

    /// The site of the partition this unit belongs to.
    pub fn site(&self) -> &str {
        match &self.source {
            Source::Chunk { segment, .. } => &segment.entry.site,
            Source::Memtable(frozen) => &frozen.key.site,
        }
    }
}

fn overlaps(lo: i64, hi: i64, range: (i64, i64)) -> bool {
    lo <= range.1 && hi >= range.0
}

/// Whether a chunk zone may hold a value within `range`. An all-null chunk (`None`) cannot.
fn zone_may_match(zone: Option<Zone>, range: (i64, i64)) -> bool {
    match zone {
        None => false,
        Some(Zone::Int { min, max }) => overlaps(min, max, range),
        Some(_) => true,
    }
}

impl Snapshot {
    pub(crate) fn new(
        segments: Vec<Arc<LiveSegment>>,
        memtable: Vec<Arc<FrozenBatch>>,
    ) -> Snapshot {
        Snapshot {
            inner: Arc::new(SnapshotInner { segments, memtable }),
        }
    }

    pub fn segment_count(&self) -> usize {
        self.inner.segments.len()
    }

    /// Rows held in memtable batches of this snapshot.
    pub fn memtable_rows(&self) -> usize {
        self.inner.memtable.iter().map(|b| b.batch.row_count).sum()
    }

    pub fn plan_scan(&self, req: &ScanRequest) -> ScanPlan {
        let schema = req.table.schema();
        let site_ok = |site: &str| {
            req.sites
                .as_ref()
                .is_none_or(|sites| sites.iter().any(|s| s == site))
        };
        let mut plan = ScanPlan {
            units: Vec::new(),
            segments_scanned: 0,
            segments_pruned: 0,
            chunks_pruned: 0,
        };
        for seg in self.inner.segments.iter().filter(|s| s.table == req.table) {
            let entry = &seg.entry;
            let in_time = req.time_range.is_none_or(|range| {
                entry.row_count > 0 && overlaps(entry.min_ts, entry.max_ts, range)
            });
            if !site_ok(&entry.site) || !in_time {
                plan.segments_pruned += 1;
                continue;
            }
            let mut chunks_pruned = 0;
            let before = plan.units.len();
            for chunk in 0..seg.segment.chunk_count() {
                let mut keep = req.time_range.is_none_or(|range| {
                    zone_may_match(seg.segment.zone(chunk, schema.time_column), range)
                });
                for &(column, lo, hi) in &req.int_ranges {
                    if keep && column < schema.len() {
                        keep = zone_may_match(seg.segment.zone(chunk, column), (lo, hi));
                    }
                }
                if keep {
                    plan.units.push(ScanUnit {
                        source: Source::Chunk {
                            segment: seg.clone(),
                            chunk,
                        },
                        columns: req.columns.clone(),
                    });
                } else {
                    chunks_pruned += 1;
                }
            }
            if plan.units.len() > before {
                plan.segments_scanned += 1;
                plan.chunks_pruned += chunks_pruned;
            } else {
                plan.segments_pruned += 1;
            }
        }
        for frozen in self
            .inner
            .memtable
            .iter()
            .filter(|b| b.key.table == req.table)
        {
            let in_time = req.time_range.is_none_or(|range| {
                frozen
                    .time_range
                    .is_some_and(|(lo, hi)| overlaps(lo, hi, range))
            });
            if site_ok(&frozen.key.site) && in_time {
                plan.units.push(ScanUnit {
                    source: Source::Memtable(frozen.clone()),
                    columns: req.columns.clone(),
                });
            }
        }
        plan
    }
}
