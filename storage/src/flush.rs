//! The flusher thread: writes frozen memtables as segments (one per partition), commits them to
//! the manifest with the new WAL checkpoint, and deletes WAL files the checkpoint covers.

use std::collections::VecDeque;
use std::fs;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use tracing::{debug, error, warn};

use crate::concat::concat;
use crate::error::StoreError;
use crate::failpoints;
use crate::manifest::SegmentEntry;
use crate::memtable::FrozenMemtable;
use crate::segment::{write_segment, Segment, SegmentError};
use crate::store::{LiveSegment, Shared};
use crate::wal;
use crate::writer::{now_us, Done};

/// Frozen memtables waiting for the flusher. Each holds up to `memtable_max_bytes`, so this
/// bounds the memory of a stalled flusher; when full, the applier thread waits, then the WAL
/// writer (its queue is bounded too), the append queue fills and appends fail with `Overloaded`.
pub const FLUSH_QUEUE_CAPACITY: usize = 16;
/// How long the flusher waits before retrying a failed flush (disk full, io error).
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

pub(crate) enum FlushMsg {
    Flush {
        frozen: Arc<FrozenMemtable>,
        done: Option<Done>,
    },
    /// Resolves `done` once every earlier flush is committed.
    Barrier(Option<Done>),
    Shutdown,
}

struct Pending {
    frozen: Arc<FrozenMemtable>,
    waiters: Vec<Done>,
}

pub(crate) fn run_flusher(shared: Arc<Shared>, rx: Receiver<FlushMsg>) {
    let mut pending: VecDeque<Pending> = VecDeque::new();
    let mut shutting_down = false;
    loop {
        let msg = if pending.is_empty() {
            rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            rx.recv_timeout(RETRY_INTERVAL)
        };
        match msg {
            Ok(FlushMsg::Flush { frozen, done }) => pending.push_back(Pending {
                frozen,
                waiters: done.into_iter().collect(),
            }),
            Ok(FlushMsg::Barrier(done)) => match (pending.back_mut(), done) {
                (Some(last), Some(done)) => last.waiters.push(done),
                (None, Some(done)) => {
                    let _ = done.send(Ok(()));
                }
                (_, None) => {}
            },
            Ok(FlushMsg::Shutdown) | Err(RecvTimeoutError::Disconnected) => shutting_down = true,
            Err(RecvTimeoutError::Timeout) => {}
        }
        while let Some(front) = pending.front_mut() {
            match flush_one(&shared, &front.frozen) {
                Ok(()) => {
                    for done in front.waiters.drain(..) {
                        let _ = done.send(Ok(()));
                    }
                    pending.pop_front();
                    shared.poke_compactor();
                }
                Err(e) => {
                    error!(error = %e, rows = front.frozen.rows, "flush failed, rows stay in the wal and memory; retrying");
                    let message = e.to_string();
                    let mut first = Some(e);
                    for done in front.waiters.drain(..) {
                        let err = first.take().unwrap_or_else(|| StoreError::Io {
                            path: shared.segments_dir.clone(),
                            source: std::io::Error::other(message.clone()),
                        });
                        let _ = done.send(Err(err));
                    }
                    break;
                }
            }
        }
        if shutting_down {
            if !pending.is_empty() {
                warn!(
                    memtables = pending.len(),
                    "closing with unflushed memtables; the wal still holds their rows"
                );
            }
            return;
        }
    }
}

fn segment_io(path: &std::path::Path, source: std::io::Error) -> SegmentError {
    SegmentError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes one segment per partition of `frozen` and commits them with the new checkpoint.
fn flush_one(shared: &Shared, frozen: &Arc<FrozenMemtable>) -> Result<(), StoreError> {
    let created_us = now_us();
    let mut written: Vec<Arc<LiveSegment>> = Vec::new();
    let result = (|| -> Result<(), StoreError> {
        for (key, batches) in frozen.by_partition() {
            let name = shared.alloc_segment_name();
            let merged;
            let batch = match batches.as_slice() {
                [only] => *only,
                many => {
                    merged = concat(many).ok_or_else(|| StoreError::Corrupt {
                        path: shared.segments_dir.clone(),
                        offset: 0,
                        reason: "empty partition in a frozen memtable".into(),
                    })?;
                    &merged
                }
            };
            let path = shared.segment_path(&name);
            failpoints::check(failpoints::SEGMENT_WRITE)
                .map_err(|e| StoreError::from_segment(segment_io(&path, e)))?;
            let meta = write_segment(
                &shared.segments_dir,
                &name,
                key.table,
                &key.site,
                key.day,
                batch,
            )
            .map_err(StoreError::from_segment)?;
            let segment = Segment::open(&path).map_err(StoreError::from_segment)?;
            written.push(Arc::new(LiveSegment {
                entry: entry_from(&name, &meta, created_us),
                table: key.table,
                segment,
            }));
        }
        Ok(())
    })();
    let result = result.and_then(|()| {
        let new = written.clone();
        shared.commit(
            |manifest, segments| {
                manifest.checkpoint_lsn = manifest.checkpoint_lsn.max(frozen.max_lsn);
                segments.extend(new);
            },
            |state| state.flushing.retain(|f| !Arc::ptr_eq(f, frozen)),
        )
    });
    if let Err(e) = result {
        for seg in &written {
            let _ = fs::remove_file(shared.segment_path(&seg.entry.file));
        }
        return Err(e);
    }
    debug!(
        rows = frozen.rows,
        segments = written.len(),
        checkpoint = frozen.max_lsn,
        "memtable flushed"
    );
    let checkpoint = shared.state.lock().manifest.checkpoint_lsn;
    gc_wal(shared, checkpoint);
    Ok(())
}

pub(crate) fn entry_from(
    file: &str,
    meta: &crate::segment::SegmentMeta,
    created_us: i64,
) -> SegmentEntry {
    SegmentEntry {
        file: file.to_string(),
        table: meta.table.name().to_string(),
        site: meta.site.clone(),
        day: meta.day,
        row_count: meta.row_count,
        min_ts: meta.min_ts,
        max_ts: meta.max_ts,
        file_bytes: meta.file_bytes,
        created_us,
    }
}

/// Deletes WAL files whose records are all at or below `checkpoint`: a file is covered when the
/// next file starts at or below `checkpoint + 1`. The newest file is never deleted.
pub(crate) fn gc_wal(shared: &Shared, checkpoint: u64) {
    let files = match wal::list_files(&shared.wal_dir) {
        Ok(files) => files,
        Err(error) => {
            warn!(%error, "cannot list wal files");
            return;
        }
    };
    for pair in files.windows(2) {
        let ((_, path), (next_first, _)) = (&pair[0], &pair[1]);
        if *next_first <= checkpoint.saturating_add(1) {
            match fs::remove_file(path) {
                Ok(()) => debug!(path = %path.display(), "wal file deleted"),
                Err(error) => warn!(path = %path.display(), %error, "cannot delete wal file"),
            }
        }
    }
}
