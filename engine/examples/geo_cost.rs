//! Fixed-count geo lookups, for instruction counts that do not depend on the machine's load:
//!
//! ```sh
//! cargo build --release -p ecomdash-engine --example geo_cost
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/geo_cost MODE N
//! ```
//!
//! MODE is `hit` (address cache hits), `record` (tree walk + record cache, as for an address seen
//! for the first time), `uncached` (tree walk + decode) or `none` (setup only). Run with two
//! counts and divide the difference of the totals by the difference of the counts. The database is
//! `GEOIP_TEST_DB`, else `/var/tmp/ecomdash-geoip/geoip.mmdb`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use ecomdash_engine::enrich::geo::is_public;
use ecomdash_engine::enrich::GeoDb;
use rand::{Rng, SeedableRng};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "hit".to_owned());
    let count: usize = args.next().unwrap_or_else(|| "100000".to_owned()).parse()?;
    let path = std::env::var_os("GEOIP_TEST_DB").map_or_else(
        || PathBuf::from("/var/tmp/ecomdash-geoip/geoip.mmdb"),
        PathBuf::from,
    );
    let db = GeoDb::open(&path)?;

    // 4,096 distinct public IPv4 addresses (fixed seed), all looked up once so every cache is warm
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut ips = Vec::with_capacity(4096);
    while ips.len() < 4096 {
        let ip = IpAddr::V4(Ipv4Addr::from(rng.gen::<u32>()));
        if is_public(ip) {
            ips.push(ip);
        }
    }
    let mut found = 0usize;
    for ip in &ips {
        found += usize::from(db.lookup(*ip).is_some());
    }
    for i in 0..count {
        let ip = black_box(ips[i % ips.len()]);
        let hit = match mode.as_str() {
            "hit" => db.lookup(ip).is_some(),
            "record" => db.lookup_record_cached(ip)?.is_some(),
            "uncached" => db.lookup_uncached(ip)?.is_some(),
            "none" => false,
            other => anyhow::bail!("unknown mode {other} (hit, record, uncached, none)"),
        };
        black_box(hit);
    }
    println!(
        "{mode} x{count}: {found} of {} addresses have a location",
        ips.len()
    );
    Ok(())
}
