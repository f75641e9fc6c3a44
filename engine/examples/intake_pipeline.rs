//! A fixed intake workload for instruction counts (docs/benchmarks.md, "Engine: HTTP intake"):
//! N batches of 100 identical pageviews (the wrk benchmark's body) go through exactly what the
//! batch handler runs between reading the body and appending: decode, validate, enrich and row
//! encoding ([`Enricher::prepare_events`]). With `store`, each batch is then appended to a store
//! in a temp dir (fsync durability) and waited for, as the handler does. `varied` is `pipeline`
//! with a different page path in each event of a batch (identical events are the best case for
//! what a request's events share).
//!
//! ```sh
//! cargo build --release -p ecomdash-engine --example intake_pipeline
//! valgrind --tool=callgrind target/release/examples/intake_pipeline pipeline 200
//! ```
//!
//! Instructions per event = (total - the same run with 0 batches) / (100 * N).

use std::net::IpAddr;

use ecomdash_engine::enrich::TrustedProxies;
use ecomdash_engine::pipeline::{ClientContext, Enricher, SiteContext};
use ecomdash_engine::session::SessionIndex;
use ecomdash_protocol::decode::decode_batch_events;
use ecomdash_protocol::ValidateOptions;
use ecomdash_storage::{Store, StoreConfig};

const EVENT: &str = r#"{"type":"pageview","url":"https://shop.example/p/shoes?utm_source=google&utm_medium=cpc","referrer":"https://www.google.com/","title":"Cool Shoes","screen":{"w":1920,"h":1080},"lang":"en-US","props":{"source":"homepage"}}"#;
const USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "pipeline".to_owned());
    let batches: usize = args.next().map_or(Ok(200), |n| n.parse())?;
    let events: Vec<String> = (0..100)
        .map(|i| match mode.as_str() {
            "varied" => EVENT.replace("/p/shoes?", &format!("/p/shoes-{i}?")),
            _ => EVENT.to_owned(),
        })
        .collect();
    let body = format!("{{\"events\":[{}]}}", events.join(","));
    let dir = tempfile::tempdir()?;
    let now_ms = 1_767_225_600_000;
    let enricher = Enricher::open(dir.path(), now_ms, TrustedProxies::none())?;
    let sessions = SessionIndex::new(1_800_000);
    let site = SiteContext {
        domain: "shop.example",
        sessions: &sessions,
    };
    let ip: IpAddr = "203.0.113.9".parse()?;
    let client = ClientContext::Http {
        ip,
        user_agent: USER_AGENT,
        accept_language: Some("en-US,en;q=0.9"),
    };
    let options = ValidateOptions {
        now_ms,
        check_ts_window: true,
    };
    let store = match mode.as_str() {
        "pipeline" | "varied" => None,
        "store" => Some(Store::open(
            &dir.path().join("store"),
            StoreConfig::default(),
        )?),
        other => anyhow::bail!("unknown mode {other:?}: pipeline, varied or store"),
    };
    let mut accepted = 0;
    for _ in 0..batches {
        let batch = decode_batch_events(body.as_bytes()).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let prepared = enricher
            .prepare_events(&site, batch.events.into_iter(), &client, options)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        accepted += prepared.live.len();
        if let Some(store) = &store {
            store.append(prepared.rows).wait()?;
        }
        drop(prepared.live);
    }
    if let Some(store) = store {
        store.close()?;
    }
    println!("{mode}: {accepted} events in {batches} batches");
    Ok(())
}
