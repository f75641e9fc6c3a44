//! Geo lookup cost per address: address-cache hit, tree walk with the record cache (an address
//! seen for the first time), and tree walk plus decode with no cache at all. Needs the database:
//! `engine/scripts/fetch-geoip.sh /var/tmp/ecomdash-geoip` (or `GEOIP_TEST_DB=FILE`), then
//! `cargo bench -p ecomdash-engine --bench geo`.
#![expect(clippy::unwrap_used)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ecomdash_engine::enrich::GeoDb;
use rand::{Rng, SeedableRng};

/// Distinct public IPv4 addresses, fixed seed.
fn addresses(count: usize) -> Vec<IpAddr> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let ip = IpAddr::V4(Ipv4Addr::from(rng.gen::<u32>()));
        if ecomdash_engine::enrich::geo::is_public(ip) {
            out.push(ip);
        }
    }
    out
}

fn geo(c: &mut Criterion) {
    let path = std::env::var_os("GEOIP_TEST_DB").map_or_else(
        || PathBuf::from("/var/tmp/ecomdash-geoip/geoip.mmdb"),
        PathBuf::from,
    );
    if !path.exists() {
        eprintln!("skipped: no geoip database at {}", path.display());
        return;
    }
    let db = GeoDb::open(&path).unwrap();
    let ips = addresses(4096);
    let mut group = c.benchmark_group("geo");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));

    for ip in &ips {
        db.lookup(*ip);
    }
    let mut i = 0;
    group.bench_function("address_cache_hit", |b| {
        b.iter(|| {
            i = (i + 1) % ips.len();
            db.lookup(black_box(ips[i]))
        })
    });
    // records are cached after the loop above; the tree walk runs every time
    group.bench_function("tree_walk_record_cached", |b| {
        b.iter(|| {
            i = (i + 1) % ips.len();
            db.lookup_record_cached(black_box(ips[i])).unwrap()
        })
    });
    group.bench_function("uncached_walk_and_decode", |b| {
        b.iter(|| {
            i = (i + 1) % ips.len();
            db.lookup_uncached(black_box(ips[i])).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, geo);
criterion_main!(benches);
