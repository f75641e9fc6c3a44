//! The QUIC intake listener (quinn): one bidirectional stream per FlatBuffers batch, answered
//! with an ack once durable (`docs/quic.md`, framing in `ecomdash_protocol::quic`).
//!
//! Bounds: connections in total and per IP (refused beyond), batch streams per connection (QUIC
//! stream credit, so a client waits instead of queueing), batch streams in flight across all
//! connections (the accept loop stops granting streams while they are busy), and the frame size.

mod intake;
pub mod tls;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use ecomdash_protocol::quic::{
    ALPN, CLOSE_PROTOCOL_VIOLATION, CLOSE_SHUTDOWN, MAX_QUIC_BATCH_BYTES,
};
use quinn::crypto::rustls::QuicServerConfig;
use quinn::{Connection, Endpoint, IdleTimeout, Incoming, RecvStream, SendStream, VarInt};
use thiserror::Error;
use tokio::sync::{watch, Semaphore};

use crate::config::Config;
use crate::engine::Engine;
pub use tls::{Identity, TlsError};

/// Batch streams being read or processed at once across all connections. While all are busy,
/// connections stop accepting streams and QUIC flow control pushes back on clients.
const MAX_STREAMS_IN_FLIGHT: u32 = 1024;
/// How long a client may take to send one whole batch frame.
const STREAM_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Stream receive window: one whole batch frame fits, so a client never stalls for stream credit
/// in the middle of a frame.
const STREAM_RECEIVE_WINDOW_BYTES: u32 = MAX_QUIC_BATCH_BYTES as u32 + 64 * 1024;
/// Bytes quinn buffers for one connection across its streams before the batch tasks read them
/// (quinn's default is unbounded). Reading a stream returns credit, so this paces a client
/// without deadlock; frames being read are bounded by the stream limits and the frame size.
/// Four largest frames; a typical frame (1,000 events) is ~250 KB.
const CONNECTION_RECEIVE_WINDOW_BYTES: u32 = 4 * STREAM_RECEIVE_WINDOW_BYTES;
/// Unacknowledged reply bytes per connection (replies are small: acks, error frames).
const SEND_WINDOW_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Error)]
pub enum QuicError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot listen on udp {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

struct Shared {
    engine: Arc<Engine>,
    closing: watch::Receiver<bool>,
    streams: Arc<Semaphore>,
    connections: Arc<Semaphore>,
    per_ip: DashMap<IpAddr, u32>,
    max_per_ip: u32,
}

/// A running QUIC listener; [`QuicServer::shutdown`] drains and closes it.
pub struct QuicServer {
    endpoint: Endpoint,
    closing: watch::Sender<bool>,
    shared: Arc<Shared>,
    accept_task: tokio::task::JoinHandle<()>,
    pub addr: SocketAddr,
    pub identity_fingerprint: String,
}

fn server_config(config: &Config, identity: Identity) -> Result<quinn::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let rustls_error = |e: rustls::Error| TlsError::Rustls(e.to_string());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(rustls_error)?
        .with_no_client_auth()
        .with_single_cert(identity.chain, identity.key)
        .map_err(rustls_error)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = QuicServerConfig::try_from(tls).map_err(|e| TlsError::Rustls(e.to_string()))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    let quic = &config.quic;
    transport
        .max_concurrent_bidi_streams(VarInt::from_u32(quic.max_streams_per_connection))
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        .stream_receive_window(VarInt::from_u32(STREAM_RECEIVE_WINDOW_BYTES))
        .receive_window(VarInt::from_u32(CONNECTION_RECEIVE_WINDOW_BYTES))
        .send_window(SEND_WINDOW_BYTES)
        // no QUIC datagrams in this protocol
        .datagram_receive_buffer_size(None)
        .max_idle_timeout(Some(
            IdleTimeout::try_from(Duration::from_secs(quic.idle_timeout_secs))
                .map_err(|e| TlsError::Rustls(e.to_string()))?,
        ));
    server.transport_config(Arc::new(transport));
    Ok(server)
}

impl QuicServer {
    /// Binds the UDP socket and starts accepting. Prints the address and certificate fingerprint.
    pub fn start(engine: Arc<Engine>) -> Result<QuicServer, QuicError> {
        let config = &engine.config;
        let identity = tls::identity(config)?;
        let fingerprint = identity.fingerprint.clone();
        let cert_path = identity.cert_path.clone();
        let generated = identity.generated;
        let server = server_config(config, identity)?;
        let addr = config.quic.addr;
        let endpoint =
            Endpoint::server(server, addr).map_err(|source| QuicError::Bind { addr, source })?;
        let addr = endpoint
            .local_addr()
            .map_err(|source| QuicError::Bind { addr, source })?;
        if generated {
            println!(
                "quic certificate (self-signed, development only): {}",
                cert_path.display()
            );
        }
        println!("quic certificate sha256 fingerprint: {fingerprint}");
        println!("listening on quic://{addr}");
        tracing::info!(%addr, fingerprint, "quic listening");
        let (closing_tx, closing) = watch::channel(false);
        let shared = Arc::new(Shared {
            closing,
            streams: Arc::new(Semaphore::new(MAX_STREAMS_IN_FLIGHT as usize)),
            connections: Arc::new(Semaphore::new(config.quic.max_connections as usize)),
            per_ip: DashMap::new(),
            max_per_ip: config.quic.max_connections_per_ip,
            engine,
        });
        let accept_task = tokio::spawn(accept_loop(endpoint.clone(), shared.clone()));
        Ok(QuicServer {
            endpoint,
            closing: closing_tx,
            shared,
            accept_task,
            addr,
            identity_fingerprint: fingerprint,
        })
    }

