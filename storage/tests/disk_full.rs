//! Fault injection (needs `--features failpoints`): disk full on WAL writes, segment writes and
//! manifest writes, and failed fsyncs. Failpoints are process-wide, so these tests take a lock.
#![expect(clippy::unwrap_used)]

mod common;

use common::*;
use ecomdash_storage::failpoints::{self, FailAction};
use ecomdash_storage::{AppendError, Store, StoreConfig, StoreError};
use parking_lot::Mutex;

static SERIAL: Mutex<()> = Mutex::new(());

fn config() -> StoreConfig {
    StoreConfig {
        dedup_window_ms: 3_600_000,
        ..small_config()
    }
}

fn evs(prefix: &str, n: usize) -> Vec<Ev> {
    let mut out: Vec<Ev> = (0..n)
        .map(|i| Ev::new("a.com", &format!("{prefix}{i}"), DAY0_US + i as i64, "v"))
        .collect();
    out.sort();
    out
}

fn sorted(mut v: Vec<Ev>) -> Vec<Ev> {
    v.sort();
    v
}

#[test]
fn enospc_on_wal_write_fails_appends_until_space_returns() {
    let _serial = SERIAL.lock();
    failpoints::clear_all();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), config()).unwrap();
    let first = evs("first", 10);
    store.append(rows(&first)).wait().unwrap();

    failpoints::set(failpoints::WAL_WRITE, FailAction::DiskFull, None);
    let failed = evs("failed", 5);
    assert_eq!(
        store.append(rows(&failed)).wait(),
        Err(AppendError::DiskFull)
    );
    assert_eq!(
        store.append(rows(&failed)).wait(),
        Err(AppendError::DiskFull)
    );
    assert_eq!(scan_events(&store), first, "failed appends are invisible");
    assert!(!store.stats().poisoned);

    failpoints::clear(failpoints::WAL_WRITE);
    // The retry is not a "duplicate": the failed attempt's ids were forgotten.
    let receipt = store.append(rows(&failed)).wait().unwrap();
    assert_eq!((receipt.rows_written, receipt.rows_deduplicated), (5, 0));
    drop(store);
    let store = Store::open(dir.path(), config()).unwrap();
    assert_eq!(
        scan_events(&store),
        sorted([first, failed].concat()),
        "the wal is intact"
    );
}

#[test]
fn failed_fsync_poisons_the_store_and_a_reopen_recovers_acknowledged_rows() {
    let _serial = SERIAL.lock();
    failpoints::clear_all();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), config()).unwrap();
    let first = evs("first", 4);
    store.append(rows(&first)).wait().unwrap();
    failpoints::set(failpoints::WAL_FSYNC, FailAction::IoError, Some(1));
    assert_eq!(
        store.append(rows(&evs("x", 2))).wait(),
        Err(AppendError::Poisoned)
    );
    // No retry of the fsync: the store stays poisoned even though the failpoint is spent.
    assert_eq!(
        store.append(rows(&evs("y", 2))).wait(),
        Err(AppendError::Poisoned)
    );
    assert!(store.stats().poisoned);
    failpoints::clear_all();
    drop(store);
    let store = Store::open(dir.path(), config()).unwrap();
    let found = scan_events(&store);
    for e in &first {
        assert!(found.contains(e));
    }
    assert!(found.iter().all(|e| !e.event_id.starts_with('y')));
    store.append(rows(&evs("z", 1))).wait().unwrap();
}

#[test]
fn enospc_during_flush_keeps_rows_readable_and_the_flush_succeeds_later() {
    for point in [failpoints::SEGMENT_WRITE, failpoints::MANIFEST_WRITE] {
        let _serial = SERIAL.lock();
        failpoints::clear_all();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), config()).unwrap();
        let a = evs("a", 20);
        store.append(rows(&a)).wait().unwrap();
        failpoints::set(point, FailAction::DiskFull, None);
        let err = store.flush().unwrap_err();
        assert!(matches!(err, StoreError::DiskFull { .. }), "{point}: {err}");
        assert_eq!(scan_events(&store), a, "{point}: rows still visible");
        assert_eq!(store.stats().segment_count, 0);
        let b = evs("b", 3);
        store.append(rows(&b)).wait().unwrap();
        failpoints::clear(point);
        store.flush().unwrap();
        let stats = store.stats();
        assert_eq!(
            (stats.memtable_rows, stats.flushing_rows),
            (0, 0),
            "{point}"
        );
        let all = sorted([a, b].concat());
        assert_eq!(scan_events(&store), all);
        drop(store);
        let store = Store::open(dir.path(), config()).unwrap();
        assert_eq!(
            scan_events(&store),
            all,
            "{point}: exactly once after reopen"
        );
        assert_consistent_dir(dir.path());
        let segments = std::fs::read_dir(dir.path().join("segments"))
            .unwrap()
            .count();
        assert_eq!(
            segments,
            store.stats().segment_count,
            "{point}: no leftover files"
        );
    }
}
