//! Reads of a few rows of a chunk (`Segment::read_chunk_at`): at the requested rows every column
//! holds what a full read holds, whatever encoding the writer chose (random-access encodings are
//! read in place, the others decoded whole), and a read-in-place column is null elsewhere.
#![expect(clippy::unwrap_used)]

mod segment_common;

use ecomdash_storage::{write_segment_with, Segment, SortOrder, Table, WriteOptions};
use proptest::prelude::*;
use segment_common::{arb_batch, cell, scratch_dir, sessionize};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn rows_read_in_place_equal_a_full_read(
        batch in arb_batch(Table::Events, 1..150),
        chunk_rows in 1usize..80,
        pick in proptest::collection::vec(any::<bool>(), 150),
    ) {
        let schema = Table::Events.schema();
        let batch = sessionize(batch, schema.index_of("session_id").unwrap());
        let dir = scratch_dir();
        let options = WriteOptions {
            chunk_rows,
            zstd_level: 1,
            sort: SortOrder::default_for(Table::Events),
        };
        write_segment_with(dir.path(), "s.seg", Table::Events, "shop.example", 20_454, &batch, &options)
            .unwrap();
        let segment = Segment::open(&dir.path().join("s.seg")).unwrap();
        let all: Vec<usize> = (0..schema.len()).collect();
        for chunk in 0..segment.chunk_count() {
            let n = segment.chunk_rows(chunk);
            let rows: Vec<u32> = (0..n as u32).filter(|&r| pick[r as usize % pick.len()]).collect();
            let full = segment.read_chunk(chunk, &all).unwrap();
            let some = segment.read_chunk_at(chunk, &all, &rows).unwrap();
            prop_assert_eq!(some.row_count, n);
            prop_assert_eq!(&some.column_indexes, &full.column_indexes);
            for (c, (got, want)) in some.columns.iter().zip(&full.columns).enumerate() {
                prop_assert_eq!(got.len(), n);
                for &r in &rows {
                    prop_assert_eq!(cell(got, r as usize), cell(want, r as usize), "column {} row {}", c, r);
                }
            }
            // Rows out of order are read whole; a row past the chunk is an error.
            let reversed: Vec<u32> = rows.iter().rev().copied().collect();
            let some = segment.read_chunk_at(chunk, &all, &reversed).unwrap();
            for (got, want) in some.columns.iter().zip(&full.columns) {
                for &r in &rows {
                    prop_assert_eq!(cell(got, r as usize), cell(want, r as usize));
                }
            }
            prop_assert!(segment.read_chunk_at(chunk, &all, &[n as u32]).is_err());
        }
    }
}
