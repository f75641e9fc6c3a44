//! The store's [`Snapshot`] as a [`BatchSource`]: a thin adapter from the engine's scan
//! description to the storage scan API.

use std::sync::Arc;

use ecomdash_storage::{ColumnBatch, ScanRequest, ScanUnit, Snapshot};

use crate::error::QueryError;
use crate::source::{BatchSource, BatchUnit, ScanSpec, ScanUnits};

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
    fn read(&self) -> Result<Arc<ColumnBatch>, QueryError> {
        self.0
            .read()
            .map(Arc::new)
            .map_err(|e| QueryError::Storage(e.to_string()))
    }

    fn row_count(&self) -> usize {
        self.0.row_count()
    }

    fn bytes(&self) -> u64 {
        self.0.bytes()
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
