//! `ecomdash-client`: send analytics events to an EcomDash daemon from Rust, over HTTP (JSON
//! batches) or QUIC (FlatBuffers batches, `docs/quic.md`).
//!
//! It is not a tracker for browsers (that is `sdk/js`); besides sending, it has one read call,
//! [`query`] (`POST /api/v1/query` with a read key), so a backend can check what it sent. It
//! depends on `ecomdash-protocol` only. Every event gets an `event_id` before its first attempt, so a batch
//! retried after a lost connection or a 503/429 is stored once.
//!
//! ```no_run
//! use ecomdash_client::{Client, EventType, Tls, WireEvent};
//!
//! # async fn run() -> Result<(), ecomdash_client::ClientError> {
//! let tls = Tls::pinned_sha256("<fingerprint printed by `ecomdash serve`>")?;
//! let client = Client::quic("127.0.0.1:8443".parse().unwrap(), "WRITE_KEY", tls).build()?;
//! let order = WireEvent {
//!     event_type: EventType::Ecommerce,
//!     name: Some("purchase".into()),
//!     url: "https://shop.example/checkout/done".into(),
//!     ..WireEvent::default()
//! };
//! let ack = client.send_batch(vec![order]).await?; // durable once this returns
//! assert_eq!(ack.accepted, 1);
//! client.send(WireEvent { url: "https://shop.example/".into(), ..WireEvent::default() })?;
//! client.close().await?; // flushes the background batch first
//! # Ok(())
//! # }
//! ```

mod error;
mod http;
mod query;
mod quic;
mod retry;
mod tls;
mod worker;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use ecomdash_protocol::quic::Ack;
pub use ecomdash_protocol::{
    Click, Dimensions, Ecommerce, ErrorCode, ErrorDetail, ErrorInfo, EventType, OrderItem,
    PropValue, Props, RejectedEvent, Text, Vitals, WireEvent,
};
pub use error::ClientError;
pub use query::{query, Column, QueryResult};
pub use retry::RetryPolicy;
pub use tls::Tls;
use tokio::sync::{mpsc, oneshot};

/// A purchase: an `ecommerce` event named `purchase` with its order id, value (in major units,
/// e.g. `199.99`) and ISO 4217 currency, on the page `url`; add other fields with struct update
/// syntax if needed.
///
/// ```
/// let order = ecomdash_client::purchase("order-1", 199.99, "USD", "https://shop.example/done");
/// assert_eq!(order.ecommerce.unwrap().order_value, Some(199.99));
/// ```
pub fn purchase(order_id: &str, value: f64, currency: &str, url: &str) -> WireEvent<'static> {
    WireEvent {
        event_type: EventType::Ecommerce,
        name: Some(Text::from("purchase".to_owned())),
        url: Text::from(url.to_owned()),
        ecommerce: Some(Ecommerce {
            order_id: Some(Text::from(order_id.to_owned())),
            order_value: Some(value),
            order_currency: Some(Text::from(currency.to_owned())),
            ..Ecommerce::default()
        }),
        ..WireEvent::default()
    }
}

/// Events queued for the background batcher before `send` reports the queue full.
pub const DEFAULT_QUEUE_EVENTS: usize = 100_000;

enum Target {
    Http(String),
    Quic(SocketAddr, Tls),
}

/// Settings of a [`Client`], from [`Client::http`] or [`Client::quic`].
pub struct ClientBuilder {
    target: Target,
    api_key: String,
    batch_size: usize,
    flush_interval: Duration,
    queue_events: usize,
    retry: RetryPolicy,
}

impl ClientBuilder {
    /// Events per batch (default 100 over HTTP, 1,000 over QUIC; capped at the protocol limit).
    pub fn batch_size(mut self, events: usize) -> Self {
        self.batch_size = events.max(1);
        self
    }

