//! Where batches come from: the executor asks a [`BatchSource`] to plan a scan and reads the
//! resulting units, possibly on several threads. The store's snapshot implements it through a
//! thin adapter; tests and subqueries use [`MemorySource`].

use std::sync::Arc;

use ecomdash_storage::{ColumnBatch, ColumnVec, StrDict, Table};

use crate::error::QueryError;

/// What the engine needs from one table scan. Ranges are hints for pruning: a unit may still
/// hold rows outside them, and the engine applies every predicate itself.
#[derive(Clone, Debug, PartialEq)]
pub struct ScanSpec {
    pub table: Table,
    /// Schema column indexes to decode (projection pushdown), sorted.
    pub columns: Vec<usize>,
    /// Sites whose partitions may hold matching rows.
    pub sites: Option<Vec<String>>,
    /// Inclusive microsecond bounds on the table's time column.
    pub time_range: Option<(i64, i64)>,
    /// Inclusive bounds on integer columns: (schema index, min, max).
    pub int_ranges: Vec<(usize, i64, i64)>,
}

/// What a unit's storage statistics say about one column of its rows, exactly: the engine
/// decides predicates and constant keys per unit from them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnStats {
    /// Min and max of the non-null values of an integer-like column (ints, timestamps, bools
    /// as 0/1); `None` when every value is null or the range is not known.
    pub int_range: Option<(i64, i64)>,
    /// Min and max code of the non-null values of a string column, as codes of
    /// [`BatchUnit::sorted_dict`]; `None` when every value is null or unknown.
    pub code_range: Option<(u32, u32)>,
    pub null_count: u64,
}

/// One independently readable piece of a scan (a segment chunk or a memtable batch).
pub trait BatchUnit: Send + Sync {
    /// The unit's rows with (at least) the given schema columns; an empty list reads no column
    /// and still yields the row count.
    fn read_columns(&self, columns: &[usize]) -> Result<Arc<ColumnBatch>, QueryError>;
    /// [`BatchUnit::read_columns`] for a reader that looks only at rows `rows` (ascending):
    /// the values at every other row are unspecified, so a source may decode just those rows.
    fn read_columns_at(
        &self,
        columns: &[usize],
        _rows: &[u32],
    ) -> Result<Arc<ColumnBatch>, QueryError> {
        self.read_columns(columns)
    }
    fn row_count(&self) -> usize;
    /// Bytes read from storage to produce `columns` (compressed size for segments).
    fn bytes_of(&self, columns: &[usize]) -> u64;
    /// Statistics of one column of this unit, when the source keeps them.
    fn column_stats(&self, _column: usize) -> Option<ColumnStats> {
        None
    }
    /// The site every row of this unit belongs to, when the source partitions by site.
    fn site(&self) -> Option<&str> {
        None
    }
    /// The dictionary of a string column when it is sorted byte-wise and unique, so a literal's
    /// code can be found by binary search and compared with [`ColumnStats::code_range`].
    fn sorted_dict(&self, _column: usize) -> Option<Arc<StrDict>> {
        None
    }
}

pub struct ScanUnits {
    pub units: Vec<Box<dyn BatchUnit>>,
    pub segments_scanned: u64,
    pub segments_pruned: u64,
}

pub trait BatchSource: Sync {
    fn plan_scan(&self, spec: &ScanSpec) -> Result<ScanUnits, QueryError>;
}

/// Batches held in memory, each with all columns of its table in schema order.
#[derive(Clone, Debug, Default)]
pub struct MemorySource {
    batches: Vec<(Table, Arc<ColumnBatch>)>,
}

impl MemorySource {
    pub fn new() -> MemorySource {
        MemorySource::default()
    }

    pub fn push(&mut self, table: Table, batch: ColumnBatch) {
        self.batches.push((table, Arc::new(batch)));
    }
}

struct MemoryUnit {
    batch: Arc<ColumnBatch>,
    /// The value of the site column when every row has the same one (base-table batches only).
    site: Option<String>,
}

impl MemoryUnit {
    fn new(batch: Arc<ColumnBatch>, table: Option<Table>) -> MemoryUnit {
        let site = table.and_then(|t| uniform_str(batch.column(t.schema().site_column)?));
        MemoryUnit { batch, site }
    }
}

