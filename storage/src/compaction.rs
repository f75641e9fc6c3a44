//! Compaction: merges the small segments of a partition into one, off the append path. Readers
//! keep their snapshots (the inputs stay mapped until the last snapshot drops them); appends and
//! flushes continue meanwhile (only the final manifest swap takes a short lock).

use std::collections::BTreeMap;
use std::fs;
use std::sync::Arc;

use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use tracing::{debug, info, warn};

use crate::column::ColumnVec;
use crate::concat::Concat;
use crate::dedup::event_id_column;
use crate::error::StoreError;
use crate::flush::entry_from;
use crate::schema::Table;
use crate::segment::{write_segment, Segment};
use crate::store::{LiveSegment, Shared};
use crate::writer::now_us;

/// Pending compaction requests: one queued "run" is enough, later pokes are dropped.
pub const COMPACT_QUEUE_CAPACITY: usize = 1;
/// Without pokes (no flushes), the compactor still wakes this often, so `event_id` values
/// expire on an idle store too.
const IDLE_RUN_INTERVAL: Duration = Duration::from_secs(60);
/// Row-count ratio between neighbouring size tiers of background compaction.
const TIER_FACTOR: u64 = 4;

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
    /// Segments rewritten without their expired `event_id` values (see
    /// [`crate::StoreConfig::event_id_ttl_ms`]).
    pub event_id_expired_segments: usize,
}

pub(crate) fn run_compactor(shared: Arc<Shared>, rx: Receiver<CompactMsg>) {
    loop {
        match rx.recv_timeout(IDLE_RUN_INTERVAL) {
            Ok(CompactMsg::Run) | Err(RecvTimeoutError::Timeout) => {}
            Ok(CompactMsg::Shutdown) | Err(RecvTimeoutError::Disconnected) => return,
        }
        match compact(&shared, shared.config.compaction_min_segments) {
            Ok(report) if report.partitions > 0 || report.event_id_expired_segments > 0 => {
                debug!(?report, "background compaction")
            }
            Ok(_) => {}
            Err(error) => warn!(%error, "background compaction failed"),
        }
    }
}

/// Merges, in every partition with at least `min_segments` small segments of one size tier,
/// the oldest of them (up to `compaction_max_rows` rows) into one; with `min_segments <= 2`
/// ([`crate::Store::compact`]) the oldest small segments of any size. Then drops expired
/// `event_id` values from the segments that still hold them.
pub(crate) fn compact(
    shared: &Shared,
    min_segments: usize,
) -> Result<CompactionReport, StoreError> {
    let _maintenance = shared.maintenance.lock();
    let mut report = merge(shared, min_segments)?;
    report.event_id_expired_segments = crate::ttl::expire_event_ids(shared, now_us())?;
    Ok(report)
}

