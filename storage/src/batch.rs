//! Column-batch helpers shared by the memtable, flush, compaction and erasure: builders that
//! intern strings, row filtering and projection (concatenation is in `concat.rs`).

use std::hash::Hasher;
use std::sync::Arc;

use hashbrown::HashTable;
use rustc_hash::FxHasher;

use crate::column::{ColumnBatch, ColumnVec, StrDict};
use crate::row::{get_varint, read_f64, read_str_bytes, unzigzag, Value};
use crate::schema::ColumnType;

/// Builds one column, interning strings into a per-builder dictionary.
#[derive(Debug)]
pub(crate) enum ColumnBuilder {
    Int {
        values: Vec<i64>,
        validity: Vec<bool>,
        nulls: usize,
    },
    Float {
        values: Vec<f64>,
        validity: Vec<bool>,
        nulls: usize,
    },
    Bool {
        values: Vec<bool>,
        validity: Vec<bool>,
        nulls: usize,
    },
    Str {
        dict: StrDict,
        /// Codes of `dict`, hashed by their string: a lookup hashes the value once (Fx) and
        /// compares against the dictionary's bytes, so no string is stored twice.
        index: HashTable<u32>,
        codes: Vec<u32>,
        validity: Vec<bool>,
        nulls: usize,
    },
}

impl ColumnBuilder {
    pub(crate) fn new(ty: ColumnType) -> ColumnBuilder {
        match ty {
            ColumnType::Int | ColumnType::Timestamp => ColumnBuilder::Int {
                values: Vec::new(),
                validity: Vec::new(),
                nulls: 0,
            },
            ColumnType::Float => ColumnBuilder::Float {
                values: Vec::new(),
                validity: Vec::new(),
                nulls: 0,
            },
            ColumnType::Bool => ColumnBuilder::Bool {
                values: Vec::new(),
                validity: Vec::new(),
                nulls: 0,
            },
            ColumnType::Str => ColumnBuilder::Str {
                dict: StrDict::new(),
                index: HashTable::new(),
                codes: Vec::new(),
                validity: Vec::new(),
                nulls: 0,
            },
        }
    }

    /// Appends a value; a value of the wrong type (which the row codec rules out) is stored as
    /// null. Returns the approximate heap bytes added.
    pub(crate) fn push(&mut self, value: Value<'_>) -> usize {
        match self {
            ColumnBuilder::Int {
                values,
                validity,
                nulls,
            } => {
                let v = if let Value::Int(v) = value {
                    Some(v)
                } else {
                    None
                };
                push_plain(values, validity, nulls, v) + 8
            }
            ColumnBuilder::Float {
                values,
                validity,
                nulls,
            } => {
                let v = if let Value::Float(v) = value {
                    Some(v)
                } else {
                    None
                };
                push_plain(values, validity, nulls, v) + 8
            }
            ColumnBuilder::Bool {
                values,
                validity,
                nulls,
            } => {
                let v = if let Value::Bool(v) = value {
                    Some(v)
                } else {
                    None
                };
                push_plain(values, validity, nulls, v) + 1
            }
            ColumnBuilder::Str {
                dict,
                index,
                codes,
                validity,
                nulls,
            } => {
                let Value::Str(s) = value else {
                    return push_plain(codes, validity, nulls, None) + 4;
                };
                let (code, added) = match repeated_code(dict, codes, validity, s.as_bytes()) {
                    Some(code) => (code, 0),
                    None => intern(dict, index, s),
                };
                codes.push(code);
                validity.push(true);
                added + 5
            }
        }
    }

