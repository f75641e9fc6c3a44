//! Idempotency: remembers `(site, event_id)` keys of `events` rows for a window of arrival time,
//! so a retried event is stored once.
//!
//! Keys are 64-bit SipHash-1-3 values under a random per-process key (one hash pass per event;
//! nobody outside can aim collisions at it), so memory per key is fixed: 35–65 bytes (a 16-byte
//! map slot and a 16-byte eviction queue entry, times the tables' spare capacity), half of what
//! 128-bit keys took. A false "duplicate" needs two different keys to hash
//! alike: with K keys in the window, a new event is wrongly dropped with probability K / 2^64
//! (at 1,000 events/s and a 24 h window, once in ~2·10^11 events). The window is rebuilt on open
//! from the replayed WAL (which records arrival times) and from the `event_id` columns of
//! segments created within the window (using the segment's creation time as the arrival time
//! of its rows, which can only lengthen a key's stay, never shorten it).

use std::collections::hash_map::RandomState;
use std::collections::VecDeque;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use hashbrown::HashMap;

use crate::column::ColumnBatch;
use crate::row::{RowBuf, Value};
use crate::schema::{Schema, Table};

type Key = u64;

/// Keys are already uniform random hashes: the map uses them as they are.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

pub(crate) fn event_id_column(schema: &Schema) -> Option<usize> {
    (schema.table == Table::Events)
        .then(|| schema.index_of("event_id"))
        .flatten()
}

/// The dedup window. Owned by the WAL writer thread.
pub struct DedupWindow {
    window_us: i64,
    /// Most keys held (0: no cap); past it the oldest leave before their time.
    max_keys: usize,
    /// Random SipHash keys of this process.
    hasher: RandomState,
    /// Key → arrival time of its first occurrence in the window.
    seen: HashMap<Key, i64, BuildHasherDefault<KeyHasher>>,
    /// Arrival order, for eviction. Entries whose key was refreshed are skipped on eviction.
    order: VecDeque<(i64, Key)>,
    /// Keys inserted since the last [`DedupWindow::commit`], forgotten again by
    /// [`DedupWindow::rollback`] when their WAL write fails (so a retry is not a "duplicate").
    journal: Vec<Key>,
}

