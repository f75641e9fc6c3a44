//! Append throughput of the store with `Durability::Fsync` (group commit): 1, 8 and 64 threads,
//! each appending small `RowBuf`s of realistic synthetic events (4 events per append, like a
//! tracker batch) and waiting for every ticket before the next.
//!
//! `cargo bench -p ecomdash-storage --bench append`. The store lives under the cargo target dir
//! (a real disk: fsync on tmpfs would be free). Also runs the same workload with
//! `Durability::None` as the in-run baseline, so the cost of fsync shows as a ratio.

#[path = "synth.rs"]
mod synth;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ecomdash_storage::{Durability, RowBuf, Store, StoreConfig, Table};
use synth::{Generator, SynthConfig};

const ROWS_PER_APPEND: usize = 4;
/// Appends per measured round, split over the appender threads.
const APPENDS_PER_ROUND: usize = 512;

fn row_bufs(count: usize) -> Vec<RowBuf> {
    let mut generator = Generator::new(SynthConfig {
        event_ids: true,
        ..SynthConfig::default()
    });
    let events = generator.day(count * ROWS_PER_APPEND);
    let site = generator.config.site;
    let mut out = Vec::with_capacity(count);
    for chunk in events.chunks(ROWS_PER_APPEND) {
        let mut buf = RowBuf::new(Table::Events);
        for event in chunk {
            let scratch = event.scratch();
            buf.push_row(&event.row_values(site, &generator.catalogue, &scratch))
                .expect("synthetic rows fit the schema");
        }
        out.push(buf);
    }
    out
}

/// Runs one round: `threads` appenders share `bufs`, each waits for its tickets one by one.
fn round(store: &Store, bufs: &Arc<Vec<RowBuf>>, threads: usize) -> Duration {
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (store, bufs) = (store.clone(), bufs.clone());
            std::thread::spawn(move || {
                for buf in bufs.iter().skip(t).step_by(threads) {
                    store.append(buf.clone()).wait().expect("append");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("appender thread");
    }
    started.elapsed()
}

fn append(c: &mut Criterion) {
    let bufs = Arc::new(row_bufs(APPENDS_PER_ROUND));
    let mut group = c.benchmark_group("append");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Elements(
        (APPENDS_PER_ROUND * ROWS_PER_APPEND) as u64,
    ));
    for (label, durability) in [("fsync", Durability::Fsync), ("none", Durability::None)] {
        for threads in [1, 8, 64] {
            let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
            let store = Store::open(
                dir.path(),
                StoreConfig {
                    durability,
                    // Rounds re-send the same events; with dedup on they would all be dropped
                    // after the first round. Dedup cost is therefore not in these figures.
                    dedup_window_ms: 0,
                    ..StoreConfig::default()
                },
            )
            .expect("open store");
            group.bench_function(format!("{label}/{threads}_appenders"), |b| {
                b.iter_custom(|iters| (0..iters).map(|_| round(&store, &bufs, threads)).sum());
            });
            let stats = store.stats();
            eprintln!(
                "{label}/{threads}: {} fsyncs, avg {} us, max {} us, {} rows",
                stats.fsync_count, stats.fsync_avg_us, stats.fsync_max_us, stats.rows_written
            );
            store.close().expect("close");
        }
    }
    group.finish();
}

criterion_group!(benches, append);
criterion_main!(benches);
