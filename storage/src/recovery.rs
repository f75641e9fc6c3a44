//! Opening a store: manifest, segments (quarantining corrupt ones), leftover cleanup, WAL replay
//! after the checkpoint, and the dedup window rebuild.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use fs2::FileExt;
use parking_lot::Mutex;
use tracing::{error, info, warn};

use crate::config::StoreConfig;
use crate::dedup::{event_id_column, DedupWindow};
use crate::error::StoreError;
use crate::flush::gc_wal;
use crate::manifest::Manifest;
use crate::memtable::Memtable;
use crate::schema::Table;
use crate::segment::{Segment, SegmentError};
use crate::store::{Counters, LiveSegment, Shared, State};
use crate::wal::{self, WalWriter};
use crate::writer::{now_us, WriterState};

pub const WAL_DIR: &str = "wal";
pub const SEGMENTS_DIR: &str = "segments";
pub const QUARANTINE_DIR: &str = "quarantine";
pub const LOCK_FILE: &str = "LOCK";

pub(crate) struct Opened {
    pub shared: Arc<Shared>,
    pub writer: WriterState,
    pub lock_file: File,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |e| StoreError::io(path, e)
}

pub(crate) fn open(dir: &Path, config: StoreConfig) -> Result<Opened, StoreError> {
    config.validate()?;
    let wal_dir = dir.join(WAL_DIR);
    let segments_dir = dir.join(SEGMENTS_DIR);
    let quarantine_dir = dir.join(QUARANTINE_DIR);
    for d in [dir, &wal_dir, &segments_dir, &quarantine_dir] {
        fs::create_dir_all(d).map_err(io_err(d))?;
    }
    let lock_path = dir.join(LOCK_FILE);
    let lock_file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_err(&lock_path))?;
    lock_file
        .try_lock_exclusive()
        .map_err(|_| StoreError::Locked {
            path: dir.to_path_buf(),
        })?;

    let mut manifest = match Manifest::load(dir)? {
        Some(m) => m,
        None => {
            let m = Manifest::empty();
            m.store(dir)?;
            m
        }
    };
    let segments = open_segments(&mut manifest, &segments_dir, &quarantine_dir)?;
    if segments.len() != manifest.segments.len() {
        manifest.segments = segments.iter().map(|s| s.entry.clone()).collect();
        manifest.store(dir)?;
    }
    remove_leftovers(&segments_dir, &segments);

    let mut dedup = DedupWindow::new(config.dedup_window_ms, config.dedup_max_keys);
    remember_recent_segments(&mut dedup, &segments, config.dedup_window_ms);
    let mut memtable = Memtable::default();
    let checkpoint = manifest.checkpoint_lsn;
    let last_lsn = replay_wal(
        &wal_dir,
        &quarantine_dir,
        checkpoint,
        &mut memtable,
        &mut dedup,
    )?;
    dedup.commit();
    // The new file must sort after every existing one, even a newest file whose records were all
    // lost (WAL deletion assumes file order is LSN order); skipped LSNs are just a gap.
    let newest_first = wal::list_files(&wal_dir)
        .map_err(io_err(&wal_dir))?
        .last()
        .map_or(0, |(lsn, _)| *lsn);
    let next_lsn = (last_lsn + 1).max(newest_first);
    let stale = wal_dir.join(wal::file_name(next_lsn));
    if stale.exists() {
        // Holds no valid record at or after `next_lsn` (replay would have seen it): it is empty
        // or its torn tail was just cut off.
        fs::remove_file(&stale).map_err(io_err(&stale))?;
    }
    let wal = WalWriter::create(&wal_dir, next_lsn).map_err(io_err(&wal_dir))?;
    info!(
        dir = %dir.display(),
        segments = segments.len(),
        replayed_rows = memtable.rows(),
        checkpoint,
        next_lsn,
        "store opened"
    );
    let counters = Counters::default();
    counters
        .next_lsn
        .store(next_lsn, std::sync::atomic::Ordering::Relaxed);
    let shared = Arc::new(Shared {
        dir: dir.to_path_buf(),
        wal_dir,
        segments_dir,
        config,
        memtable: Mutex::new(memtable),
        state: Mutex::new(State {
            manifest,
            segments,
            flushing: Vec::new(),
        }),
        manifest_lock: Mutex::new(()),
        maintenance: Mutex::new(()),
        poisoned: AtomicBool::new(false),
        counters,
        compact_tx: Mutex::new(None),
    });
    gc_wal(&shared, checkpoint);
    Ok(Opened {
        shared,
        writer: WriterState {
            wal,
            dedup,
            next_lsn,
        },
        lock_file,
    })
}

fn open_segments(
    manifest: &mut Manifest,
    segments_dir: &Path,
    quarantine_dir: &Path,
) -> Result<Vec<Arc<LiveSegment>>, StoreError> {
    let mut live = Vec::with_capacity(manifest.segments.len());
    for entry in &manifest.segments {
        let path = segments_dir.join(&entry.file);
        let Some(table) = entry.table() else {
            return Err(StoreError::Corrupt {
                path,
                offset: 0,
                reason: format!("manifest names unknown table {:?}", entry.table),
            });
        };
        match Segment::open(&path) {
            Ok(segment) => live.push(Arc::new(LiveSegment {
                entry: entry.clone(),
                table,
                segment,
            })),
            Err(SegmentError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                error!(file = %path.display(), "segment listed in the manifest is missing, dropping it");
            }
            Err(SegmentError::Io { path, source }) => return Err(StoreError::io(path, source)),
            Err(e) => quarantine_file(&path, quarantine_dir, &e.to_string()),
        }
    }
    Ok(live)
}

