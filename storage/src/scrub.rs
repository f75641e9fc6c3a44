//! Scrubbing: reads every block of every segment and quarantines segments whose checksums fail,
//! so damage found by scans (or by nothing yet) stops being served as errors on every query.

use std::sync::Arc;

use tracing::error;

use crate::error::StoreError;
use crate::recovery::quarantine_file;
use crate::segment::SegmentError;
use crate::store::{LiveSegment, Shared};

/// What [`crate::Store::scrub`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScrubReport {
    pub segments_checked: usize,
    /// Segments that failed a checksum: removed from the manifest and moved to `quarantine/`.
    pub segments_quarantined: usize,
    /// Rows of the quarantined segments, no longer readable.
    pub rows_lost: u64,
}

pub(crate) fn scrub(shared: &Shared) -> Result<ScrubReport, StoreError> {
    let _maintenance = shared.maintenance.lock();
    let segments: Vec<Arc<LiveSegment>> = shared.state.lock().segments.clone();
    let mut report = ScrubReport::default();
    let mut damaged = Vec::new();
    for seg in &segments {
        report.segments_checked += 1;
        let columns: Vec<usize> = (0..seg.table.schema().len()).collect();
        for chunk in 0..seg.segment.chunk_count() {
            match seg.segment.read_chunk(chunk, &columns) {
                Ok(_) => {}
                Err(e @ SegmentError::Corrupt { .. }) => {
                    error!(file = %seg.entry.file, error = %e, "segment failed its checksum");
                    damaged.push((seg.clone(), e.to_string()));
                    break;
                }
                Err(e) => return Err(StoreError::from_segment(e)),
            }
        }
    }
    if damaged.is_empty() {
        return Ok(report);
    }
    let gone: Vec<Arc<LiveSegment>> = damaged.iter().map(|(s, _)| s.clone()).collect();
    shared.commit(
        |_, segs| segs.retain(|s| !gone.iter().any(|g| Arc::ptr_eq(g, s))),
        |_| {},
    )?;
    for (seg, reason) in &damaged {
        quarantine_file(
            &shared.segment_path(&seg.entry.file),
            &shared.dir.join(crate::recovery::QUARANTINE_DIR),
            reason,
        );
        report.segments_quarantined += 1;
        report.rows_lost += seg.entry.row_count;
    }
    Ok(report)
}
