//! Readers running while flushes and compactions replace memtables and segments see consistent
//! snapshots: every event acknowledged before the snapshot exactly once, nothing else twice.
#![expect(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ecomdash_storage::{ScanRequest, Snapshot, Store, StoreConfig, Table, Value};

fn ids_in(snapshot: &Snapshot) -> Vec<usize> {
    let col = Table::Events.schema().index_of("event_id").unwrap();
    let plan = snapshot.plan_scan(&ScanRequest::new(Table::Events, vec![col]));
    let mut ids = Vec::new();
    for unit in &plan.units {
        let batch = unit.read().unwrap();
        for row in 0..batch.row_count {
            let Value::Str(id) = batch.columns[0].value(row) else {
                panic!("event_id is set on every row");
            };
            ids.push(id[1..].parse().unwrap());
        }
    }
    ids.sort_unstable();
    ids
}

#[test]
fn readers_see_consistent_snapshots_during_flush_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        StoreConfig {
            memtable_max_bytes: 16 << 10,
            compaction_min_segments: 2,
            ..small_config()
        },
    )
    .unwrap();
    let acked = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(3);

    let appender = {
        let (store, acked, stop) = (store.clone(), acked.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut next = 0;
            while !stop.load(Ordering::Relaxed) {
                let batch: Vec<Ev> = (next..next + 20)
                    .map(|i| {
                        Ev::new(
                            ["a.com", "b.com"][i % 2],
                            &format!("e{i}"),
                            DAY0_US + i as i64,
                            "v",
                        )
                    })
                    .collect();
                store.append(rows(&batch)).wait().unwrap();
                next += 20;
                acked.store(next, Ordering::Release);
            }
        })
    };
    let maintainer = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut compactions = 0;
            while !stop.load(Ordering::Relaxed) {
                store.flush().unwrap();
                compactions += store.compact().unwrap().partitions;
            }
            compactions
        })
    };
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (store, acked, stop) = (store.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut checks = 0;
                while !stop.load(Ordering::Relaxed) {
                    let before = acked.load(Ordering::Acquire);
                    let snapshot = store.snapshot();
                    let after = acked.load(Ordering::Acquire);
                    let ids = ids_in(&snapshot);
                    assert!(
                        ids.windows(2).all(|w| w[0] < w[1]),
                        "an event appears twice"
                    );
                    assert!(ids.len() >= before, "acknowledged events missing");
                    assert!(ids.iter().take(before).enumerate().all(|(i, &id)| i == id));
                    // Appends are written in order, so a snapshot holds a prefix of them.
                    assert!(
                        ids.len() <= after + 20 && ids.last().is_none_or(|&l| l + 1 == ids.len())
                    );
                    // Reading the same snapshot again gives the same rows, whatever happened since.
                    assert_eq!(ids_in(&snapshot), ids);
                    checks += 1;
                }
                checks
            })
        })
        .collect();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    appender.join().unwrap();
    let compactions = maintainer.join().unwrap();
    let checks: usize = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(checks > 10, "{checks} snapshot checks");
    assert!(compactions > 0, "compactions ran during the reads");
    let total = acked.load(Ordering::Acquire);
    assert_eq!(ids_in(&store.snapshot()), (0..total).collect::<Vec<_>>());
}
