//! Row codec: the byte form of rows in WAL records and the way callers hand rows to the store.
//!
//! A [`RowBuf`] holds rows of one table encoded back to back, each value in schema order:
//!
//! ```text
//! value := tag:u8 payload
//!   tag 0            null (no payload)
//!   tag 1  Int/Timestamp   zigzag LEB128 varint
//!   tag 1  Float           8 bytes little-endian IEEE 754
//!   tag 1  Str             LEB128 length, then UTF-8 bytes
//!   tag 1/2 Bool           1 = false, 2 = true (no payload)
//! ```
//!
//! The engine encodes once; the same bytes go into the WAL and are decoded into the memtable, so
//! live appends and recovery share one path.

use thiserror::Error;

use crate::schema::{ColumnType, Schema, Table};

/// A borrowed value of one column in one row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(&'a str),
}

impl Value<'_> {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

#[derive(Debug, Error, PartialEq)]
pub enum RowError {
    #[error("row has {got} values, table {table} has {expected} columns")]
    Arity {
        table: Table,
        expected: usize,
        got: usize,
    },
    #[error("column {table}.{column} is {expected}, got {got}")]
    Type {
        table: Table,
        column: &'static str,
        expected: &'static str,
        got: &'static str,
    },
    #[error("malformed row bytes at offset {offset}: {reason}")]
    Malformed { offset: usize, reason: &'static str },
}

/// Rows of one table in their encoded form.
#[derive(Clone, Debug, PartialEq)]
pub struct RowBuf {
    table: Table,
    row_count: usize,
    bytes: Vec<u8>,
}

impl RowBuf {
    pub fn new(table: Table) -> RowBuf {
        RowBuf {
            table,
            row_count: 0,
            bytes: Vec::new(),
        }
    }

    pub fn with_capacity(table: Table, bytes: usize) -> RowBuf {
        RowBuf {
            table,
            row_count: 0,
            bytes: Vec::with_capacity(bytes),
        }
    }

    pub fn table(&self) -> Table {
        self.table
    }

    pub fn row_count(&self) -> usize {
        self.row_count
    }