/// The merge part of [`compact`]; the caller holds the maintenance lock.
fn merge(shared: &Shared, min_segments: usize) -> Result<CompactionReport, StoreError> {
    let max_rows = shared.config.compaction_max_rows;
    // A segment with at least this many rows is done: it is never pulled into a merge again,
    // so a merged segment is not rewritten with every new small one (work and memory grew with
    // the partition's total rows before).
    let done_rows = (max_rows / 2).max(2);
    let small = shared.config.compaction_small_segment_bytes;
    let mut groups: BTreeMap<(Table, String, i32), Vec<Arc<LiveSegment>>> = BTreeMap::new();
    for seg in shared.state.lock().segments.iter() {
        if seg.entry.file_bytes < small && seg.entry.row_count < done_rows {
            groups
                .entry((seg.table, seg.entry.site.clone(), seg.entry.day))
                .or_default()
                .push(seg.clone());
        }
    }
    let mut report = CompactionReport::default();
    for ((table, site, day), mut group) in groups {
        group.sort_by(|a, b| a.entry.file.cmp(&b.entry.file));
        if min_segments > 2 {
            group = lowest_full_tier(group, min_segments);
        }
        if group.len() < min_segments.max(2) {
            continue;
        }
        let mut rows = 0;
        let mut inputs = Vec::new();
        for seg in group {
            if inputs.len() >= 2 && rows + seg.entry.row_count > max_rows {
                break;
            }
            rows += seg.entry.row_count;
            inputs.push(seg);
        }
        if inputs.len() < 2 {
            continue;
        }
        // One decoded input at a time: each is dropped once appended to the merged batch.
        let mut merging = Concat::with_rows(usize::try_from(rows).unwrap_or(0));
        for seg in &inputs {
            merging.push(&seg.segment.read_all()?);
        }
        let merged = merging.finish();
        let Some(mut merged) = merged else {
            continue;
        };
        let created_us = inputs.iter().map(|s| s.entry.created_us).max().unwrap_or(0);
        if table == Table::Events
            && crate::ttl::event_id_cutoff(shared, now_us()).is_some_and(|c| created_us < c)
        {
            // Every input's event ids expired: the output is written without them.
            if let Some(id_col) = event_id_column(table.schema()) {
                merged.columns[id_col] = all_null_str(merged.row_count);
            }
        }
        let name = shared.alloc_segment_name();
        let path = shared.segment_path(&name);
        let meta = write_segment(&shared.segments_dir, &name, table, &site, day, &merged)?;
        let output = match Segment::open(&path) {
            Ok(segment) => Arc::new(LiveSegment {
                entry: entry_from(&name, &meta, created_us),
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

/// Size tier of a segment: segments within a factor of [`TIER_FACTOR`] in rows share a tier.
fn tier(rows: u64) -> u32 {
    rows.max(1).ilog(TIER_FACTOR)
}

/// The segments (oldest first) of the lowest size tier that has at least `min_segments` of them,
/// or none. Background merges take one tier at a time (size-tiered compaction): a row is then
/// rewritten about once per tier on its way to a final segment, instead of with every merge of
/// a growing segment and the newest small ones (at 1,000-row flushes that was up to hundreds
/// of rewrites per row before a partition's segment reached its final size).
fn lowest_full_tier(group: Vec<Arc<LiveSegment>>, min_segments: usize) -> Vec<Arc<LiveSegment>> {
    let mut tiers: BTreeMap<u32, Vec<Arc<LiveSegment>>> = BTreeMap::new();
    for seg in group {
        tiers
            .entry(tier(seg.entry.row_count))
            .or_default()
            .push(seg);
    }
    tiers
        .into_values()
        .find(|segments| segments.len() >= min_segments)
        .unwrap_or_default()
}

fn all_null_str(rows: usize) -> ColumnVec {
    ColumnVec::Str {
        dict: Arc::new(crate::column::StrDict::new()),
        codes: vec![0; rows],
        validity: (rows > 0).then(|| vec![false; rows]),
    }
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

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use super::*;
    use crate::row::{RowBuf, Value};
    use crate::{Durability, Store, StoreConfig};

    fn events(first: usize, n: usize) -> RowBuf {
        let schema = Table::Events.schema();
        let mut buf = RowBuf::new(Table::Events);
        for i in first..first + n {
            let mut row = vec![Value::Null; schema.len()];
            let id = format!("e{i}");
            row[0] = Value::Int(1_767_225_600_000_000 + i as i64 * 1_000_000);
            row[1] = Value::Str("a.com");
            row[4] = Value::Str(&id);
            buf.push_row(&row).unwrap();
        }
        buf
    }

    #[test]
    fn background_merges_are_tiered_so_each_row_is_rewritten_a_few_times() {
        const FLUSHES: usize = 64;
        const ROWS: usize = 50;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            dir.path(),
            StoreConfig {
                durability: Durability::None,
                dedup_window_ms: 0,
                // The compactor thread stays idle; the test runs its merges after each flush.
                compaction_min_segments: 1_000,
                ..StoreConfig::default()
            },
        )
        .unwrap();
        let mut rewritten = 0;
        for flush in 0..FLUSHES {
            store.append(events(flush * ROWS, ROWS)).wait().unwrap();
            store.flush().unwrap();
            loop {
                let report = compact(store.shared(), 4).unwrap();
                if report.partitions == 0 {
                    break;
                }
                rewritten += report.rows;
            }
        }
        let total = (FLUSHES * ROWS) as u64;
        let stats = store.stats();
        assert_eq!(stats.segment_rows, total);
        // 64 flushes = 4^3: three tiers of merges, so every row is rewritten three times.
        // Merging the oldest small segments whatever their size rewrote the growing segment
        // with every fourth flush: ~FLUSHES/2 times per row.
        assert_eq!(rewritten, 3 * total, "{stats:?}");
        assert_eq!(stats.segment_count, 1);
    }
}
