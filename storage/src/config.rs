//! Store configuration: durability mode and memtable, dedup, WAL and compaction limits.

use crate::error::StoreError;

/// When an append is acknowledged, and what survives which failure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// Acknowledge after the rows are written to the WAL **and** the WAL is fsynced. Concurrent
    /// appends share one fsync (group commit).
    /// Process crash: nothing acknowledged is lost. Power loss: nothing acknowledged is lost.
    #[default]
    Fsync,
    /// Acknowledge after write(2) to the WAL; the writer fsyncs every `interval_ms`.
    /// Process crash: nothing acknowledged is lost (the bytes are in the OS page cache).
    /// Power loss: appends acknowledged in the last `interval_ms` (plus one fsync) may be lost;
    /// the WAL stays readable (a torn tail is truncated on open).
    Interval { interval_ms: u64 },
    /// Acknowledge after write(2); never fsync the WAL explicitly (segments and the manifest are
    /// still fsynced when written). Process crash: nothing acknowledged is lost. Power loss:
    /// whatever the OS had not written back yet (typically up to ~30 s) may be lost.
    None,
}

/// Configuration of a [`crate::Store`]. Defaults live in [`StoreConfig::default`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    pub durability: Durability,
    /// Flush the memtable to segments when its estimated heap size reaches this.
    pub memtable_max_bytes: usize,
    /// Flush the memtable when its oldest row is this old.
    pub memtable_max_age_ms: u64,
    /// An `events` row whose (site, event_id) arrived within this window is not stored again;
    /// 0 disables deduplication. The window costs 35–65 bytes of memory per key (a 64-bit hash
    /// and an arrival time in a hash map plus an eviction queue entry, depending on where the
    /// tables are in their growth), so at 1 000 events/s the default (10 minutes) holds ~20–40 MB.
    pub dedup_window_ms: u64,
    /// Most keys the dedup window holds, so its memory is bounded whatever the event rate
    /// (the default, 8 million keys, is 280–520 MB). Past it the oldest keys leave early: the
    /// window is then shorter than `dedup_window_ms` (at 1,000 events/s, 8M keys are ~2.2
    /// hours). 0 means no cap.
    pub dedup_max_keys: usize,
    /// Start a new WAL file when the current one reaches this size (WAL files also rotate at
    /// every flush).
    pub wal_file_max_bytes: u64,
    /// Segments smaller than this are compaction candidates.
    pub compaction_small_segment_bytes: u64,
    /// Background compaction of a partition starts when it has this many small segments of one
    /// size tier (row counts within a factor of 4), and merges those ([`crate::Store::compact`]
    /// merges any partition with two or more, of any size).
    pub compaction_min_segments: usize,
    /// Most rows merged into one segment by one compaction. Inputs are decoded whole while they
    /// are merged, so this bounds compaction's transient memory (a few hundred bytes per row),
    /// whatever the size of the partition; a segment of half this size or more is never merged
    /// again.
    pub compaction_max_rows: u64,
    /// How long the `event_id` values of `events` rows stay stored, counted from the arrival of
    /// the newest row of their segment: afterwards compaction rewrites the segment without them
    /// (the column reads as null), since they only serve the dedup window and would otherwise
    /// be the largest column (a random UUID is ~18 of ~32 bytes per stored event). The
    /// effective time is never shorter than `dedup_window_ms`, so `Some(0)` (the default) keeps
    /// them exactly as long as deduplication can need them; `None` keeps them forever.
    pub event_id_ttl_ms: Option<u64>,
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            durability: Durability::Fsync,
            memtable_max_bytes: 256 << 20,
            memtable_max_age_ms: 60_000,
            dedup_window_ms: 10 * 60 * 1000,
            dedup_max_keys: 8_000_000,
            wal_file_max_bytes: 64 << 20,
            compaction_small_segment_bytes: 16 << 20,
            compaction_min_segments: 4,
            compaction_max_rows: 500_000,
            event_id_ttl_ms: Some(0),
        }
    }
}

impl StoreConfig {
    pub fn validate(&self) -> Result<(), StoreError> {
        let fail = |msg: &str| Err(StoreError::Config(msg.to_string()));
        if let Durability::Interval { interval_ms } = self.durability {
            if interval_ms == 0 || interval_ms > 60_000 {
                return fail("durability interval_ms must be within 1..=60000");
            }
        }
        if self.memtable_max_bytes < 4096 {
            return fail("memtable_max_bytes must be at least 4096");
        }
        if self.memtable_max_age_ms == 0 {
            return fail("memtable_max_age_ms must be positive");
        }
        if self.wal_file_max_bytes < 4096 {
            return fail("wal_file_max_bytes must be at least 4096");
        }
        if self.compaction_min_segments < 2 {
            return fail("compaction_min_segments must be at least 2");
        }
        if self.compaction_max_rows < 2 {
            return fail("compaction_max_rows must be at least 2");
        }
        Ok(())
    }

    /// How long after arrival `event_id` values stay in segments (`None`: forever); see
    /// [`StoreConfig::event_id_ttl_ms`].
    pub fn event_id_keep_us(&self) -> Option<i64> {
        self.event_id_ttl_ms.map(|ttl| {
            let ms = ttl.max(self.dedup_window_ms);
            i64::try_from(ms.saturating_mul(1000)).unwrap_or(i64::MAX)
        })
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn default_is_valid_and_limits_are_checked() {
        assert!(StoreConfig::default().validate().is_ok());
        let bad = StoreConfig {
            durability: Durability::Interval { interval_ms: 0 },
            ..StoreConfig::default()
        };
        assert!(bad.validate().is_err());
        let bad = StoreConfig {
            memtable_max_bytes: 10,
            ..StoreConfig::default()
        };
        assert_eq!(
            bad.validate().unwrap_err().to_string(),
            "invalid store config: memtable_max_bytes must be at least 4096"
        );
    }
}
