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

/// Index of `event_id` in the `events` schema (checked by a test): [`RowBuf::push_row`] notes
/// whether any row carries one, so deduplication can skip buffers without ids.
pub(crate) const EVENT_ID_COLUMN: usize = 4;

/// Rows of one table in their encoded form.
#[derive(Clone, Debug)]
pub struct RowBuf {
    table: Table,
    row_count: usize,
    bytes: Vec<u8>,
    /// False only when no row has a non-null `event_id` (always false for `sessions`).
    event_ids: bool,
    /// Byte offset of each row, when known: readers that need a few leading columns of each row
    /// (deduplication) jump to the next row instead of decoding the rest. [`RowBuf::push_row`]
    /// records them only once a row carries an `event_id` (nothing reads them before).
    row_starts: Option<Vec<u32>>,
}

/// Buffers are equal when they hold the same rows (the `event_ids` hint is derived from them).
impl PartialEq for RowBuf {
    fn eq(&self, other: &RowBuf) -> bool {
        self.table == other.table && self.row_count == other.row_count && self.bytes == other.bytes
    }
}

impl RowBuf {
    pub fn new(table: Table) -> RowBuf {
        RowBuf {
            table,
            row_count: 0,
            bytes: Vec::new(),
            event_ids: false,
            row_starts: None,
        }
    }

    pub fn with_capacity(table: Table, bytes: usize) -> RowBuf {
        RowBuf {
            table,
            row_count: 0,
            bytes: Vec::with_capacity(bytes),
            event_ids: false,
            row_starts: None,
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
        if has_event_id(self.table, values) && !self.event_ids {
            self.event_ids = true;
            self.row_starts = self.scan_row_starts();
        }
        if self.event_ids {
            let start = u32::try_from(self.bytes.len()).ok();
            self.row_starts = self
                .row_starts
                .take()
                .zip(start)
                .map(|(mut starts, start)| {
                    starts.push(start);
                    starts
                });
        }
        for value in values {
            encode_value(&mut self.bytes, value);
        }
        self.row_count += 1;
        Ok(())
    }

    /// The offsets of the rows so far, found by walking them (`None` past 4 GiB).
    fn scan_row_starts(&self) -> Option<Vec<u32>> {
        let mut starts = Vec::with_capacity(self.bytes.capacity() / 256 + 1);
        let mut reader = RowReader::new(self.table, &self.bytes);
        loop {
            let start = u32::try_from(reader.position()).ok()?;
            match reader.next_row_pick(0, 0) {
                Ok(Some(_)) => starts.push(start),
                _ => return Some(starts),
            }
        }
    }

    /// Whether some row may carry an `event_id` (false: none does, deduplication has nothing
    /// to look at).
    pub(crate) fn may_have_event_ids(&self) -> bool {
        self.event_ids
    }

    /// Rebuilds a buffer from bytes produced by [`RowBuf::as_bytes`], checking every value.
    pub fn from_bytes(table: Table, bytes: Vec<u8>) -> Result<RowBuf, RowError> {
        let mut reader = RowReader::new(table, &bytes);
        let mut scratch = Vec::with_capacity(table.schema().len());
        let mut row_count = 0;
        let mut event_ids = false;
        let mut row_starts = Some(Vec::new());
        loop {
            let start = u32::try_from(reader.position()).ok();
            if !reader.next_row(&mut scratch)? {
                break;
            }
            row_count += 1;
            event_ids |= has_event_id(table, &scratch);
            row_starts = row_starts.zip(start).map(|(mut starts, start)| {
                starts.push(start);
                starts
            });
        }
        Ok(RowBuf {
            table,
            row_count,
            bytes,
            event_ids,
            row_starts,
        })
    }

    pub fn reader(&self) -> RowReader<'_> {
        RowReader {
            row_starts: self.row_starts.as_deref(),
            ..RowReader::new(self.table, &self.bytes)
        }
    }

