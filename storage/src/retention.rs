//! Retention (drop whole partitions older than N days) and erasure (rewrite a site's segments
//! without the rows of given visitor or user ids).

use std::collections::HashSet;
use std::fs;
use std::sync::Arc;

use tracing::info;

use crate::batch::filter;
use crate::compaction::remove_segment_files;
use crate::error::StoreError;
use crate::flush::entry_from;
use crate::memtable::day_of;
use crate::row::Value;
use crate::segment::{write_segment, Segment};
use crate::store::{LiveSegment, Shared};

/// What [`crate::Store::retain_days`] dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub segments_dropped: usize,
    pub rows_dropped: u64,
    pub bytes_freed: u64,
}

/// What [`crate::Store::erase`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EraseReport {
    /// Segments that held matching rows and were replaced (or deleted when nothing remained).
    pub segments_rewritten: usize,
    pub rows_erased: u64,
}

pub(crate) fn retain_days(
    shared: &Shared,
    days: u32,
    now_us: i64,
) -> Result<RetentionReport, StoreError> {
    let _maintenance = shared.maintenance.lock();
    let cutoff = i64::from(day_of(now_us)) - i64::from(days);
    let victims: Vec<Arc<LiveSegment>> = shared
        .state
        .lock()
        .segments
        .iter()
        .filter(|s| i64::from(s.entry.day) <= cutoff)
        .cloned()
        .collect();
    let mut report = RetentionReport::default();
    if victims.is_empty() {
        return Ok(report);
    }
    let dropped = victims.clone();
    shared.commit(
        |_, segments| segments.retain(|s| !dropped.iter().any(|d| Arc::ptr_eq(d, s))),
        |_| {},
    )?;
    remove_segment_files(shared, &victims);
    report.segments_dropped = victims.len();
    report.rows_dropped = victims.iter().map(|s| s.entry.row_count).sum();
    report.bytes_freed = victims.iter().map(|s| s.entry.file_bytes).sum();
    info!(?report, days, "retention applied");
    Ok(report)
}

pub(crate) fn erase(
    shared: &Shared,
    site: &str,
    visitor_ids: &[&str],
    user_ids: &[&str],
) -> Result<EraseReport, StoreError> {
    let _maintenance = shared.maintenance.lock();
    let visitors: HashSet<&str> = visitor_ids.iter().copied().collect();
    let users: HashSet<&str> = user_ids.iter().copied().collect();
    let candidates: Vec<Arc<LiveSegment>> = shared
        .state
        .lock()
        .segments
        .iter()
        .filter(|s| s.entry.site == site)
        .cloned()
        .collect();
    let mut replaced = Vec::new();
    let mut outputs = Vec::new();
    let mut report = EraseReport::default();
    let result = (|| -> Result<(), StoreError> {
        for seg in &candidates {
            let schema = seg.table.schema();
            let id_columns: Vec<(usize, &HashSet<&str>)> =
                [("visitor_id", &visitors), ("user_id", &users)]
                    .into_iter()
                    .filter_map(|(name, set)| schema.index_of(name).map(|c| (c, set)))
                    .filter(|(_, set)| !set.is_empty())
                    .collect();
            if id_columns.is_empty() {
                continue;
            }
            let all = seg.segment.read_all()?;
            let mut keep = vec![true; all.row_count];
            for (column, set) in &id_columns {
                let Some(values) = all.column(*column) else {
                    continue;
                };
                for (row, k) in keep.iter_mut().enumerate() {
                    if let Value::Str(v) = values.value(row) {
                        if set.contains(v) {
                            *k = false;
                        }
                    }
                }
            }
            let erased = keep.iter().filter(|k| !**k).count() as u64;
            if erased == 0 {
                continue;
            }
            report.rows_erased += erased;
            report.segments_rewritten += 1;
            replaced.push(seg.clone());
            if erased == all.row_count as u64 {
                continue;
            }
            let kept = filter(&all, &keep);
            let name = shared.alloc_segment_name();
            let path = shared.segment_path(&name);
            let meta = write_segment(
                &shared.segments_dir,
                &name,
                seg.table,
                &seg.entry.site,
                seg.entry.day,
                &kept,
            )?;
            let segment = Segment::open(&path)?;
            outputs.push(Arc::new(LiveSegment {
                entry: entry_from(&name, &meta, seg.entry.created_us),
                table: seg.table,
                segment,
            }));
        }
        if replaced.is_empty() {
            return Ok(());
        }
        let (gone, added) = (replaced.clone(), outputs.clone());
        shared.commit(
            |_, segments| {
                segments.retain(|s| !gone.iter().any(|g| Arc::ptr_eq(g, s)));
                segments.extend(added);
            },
            |_| {},
        )
    })();
    if let Err(e) = result {
        for seg in &outputs {
            let _ = fs::remove_file(shared.segment_path(&seg.entry.file));
        }
        return Err(e);
    }
    remove_segment_files(shared, &replaced);
    if report.rows_erased > 0 {
        info!(
            site,
            rows = report.rows_erased,
            segments = report.segments_rewritten,
            "rows erased"
        );
    }
    Ok(report)
}
