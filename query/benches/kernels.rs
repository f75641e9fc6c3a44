//! Hot kernels measured through the public API over in-memory batches shaped like segment chunks
//! (64 Ki rows, one dictionary per 4 chunks): filters on dictionary codes, group-by on codes,
//! exact and approximate distinct counting, a plain sum. Fixed seed; throughput in rows.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ecomdash_query::{execute, parse_and_check, MemorySource, QueryLimits};
use ecomdash_storage::{ColumnBatch, ColumnVec, StrDict, Table};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CHUNK_ROWS: usize = 64 * 1024;
const CHUNKS: usize = 16;
const CHUNKS_PER_DICT: usize = 4;
const JAN1_US: i64 = 20_454 * 86_400_000_000;

fn dict(values: &[String]) -> Arc<StrDict> {
    Arc::new(StrDict::from_strs(values.iter().map(String::as_str)))
}

fn source() -> MemorySource {
    let schema = Table::Events.schema();
    let idx = |n: &str| schema.index_of(n).expect("column exists");
    let mut rng = StdRng::seed_from_u64(42);
    let paths: Vec<String> = (0..2_000).map(|i| format!("/p/{i}")).collect();
    let types: Vec<String> = ["pageview", "click", "custom", "ecommerce"]
        .map(String::from)
        .to_vec();
    let sites = vec!["shop.example".to_string()];
    let mut src = MemorySource::new();
    let mut visitors: Vec<String> = Vec::new();
    let (mut path_dict, mut type_dict, mut site_dict, mut visitor_dict) =
        (dict(&paths), dict(&types), dict(&sites), dict(&visitors));
    for chunk in 0..CHUNKS {
        if chunk % CHUNKS_PER_DICT == 0 {
            // A new "segment": fresh dictionaries, a new slice of visitors.
            visitors = (0..50_000)
                .map(|i| format!("v{}-{i}", chunk / CHUNKS_PER_DICT))
                .collect();
            path_dict = dict(&paths);
            type_dict = dict(&types);
            site_dict = dict(&sites);
            visitor_dict = dict(&visitors);
        }
        let n = CHUNK_ROWS;
        let zipf = |rng: &mut StdRng, len: usize| {
            let u: f64 = rng.gen();
            ((u * u * u) * len as f64) as u32
        };
        let ts: Vec<i64> = (0..n)
            .map(|i| JAN1_US + ((chunk * n + i) as i64) * 2_000_000)
            .collect();
        let path_codes: Vec<u32> = (0..n).map(|_| zipf(&mut rng, paths.len())).collect();
        let type_codes: Vec<u32> = (0..n).map(|_| zipf(&mut rng, types.len())).collect();
        let visitor_codes: Vec<u32> = (0..n)
            .map(|_| rng.gen_range(0..visitors.len() as u32))
            .collect();
        let revenue: Vec<i64> = (0..n).map(|_| rng.gen_range(0..10_000)).collect();
        let columns = vec![
            (
                idx("ts"),
                ColumnVec::Int {
                    values: ts,
                    validity: None,
                },
            ),
            (
                idx("site"),
                ColumnVec::Str {
                    dict: Arc::clone(&site_dict),
                    codes: vec![0; n],
                    validity: None,
                },
            ),
            (
                idx("type"),
                ColumnVec::Str {
                    dict: Arc::clone(&type_dict),
                    codes: type_codes,
                    validity: None,
                },
            ),
            (
                idx("visitor_id"),
                ColumnVec::Str {
                    dict: Arc::clone(&visitor_dict),
                    codes: visitor_codes,
                    validity: None,
                },
            ),
            (
                idx("path"),
                ColumnVec::Str {
                    dict: Arc::clone(&path_dict),
                    codes: path_codes,
                    validity: None,
                },
            ),
            (
                idx("revenue"),
                ColumnVec::Int {
                    values: revenue,
                    validity: None,
                },
            ),
        ];
        let (column_indexes, columns) = columns.into_iter().unzip();
        src.push(
            Table::Events,
            ColumnBatch {
                column_indexes,
                columns,
                row_count: n,
            },
        );
    }
    src
}

fn kernels(c: &mut Criterion) {
    let src = source();
    let sites = vec!["shop.example".to_string()];
    let queries = [
        (
            "filter_eq_code",
            "SELECT count() FROM events WHERE path = '/p/17'",
        ),
        (
            "filter_like_dict",
            "SELECT count() FROM events WHERE path LIKE '/p/1%'",
        ),
        ("sum_int", "SELECT sum(revenue) FROM events"),
        (
            "group_by_code",
            "SELECT path, count() FROM events GROUP BY path",
        ),
        (
            "group_by_date_type",
            "SELECT toDate(ts), type, count() FROM events GROUP BY 1, 2",
        ),
        (
            "count_distinct",
            "SELECT count(DISTINCT visitor_id) FROM events",
        ),
        ("uniq_hll", "SELECT uniq(visitor_id) FROM events"),
    ];
    let mut group = c.benchmark_group("query_kernels");
    group.throughput(Throughput::Elements((CHUNK_ROWS * CHUNKS) as u64));
    group.sample_size(10);
    for threads in [1usize, 2] {
        let limits = QueryLimits {
            threads,
            ..QueryLimits::default()
        };
        for (name, sql) in queries {
            let q = parse_and_check(sql).expect("bench query parses");
            group.bench_function(format!("{name}/threads={threads}"), |b| {
                b.iter(|| execute(&q, &src, &limits, &sites).expect("bench query runs"))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, kernels);
criterion_main!(benches);