    /// How long a background event may wait for its batch to fill (default 1 s).
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval;
        self
    }

    /// Most events waiting in the background queue (default [`DEFAULT_QUEUE_EVENTS`]).
    pub fn queue_events(mut self, events: usize) -> Self {
        self.queue_events = events.max(1);
        self
    }

    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Builds the client and starts its background batcher; needs a tokio runtime.
    pub fn build(self) -> Result<Client, ClientError> {
        let (transport, limit) = match &self.target {
            Target::Http(url) => (
                Transport::Http(http::HttpTransport::new(url, self.api_key.clone())?),
                ecomdash_protocol::limits::MAX_BATCH_EVENTS,
            ),
            Target::Quic(addr, tls) => (
                Transport::Quic(quic::QuicTransport::new(*addr, self.api_key.clone(), tls)?),
                ecomdash_protocol::quic::MAX_QUIC_BATCH_EVENTS,
            ),
        };
        let shared = Arc::new(Shared {
            transport,
            sequence: AtomicU64::new(1),
            retry: self.retry,
            batch_size: self.batch_size.min(limit),
        });
        let (tx, rx) = mpsc::channel(self.queue_events);
        let worker = tokio::spawn(worker::run(shared.clone(), rx, self.flush_interval));
        Ok(Client {
            shared,
            tx,
            worker: tokio::sync::Mutex::new(Some(worker)),
        })
    }
}

pub(crate) enum Transport {
    Http(http::HttpTransport),
    Quic(quic::QuicTransport),
}

pub(crate) struct Shared {
    transport: Transport,
    sequence: AtomicU64,
    retry: RetryPolicy,
    batch_size: usize,
}

