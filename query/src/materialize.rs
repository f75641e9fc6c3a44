//! A subquery's rows turned back into column batches, so the outer query runs on the same
//! vectorized path as a table scan.

use std::sync::Arc;

use ecomdash_storage::{ColumnBatch, ColumnVec, StrDict};
use rustc_hash::FxHashMap;

use crate::exec::Materialized;
use crate::types::{DataType, Scalar};

/// Rows per batch built from a subquery result.
const BATCH_ROWS: usize = 8192;

/// The rows of `m` as batches. Columns the outer query does not read (not in `used`) are
/// all null, so their values (a funnel's session ids) are not copied or hashed again.
pub(crate) fn to_batches(m: &Materialized, used: &[usize]) -> Vec<ColumnBatch> {
    m.rows
        .chunks(BATCH_ROWS)
        .map(|chunk| ColumnBatch {
            column_indexes: (0..m.columns.len()).collect(),
            columns: m
                .columns
                .iter()
                .enumerate()
                .map(|(i, (_, ty))| {
                    if used.contains(&i) {
                        column(chunk, i, *ty)
                    } else {
                        null_column(chunk.len(), *ty)
                    }
                })
                .collect(),
            row_count: chunk.len(),
        })
        .collect()
}

fn null_column(n: usize, ty: DataType) -> ColumnVec {
    let validity = Some(vec![false; n]);
    match ty {
        DataType::Float => ColumnVec::Float {
            values: vec![0.0; n],
            validity,
        },
        DataType::Bool => ColumnVec::Bool {
            values: vec![false; n],
            validity,
        },
        DataType::Str => {
            let mut dict = StrDict::new();
            dict.push("");
            ColumnVec::Str {
                dict: Arc::new(dict),
                codes: vec![0; n],
                validity,
            }
        }
        DataType::Int | DataType::Timestamp | DataType::DateTime | DataType::Date => {
            ColumnVec::Int {
                values: vec![0; n],
                validity,
            }
        }
    }
}

fn validity_of(rows: &[Vec<Scalar>], i: usize) -> Option<Vec<bool>> {
    let v: Vec<bool> = rows.iter().map(|r| !r[i].is_null()).collect();
    v.iter().any(|ok| !ok).then_some(v)
}

fn column(rows: &[Vec<Scalar>], i: usize, ty: DataType) -> ColumnVec {
    let validity = validity_of(rows, i);
    match ty {
        DataType::Float => ColumnVec::Float {
            values: rows.iter().map(|r| r[i].as_f64().unwrap_or(0.0)).collect(),
            validity,
        },
        DataType::Bool => ColumnVec::Bool {
            values: rows
                .iter()
                .map(|r| matches!(r[i], Scalar::Bool(true)))
                .collect(),
            validity,
        },
        DataType::Str => {
            let mut dict = StrDict::new();
            let mut codes_of: FxHashMap<Arc<str>, u32> = FxHashMap::default();
            let codes = rows
                .iter()
                .map(|r| match &r[i] {
                    Scalar::Str(s) => *codes_of
                        .entry(Arc::clone(s))
                        .or_insert_with(|| dict.push(s)),
                    _ => 0,
                })
                .collect();
            if dict.is_empty() {
                // Codes of null rows must still index the dictionary.
                dict.push("");
            }
            ColumnVec::Str {
                dict: Arc::new(dict),
                codes,
                validity,
            }
        }
        DataType::Int | DataType::Timestamp | DataType::DateTime | DataType::Date => {
            ColumnVec::Int {
                values: rows
                    .iter()
                    .map(|r| match r[i] {
                        Scalar::Int(v) => v,
                        Scalar::Bool(b) => i64::from(b),
                        _ => 0,
                    })
                    .collect(),
                validity,
            }
        }
    }
}
