//! The store's API end to end: appends, visibility, flush, reopen, dedup, retention, erasure,
//! compaction, scan planning.
#![expect(clippy::unwrap_used)]

mod common;

use common::*;
use ecomdash_storage::{
    AppendError, Durability, ScanRequest, Store, StoreConfig, StoreError, Table, MICROS_PER_DAY,
};

/// `n` events sorted as `scan_events` returns them.
fn evs(site: &str, prefix: &str, n: usize, ts0: i64) -> Vec<Ev> {
    let mut out: Vec<Ev> = (0..n)
        .map(|i| {
            Ev::new(
                site,
                &format!("{prefix}{i}"),
                ts0 + i as i64,
                &format!("v{}", i % 5),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn appended_rows_are_visible_before_and_after_flush_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), small_config()).unwrap();
    let a = evs("a.com", "a", 50, DAY0_US);
    let receipt = store.append(rows(&a)).wait().unwrap();
    assert_eq!((receipt.rows_written, receipt.rows_deduplicated), (50, 0));
    assert_eq!(scan_events(&store), a, "visible while in the memtable");
    assert_eq!(store.stats().memtable_rows, 50);
    store.flush().unwrap();
    let stats = store.stats();
    assert_eq!(
        (stats.memtable_rows, stats.segment_count, stats.segment_rows),
        (0, 1, 50)
    );
    assert!(stats.fsync_count >= 1);
    assert_eq!(scan_events(&store), a);
    let b = evs("b.com", "b", 10, DAY0_US + MICROS_PER_DAY);
    store.append(rows(&b)).wait().unwrap();
    drop(store);
    // b is only in the WAL now.
    let store = Store::open(dir.path(), small_config()).unwrap();
    let mut all = [a.clone(), b.clone()].concat();
    all.sort();
    assert_eq!(scan_events(&store), all);
    store.close().unwrap();
    let store = Store::open(dir.path(), small_config()).unwrap();
    assert_eq!(scan_events(&store), all);
    assert_eq!(store.stats().memtable_rows, 0, "close flushed everything");
    drop(store);
    assert_consistent_dir(dir.path());
}

#[test]
fn a_second_open_of_the_same_dir_is_refused_and_closed_stores_refuse_work() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), small_config()).unwrap();
    assert!(matches!(
        Store::open(dir.path(), small_config()),
        Err(StoreError::Locked { .. })
    ));
    let clone = store.clone();
    store.close().unwrap();
    assert_eq!(
        clone.append(rows(&evs("a.com", "x", 1, 0))).wait(),
        Err(AppendError::Closed)
    );
    assert!(matches!(clone.flush(), Err(StoreError::Closed)));
}

#[test]
fn duplicate_event_ids_are_stored_once_also_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        dedup_window_ms: 3_600_000,
        // The default column TTL: event ids stay as long as the window needs them.
        event_id_ttl_ms: Some(0),
        ..small_config()
    };
    let store = Store::open(dir.path(), config.clone()).unwrap();
    let a = evs("a.com", "e", 20, DAY0_US);
    assert_eq!(store.append(rows(&a)).wait().unwrap().rows_written, 20);
    let again = store.append(rows(&a[..5])).wait().unwrap();
    assert_eq!((again.rows_written, again.rows_deduplicated), (0, 5));
    // Same event id on another site is another event.
    let other = evs("b.com", "e", 1, DAY0_US);
    assert_eq!(store.append(rows(&other)).wait().unwrap().rows_written, 1);
    store.flush().unwrap();
    store
        .append(rows(&evs("a.com", "w", 3, DAY0_US)))
        .wait()
        .unwrap();
    drop(store);
    // Rebuilt from segments (e*) and the WAL (w*).
    let store = Store::open(dir.path(), config).unwrap();
    let report = store.compact().unwrap();
    assert_eq!(report.event_id_expired_segments, 0, "within the window");
    let retry = [
        a[3].clone(),
        Ev::new("a.com", "w1", 0, "v"),
        Ev::new("a.com", "new", 0, "v"),
    ];
    let receipt = store.append(rows(&retry)).wait().unwrap();
    assert_eq!((receipt.rows_written, receipt.rows_deduplicated), (1, 2));
    let counts = id_counts(&scan_events(&store));
    assert_eq!(counts.values().sum::<usize>(), 20 + 1 + 3 + 1);
    assert_eq!(counts["e0"], 2, "once per site");
    assert_eq!(counts["e3"], 1);
    assert_eq!(store.stats().rows_deduplicated, 2);
}