    pub fn is_empty(&self) -> bool {
        self.row_count == 0
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Appends one row. `values` must follow the table's schema order and types; on error the
    /// buffer is left unchanged.
    pub fn push_row(&mut self, values: &[Value<'_>]) -> Result<(), RowError> {
        let schema = self.table.schema();
        if values.len() != schema.len() {
            return Err(RowError::Arity {
                table: self.table,
                expected: schema.len(),
                got: values.len(),
            });
        }
        for (def, value) in schema.columns.iter().zip(values) {
            let ok = matches!(
                (def.ty, value),
                (_, Value::Null)
                    | (ColumnType::Int | ColumnType::Timestamp, Value::Int(_))
                    | (ColumnType::Float, Value::Float(_))
                    | (ColumnType::Bool, Value::Bool(_))
                    | (ColumnType::Str, Value::Str(_))
            );
            if !ok {
                return Err(RowError::Type {
                    table: self.table,
                    column: def.name,
                    expected: def.ty.name(),
                    got: value_type_name(value),
                });
            }
        }
        for value in values {
            encode_value(&mut self.bytes, value);
        }
        self.row_count += 1;
        Ok(())
    }

    /// Rebuilds a buffer from bytes produced by [`RowBuf::as_bytes`], checking every value.
    pub fn from_bytes(table: Table, bytes: Vec<u8>) -> Result<RowBuf, RowError> {
        let mut reader = RowReader::new(table, &bytes);
        let mut scratch = Vec::with_capacity(table.schema().len());
        let mut row_count = 0;
        while reader.next_row(&mut scratch)? {
            row_count += 1;
        }
        Ok(RowBuf {
            table,
            row_count,
            bytes,
        })
    }

    pub fn reader(&self) -> RowReader<'_> {
        RowReader::new(self.table, &self.bytes)
    }

    /// A buffer of `row_count` rows whose bytes are whole rows taken from valid buffers of the
    /// same table (so nothing needs checking again).
    pub(crate) fn from_valid_rows(table: Table, row_count: usize, bytes: Vec<u8>) -> RowBuf {
        RowBuf {
            table,
            row_count,
            bytes,
        }
    }
}

fn value_type_name(value: &Value<'_>) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Int(_) => "int",
        Value::Float(_) => "float",
        Value::Bool(_) => "bool",
        Value::Str(_) => "string",
    }
}

fn encode_value(out: &mut Vec<u8>, value: &Value<'_>) {
    match *value {
        Value::Null => out.push(0),
        Value::Int(v) => {
            out.push(1);
            put_varint(out, zigzag(v));
        }
        Value::Float(v) => {
            out.push(1);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Value::Bool(v) => out.push(if v { 2 } else { 1 }),
        Value::Str(s) => {
            out.push(1);
            put_varint(out, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
    }
}

pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub(crate) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a LEB128 varint at `*pos`, advancing it. `None` on truncation or overflow.
pub(crate) fn get_varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut result = 0u64;
    let mut shift = 0u32;
    loop {
        let byte = *bytes.get(*pos)?;
        *pos += 1;
        if shift == 63 && byte > 1 {
            return None;
        }
        result |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(result);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

/// Decodes rows one at a time without allocating per value.
pub struct RowReader<'a> {
    schema: &'static Schema,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> RowReader<'a> {
    pub fn new(table: Table, bytes: &'a [u8]) -> RowReader<'a> {
        RowReader {
            schema: table.schema(),
            bytes,
            pos: 0,
        }
    }

    /// Decodes the next row into `out` (cleared first). Returns `Ok(false)` at the end.
    pub fn next_row(&mut self, out: &mut Vec<Value<'a>>) -> Result<bool, RowError> {
        out.clear();
        if self.pos == self.bytes.len() {
            return Ok(false);
        }
        for def in self.schema.columns {
            out.push(self.value(def.ty)?);
        }
        Ok(true)
    }

    /// Byte offset of the next row.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Whether every row has been read.
    pub(crate) fn at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }

    /// Decodes the next value, of type `ty`: for callers that walk a row column by column
    /// (they must read exactly the schema's columns per row, in order).
    pub(crate) fn next_value(&mut self, ty: ColumnType) -> Result<Value<'a>, RowError> {
        self.value(ty)
    }

    /// Moves past the next row, decoding only columns `a` and `b` (`Ok(None)` at the end). The
    /// other values are skipped by their lengths: their strings are not checked for UTF-8 here,
    /// which the full decode into the memtable does.
    pub(crate) fn next_row_pick(
        &mut self,
        a: usize,
        b: usize,
    ) -> Result<Option<(Value<'a>, Value<'a>)>, RowError> {
        if self.pos == self.bytes.len() {
            return Ok(None);
        }
        let (mut va, mut vb) = (Value::Null, Value::Null);
        for (i, def) in self.schema.columns.iter().enumerate() {
            if i == a {
                va = self.value(def.ty)?;
            } else if i == b {
                vb = self.value(def.ty)?;
            } else {
                self.skip(def.ty)?;
            }
        }
        Ok(Some((va, vb)))
    }

    fn skip(&mut self, ty: ColumnType) -> Result<(), RowError> {
        let tag = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| self.malformed("truncated value tag"))?;
        self.pos += 1;
        match (tag, ty) {
            (0, _) | (1 | 2, ColumnType::Bool) => Ok(()),
            (1, ColumnType::Int | ColumnType::Timestamp) => {
                get_varint(self.bytes, &mut self.pos)
                    .ok_or_else(|| self.malformed("bad varint"))?;
                Ok(())
            }
            (1, ColumnType::Float) => {
                if self.bytes.len() - self.pos < 8 {
                    return Err(self.malformed("truncated float"));
                }
                self.pos += 8;
                Ok(())
            }
            (1, ColumnType::Str) => {
                let len = get_varint(self.bytes, &mut self.pos)
                    .ok_or_else(|| self.malformed("bad string length"))?;
                let end = usize::try_from(len)
                    .ok()
                    .and_then(|len| self.pos.checked_add(len))
                    .filter(|&end| end <= self.bytes.len())
                    .ok_or_else(|| self.malformed("truncated string"))?;
                self.pos = end;
                Ok(())
            }
            _ => Err(self.malformed("invalid value tag")),
        }
    }

    fn malformed(&self, reason: &'static str) -> RowError {
        RowError::Malformed {
            offset: self.pos,
            reason,
        }
    }

    fn value(&mut self, ty: ColumnType) -> Result<Value<'a>, RowError> {
        let tag = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| self.malformed("truncated value tag"))?;
        self.pos += 1;
        match (tag, ty) {
            (0, _) => Ok(Value::Null),
            (1 | 2, ColumnType::Bool) => Ok(Value::Bool(tag == 2)),
            (1, ColumnType::Int | ColumnType::Timestamp) => {
                let raw = get_varint(self.bytes, &mut self.pos)
                    .ok_or_else(|| self.malformed("bad varint"))?;
                Ok(Value::Int(unzigzag(raw)))
            }
            (1, ColumnType::Float) => {
                let end = self.pos + 8;
                let raw = self
                    .bytes
                    .get(self.pos..end)
                    .ok_or_else(|| self.malformed("truncated float"))?;
                let mut buf = [0u8; 8];
                buf.copy_from_slice(raw);
                self.pos = end;
                Ok(Value::Float(f64::from_le_bytes(buf)))
            }
            (1, ColumnType::Str) => {
                let len = get_varint(self.bytes, &mut self.pos)
                    .ok_or_else(|| self.malformed("bad string length"))?;
                let end = usize::try_from(len)
                    .ok()
                    .and_then(|len| self.pos.checked_add(len))
                    .filter(|&end| end <= self.bytes.len())
                    .ok_or_else(|| self.malformed("truncated string"))?;
                let s = std::str::from_utf8(&self.bytes[self.pos..end])
                    .map_err(|_| self.malformed("string is not utf-8"))?;
                self.pos = end;
                Ok(Value::Str(s))
            }
            _ => Err(self.malformed("invalid value tag")),
        }
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    fn arb_value(ty: ColumnType) -> BoxedStrategy<Option<OwnedValue>> {
        let present = match ty {
            ColumnType::Int | ColumnType::Timestamp => {
                any::<i64>().prop_map(OwnedValue::Int).boxed()
            }
            ColumnType::Float => any::<f64>()
                .prop_filter("nan never equals itself", |f| !f.is_nan())
                .prop_map(OwnedValue::Float)
                .boxed(),
            ColumnType::Bool => any::<bool>().prop_map(OwnedValue::Bool).boxed(),
            ColumnType::Str => ".{0,40}".prop_map(OwnedValue::Str).boxed(),
        };
        proptest::option::of(present).boxed()
    }

    #[derive(Clone, Debug)]
    enum OwnedValue {
        Int(i64),
        Float(f64),
        Bool(bool),
        Str(String),
    }

    fn as_value(v: &Option<OwnedValue>) -> Value<'_> {
        match v {
            None => Value::Null,
            Some(OwnedValue::Int(i)) => Value::Int(*i),
            Some(OwnedValue::Float(f)) => Value::Float(*f),
            Some(OwnedValue::Bool(b)) => Value::Bool(*b),
            Some(OwnedValue::Str(s)) => Value::Str(s),
        }
    }

    fn arb_rows(table: Table) -> impl Strategy<Value = Vec<Vec<Option<OwnedValue>>>> {
        let row: Vec<_> = table
            .schema()
            .columns
            .iter()
            .map(|c| arb_value(c.ty))
            .collect();
        proptest::collection::vec(row, 0..20)
    }

    fn check_round_trip(
        table: Table,
        rows: &[Vec<Option<OwnedValue>>],
    ) -> Result<(), TestCaseError> {
        let mut buf = RowBuf::new(table);
        for row in rows {
            let values: Vec<Value<'_>> = row.iter().map(as_value).collect();
            buf.push_row(&values).unwrap();
        }
        let again = RowBuf::from_bytes(table, buf.as_bytes().to_vec()).unwrap();
        prop_assert_eq!(again.row_count(), rows.len());
        let mut reader = again.reader();
        let mut out = Vec::new();
        for row in rows {
            prop_assert!(reader.next_row(&mut out).unwrap());
            let expected: Vec<Value<'_>> = row.iter().map(as_value).collect();
            prop_assert_eq!(&out, &expected);
        }
        prop_assert!(!reader.next_row(&mut out).unwrap());
        Ok(())
    }

    proptest! {
        #[test]
        fn event_rows_round_trip(rows in arb_rows(Table::Events)) {
            check_round_trip(Table::Events, &rows)?;
        }

        #[test]
        fn session_rows_round_trip(rows in arb_rows(Table::Sessions)) {
            check_round_trip(Table::Sessions, &rows)?;
        }

        #[test]
        fn varints_round_trip(v in any::<i64>()) {
            let mut out = Vec::new();
            put_varint(&mut out, zigzag(v));
            let mut pos = 0;
            prop_assert_eq!(get_varint(&out, &mut pos).map(unzigzag), Some(v));
            prop_assert_eq!(pos, out.len());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = RowBuf::from_bytes(Table::Sessions, bytes);
        }
    }

    #[test]
    fn wrong_arity_and_type_are_rejected_without_changing_the_buffer() {
        let mut buf = RowBuf::new(Table::Events);
        assert!(matches!(
            buf.push_row(&[Value::Null]),
            Err(RowError::Arity { .. })
        ));
        let mut row = vec![Value::Null; Table::Events.schema().len()];
        row[0] = Value::Str("not a timestamp");
        let err = buf.push_row(&row).unwrap_err();
        assert_eq!(err.to_string(), "column events.ts is timestamp, got string");
        assert!(buf.is_empty() && buf.as_bytes().is_empty());
    }

    #[test]
    fn truncated_bytes_are_malformed() {
        let mut buf = RowBuf::new(Table::Sessions);
        let mut row = vec![Value::Null; Table::Sessions.schema().len()];
        row[0] = Value::Str("session-1");
        buf.push_row(&row).unwrap();
        let bytes = buf.as_bytes();
        for cut in 1..bytes.len() {
            assert!(RowBuf::from_bytes(Table::Sessions, bytes[..cut].to_vec()).is_err());
        }
    }
}
