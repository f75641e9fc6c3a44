//! Compaction: merges the small segments of a partition into one, off the append path. Readers
//! keep their snapshots (the inputs stay mapped until the last snapshot drops them); appends and
//! flushes continue meanwhile (only the final manifest swap takes a short lock).

use std::collections::BTreeMap;
use std::fs;
use std::sync::Arc;

use crossbeam_channel::Receiver;
use tracing::{debug, info, warn};

use crate::batch::concat;
use crate::error::StoreError;
use crate::flush::entry_from;
use crate::schema::Table;
use crate::segment::{write_segment, Segment};
use crate::store::{LiveSegment, Shared};

/// Pending compaction requests: one queued "run" is enough, later pokes are dropped.
pub const COMPACT_QUEUE_CAPACITY: usize = 1;
/// Most rows merged into one output segment. Inputs are decoded whole in memory while merging
/// (a few hundred bytes per row), so this bounds compaction's transient memory: at 4M rows the
/// peak reached gigabytes and grew with the partition.
pub const COMPACTION_MAX_ROWS: u64 = 500_000;
/// A segment with at least this many rows is done: it is never pulled into a merge again, so a
/// merged segment is not rewritten with every new small one (work and memory grew with the
/// partition's total rows before).
pub const COMPACTION_DONE_ROWS: u64 = COMPACTION_MAX_ROWS / 2;

pub(crate) enum CompactMsg {
    Run,
    Shutdown,
}

/// What a compaction did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Partitions that got a merged segment.
    pub partitions: usize,
    pub segments_in: usize,
    pub segments_out: usize,
    pub rows: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

pub(crate) fn run_compactor(shared: Arc<Shared>, rx: Receiver<CompactMsg>) {
    while let Ok(CompactMsg::Run) = rx.recv() {
        match compact(&shared, shared.config.compaction_min_segments) {
            Ok(report) if report.partitions > 0 => debug!(?report, "background compaction"),
            Ok(_) => {}
            Err(error) => warn!(%error, "background compaction failed"),
        }
    }
}

/// Merges, in every partition with at least `min_segments` small segments, the oldest small
/// segments (up to [`COMPACTION_MAX_ROWS`] rows) into one.
pub(crate) fn compact(
    shared: &Shared,
    min_segments: usize,
) -> Result<CompactionReport, StoreError> {
    let _maintenance = shared.maintenance.lock();
    let small = shared.config.compaction_small_segment_bytes;
    let mut groups: BTreeMap<(Table, String, i32), Vec<Arc<LiveSegment>>> = BTreeMap::new();
    for seg in shared.state.lock().segments.iter() {
        if seg.entry.file_bytes < small && seg.entry.row_count < COMPACTION_DONE_ROWS {
            groups
                .entry((seg.table, seg.entry.site.clone(), seg.entry.day))
                .or_default()
                .push(seg.clone());
        }
    }
    let mut report = CompactionReport::default();
    for ((table, site, day), mut group) in groups {
        if group.len() < min_segments.max(2) {
            continue;
        }
        group.sort_by(|a, b| a.entry.file.cmp(&b.entry.file));
        let mut rows = 0;
        let mut inputs = Vec::new();
        for seg in group {
            if inputs.len() >= 2 && rows + seg.entry.row_count > COMPACTION_MAX_ROWS {
                break;
            }
            rows += seg.entry.row_count;
            inputs.push(seg);
        }
        if inputs.len() < 2 {
            continue;
        }
        let mut batches = Vec::with_capacity(inputs.len());
        for seg in &inputs {
            batches.push(seg.segment.read_all()?);
        }
        let refs: Vec<_> = batches.iter().collect();
        let merged = concat(&refs);
        // the decoded inputs are not needed once concatenated: free them before encoding
        drop(refs);
        drop(batches);
        let Some(merged) = merged else {
            continue;
        };
        let name = shared.alloc_segment_name();
        let path = shared.segment_path(&name);
        let meta = write_segment(&shared.segments_dir, &name, table, &site, day, &merged)?;
        let output = match Segment::open(&path) {
            Ok(segment) => Arc::new(LiveSegment {
                entry: entry_from(
                    &name,
                    &meta,
                    inputs.iter().map(|s| s.entry.created_us).max().unwrap_or(0),
                ),
                table,
                segment,
            }),
            Err(e) => {
                let _ = fs::remove_file(&path);
                return Err(e.into());
            }
        };
        let bytes_out = output.entry.file_bytes;
        let replaced = inputs.clone();
        let added = output.clone();
        let committed = shared.commit(
            |_, segments| {
                segments.retain(|s| !replaced.iter().any(|r| Arc::ptr_eq(r, s)));
                segments.push(added);
            },
            |_| {},
        );
        if let Err(e) = committed {
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        remove_segment_files(shared, &inputs);
        report.partitions += 1;
        report.segments_in += inputs.len();
        report.segments_out += 1;
        report.rows += rows;
        report.bytes_in += inputs.iter().map(|s| s.entry.file_bytes).sum::<u64>();
        report.bytes_out += bytes_out;
    }
    if report.partitions > 0 {
        info!(?report, "compaction done");
    }
    Ok(report)
}

/// Deletes the files of segments no longer in the manifest. Open snapshots keep reading them
/// through their mappings.
pub(crate) fn remove_segment_files(shared: &Shared, segments: &[Arc<LiveSegment>]) {
    for seg in segments {
        let path = shared.segment_path(&seg.entry.file);
        if let Err(error) = fs::remove_file(&path) {
            warn!(file = %path.display(), %error, "cannot delete replaced segment file");
        }
    }
}