#[test]
fn retention_drops_old_partitions_and_erasure_removes_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), small_config()).unwrap();
    let today = DAY0_US + 10 * MICROS_PER_DAY;
    let old = evs("a.com", "old", 10, DAY0_US);
    let mut recent = evs("a.com", "new", 10, today);
    recent[0].user = Some("u-1".into());
    let other = evs("b.com", "b", 10, today);
    for batch in [&old, &recent, &other] {
        store.append(rows(batch)).wait().unwrap();
    }
    let report = store.retain_days(3, today).unwrap();
    assert_eq!((report.segments_dropped, report.rows_dropped), (1, 10));
    let mut expected = [recent.clone(), other.clone()].concat();
    expected.sort();
    assert_eq!(scan_events(&store), expected);

    // v0 is the visitor of rows 0 and 5 on each site; u-1 is recent[0]'s user.
    let report = store.erase("a.com", &["v0", "v1"], &["u-1"]).unwrap();
    assert_eq!((report.rows_erased, report.segments_rewritten), (4, 1));
    expected.retain(|e| e.site != "a.com" || !["v0", "v1"].contains(&e.visitor.as_str()));
    assert_eq!(scan_events(&store), expected);
    drop(store);
    let store = Store::open(dir.path(), small_config()).unwrap();
    assert_eq!(scan_events(&store), expected, "erasure survives reopen");
    let wal_rows_left = std::fs::read_dir(dir.path().join("wal")).unwrap().count();
    assert_eq!(wal_rows_left, 1, "wal files with erased rows were deleted");
}

#[test]
fn compaction_merges_small_segments_of_a_partition() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        StoreConfig {
            compaction_min_segments: 100,
            ..small_config()
        },
    )
    .unwrap();
    let mut all = Vec::new();
    for round in 0..4 {
        let batch = evs("a.com", &format!("r{round}-"), 30, DAY0_US + round * 100);
        store.append(rows(&batch)).wait().unwrap();
        store.flush().unwrap();
        all.extend(batch);
    }
    store
        .append(rows(&evs("b.com", "b", 3, DAY0_US)))
        .wait()
        .unwrap();
    store.flush().unwrap();
    all.extend(evs("b.com", "b", 3, DAY0_US));
    all.sort();
    assert_eq!(store.stats().segment_count, 5);
    let snapshot_before = store.snapshot();
    let report = store.compact().unwrap();
    assert_eq!(
        (
            report.partitions,
            report.segments_in,
            report.segments_out,
            report.rows
        ),
        (1, 4, 1, 120)
    );
    assert_eq!(store.stats().segment_count, 2);
    assert_eq!(scan_events(&store), all);
    // The old snapshot still reads the deleted input files.
    let cols = vec![Table::Events.schema().index_of("event_id").unwrap()];
    let plan = snapshot_before.plan_scan(&ScanRequest::new(Table::Events, cols));
    let rows_read: usize = plan.units.iter().map(|u| u.read().unwrap().row_count).sum();
    assert_eq!(rows_read, 123);
    assert_eq!(store.compact().unwrap().partitions, 0);
}

#[test]
fn scan_plans_prune_by_site_time_and_zone_maps() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), small_config()).unwrap();
    store
        .append(rows(&evs("a.com", "a", 10, DAY0_US)))
        .wait()
        .unwrap();
    store
        .append(rows(&evs("b.com", "b", 10, DAY0_US + MICROS_PER_DAY)))
        .wait()
        .unwrap();
    store.flush().unwrap();
    store
        .append(rows(&evs("a.com", "m", 5, DAY0_US + 2 * MICROS_PER_DAY)))
        .wait()
        .unwrap();
    let snap = store.snapshot();
    let ts_col = Table::Events.schema().time_column;
    let mut req = ScanRequest::new(Table::Events, vec![ts_col]);
    let all = snap.plan_scan(&req);
    assert_eq!(
        (all.units.len(), all.segments_scanned, all.segments_pruned),
        (3, 2, 0)
    );
    req.sites = Some(vec!["a.com".into()]);
    let a = snap.plan_scan(&req);
    assert_eq!((a.units.len(), a.segments_pruned), (2, 1));
    assert!(a.units.iter().all(|u| u.site() == "a.com"));
    req.time_range = Some((DAY0_US + 2 * MICROS_PER_DAY, i64::MAX));
    let a_late = snap.plan_scan(&req);
    assert_eq!(a_late.units.len(), 1);
    assert!(a_late.units[0].is_memtable());
    req.sites = None;
    req.time_range = None;
    let screen = Table::Events.schema().index_of("screen_w").unwrap();
    req.int_ranges = vec![(screen, 0, 100)];
    let pruned = snap.plan_scan(&req);
    assert_eq!(
        (pruned.segments_pruned, pruned.units.len()),
        (2, 1),
        "memtable is never pruned by int ranges"
    );
    let sessions = snap.plan_scan(&ScanRequest::new(Table::Sessions, vec![0]));
    assert!(sessions.units.is_empty());
    assert!(all.units.iter().all(|u| u.bytes() > 0));
}

