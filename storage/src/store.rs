//! The store: the public API tying together the WAL writer thread, the memtable, the flusher and
//! compactor threads, and the manifest.
//!
//! Threads: appends go through a bounded channel to one WAL writer thread (group commit, dedup),
//! which hands each durable group to an applier thread (memtable insert, then the
//! acknowledgements) while it writes the next; frozen memtables go to one flusher thread that
//! writes segments and the manifest; a compactor thread merges small segments after flushes. Callers never wait on
//! fsync or zstd except through [`AppendTicket`] or the explicitly blocking maintenance calls.

use std::fs::File;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread::JoinHandle;

use crossbeam_channel::{Sender, TrySendError};
use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::compaction::{CompactMsg, CompactionReport};
use crate::config::StoreConfig;
use crate::error::{AppendError, StoreError};
use crate::flush::FlushMsg;
use crate::manifest::{Manifest, SegmentEntry};
use crate::memtable::{FrozenMemtable, Memtable};
use crate::retention::{EraseReport, RetentionReport};
use crate::row::RowBuf;
use crate::schema::Table;
use crate::segment::Segment;
use crate::snapshot::Snapshot;
use crate::writer::WriterMsg;

/// How many appends may wait for the WAL writer thread. One group commit drains up to
/// [`crate::writer::MAX_GROUP_APPENDS`] of them, so this is several fsyncs' worth of work; when
/// it is full, appends fail fast with [`AppendError::Overloaded`] instead of blocking the caller.
pub const APPEND_QUEUE_CAPACITY: usize = 8192;

/// What an acknowledged append stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppendReceipt {
    pub rows_written: usize,
    /// `events` rows dropped because their (site, event_id) was seen within the dedup window.
    pub rows_deduplicated: usize,
    /// Indexes, ascending, of those dropped rows in the appended buffer, so a caller can leave
    /// them out of anything else it derives from the batch (live figures, sessions). Empty, and
    /// not allocated, when nothing was dropped.
    pub duplicate_rows: Vec<u32>,
}

pub(crate) type AppendResult = Result<AppendReceipt, AppendError>;

/// Resolves when the appended rows are durable as [`crate::Durability`] says (or the append
/// failed). Await it from async code, or call [`AppendTicket::wait`] from a plain thread.
#[must_use = "an append is only acknowledged when its ticket resolves"]
pub struct AppendTicket {
    state: TicketState,
}

enum TicketState {
    Ready(Option<AppendResult>),
    Waiting(oneshot::Receiver<AppendResult>),
}

impl AppendTicket {
    fn ready(result: AppendResult) -> AppendTicket {
        AppendTicket {
            state: TicketState::Ready(Some(result)),
        }
    }

    /// Blocks the current thread until the append resolves. Must not be called from an async
    /// context (await the ticket there).
    pub fn wait(self) -> AppendResult {
        match self.state {
            TicketState::Ready(result) => result.unwrap_or(Err(AppendError::Closed)),
            TicketState::Waiting(rx) => rx.blocking_recv().unwrap_or(Err(AppendError::Closed)),
        }
    }
}

impl Future for AppendTicket {
    type Output = AppendResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<AppendResult> {
        match &mut self.get_mut().state {
            TicketState::Ready(result) => {
                Poll::Ready(result.take().unwrap_or(Err(AppendError::Closed)))
            }
            TicketState::Waiting(rx) => Pin::new(rx)
                .poll(cx)
                .map(|r| r.unwrap_or(Err(AppendError::Closed))),
        }
    }
}

/// A segment that is part of the store, open and mapped.
#[derive(Debug)]
pub(crate) struct LiveSegment {
    pub entry: SegmentEntry,
    pub table: Table,
    pub segment: Segment,
}

/// What readers and manifest writers share, behind `Shared::state`.
pub(crate) struct State {
    /// The manifest as last committed (plus `next_segment_id` bumps not yet persisted).
    pub manifest: Manifest,
    /// Open segments, parallel to `manifest.segments`.
    pub segments: Vec<Arc<LiveSegment>>,
    /// Frozen memtables being flushed, oldest first; readers still see their rows.
    pub flushing: Vec<Arc<FrozenMemtable>>,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub fsync_count: AtomicU64,
    pub fsync_total_us: AtomicU64,
    pub fsync_last_us: AtomicU64,
    pub fsync_max_us: AtomicU64,
    pub rows_written: AtomicU64,
    pub rows_deduplicated: AtomicU64,
    pub next_lsn: AtomicU64,
}

