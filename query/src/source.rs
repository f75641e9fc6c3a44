//! Where batches come from: the executor asks a [`BatchSource`] to plan a scan and reads the
//! resulting units, possibly on several threads. The store's snapshot implements it through a
//! thin adapter; tests and subqueries use [`MemorySource`].

use std::sync::Arc;

use ecomdash_storage::{ColumnBatch, ColumnVec, Table};

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

/// One independently readable piece of a scan (a segment chunk or a memtable batch).
pub trait BatchUnit: Send + Sync {
    fn read(&self) -> Result<Arc<ColumnBatch>, QueryError>;
    fn row_count(&self) -> usize;
    /// Bytes read from storage to produce the batch (compressed size for segments).
    fn bytes(&self) -> u64;
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
}

impl BatchUnit for MemoryUnit {
    fn read(&self) -> Result<Arc<ColumnBatch>, QueryError> {
        Ok(Arc::clone(&self.batch))
    }

    fn row_count(&self) -> usize {
        self.batch.row_count
    }

    fn bytes(&self) -> u64 {
        self.batch.columns.iter().map(column_bytes).sum()
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
            .map(|(_, b)| {
                Box::new(MemoryUnit {
                    batch: Arc::clone(b),
                }) as Box<dyn BatchUnit>
            })
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
        .map(|b| Box::new(MemoryUnit { batch: Arc::new(b) }) as Box<dyn BatchUnit>)
        .collect()
}
