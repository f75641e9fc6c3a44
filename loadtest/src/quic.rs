//! QUIC mode (`--mode quic`): the same traffic model, sent as FlatBuffers batches through
//! `ecomdash-client`'s QUIC transport (`docs/quic.md`): one QUIC connection per site key, and
//! `connections` batches in flight on it at once (one bidirectional stream each).
//!
//! Each event carries its own visitor's User-Agent and address (`user_agent`, `ip`), as a
//! backend forwarding browser traffic would, so enrichment sees the same visitors as in HTTP
//! mode. Batches are pre-generated and cycled; every send numbers the event ids afresh, so the
//! daemon never sees a retry. The client does not retry either (one attempt): a refusal or a
//! lost connection is counted, not hidden. Replies are counted under the HTTP status of the same
//! outcome (an ack is 202, an error frame the status of its code), so reports of both modes read
//! alike.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use ecomdash_client::{Client, ClientError, RetryPolicy, Text, Tls, WireEvent};

use crate::driver::Schedule;
use crate::model::{event_id, EventStream, ModelConfig};
use crate::report::{LiveCounters, RunStats};

/// Pause after a failed connection, so a dead server does not become a busy loop.
const RECONNECT_PAUSE: Duration = Duration::from_millis(20);
/// HTTP status an ack is counted under.
const ACK_STATUS: u16 = 202;

/// One pre-generated batch of one site's consecutive events.
#[derive(Debug, Clone)]
pub struct QuicBatch {
    pub site: usize,
    pub events: Vec<WireEvent<'static>>,
}

impl QuicBatch {
    /// The events with ids `run-first_seq`, `run-(first_seq + 1)`, ...
    pub fn numbered(&self, run_id: &str, first_seq: u64) -> Vec<WireEvent<'static>> {
        let mut events = self.events.clone();
        for (i, event) in events.iter_mut().enumerate() {
            event.event_id = Some(Text::from(event_id(run_id, first_seq + i as u64)));
        }
        events
    }
}

/// The batches of one QUIC run.
#[derive(Debug, Clone)]
pub struct QuicPool {
    pub run_id: String,
    pub batches: Vec<QuicBatch>,
    /// Total events over all batches.
    pub events: usize,
}

impl QuicPool {
    /// Batches of up to `batch` consecutive events of one site, from the first `events` events
    /// of the model.
    pub fn build(config: ModelConfig, events: usize, batch: usize) -> Self {
        let mut stream = EventStream::new(config);
        let run_id = stream.run_id().to_owned();
        let batch = batch.max(1);
        let mut pending: Vec<Vec<WireEvent<'static>>> = Vec::new();
        let mut batches = Vec::new();
        for generated in stream.by_ref().take(events) {
            let mut event = generated.event;
            event.user_agent = Some(Text::from(generated.user_agent));
            event.ip = Some(Text::from(generated.ip.to_string()));
            let site = generated.site;
            if pending.len() <= site {
                pending.resize_with(site + 1, Vec::new);
            }
            pending[site].push(event);
            if pending[site].len() == batch {
                let events = std::mem::take(&mut pending[site]);
                batches.push(QuicBatch { site, events });
            }
        }
        for (site, events) in pending.into_iter().enumerate() {
            if !events.is_empty() {
                batches.push(QuicBatch { site, events });
            }
        }
        let events = batches.iter().map(|b| b.events.len()).sum();
        QuicPool {
            run_id,
            batches,
            events,
        }
    }
}

/// How to drive over QUIC.
#[derive(Debug, Clone)]
pub struct QuicDriveConfig {
    pub addr: SocketAddr,
    pub tls: Tls,
    /// Batches in flight at once (streams), over one connection per key.
    pub in_flight: usize,
    pub duration: Duration,
    /// Open loop at this many events per second; closed loop when `None`.
    pub rate: Option<f64>,
    /// Write key per site; site `i` uses `keys[i % keys.len()]`.
    pub keys: Vec<String>,
}

struct Shared {
    config: QuicDriveConfig,
    pool: Arc<QuicPool>,
    live: Arc<LiveCounters>,
    clients: Vec<Client>,
    schedule: Schedule,
    next_event: AtomicU64,
}

/// `quic://host:port` or `host:port` to a socket address.
pub fn parse_quic_target(target: &str) -> anyhow::Result<SocketAddr> {
    let rest = target.strip_prefix("quic://").unwrap_or(target);
    if rest.contains("://") {
        bail!("in QUIC mode --target is the daemon's UDP address, like 127.0.0.1:8443 (got {target:?})");
    }
    use std::net::ToSocketAddrs;
    rest.to_socket_addrs()
        .with_context(|| format!("cannot resolve {rest}"))?
        .next()
        .with_context(|| format!("{rest} resolves to no address"))
}

