//! QUIC transport: one connection, one bidirectional stream per batch (`docs/quic.md`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ecomdash_protocol::quic::{
    decode_reply_frame, encode_batch_frame, Ack, Reply, CLOSE_NORMAL, MAX_QUIC_REPLY_BYTES,
};
use ecomdash_protocol::WireEvent;
use quinn::crypto::rustls::QuicClientConfig;
use quinn::{Connection, Endpoint, VarInt};
use tokio::sync::Mutex;

use crate::error::ClientError;
use crate::tls::Tls;

/// Keeps an idle connection open between batches (the server's idle timeout is longer).
const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// Longest wait for one batch's ack.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct QuicTransport {
    endpoint: Endpoint,
    config: quinn::ClientConfig,
    addr: SocketAddr,
    server_name: String,
    api_key: String,
    connection: Mutex<Option<Connection>>,
}

fn connection_error(e: impl std::fmt::Display) -> ClientError {
    ClientError::Connection(e.to_string())
}

impl QuicTransport {
    pub(crate) fn new(addr: SocketAddr, api_key: String, tls: &Tls) -> Result<Self, ClientError> {
        let crypto = QuicClientConfig::try_from(tls.rustls_config()?)
            .map_err(|e| ClientError::Config(e.to_string()))?;
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        transport.keep_alive_interval(Some(KEEP_ALIVE));
        config.transport_config(Arc::new(transport));
        let bind: SocketAddr = if addr.is_ipv4() {
            SocketAddr::from(([0, 0, 0, 0], 0))
        } else {
            SocketAddr::from(([0u16; 8], 0))
        };
        let endpoint = Endpoint::client(bind).map_err(|e| ClientError::Config(e.to_string()))?;
        Ok(QuicTransport {
            endpoint,
            config,
            addr,
            server_name: tls.name().to_owned(),
            api_key,
            connection: Mutex::new(None),
        })
    }

    async fn connection(&self) -> Result<Connection, ClientError> {
        let mut slot = self.connection.lock().await;
        if let Some(conn) = slot.as_ref() {
            if conn.close_reason().is_none() {
                return Ok(conn.clone());
            }
        }
        let conn = self
            .endpoint
            .connect_with(self.config.clone(), self.addr, &self.server_name)
            .map_err(connection_error)?
            .await
            .map_err(connection_error)?;
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// Sends one batch and waits for its reply; one attempt, no retry.
    pub(crate) async fn send(
        &self,
        sequence: u64,
        events: &[WireEvent<'static>],
    ) -> Result<Ack, ClientError> {
        let frame = encode_batch_frame(&self.api_key, sequence, events);
        let conn = self.connection().await?;
        let exchange = async {
            let (mut send, mut recv) = conn.open_bi().await.map_err(connection_error)?;
            send.write_all(&frame).await.map_err(connection_error)?;
            send.finish().map_err(connection_error)?;
            recv.read_to_end(MAX_QUIC_REPLY_BYTES)
                .await
                .map_err(connection_error)
        };
        let reply = match tokio::time::timeout(ACK_TIMEOUT, exchange).await {
            Ok(reply) => reply,
            Err(_) => Err(ClientError::Connection("no ack within 30 s".to_owned())),
        };
        let reply = match reply {
            Ok(reply) => reply,
            Err(e) => {
                // a broken connection is replaced on the next attempt
                if conn.close_reason().is_some() {
                    self.connection.lock().await.take();
                }
                return Err(e);
            }
        };
        match decode_reply_frame(&reply).map_err(|e| ClientError::Protocol(e.to_string()))? {
            Reply::Ack(ack) if ack.sequence == sequence => Ok(ack),
            Reply::Ack(ack) => Err(ClientError::Protocol(format!(
                "ack for batch {} on the stream of batch {sequence}",
                ack.sequence
            ))),
            Reply::Error {
                error,
                retry_after_secs,
                ..
            } => Err(ClientError::Refused {
                error,
                retry_after: retry_after_secs.map(|s| Duration::from_secs(u64::from(s))),
            }),
        }
    }

    pub(crate) async fn close(&self) {
        if let Some(conn) = self.connection.lock().await.take() {
            conn.close(VarInt::from_u32(CLOSE_NORMAL), b"client closing");
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
    }
}
