//! Whole-segment round trips: random batches of every table written and read back, with zone
//! maps, projections, dictionaries and metadata checked against the input.
#![expect(clippy::unwrap_used)]

mod segment_common;

use std::sync::Arc;

use ecomdash_storage::{
    write_segment, write_segment_with, ColumnBatch, ColumnType, ColumnVec, Segment, SegmentError,
    SortOrder, Table, WriteOptions,
};
use proptest::prelude::*;
use segment_common::{
    arb_batch, cell, expected_zone, rows, same_zone, scratch_dir, sessionize, sorted_rows,
    zone_cells, Cell,
};

fn check_segment(
    table: Table,
    batch: &ColumnBatch,
    chunk_rows: usize,
    sort: SortOrder,
) -> Result<(), TestCaseError> {
    let dir = scratch_dir();
    let options = WriteOptions {
        chunk_rows,
        zstd_level: 1,
        sort,
    };
    let meta = write_segment_with(
        dir.path(),
        "s.seg",
        table,
        "shop.example",
        20_454,
        batch,
        &options,
    )
    .unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    prop_assert_eq!(names, vec![std::ffi::OsString::from("s.seg")]);
    let segment = Segment::open(&dir.path().join("s.seg")).unwrap();
    prop_assert_eq!(segment.meta(), &meta);
    prop_assert_eq!(meta.row_count, batch.row_count as u64);
    prop_assert_eq!(
        meta.file_bytes,
        std::fs::metadata(segment.path()).unwrap().len()
    );
    let ts = &batch.columns[table.schema().time_column];
    let ts_values: Vec<i64> = (0..batch.row_count)
        .filter_map(|r| match cell(ts, r) {
            Cell::Int(v) => Some(v),
            _ => None,
        })
        .collect();
    prop_assert_eq!(meta.min_ts, ts_values.iter().copied().min().unwrap_or(0));
    prop_assert_eq!(meta.max_ts, ts_values.iter().copied().max().unwrap_or(0));

    let all = segment.read_all().unwrap();
    prop_assert_eq!(&all.column_indexes, &batch.column_indexes);
    if sort == SortOrder::AsGiven {
        prop_assert_eq!(rows(&all), rows(batch));
    } else {
        prop_assert_eq!(sorted_rows(&all), sorted_rows(batch));
    }

    // Chunk reads, projections and zones, against the stored order.
    let schema = table.schema();
    let projection: Vec<usize> = (0..schema.len()).filter(|c| c % 3 != 1).rev().collect();
    let mut start = 0;
    prop_assert_eq!(segment.chunk_count(), batch.row_count.div_ceil(chunk_rows));
    for chunk in 0..segment.chunk_count() {
        let n = segment.chunk_rows(chunk);
        prop_assert!(n > 0 && n <= chunk_rows);
        let part = segment.read_chunk(chunk, &projection).unwrap();
        prop_assert_eq!(&part.column_indexes, &projection);
        prop_assert_eq!(part.row_count, n);
        for (col_pos, &column) in projection.iter().enumerate() {
            for r in 0..n {
                prop_assert_eq!(
                    cell(&part.columns[col_pos], r),
                    cell(&all.columns[column], start + r)
                );
            }
            if let ColumnVec::Str { dict, .. } = &part.columns[col_pos] {
                prop_assert!(Arc::ptr_eq(dict, &segment.dictionary(column).unwrap()));
            }
        }
        for column in 0..schema.len() {
            let expected = expected_zone(&all.columns[column], start..start + n);
            let found = zone_cells(&segment, chunk, column);
            prop_assert!(
                same_zone(found.clone(), expected.clone()),
                "zone of chunk {} column {}: {:?} != {:?}",
                chunk,
                column,
                found,
                expected
            );
            prop_assert!(segment.compressed_bytes(chunk, column) > 0);
        }
        start += n;
    }
    prop_assert_eq!(start, batch.row_count);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn event_segments_round_trip(batch in arb_batch(Table::Events, 0..120), chunk_rows in 1usize..70) {
        check_segment(Table::Events, &batch, chunk_rows, SortOrder::AsGiven)?;
    }

    #[test]
    fn session_segments_round_trip(batch in arb_batch(Table::Sessions, 0..200), chunk_rows in 1usize..300) {
        check_segment(Table::Sessions, &batch, chunk_rows, SortOrder::Time)?;
    }

    /// Session-structured rows sorted by session: exercises the group-runs encoding.
    #[test]
    fn sessionized_event_segments_round_trip(batch in arb_batch(Table::Events, 1..150), chunk_rows in 1usize..100) {
        let group = Table::Events.schema().index_of("session_id").unwrap();
        let batch = sessionize(batch, group);
        check_segment(Table::Events, &batch, chunk_rows, SortOrder::default_for(Table::Events))?;
    }

    /// Grouping by any column stores readable segments with the same rows. The float column is
    /// made to follow the sessions, so a writer that used it for group runs would be caught.
    #[test]
    fn any_group_column_keeps_every_row(batch in arb_batch(Table::Events, 1..60), group in 0usize..44) {
        let schema = Table::Events.schema();
        let session = schema.index_of("session_id").unwrap();
        let mut batch = sessionize(batch, session);
        let lcp = schema.index_of("lcp").unwrap();
        let session_codes: Vec<Option<f64>> = (0..batch.row_count)
            .map(|r| match &batch.columns[session] {
                ColumnVec::Str { codes, .. } if !batch.columns[session].is_null(r) => Some(f64::from(codes[r])),
                _ => None,
            })
            .collect();
        batch.columns[lcp] = ColumnVec::Float {
            values: session_codes.iter().map(|c| c.unwrap_or(0.0)).collect(),
            validity: Some(session_codes.iter().map(Option::is_some).collect()),
        };
        let group = if group % 2 == 0 { lcp } else { group };
        check_segment(Table::Events, &batch, 16, SortOrder::GroupThenTime { group })?;
    }

    #[test]
    fn default_order_keeps_every_row(batch in arb_batch(Table::Events, 0..150)) {
        let dir = scratch_dir();
        write_segment(dir.path(), "e.seg", Table::Events, "s", 1, &batch).unwrap();
        let segment = Segment::open(&dir.path().join("e.seg")).unwrap();
        prop_assert_eq!(sorted_rows(&segment.read_all().unwrap()), sorted_rows(&batch));
    }
}