    /// A buffer of `row_count` rows whose bytes are whole rows taken from valid buffers of the
    /// same table (so nothing needs checking again); `event_ids` as for the source buffers
    /// (true when unsure); `row_starts` the byte offset of each row, if known.
    pub(crate) fn from_valid_rows(
        table: Table,
        row_count: usize,
        bytes: Vec<u8>,
        event_ids: bool,
        row_starts: Option<Vec<u32>>,
    ) -> RowBuf {
        debug_assert!(row_starts.as_ref().is_none_or(|s| s.len() == row_count));
        RowBuf {
            table,
            row_count,
            bytes,
            event_ids,
            row_starts,
        }
    }
}

fn has_event_id(table: Table, values: &[Value<'_>]) -> bool {
    table == Table::Events && values.get(EVENT_ID_COLUMN).is_some_and(|v| !v.is_null())
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
#[inline]
pub(crate) fn get_varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    // One byte (string lengths under 128, small numbers) is the common case.
    match bytes.get(*pos) {
        Some(&byte) if byte < 0x80 => {
            *pos += 1;
            Some(u64::from(byte))
        }
        _ => get_varint_long(bytes, pos),
    }
}

fn get_varint_long(bytes: &[u8], pos: &mut usize) -> Option<u64> {
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
    /// Offsets of the rows of `bytes`, when known, and the index of the next row.
    row_starts: Option<&'a [u32]>,
    row: usize,
}

impl<'a> RowReader<'a> {
    pub fn new(table: Table, bytes: &'a [u8]) -> RowReader<'a> {
        RowReader {
            schema: table.schema(),
            bytes,
            pos: 0,
            row_starts: None,
            row: 0,
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
        self.row += 1;
        Ok(true)
    }

    /// Byte offset of the next row.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Moves past the next row, decoding only columns `a` and `b` (`Ok(None)` at the end). The
    /// other values are skipped by their lengths (or, for a buffer that knows where its rows
    /// start, not read at all): their strings are not checked for UTF-8 here, which the full
    /// decode into the memtable does.
    pub(crate) fn next_row_pick(
        &mut self,
        a: usize,
        b: usize,
    ) -> Result<Option<(Value<'a>, Value<'a>)>, RowError> {
        if self.pos == self.bytes.len() {
            return Ok(None);
        }
        let next_start = self.row_starts.map(|starts| {
            starts
                .get(self.row + 1)
                .map_or(self.bytes.len(), |&s| s as usize)
        });
        self.row += 1;
        let last = if next_start.is_some() {
            a.max(b)
        } else {
            usize::MAX
        };
        let (mut va, mut vb) = (Value::Null, Value::Null);
        for (i, def) in self.schema.columns.iter().enumerate() {
            if i == a {
                va = self.value(def.ty)?;
            } else if i == b {
                vb = self.value(def.ty)?;
            } else {
                self.skip(def.ty)?;
            }
            if i == last {
                break;
            }
        }
        if let Some(next) = next_start {
            if next < self.pos || next > self.bytes.len() {
                return Err(self.malformed("row offsets do not match the rows"));
            }
            self.pos = next;
        }
        Ok(Some((va, vb)))
    }

    fn skip(&mut self, ty: ColumnType) -> Result<(), RowError> {
        read_raw(self.bytes, &mut self.pos, ty).map_err(|reason| self.malformed(reason))?;
        Ok(())
    }

    fn malformed(&self, reason: &'static str) -> RowError {
        RowError::Malformed {
            offset: self.pos,
            reason,
        }
    }

    fn value(&mut self, ty: ColumnType) -> Result<Value<'a>, RowError> {
        let raw =
            read_raw(self.bytes, &mut self.pos, ty).map_err(|reason| self.malformed(reason))?;
        Ok(match raw {
            RawValue::Null => Value::Null,
            RawValue::Int(v) => Value::Int(v),
            RawValue::Float(v) => Value::Float(v),
            RawValue::Bool(v) => Value::Bool(v),
            RawValue::Str(bytes) => match std::str::from_utf8(bytes) {
                Ok(s) => Value::Str(s),
                Err(_) => {
                    return Err(RowError::Malformed {
                        offset: self.pos - bytes.len(),
                        reason: "string is not utf-8",
                    })
                }
            },
        })
    }
}

/// A value as stored in row bytes, its string not yet checked for UTF-8.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum RawValue<'a> {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(&'a [u8]),
}

/// Decodes the value of type `ty` at `*pos` and moves past it; on malformed bytes, the reason
/// (with `*pos` where it was found).
pub(crate) fn read_raw<'a>(
    bytes: &'a [u8],
    pos: &mut usize,
    ty: ColumnType,
) -> Result<RawValue<'a>, &'static str> {
    let tag = *bytes.get(*pos).ok_or("truncated value tag")?;
    *pos += 1;
    match (tag, ty) {
        (0, _) => Ok(RawValue::Null),
        (1 | 2, ColumnType::Bool) => Ok(RawValue::Bool(tag == 2)),
        (1, ColumnType::Int | ColumnType::Timestamp) => {
            let raw = get_varint(bytes, pos).ok_or("bad varint")?;
            Ok(RawValue::Int(unzigzag(raw)))
        }
        (1, ColumnType::Float) => Ok(RawValue::Float(read_f64(bytes, pos)?)),
        (1, ColumnType::Str) => Ok(RawValue::Str(read_str_bytes(bytes, pos)?)),
        _ => Err("invalid value tag"),
    }
}

