//! Whole-segment round trips: random batches of every table written and read back, with zone
//! maps, projections, dictionaries and metadata checked against the input.
#![expect(clippy::unwrap_used)]

mod segment_common;

use std::sync::Arc;

use ecomdash_storage::{
    write_segment, write_segment_with, ColumnBatch, ColumnType, ColumnVec, Segment, SegmentError,
    SortOrder, Table, WriteOptions, Zone,
};
use proptest::prelude::*;
use segment_common::{arb_batch, cell, rows, sessionize, sorted_rows, Cell};

/// The zone a chunk of `col` over `rows` must have.
fn expected_zone(col: &ColumnVec, range: std::ops::Range<usize>) -> Option<(Cell, Cell)> {
    let cells: Vec<Cell> = range
        .map(|r| cell(col, r))
        .filter(|c| *c != Cell::Null)
        .collect();
    if cells.is_empty() {
        return None;
    }
    if let Cell::Float(_) = cells[0] {
        let floats: Vec<f64> = cells
            .iter()
            .map(|c| match c {
                Cell::Float(b) => f64::from_bits(*b),
                _ => unreachable!(),
            })
            .filter(|f| !f.is_nan())
            .collect();
        if floats.is_empty() {
            return Some((
                Cell::Float(f64::NAN.to_bits()),
                Cell::Float(f64::NAN.to_bits()),
            ));
        }
        let min = floats.iter().copied().fold(f64::INFINITY, f64::min);
        let max = floats.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        return Some((Cell::Float(min.to_bits()), Cell::Float(max.to_bits())));
    }
    Some((
        cells.iter().min().unwrap().clone(),
        cells.iter().max().unwrap().clone(),
    ))
}

fn zone_cells(segment: &Segment, chunk: usize, column: usize) -> Option<(Cell, Cell)> {
    Some(match segment.zone(chunk, column)? {
        Zone::Int { min, max } => (Cell::Int(min), Cell::Int(max)),
        Zone::Float { min, max } => (Cell::Float(min.to_bits()), Cell::Float(max.to_bits())),
        Zone::Bool { min, max } => (Cell::Bool(min), Cell::Bool(max)),
        Zone::Str { min_code, max_code } => {
            let dict = segment.dictionary(column).unwrap();
            (
                Cell::Str(dict.get(min_code).to_owned()),
                Cell::Str(dict.get(max_code).to_owned()),
            )
        }
    })
}

fn same_zone(found: Option<(Cell, Cell)>, expected: Option<(Cell, Cell)>) -> bool {
    // Float zones may report 0.0 or -0.0 when both occur; they are equal for pruning.
    let norm = |c: Cell| match c {
        Cell::Float(b) if f64::from_bits(b) == 0.0 => Cell::Float(0),
        other => other,
    };
    found.map(|(a, b)| (norm(a), norm(b))) == expected.map(|(a, b)| (norm(a), norm(b)))
}

fn check_segment(
    table: Table,
    batch: &ColumnBatch,
    chunk_rows: usize,
    sort: SortOrder,
) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
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
    #![proptest_config(ProptestConfig::with_cases(24))]

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

    #[test]
    fn default_order_keeps_every_row(batch in arb_batch(Table::Events, 0..150)) {
        let dir = tempfile::tempdir().unwrap();
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
    let dir = tempfile::tempdir().unwrap();
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
    let dir = tempfile::tempdir().unwrap();
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
