//! Segment benches: encode and decode throughput, bytes per stored event against raw JSON and
//! zstd -3 JSON (printed), and scan speed over many rows decoding `ts` + `path` with a time and
//! site filter. Fixed seeds throughout.
//!
//! `cargo bench -p ecomdash-storage --bench segments`. `SEGMENT_SCAN_ROWS` (default 10_000_000) sets the
//! scan data set size, `SEGMENT_SIZE_ROWS` (default 1_000_000) the size measurement's.

#[path = "synth.rs"]
mod synth;

use std::hint::black_box;
use std::io::Write;
use std::path::Path;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ecomdash_storage::{
    rewrite_with_null_columns, write_segment, write_segment_with, ColumnBatch, ColumnVec, Segment,
    Table, WriteOptions, Zone,
};
use synth::{to_batch, Generator, SynthConfig, MICROS_PER_DAY};

const ENCODE_ROWS: usize = 200_000;

fn env_rows(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn day_batch(config: SynthConfig, rows: usize) -> ColumnBatch {
    let mut generator = Generator::new(config);
    let events = generator.day(rows);
    to_batch(&events, generator.config.site, &generator.catalogue)
}

fn write(dir: &Path, name: &str, config: &SynthConfig, batch: &ColumnBatch) -> Segment {
    let mut options = WriteOptions::for_table(Table::Events);
    options.zstd_level = env_rows("SEGMENT_ZSTD_LEVEL", options.zstd_level as usize) as i32;
    write_segment_with(
        dir,
        name,
        Table::Events,
        config.site,
        config.day,
        batch,
        &options,
    )
    .expect("write segment");
    Segment::open(&dir.join(name)).expect("open segment")
}

/// Prints bytes per stored event for pageview-heavy traffic, against raw NDJSON and zstd -3 NDJSON
/// of the same events (DESIGN.md wire format), plus the per-column split.
fn storage_size(c: &mut Criterion) {
    let size_rows = env_rows("SEGMENT_SIZE_ROWS", 1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    for event_ids in [false, true] {
        let config = SynthConfig {
            seed: 7,
            event_ids,
            ..SynthConfig::default()
        };
        let mut generator = Generator::new(config.clone());
        let events = generator.day(size_rows);
        let pageviews = events
            .iter()
            .filter(|e| e.kind == synth::Kind::Pageview)
            .count();
        let mut ndjson = Vec::new();
        for e in &events {
            serde_json::to_writer(&mut ndjson, &e.wire_json(config.site, &generator.catalogue))
                .expect("json");
            ndjson.push(b'\n');
        }
        let zstd3 = zstd::bulk::compress(&ndjson, 3).expect("zstd");
        let batch = to_batch(&events, config.site, &generator.catalogue);
        drop(events);
        let name = format!("size-{event_ids}.seg");
        let segment = write(dir.path(), &name, &config, &batch);
        let n = size_rows as f64;
        println!(
            "storage size, {size_rows} events ({:.0}% pageviews), event_id on every event: {event_ids}",
            100.0 * pageviews as f64 / n
        );
        println!(
            "  segment {:.2} B/event | raw NDJSON {:.1} B/event | zstd -3 NDJSON {:.2} B/event | segment/zstd-json {:.2}",
            segment.meta().file_bytes as f64 / n,
            ndjson.len() as f64 / n,
            zstd3.len() as f64 / n,
            segment.meta().file_bytes as f64 / zstd3.len() as f64,
        );
        let schema = Table::Events.schema();
        let mut per_column: Vec<(f64, &str)> = (0..schema.len())
            .map(|col| {
                let bytes: u64 = (0..segment.chunk_count())
                    .map(|ch| segment.compressed_bytes(ch, col))
                    .sum::<u64>()
                    + segment.dictionary_bytes(col);
                (bytes as f64 / n, schema.column(col).name)
            })
            .collect();
        per_column.sort_by(|a, b| b.0.total_cmp(&a.0));
        let top: Vec<String> = per_column
            .iter()
            .take(16)
            .map(|(b, name)| format!("{name} {b:.2}"))
            .collect();
        println!(
            "  largest columns, B/event (blocks + dictionary): {}",
            top.join(", ")
        );
        if event_ids {
            // What the store keeps once the dedup window has passed: compaction's column TTL
            // rewrites the segment without `event_id` (block copy, other columns untouched).
            let id_col = schema.index_of("event_id").expect("event_id column");
            let started = std::time::Instant::now();
            let meta =
                rewrite_with_null_columns(&segment, dir.path(), "size-expired.seg", &[id_col])
                    .expect("rewrite without event_id");
            println!(
                "  after the event_id TTL (dedup window passed): segment {:.2} B/event | segment/zstd-json {:.2} | rewrite took {:?}",
                meta.file_bytes as f64 / n,
                meta.file_bytes as f64 / zstd3.len() as f64,
                started.elapsed()
            );
        }
        std::io::stdout().flush().ok();
    }
    // A timed comparison point in the same run: zstd -3 over NDJSON vs the segment writer.
    let config = SynthConfig::default();
    let mut generator = Generator::new(config.clone());
    let events = generator.day(ENCODE_ROWS);
    let mut ndjson = Vec::new();
    for e in &events {
        serde_json::to_writer(&mut ndjson, &e.wire_json(config.site, &generator.catalogue))
            .expect("json");
        ndjson.push(b'\n');
    }
    let mut group = c.benchmark_group("baseline");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ENCODE_ROWS as u64));
    group.bench_function("zstd3_ndjson_compress", |b| {
        b.iter(|| zstd::bulk::compress(black_box(&ndjson), 3).expect("zstd"))
    });
    group.finish();
}

