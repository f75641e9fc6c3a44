//! A fixed write-path workload for instruction counts (callgrind) and quick timings: appends
//! synthetic `events` rows (every one with a random `event_id`, so dedup hashing is included)
//! through the store's writer thread, flushes to segments and compacts, single appender, no
//! fsync, so the figures are the store's CPU work per row and independent of disk and load.
//!
//! ```sh
//! cargo build --release -p ecomdash-storage --example write_path
//! valgrind --tool=callgrind --callgrind-out-file=cg.out target/release/examples/write_path 100000
//! callgrind_annotate --inclusive=yes cg.out | grep -E 'run_writer|run_flusher|compaction::compact'
//! ```
//!
//! A second argument `no-ids` generates rows without `event_id` (a tracker that sends none), so
//! deduplication has nothing to do.
//!
//! Rows are generated before the store opens; the store threads' entry points
//! (`writer::run_writer`, `flush::run_flusher`, `compaction::compact`) carry the store's cost.

#[path = "../benches/synth.rs"]
mod synth;

use std::time::Instant;

use ecomdash_storage::{Durability, RowBuf, Store, StoreConfig};
use synth::{to_rowbuf, Generator, SynthConfig};

const ROWS_PER_APPEND: usize = 100;

fn main() {
    let rows: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let event_ids = std::env::args().nth(2).as_deref() != Some("no-ids");
    let mut generator = Generator::new(SynthConfig {
        event_ids,
        ..SynthConfig::default()
    });
    let events = generator.day(rows);
    let site = generator.config.site;
    let bufs: Vec<RowBuf> = events
        .chunks(ROWS_PER_APPEND)
        .map(|chunk| to_rowbuf(chunk, site, &generator.catalogue))
        .collect();
    drop(events);

    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(
        dir.path(),
        StoreConfig {
            durability: Durability::None,
            // Several flushes per run, never one by age; compaction only when asked (below),
            // so the work done is the same in every run.
            memtable_max_bytes: 16 << 20,
            memtable_max_age_ms: 3_600_000,
            compaction_min_segments: 1_000,
            ..StoreConfig::default()
        },
    )
    .expect("open store");
    let started = Instant::now();
    for buf in bufs {
        store.append(buf).wait().expect("append");
    }
    let appended = started.elapsed();
    store.flush().expect("flush");
    let flushed = started.elapsed();
    let mut merges = 0;
    loop {
        let report = store.compact().expect("compact");
        if report.partitions == 0 {
            break;
        }
        merges += report.segments_in;
    }
    let compacted = started.elapsed();
    let stats = store.stats();
    println!(
        "rows {} deduplicated {} segments {} ({} merged) bytes {} | append {:?} flush {:?} compact {:?}",
        stats.rows_written,
        stats.rows_deduplicated,
        stats.segment_count,
        merges,
        stats.segment_bytes,
        appended,
        flushed - appended,
        compacted - flushed
    );
    store.close().expect("close");
}
