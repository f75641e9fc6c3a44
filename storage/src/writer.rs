//! The WAL writer thread (group commit, deduplication) and the applier thread (memtable inserts
//! and acknowledgements).
//!
//! The writer takes every append waiting in the queue (up to [`MAX_GROUP_APPENDS`]), drops
//! duplicate events, writes all of them as one WAL frame and fsyncs once (in `Fsync` mode). It
//! then hands the group to the applier and starts on the next group, so the next group's write
//! and fsync overlap this group's memtable insert. The applier inserts the rows into the
//! memtable and only then completes the tickets: an append is acknowledged after it is durable
//! and after readers can see it. Groups reach the applier in LSN order through one channel, and
//! so do freezes (the writer rotates the WAL file first), so a frozen memtable holds exactly the
//! rows below the new WAL file. The writer decides when the memtable is frozen for a flush (size,
//! age, or an explicit request) and rotates WAL files.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use tokio::sync::oneshot;
use tracing::{error, warn};

use crate::config::Durability;
use crate::dedup::DedupWindow;
use crate::error::{is_disk_full, AppendError, StoreError};
use crate::flush::FlushMsg;
use crate::row::RowBuf;
use crate::store::{AppendReceipt, AppendResult, Shared};
use crate::wal::{encode_frame, WalWriter};

/// Most appends written as one WAL frame (one group commit).
pub const MAX_GROUP_APPENDS: usize = 1024;
/// A group stops taking appends once their rows reach this many bytes.
const MAX_GROUP_BYTES: usize = 16 << 20;
/// Longest the writer sleeps without checking its timers.
const IDLE_TICK: Duration = Duration::from_millis(500);
/// Groups written and fsynced but not yet applied. When the applier is this far behind, the
/// writer waits (and the append queue fills, so appends are refused as overloaded).
pub(crate) const APPLY_QUEUE_CAPACITY: usize = 4;

pub(crate) type Done = Sender<Result<(), StoreError>>;

pub(crate) enum WriterMsg {
    Append {
        rows: RowBuf,
        reply: oneshot::Sender<AppendResult>,
    },
    /// Freeze the memtable and flush it; `done` resolves when it is in segments.
    Freeze { done: Option<Done> },
    /// Write what is queued, fsync, optionally flush, and stop.
    Shutdown { flush: bool, done: Option<Done> },
}

/// Work for the applier thread, in LSN order.
pub(crate) enum ApplyMsg {
    /// A durable group: insert `records` (WAL records `first_lsn`..) into the memtable, then send
    /// the replies (rows written, duplicate row indexes). A group whose rows were all duplicates
    /// has no records but still goes through here, so no reply overtakes an earlier group's.
    Group {
        first_lsn: u64,
        records: Vec<RowBuf>,
        replies: Vec<Reply>,
    },
    /// Freeze the memtable (the writer has rotated the WAL file) and flush it.
    Freeze { done: Option<Done> },
    /// Apply what is queued, optionally freeze and flush, and stop.
    Shutdown { flush: bool, done: Option<Done> },
}

type Reply = (oneshot::Sender<AppendResult>, usize, Vec<u32>);

/// What the writer thread owns, prepared by recovery.
pub(crate) struct WriterState {
    pub wal: WalWriter,
    pub dedup: DedupWindow,
    pub next_lsn: u64,
}

pub(crate) fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

struct Writer {
    shared: Arc<Shared>,
    state: WriterState,
    apply_tx: Sender<ApplyMsg>,
    /// A size or age freeze is queued at the applier: the memtable still looks full until it
    /// is done, so the timers must not ask again.
    freeze_queued: Arc<AtomicBool>,
    /// When the oldest write not yet fsynced happened (`Interval` mode).
    unsynced_since: Option<Instant>,
}

