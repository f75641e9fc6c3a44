//! Column TTL for `event_id`: the idempotency key only serves the dedup window, so once every
//! row of a segment arrived longer ago than [`crate::StoreConfig::event_id_ttl_ms`] allows,
//! the segment is rewritten without it (block copy, see `segment::rewrite`). Settled data then
//! pays nothing for a random per-event key, and queries of `event_id` on it read null.
//!
//! Safety for deduplication: a segment's `created_us` (its flush time, kept through compaction
//! and through this rewrite) is at or after the arrival of each of its rows, and the TTL is never
//! shorter than the dedup window, so a key is dropped only after the window stopped needing it.
//! The dedup rebuild on open reads the `event_id` of segments created within the window only,
//! which this pass has never touched.

use std::fs;
use std::sync::Arc;

use tracing::{info, warn};

use crate::compaction::remove_segment_files;
use crate::dedup::event_id_column;
use crate::error::StoreError;
use crate::flush::entry_from;
use crate::schema::Table;
use crate::segment::{rewrite_with_null_columns, Segment};
use crate::store::{LiveSegment, Shared};

/// Most segments rewritten by one pass (one manifest commit); the next pass takes the rest.
const MAX_SEGMENTS_PER_PASS: usize = 64;

/// The earliest `created_us` whose segments still keep `event_id` at `now_us` (`None`: forever).
pub(crate) fn event_id_cutoff(shared: &Shared, now_us: i64) -> Option<i64> {
    shared
        .config
        .event_id_keep_us()
        .map(|keep| now_us.saturating_sub(keep))
}

/// Rewrites the `events` segments whose `event_id` values expired. The caller holds the
/// maintenance lock. Returns how many segments were rewritten.
pub(crate) fn expire_event_ids(shared: &Shared, now_us: i64) -> Result<usize, StoreError> {
    let Some(cutoff) = event_id_cutoff(shared, now_us) else {
        return Ok(0);
    };
    let schema = Table::Events.schema();
    let Some(id_col) = event_id_column(schema) else {
        return Ok(0);
    };
    let expired: Vec<Arc<LiveSegment>> = shared
        .state
        .lock()
        .segments
        .iter()
        .filter(|s| {
            s.table == Table::Events
                && s.entry.created_us < cutoff
                && !s.segment.column_is_all_null(id_col)
        })
        .take(MAX_SEGMENTS_PER_PASS)
        .cloned()
        .collect();
    if expired.is_empty() {
        return Ok(0);
    }
    let mut replaced = Vec::with_capacity(expired.len());
    let mut outputs = Vec::with_capacity(expired.len());
    for seg in &expired {
        let name = shared.alloc_segment_name();
        let path = shared.segment_path(&name);
        let written =
            rewrite_with_null_columns(&seg.segment, &shared.segments_dir, &name, &[id_col])
                .and_then(|meta| Ok((meta, Segment::open(&path)?)));
        match written {
            Ok((meta, segment)) => {
                outputs.push(Arc::new(LiveSegment {
                    entry: entry_from(&name, &meta, seg.entry.created_us),
                    table: seg.table,
                    segment,
                }));
                replaced.push(seg.clone());
            }
            Err(error) => {
                // A damaged input is left for scrub to quarantine; the others go ahead.
                let _ = fs::remove_file(&path);
                warn!(file = %seg.entry.file, %error, "cannot drop expired event ids");
                if !error.is_corrupt() {
                    cleanup(shared, &outputs);
                    return Err(StoreError::from_segment(error));
                }
            }
        }
    }
    if replaced.is_empty() {
        return Ok(0);
    }
    let (gone, added) = (replaced.clone(), outputs.clone());
    let committed = shared.commit(
        |_, segments| {
            for (old, new) in gone.iter().zip(added) {
                if let Some(slot) = segments.iter_mut().find(|s| Arc::ptr_eq(s, old)) {
                    *slot = new;
                }
            }
        },
        |_| {},
    );
    if let Err(error) = committed {
        cleanup(shared, &outputs);
        return Err(error);
    }
    remove_segment_files(shared, &replaced);
    let bytes_before: u64 = replaced.iter().map(|s| s.entry.file_bytes).sum();
    let bytes_after: u64 = outputs.iter().map(|s| s.entry.file_bytes).sum();
    info!(
        segments = replaced.len(),
        bytes_before, bytes_after, "expired event ids dropped from segments"
    );
    Ok(replaced.len())
}

fn cleanup(shared: &Shared, outputs: &[Arc<LiveSegment>]) {
    for seg in outputs {
        let _ = fs::remove_file(shared.segment_path(&seg.entry.file));
    }
}
