//! Model-based property test: random sequences of appends (including retried duplicates),
//! flushes, compactions, reopens, erasures and retention, compared after every step with an
//! in-memory model of what the store must contain.
#![expect(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::*;
use ecomdash_storage::{Store, StoreConfig, MICROS_PER_DAY};
use proptest::prelude::*;
use proptest::test_runner::Config;

const SITES: [&str; 3] = ["a.com", "b.com", "c.com"];
const VISITORS: usize = 6;

#[derive(Clone, Debug)]
enum Op {
    /// New events: (site, visitor, day) each.
    Append(Vec<(usize, usize, i64)>),
    /// Re-sends stored events (picked by index), as a client retry would.
    Retry(Vec<usize>),
    Flush,
    Compact,
    /// Drop the store without closing (the WAL holds the memtable), then open again.
    Reopen,
    CloseReopen,
    Erase {
        site: usize,
        visitor: usize,
    },
    /// Keep the last `days` days relative to day 3.
    Retain {
        days: u32,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec((0..SITES.len(), 0..VISITORS, 0..4i64), 1..30).prop_map(Op::Append),
        1 => prop::collection::vec(any::<usize>(), 1..5).prop_map(Op::Retry),
        2 => Just(Op::Flush),
        1 => Just(Op::Compact),
        2 => Just(Op::Reopen),
        1 => Just(Op::CloseReopen),
        1 => (0..SITES.len(), 0..VISITORS).prop_map(|(site, visitor)| Op::Erase { site, visitor }),
        1 => (1..4u32).prop_map(|days| Op::Retain { days }),
    ]
}

fn config() -> StoreConfig {
    StoreConfig {
        dedup_window_ms: 3_600_000,
        compaction_min_segments: 2,
        ..small_config()
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Some(Store::open(dir.path(), config()).unwrap());
    // (site, event_id) → event.
    let mut model: BTreeMap<(String, String), Ev> = BTreeMap::new();
    let mut next_id = 0;
    let today = DAY0_US + 3 * MICROS_PER_DAY;
    for op in ops {
        let s = store.as_ref().unwrap();
        match op {
            Op::Append(specs) => {
                let events: Vec<Ev> = specs
                    .iter()
                    .map(|&(site, visitor, day)| {
                        next_id += 1;
                        Ev::new(
                            SITES[site],
                            &format!("e{next_id}"),
                            DAY0_US + day * MICROS_PER_DAY + next_id,
                            &format!("v{visitor}"),
                        )
                    })
                    .collect();
                let receipt = s.append(rows(&events)).wait().unwrap();
                prop_assert_eq!(receipt.rows_written, events.len());
                for e in events {
                    model.insert((e.site.clone(), e.event_id.clone()), e);
                }
            }
            Op::Retry(picks) => {
                if model.is_empty() {
                    continue;
                }
                let stored: Vec<&Ev> = model.values().collect();
                let events: Vec<Ev> = picks
                    .iter()
                    .map(|p| stored[p % stored.len()].clone())
                    .collect();
                let receipt = s.append(rows(&events)).wait().unwrap();
                prop_assert_eq!(receipt.rows_written, 0);
                prop_assert_eq!(receipt.rows_deduplicated, events.len());
            }
            Op::Flush => s.flush().unwrap(),
            Op::Compact => {
                s.compact().unwrap();
            }
            Op::Reopen => {
                drop(store.take());
                store = Some(Store::open(dir.path(), config()).unwrap());
            }
            Op::CloseReopen => {
                store.take().unwrap().close().unwrap();
                store = Some(Store::open(dir.path(), config()).unwrap());
                prop_assert_eq!(store.as_ref().unwrap().stats().memtable_rows, 0);
            }
            Op::Erase { site, visitor } => {
                let v = format!("v{visitor}");
                let report = s.erase(SITES[site], &[&v], &[]).unwrap();
                let before = model.len();
                model.retain(|_, e| !(e.site == SITES[site] && e.visitor == v));
                prop_assert_eq!(report.rows_erased as usize, before - model.len());
            }
            Op::Retain { days } => {
                let cutoff = ecomdash_storage::day_of(today) - days as i32;
                s.retain_days(days, today).unwrap();
                model.retain(|_, e| ecomdash_storage::day_of(e.ts) > cutoff);
            }
        }
        let expected: Vec<Ev> = {
            let mut v: Vec<Ev> = model.values().cloned().collect();
            v.sort();
            v
        };
        prop_assert_eq!(scan_events(store.as_ref().unwrap()), expected);
    }
    drop(store);
    assert_consistent_dir(dir.path());
    Ok(())
}

proptest! {
    #![proptest_config(Config { cases: 24, failure_persistence: None, ..Config::default() })]

    #[test]
    fn store_matches_the_model(ops in prop::collection::vec(op(), 1..14)) {
        run(ops)?;
    }
}
