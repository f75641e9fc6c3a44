//! The block cache behind `Segment::read_chunk_cached`: cached reads return what uncached
//! reads return, the cache stays within its capacity, and capacity 0 turns it off. One test
//! per process state: the cache is process-wide.
#![expect(clippy::unwrap_used)]

mod segment_common;

use ecomdash_storage::{write_segment_with, Segment, SortOrder, Table, WriteOptions};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use segment_common::{arb_batch, cell, scratch_dir, sessionize};

#[test]
fn cached_reads_equal_uncached_reads_within_the_capacity() {
    let schema = Table::Events.schema();
    let mut runner = TestRunner::deterministic();
    let batch = arb_batch(Table::Events, 400..401)
        .new_tree(&mut runner)
        .unwrap()
        .current();
    let batch = sessionize(batch, schema.index_of("session_id").unwrap());
    let dir = scratch_dir();
    let options = WriteOptions {
        chunk_rows: 64,
        zstd_level: 1,
        sort: SortOrder::default_for(Table::Events),
    };
    write_segment_with(
        dir.path(),
        "s.seg",
        Table::Events,
        "shop.example",
        20_454,
        &batch,
        &options,
    )
    .unwrap();
    let segment = Segment::open(&dir.path().join("s.seg")).unwrap();
    let all: Vec<usize> = (0..schema.len()).collect();
    let check = |segment: &Segment| {
        for chunk in 0..segment.chunk_count() {
            let full = segment.read_chunk(chunk, &all).unwrap();
            let rows: Vec<u32> = (0..full.row_count as u32).step_by(7).collect();
            for _ in 0..2 {
                let cached = segment.read_chunk_cached(chunk, &all, None).unwrap();
                for (got, want) in cached.columns.iter().zip(&full.columns) {
                    for r in 0..full.row_count {
                        assert_eq!(cell(got, r), cell(want, r));
                    }
                }
                let some = segment.read_chunk_cached(chunk, &all, Some(&rows)).unwrap();
                for (got, want) in some.columns.iter().zip(&full.columns) {
                    for &r in &rows {
                        assert_eq!(cell(got, r as usize), cell(want, r as usize));
                    }
                }
            }
        }
    };
    assert_eq!(
        Segment::block_cache_capacity(),
        Segment::DEFAULT_BLOCK_CACHE_BYTES
    );
    check(&segment);
    assert!(
        Segment::block_cache_bytes() > 0,
        "compressed blocks were cached"
    );
    // A small capacity keeps the cache within it; 0 empties it and reads still work.
    Segment::set_block_cache_capacity(4096);
    assert!(Segment::block_cache_bytes() <= 4096);
    check(&segment);
    assert!(Segment::block_cache_bytes() <= 4096);
    Segment::set_block_cache_capacity(0);
    assert_eq!(Segment::block_cache_bytes(), 0);
    check(&segment);
    assert_eq!(Segment::block_cache_bytes(), 0);
}