#[test]
fn durability_modes_all_recover_after_a_drop() {
    for durability in [Durability::Interval { interval_ms: 5 }, Durability::None] {
        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig {
            durability,
            ..small_config()
        };
        let store = Store::open(dir.path(), config.clone()).unwrap();
        let a = evs("a.com", "a", 40, DAY0_US);
        for chunk in a.chunks(7) {
            store.append(rows(chunk)).wait().unwrap();
        }
        drop(store);
        let store = Store::open(dir.path(), config).unwrap();
        assert_eq!(scan_events(&store), a, "{durability:?}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn tickets_can_be_awaited() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), small_config()).unwrap();
    let receipt = store
        .append(rows(&evs("a.com", "a", 3, DAY0_US)))
        .await
        .unwrap();
    assert_eq!(receipt.rows_written, 3);
}

/// Polls `check` every few ms until it holds or `timeout` passes.
fn eventually(timeout: std::time::Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    check()
}

#[test]
fn memtable_is_flushed_by_age_and_by_size_without_being_asked() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        StoreConfig {
            memtable_max_age_ms: 50,
            ..small_config()
        },
    )
    .unwrap();
    store
        .append(rows(&evs("a.com", "a", 5, DAY0_US)))
        .wait()
        .unwrap();
    let secs = std::time::Duration::from_secs(10);
    assert!(
        eventually(secs, || store.stats().segment_rows == 5),
        "age trigger"
    );
    drop(store);

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), small_config()).unwrap();
    let mut appended = 0;
    while store.stats().segment_count == 0 && appended < 20_000 {
        store
            .append(rows(&evs("a.com", &format!("s{appended}-"), 50, DAY0_US)))
            .wait()
            .unwrap();
        appended += 50;
    }
    assert!(
        eventually(secs, || store.stats().segment_count > 0),
        "size trigger after {appended} rows"
    );
}

#[test]
fn interval_durability_fsyncs_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        StoreConfig {
            durability: Durability::Interval { interval_ms: 20 },
            ..small_config()
        },
    )
    .unwrap();
    store
        .append(rows(&evs("a.com", "a", 5, DAY0_US)))
        .wait()
        .unwrap();
    assert!(eventually(std::time::Duration::from_secs(10), || store
        .stats()
        .fsync_count
        >= 1));
}

#[test]
fn acknowledged_appends_are_visible_at_once_while_others_write_and_flush() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), small_config()).unwrap();
    let threads = 4;
    let appends = 25;
    std::thread::scope(|scope| {
        for t in 0..threads {
            let store = &store;
            scope.spawn(move || {
                for i in 0..appends {
                    let batch = evs("a.com", &format!("t{t}-{i}-"), 5, DAY0_US + i as i64);
                    let receipt = store.append(rows(&batch)).wait().unwrap();
                    assert_eq!(receipt.rows_written, 5);
                    // the ack comes after the memtable insert: a snapshot taken now sees it
                    let seen = scan_events(store);
                    for ev in &batch {
                        assert!(seen.contains(ev), "{ev:?} acknowledged but not visible");
                    }
                    if i % 10 == 9 {
                        store.flush().unwrap();
                    }
                }
            });
        }
    });
    assert_eq!(scan_events(&store).len(), threads * appends * 5);
    store.flush().unwrap();
    let stats = store.stats();
    assert_eq!((stats.memtable_rows, stats.flushing_rows), (0, 0));
    assert_eq!(stats.segment_rows, (threads * appends * 5) as u64);
    assert_eq!(stats.wal_files, 1, "flushed wal files are deleted");
    drop(store);
    let store = Store::open(dir.path(), small_config()).unwrap();
    assert_eq!(scan_events(&store).len(), threads * appends * 5);
    drop(store);
    assert_consistent_dir(dir.path());
}
