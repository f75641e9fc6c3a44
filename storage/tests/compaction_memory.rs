//! Compaction's transient memory is bounded by `compaction_max_rows`, not by the partition:
//! a counting global allocator records the peak live heap while a partition of many small
//! segments is compacted, at two partition sizes four times apart.
//!
//! Before `13b0e33` one merge took every small segment of the partition (up to 4M rows) and
//! merged segments were merged again with each new one, so the peak grew with the partition
//! (the store-only probe measured 811 MiB live heap after 1.8M rows). Checked on 2026-11-27 with
//! that logic put back (4M-row merges, no final size, inputs held until encoded): 10.4 MiB peak
//! at 12k rows against 38.4 MiB at 48k rows, and this test failed on the ratio assertion; with
//! the fix both sizes peak at ~5 MiB.
#![expect(clippy::unwrap_used)]

#[path = "../benches/synth.rs"]
mod synth;

use std::alloc::System;

use ecomdash_storage::{Durability, RowBuf, Store, StoreConfig};
use peakmem_alloc::{PeakMemAlloc, PeakMemAllocTrait, INSTRUMENTED_SYSTEM};
use synth::{to_rowbuf, Generator, SynthConfig};

#[global_allocator]
static GLOBAL: &PeakMemAlloc<System> = &INSTRUMENTED_SYSTEM;

const ROWS_PER_SEGMENT: usize = 2_000;
const MAX_ROWS: u64 = 8_000;

struct Measured {
    rows: u64,
    segments_in: usize,
    peak_bytes: usize,
}

/// Builds one partition of `segments` flushed segments of realistic rows, then compacts it
/// until nothing is left to merge and returns the peak heap growth during compaction.
fn compact_partition(segments: usize) -> Measured {
    let mut generator = Generator::new(SynthConfig {
        event_ids: true,
        ..SynthConfig::default()
    });
    let events = generator.day(segments * ROWS_PER_SEGMENT);
    let site = generator.config.site;
    let bufs: Vec<RowBuf> = events
        .chunks(ROWS_PER_SEGMENT)
        .map(|chunk| to_rowbuf(chunk, site, &generator.catalogue))
        .collect();
    drop(events);
    // Memory, not durability, is under test: on tmpfs the many segment and manifest fsyncs are
    // free instead of seconds on a busy disk.
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let store = Store::open(
        dir.path(),
        StoreConfig {
            durability: Durability::None,
            dedup_window_ms: 0,
            event_id_ttl_ms: None,
            memtable_max_age_ms: 3_600_000,
            // Only the explicit compactions below run.
            compaction_min_segments: 100_000,
            compaction_max_rows: MAX_ROWS,
            ..StoreConfig::default()
        },
    )
    .unwrap();
    for buf in bufs {
        store.append(buf).wait().unwrap();
        store.flush().unwrap();
    }
    assert_eq!(store.stats().segment_count, segments);
    GLOBAL.reset_peak_memory();
    let mut measured = Measured {
        rows: 0,
        segments_in: 0,
        peak_bytes: 0,
    };
    loop {
        let report = store.compact().unwrap();
        if report.partitions == 0 {
            break;
        }
        measured.rows += report.rows;
        measured.segments_in += report.segments_in;
    }
    measured.peak_bytes = GLOBAL.get_peak_memory();
    let stats = store.stats();
    assert_eq!(stats.segment_rows, (segments * ROWS_PER_SEGMENT) as u64);
    assert!(stats.segment_count <= segments.div_ceil(2));
    store.close().unwrap();
    measured
}

#[test]
fn compaction_peak_memory_does_not_grow_with_the_partition() {
    let small = compact_partition(6);
    let large = compact_partition(24);
    eprintln!(
        "peak heap during compaction: {} segments in, {} rows merged: {} KiB; {} segments in, {} rows merged: {} KiB",
        small.segments_in,
        small.rows,
        small.peak_bytes >> 10,
        large.segments_in,
        large.rows,
        large.peak_bytes >> 10
    );
    assert!(small.rows >= 4 * ROWS_PER_SEGMENT as u64 && large.rows >= 4 * small.rows);
    // Four times the partition may not cost more than a merge's worth of noise more memory.
    assert!(
        (large.peak_bytes as f64) < 1.5 * small.peak_bytes as f64,
        "peak grew with the partition: {} KiB at {} rows vs {} KiB at {} rows",
        large.peak_bytes >> 10,
        large.rows,
        small.peak_bytes >> 10,
        small.rows
    );
    // And it stays within a fixed budget per row of one merge (decoded inputs, the merged copy
    // and the encoder's buffers are each a few hundred bytes per row).
    let budget = MAX_ROWS as usize * 4096;
    assert!(
        large.peak_bytes < budget,
        "peak {} KiB over budget {} KiB",
        large.peak_bytes >> 10,
        budget >> 10
    );
}