fn encode_decode(c: &mut Criterion) {
    let config = SynthConfig::default();
    let batch = day_batch(config.clone(), ENCODE_ROWS);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut group = c.benchmark_group("segment");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ENCODE_ROWS as u64));
    group.bench_function("write_segment_200k_events", |b| {
        b.iter_batched(
            || (),
            |()| {
                write_segment(
                    dir.path(),
                    "enc.seg",
                    Table::Events,
                    config.site,
                    config.day,
                    &batch,
                )
                .expect("write")
            },
            BatchSize::PerIteration,
        )
    });
    let segment = write(dir.path(), "dec.seg", &config, &batch);
    group.bench_function("read_all_200k_events", |b| {
        b.iter(|| segment.read_all().expect("read"))
    });
    let ts = 0;
    let path = Table::Events
        .schema()
        .index_of("path")
        .expect("path column");
    group.bench_function("read_ts_path_200k_events", |b| {
        b.iter(|| {
            let mut rows = 0;
            for chunk in 0..segment.chunk_count() {
                rows += segment
                    .read_chunk(chunk, &[ts, path])
                    .expect("read")
                    .row_count;
            }
            rows
        })
    });
    group.finish();
}

/// Scans `ts` + `path` over many segments: 2 sites × 5 days. Query: site A, from day 1 06:00 to
/// day 3 18:00, count rows per path. Pruning by segment meta (site, day) and chunk zone maps.
fn scan(c: &mut Criterion) {
    let total = env_rows("SEGMENT_SCAN_ROWS", 10_000_000);
    let per_segment = total / 10;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut segments = Vec::new();
    let started = std::time::Instant::now();
    for (s, site) in ["a.example", "b.example"].into_iter().enumerate() {
        for d in 0..5 {
            let config = SynthConfig {
                seed: 1000 + (s * 10 + d) as u64,
                site,
                day: 20_454 + d as i32,
                ..SynthConfig::default()
            };
            let batch = day_batch(config.clone(), per_segment);
            segments.push(write(
                dir.path(),
                &format!("{site}-{d}.seg"),
                &config,
                &batch,
            ));
        }
    }
    let rows_total: u64 = segments.iter().map(|s| s.meta().row_count).sum();
    println!(
        "scan data: {rows_total} rows in {} segments, built in {:.1?}",
        segments.len(),
        started.elapsed()
    );
    let from = (20_454 + 1) * MICROS_PER_DAY + 6 * 3_600_000_000;
    let to = (20_454 + 3) * MICROS_PER_DAY + 18 * 3_600_000_000;
    let schema = Table::Events.schema();
    let path_col = schema.index_of("path").expect("path");
    let ts_col = schema.time_column;
    let query = || {
        let mut matched = 0u64;
        let mut decoded = 0u64;
        let mut distinct_paths = 0usize;
        for segment in &segments {
            let meta = segment.meta();
            if meta.site != "a.example" || meta.max_ts < from || meta.min_ts >= to {
                continue;
            }
            let dict = segment.dictionary(path_col).expect("dict");
            let mut counts = vec![0u32; dict.len()];
            for chunk in 0..segment.chunk_count() {
                if let Some(Zone::Int { min, max }) = segment.zone(chunk, ts_col) {
                    if max < from || min >= to {
                        continue;
                    }
                }
                let batch = segment
                    .read_chunk(chunk, &[ts_col, path_col])
                    .expect("read");
                decoded += batch.row_count as u64;
                let (ColumnVec::Int { values: ts, .. }, ColumnVec::Str { codes, .. }) =
                    (&batch.columns[0], &batch.columns[1])
                else {
                    unreachable!("ts is int, path is str");
                };
                for (&t, &code) in ts.iter().zip(codes) {
                    let hit = (t >= from) & (t < to);
                    counts[code as usize] += u32::from(hit);
                    matched += u64::from(hit);
                }
            }
            distinct_paths += counts.iter().filter(|&&n| n > 0).count();
        }
        (matched, decoded, distinct_paths)
    };
    let (matched, decoded, paths) = query();
    println!("scan query: {matched} rows matched, {decoded} rows decoded, {paths} (segment, path) groups");
    let mut group = c.benchmark_group("scan");
    group.sample_size(10);
    group.throughput(Throughput::Elements(rows_total));
    group.bench_function(format!("ts_path_time_site_filter_{rows_total}_rows"), |b| {
        b.iter(query)
    });
    group.throughput(Throughput::Elements(rows_total));
    group.bench_function(format!("ts_path_no_pruning_{rows_total}_rows"), |b| {
        b.iter(|| {
            let mut n = 0u64;
            for segment in &segments {
                for chunk in 0..segment.chunk_count() {
                    let batch = segment
                        .read_chunk(chunk, &[ts_col, path_col])
                        .expect("read");
                    if let ColumnVec::Int { values, .. } = &batch.columns[0] {
                        n += values.iter().filter(|&&t| t >= from && t < to).count() as u64;
                    }
                }
            }
            n
        })
    });
    group.finish();
}

criterion_group!(benches, storage_size, encode_decode, scan);
criterion_main!(benches);