/// The 8-byte float at `*pos` (after its tag), moving past it.
pub(crate) fn read_f64(bytes: &[u8], pos: &mut usize) -> Result<f64, &'static str> {
    let raw: [u8; 8] = bytes
        .get(*pos..*pos + 8)
        .and_then(|b| b.try_into().ok())
        .ok_or("truncated float")?;
    *pos += 8;
    Ok(f64::from_le_bytes(raw))
}

/// The length-prefixed string bytes at `*pos` (after its tag), moving past them.
pub(crate) fn read_str_bytes<'a>(
    bytes: &'a [u8],
    pos: &mut usize,
) -> Result<&'a [u8], &'static str> {
    let len = get_varint(bytes, pos).ok_or("bad string length")?;
    let start = *pos;
    let end = usize::try_from(len)
        .ok()
        .and_then(|len| start.checked_add(len))
        .filter(|&end| end <= bytes.len())
        .ok_or("truncated string")?;
    *pos = end;
    Ok(&bytes[start..end])
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
    fn buffers_note_whether_a_row_carries_an_event_id() {
        assert_eq!(
            Table::Events.schema().index_of("event_id"),
            Some(EVENT_ID_COLUMN)
        );
        let mut buf = RowBuf::new(Table::Events);
        let mut row = vec![Value::Null; Table::Events.schema().len()];
        row[1] = Value::Str("a.com");
        buf.push_row(&row).unwrap();
        assert!(!buf.may_have_event_ids());
        let copy = RowBuf::from_bytes(Table::Events, buf.as_bytes().to_vec()).unwrap();
        assert!(!copy.may_have_event_ids());
        assert_eq!(buf.row_starts, None, "no offsets before an id");
        row[EVENT_ID_COLUMN] = Value::Str("id-1");
        buf.push_row(&row).unwrap();
        row[EVENT_ID_COLUMN] = Value::Null;
        buf.push_row(&row).unwrap();
        assert!(buf.may_have_event_ids());
        let copy = RowBuf::from_bytes(Table::Events, buf.as_bytes().to_vec()).unwrap();
        assert!(copy.may_have_event_ids());
        assert_eq!(copy, buf);
        assert_eq!(buf.row_starts.as_ref().map(Vec::len), Some(3));
        assert_eq!(
            buf.row_starts, copy.row_starts,
            "walked offsets match the decoded ones"
        );
        // Sessions have no event_id column: index 4 there is another column.
        let mut sessions = RowBuf::new(Table::Sessions);
        let mut row = vec![Value::Null; Table::Sessions.schema().len()];
        row[EVENT_ID_COLUMN] = Value::Int(1);
        sessions.push_row(&row).unwrap();
        assert!(!sessions.may_have_event_ids());
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
