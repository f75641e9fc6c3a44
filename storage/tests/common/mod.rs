//! Helpers shared by the store's integration tests: realistic event rows and full scans.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use ecomdash_storage::{
    Durability, RowBuf, ScanRequest, Store, StoreConfig, Table, Value, MICROS_PER_DAY,
};

pub const DAY0_US: i64 = 20_000 * MICROS_PER_DAY;

/// One `events` row: the columns tests look at, plus a few realistic ones.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ev {
    pub site: String,
    pub event_id: String,
    pub ts: i64,
    pub visitor: String,
    pub user: Option<String>,
    pub path: String,
}

impl Ev {
    pub fn new(site: &str, event_id: &str, ts: i64, visitor: &str) -> Ev {
        Ev {
            site: site.into(),
            event_id: event_id.into(),
            ts,
            visitor: visitor.into(),
            user: None,
            path: format!("/p/{}", ts % 7),
        }
    }
}

pub fn rows(events: &[Ev]) -> RowBuf {
    let schema = Table::Events.schema();
    let col = |name: &str| schema.index_of(name).expect("column exists");
    let mut buf = RowBuf::new(Table::Events);
    for e in events {
        let mut row = vec![Value::Null; schema.len()];
        row[col("ts")] = Value::Int(e.ts);
        row[col("site")] = Value::Str(&e.site);
        row[col("type")] = Value::Str("pageview");
        row[col("event_id")] = Value::Str(&e.event_id);
        row[col("session_id")] = Value::Str(&e.visitor);
        row[col("visitor_id")] = Value::Str(&e.visitor);
        if let Some(user) = &e.user {
            row[col("user_id")] = Value::Str(user);
        }
        row[col("path")] = Value::Str(&e.path);
        row[col("country")] = Value::Str("DE");
        row[col("screen_w")] = Value::Int(1280);
        row[col("is_bot")] = Value::Bool(false);
        row[col("lcp")] = Value::Float(1.25);
        buf.push_row(&row).expect("row fits the schema");
    }
    buf
}

pub fn small_config() -> StoreConfig {
    StoreConfig {
        durability: Durability::Fsync,
        memtable_max_bytes: 64 << 10,
        memtable_max_age_ms: 60_000,
        dedup_window_ms: 0,
        wal_file_max_bytes: 16 << 10,
        compaction_small_segment_bytes: 1 << 20,
        compaction_min_segments: 3,
        // Tests compare every row's event_id, so it must not expire.
        event_id_ttl_ms: None,
        ..StoreConfig::default()
    }
}

/// Every `events` row of the store as `Ev`s, sorted, via a full scan of a snapshot.
pub fn scan_events(store: &Store) -> Vec<Ev> {
    let schema = Table::Events.schema();
    let names = ["site", "event_id", "ts", "visitor_id", "user_id", "path"];
    let cols: Vec<usize> = names
        .iter()
        .map(|n| schema.index_of(n).expect("column"))
        .collect();
    let plan = store
        .snapshot()
        .plan_scan(&ScanRequest::new(Table::Events, cols));
    let mut out = Vec::new();
    for unit in &plan.units {
        let batch = unit.read().expect("unit reads");
        assert_eq!(batch.row_count, unit.row_count());
        for row in 0..batch.row_count {
            let s = |i: usize| match batch.columns[i].value(row) {
                Value::Str(s) => Some(s.to_string()),
                Value::Null => None,
                other => panic!("unexpected {other:?}"),
            };
            let ts = match batch.columns[2].value(row) {
                Value::Int(v) => v,
                other => panic!("unexpected ts {other:?}"),
            };
            out.push(Ev {
                site: s(0).unwrap_or_default(),
                event_id: s(1).unwrap_or_default(),
                ts,
                visitor: s(3).unwrap_or_default(),
                user: s(4),
                path: s(5).unwrap_or_default(),
            });
        }
    }
    out.sort();
    out
}

/// Event id → number of rows with it.
pub fn id_counts(events: &[Ev]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for e in events {
        *counts.entry(e.event_id.clone()).or_insert(0) += 1;
    }
    counts
}

/// Checks what can be checked from outside: no temp files, every manifest segment exists.
pub fn assert_consistent_dir(dir: &Path) {
    let manifest = ecomdash_storage::manifest::Manifest::load(dir)
        .expect("manifest loads")
        .expect("manifest exists");
    for seg in &manifest.segments {
        assert!(
            dir.join("segments").join(&seg.file).exists(),
            "{} missing",
            seg.file
        );
    }
}
