//! Shared helpers of the segment tests: random batches of any table and a row-level comparison
//! that is independent of row order and of dictionary layout.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use ecomdash_storage::{ColumnBatch, ColumnType, ColumnVec, Segment, StrDict, Table, Value, Zone};
use proptest::prelude::*;

/// Validity from an option vector: `None` when every row is present, sometimes `Some(all true)`
/// anyway so writers must cope with both.
fn validity(present: &[bool], force: bool) -> Option<Vec<bool>> {
    (force || present.iter().any(|p| !p)).then(|| present.to_vec())
}

fn ints() -> BoxedStrategy<i64> {
    prop_oneof![
        any::<i64>(),
        -5i64..5,
        Just(i64::MIN),
        Just(i64::MAX),
        1_767_225_600_000_000i64..1_767_312_000_000_000,
    ]
    .boxed()
}

fn floats() -> BoxedStrategy<f64> {
    prop_oneof![
        any::<f64>(),
        (-100_000i64..100_000).prop_map(|v| v as f64 / 10.0),
        Just(-0.0),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::MIN),
    ]
    .boxed()
}

fn strings() -> BoxedStrategy<String> {
    prop_oneof![
        Just(String::new()),
        "[a-c/]{0,6}",
        "\\PC{0,10}",
        Just("ünïcödé 🚀".to_owned()),
    ]
    .boxed()
}

fn column(ty: ColumnType, n: usize) -> BoxedStrategy<ColumnVec> {
    let present = proptest::collection::vec(prop_oneof![4 => Just(true), 1 => Just(false)], n);
    let all_present = prop_oneof![3 => Just(false), 1 => Just(true)];
    let force = any::<bool>();
    match ty {
        ColumnType::Timestamp | ColumnType::Int => (
            proptest::collection::vec(ints(), n),
            present,
            all_present,
            force,
        )
            .prop_map(|(values, present, all, force)| {
                let present = if all {
                    vec![true; present.len()]
                } else {
                    present
                };
                ColumnVec::Int {
                    validity: validity(&present, force),
                    values,
                }
            })
            .boxed(),
        ColumnType::Float => (proptest::collection::vec(floats(), n), present, force)
            .prop_map(|(values, present, force)| ColumnVec::Float {
                validity: validity(&present, force),
                values,
            })
            .boxed(),
        ColumnType::Bool => (proptest::collection::vec(any::<bool>(), n), present, force)
            .prop_map(|(values, present, force)| ColumnVec::Bool {
                validity: validity(&present, force),
                values,
            })
            .boxed(),
        ColumnType::Str => (
            proptest::collection::vec(strings(), 1..8),
            proptest::collection::vec(any::<prop::sample::Index>(), n),
            present,
            force,
        )
            .prop_map(|(pool, picks, present, force)| {
                // Duplicates and unused entries in the source dictionary, as a memtable may have.
                let mut dict = StrDict::from_strs(pool.iter().map(String::as_str));
                for s in &pool {
                    dict.push(s);
                }
                dict.push("unused entry");
                let codes = picks.iter().map(|i| i.index(dict.len()) as u32).collect();
                ColumnVec::Str {
                    dict: Arc::new(dict),
                    codes,
                    validity: validity(&present, force),
                }
            })
            .boxed(),
    }
}

/// A random batch of `table` with all schema columns and `rows` rows.
pub fn arb_batch(table: Table, rows: std::ops::Range<usize>) -> impl Strategy<Value = ColumnBatch> {
    rows.prop_flat_map(move |n| {
        let columns: Vec<BoxedStrategy<ColumnVec>> = table
            .schema()
            .columns
            .iter()
            .map(|c| column(c.ty, n))
            .collect();
        columns.prop_map(move |columns| ColumnBatch {
            column_indexes: (0..columns.len()).collect(),
            columns,
            row_count: n,
        })
    })
}

/// One cell in comparable form: floats by bits (NaN and -0.0 compare exactly).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cell {
    Null,
    Int(i64),
    Float(u64),
    Bool(bool),
    Str(String),
}

pub fn cell(col: &ColumnVec, row: usize) -> Cell {
    match col.value(row) {
        Value::Null => Cell::Null,
        Value::Int(v) => Cell::Int(v),
        Value::Float(v) => Cell::Float(v.to_bits()),
        Value::Bool(v) => Cell::Bool(v),
        Value::Str(v) => Cell::Str(v.to_owned()),
    }
}

pub fn rows(batch: &ColumnBatch) -> Vec<Vec<Cell>> {
    (0..batch.row_count)
        .map(|r| batch.columns.iter().map(|c| cell(c, r)).collect())
        .collect()
}

pub fn sorted_rows(batch: &ColumnBatch) -> Vec<Vec<Cell>> {
    let mut rows = rows(batch);
    rows.sort();
    rows
}

/// Makes every column with an odd schema index constant within each value of column `group`
/// (as session attributes are within a session): rows copy the value and nullness of the first
/// row with the same group value. Exercises the group-runs encoding.
pub fn sessionize(mut batch: ColumnBatch, group: usize) -> ColumnBatch {
    let key = |b: &ColumnBatch, r: usize| cell(&b.columns[group], r);
    let mut leader = Vec::with_capacity(batch.row_count);
    for r in 0..batch.row_count {
        let first = (0..r)
            .find(|&q| key(&batch, q) == key(&batch, r))
            .unwrap_or(r);
        leader.push(first);
    }
    for (index, col) in batch.columns.iter_mut().enumerate() {
        if index == group || index % 2 == 0 {
            continue;
        }
        fn copy<T: Copy>(values: &mut [T], validity: &mut Option<Vec<bool>>, leader: &[usize]) {
            for (r, &l) in leader.iter().enumerate() {
                values[r] = values[l];
                if let Some(v) = validity.as_mut() {
                    v[r] = v[l];
                }
            }
        }
        match col {
            ColumnVec::Int { values, validity } => copy(values, validity, &leader),
            ColumnVec::Float { values, validity } => copy(values, validity, &leader),
            ColumnVec::Bool { values, validity } => copy(values, validity, &leader),
            ColumnVec::Str {
                codes, validity, ..
            } => copy(codes, validity, &leader),
        }
    }
    batch
}

/// The zone a chunk of `col` over `rows` must have.
pub fn expected_zone(col: &ColumnVec, range: std::ops::Range<usize>) -> Option<(Cell, Cell)> {
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

pub fn zone_cells(segment: &Segment, chunk: usize, column: usize) -> Option<(Cell, Cell)> {
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

pub fn same_zone(found: Option<(Cell, Cell)>, expected: Option<(Cell, Cell)>) -> bool {
    // Float zones may report 0.0 or -0.0 when both occur; they are equal for pruning.
    let norm = |c: Cell| match c {
        Cell::Float(b) if f64::from_bits(b) == 0.0 => Cell::Float(0),
        other => other,
    };
    found.map(|(a, b)| (norm(a), norm(b))) == expected.map(|(a, b)| (norm(a), norm(b)))
}

/// A temporary directory on memory-backed storage when there is some (`/dev/shm`), so the many
/// small files and fsyncs of these tests do not wait on a disk shared with fsync-heavy tests.
pub fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::tempdir_in(shm) {
            return dir;
        }
    }
    tempfile::tempdir().unwrap()
}