impl DedupWindow {
    /// A window of `window_ms` holding at most `max_keys` keys (0: no cap); a window of 0
    /// disables deduplication.
    pub fn new(window_ms: u64, max_keys: usize) -> DedupWindow {
        DedupWindow {
            window_us: i64::try_from(window_ms.saturating_mul(1000)).unwrap_or(i64::MAX),
            max_keys,
            hasher: RandomState::new(),
            seen: HashMap::default(),
            order: VecDeque::new(),
            journal: Vec::new(),
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    fn key(&self, site: &str, event_id: &str) -> Key {
        let mut h = self.hasher.build_hasher();
        // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        h.write_usize(site.len());
        h.write(site.as_bytes());
        h.write(event_id.as_bytes());
        h.finish()
    }

    fn evict(&mut self, now_us: i64) {
        let cutoff = now_us.saturating_sub(self.window_us);
        while let Some(&(at, key)) = self.order.front() {
            if at >= cutoff {
                break;
            }
            self.order.pop_front();
            if self.seen.get(&key) == Some(&at) {
                self.seen.remove(&key);
            }
        }
    }

    /// The cap: before a new key goes in, the oldest keys leave early, so memory is bounded at
    /// any event rate.
    fn make_room(&mut self) {
        while self.max_keys > 0 && self.seen.len() >= self.max_keys {
            let Some((at, key)) = self.order.pop_front() else {
                break;
            };
            if self.seen.get(&key) == Some(&at) {
                self.seen.remove(&key);
            }
        }
    }

    /// Records the key; returns true if it was already seen within the window.
    pub fn check_and_insert(&mut self, site: &str, event_id: &str, arrival_us: i64) -> bool {
        if self.window_us == 0 {
            return false;
        }
        self.evict(arrival_us);
        let key = self.key(site, event_id);
        let cutoff = arrival_us.saturating_sub(self.window_us);
        if self.max_keys == 0 || self.seen.len() < self.max_keys {
            // Below the cap nothing has to leave first: one probe finds or places the key.
            match self.seen.entry(key) {
                hashbrown::hash_map::Entry::Occupied(mut seen) => {
                    if *seen.get() >= cutoff {
                        return true;
                    }
                    seen.insert(arrival_us);
                }
                hashbrown::hash_map::Entry::Vacant(slot) => {
                    slot.insert(arrival_us);
                }
            }
        } else {
            if let Some(&at) = self.seen.get(&key) {
                if at >= cutoff {
                    return true;
                }
            }
            self.make_room();
            self.seen.insert(key, arrival_us);
        }
        self.order.push_back((arrival_us, key));
        self.journal.push(key);
        false
    }

    /// Keeps the keys inserted since the last commit.
    pub fn commit(&mut self) {
        self.journal.clear();
    }

    /// Forgets the keys inserted since the last commit.
    pub fn rollback(&mut self) {
        for key in self.journal.drain(..) {
            self.seen.remove(&key);
        }
    }

    /// Removes the rows of `rows` already seen (and duplicates within `rows`), recording the new
    /// keys. Returns the rows to store (the same buffer when nothing was removed) and the
    /// indexes, ascending, of the rows dropped (empty, without allocating, when none were). Only
    /// the site and event_id values are decoded; kept rows are copied as bytes.
    pub fn filter(&mut self, rows: RowBuf, arrival_us: i64) -> (RowBuf, Vec<u32>) {
        let schema = rows.table().schema();
        let Some(id_col) =
            event_id_column(schema).filter(|_| self.window_us > 0 && rows.may_have_event_ids())
        else {
            return (rows, Vec::new());
        };
        // Bytes and row offsets of the rows to keep, only built once a duplicate shows up.
        let mut kept: Option<(Vec<u8>, Option<Vec<u32>>)> = None;
        let mut starts: Vec<usize> = Vec::new();
        let mut dropped: Vec<u32> = Vec::new();
        let mut reader = rows.reader();
        loop {
            let start = reader.position();
            let Ok(Some((site, id))) = reader.next_row_pick(schema.site_column, id_col) else {
                break;
            };
            let duplicate = match (site, id) {
                (Value::Str(site), Value::Str(id)) => self.check_and_insert(site, id, arrival_us),
                (Value::Null, Value::Str(id)) => self.check_and_insert("", id, arrival_us),
                _ => false,
            };
            let end = reader.position();
            if duplicate {
                if kept.is_none() {
                    // Every row before this one is kept.
                    let offsets = starts.iter().map(|&s| u32::try_from(s).ok()).collect();
                    kept = Some((rows.as_bytes()[..start].to_vec(), offsets));
                }
                dropped.push(starts.len() as u32);
            } else if let Some((bytes, offsets)) = kept.as_mut() {
                let offset = u32::try_from(bytes.len()).ok();
                *offsets = offsets.take().zip(offset).map(|(mut o, offset)| {
                    o.push(offset);
                    o
                });
                bytes.extend_from_slice(&rows.as_bytes()[start..end]);
            }
            starts.push(start);
        }
        match kept {
            None => (rows, dropped),
            Some((bytes, offsets)) => {
                let count = starts.len() - dropped.len();
                (
                    RowBuf::from_valid_rows(rows.table(), count, bytes, true, offsets),
                    dropped,
                )
            }
        }
    }

    /// Records the keys of replayed rows without filtering them.
    pub fn remember_rows(&mut self, rows: &RowBuf, arrival_us: i64) {
        let schema = rows.table().schema();
        let Some(id_col) = event_id_column(schema).filter(|_| rows.may_have_event_ids()) else {
            return;
        };
        let mut reader = rows.reader();
        while let Ok(Some((site, id))) = reader.next_row_pick(schema.site_column, id_col) {
            if let Value::Str(id) = id {
                let site = if let Value::Str(s) = site { s } else { "" };
                self.check_and_insert(site, id, arrival_us);
            }
        }
    }

    /// Records the keys of a segment batch carrying the `site` and `event_id` columns.
    pub fn remember_batch(&mut self, schema: &Schema, batch: &ColumnBatch, arrival_us: i64) {
        let Some(id_col) = event_id_column(schema) else {
            return;
        };
        let (Some(sites), Some(ids)) = (batch.column(schema.site_column), batch.column(id_col))
        else {
            return;
        };
        for row in 0..batch.row_count {
            if let Value::Str(id) = ids.value(row) {
                let site = if let Value::Str(s) = sites.value(row) {
                    s
                } else {
                    ""
                };
                self.check_and_insert(site, id, arrival_us);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use super::*;

    fn events(ids: &[&str]) -> RowBuf {
        let mut buf = RowBuf::new(Table::Events);
        let mut row = vec![Value::Null; Table::Events.schema().len()];
        row[1] = Value::Str("a.com");
        for id in ids {
            row[4] = Value::Str(id);
            buf.push_row(&row).unwrap();
        }
        buf
    }

    #[test]
    fn duplicates_within_the_window_are_dropped() {
        let mut w = DedupWindow::new(1_000, 0);
        let (kept, dropped) = w.filter(events(&["a", "b", "a"]), 0);
        assert_eq!((kept.row_count(), dropped), (2, vec![2]));
        let (kept, dropped) = w.filter(events(&["b", "c"]), 999_999);
        assert_eq!((kept.row_count(), dropped), (1, vec![0]));
        // "a" arrived at 0 and has left the window at 1_000_001.
        let (kept, dropped) = w.filter(events(&["a", "c"]), 1_000_001);
        assert_eq!((kept.row_count(), dropped), (1, vec![1]));
        assert!(!w.check_and_insert("other.com", "c", 1_000_002));
    }

    fn ids_of(rows: &RowBuf) -> Vec<String> {
        let mut reader = rows.reader();
        let mut ids = Vec::new();
        while let Some((_, id)) = reader.next_row_pick(1, 4).unwrap() {
            let Value::Str(id) = id else { panic!("no id") };
            ids.push(id.to_string());
        }
        ids
    }

    #[test]
    fn kept_rows_know_their_offsets_and_buffers_without_offsets_filter_alike() {
        let source = events(&["a", "b", "a", "c", "b", "d"]);
        let without_offsets = RowBuf::from_valid_rows(
            Table::Events,
            source.row_count(),
            source.as_bytes().to_vec(),
            true,
            None,
        );
        let mut results = Vec::new();
        for rows in [source, without_offsets] {
            let mut w = DedupWindow::new(1_000, 0);
            let (kept, dropped) = w.filter(rows, 0);
            assert_eq!(dropped, vec![2, 4]);
            assert_eq!(ids_of(&kept), ["a", "b", "c", "d"]);
            let checked = RowBuf::from_bytes(Table::Events, kept.as_bytes().to_vec()).unwrap();
            assert_eq!(checked, kept);
            // The kept buffer filtered again (through its offsets) finds every id a duplicate.
            let (again, dropped) = w.filter(kept.clone(), 1);
            assert_eq!((again.row_count(), dropped), (0, vec![0, 1, 2, 3]));
            results.push(kept);
        }
        assert_eq!(results[0], results[1]);

        // Offsets are recorded from the first row with an id on (earlier ones found by a walk).
        let mut mixed = RowBuf::new(Table::Events);
        let mut row = vec![Value::Null; Table::Events.schema().len()];
        row[1] = Value::Str("a.com");
        mixed.push_row(&row).unwrap();
        for id in ["x", "y", "x"] {
            row[4] = Value::Str(id);
            mixed.push_row(&row).unwrap();
        }
        let mut w = DedupWindow::new(1_000, 0);
        let (kept, dropped) = w.filter(mixed, 0);
        assert_eq!((kept.row_count(), dropped), (3, vec![3]));
        let mut reader = kept.reader();
        let mut ids = Vec::new();
        while let Some((_, id)) = reader.next_row_pick(1, 4).unwrap() {
            ids.push(id);
        }
        assert_eq!(ids, [Value::Null, Value::Str("x"), Value::Str("y")]);
    }

    #[test]
    fn buffers_without_event_ids_are_kept_whole() {
        let mut w = DedupWindow::new(1_000, 0);
        let mut buf = RowBuf::new(Table::Events);
        let mut row = vec![Value::Null; Table::Events.schema().len()];
        row[1] = Value::Str("a.com");
        buf.push_row(&row).unwrap();
        buf.push_row(&row).unwrap();
        assert!(!buf.may_have_event_ids());
        let (kept, dropped) = w.filter(buf.clone(), 0);
        assert_eq!((kept, dropped), (buf, vec![]));
        assert!(w.is_empty());
    }

    #[test]
    fn the_key_cap_evicts_the_oldest_keys_first() {
        let mut w = DedupWindow::new(1_000_000, 3);
        let (kept, _) = w.filter(events(&["a", "b", "c", "d"]), 0);
        assert_eq!(kept.row_count(), 4);
        assert_eq!(w.len(), 3, "the cap holds");
        // "a" left early; "b".."d" are still remembered
        let (kept, dropped) = w.filter(events(&["d", "c", "a"]), 1);
        assert_eq!((kept.row_count(), dropped), (1, vec![0, 1]));
        assert!(w.len() <= 3);
    }

    #[test]
    fn rollback_forgets_uncommitted_keys() {
        let mut w = DedupWindow::new(1_000, 0);
        w.filter(events(&["a"]), 0);
        w.commit();
        let (_, dropped) = w.filter(events(&["a", "b"]), 1);
        assert_eq!(dropped, vec![0]);
        w.rollback();
        let (kept, dropped) = w.filter(events(&["a", "b"]), 2);
        assert_eq!(
            (kept.row_count(), dropped),
            (1, vec![0]),
            "b was rolled back, a was committed"
        );
    }

    #[test]
    fn zero_window_disables_dedup() {
        let mut w = DedupWindow::new(0, 0);
        let (kept, dropped) = w.filter(events(&["a", "a"]), 0);
        assert_eq!((kept.row_count(), dropped), (2, vec![]));
        assert!(w.is_empty());
    }

    #[test]
    fn eviction_bounds_memory() {
        let mut w = DedupWindow::new(1, 0);
        for i in 0..10_000 {
            w.check_and_insert("s", &i.to_string(), i * 100);
        }
        assert!(w.len() <= 11, "{}", w.len());
    }
}
