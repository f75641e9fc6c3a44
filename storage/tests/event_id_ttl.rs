//! The `event_id` column TTL: segments whose rows all arrived longer ago than the dedup window
//! are rewritten without their event ids (block copy), every other column unchanged; within the
//! window ids stay and deduplicate, also across a reopen.
#![expect(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use ecomdash_storage::{
    rewrite_with_null_columns, ColumnBatch, Durability, ScanRequest, Segment, Store, StoreConfig,
    Table, Value,
};

/// Long enough that the in-window checks hold on a loaded machine, short enough for a test.
const WINDOW_MS: u64 = 2_000;

fn config() -> StoreConfig {
    StoreConfig {
        durability: Durability::None,
        dedup_window_ms: WINDOW_MS,
        event_id_ttl_ms: Some(0),
        compaction_min_segments: 100,
        ..small_config()
    }
}

fn events(prefix: &str, n: usize) -> Vec<Ev> {
    (0..n)
        .map(|i| Ev::new("a.com", &format!("{prefix}{i}"), DAY0_US + i as i64, "v1"))
        .collect()
}

/// Every column of every `events` row, as debug strings, sorted: compares whole rows.
fn all_rows(store: &Store, skip_event_id: bool) -> Vec<Vec<String>> {
    let schema = Table::Events.schema();
    let id_col = schema.index_of("event_id").unwrap();
    let cols: Vec<usize> = (0..schema.len())
        .filter(|&c| !(skip_event_id && c == id_col))
        .collect();
    let plan = store
        .snapshot()
        .plan_scan(&ScanRequest::new(Table::Events, cols));
    let mut out = Vec::new();
    for unit in &plan.units {
        let batch: ColumnBatch = unit.read().unwrap();
        for row in 0..batch.row_count {
            out.push(
                batch
                    .columns
                    .iter()
                    .map(|c| format!("{:?}", c.value(row)))
                    .collect(),
            );
        }
    }
    out.sort();
    out
}

#[test]
fn expired_event_ids_are_dropped_and_everything_else_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), config()).unwrap();
    let a = events("e", 300);
    // Segments are created (by size or by the flush) after this instant.
    let before_flush = Instant::now();
    assert_eq!(store.append(rows(&a)).wait().unwrap().rows_written, 300);
    store.flush().unwrap();
    // Within the window: the retry is a duplicate and the ids are stored.
    let retry = store.append(rows(&a[..10])).wait().unwrap();
    assert_eq!(retry.rows_deduplicated, 10);
    assert_eq!(id_counts(&scan_events(&store))["e7"], 1);
    let before = all_rows(&store, true);
    let bytes_before = store.stats().segment_bytes;

    let started = Instant::now();
    let expired = loop {
        let report = store.compact().unwrap();
        if report.event_id_expired_segments > 0 {
            break report.event_id_expired_segments;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "event ids never expired"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(expired >= 1);
    assert!(
        before_flush.elapsed() >= Duration::from_millis(WINDOW_MS),
        "expired before the window passed"
    );
    assert!(
        scan_events(&store).iter().all(|e| e.event_id.is_empty()),
        "event_id reads null once expired"
    );
    assert_eq!(all_rows(&store, true), before, "other columns unchanged");
    assert!(store.stats().segment_bytes < bytes_before);
    assert_eq!(
        store.compact().unwrap().event_id_expired_segments,
        0,
        "done once"
    );
    // Past the window the id is a new event again, stored with its id (in the memtable).
    let late = store.append(rows(&a[..1])).wait().unwrap();
    assert_eq!(late.rows_written, 1);
    drop(store);
    let store = Store::open(dir.path(), config()).unwrap();
    assert_eq!(all_rows(&store, true).len(), 301);
    assert_eq!(id_counts(&scan_events(&store))["e0"], 1);
    assert_consistent_dir(dir.path());
}

#[test]
fn event_ids_are_kept_forever_without_a_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        event_id_ttl_ms: None,
        dedup_window_ms: 1,
        ..config()
    };
    let store = Store::open(dir.path(), config).unwrap();
    store.append(rows(&events("k", 50))).wait().unwrap();
    store.flush().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(store.compact().unwrap().event_id_expired_segments, 0);
    assert!(scan_events(&store).iter().all(|e| !e.event_id.is_empty()));
}

#[test]
fn rewrite_nulls_only_the_named_column_and_refuses_the_group_column() {
    let dir = tempfile::tempdir().unwrap();
    let schema = Table::Events.schema();
    let id_col = schema.index_of("event_id").unwrap();
    // Rows through the store's row codec into a segment of several chunks.
    let store_dir = tempfile::tempdir().unwrap();
    let store = Store::open(store_dir.path(), config()).unwrap();
    store.append(rows(&events("r", 2_000))).wait().unwrap();
    let all: Vec<usize> = (0..schema.len()).collect();
    let plan = store
        .snapshot()
        .plan_scan(&ScanRequest::new(Table::Events, all.clone()));
    let batch = plan.units[0].read().unwrap();
    let options = ecomdash_storage::WriteOptions {
        chunk_rows: 300,
        ..ecomdash_storage::WriteOptions::for_table(Table::Events)
    };
    ecomdash_storage::write_segment_with(
        dir.path(),
        "in.seg",
        Table::Events,
        "a.com",
        20_000,
        &batch,
        &options,
    )
    .unwrap();
    let input = Segment::open(&dir.path().join("in.seg")).unwrap();
    assert!(!input.column_is_all_null(id_col));
    let meta = rewrite_with_null_columns(&input, dir.path(), "out.seg", &[id_col]).unwrap();
    let output = Segment::open(&dir.path().join("out.seg")).unwrap();
    assert_eq!(output.meta(), &meta);
    assert!(meta.file_bytes < input.meta().file_bytes);
    assert!(output.column_is_all_null(id_col));
    assert_eq!(output.chunk_count(), input.chunk_count());
    let (a, b) = (input.read_all().unwrap(), output.read_all().unwrap());
    assert_eq!(a.row_count, b.row_count);
    for col in 0..schema.len() {
        for row in 0..a.row_count {
            let got = b.columns[col].value(row);
            if col == id_col {
                assert_eq!(got, Value::Null);
            } else {
                assert_eq!(got, a.columns[col].value(row), "column {col} row {row}");
            }
        }
    }
    let session = schema.index_of("session_id").unwrap();
    assert!(rewrite_with_null_columns(&input, dir.path(), "bad.seg", &[session]).is_err());
    assert!(!dir.path().join("bad.seg").exists());
}
