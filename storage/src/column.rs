//! In-memory column vectors: what scans yield and what the query engine computes on.
//!
//! Strings are always dictionary-encoded (`codes` index into a shared [`StrDict`]), so filters and
//! group-bys can work on integer codes and look strings up only for the final result. Nulls are a
//! validity mask (`true` = value present); `None` means no nulls in the vector.

use std::sync::Arc;

use crate::schema::ColumnType;

/// Immutable string dictionary: Arrow-style offsets into one byte buffer. Codes are dense `u32`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StrDict {
    offsets: Vec<u32>,
    bytes: String,
}

impl StrDict {
    pub fn new() -> StrDict {
        StrDict {
            offsets: vec![0],
            bytes: String::new(),
        }
    }

    pub fn from_strs<'a>(values: impl IntoIterator<Item = &'a str>) -> StrDict {
        let mut dict = StrDict::new();
        for v in values {
            dict.push(v);
        }
        dict
    }

    /// Appends a value and returns its code. Does not deduplicate; builders intern before pushing.
    pub fn push(&mut self, value: &str) -> u32 {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        let code = (self.offsets.len() - 1) as u32;
        self.bytes.push_str(value);
        self.offsets.push(self.bytes.len() as u32);
        code
    }

    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The string of `code`. Panics if `code` is out of range, which is a bug in the producer:
    /// segment decoding checks every code against the dictionary length.
    pub fn get(&self, code: u32) -> &str {
        let i = code as usize;
        &self.bytes[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    /// The bytes of `code`'s string: for comparisons, without `str` slicing's char-boundary
    /// checks. Panics if `code` is out of range, like [`StrDict::get`].
    #[inline(always)]
    pub(crate) fn bytes_of(&self, code: u32) -> &[u8] {
        let i = code as usize;
        &self.bytes.as_bytes()[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len() as u32).map(move |c| self.get(c))
    }

    /// Heap bytes held, for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.offsets.capacity() * 4 + self.bytes.capacity()
    }
}

/// One column of a batch.
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnVec {
    /// `Int` and `Timestamp` columns.
    Int {
        values: Vec<i64>,
        validity: Option<Vec<bool>>,
    },
    Float {
        values: Vec<f64>,
        validity: Option<Vec<bool>>,
    },
    Bool {
        values: Vec<bool>,
        validity: Option<Vec<bool>>,
    },
    Str {
        dict: Arc<StrDict>,
        codes: Vec<u32>,
        validity: Option<Vec<bool>>,
    },
}

impl ColumnVec {
    pub fn len(&self) -> usize {
        match self {
            ColumnVec::Int { values, .. } => values.len(),
            ColumnVec::Float { values, .. } => values.len(),
            ColumnVec::Bool { values, .. } => values.len(),
            ColumnVec::Str { codes, .. } => codes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn validity(&self) -> Option<&[bool]> {
        match self {
            ColumnVec::Int { validity, .. }
            | ColumnVec::Float { validity, .. }
            | ColumnVec::Bool { validity, .. }
            | ColumnVec::Str { validity, .. } => validity.as_deref(),
        }
    }

    pub fn is_null(&self, row: usize) -> bool {
        self.validity().is_some_and(|v| !v[row])
    }

    /// Whether this vector can hold values of logical type `ty`.
    pub fn matches_type(&self, ty: ColumnType) -> bool {
        matches!(
            (self, ty),
            (
                ColumnVec::Int { .. },
                ColumnType::Int | ColumnType::Timestamp
            ) | (ColumnVec::Float { .. }, ColumnType::Float)
                | (ColumnVec::Bool { .. }, ColumnType::Bool)
                | (ColumnVec::Str { .. }, ColumnType::Str)
        )
    }

    /// The value at `row` as a borrowed [`crate::Value`], for row-at-a-time consumers and tests.
    pub fn value(&self, row: usize) -> crate::Value<'_> {
        if self.is_null(row) {
            return crate::Value::Null;
        }
        match self {
            ColumnVec::Int { values, .. } => crate::Value::Int(values[row]),
            ColumnVec::Float { values, .. } => crate::Value::Float(values[row]),
            ColumnVec::Bool { values, .. } => crate::Value::Bool(values[row]),
            ColumnVec::Str { dict, codes, .. } => crate::Value::Str(dict.get(codes[row])),
        }
    }
}

/// A horizontal slice of a table: equal-length column vectors, in the order a scan asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnBatch {
    /// Indexes into the table schema, parallel to `columns`.
    pub column_indexes: Vec<usize>,
    pub columns: Vec<ColumnVec>,
    pub row_count: usize,
}

impl ColumnBatch {
    /// The vector of schema column `schema_index`, if the batch carries it.
    pub fn column(&self, schema_index: usize) -> Option<&ColumnVec> {
        self.column_indexes
            .iter()
            .position(|&i| i == schema_index)
            .map(|pos| &self.columns[pos])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dict_returns_what_was_pushed() {
        let dict = StrDict::from_strs(["", "/", "/products/shoes", "ü"]);
        assert_eq!(dict.len(), 4);
        let all: Vec<&str> = dict.iter().collect();
        assert_eq!(all, ["", "/", "/products/shoes", "ü"]);
        assert!(StrDict::default().is_empty());
    }

    #[test]
    fn values_respect_validity() {
        let col = ColumnVec::Str {
            dict: Arc::new(StrDict::from_strs(["a", "b"])),
            codes: vec![1, 0, 0],
            validity: Some(vec![true, false, true]),
        };
        assert_eq!(col.value(0), crate::Value::Str("b"));
        assert_eq!(col.value(1), crate::Value::Null);
        assert_eq!(col.value(2), crate::Value::Str("a"));
    }
}
