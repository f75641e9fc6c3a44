//! Enrichment hot paths: User-Agent cache hit and miss, page URL + referrer parsing, PII
//! scrubbing, visitor id hashing. Run: `cargo bench -p ecomdash-engine --bench enrich`.
#![expect(clippy::unwrap_used)]

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ecomdash_engine::enrich::{
    classify_referrer, parse_page_url, parse_user_agent, scrub_text, scrub_url, SaltRing,
    TrustedProxies, UserAgentCache,
};

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const SAFARI_IOS: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";
const PAGE: &str = "https://shop.example/p/cool-shoes?utm_source=google&utm_medium=cpc&utm_campaign=black%20friday&color=red";
const REFERRER: &str = "https://www.google.co.uk/search?q=cool+shoes";
const DIRTY_URL: &str =
    "https://shop.example/account?email=jane%40mail.example&tab=orders&token=abc123";
const TITLE: &str = "Cool Shoes – Free shipping on orders over 50 EUR | Shop Example";

fn user_agent(c: &mut Criterion) {
    let mut group = c.benchmark_group("user_agent");
    group.throughput(Throughput::Elements(1));
    let cache = UserAgentCache::default();
    cache.get(CHROME);
    group.bench_function("cache_hit", |b| b.iter(|| cache.get(black_box(CHROME))));
    // capacity 1 and two alternating agents: every lookup misses, parses, clears and inserts
    let tiny = UserAgentCache::with_capacity(1);
    let mut flip = false;
    group.bench_function("cache_miss", |b| {
        b.iter(|| {
            flip = !flip;
            tiny.get(black_box(if flip { CHROME } else { SAFARI_IOS }))
        })
    });
    group.bench_function("parse_uncached", |b| {
        b.iter(|| parse_user_agent(black_box(SAFARI_IOS)))
    });
    group.finish();
}

fn url_and_referrer(c: &mut Criterion) {
    let mut group = c.benchmark_group("url_referrer");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse_page_url_and_classify_referrer", |b| {
        b.iter(|| {
            let page = parse_page_url(black_box(PAGE)).unwrap();
            let referrer = classify_referrer(Some(black_box(REFERRER)), &page.hostname, page.query);
            (page.path.len(), referrer.source)
        })
    });
    group.finish();
}

fn pii(c: &mut Criterion) {
    let mut group = c.benchmark_group("pii");
    group.throughput(Throughput::Elements(1));
    group.bench_function("scrub_url_clean", |b| {
        b.iter(|| scrub_url(black_box(PAGE)).len())
    });
    group.bench_function("scrub_url_dirty", |b| {
        b.iter(|| scrub_url(black_box(DIRTY_URL)).len())
    });
    group.bench_function("scrub_title_clean", |b| {
        b.iter(|| scrub_text(black_box(TITLE)).len())
    });
    group.finish();
}

fn visitor_id(c: &mut Criterion) {
    let mut group = c.benchmark_group("visitor_id");
    group.throughput(Throughput::Elements(1));
    let dir = tempfile::tempdir().unwrap();
    let now = 1_795_694_400; // fixed clock: no rotation during the bench
    let ring = SaltRing::open(dir.path(), now).unwrap();
    let ip: IpAddr = "198.51.100.7".parse().unwrap();
    group.bench_function("hash", |b| {
        b.iter(|| {
            ring.visitor_id(
                now,
                black_box("shop.example"),
                black_box(ip),
                black_box(CHROME),
            )
            .unwrap()
        })
    });
    let proxies = TrustedProxies::default();
    let peer: IpAddr = "127.0.0.1".parse().unwrap();
    group.bench_function("client_ip_from_forwarded_for", |b| {
        b.iter(|| proxies.client_ip(black_box(peer), [black_box("203.0.113.9, 198.51.100.7")]))
    });
    group.finish();
}

criterion_group!(benches, user_agent, url_and_referrer, pii, visitor_id);
criterion_main!(benches);