pub(crate) fn run_writer(
    shared: Arc<Shared>,
    state: WriterState,
    rx: Receiver<WriterMsg>,
    apply_tx: Sender<ApplyMsg>,
    freeze_queued: Arc<AtomicBool>,
) {
    let mut writer = Writer {
        shared,
        state,
        apply_tx,
        freeze_queued,
        unsynced_since: None,
    };
    loop {
        let first = match rx.recv_timeout(writer.next_timeout()) {
            Ok(msg) => msg,
            Err(RecvTimeoutError::Timeout) => {
                writer.on_timers();
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => {
                writer.sync_if_needed();
                return;
            }
        };
        let mut group = Vec::new();
        let mut group_bytes = 0;
        let mut control = None;
        match first {
            WriterMsg::Append { rows, reply } => {
                group_bytes += rows.as_bytes().len();
                group.push((rows, reply));
            }
            other => control = Some(other),
        }
        while control.is_none() && group.len() < MAX_GROUP_APPENDS && group_bytes < MAX_GROUP_BYTES
        {
            match rx.try_recv() {
                Ok(WriterMsg::Append { rows, reply }) => {
                    group_bytes += rows.as_bytes().len();
                    group.push((rows, reply));
                }
                Ok(other) => control = Some(other),
                Err(_) => break,
            }
        }
        if !group.is_empty() {
            writer.write_group(group);
        }
        writer.on_timers();
        match control {
            None => {}
            Some(WriterMsg::Freeze { done }) => writer.freeze(done),
            Some(WriterMsg::Shutdown { flush, done }) => {
                let mut rest = Vec::new();
                while let Ok(msg) = rx.try_recv() {
                    match msg {
                        WriterMsg::Append { rows, reply } => rest.push((rows, reply)),
                        WriterMsg::Freeze { done } | WriterMsg::Shutdown { done, .. } => {
                            if let Some(done) = done {
                                let _ = done.send(Err(StoreError::Closed));
                            }
                        }
                    }
                }
                if !rest.is_empty() {
                    writer.write_group(rest);
                }
                writer.sync_if_needed();
                if flush && writer.has_rows() {
                    writer.rotate();
                }
                writer.send_apply(ApplyMsg::Shutdown { flush, done });
                return;
            }
            Some(WriterMsg::Append { .. }) => unreachable!("appends never become control messages"),
        }
    }
}

/// The applier thread: inserts durable groups into the memtable, acknowledges them, and freezes
/// the memtable when the writer asks. Stops at `Shutdown` or when the writer is gone.
pub(crate) fn run_applier(
    shared: Arc<Shared>,
    rx: Receiver<ApplyMsg>,
    flush_tx: Sender<FlushMsg>,
    freeze_queued: Arc<AtomicBool>,
) {
    let applier = Applier { shared, flush_tx };
    while let Ok(msg) = rx.recv() {
        match msg {
            ApplyMsg::Group {
                first_lsn,
                records,
                replies,
            } => applier.apply(first_lsn, &records, replies),
            ApplyMsg::Freeze { done } => {
                applier.freeze(done);
                freeze_queued.store(false, Ordering::Release);
            }
            ApplyMsg::Shutdown { flush, done } => {
                if flush {
                    applier.freeze(done);
                } else if let Some(done) = done {
                    let _ = done.send(Ok(()));
                }
                return;
            }
        }
    }
}

struct Applier {
    shared: Arc<Shared>,
    flush_tx: Sender<FlushMsg>,
}

impl Applier {
    fn apply(&self, first_lsn: u64, records: &[RowBuf], replies: Vec<Reply>) {
        if !records.is_empty() {
            let mut memtable = self.shared.memtable.lock();
            for (i, rows) in records.iter().enumerate() {
                if let Err(error) = memtable.insert(first_lsn + i as u64, rows) {
                    error!(%error, "validated rows failed to decode into the memtable");
                }
            }
            drop(memtable);
            self.shared
                .counters
                .next_lsn
                .store(first_lsn + records.len() as u64, Ordering::Release);
        }
        let c = &self.shared.counters;
        for (reply, rows_written, duplicate_rows) in replies {
            c.rows_written
                .fetch_add(rows_written as u64, Ordering::Relaxed);
            c.rows_deduplicated
                .fetch_add(duplicate_rows.len() as u64, Ordering::Relaxed);
            let _ = reply.send(Ok(AppendReceipt {
                rows_written,
                rows_deduplicated: duplicate_rows.len(),
                duplicate_rows,
            }));
        }
    }

    /// Moves the memtable to the flusher (its rows stay visible to readers until the segments
    /// replace them). With an empty memtable, `done` resolves once earlier flushes finished.
    fn freeze(&self, done: Option<Done>) {
        let frozen = {
            let mut memtable = self.shared.memtable.lock();
            if memtable.is_empty() {
                None
            } else {
                let frozen = Arc::new(memtable.freeze());
                self.shared.state.lock().flushing.push(frozen.clone());
                Some(frozen)
            }
        };
        let msg = match frozen {
            Some(frozen) => FlushMsg::Flush { frozen, done },
            None => FlushMsg::Barrier(done),
        };
        if self.flush_tx.send(msg).is_err() {
            error!("flusher thread is gone, memtable rows stay in the wal");
        }
    }
}

impl Writer {
    fn next_timeout(&self) -> Duration {
        let mut timeout = IDLE_TICK;
        if let (Some(since), Durability::Interval { interval_ms }) =
            (self.unsynced_since, self.shared.config.durability)
        {
            let due = since + Duration::from_millis(interval_ms);
            timeout = timeout.min(due.saturating_duration_since(Instant::now()));
        }
        if self.freeze_queued.load(Ordering::Acquire) {
            return timeout;
        }
        if let Some(first) = self.shared.memtable.lock().first_row_at() {
            let due = first + Duration::from_millis(self.shared.config.memtable_max_age_ms);
            timeout = timeout.min(due.saturating_duration_since(Instant::now()));
        }
        timeout
    }

    fn on_timers(&mut self) {
        if let (Some(since), Durability::Interval { interval_ms }) =
            (self.unsynced_since, self.shared.config.durability)
        {
            if since.elapsed() >= Duration::from_millis(interval_ms) {
                self.sync_if_needed();
            }
        }
        if self.freeze_queued.load(Ordering::Acquire) {
            return;
        }
        let (bytes, first) = {
            let m = self.shared.memtable.lock();
            (m.bytes(), m.first_row_at())
        };
        let too_old = first.is_some_and(|t| {
            t.elapsed() >= Duration::from_millis(self.shared.config.memtable_max_age_ms)
        });
        if bytes >= self.shared.config.memtable_max_bytes || too_old {
            self.freeze_queued.store(true, Ordering::Release);
            self.freeze(None);
        }
    }

    /// Whether rows are in the memtable or on their way to it.
    fn has_rows(&self) -> bool {
        let applied = self.shared.counters.next_lsn.load(Ordering::Acquire);
        applied != self.state.next_lsn || !self.shared.memtable.lock().is_empty()
    }

    /// Sends to the applier. It only stops after `Shutdown` (or by a panic): if it is gone, the
    /// replies in `msg` are dropped, which their tickets see as a closed store, and the store is
    /// poisoned since nothing can be acknowledged any more.
    fn send_apply(&self, msg: ApplyMsg) {
        if self.apply_tx.send(msg).is_err() {
            error!("applier thread is gone: appends are written but not acknowledged");
            self.shared.poisoned.store(true, Ordering::Release);
        }
    }

    fn poison(&self, error: &std::io::Error) {
        error!(path = %self.state.wal.path().display(), %error, "wal fsync failed, store poisoned");
        self.shared.poisoned.store(true, Ordering::Release);
    }

    /// fsyncs the WAL, timing it. Returns false (and poisons the store) on failure.
    fn sync(&mut self) -> bool {
        let started = Instant::now();
        if let Err(e) = self.state.wal.sync() {
            self.poison(&e);
            return false;
        }
        let us = started.elapsed().as_micros() as u64;
        let c = &self.shared.counters;
        c.fsync_count.fetch_add(1, Ordering::Relaxed);
        c.fsync_total_us.fetch_add(us, Ordering::Relaxed);
        c.fsync_last_us.store(us, Ordering::Relaxed);
        c.fsync_max_us.fetch_max(us, Ordering::Relaxed);
        self.unsynced_since = None;
        true
    }

    fn sync_if_needed(&mut self) {
        if self.unsynced_since.is_some() && !self.shared.poisoned.load(Ordering::Acquire) {
            self.sync();
        }
    }

    /// Starts a new WAL file at `next_lsn`, so older files hold only LSNs below it.
    fn rotate(&mut self) {
        if self.state.wal.first_lsn() == self.state.next_lsn {
            return;
        }
        if self.shared.config.durability != Durability::None {
            self.unsynced_since.get_or_insert_with(Instant::now);
            self.sync_if_needed();
        }
        match WalWriter::create(&self.shared.wal_dir, self.state.next_lsn) {
            Ok(wal) => self.state.wal = wal,
            Err(error) => warn!(%error, "cannot start a new wal file, continuing in the old one"),
        }
    }

    fn write_group(&mut self, group: Vec<(RowBuf, oneshot::Sender<AppendResult>)>) {
        let fail_all = |group: Vec<oneshot::Sender<AppendResult>>, error: AppendError| {
            for reply in group {
                let _ = reply.send(Err(error.clone()));
            }
        };
        if self.shared.poisoned.load(Ordering::Acquire) || self.state.wal.is_broken() {
            fail_all(
                group.into_iter().map(|g| g.1).collect(),
                AppendError::Poisoned,
            );
            return;
        }
        let arrival_us = now_us();
        let mut records = Vec::with_capacity(group.len());
        let mut replies = Vec::with_capacity(group.len());
        for (rows, reply) in group {
            let (kept, dropped) = self.state.dedup.filter(rows, arrival_us);
            replies.push((reply, kept.row_count(), dropped));
            if !kept.is_empty() {
                records.push(kept);
            }
        }
        if !records.is_empty() {
            if self.state.wal.len() >= self.shared.config.wal_file_max_bytes {
                self.rotate();
            }
            let refs: Vec<(i64, &RowBuf)> = records.iter().map(|r| (arrival_us, r)).collect();
            let frame = encode_frame(self.state.next_lsn, &refs);
            if let Err(e) = self.state.wal.append(&frame) {
                self.state.dedup.rollback();
                let error = if self.state.wal.is_broken() {
                    self.poison(&e);
                    AppendError::Poisoned
                } else if is_disk_full(&e) {
                    warn!(path = %self.state.wal.path().display(), "wal write failed: disk full");
                    AppendError::DiskFull
                } else {
                    error!(path = %self.state.wal.path().display(), error = %e, "wal write failed");
                    AppendError::Io(e.to_string())
                };
                fail_all(replies.into_iter().map(|r| r.0).collect(), error);
                return;
            }
            match self.shared.config.durability {
                Durability::Fsync => {
                    if !self.sync() {
                        self.state.dedup.rollback();
                        fail_all(
                            replies.into_iter().map(|r| r.0).collect(),
                            AppendError::Poisoned,
                        );
                        return;
                    }
                }
                Durability::Interval { .. } => {
                    self.unsynced_since.get_or_insert_with(Instant::now);
                }
                Durability::None => {}
            }
            self.state.next_lsn += records.len() as u64;
        }
        self.state.dedup.commit();
        let first_lsn = self.state.next_lsn - records.len() as u64;
        self.send_apply(ApplyMsg::Group {
            first_lsn,
            records,
            replies,
        });
    }

    /// Rotates the WAL file (when rows are in or on their way to the memtable), then has the
    /// applier freeze the memtable after the groups before it and flush it; with an empty
    /// memtable, `done` resolves once earlier flushes finished.
    fn freeze(&mut self, done: Option<Done>) {
        if self.has_rows() {
            self.rotate();
        }
        self.send_apply(ApplyMsg::Freeze { done });
    }
}