pub(crate) struct Shared {
    pub dir: PathBuf,
    pub wal_dir: PathBuf,
    pub segments_dir: PathBuf,
    pub config: StoreConfig,
    /// Lock order: `memtable` before `state`; `maintenance` before `manifest_lock` before `state`.
    pub memtable: Mutex<Memtable>,
    pub state: Mutex<State>,
    /// Held while a new manifest is computed, written and installed.
    pub manifest_lock: Mutex<()>,
    /// Serializes compaction, retention and erasure.
    pub maintenance: Mutex<()>,
    pub poisoned: AtomicBool,
    pub counters: Counters,
    pub compact_tx: Mutex<Option<Sender<CompactMsg>>>,
}

impl Shared {
    pub(crate) fn segment_path(&self, file: &str) -> PathBuf {
        self.segments_dir.join(file)
    }

    pub(crate) fn alloc_segment_name(&self) -> String {
        let mut state = self.state.lock();
        let id = state.manifest.next_segment_id;
        state.manifest.next_segment_id += 1;
        Manifest::segment_file_name(id)
    }

    /// Installs a new manifest: `change` edits copies of the manifest and segment list, the
    /// result is written atomically, then swapped in together with `install` (under the state
    /// lock, so snapshots see the old or the new state, never a mix).
    pub(crate) fn commit(
        &self,
        change: impl FnOnce(&mut Manifest, &mut Vec<Arc<LiveSegment>>),
        install: impl FnOnce(&mut State),
    ) -> Result<(), StoreError> {
        let _guard = self.manifest_lock.lock();
        let (mut manifest, mut segments) = {
            let state = self.state.lock();
            (state.manifest.clone(), state.segments.clone())
        };
        change(&mut manifest, &mut segments);
        manifest.segments = segments.iter().map(|s| s.entry.clone()).collect();
        manifest.store(&self.dir)?;
        let mut state = self.state.lock();
        manifest.next_segment_id = manifest.next_segment_id.max(state.manifest.next_segment_id);
        state.manifest = manifest;
        state.segments = segments;
        install(&mut state);
        Ok(())
    }

    pub(crate) fn poke_compactor(&self) {
        if let Some(tx) = self.compact_tx.lock().as_ref() {
            let _ = tx.try_send(CompactMsg::Run);
        }
    }
}

/// Aggregated numbers for `/metrics` and tests.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoreStats {
    pub memtable_rows: usize,
    pub memtable_bytes: usize,
    /// Rows of frozen memtables still being written to segments.
    pub flushing_rows: usize,
    pub segment_count: usize,
    pub segment_rows: u64,
    pub segment_bytes: u64,
    pub wal_files: usize,
    pub wal_bytes: u64,
    pub checkpoint_lsn: u64,
    pub next_lsn: u64,
    pub rows_written: u64,
    pub rows_deduplicated: u64,
    pub fsync_count: u64,
    pub fsync_last_us: u64,
    pub fsync_avg_us: u64,
    pub fsync_max_us: u64,
    pub poisoned: bool,
}

struct Inner {
    shared: Arc<Shared>,
    writer_tx: Sender<WriterMsg>,
    flush_tx: Sender<FlushMsg>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    closed: AtomicBool,
    /// Exclusive `flock` on `<dir>/LOCK`, held for the store's life.
    _lock_file: File,
}