/// Moves a damaged file into `quarantine/` (keeping it for inspection) with an error log.
pub(crate) fn quarantine_file(path: &Path, quarantine_dir: &Path, reason: &str) {
    let name = path
        .file_name()
        .map_or_else(|| "unnamed".into(), |n| n.to_string_lossy().into_owned());
    let mut target = quarantine_dir.join(&name);
    let mut n = 1;
    while target.exists() {
        target = quarantine_dir.join(format!("{name}.{n}"));
        n += 1;
    }
    match fs::rename(path, &target) {
        Ok(()) => {
            error!(file = %path.display(), quarantined_as = %target.display(), reason, "corrupt segment quarantined")
        }
        Err(e) => {
            error!(file = %path.display(), reason, error = %e, "corrupt segment could not be moved to quarantine, skipping it")
        }
    }
}

/// Deletes temp files and segment files the manifest does not list (a crash between writing a
/// segment and committing the manifest leaves them behind).
fn remove_leftovers(segments_dir: &Path, live: &[Arc<LiveSegment>]) {
    let keep: HashSet<&str> = live.iter().map(|s| s.entry.file.as_str()).collect();
    let Ok(entries) = fs::read_dir(segments_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !keep.contains(name.as_ref()) {
            match fs::remove_file(entry.path()) {
                Ok(()) => info!(file = %name, "removed segment file not in the manifest"),
                Err(e) => warn!(file = %name, error = %e, "cannot remove leftover segment file"),
            }
        }
    }
}

fn remember_recent_segments(
    dedup: &mut DedupWindow,
    segments: &[Arc<LiveSegment>],
    window_ms: u64,
) {
    if window_ms == 0 {
        return;
    }
    let schema = Table::Events.schema();
    let Some(id_col) = event_id_column(schema) else {
        return;
    };
    let cutoff =
        now_us().saturating_sub(i64::try_from(window_ms.saturating_mul(1000)).unwrap_or(i64::MAX));
    let mut recent: Vec<&Arc<LiveSegment>> = segments
        .iter()
        .filter(|s| s.table == Table::Events && s.entry.created_us >= cutoff)
        .collect();
    recent.sort_by_key(|s| s.entry.created_us);
    for seg in recent {
        for chunk in 0..seg.segment.chunk_count() {
            match seg.segment.read_chunk(chunk, &[schema.site_column, id_col]) {
                Ok(batch) => dedup.remember_batch(schema, &batch, seg.entry.created_us),
                Err(e) => {
                    warn!(file = %seg.entry.file, error = %e, "cannot read event ids for the dedup window")
                }
            }
        }
    }
}

/// Replays every WAL file into `memtable` (records after `checkpoint`) and `dedup`. Corrupt
/// regions in the middle are copied to `quarantine/` and skipped; a torn tail of the last file
/// is cut off. Returns the highest LSN seen (at least `checkpoint`).
fn replay_wal(
    wal_dir: &Path,
    quarantine_dir: &Path,
    checkpoint: u64,
    memtable: &mut Memtable,
    dedup: &mut DedupWindow,
) -> Result<u64, StoreError> {
    let files = wal::list_files(wal_dir).map_err(io_err(wal_dir))?;
    let mut last_lsn = checkpoint;
    for (i, (_, path)) in files.iter().enumerate() {
        let bytes = fs::read(path).map_err(io_err(path))?;
        let replay = wal::replay_bytes(&bytes, i + 1 == files.len());
        for region in &replay.corrupt {
            let start = region.offset as usize;
            let copy = &bytes[start..start + region.len as usize];
            let name = format!(
                "{}.at-{}.corrupt",
                path.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                region.offset
            );
            let target = quarantine_dir.join(name);
            if let Err(e) = fs::write(&target, copy) {
                warn!(error = %e, "cannot copy corrupt wal bytes to quarantine");
            }
            error!(
                file = %path.display(),
                offset = region.offset,
                len = region.len,
                reason = region.reason,
                quarantined_as = %target.display(),
                "corrupt wal record skipped"
            );
        }
        if let Some((offset, reason)) = replay.torn_tail_at {
            warn!(file = %path.display(), offset, reason, "torn wal tail truncated");
            let file = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(io_err(path))?;
            file.set_len(offset).map_err(io_err(path))?;
            file.sync_all().map_err(io_err(path))?;
        }
        for record in replay.records {
            if record.lsn <= checkpoint {
                dedup.remember_rows(&record.rows, record.arrival_us);
                continue;
            }
            if record.lsn <= last_lsn {
                warn!(file = %path.display(), lsn = record.lsn, "wal record out of order, skipped");
                continue;
            }
            dedup.remember_rows(&record.rows, record.arrival_us);
            memtable
                .insert(record.lsn, &record.rows)
                .map_err(|e| StoreError::Corrupt {
                    path: path.clone(),
                    offset: 0,
                    reason: e.to_string(),
                })?;
            last_lsn = record.lsn;
        }
    }
    Ok(last_lsn)
}
