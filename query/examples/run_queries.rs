//! Runs SQL (one statement per line of a file) or the dashboard summary against a store
//! directory, in process, and prints each statement's median engine time: the tool behind the
//! profiles and instruction counts in docs/benchmarks.md ("Query: comparison with DuckDB and
//! chDB"). Stop any daemon using the store first (the store takes a lock).
//!
//! ```text
//! run_queries STORE_DIR SITE THREADS REPS (FILE.sql | fused FILE.sql | summary FROM TO)
//! ```
#![expect(clippy::unwrap_used)]

use std::path::Path;
use std::time::Instant;

use ecomdash_query::{
    execute, execute_many, parse_and_check, summary, QueryLimits, SnapshotSource, SummaryRequest,
};
use ecomdash_storage::{Store, StoreConfig};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    assert!(
        args.len() >= 6,
        "usage: run_queries STORE_DIR SITE THREADS REPS (FILE.sql | summary FROM TO)"
    );
    let store = Store::open(Path::new(&args[1]), StoreConfig::default()).unwrap();
    let site = args[2].clone();
    let limits = QueryLimits {
        threads: args[3].parse().unwrap(),
        ..QueryLimits::default()
    };
    let reps: usize = args[4].parse().unwrap();
    let source = SnapshotSource::new(store.snapshot());
    let time = |f: &mut dyn FnMut()| {
        let mut ms: Vec<f64> = (0..reps)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        ms.sort_by(f64::total_cmp);
        ms[ms.len() / 2]
    };
    if args[5] == "summary" {
        let request = SummaryRequest {
            site: site.clone(),
            from: args[6].clone(),
            to: args[7].clone(),
            filters: Vec::new(),
        };
        let ms = time(&mut || {
            summary(&source, &request, &limits).unwrap();
        });
        println!("{ms:9.1} ms  summary");
    } else if args[5] == "fused" {
        let text = std::fs::read_to_string(&args[6]).unwrap();
        let queries: Vec<_> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|sql| parse_and_check(sql).unwrap())
            .collect();
        let refs: Vec<_> = queries.iter().collect();
        let sites = [site.clone()];
        let mut read = 0;
        let ms = time(&mut || {
            let results = execute_many(&refs, &source, &limits, &sites).unwrap();
            read = results.iter().map(|r| r.stats.rows_read).sum::<u64>();
        });
        println!(
            "{ms:9.1} ms  {} queries in one run, rows read {read}",
            refs.len()
        );
    } else {
        let text = std::fs::read_to_string(&args[5]).unwrap();
        for sql in text.lines().filter(|l| !l.trim().is_empty()) {
            let query = parse_and_check(sql).unwrap();
            let sites = [site.clone()];
            let mut rows = 0;
            let ms = time(&mut || {
                rows = execute(&query, &source, &limits, &sites)
                    .unwrap()
                    .rows
                    .len();
            });
            println!("{ms:9.1} ms  {rows:4} rows  {sql}");
        }
    }
    drop(source);
    store.close().unwrap();
}
