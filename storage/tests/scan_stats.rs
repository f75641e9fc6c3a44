//! The statistics and partial reads a scan unit offers the query engine: a segment chunk's
//! column stats are exact for its rows (the engine decides predicates from them for every row),
//! and `read_columns` decodes any subset of the columns, none included.
#![expect(clippy::unwrap_used)]

mod common;

use common::*;
use ecomdash_storage::{ColumnVec, ScanRequest, Store, Table, Zone};

#[test]
fn chunk_stats_are_exact_and_read_columns_reads_any_subset() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), small_config()).unwrap();
    let mut events: Vec<Ev> = (0..300)
        .map(|i| {
            Ev::new(
                "a.com",
                &format!("e{i}"),
                DAY0_US + i * 1_000,
                &format!("v{}", i % 7),
            )
        })
        .collect();
    for (i, e) in events.iter_mut().enumerate() {
        if i % 3 == 0 {
            e.user = Some(format!("u{i}"));
        }
    }
    store.append(rows(&events)).wait().unwrap();
    store.flush().unwrap();
    store
        .append(rows(&[Ev::new("a.com", "late", DAY0_US + 5, "v1")]))
        .wait()
        .unwrap();
    let schema = Table::Events.schema();
    let ts = schema.time_column;
    let user = schema.index_of("user_id").unwrap();
    let screen = schema.index_of("screen_w").unwrap();
    let plan = store
        .snapshot()
        .plan_scan(&ScanRequest::new(Table::Events, vec![ts, user, screen]));
    let mut chunks = 0;
    for unit in &plan.units {
        let batch = unit.read().unwrap();
        let Some(stats) = unit.column_stats(ts) else {
            assert!(unit.is_memtable(), "only memtable batches lack stats");
            assert!(unit.sorted_dictionary(user).unwrap().is_none());
            continue;
        };
        let dict = unit.sorted_dictionary(user).unwrap().unwrap();
        assert!((1..dict.len() as u32).all(|c| dict.get(c - 1) < dict.get(c)));
        assert!(
            unit.sorted_dictionary(ts).unwrap().is_none(),
            "not a string column"
        );
        let Some(Zone::Str { min_code, max_code }) = unit.column_stats(user).unwrap().zone else {
            panic!("user_id has a code zone");
        };
        assert!(min_code <= max_code && (max_code as usize) < dict.len());
        chunks += 1;
        let ColumnVec::Int { values, .. } = batch.column(ts).unwrap() else {
            panic!("ts is an int column");
        };
        let (lo, hi) = (values.iter().min().unwrap(), values.iter().max().unwrap());
        assert_eq!(stats.zone, Some(Zone::Int { min: *lo, max: *hi }));
        assert_eq!(stats.null_count, 0);
        let users = batch.column(user).unwrap();
        let nulls = (0..batch.row_count)
            .filter(|&r| users.validity().is_some_and(|v| !v[r]))
            .count();
        assert_eq!(unit.column_stats(user).unwrap().null_count, nulls as u64);
        assert!(nulls > 0 && nulls < batch.row_count);
        assert_eq!(
            unit.column_stats(screen).unwrap().zone,
            Some(Zone::Int {
                min: 1280,
                max: 1280
            })
        );
        assert!(unit.column_stats(schema.len()).is_none());

        let none = unit.read_columns(&[]).unwrap();
        assert_eq!((none.row_count, none.columns.len()), (batch.row_count, 0));
        assert_eq!(unit.bytes_of(&[]), 0);
        let some = unit.read_columns(&[screen, ts]).unwrap();
        assert_eq!(some.column_indexes, vec![screen, ts]);
        assert_eq!(some.column(ts), batch.column(ts));
        assert_eq!(some.column(screen), batch.column(screen));
        assert_eq!(unit.bytes_of(&[ts, user, screen]), unit.bytes());
    }
    assert!(chunks >= 1 && plan.units.iter().any(|u| u.is_memtable()));
    store.close().unwrap();
}
