//! Measures the memory cost of a live session: starts the engine on a temp data dir, opens N
//! sessions through the real SiteActor (each activates a SessionActor for its first event and
//! is deactivated into a compact entry after `SESSION_ACTIVE_QUIET_MS` without events), and
//! reports the RSS growth per live session once every session is quiet. Sessions open in waves
//! whose events carry a receive time just over the quiet period ago, so each wave's actors are
//! deactivated at the next tick and the peak of concurrent actors is one wave, as in a daemon
//! where only recently active sessions hold an actor. Session ids come from the site's
//! `SessionIndex` as for a tracker that sends none, so the index entry is counted too, as is
//! the live visitor entry.
//!
//! `cargo run --release -p ecomdash-engine --example session_memory -- SESSIONS [WAVE_SESSIONS]`

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ecomdash_engine::actors::session::running_session_actors;
use ecomdash_engine::actors::site::SESSION_ACTIVE_QUIET_MS;
use ecomdash_engine::clock::{Clock, SystemClock};
use ecomdash_engine::config::Config;
use ecomdash_engine::engine::Engine;
use ecomdash_engine::live::{LiveEvent, LIVE_VISITOR_WINDOW_MS};
use ecomdash_engine::sites::SiteRegistry;

/// Sessions opened (and activated) at once by default; the next wave starts when they are all
/// quiet. The allocator keeps the freed memory of one wave of actors, so a smaller wave shows
/// the cost of the compact entries alone.
const WAVE_SESSIONS: usize = 20_000;
/// Distinct page paths among the sessions.
const DISTINCT_PATHS: usize = 1_000;

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
    let wave_sessions: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(WAVE_SESSIONS);
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
    let browser: Arc<str> = Arc::from("Safari");
    let started_ms = clock.now_ms();
    // events "received" just over the quiet period ago: each wave's SessionActors are
    // deactivated at the next tick, so no more than one wave of actors ever runs at once
    let received_ms = |now: i64| now - SESSION_ACTIVE_QUIET_MS - 1;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rss_bytes()?;
    let started = Instant::now();
    let mut peak_active = before;
    let mut opened = 0usize;
    while opened < sessions {
        let wave = (sessions - opened).min(wave_sessions);
        for first in (opened..opened + wave).step_by(100) {
            let now = clock.now_ms();
            let events = (first..(first + 100).min(opened + wave))
                .map(|i| {
                    let visitor = i as u64;
                    LiveEvent {
                        received_ms: received_ms(now),
                        event_ms: now,
                        visitor,
                        visitor_id: Arc::from(format!("{visitor:016x}")),
                        session_id: site.sessions.assign(&site.domain, visitor, now),
                        is_pageview: true,
                        // fresh allocations per event, as the pipeline makes them
                        path: Some(Arc::from(format!("/products/{}", i % DISTINCT_PATHS))),
                        referrer_source: Some(if i % 3 == 0 { "search" } else { "direct" }),
                        device: Some(Arc::from(if i % 2 == 0 { "mobile" } else { "desktop" })),
                        browser: Some(browser.clone()),
                        os: Some(browser.clone()),
                        ..LiveEvent::default()
                    }
                })
                .collect();
            site.dispatch(events);
            while site.live.actor_backlog.load(Ordering::Relaxed) > 20_000 {
                tokio::task::yield_now().await;
            }
        }
        opened += wave;
        while (site.live.live_sessions.load(Ordering::Relaxed) as usize) < opened {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        peak_active = peak_active.max(rss_bytes()?);
        let deadline = Instant::now() + Duration::from_secs(60);
        while site.live.actor_backlog.load(Ordering::Relaxed) > 0 || running_session_actors() > 0 {
            anyhow::ensure!(Instant::now() < deadline, "sessions did not go quiet");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let opened_in = started.elapsed();
    anyhow::ensure!(
        clock.now_ms() - started_ms < LIVE_VISITOR_WINDOW_MS,
        "ran past the live visitor window; the visitor entries would not all be counted"
    );
    let after = rss_bytes()?;
    let per_session = (after.saturating_sub(before)) as f64 / sessions as f64;
    println!(
        "{sessions} live sessions opened in {:.2} s ({:.0}/s) in waves of {wave_sessions}; RSS {:.1} MiB before, {:.1} MiB peak with a wave active, {:.1} MiB once quiet ({} live, {} SessionActors running); {:.0} bytes per live session (compact entry, interned strings, session index entry, live visitor entry, and the freed memory of one wave of actors the allocator keeps)",
        opened_in.as_secs_f64(),
        sessions as f64 / opened_in.as_secs_f64(),
        before as f64 / 1048576.0,
        peak_active as f64 / 1048576.0,
        after as f64 / 1048576.0,
        site.live.live_sessions.load(Ordering::Relaxed),
        running_session_actors(),
        per_session
    );
    Ok(())
}
