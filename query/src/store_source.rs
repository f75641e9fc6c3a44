//! The store's [`Snapshot`] as a [`BatchSource`]: a thin adapter from the engine's scan
//! description to the storage scan API.

use std::sync::Arc;

use ecomdash_storage::{ColumnBatch, ScanRequest, ScanUnit, Snapshot, StrDict, Zone};

use crate::error::QueryError;
use crate::source::{BatchSource, BatchUnit, ColumnStats, ScanSpec, ScanUnits};

/// Queries one consistent snapshot of the store (segments and memtable).
#[derive(Clone)]
pub struct SnapshotSource {
    snapshot: Snapshot,
}

impl SnapshotSource {
    pub fn new(snapshot: Snapshot) -> SnapshotSource {
        SnapshotSource { snapshot }
    }
}

struct StoreUnit(ScanUnit);

impl BatchUnit for StoreUnit {
    fn read_columns(&self, columns: &[usize]) -> Result<Arc<ColumnBatch>, QueryError> {
        self.0
            .read_columns(columns)
            .map(Arc::new)
            .map_err(|e| QueryError::Storage(e.to_string()))
    }

    fn read_columns_at(
        &self,
        columns: &[usize],
        rows: &[u32],
    ) -> Result<Arc<ColumnBatch>, QueryError> {
        self.0
            .read_columns_at(columns, rows)
            .map(Arc::new)
            .map_err(|e| QueryError::Storage(e.to_string()))
    }

    fn row_count(&self) -> usize {
        self.0.row_count()
    }

    fn bytes_of(&self, columns: &[usize]) -> u64 {
        self.0.bytes_of(columns)
    }

    fn column_stats(&self, column: usize) -> Option<ColumnStats> {
        let stats = self.0.column_stats(column)?;
        let (int_range, code_range) = match stats.zone {
            Some(Zone::Int { min, max }) => (Some((min, max)), None),
            Some(Zone::Bool { min, max }) => (Some((i64::from(min), i64::from(max))), None),
            Some(Zone::Str { min_code, max_code }) => (None, Some((min_code, max_code))),
            _ => (None, None),
        };
        Some(ColumnStats {
            int_range,
            code_range,
            null_count: stats.null_count,
        })
    }

    fn sorted_dict(&self, column: usize) -> Option<Arc<StrDict>> {
        // A dictionary that fails to decode is reported by the read that needs it.
        self.0.sorted_dictionary(column).ok().flatten()
    }

    fn site(&self) -> Option<&str> {
        Some(self.0.site())
    }
}

impl BatchSource for SnapshotSource {
    fn plan_scan(&self, spec: &ScanSpec) -> Result<ScanUnits, QueryError> {
        let request = ScanRequest {
            table: spec.table,
            columns: spec.columns.clone(),
            sites: spec.sites.clone(),
            time_range: spec.time_range,
            int_ranges: spec.int_ranges.clone(),
        };
        let plan = self.snapshot.plan_scan(&request);
        Ok(ScanUnits {
            units: plan
                .units
                .into_iter()
                .map(|u| Box::new(StoreUnit(u)) as Box<dyn BatchUnit>)
                .collect(),
            segments_scanned: plan.segments_scanned as u64,
            segments_pruned: plan.segments_pruned as u64,
        })
    }
}
