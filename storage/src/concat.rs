//! Concatenation of column batches (flush: a partition's sealed memtable batches; compaction:
//! decoded input segments). Batches are taken one at a time, so compaction can drop each decoded
//! input before reading the next: the peak is the merged batch plus one input, not every input
//! twice. Numbers and flags are copied slice by slice; strings are re-interned once per distinct
//! source dictionary entry and rows only remap codes, so the cost per row is a copy, not a hash.

use std::sync::Arc;

use hashbrown::HashTable;

use crate::batch::intern;
use crate::column::{ColumnBatch, ColumnVec, StrDict};

/// Accumulates batches that carry the same columns in the same order.
#[derive(Default)]
pub(crate) struct Concat {
    column_indexes: Vec<usize>,
    columns: Vec<Acc>,
    rows: usize,
    /// Rows expected in total, reserved up front so the merged vectors do not grow by doubling.
    expected_rows: usize,
}

enum Acc {
    Int(Vec<i64>, Option<Vec<bool>>),
    Float(Vec<f64>, Option<Vec<bool>>),
    Bool(Vec<bool>, Option<Vec<bool>>),
    Str {
        dict: StrDict,
        index: HashTable<u32>,
        codes: Vec<u32>,
        validity: Option<Vec<bool>>,
    },
}

impl Acc {
    fn new(like: &ColumnVec, rows: usize) -> Acc {
        match like {
            ColumnVec::Int { .. } => Acc::Int(Vec::with_capacity(rows), None),
            ColumnVec::Float { .. } => Acc::Float(Vec::with_capacity(rows), None),
            ColumnVec::Bool { .. } => Acc::Bool(Vec::with_capacity(rows), None),
            ColumnVec::Str { .. } => Acc::Str {
                dict: StrDict::new(),
                index: HashTable::new(),
                codes: Vec::with_capacity(rows),
                validity: None,
            },
        }
    }

    fn validity(&mut self) -> &mut Option<Vec<bool>> {
        match self {
            Acc::Int(_, v) | Acc::Float(_, v) | Acc::Bool(_, v) => v,
            Acc::Str { validity, .. } => validity,
        }
    }

    /// Appends `part`, whose rows follow the first `rows_before` rows (of `reserve` expected).
    fn push(&mut self, part: &ColumnVec, rows_before: usize, reserve: usize) {
        // Validity: materialized on the first null, `true` for rows of parts without nulls.
        match (self.validity(), part.validity()) {
            (Some(acc), Some(v)) => acc.extend_from_slice(v),
            (Some(acc), None) => acc.resize(acc.len() + part.len(), true),
            (none @ None, Some(v)) => {
                let mut acc = Vec::with_capacity(rows_before.max(reserve));
                acc.resize(rows_before, true);
                acc.extend_from_slice(v);
                *none = Some(acc);
            }
            (None, None) => {}
        }
        match (self, part) {
            (Acc::Int(values, _), ColumnVec::Int { values: v, .. }) => values.extend_from_slice(v),
            (Acc::Float(values, _), ColumnVec::Float { values: v, .. }) => {
                values.extend_from_slice(v)
            }
            (Acc::Bool(values, _), ColumnVec::Bool { values: v, .. }) => {
                values.extend_from_slice(v)
            }
            (
                Acc::Str {
                    dict, index, codes, ..
                },
                ColumnVec::Str {
                    dict: source,
                    codes: source_codes,
                    validity: source_validity,
                },
            ) => {
                // Only entries some present row uses are interned (a filtered batch may keep
                // its whole source dictionary).
                let mut remap = vec![u32::MAX; source.len()];
                for (row, &code) in source_codes.iter().enumerate() {
                    if source_validity.as_ref().is_some_and(|v| !v[row]) {
                        codes.push(0);
                        continue;
                    }
                    let Some(slot) = remap.get_mut(code as usize) else {
                        // A code outside its dictionary is a producer bug (decoders and builders
                        // rule it out); keep it invalid, so the segment writer rejects the batch
                        // instead of storing another string.
                        debug_assert!(false, "code {code} outside its dictionary");
                        codes.push(u32::MAX);
                        continue;
                    };
                    if *slot == u32::MAX {
                        *slot = intern(dict, index, source.get(code)).0;
                    }
                    codes.push(*slot);
                }
            }
            // A part of another type (batches of one table never have one): its rows read as
            // null, like a column missing from a segment.
            (acc, part) => {
                let n = part.len();
                match acc {
                    Acc::Int(values, _) => values.resize(values.len() + n, 0),
                    Acc::Float(values, _) => values.resize(values.len() + n, 0.0),
                    Acc::Bool(values, _) => values.resize(values.len() + n, false),
                    Acc::Str { codes, .. } => codes.resize(codes.len() + n, 0),
                }
                let validity = acc
                    .validity()
                    .get_or_insert_with(|| vec![true; rows_before]);
                validity.truncate(rows_before);
                validity.resize(rows_before + n, false);
            }
        }
    }