impl Shared {
    /// Sends one batch (at most the protocol limit) with retries.
    pub(crate) async fn send_chunk(
        &self,
        events: &[WireEvent<'static>],
    ) -> Result<Ack, ClientError> {
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
        self.retry
            .run(|| async {
                match &self.transport {
                    Transport::Http(http) => http.send(events).await.map(|mut ack| {
                        ack.sequence = sequence;
                        ack
                    }),
                    Transport::Quic(quic) => quic.send(sequence, events).await,
                }
            })
            .await
    }

    /// Sends any number of events in batches of `batch_size`; rejections keep their index in
    /// `events`.
    pub(crate) async fn send_all(
        &self,
        mut events: Vec<WireEvent<'static>>,
    ) -> Result<Ack, ClientError> {
        assign_event_ids(&mut events);
        let mut total = Ack::default();
        for (chunk_index, chunk) in events.chunks(self.batch_size).enumerate() {
            let ack = self.send_chunk(chunk).await?;
            total.sequence = ack.sequence;
            total.accepted += ack.accepted;
            total.deduplicated += ack.deduplicated;
            let offset = chunk_index * self.batch_size;
            total.rejected.extend(ack.rejected.into_iter().map(|mut r| {
                r.index += offset;
                r
            }));
        }
        Ok(total)
    }
}

/// Gives every event without an `event_id` a random one (32 hex digits), so retries are
/// deduplicated. One call to the system's randomness covers the whole batch.
pub(crate) fn assign_event_ids(events: &mut [WireEvent<'static>]) {
    use ring::rand::SecureRandom;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let missing = events.iter().filter(|e| e.event_id.is_none()).count();
    if missing == 0 {
        return;
    }
    let mut random = vec![0u8; missing * 16];
    let have_random = ring::rand::SystemRandom::new().fill(&mut random).is_ok();
    let mut chunks = random.chunks_exact(16);
    for event in events.iter_mut().filter(|e| e.event_id.is_none()) {
        let id = match (have_random, chunks.next()) {
            (true, Some(bytes)) => {
                let mut id = String::with_capacity(32);
                for b in bytes {
                    id.push(char::from(HEX[usize::from(b >> 4)]));
                    id.push(char::from(HEX[usize::from(b & 0xf)]));
                }
                id
            }
            _ => {
                // no system randomness: fall back to a time-and-counter id, still unique here
                static COUNTER: AtomicU64 = AtomicU64::new(0);
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                format!("{nanos:x}-{}", COUNTER.fetch_add(1, Ordering::Relaxed))
            }
        };
        event.event_id = Some(Text::from(id));
    }
}

pub(crate) enum Command {
    Event(Box<WireEvent<'static>>),
    Flush(oneshot::Sender<Result<(), ClientError>>),
}

/// A connection to one site of a daemon. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct Client {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Command>,
    worker: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Client {
    /// A client for `http://host:port` (the daemon's HTTP address) and a site's write key.
    pub fn http(base_url: &str, api_key: &str) -> ClientBuilder {
        ClientBuilder {
            target: Target::Http(base_url.to_owned()),
            api_key: api_key.to_owned(),
            batch_size: ecomdash_protocol::limits::MAX_BATCH_EVENTS,
            flush_interval: Duration::from_secs(1),
            queue_events: DEFAULT_QUEUE_EVENTS,
            retry: RetryPolicy::default(),
        }
    }

    /// A client for the daemon's QUIC address (UDP, default port 8443) and a site's write key.
    pub fn quic(addr: SocketAddr, api_key: &str, tls: Tls) -> ClientBuilder {
        ClientBuilder {
            target: Target::Quic(addr, tls),
            api_key: api_key.to_owned(),
            batch_size: ecomdash_protocol::quic::MAX_QUIC_BATCH_EVENTS,
            flush_interval: Duration::from_secs(1),
            queue_events: DEFAULT_QUEUE_EVENTS,
            retry: RetryPolicy::default(),
        }
    }

    /// Queues one event for the background batcher; it is sent when the batch is full or the
    /// flush interval passes. Fails when the queue is full or the client closed.
    pub fn send(&self, event: WireEvent<'static>) -> Result<(), ClientError> {
        self.tx
            .try_send(Command::Event(Box::new(event)))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => ClientError::Refused {
                    error: ErrorDetail::new(ErrorCode::Overloaded, "client queue is full"),
                    retry_after: None,
                },
                mpsc::error::TrySendError::Closed(_) => ClientError::Closed,
            })
    }

    /// Sends `events` now (in batches of the batch size, with retries) and returns once they
    /// are durable, with the per-index rejections.
    pub async fn send_batch(&self, events: Vec<WireEvent<'static>>) -> Result<Ack, ClientError> {
        self.shared.send_all(events).await
    }

    /// Sends everything queued by [`Client::send`] and waits until it is durable; reports events
    /// dropped since the last flush after their retries failed.
    pub async fn flush(&self) -> Result<(), ClientError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Command::Flush(tx))
            .await
            .map_err(|_| ClientError::Closed)?;
        rx.await.map_err(|_| ClientError::Closed)?
    }

    /// Flushes, stops the background batcher and closes the connection.
    pub async fn close(&self) -> Result<(), ClientError> {
        let flushed = self.flush().await;
        if let Some(worker) = self.worker.lock().await.take() {
            worker.abort();
            let _ = worker.await;
        }
        if let Transport::Quic(quic) = &self.shared.transport {
            quic.close().await;
        }
        flushed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_event_ids_get_distinct_random_hex_and_given_ones_stay() {
        let mut events: Vec<WireEvent<'static>> = (0..50).map(|_| WireEvent::default()).collect();
        events[7].event_id = Some("mine".into());
        assign_event_ids(&mut events);
        assert_eq!(events[7].event_id.as_deref(), Some("mine"));
        let mut ids: Vec<String> = events
            .iter()
            .filter_map(|e| e.event_id.as_deref().map(str::to_owned))
            .filter(|id| id != "mine")
            .collect();
        assert_eq!(ids.len(), 49);
        assert!(ids
            .iter()
            .all(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())));
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 49);
    }
}
