//! The engine over the real store: rows in the memtable and in flushed segments answer the same,
//! and site and time pruning show in the stats.
#![expect(clippy::unwrap_used)]

use ecomdash_query::{execute, parse_and_check, QueryLimits, QueryResult, SnapshotSource};
use ecomdash_storage::{Durability, RowBuf, Store, StoreConfig, Table, Value};
use serde_json::json;

const DAY_US: i64 = 86_400_000_000;
const JAN1: i64 = 20_454 * DAY_US;

fn append_events(store: &Store) {
    let schema = Table::Events.schema();
    let mut rows = RowBuf::new(Table::Events);
    for i in 0..300i64 {
        let site = if i % 3 == 0 { "b.com" } else { "a.com" };
        let path = format!("/p/{}", i % 7);
        let session = format!("s{}", i % 40);
        let mut values = vec![Value::Null; schema.len()];
        values[schema.index_of("ts").unwrap()] = Value::Int(JAN1 + (i % 5) * DAY_US + i);
        values[schema.index_of("site").unwrap()] = Value::Str(site);
        values[schema.index_of("type").unwrap()] = Value::Str("pageview");
        values[schema.index_of("name").unwrap()] = Value::Str(if i % 4 == 0 {
            "add_to_cart"
        } else {
            "pageview"
        });
        values[schema.index_of("path").unwrap()] = Value::Str(&path);
        values[schema.index_of("session_id").unwrap()] = Value::Str(&session);
        values[schema.index_of("event_id").unwrap()] = Value::Null;
        if i % 10 == 0 {
            values[schema.index_of("revenue").unwrap()] = Value::Int(i * 100);
        }
        rows.push_row(&values).unwrap();
    }
    store.append(rows).wait().unwrap();
}

fn run(store: &Store, sql: &str) -> QueryResult {
    let q = parse_and_check(sql).unwrap();
    let source = SnapshotSource::new(store.snapshot());
    execute(&q, &source, &QueryLimits::default(), &["a.com".to_string()]).unwrap()
}

#[test]
fn memtable_and_segments_answer_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        durability: Durability::None,
        ..StoreConfig::default()
    };
    let store = Store::open(dir.path(), config).unwrap();
    append_events(&store);
    let queries = [
        "SELECT count(), uniq(session_id), sum(revenue) FROM events",
        "SELECT path, count() AS c FROM events GROUP BY path ORDER BY c DESC, path",
        "SELECT toDate(ts) AS d, count() FROM events WHERE toDate(ts) >= '2026-01-03' GROUP BY d ORDER BY d",
        "SELECT level, count() FROM (SELECT session_id, windowFunnel(86400)(ts, name = 'pageview', name = 'add_to_cart') AS level FROM events GROUP BY session_id) GROUP BY level ORDER BY level",
        // props is null in every row: a LIKE over a column with an empty dictionary
        "SELECT count(), countIf(props NOT LIKE '%run%') FROM events WHERE props LIKE '%run%' OR path LIKE '/p/1%'",
        // a filter keeping under an eighth of the rows: the segment read decodes the other
        // columns at those rows only
        "SELECT toDate(ts) AS d, sum(revenue), count(), uniq(session_id) FROM events WHERE path = '/p/3' AND name = 'add_to_cart' GROUP BY d ORDER BY d",
        "SELECT ts, name, session_id, revenue FROM events WHERE path = '/p/3' AND name = 'add_to_cart' ORDER BY ts",
    ];
    let fresh: Vec<QueryResult> = queries.iter().map(|q| run(&store, q)).collect();
    let revenue: i64 = (0..300i64)
        .filter(|i| i % 10 == 0 && i % 3 != 0)
        .map(|i| i * 100)
        .sum();
    let sessions = (0..300i64)
        .filter(|i| i % 3 != 0)
        .map(|i| i % 40)
        .collect::<std::collections::HashSet<_>>()
        .len();
    assert_eq!(
        fresh[0].rows,
        vec![vec![json!(200), json!(sessions), json!(revenue)]]
    );
    assert_eq!(fresh[0].stats.rows_read, 200, "b.com partitions are pruned");
    store.flush().unwrap();
    for (sql, before) in queries.iter().zip(&fresh) {
        let after = run(&store, sql);
        assert_eq!(after.rows, before.rows, "{sql}");
        assert!(after.stats.segments_scanned > 0, "{sql}");
    }
    // Site partitions of b.com are pruned, and days before the range.
    let r = run(
        &store,
        "SELECT count() FROM events WHERE ts >= '2026-01-04'",
    );
    assert_eq!(r.rows, vec![vec![json!(80)]]);
    assert!(r.stats.segments_pruned > 0);
    assert!(r.stats.rows_read < 300);
    store.close().unwrap();
}

#[test]
fn units_without_a_selected_row_skip_the_other_columns() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        durability: Durability::None,
        ..StoreConfig::default()
    };
    let store = Store::open(dir.path(), config).unwrap();
    append_events(&store);
    store.flush().unwrap();
    let columns = "ts, name, session_id, revenue";
    // LIKE is not decided from the chunk statistics: the filter runs on the rows.
    let none = run(
        &store,
        &format!("SELECT {columns} FROM events WHERE path LIKE '/p/none%' ORDER BY ts"),
    );
    // `=` a string no chunk's dictionary holds: every unit is skipped unread.
    let absent = run(
        &store,
        &format!("SELECT {columns} FROM events WHERE path = '/p/none' ORDER BY ts"),
    );
    assert!(absent.rows.is_empty());
    assert_eq!((absent.stats.rows_read, absent.stats.bytes_read), (0, 0));
    let all = run(
        &store,
        &format!("SELECT {columns} FROM events WHERE path != '/p/none' ORDER BY ts"),
    );
    let one = run(
        &store,
        &format!("SELECT {columns} FROM events WHERE path = '/p/3' ORDER BY ts LIMIT 2"),
    );
    assert!(none.rows.is_empty());
    assert_eq!(all.rows.len(), 200);
    assert_eq!(none.stats.rows_read, all.stats.rows_read);
    assert!(
        none.stats.bytes_read < all.stats.bytes_read,
        "{} !< {}",
        none.stats.bytes_read,
        all.stats.bytes_read
    );
    // the other columns of the selected rows are the right ones: of the rows of a.com with
    // i % 7 == 3, the first day holds i = 10 and i = 80
    assert_eq!(one.rows.len(), 2);
    assert_eq!(one.rows[0][1..3], [json!("pageview"), json!("s10")]);
    assert_eq!(one.rows[1][1..3], [json!("add_to_cart"), json!("s0")]);
    store.close().unwrap();
}
