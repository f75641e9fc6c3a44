//! Drives HTTP load: N keep-alive HTTP/1.1 connections, closed loop (send the next request as
//! soon as the previous answer arrives) or open loop (request `k` is due at `start + k / rate`).
//!
//! In the open loop every connection takes the next due request, sleeps until it is due and
//! measures latency from that intended time, so when the server (or the connection count) cannot
//! keep up, the wait shows up in the latencies instead of silently lowering the offered rate
//! (coordinated omission). Tokio's timer has millisecond granularity, so due requests go out in
//! bursts of at most 1 ms; latencies include that bias (under 1 ms).

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use ecomdash_protocol::TrackResponse;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::pool::Pool;
use crate::report::{LiveCounters, RunStats};

/// Path of the single-event endpoint.
pub const EVENT_PATH: &str = "/api/v1/analytics/track/event";
/// Path of the batch endpoint.
pub const BATCH_PATH: &str = "/api/v1/analytics/track/batch";
/// Pause after a failed connection attempt, so a dead server does not become a busy loop.
const RECONNECT_PAUSE: Duration = Duration::from_millis(20);

/// Where to send: an `http://host:port` base URL.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    /// `host:port` for the `Host` header.
    pub authority: String,
    /// Path prefix before `/api/...` (empty for a daemon at the root).
    pub base_path: String,
}

impl Target {
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let Some(rest) = url.strip_prefix("http://") else {
            bail!("target must start with http:// (got {url:?}); for QUIC use --mode quic");
        };
        let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        let with_port = if authority.contains(':') && !authority.ends_with(']') {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let addr = with_port
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve {authority}"))?
            .next()
            .with_context(|| format!("{authority} resolves to no address"))?;
        let base_path = path.trim_end_matches('/');
        Ok(Self {
            addr,
            authority: authority.to_owned(),
            base_path: if base_path.is_empty() {
                String::new()
            } else {
                format!("/{base_path}")
            },
        })
    }
}

/// How to drive.
#[derive(Debug, Clone)]
pub struct DriveConfig {
    pub target: Target,
    pub connections: usize,
    pub duration: Duration,
    /// Open loop at this many events per second; closed loop when `None`.
    pub rate: Option<f64>,
    /// Write key per site (`X-API-Key`); site `i` uses `keys[i % keys.len()]`; none if empty.
    pub keys: Vec<String>,
    /// Send to the batch endpoint (templates hold `{"events":[...]}` bodies).
    pub batch: bool,
}

struct Shared {
    config: DriveConfig,
    pool: Arc<Pool>,
    live: Arc<LiveCounters>,
    schedule: Schedule,
    next_event: AtomicU64,
    uri: Uri,
    /// Headers of each template, prepared once.
    headers: Vec<HeaderMap>,
}

/// When requests go out, shared by the workers of a run (HTTP and QUIC): closed loop (each
/// worker sends as soon as its previous request is answered) or open loop (request `n` is due
/// at `start + n * interval`, whatever the answers), until the deadline.
pub(crate) struct Schedule {
    start: Instant,
    deadline: Instant,
    /// Open loop: seconds between requests.
    interval_s: Option<f64>,
    next_request: AtomicU64,
}

impl Schedule {
    pub(crate) fn new(duration: Duration, interval_s: Option<f64>) -> Schedule {
        let start = Instant::now();
        Schedule {
            start,
            deadline: start + duration,
            interval_s,
            next_request: AtomicU64::new(0),
        }
    }

    /// Waits until the next request is due and returns its sequence number and the time it was
    /// due (latency counts from there, so a stalled server is not hidden by requests that went
    /// out late), or `None` once the run is over.
    pub(crate) async fn next(&self) -> Option<(u64, Instant)> {
        let request_seq = self.next_request.fetch_add(1, Ordering::Relaxed);
        let intended = match self.interval_s {
            Some(interval) => self.start + Duration::from_secs_f64(interval * request_seq as f64),
            None => Instant::now(),
        };
        if intended >= self.deadline || Instant::now() >= self.deadline {
            return None;
        }
        if self.interval_s.is_some() {
            tokio::time::sleep_until(intended).await;
        }
        Some((request_seq, intended))
    }
}

/// Runs the load for `config.duration` and returns the merged statistics.
pub async fn drive(
    config: DriveConfig,
    pool: Arc<Pool>,
    live: Arc<LiveCounters>,
) -> anyhow::Result<RunStats> {
    if pool.templates.is_empty() {
        bail!("the request pool is empty");
    }
    let events_per_request = pool.events as f64 / pool.templates.len() as f64;
    let interval_s = config.rate.map(|rate| events_per_request / rate.max(1e-9));
    let path = format!(
        "{}{}",
        config.target.base_path,
        if config.batch { BATCH_PATH } else { EVENT_PATH }
    );
    let uri: Uri = path
        .parse()
        .with_context(|| format!("invalid request path {path:?}"))?;
    let headers = prepare_headers(&config, &pool).context("a header value is not valid HTTP")?;
    let shared = Arc::new(Shared {
        schedule: Schedule::new(config.duration, interval_s),
        config,
        pool,
        live,
        next_event: AtomicU64::new(0),
        uri,
        headers,
    });
    let mut tasks = Vec::with_capacity(shared.config.connections);
    for _ in 0..shared.config.connections.max(1) {
        tasks.push(tokio::spawn(worker(Arc::clone(&shared))));
    }
    let mut total = RunStats::new();
    for task in tasks {
        total.merge(&task.await.context("a connection task panicked")?);
    }
    total.event_ids_issued = shared.next_event.load(Ordering::Relaxed);
    Ok(total)
}