/// Runs the load for `config.duration` and returns the merged statistics.
pub async fn drive_quic(
    config: QuicDriveConfig,
    pool: Arc<QuicPool>,
    live: Arc<LiveCounters>,
) -> anyhow::Result<RunStats> {
    if pool.batches.is_empty() {
        bail!("the batch pool is empty");
    }
    if config.keys.is_empty() {
        bail!("QUIC mode needs --key: every batch carries its site's write key");
    }
    let largest = pool
        .batches
        .iter()
        .map(|b| b.events.len())
        .max()
        .unwrap_or(1);
    let mut clients = Vec::with_capacity(config.keys.len());
    for key in &config.keys {
        let client = Client::quic(config.addr, key, config.tls.clone())
            .batch_size(largest)
            .retry(RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            })
            .build()
            .context("cannot set up the QUIC client")?;
        clients.push(client);
    }
    let events_per_batch = pool.events as f64 / pool.batches.len() as f64;
    let interval_s = config.rate.map(|rate| events_per_batch / rate.max(1e-9));
    let shared = Arc::new(Shared {
        schedule: Schedule::new(config.duration, interval_s),
        config,
        pool,
        live,
        clients,
        next_event: AtomicU64::new(0),
    });
    let mut tasks = Vec::with_capacity(shared.config.in_flight);
    for _ in 0..shared.config.in_flight.max(1) {
        tasks.push(tokio::spawn(worker(Arc::clone(&shared))));
    }
    let mut total = RunStats::new();
    for task in tasks {
        total.merge(&task.await.context("a sending task panicked")?);
    }
    total.event_ids_issued = shared.next_event.load(Ordering::Relaxed);
    for client in &shared.clients {
        // everything was sent with send_batch, so there is nothing queued to flush
        let _ = client.close().await;
    }
    Ok(total)
}

async fn worker(shared: Arc<Shared>) -> RunStats {
    let mut stats = RunStats::new();
    let batches = &shared.pool.batches;
    while let Some((request_seq, intended)) = shared.schedule.next().await {
        let batch = &batches[(request_seq % batches.len() as u64) as usize];
        let count = batch.events.len() as u64;
        let first_seq = shared.next_event.fetch_add(count, Ordering::Relaxed);
        let events = batch.numbered(&shared.pool.run_id, first_seq);
        let client = &shared.clients[batch.site % shared.clients.len()];
        stats.requests += 1;
        stats.events_sent += count;
        shared.live.events_sent.fetch_add(count, Ordering::Relaxed);
        match client.send_batch(events).await {
            Ok(ack) => {
                stats.record_latency(intended.elapsed());
                *stats.status.entry(ACK_STATUS).or_default() += 1;
                let acked = (ack.accepted as u64).min(count);
                stats.events_acked += acked;
                stats.events_rejected += count - acked;
                shared.live.events_acked.fetch_add(acked, Ordering::Relaxed);
            }
            Err(ClientError::Refused { error, .. }) => {
                stats.record_latency(intended.elapsed());
                let status = error.code.http_status();
                *stats.status.entry(status).or_default() += 1;
                stats.events_rejected += count;
                shared.live.add_error_status(status);
            }
            Err(_) => {
                stats.transport_errors += 1;
                shared.live.transport_errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(RECONNECT_PAUSE).await;
            }
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn batches_group_one_site_and_carry_the_visitor() {
        let pool = QuicPool::build(ModelConfig::new(3, 2, 1_795_000_000_000), 500, 50);
        assert_eq!(pool.events, 500);
        assert!(pool.batches.iter().all(|b| b.events.len() <= 50));
        let batch = pool.batches.iter().find(|b| b.events.len() == 50).unwrap();
        let host = format!("https://{}/", ModelConfig::site_host(batch.site));
        for event in &batch.events {
            assert!(event.url.starts_with(&host), "{} vs {host}", event.url);
            assert!(event.user_agent.is_some() && event.ip.is_some());
        }
        let numbered = batch.numbered(&pool.run_id, 7);
        assert_eq!(
            numbered[3].event_id.as_deref(),
            Some(event_id(&pool.run_id, 10).as_str())
        );
    }

    #[test]
    fn quic_targets() {
        let addr: SocketAddr = "127.0.0.1:8443".parse().unwrap();
        assert_eq!(parse_quic_target("127.0.0.1:8443").unwrap(), addr);
        assert_eq!(parse_quic_target("quic://127.0.0.1:8443").unwrap(), addr);
        assert!(parse_quic_target("http://127.0.0.1:8000").is_err());
        assert!(parse_quic_target("127.0.0.1").is_err());
    }
}
