//! Intake throughput and ack latency of one running daemon, HTTP JSON batches of 100 against QUIC
//! batches of 100 and 1,000, in one run (`docs/benchmarks.md`, "QUIC intake").
//!
//! `cargo run --release -p ecomdash-client --example intake_bench -- HTTP_URL QUIC_ADDR FINGERPRINT
//! WRITE_KEY [EVENTS_PER_MODE] [CONCURRENT_BATCHES] [MODES]` where MODES is a comma-separated
//! subset of `http100,quic100,quic1000` (default: all three, in that order).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ecomdash_client::{Client, EventType, Tls, WireEvent};

const UA: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15";

fn event(i: usize) -> WireEvent<'static> {
    WireEvent {
        event_type: EventType::Pageview,
        url: format!("https://shop.example/p/{}?utm_source=bench", i % 500).into(),
        referrer: Some("https://www.google.com/".into()),
        title: Some("Product page".into()),
        lang: Some("en-US".into()),
        user_agent: Some(UA.into()),
        ip: Some(format!("198.51.100.{}", i % 250).into()),
        ..WireEvent::default()
    }
}

async fn run(
    client: Arc<Client>,
    batch: usize,
    events: usize,
    concurrency: usize,
) -> (f64, Duration, Duration) {
    let batches = events / batch;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = worker;
            while n < batches {
                let events: Vec<_> = (0..batch).map(|i| event(n * batch + i)).collect();
                let sent = Instant::now();
                let ack = client.send_batch(events).await.expect("batch failed");
                assert_eq!(ack.accepted, batch, "{ack:?}");
                latencies.push(sent.elapsed());
                n += concurrency;
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("worker panicked"));
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    (
        (batches * batch) as f64 / elapsed.as_secs_f64(),
        pct(0.5),
        pct(0.99),
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        return Err(
            "usage: intake_bench HTTP_URL QUIC_ADDR FINGERPRINT WRITE_KEY [EVENTS] [CONCURRENCY]"
                .into(),
        );
    }
    let events: usize = args.get(5).map_or(Ok(100_000), |s| s.parse())?;
    let concurrency: usize = args.get(6).map_or(Ok(4), |s| s.parse())?;
    let modes = args
        .get(7)
        .map_or("http100,quic100,quic1000", String::as_str)
        .to_owned();
    let http = Arc::new(Client::http(&args[1], &args[4]).build()?);
    let tls = Tls::pinned_sha256(&args[3])?;
    let quic = Arc::new(Client::quic(args[2].parse()?, &args[4], tls).build()?);
    // warm-up: connections, caches
    run(http.clone(), 100, 2_000, concurrency).await;
    run(quic.clone(), 100, 2_000, concurrency).await;
    println!("| transport | batch | events | concurrent batches | events/s | ack p50 | ack p99 |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (mode, name, client, batch) in [
        ("http100", "HTTP JSON", &http, 100),
        ("quic100", "QUIC FlatBuffers", &quic, 100),
        ("quic1000", "QUIC FlatBuffers", &quic, 1000),
    ] {
        if !modes.split(',').any(|m| m == mode) {
            continue;
        }
        let (rate, p50, p99) = run(client.clone(), batch, events, concurrency).await;
        println!(
            "| {name} | {batch} | {events} | {concurrency} | {rate:.0} | {:.1} ms | {:.1} ms |",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    http.close().await?;
    quic.close().await?;
    Ok(())
}