    /// Decodes the next value of the row bytes `bytes` at `*pos` (the row codec's form, of this
    /// builder's type) and appends it, moving `*pos` past it: the memtable's insert, without an
    /// intermediate [`Value`]. A string is checked for UTF-8 only when it is new to the
    /// dictionary (equal bytes of a known entry are valid). Returns the approximate heap bytes
    /// added, like [`ColumnBuilder::push`], or why the bytes are malformed (the builder is then
    /// unchanged).
    pub(crate) fn push_encoded(
        &mut self,
        bytes: &[u8],
        pos: &mut usize,
    ) -> Result<usize, &'static str> {
        let tag = *bytes.get(*pos).ok_or("truncated value tag")?;
        *pos += 1;
        if tag == 0 {
            return Ok(self.push_null());
        }
        match self {
            ColumnBuilder::Int {
                values,
                validity,
                nulls,
            } => {
                if tag != 1 {
                    return Err("invalid value tag");
                }
                let v = unzigzag(get_varint(bytes, pos).ok_or("bad varint")?);
                Ok(push_plain(values, validity, nulls, Some(v)) + 8)
            }
            ColumnBuilder::Float {
                values,
                validity,
                nulls,
            } => {
                if tag != 1 {
                    return Err("invalid value tag");
                }
                let v = read_f64(bytes, pos)?;
                Ok(push_plain(values, validity, nulls, Some(v)) + 8)
            }
            ColumnBuilder::Bool {
                values,
                validity,
                nulls,
            } => {
                if tag != 1 && tag != 2 {
                    return Err("invalid value tag");
                }
                Ok(push_plain(values, validity, nulls, Some(tag == 2)) + 1)
            }
            ColumnBuilder::Str {
                dict,
                index,
                codes,
                validity,
                ..
            } => {
                if tag != 1 {
                    return Err("invalid value tag");
                }
                let s = read_str_bytes(bytes, pos)?;
                let (code, added) = match repeated_code(dict, codes, validity, s) {
                    Some(code) => (code, 0),
                    None => intern_bytes(dict, index, s)?,
                };
                codes.push(code);
                validity.push(true);
                Ok(added + 5)
            }
        }
    }

    /// Appends a null (the row codec's tag 0, which [`ColumnBuilder::push_encoded`] also takes):
    /// a short path for the memtable, where most columns of most rows are null. Returns the
    /// approximate heap bytes added, like [`ColumnBuilder::push`].
    #[inline]
    pub(crate) fn push_null(&mut self) -> usize {
        match self {
            ColumnBuilder::Int {
                values,
                validity,
                nulls,
            } => push_plain(values, validity, nulls, None) + 8,
            ColumnBuilder::Float {
                values,
                validity,
                nulls,
            } => push_plain(values, validity, nulls, None) + 8,
            ColumnBuilder::Bool {
                values,
                validity,
                nulls,
            } => push_plain(values, validity, nulls, None) + 1,
            ColumnBuilder::Str {
                codes,
                validity,
                nulls,
                ..
            } => push_plain(codes, validity, nulls, None) + 4,
        }
    }

    /// Room for `additional` more values without growing (a hint, amortized like `Vec::reserve`).
    pub(crate) fn reserve(&mut self, additional: usize) {
        match self {
            ColumnBuilder::Int {
                values, validity, ..
            } => {
                values.reserve(additional);
                validity.reserve(additional);
            }
            ColumnBuilder::Float {
                values, validity, ..
            } => {
                values.reserve(additional);
                validity.reserve(additional);
            }
            ColumnBuilder::Bool {
                values, validity, ..
            } => {
                values.reserve(additional);
                validity.reserve(additional);
            }
            ColumnBuilder::Str {
                codes, validity, ..
            } => {
                codes.reserve(additional);
                validity.reserve(additional);
            }
        }
    }

    /// Drops the values after the first `len` (a row that failed to decode half way). Strings
    /// interned for them stay in the dictionary, unused.
    pub(crate) fn truncate(&mut self, len: usize) {
        fn cut<T>(values: &mut Vec<T>, validity: &mut Vec<bool>, nulls: &mut usize, len: usize) {
            if len < validity.len() {
                *nulls -= validity[len..].iter().filter(|v| !**v).count();
                validity.truncate(len);
                values.truncate(len);
            }
        }
        match self {
            ColumnBuilder::Int {
                values,
                validity,
                nulls,
            } => cut(values, validity, nulls, len),
            ColumnBuilder::Float {
                values,
                validity,
                nulls,
            } => cut(values, validity, nulls, len),
            ColumnBuilder::Bool {
                values,
                validity,
                nulls,
            } => cut(values, validity, nulls, len),
            ColumnBuilder::Str {
                codes,
                validity,
                nulls,
                ..
            } => cut(codes, validity, nulls, len),
        }
    }

    /// A copy of the values so far as a column, leaving the builder as it is.
    pub(crate) fn snapshot(&self) -> ColumnVec {
        fn mask(validity: &[bool], nulls: usize) -> Option<Vec<bool>> {
            (nulls > 0).then(|| validity.to_vec())
        }
        match self {
            ColumnBuilder::Int {
                values,
                validity,
                nulls,
            } => ColumnVec::Int {
                values: values.clone(),
                validity: mask(validity, *nulls),
            },
            ColumnBuilder::Float {
                values,
                validity,
                nulls,
            } => ColumnVec::Float {
                values: values.clone(),
                validity: mask(validity, *nulls),
            },
            ColumnBuilder::Bool {
                values,
                validity,
                nulls,
            } => ColumnVec::Bool {
                values: values.clone(),
                validity: mask(validity, *nulls),
            },
            ColumnBuilder::Str {
                dict,
                codes,
                validity,
                nulls,
                ..
            } => ColumnVec::Str {
                dict: Arc::new(dict.clone()),
                codes: codes.clone(),
                validity: mask(validity, *nulls),
            },
        }
    }

    pub(crate) fn finish(self) -> ColumnVec {
        fn mask(validity: Vec<bool>, nulls: usize) -> Option<Vec<bool>> {
            (nulls > 0).then_some(validity)
        }
        match self {
            ColumnBuilder::Int {
                values,
                validity,
                nulls,
            } => ColumnVec::Int {
                values,
                validity: mask(validity, nulls),
            },
            ColumnBuilder::Float {
                values,
                validity,
                nulls,
            } => ColumnVec::Float {
                values,
                validity: mask(validity, nulls),
            },
            ColumnBuilder::Bool {
                values,
                validity,
                nulls,
            } => ColumnVec::Bool {
                values,
                validity: mask(validity, nulls),
            },
            ColumnBuilder::Str {
                dict,
                codes,
                validity,
                nulls,
                ..
            } => ColumnVec::Str {
                dict: Arc::new(dict),
                codes,
                validity: mask(validity, nulls),
            },
        }
    }
}

