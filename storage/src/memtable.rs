//! The memtable: rows appended since the last flush, per partition (table, site, UTC day), held as
//! column builders and sealed into immutable `Arc` batches so snapshots are cheap and readers see
//! rows while they are still in memory.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use rustc_hash::FxHashMap;

use crate::batch::{int_min_max, ColumnBuilder};
use crate::column::ColumnBatch;
use crate::row::{read_raw, RawValue, RowBuf, RowError};
use crate::schema::Table;

/// A builder is sealed into an immutable batch when it reaches this many rows (and whenever a
/// snapshot is taken), so scans of the memtable see batches of at most this size.
pub const MEMTABLE_BATCH_ROWS: usize = 8192;
/// A snapshot seals a builder with at least this many rows; smaller ones are copied instead, so
/// frequent snapshots do not leave many tiny batches behind.
const SNAPSHOT_SEAL_ROWS: usize = 1024;

pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The UTC day (days since 1970-01-01) of a timestamp in microseconds.
pub fn day_of(ts_us: i64) -> i32 {
    ts_us.div_euclid(MICROS_PER_DAY) as i32
}

/// (table, site, day): the unit of partitioning of memtables and segments.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey {
    pub table: Table,
    pub site: String,
    pub day: i32,
}

/// An immutable batch of rows of one partition, with all columns in schema order.
#[derive(Debug)]
pub struct FrozenBatch {
    pub key: PartitionKey,
    pub batch: ColumnBatch,
    /// Range of the time column (`None` if all null).
    pub time_range: Option<(i64, i64)>,
    pub bytes: usize,
}

struct PartitionBuf {
    sealed: Vec<Arc<FrozenBatch>>,
    builders: Vec<ColumnBuilder>,
    rows: usize,
    bytes: usize,
    /// The last copy of the unsealed rows handed to a snapshot, reused while no row is added,
    /// so repeated snapshots only copy partitions that changed.
    copied: Option<Arc<FrozenBatch>>,
}

impl PartitionBuf {
    fn new(table: Table) -> PartitionBuf {
        PartitionBuf {
            sealed: Vec::new(),
            builders: new_builders(table),
            rows: 0,
            bytes: 0,
            copied: None,
        }
    }

    fn seal(&mut self, key: &PartitionKey) {
        if self.rows == 0 {
            return;
        }
        let builders = std::mem::replace(&mut self.builders, new_builders(key.table));
        let columns: Vec<_> = builders.into_iter().map(ColumnBuilder::finish).collect();
        self.sealed
            .push(Arc::new(frozen_batch(key, columns, self.rows, self.bytes)));
        self.rows = 0;
        self.bytes = 0;
        self.copied = None;
    }

    /// The unsealed rows as a batch, copied (or the previous copy if nothing was added since).
    fn copy_partial(&mut self, key: &PartitionKey) -> Arc<FrozenBatch> {
        if let Some(copy) = &self.copied {
            if copy.batch.row_count == self.rows {
                return copy.clone();
            }
        }
        let columns = self.builders.iter().map(ColumnBuilder::snapshot).collect();
        let copy = Arc::new(frozen_batch(key, columns, self.rows, self.bytes));
        self.copied = Some(copy.clone());
        copy
    }
}

fn frozen_batch(
    key: &PartitionKey,
    columns: Vec<crate::column::ColumnVec>,
    rows: usize,
    bytes: usize,
) -> FrozenBatch {
    let schema = key.table.schema();
    let batch = ColumnBatch {
        column_indexes: (0..schema.len()).collect(),
        columns,
        row_count: rows,
    };
    let time_range = int_min_max(&batch.columns[schema.time_column]);
    FrozenBatch {
        key: key.clone(),
        batch,
        time_range,
        bytes,
    }
}

fn new_builders(table: Table) -> Vec<ColumnBuilder> {
    table
        .schema()
        .columns
        .iter()
        .map(|c| ColumnBuilder::new(c.ty))
        .collect()
}

/// Rows not yet in segments. Mutated only by the applier thread (under the store's lock).
#[derive(Default)]
pub struct Memtable {
    /// (table, day) → site → rows; nested so lookups by `&str` need no allocation.
    partitions: FxHashMap<(Table, i32), FxHashMap<String, PartitionBuf>>,
    rows: usize,
    bytes: usize,
    /// When the first row arrived, for the age trigger.
    first_row_at: Option<Instant>,
    /// Highest WAL LSN whose rows are in this memtable.
    max_lsn: u64,
}

impl Memtable {
    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    #[cfg(test)]
    pub fn max_lsn(&self) -> u64 {
        self.max_lsn
    }

    pub fn first_row_at(&self) -> Option<Instant> {
        self.first_row_at
    }