    fn finish(self) -> ColumnVec {
        match self {
            Acc::Int(values, validity) => ColumnVec::Int { values, validity },
            Acc::Float(values, validity) => ColumnVec::Float { values, validity },
            Acc::Bool(values, validity) => ColumnVec::Bool { values, validity },
            Acc::Str {
                dict,
                codes,
                validity,
                ..
            } => ColumnVec::Str {
                dict: Arc::new(dict),
                codes,
                validity,
            },
        }
    }
}

impl Concat {
    /// An empty concatenation that expects about `rows` rows in total.
    pub(crate) fn with_rows(rows: usize) -> Concat {
        Concat {
            expected_rows: rows,
            ..Concat::default()
        }
    }

    /// Appends the rows of `batch`. Every batch must carry the first one's columns.
    pub(crate) fn push(&mut self, batch: &ColumnBatch) {
        if self.columns.is_empty() {
            self.column_indexes = batch.column_indexes.clone();
            let rows = self.expected_rows;
            self.columns = batch.columns.iter().map(|c| Acc::new(c, rows)).collect();
        }
        debug_assert_eq!(batch.column_indexes, self.column_indexes);
        for (acc, part) in self.columns.iter_mut().zip(&batch.columns) {
            acc.push(part, self.rows, self.expected_rows);
        }
        self.rows += batch.row_count;
    }

    /// The concatenated batch; `None` if nothing was pushed.
    pub(crate) fn finish(self) -> Option<ColumnBatch> {
        if self.columns.is_empty() {
            return None;
        }
        Some(ColumnBatch {
            column_indexes: self.column_indexes,
            columns: self.columns.into_iter().map(Acc::finish).collect(),
            row_count: self.rows,
        })
    }
}

/// All of `batches` end to end; `None` when `batches` is empty.
pub(crate) fn concat(batches: &[&ColumnBatch]) -> Option<ColumnBatch> {
    let mut acc = Concat::with_rows(batches.iter().map(|b| b.row_count).sum());
    for batch in batches {
        acc.push(batch);
    }
    acc.finish()
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use super::*;
    use crate::row::Value;

    fn batch(
        ints: Vec<i64>,
        ints_valid: Option<Vec<bool>>,
        strs: &[&str],
        codes: Vec<u32>,
    ) -> ColumnBatch {
        let rows = codes.len();
        ColumnBatch {
            column_indexes: vec![0, 1],
            columns: vec![
                ColumnVec::Int {
                    values: ints,
                    validity: ints_valid,
                },
                ColumnVec::Str {
                    dict: Arc::new(StrDict::from_strs(strs.iter().copied())),
                    codes,
                    validity: None,
                },
            ],
            row_count: rows,
        }
    }

    #[test]
    fn nulls_of_later_parts_and_dictionaries_merge() {
        let a = batch(vec![1, 2], None, &["x", "unused", "y"], vec![2, 0]);
        let b = batch(
            vec![0, 4, 5],
            Some(vec![false, true, true]),
            &["y", "z"],
            vec![1, 0, 1],
        );
        let mut acc = Concat::default();
        acc.push(&a);
        drop(a);
        acc.push(&b);
        let all = acc.finish().unwrap();
        assert_eq!(all.row_count, 5);
        let ints: Vec<Value<'_>> = (0..5).map(|r| all.columns[0].value(r)).collect();
        assert_eq!(
            ints,
            [
                Value::Int(1),
                Value::Int(2),
                Value::Null,
                Value::Int(4),
                Value::Int(5)
            ]
        );
        let strs: Vec<Value<'_>> = (0..5).map(|r| all.columns[1].value(r)).collect();
        assert_eq!(strs, ["y", "x", "z", "y", "z"].map(Value::Str).to_vec());
        let ColumnVec::Str { dict, .. } = &all.columns[1] else {
            panic!("not a string column")
        };
        assert_eq!(dict.len(), 3, "unused entries are not carried over");
        assert!(Concat::default().finish().is_none());
    }
}
