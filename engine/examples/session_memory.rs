//! Measures the memory cost of a live session: starts the engine on a temp data dir, opens N
//! sessions through the SiteActor (one SessionActor each), and reports the RSS growth per session.
//!
//! `cargo run --release -p ecomdash-engine --example session_memory -- 200000`

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ecomdash_engine::clock::{Clock, SystemClock};
use ecomdash_engine::config::Config;
use ecomdash_engine::engine::Engine;
use ecomdash_engine::live::LiveEvent;
use ecomdash_engine::sites::SiteRegistry;

fn rss_bytes() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or_else(|| anyhow::anyhow!("no VmRSS"))?;
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("bad VmRSS"))?
        .parse()?;
    Ok(kib * 1024)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sessions: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let dir = tempfile::tempdir()?;
    let config = Config {
        data_dir: dir.path().to_owned(),
        ..Config::default()
    };
    let registry = SiteRegistry::open(&config.data_dir, Vec::new())?;
    registry.add("shop.example")?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let engine = Engine::start(config, clock.clone(), registry).await?;
    let site = engine
        .site("shop.example")
        .ok_or_else(|| anyhow::anyhow!("no site"))?;
    let path: Arc<str> = Arc::from("/products/shoes");
    let device: Arc<str> = Arc::from("mobile");
    let browser: Arc<str> = Arc::from("Safari");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rss_bytes()?;
    let started = Instant::now();
    for chunk in (0..sessions).collect::<Vec<_>>().chunks(100) {
        let now = clock.now_ms();
        let events = chunk
            .iter()
            .map(|i| LiveEvent {
                received_ms: now,
                event_ms: now,
                visitor: *i as u64,
                visitor_id: Arc::from(format!("{i:016x}")),
                session_id: Arc::from(format!("s{i:015x}")),
                is_pageview: true,
                path: Some(path.clone()),
                referrer_source: Some("search"),
                device: Some(device.clone()),
                browser: Some(browser.clone()),
                os: Some(browser.clone()),
                ..LiveEvent::default()
            })
            .collect();
        site.dispatch(events);
        while site.live.live_sessions.load(Ordering::Relaxed) + 10_000 < (chunk[0] as u64) {
            tokio::task::yield_now().await;
        }
    }
    while (site.live.live_sessions.load(Ordering::Relaxed) as usize) < sessions {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_bytes()?;
    let per_session = (after.saturating_sub(before)) as f64 / sessions as f64;
    println!(
        "{sessions} live sessions opened in {:.2} s; RSS {:.1} MiB -> {:.1} MiB; {:.0} bytes per live session (SessionActor, its state, the SiteActor's entry, live visitor entry)",
        started.elapsed().as_secs_f64(),
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        per_session
    );
    Ok(())
}