    /// Decodes `rows` (WAL record `lsn`) into the partition builders. Only the values that pick
    /// the partition (site and time) are decoded on their own; then each value goes from the row
    /// bytes straight into its column's builder, and strings are checked for UTF-8 only when new
    /// to their dictionary. Consecutive rows of one partition (the common case: a batch from one
    /// site on one day) look the partition up once. A row that fails to decode is removed from
    /// the builders again before the error returns.
    pub fn insert(&mut self, lsn: u64, rows: &RowBuf) -> Result<(), RowError> {
        let table = rows.table();
        let schema = table.schema();
        let bytes = rows.as_bytes();
        let head_len = schema.site_column.max(schema.time_column) + 1;
        let malformed =
            |offset: usize, reason: &'static str| RowError::Malformed { offset, reason };
        let mut pos = 0;
        let mut rows_left = rows.row_count();
        let mut current: Option<(i32, &mut PartitionBuf)> = None;
        let mut current_site = String::new();
        while pos < bytes.len() {
            let row_start = pos;
            let (mut site, mut ts): (&[u8], Option<i64>) = (b"", None);
            for (i, def) in schema.columns[..head_len].iter().enumerate() {
                match read_raw(bytes, &mut pos, def.ty).map_err(|r| malformed(pos, r))? {
                    RawValue::Str(s) if i == schema.site_column => site = s,
                    RawValue::Int(t) if i == schema.time_column => ts = Some(t),
                    _ => {}
                }
            }
            let day = ts.map_or(0, day_of);
            let same =
                matches!(&current, Some((d, _)) if *d == day) && current_site.as_bytes() == site;
            if !same {
                let site = std::str::from_utf8(site)
                    .map_err(|_| malformed(row_start, "string is not utf-8"))?;
                let by_site = self.partitions.entry((table, day)).or_default();
                if !by_site.contains_key(site) {
                    by_site.insert(site.to_string(), PartitionBuf::new(table));
                }
                current = by_site.get_mut(site).map(|part| (day, part));
                current_site.clear();
                current_site.push_str(site);
                if let Some((_, part)) = current.as_mut() {
                    let room = rows_left.min(MEMTABLE_BATCH_ROWS - part.rows);
                    for builder in &mut part.builders {
                        builder.reserve(room);
                    }
                }
            }
            let Some((_, part)) = current.as_mut() else {
                continue;
            };
            pos = row_start;
            let mut added = 0;
            let mut failed = None;
            for builder in &mut part.builders {
                if bytes.get(pos) == Some(&0) {
                    pos += 1;
                    added += builder.push_null();
                    continue;
                }
                match builder.push_encoded(bytes, &mut pos) {
                    Ok(n) => added += n,
                    Err(reason) => {
                        failed = Some(malformed(pos, reason));
                        break;
                    }
                }
            }
            if let Some(error) = failed {
                for builder in &mut part.builders {
                    builder.truncate(part.rows);
                }
                return Err(error);
            }
            rows_left = rows_left.saturating_sub(1);
            part.rows += 1;
            part.bytes += added;
            self.rows += 1;
            self.bytes += added;
            if part.rows >= MEMTABLE_BATCH_ROWS {
                let key = PartitionKey {
                    table,
                    site: current_site.clone(),
                    day,
                };
                part.seal(&key);
            }
        }
        if self.first_row_at.is_none() && self.rows > 0 {
            self.first_row_at = Some(Instant::now());
        }
        self.max_lsn = self.max_lsn.max(lsn);
        Ok(())
    }

    /// All rows as immutable batches: a consistent view of the memtable. Builders with many
    /// rows are sealed, small ones copied.
    pub fn snapshot(&mut self) -> Vec<Arc<FrozenBatch>> {
        self.batches(SNAPSHOT_SEAL_ROWS)
    }

    fn batches(&mut self, seal_rows: usize) -> Vec<Arc<FrozenBatch>> {
        let mut out = Vec::new();
        for ((table, day), by_site) in &mut self.partitions {
            for (site, part) in by_site.iter_mut() {
                out.extend(part.sealed.iter().cloned());
                if part.rows == 0 {
                    continue;
                }
                let key = PartitionKey {
                    table: *table,
                    site: site.clone(),
                    day: *day,
                };
                if part.rows >= seal_rows {
                    part.seal(&key);
                    out.extend(part.sealed.last().cloned());
                } else {
                    out.push(part.copy_partial(&key));
                }
            }
        }
        out
    }

    /// Takes all rows out, leaving an empty memtable that continues after `max_lsn`.
    pub fn freeze(&mut self) -> FrozenMemtable {
        let batches = self.batches(1);
        let frozen = FrozenMemtable {
            batches,
            max_lsn: self.max_lsn,
            rows: self.rows,
        };
        *self = Memtable {
            max_lsn: self.max_lsn,
            ..Memtable::default()
        };
        frozen
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }
}

/// A memtable taken out for flushing: its batches stay readable until the segments replace them.
#[derive(Debug)]
pub struct FrozenMemtable {
    pub batches: Vec<Arc<FrozenBatch>>,
    /// Every WAL record up to this LSN is in these batches (or in segments already).
    pub max_lsn: u64,
    pub rows: usize,
}