/// The one value of a string column without nulls whose rows all hold it.
fn uniform_str(column: &ColumnVec) -> Option<String> {
    let ColumnVec::Str {
        dict,
        codes,
        validity,
    } = column
    else {
        return None;
    };
    let first = *codes.first()?;
    let uniform = validity.as_ref().is_none_or(|v| v.iter().all(|&ok| ok))
        && codes.iter().all(|&c| dict.get(c) == dict.get(first));
    uniform.then(|| dict.get(first).to_string())
}

impl BatchUnit for MemoryUnit {
    fn read_columns(&self, _columns: &[usize]) -> Result<Arc<ColumnBatch>, QueryError> {
        Ok(Arc::clone(&self.batch))
    }

    fn row_count(&self) -> usize {
        self.batch.row_count
    }

    fn bytes_of(&self, columns: &[usize]) -> u64 {
        columns
            .iter()
            .filter_map(|&c| self.batch.column(c))
            .map(column_bytes)
            .sum()
    }

    /// Computed from the values, so tests exercise the same per-unit decisions as segments.
    fn column_stats(&self, column: usize) -> Option<ColumnStats> {
        let col = self.batch.column(column)?;
        let valid = |r: usize| col.validity().is_none_or(|v| v[r]);
        let null_count = (0..self.batch.row_count).filter(|&r| !valid(r)).count() as u64;
        let mut range: Option<(i64, i64)> = None;
        let mut add = |v: i64| {
            range = Some(range.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))));
        };
        match col {
            ColumnVec::Int { values, .. } => {
                for (r, &v) in values.iter().enumerate() {
                    if valid(r) {
                        add(v);
                    }
                }
            }
            ColumnVec::Bool { values, .. } => {
                for (r, &v) in values.iter().enumerate() {
                    if valid(r) {
                        add(i64::from(v));
                    }
                }
            }
            ColumnVec::Float { .. } => {}
            ColumnVec::Str { codes, .. } => {
                let mut codes_range: Option<(u32, u32)> = None;
                for (r, &c) in codes.iter().enumerate() {
                    if valid(r) {
                        codes_range =
                            Some(codes_range.map_or((c, c), |(lo, hi)| (lo.min(c), hi.max(c))));
                    }
                }
                return Some(ColumnStats {
                    int_range: None,
                    code_range: codes_range,
                    null_count,
                });
            }
        }
        Some(ColumnStats {
            int_range: range,
            code_range: None,
            null_count,
        })
    }

    /// The batch's own dictionary when it happens to be sorted and unique (tests build both
    /// orders), as a segment's always is.
    fn sorted_dict(&self, column: usize) -> Option<Arc<StrDict>> {
        let ColumnVec::Str { dict, .. } = self.batch.column(column)? else {
            return None;
        };
        let sorted = (1..dict.len()).all(|i| dict.get(i as u32 - 1) < dict.get(i as u32));
        sorted.then(|| Arc::clone(dict))
    }

    fn site(&self) -> Option<&str> {
        self.site.as_deref()
    }
}

/// Approximate in-memory bytes of a column vector.
pub(crate) fn column_bytes(c: &ColumnVec) -> u64 {
    let validity = c.validity().map_or(0, <[bool]>::len);
    let values = match c {
        ColumnVec::Int { values, .. } => values.len() * 8,
        ColumnVec::Float { values, .. } => values.len() * 8,
        ColumnVec::Bool { values, .. } => values.len(),
        ColumnVec::Str { codes, .. } => codes.len() * 4,
    };
    (values + validity) as u64
}

impl BatchSource for MemorySource {
    fn plan_scan(&self, spec: &ScanSpec) -> Result<ScanUnits, QueryError> {
        let units: Vec<Box<dyn BatchUnit>> = self
            .batches
            .iter()
            .filter(|(t, _)| *t == spec.table)
            .map(|(t, b)| Box::new(MemoryUnit::new(Arc::clone(b), Some(*t))) as Box<dyn BatchUnit>)
            .collect();
        Ok(ScanUnits {
            units,
            segments_scanned: 0,
            segments_pruned: 0,
        })
    }
}

/// Units over batches already in memory (a subquery's result).
pub(crate) fn memory_units(batches: Vec<ColumnBatch>) -> Vec<Box<dyn BatchUnit>> {
    batches
        .into_iter()
        .map(|b| Box::new(MemoryUnit::new(Arc::new(b), None)) as Box<dyn BatchUnit>)
        .collect()
}