/// The hash of a dictionary entry's bytes in the builders' and concatenation's indexes.
fn str_hash(bytes: &[u8]) -> u64 {
    let mut hasher = FxHasher::default();
    hasher.write(bytes);
    hasher.finish()
}

/// The code of `s` in `dict`, pushing it if new; also returns the heap bytes added (the string,
/// its offset and its hash-table slot).
pub(crate) fn intern(dict: &mut StrDict, index: &mut HashTable<u32>, s: &str) -> (u32, usize) {
    let hash = str_hash(s.as_bytes());
    if let Some(&code) = index.find(hash, |&c| same_bytes(dict.bytes_of(c), s.as_bytes())) {
        return (code, 0);
    }
    insert_new(dict, index, hash, s)
}

/// `a == b`, inlined for the short strings most columns hold (a `memcmp` call cost ~50
/// instructions a compare): lengths first, then two overlapping 8- or 4-byte words cover a
/// string of up to 16 bytes.
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=8 => load4(a, 0) == load4(b, 0) && load4(a, n - 4) == load4(b, n - 4),
        9..=16 => load8(a, 0) == load8(b, 0) && load8(a, n - 8) == load8(b, n - 8),
        _ => a == b,
    }
}

#[inline(always)]
fn load8(s: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&s[at..at + 8]);
    u64::from_le_bytes(word)
}

#[inline(always)]
fn load4(s: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&s[at..at + 4]);
    u32::from_le_bytes(word)
}

/// The previous row's code when `s` repeats its value: many columns repeat it row after row
/// (site, hostname, type, device), and one compare is cheaper than a hash lookup.
#[inline]
fn repeated_code(dict: &StrDict, codes: &[u32], validity: &[bool], s: &[u8]) -> Option<u32> {
    match (codes.last(), validity.last()) {
        (Some(&last), Some(true)) if same_bytes(dict.bytes_of(last), s) => Some(last),
        _ => None,
    }
}

/// [`intern`] for bytes that must be UTF-8 if they are new to `dict`.
fn intern_bytes(
    dict: &mut StrDict,
    index: &mut HashTable<u32>,
    bytes: &[u8],
) -> Result<(u32, usize), &'static str> {
    let hash = str_hash(bytes);
    if let Some(&code) = index.find(hash, |&c| same_bytes(dict.bytes_of(c), bytes)) {
        return Ok((code, 0));
    }
    let s = std::str::from_utf8(bytes).map_err(|_| "string is not utf-8")?;
    Ok(insert_new(dict, index, hash, s))
}

fn insert_new(dict: &mut StrDict, index: &mut HashTable<u32>, hash: u64, s: &str) -> (u32, usize) {
    let code = dict.push(s);
    index.insert_unique(hash, code, |&c| str_hash(dict.bytes_of(c)));
    (code, s.len() + 16)
}