impl FrozenMemtable {
    /// Batches grouped by partition, in partition order.
    pub fn by_partition(&self) -> Vec<(PartitionKey, Vec<&ColumnBatch>)> {
        let mut groups: HashMap<&PartitionKey, Vec<&ColumnBatch>> = HashMap::new();
        for b in &self.batches {
            groups.entry(&b.key).or_default().push(&b.batch);
        }
        let mut out: Vec<_> = groups.into_iter().map(|(k, v)| (k.clone(), v)).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use super::*;
    use crate::row::Value;

    fn event(ts: i64, site: &str, path: &str) -> RowBuf {
        let mut buf = RowBuf::new(Table::Events);
        let mut row = vec![Value::Null; Table::Events.schema().len()];
        row[0] = Value::Int(ts);
        row[1] = Value::Str(site);
        row[9] = Value::Str(path);
        buf.push_row(&row).unwrap();
        buf
    }

    #[test]
    fn rows_are_partitioned_by_site_and_day() {
        let mut m = Memtable::default();
        m.insert(1, &event(5, "a.com", "/")).unwrap();
        m.insert(2, &event(MICROS_PER_DAY + 5, "a.com", "/x"))
            .unwrap();
        m.insert(3, &event(7, "b.com", "/")).unwrap();
        m.insert(4, &event(-1, "a.com", "/")).unwrap();
        assert_eq!(m.rows(), 4);
        let frozen = m.freeze();
        assert_eq!(frozen.max_lsn, 4);
        assert!(m.is_empty() && m.max_lsn() == 4);
        let keys: Vec<(String, i32)> = frozen
            .by_partition()
            .into_iter()
            .map(|(k, _)| (k.site, k.day))
            .collect();
        assert_eq!(
            keys,
            [
                ("a.com".into(), -1),
                ("a.com".into(), 0),
                ("a.com".into(), 1),
                ("b.com".into(), 0)
            ]
        );
    }

    #[test]
    fn a_row_that_fails_half_way_leaves_no_trace() {
        let mut m = Memtable::default();
        let good = event(5, "a.com", "/");
        let mut bytes = good.as_bytes().to_vec();
        // A second row whose bytes end in the middle (after ts, site and type).
        let second = event(6, "a.com", "/longer-path");
        bytes.extend_from_slice(&second.as_bytes()[..20]);
        let torn = RowBuf::from_valid_rows(Table::Events, 2, bytes, true, None);
        assert!(m.insert(1, &torn).is_err());
        assert_eq!(m.rows(), 1);
        let snap = m.snapshot();
        assert_eq!(snap.len(), 1);
        for column in &snap[0].batch.columns {
            assert_eq!(column.len(), 1);
            assert!(column.validity().is_none_or(|v| v.len() == 1));
        }
        m.insert(2, &event(7, "a.com", "/x")).unwrap();
        let snap = m.snapshot();
        assert_eq!(snap[0].batch.row_count, 2);
        assert_eq!(snap[0].batch.columns[9].value(1), Value::Str("/x"));
    }

    #[test]
    fn strings_that_are_not_utf8_are_rejected_without_a_trace() {
        let mut m = Memtable::default();
        m.insert(1, &event(5, "a.com", "/zz")).unwrap();
        for bad_site in [false, true] {
            let good = if bad_site {
                event(6, "zzzzz", "/y")
            } else {
                event(6, "a.com", "/zz")
            };
            let needle: &[u8] = if bad_site { b"zzzzz" } else { b"/zz" };
            let mut bytes = good.as_bytes().to_vec();
            let at = bytes
                .windows(needle.len())
                .position(|w| w == needle)
                .unwrap();
            bytes[at + 1] = 0xff;
            let bad = RowBuf::from_valid_rows(Table::Events, 1, bytes, false, None);
            let err = m.insert(2, &bad).unwrap_err();
            assert!(err.to_string().contains("not utf-8"), "{err}");
        }
        assert_eq!(m.rows(), 1);
        let snap = m.snapshot();
        assert_eq!(snap.len(), 1);
        assert_eq!(snap[0].batch.row_count, 1);
        assert_eq!(snap[0].batch.columns[9].value(0), Value::Str("/zz"));
    }

    #[test]
    fn snapshots_seal_and_keep_earlier_batches() {
        let mut m = Memtable::default();
        for i in 0..(MEMTABLE_BATCH_ROWS + 10) {
            m.insert(i as u64 + 1, &event(i as i64, "a.com", "/p"))
                .unwrap();
        }
        let snap = m.snapshot();
        assert_eq!(snap.len(), 2);
        assert_eq!(snap[0].batch.row_count, MEMTABLE_BATCH_ROWS);
        assert_eq!(snap[1].batch.row_count, 10);
        assert_eq!(
            snap[1].time_range,
            Some((MEMTABLE_BATCH_ROWS as i64, MEMTABLE_BATCH_ROWS as i64 + 9))
        );
        m.insert(99_999, &event(1, "a.com", "/q")).unwrap();
        let again = m.snapshot();
        assert_eq!(again.len(), 2, "small builders are copied, not sealed");
        assert_eq!(again[1].batch.row_count, 11);
        let unchanged = m.snapshot();
        assert!(
            Arc::ptr_eq(&again[1], &unchanged[1]),
            "an unchanged partition is not copied again"
        );
        assert_eq!(snap[1].batch.row_count, 10, "old snapshot is unchanged");
    }
}