    /// Stops taking connections and streams, waits (up to `drain_timeout`) for the batches in
    /// flight to be acked, then closes every connection with [`CLOSE_SHUTDOWN`].
    pub async fn shutdown(self, drain_timeout: Duration) {
        let _ = self.closing.send(true);
        let _ = self.accept_task.await;
        let drained = tokio::time::timeout(
            drain_timeout,
            self.shared.streams.acquire_many(MAX_STREAMS_IN_FLIGHT),
        )
        .await;
        if drained.is_err() {
            tracing::warn!("quic batches still in flight after the drain timeout");
        }
        self.endpoint
            .close(VarInt::from_u32(CLOSE_SHUTDOWN), b"server shutting down");
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
        tracing::info!("quic listener closed");
    }
}

/// Releases a connection's slots when it ends.
struct ConnectionSlot {
    shared: Arc<Shared>,
    ip: IpAddr,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.shared.per_ip.remove_if_mut(&self.ip, |_, count| {
            *count = count.saturating_sub(1);
            *count == 0
        });
    }
}

fn admit(shared: &Arc<Shared>, ip: IpAddr) -> Option<ConnectionSlot> {
    let permit = shared.connections.clone().try_acquire_owned().ok()?;
    let mut count = shared.per_ip.entry(ip).or_insert(0);
    if *count >= shared.max_per_ip {
        return None;
    }
    *count += 1;
    drop(count);
    Some(ConnectionSlot {
        shared: shared.clone(),
        ip,
        _permit: permit,
    })
}

async fn accept_loop(endpoint: Endpoint, shared: Arc<Shared>) {
    let mut closing = shared.closing.clone();
    loop {
        let incoming = tokio::select! {
            incoming = endpoint.accept() => incoming,
            _ = closing.changed() => None,
        };
        let Some(incoming) = incoming else { break };
        let ip = incoming.remote_address().ip();
        match admit(&shared, ip) {
            Some(slot) => {
                tokio::spawn(connection(incoming, slot));
            }
            None => {
                tracing::debug!(%ip, "quic connection limit reached, refusing");
                incoming.refuse();
            }
        }
    }
}

async fn connection(incoming: Incoming, slot: ConnectionSlot) {
    let shared = slot.shared.clone();
    let conn = match incoming.accept() {
        Ok(connecting) => match connecting.await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::debug!(error = %e, "quic handshake failed");
                return;
            }
        },
        Err(e) => {
            tracing::debug!(error = %e, "quic connection not accepted");
            return;
        }
    };
    let mut closing = shared.closing.clone();
    loop {
        if *closing.borrow() {
            break;
        }
        let permit = tokio::select! {
            permit = shared.streams.clone().acquire_owned() => permit,
            _ = closing.changed() => break,
        };
        let Ok(permit) = permit else { break };
        let stream = tokio::select! {
            stream = conn.accept_bi() => stream,
            _ = closing.changed() => break,
        };
        match stream {
            Ok((send, recv)) => {
                let shared = shared.clone();
                let peer = conn.remote_address();
                tokio::spawn(async move {
                    batch_stream(&shared, peer, send, recv).await;
                    drop(permit);
                });
            }
            Err(quinn::ConnectionError::ApplicationClosed(_))
            | Err(quinn::ConnectionError::LocallyClosed)
            | Err(quinn::ConnectionError::TimedOut) => break,
            Err(e) => {
                tracing::debug!(error = %e, "quic connection ended");
                break;
            }
        }
    }
    // the endpoint closes connections still open at shutdown, after the drain
    drop(slot);
    let _ = conn_keepalive_until_closed(&conn).await;
}

/// Waits for the connection to close (by the client, idle timeout or the endpoint's shutdown)
/// so streams already accepted can still send their acks.
async fn conn_keepalive_until_closed(conn: &Connection) -> quinn::ConnectionError {
    conn.closed().await
}

async fn batch_stream(
    shared: &Shared,
    peer: SocketAddr,
    mut send: SendStream,
    mut recv: RecvStream,
) {
    let read =
        tokio::time::timeout(STREAM_READ_TIMEOUT, recv.read_to_end(MAX_QUIC_BATCH_BYTES)).await;
    let reply = match read {
        Ok(Ok(frame)) => intake::process(&shared.engine, peer, &frame).await,
        Ok(Err(quinn::ReadToEndError::TooLong)) => {
            let _ = recv.stop(VarInt::from_u32(CLOSE_PROTOCOL_VIOLATION));
            intake::too_large()
        }
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "quic batch stream failed");
            return;
        }
        Err(_) => {
            tracing::debug!("quic batch stream timed out");
            let _ = recv.stop(VarInt::from_u32(CLOSE_PROTOCOL_VIOLATION));
            let _ = send.reset(VarInt::from_u32(CLOSE_PROTOCOL_VIOLATION));
            return;
        }
    };
    if send.write_all(&reply).await.is_ok() {
        let _ = send.finish();
        // wait until the client has the reply (or is gone) before dropping the stream
        let _ = tokio::time::timeout(STREAM_READ_TIMEOUT, send.stopped()).await;
    }
}
