//! Test data: batches built from rows given as (column name, value) pairs.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use ecomdash_storage::{ColumnBatch, ColumnType, ColumnVec, StrDict, Table};

#[derive(Clone, Debug, PartialEq)]
pub enum V {
    Null,
    I(i64),
    F(f64),
    B(bool),
    S(String),
}

pub fn s(x: &str) -> V {
    V::S(x.to_string())
}

/// A row of one table: values by column name; absent columns are null.
pub type Row = HashMap<&'static str, V>;

pub fn row(pairs: &[(&'static str, V)]) -> Row {
    pairs.iter().cloned().collect()
}

/// One batch with every column of `table`, strings dictionary-encoded in first-seen order
/// (`reverse_dict` puts the dictionary in reverse order so codes do not follow string order).
pub fn batch(table: Table, rows: &[Row], reverse_dict: bool) -> ColumnBatch {
    batch_with(table, rows, reverse_dict, false)
}

/// [`batch`] with every dictionary sorted byte-wise (as segments store them), when `sorted`.
pub fn batch_with(table: Table, rows: &[Row], reverse_dict: bool, sorted: bool) -> ColumnBatch {
    let schema = table.schema();
    let mut columns = Vec::new();
    for def in schema.columns {
        let vals: Vec<V> = rows
            .iter()
            .map(|r| r.get(def.name).cloned().unwrap_or(V::Null))
            .collect();
        let validity: Vec<bool> = vals.iter().map(|v| *v != V::Null).collect();
        let validity = validity.iter().any(|ok| !ok).then_some(validity);
        let col = match def.ty {
            ColumnType::Int | ColumnType::Timestamp => ColumnVec::Int {
                values: vals
                    .iter()
                    .map(|v| if let V::I(i) = v { *i } else { 0 })
                    .collect(),
                validity,
            },
            ColumnType::Float => ColumnVec::Float {
                values: vals
                    .iter()
                    .map(|v| if let V::F(f) = v { *f } else { 0.0 })
                    .collect(),
                validity,
            },
            ColumnType::Bool => ColumnVec::Bool {
                values: vals.iter().map(|v| matches!(v, V::B(true))).collect(),
                validity,
            },
            ColumnType::Str => {
                let mut distinct: Vec<String> = Vec::new();
                let mut seen: HashMap<&str, ()> = HashMap::new();
                for v in &vals {
                    if let V::S(x) = v {
                        if seen.insert(x.as_str(), ()).is_none() {
                            distinct.push(x.clone());
                        }
                    }
                }
                if reverse_dict {
                    distinct.reverse();
                }
                // An unused entry so dictionaries differ between batches.
                distinct.push("~unused".to_string());
                if sorted {
                    distinct.sort();
                }
                let dict = StrDict::from_strs(distinct.iter().map(String::as_str));
                let code_of: HashMap<&str, u32> = distinct
                    .iter()
                    .enumerate()
                    .map(|(i, d)| (d.as_str(), i as u32))
                    .collect();
                let codes = vals
                    .iter()
                    .map(|v| match v {
                        V::S(x) => code_of[x.as_str()],
                        _ => 0,
                    })
                    .collect();
                ColumnVec::Str {
                    dict: Arc::new(dict),
                    codes,
                    validity,
                }
            }
        };
        columns.push(col);
    }
    ColumnBatch {
        column_indexes: (0..schema.len()).collect(),
        columns,
        row_count: rows.len(),
    }
}