fn push_plain<T: Default>(
    values: &mut Vec<T>,
    validity: &mut Vec<bool>,
    nulls: &mut usize,
    value: Option<T>,
) -> usize {
    match value {
        Some(v) => {
            values.push(v);
            validity.push(true);
        }
        None => {
            values.push(T::default());
            validity.push(false);
            *nulls += 1;
        }
    }
    1
}

fn type_of(column: &ColumnVec) -> ColumnType {
    match column {
        ColumnVec::Int { .. } => ColumnType::Int,
        ColumnVec::Float { .. } => ColumnType::Float,
        ColumnVec::Bool { .. } => ColumnType::Bool,
        ColumnVec::Str { .. } => ColumnType::Str,
    }
}

/// The rows of `batch` whose `keep` flag is set.
pub(crate) fn filter(batch: &ColumnBatch, keep: &[bool]) -> ColumnBatch {
    debug_assert_eq!(keep.len(), batch.row_count);
    let mut columns = Vec::with_capacity(batch.columns.len());
    for column in &batch.columns {
        let mut builder = ColumnBuilder::new(type_of(column));
        for (row, _) in keep.iter().enumerate().filter(|(_, k)| **k) {
            builder.push(column.value(row));
        }
        columns.push(builder.finish());
    }
    ColumnBatch {
        column_indexes: batch.column_indexes.clone(),
        columns,
        row_count: keep.iter().filter(|k| **k).count(),
    }
}

/// The columns `schema_indexes` of `batch`, in that order; `None` if one is missing.
pub(crate) fn project(batch: &ColumnBatch, schema_indexes: &[usize]) -> Option<ColumnBatch> {
    let mut columns = Vec::with_capacity(schema_indexes.len());
    for &index in schema_indexes {
        columns.push(batch.column(index)?.clone());
    }
    Some(ColumnBatch {
        column_indexes: schema_indexes.to_vec(),
        columns,
        row_count: batch.row_count,
    })
}

/// Min and max of the non-null values of an `Int` column.
pub(crate) fn int_min_max(column: &ColumnVec) -> Option<(i64, i64)> {
    let ColumnVec::Int { values, validity } = column else {
        return None;
    };
    let mut range: Option<(i64, i64)> = None;
    for (row, &v) in values.iter().enumerate() {
        if validity.as_ref().is_some_and(|m| !m[row]) {
            continue;
        }
        range = Some(match range {
            None => (v, v),
            Some((lo, hi)) => (lo.min(v), hi.max(v)),
        });
    }
    range
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn same_bytes_is_slice_equality() {
        let strings: Vec<Vec<u8>> = (0..=20)
            .flat_map(|len| {
                let base: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                let mut variants = vec![base.clone()];
                for at in 0..len {
                    let mut v = base.clone();
                    v[at] = b'Z';
                    variants.push(v);
                }
                variants
            })
            .collect();
        for a in &strings {
            for b in &strings {
                assert_eq!(same_bytes(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }
    use crate::concat::concat;

    fn str_batch(values: &[Option<&str>]) -> ColumnBatch {
        let mut b = ColumnBuilder::new(ColumnType::Str);
        let mut i = ColumnBuilder::new(ColumnType::Int);
        for (n, v) in values.iter().enumerate() {
            b.push(v.map_or(Value::Null, Value::Str));
            i.push(Value::Int(n as i64));
        }
        ColumnBatch {
            column_indexes: vec![3, 0],
            columns: vec![b.finish(), i.finish()],
            row_count: values.len(),
        }
    }

    #[test]
    fn concat_filter_project_keep_values() {
        let a = str_batch(&[Some("x"), None, Some("x")]);
        let b = str_batch(&[Some("y"), Some("x")]);
        let all = concat(&[&a, &b]).unwrap();
        let got: Vec<Value<'_>> = (0..5).map(|r| all.columns[0].value(r)).collect();
        assert_eq!(
            got,
            [
                Value::Str("x"),
                Value::Null,
                Value::Str("x"),
                Value::Str("y"),
                Value::Str("x")
            ]
        );
        let ColumnVec::Str { dict, .. } = &all.columns[0] else {
            panic!()
        };
        assert_eq!(dict.len(), 2);
        let kept = filter(&all, &[false, true, false, true, false]);
        assert_eq!(kept.row_count, 2);
        assert_eq!(kept.columns[1].value(1), Value::Int(0));
        let only_int = project(&kept, &[0]).unwrap();
        assert_eq!(only_int.column_indexes, [0]);
        assert!(project(&kept, &[5]).is_none());
        assert_eq!(int_min_max(&all.columns[1]), Some((0, 2)));
    }
}