/// The store. Cheap to clone (an `Arc` inside); `Send + Sync`.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl Store {
    /// Opens (or creates) the store in `dir`: loads the manifest, opens the segments
    /// (quarantining corrupt ones), replays the WAL after the checkpoint and starts the threads.
    /// Blocking.
    pub fn open(dir: &Path, config: StoreConfig) -> Result<Store, StoreError> {
        let opened = crate::recovery::open(dir, config)?;
        let shared = opened.shared;
        let (flush_tx, flush_rx) = crossbeam_channel::bounded(crate::flush::FLUSH_QUEUE_CAPACITY);
        let (compact_tx, compact_rx) =
            crossbeam_channel::bounded(crate::compaction::COMPACT_QUEUE_CAPACITY);
        let (writer_tx, writer_rx) = crossbeam_channel::bounded(APPEND_QUEUE_CAPACITY);
        *shared.compact_tx.lock() = Some(compact_tx);
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.to_string())
                .spawn(f)
                .map_err(|e| StoreError::io(dir, e))
        };
        let mut threads = Vec::new();
        let s = shared.clone();
        threads.push(spawn(
            "store-compactor",
            Box::new(move || crate::compaction::run_compactor(s, compact_rx)),
        )?);
        let s = shared.clone();
        threads.push(spawn(
            "store-flusher",
            Box::new(move || crate::flush::run_flusher(s, flush_rx)),
        )?);
        let (apply_tx, apply_rx) = crossbeam_channel::bounded(crate::writer::APPLY_QUEUE_CAPACITY);
        let freeze_queued = Arc::new(AtomicBool::new(false));
        let s = shared.clone();
        let ftx = flush_tx.clone();
        let queued = freeze_queued.clone();
        threads.push(spawn(
            "store-applier",
            Box::new(move || crate::writer::run_applier(s, apply_rx, ftx, queued)),
        )?);
        let s = shared.clone();
        let writer_state = opened.writer;
        threads.push(spawn(
            "store-wal-writer",
            Box::new(move || {
                crate::writer::run_writer(s, writer_state, writer_rx, apply_tx, freeze_queued)
            }),
        )?);
        Ok(Store {
            inner: Arc::new(Inner {
                shared,
                writer_tx,
                flush_tx,
                threads: Mutex::new(threads),
                closed: AtomicBool::new(false),
                _lock_file: opened.lock_file,
            }),
        })
    }

    /// Enqueues rows for the WAL writer; never blocks. The ticket resolves when they are durable.
    pub fn append(&self, rows: RowBuf) -> AppendTicket {
        if self.inner.closed.load(Ordering::Acquire) {
            return AppendTicket::ready(Err(AppendError::Closed));
        }
        if self.inner.shared.poisoned.load(Ordering::Acquire) {
            return AppendTicket::ready(Err(AppendError::Poisoned));
        }
        if rows.is_empty() {
            return AppendTicket::ready(Ok(AppendReceipt::default()));
        }
        let (reply, rx) = oneshot::channel();
        match self
            .inner
            .writer_tx
            .try_send(WriterMsg::Append { rows, reply })
        {
            Ok(()) => AppendTicket {
                state: TicketState::Waiting(rx),
            },
            Err(TrySendError::Full(_)) => AppendTicket::ready(Err(AppendError::Overloaded)),
            Err(TrySendError::Disconnected(_)) => AppendTicket::ready(Err(AppendError::Closed)),
        }
    }

    /// Freezes the memtable and waits until its rows are in segments and the manifest. Blocking.
    pub fn flush(&self) -> Result<(), StoreError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let (done, rx) = crossbeam_channel::bounded(1);
        self.inner
            .writer_tx
            .send(WriterMsg::Freeze { done: Some(done) })
            .map_err(|_| StoreError::Closed)?;
        rx.recv().map_err(|_| StoreError::Closed)?
    }

    /// Merges the small segments of every partition that has two or more. Blocking.
    pub fn compact(&self) -> Result<CompactionReport, StoreError> {
        crate::compaction::compact(&self.inner.shared, 2)
    }

    /// Flushes, then drops every partition whose day is `days` or more days before the UTC day
    /// of `now_us` (so `days = 1` keeps only today). Blocking.
    pub fn retain_days(&self, days: u32, now_us: i64) -> Result<RetentionReport, StoreError> {
        self.flush()?;
        crate::retention::retain_days(&self.inner.shared, days, now_us)
    }

    /// Flushes, then rewrites the segments of `site` without the rows whose `visitor_id` is in
    /// `visitor_ids` or whose `user_id` is in `user_ids`. Rows appended after the call starts
    /// are not affected. WAL files holding the erased rows are deleted by the flush. Blocking.
    pub fn erase(
        &self,
        site: &str,
        visitor_ids: &[&str],
        user_ids: &[&str],
    ) -> Result<EraseReport, StoreError> {
        self.flush()?;
        crate::retention::erase(&self.inner.shared, site, visitor_ids, user_ids)
    }

    /// Reads every block of every segment and quarantines the segments whose checksums fail
    /// (their rows are lost; the rest of the store is unaffected). Blocking; reads everything.
    pub fn scrub(&self) -> Result<crate::scrub::ScrubReport, StoreError> {
        crate::scrub::scrub(&self.inner.shared)
    }

    /// A consistent, immutable view of segments and memtable rows. Cheap.
    pub fn snapshot(&self) -> Snapshot {
        let shared = &self.inner.shared;
        let mut memtable = shared.memtable.lock();
        let mut batches = memtable.snapshot();
        let state = shared.state.lock();
        drop(memtable);
        for frozen in state.flushing.iter().rev() {
            batches.extend(frozen.batches.iter().cloned());
        }
        Snapshot::new(state.segments.clone(), batches)
    }

    #[cfg(test)]
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    pub fn stats(&self) -> StoreStats {
        let shared = &self.inner.shared;
        let (memtable_rows, memtable_bytes) = {
            let m = shared.memtable.lock();
            (m.rows(), m.bytes())
        };
        let mut stats = StoreStats {
            memtable_rows,
            memtable_bytes,
            ..StoreStats::default()
        };
        {
            let state = shared.state.lock();
            stats.flushing_rows = state.flushing.iter().map(|f| f.rows).sum();
            stats.segment_count = state.segments.len();
            stats.segment_rows = state.segments.iter().map(|s| s.entry.row_count).sum();
            stats.segment_bytes = state.segments.iter().map(|s| s.entry.file_bytes).sum();
            stats.checkpoint_lsn = state.manifest.checkpoint_lsn;
        }
        if let Ok(files) = crate::wal::list_files(&shared.wal_dir) {
            stats.wal_files = files.len();
            stats.wal_bytes = files
                .iter()
                .filter_map(|(_, p)| std::fs::metadata(p).ok())
                .map(|m| m.len())
                .sum();
        }
        let c = &shared.counters;
        stats.next_lsn = c.next_lsn.load(Ordering::Relaxed);
        stats.rows_written = c.rows_written.load(Ordering::Relaxed);
        stats.rows_deduplicated = c.rows_deduplicated.load(Ordering::Relaxed);
        stats.fsync_count = c.fsync_count.load(Ordering::Relaxed);
        stats.fsync_last_us = c.fsync_last_us.load(Ordering::Relaxed);
        stats.fsync_max_us = c.fsync_max_us.load(Ordering::Relaxed);
        stats.fsync_avg_us = c
            .fsync_total_us
            .load(Ordering::Relaxed)
            .checked_div(stats.fsync_count)
            .unwrap_or(0);
        stats.poisoned = shared.poisoned.load(Ordering::Relaxed);
        stats
    }

    /// Writes pending appends, flushes the memtable to segments, and stops the threads. Other
    /// clones see [`AppendError::Closed`] / [`StoreError::Closed`] afterwards. Blocking.
    pub fn close(self) -> Result<(), StoreError> {
        self.inner.shutdown(true)
    }
}

impl Inner {
    fn shutdown(&self, flush: bool) -> Result<(), StoreError> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let (done, rx) = crossbeam_channel::bounded(1);
        let flush_result = if self
            .writer_tx
            .send(WriterMsg::Shutdown {
                flush,
                done: Some(done),
            })
            .is_ok()
        {
            rx.recv().unwrap_or(Ok(()))
        } else {
            Ok(())
        };
        let _ = self.flush_tx.send(FlushMsg::Shutdown);
        if let Some(tx) = self.shared.compact_tx.lock().take() {
            let _ = tx.send(CompactMsg::Shutdown);
        }
        for handle in self.threads.lock().drain(..) {
            if handle.join().is_err() {
                tracing::error!("a store thread panicked");
            }
        }
        flush_result
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Without `close`, the WAL holds everything acknowledged; no flush needed.
        if let Err(error) = self.shutdown(false) {
            tracing::error!(%error, "store shutdown failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_send_sync<T: Send + Sync>() {}
    fn is_send<T: Send>() {}

    #[test]
    fn handles_cross_threads() {
        is_send_sync::<Store>();
        is_send_sync::<Snapshot>();
        is_send_sync::<crate::snapshot::ScanUnit>();
        is_send::<AppendTicket>();
    }
}