async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // ends when the server closes the connection or the sender is dropped
        let _ = connection.await;
    });
    Ok(sender)
}

/// A sender ready for the next request: the kept-alive one, or a new connection when there is
/// none or the server closed it.
async fn ready_sender(
    existing: Option<SendRequest<Full<Bytes>>>,
    addr: SocketAddr,
) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    if let Some(mut sender) = existing {
        if sender.ready().await.is_ok() {
            return Ok(sender);
        }
    }
    let mut sender = connect(addr).await?;
    sender.ready().await?;
    Ok(sender)
}

/// Prepares the headers of every template once, so a request costs one `HeaderMap` clone
/// (values are shared, not copied) instead of parsing and copying each header again.
fn prepare_headers(config: &DriveConfig, pool: &Pool) -> anyhow::Result<Vec<HeaderMap>> {
    let host = HeaderValue::from_str(&config.target.authority)?;
    let keys = config
        .keys
        .iter()
        .map(|key| HeaderValue::from_str(key))
        .collect::<Result<Vec<_>, _>>()?;
    let mut prepared = Vec::with_capacity(pool.templates.len());
    for template in &pool.templates {
        let mut headers = HeaderMap::with_capacity(6);
        headers.insert(header::HOST, host.clone());
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            header::USER_AGENT,
            HeaderValue::from_static(template.user_agent),
        );
        headers.insert(
            HeaderName::from_static("x-forwarded-for"),
            HeaderValue::from_str(&template.forwarded_for.to_string())?,
        );
        if let Some(language) = template.accept_language {
            headers.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static(language));
        }
        if !keys.is_empty() {
            headers.insert(
                HeaderName::from_static("x-api-key"),
                keys[template.site % keys.len()].clone(),
            );
        }
        prepared.push(headers);
    }
    Ok(prepared)
}

fn build_request(shared: &Shared, index: usize, first_seq: u64) -> Request<Full<Bytes>> {
    let mut request = Request::new(Full::new(shared.pool.templates[index].body(first_seq)));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = shared.uri.clone();
    *request.headers_mut() = shared.headers[index].clone();
    request
}

async fn worker(shared: Arc<Shared>) -> RunStats {
    let mut stats = RunStats::new();
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    let templates = &shared.pool.templates;
    while let Some((request_seq, intended)) = shared.schedule.next().await {
        let index = (request_seq % templates.len() as u64) as usize;
        let template = &templates[index];
        let first_seq = shared
            .next_event
            .fetch_add(template.events as u64, Ordering::Relaxed);
        let request = build_request(&shared, index, first_seq);
        let mut ready = match ready_sender(sender.take(), shared.config.target.addr).await {
            Ok(ready) => ready,
            Err(_) => {
                stats.transport_errors += 1;
                shared.live.transport_errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(RECONNECT_PAUSE).await;
                continue;
            }
        };
        let events = template.events as u64;
        stats.requests += 1;
        stats.events_sent += events;
        shared.live.events_sent.fetch_add(events, Ordering::Relaxed);
        let response = match ready.send_request(request).await {
            Ok(response) => response,
            Err(_) => {
                stats.transport_errors += 1;
                shared.live.transport_errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        let status = response.status().as_u16();
        let body = match response.into_body().collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => {
                stats.transport_errors += 1;
                shared.live.transport_errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        stats.record_latency(intended.elapsed());
        *stats.status.entry(status).or_default() += 1;
        let acked = if (200..300).contains(&status) {
            // the daemon answers with a TrackResponse; a bare 2xx without one acks everything
            serde_json::from_slice::<TrackResponse>(&body)
                .map_or(events, |r| (r.accepted as u64).min(events))
        } else {
            shared.live.add_error_status(status);
            0
        };
        stats.events_acked += acked;
        stats.events_rejected += events - acked;
        shared.live.events_acked.fetch_add(acked, Ordering::Relaxed);
        sender = Some(ready);
    }
    stats
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn target_parsing() {
        let target = Target::parse("http://127.0.0.1:8000").unwrap();
        assert_eq!(target.addr, "127.0.0.1:8000".parse().unwrap());
        assert_eq!(target.authority, "127.0.0.1:8000");
        assert_eq!(target.base_path, "");
        let prefixed = Target::parse("http://127.0.0.1:9/analytics/").unwrap();
        assert_eq!(prefixed.base_path, "/analytics");
        let default_port = Target::parse("http://127.0.0.1").unwrap();
        assert_eq!(default_port.addr.port(), 80);
        assert!(Target::parse("https://127.0.0.1").is_err());
        assert!(Target::parse("127.0.0.1:8000").is_err());
    }
}