#[test]
fn session_order_groups_rows_and_sorts_by_time() {
    let schema = Table::Events.schema();
    let session = schema.index_of("session_id").unwrap();
    let mut batch = ColumnBatch {
        column_indexes: (0..schema.len()).collect(),
        columns: schema
            .columns
            .iter()
            .map(|c| match c.ty {
                ColumnType::Str => ColumnVec::Str {
                    dict: Arc::new(ecomdash_storage::StrDict::new()),
                    codes: vec![0; 6],
                    validity: Some(vec![false; 6]),
                },
                ColumnType::Float => ColumnVec::Float {
                    values: vec![0.0; 6],
                    validity: None,
                },
                ColumnType::Bool => ColumnVec::Bool {
                    values: vec![false; 6],
                    validity: None,
                },
                _ => ColumnVec::Int {
                    values: vec![0; 6],
                    validity: None,
                },
            })
            .collect(),
        row_count: 6,
    };
    batch.columns[schema.time_column] = ColumnVec::Int {
        values: vec![50, 10, 40, 20, 30, 60],
        validity: None,
    };
    batch.columns[session] = ColumnVec::Str {
        dict: Arc::new(ecomdash_storage::StrDict::from_strs(["b", "a"])),
        codes: vec![0, 1, 0, 0, 1, 1],
        validity: None,
    };
    let dir = scratch_dir();
    write_segment(dir.path(), "e.seg", Table::Events, "s", 1, &batch).unwrap();
    let all = Segment::open(&dir.path().join("e.seg"))
        .unwrap()
        .read_all()
        .unwrap();
    let order: Vec<(Cell, Cell)> = (0..6)
        .map(|r| {
            (
                cell(&all.columns[session], r),
                cell(&all.columns[schema.time_column], r),
            )
        })
        .collect();
    let s = |v: &str| Cell::Str(v.to_owned());
    assert_eq!(
        order,
        [
            (s("a"), Cell::Int(10)),
            (s("a"), Cell::Int(30)),
            (s("a"), Cell::Int(60)),
            (s("b"), Cell::Int(20)),
            (s("b"), Cell::Int(40)),
            (s("b"), Cell::Int(50)),
        ]
    );
}

#[test]
fn invalid_batches_and_indexes_are_rejected() {
    let dir = scratch_dir();
    let empty = ColumnBatch {
        column_indexes: vec![0],
        columns: vec![ColumnVec::Int {
            values: vec![],
            validity: None,
        }],
        row_count: 0,
    };
    let err = write_segment(dir.path(), "x.seg", Table::Events, "s", 1, &empty).unwrap_err();
    assert!(matches!(err, SegmentError::InvalidBatch { .. }), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    let batch = proptest::strategy::ValueTree::current(
        &arb_batch(Table::Sessions, 3..4)
            .new_tree(&mut proptest::test_runner::TestRunner::deterministic())
            .unwrap(),
    );
    let mut bad_code = batch.clone();
    bad_code.columns[0] = ColumnVec::Str {
        dict: Arc::new(ecomdash_storage::StrDict::from_strs(["only"])),
        codes: vec![0, 1, 0],
        validity: None,
    };
    let err = write_segment(dir.path(), "x.seg", Table::Sessions, "s", 1, &bad_code).unwrap_err();
    assert!(err.to_string().contains("outside its dictionary"), "{err}");

    write_segment(dir.path(), "ok.seg", Table::Sessions, "s", 1, &batch).unwrap();
    let segment = Segment::open(&dir.path().join("ok.seg")).unwrap();
    assert!(matches!(
        segment.read_chunk(1, &[0]),
        Err(SegmentError::OutOfRange { what: "chunk", .. })
    ));
    assert!(matches!(
        segment.read_chunk(0, &[99]),
        Err(SegmentError::OutOfRange { what: "column", .. })
    ));
}

#[test]
fn threads_share_one_segment_and_one_dictionary() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Segment>();
    let batch = proptest::strategy::ValueTree::current(
        &arb_batch(Table::Events, 50..51)
            .new_tree(&mut proptest::test_runner::TestRunner::deterministic())
            .unwrap(),
    );
    let dir = scratch_dir();
    let options = WriteOptions {
        chunk_rows: 10,
        ..WriteOptions::for_table(Table::Events)
    };
    write_segment_with(dir.path(), "t.seg", Table::Events, "s", 1, &batch, &options).unwrap();
    let segment = Arc::new(Segment::open(&dir.path().join("t.seg")).unwrap());
    let path = Table::Events.schema().index_of("path").unwrap();
    let dicts: Vec<Arc<ecomdash_storage::StrDict>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let segment = Arc::clone(&segment);
                scope.spawn(move || {
                    let part = segment
                        .read_chunk(t % segment.chunk_count(), &[path])
                        .unwrap();
                    match &part.columns[0] {
                        ColumnVec::Str { dict, .. } => Arc::clone(dict),
                        other => panic!("path is a string column, got {other:?}"),
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for dict in &dicts {
        assert!(Arc::ptr_eq(dict, &dicts[0]));
    }
}
