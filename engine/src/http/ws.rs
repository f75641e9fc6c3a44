//! `GET /api/v1/analytics/ws?site=DOMAIN`: the site's live figures pushed once a second over a
//! WebSocket, as the realtime endpoint's JSON plus `seq` (per site, increasing) and `ts` (ms).
//!
//! One ticker task per watched site computes and serializes each frame once; every client of the
//! site shares it through a `tokio::sync::watch` channel, which holds only the newest frame. A
//! client that falls behind therefore skips ahead to the newest frame instead of queueing old
//! ones; a client whose send does not finish within [`SEND_TIMEOUT`] or that leaves a ping
//! unanswered for [`PING_INTERVAL`] is dropped. Memory per client is bounded by the socket
//! buffers configured in [`stream`], never by how far it lags.
//!
//! Shutdown: the router's state owns the sender half of a shutdown channel. When the daemon
//! stops serving (after its shutdown signal, `axum::serve` returns and drops the router), every
//! stream sends a `1001 going away` close frame and every ticker stops.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ecomdash_protocol::{ErrorCode, RealtimeResponse};
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::watch;

use super::body::{bearer, query_param, secret_eq};
use super::error::ApiError;
use crate::engine::{Engine, SiteRuntime};

/// How often a site's frame is computed and pushed.
pub const PUSH_INTERVAL: Duration = Duration::from_secs(1);
/// How often the server pings each client; a client that has not answered the previous ping by
/// the next one is dropped (so a silent client is gone after at most two intervals).
pub const PING_INTERVAL: Duration = Duration::from_secs(5);
/// Longest a single send may take before the client is considered stuck and dropped.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// Socket read buffer per client: clients only send pongs and close frames.
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// Largest message accepted from a client.
const MAX_CLIENT_MESSAGE_BYTES: usize = 16 * 1024;
/// Bytes a client's unsent frames may occupy in the server before sends fail (named capacity of
/// the per-client write queue; with the send timeout it is never reached in practice).
const MAX_WRITE_BUFFER_BYTES: usize = 1024 * 1024;

/// One pushed frame: the realtime figures plus sequence number and timestamp.
#[derive(Serialize)]
struct LiveFrame<'a> {
    seq: u64,
    ts: i64,
    #[serde(flatten)]
    live: &'a RealtimeResponse,
}

/// The serialized newest frame of a site, shared by all its clients.
type Frame = Utf8Bytes;

/// The feeds of the sites being watched right now.
struct Hub {
    engine: Arc<Engine>,
    feeds: Mutex<HashMap<Arc<str>, Feed>>,
    shutdown: watch::Receiver<()>,
}

/// A site's feed: its newest frame while a ticker runs, and its last sequence number (kept after
/// the ticker stops so that `seq` never goes back for a site).
#[derive(Default)]
struct Feed {
    frames: Option<watch::Receiver<Frame>>,
    last_seq: u64,
}

/// The router state: the hub, plus the shutdown sender whose drop (with the router) closes all
/// streams.
struct WsState {
    hub: Arc<Hub>,
    _shutdown: watch::Sender<()>,
}

/// The WebSocket route, with its own state.
pub fn routes<S>(engine: Arc<Engine>) -> Router<S> {
    let (shutdown_tx, shutdown) = watch::channel(());
    let hub = Arc::new(Hub {
        engine,
        feeds: Mutex::new(HashMap::new()),
        shutdown,
    });
    Router::new()
        .route("/api/v1/analytics/ws", get(stream))
        .with_state(Arc::new(WsState {
            hub,
            _shutdown: shutdown_tx,
        }))
}

/// Checks the site and read key (header or `token` parameter), then upgrades.
async fn stream(
    State(state): State<Arc<WsState>>,
    headers: HeaderMap,
    uri: Uri,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let site = match authorize(&state.hub.engine, &headers, &uri) {
        Ok(site) => site,
        Err(error) => return error.into_response(),
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let hub = state.hub.clone();
    let frames = hub.subscribe(&site);
    let shutdown = hub.shutdown.clone();
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(MAX_CLIENT_MESSAGE_BYTES)
        .max_frame_size(MAX_CLIENT_MESSAGE_BYTES)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
        .on_upgrade(move |socket| serve_client(socket, frames, shutdown))
}

fn authorize(
    engine: &Engine,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<Arc<SiteRuntime>, ApiError> {
    let domain = query_param(uri, "site")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidQuery,
                "the site query parameter is required",
            )
        })?;
    let token = bearer(headers)
        .or_else(|| query_param(uri, "token").filter(|t| !t.is_empty()))
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::MissingApiKey,
                "send the site's read key as Authorization: Bearer or the token parameter",
            )
        })?;
    let denied = || {
        ApiError::new(
            ErrorCode::InvalidApiKey,
            "the read key does not match this site",
        )
    };
    let site = engine.site(domain).ok_or_else(denied)?;
    if !secret_eq(token, &site.config.read_key) {
        return Err(denied());
    }
    Ok(site)
}

impl Hub {
    /// The site's frames, starting its ticker if nobody watches it yet. The first frame is
    /// computed here, so a new client never waits a full interval.
    fn subscribe(self: &Arc<Hub>, site: &Arc<SiteRuntime>) -> watch::Receiver<Frame> {
        let mut feeds = self.feeds.lock();
        let feed = feeds.entry(site.domain.clone()).or_default();
        if let Some(frames) = &feed.frames {
            return frames.clone();
        }
        feed.last_seq += 1;
        let (tx, rx) = watch::channel(compute_frame(&self.engine, site, feed.last_seq));
        feed.frames = Some(rx.clone());
        tokio::spawn(tick(self.clone(), site.clone(), tx));
        rx
    }
}

fn compute_frame(engine: &Engine, site: &SiteRuntime, seq: u64) -> Frame {
    let ts = engine.clock.now_ms();
    let live = site.live.snapshot(&site.domain, ts);
    let frame = LiveFrame {
        seq,
        ts,
        live: &live,
    };
    match serde_json::to_string(&frame) {
        Ok(text) => Utf8Bytes::from(text),
        // Serializing plain numbers and strings cannot fail; an empty object keeps clients alive.
        Err(_) => Utf8Bytes::from_static("{}"),
    }
}

/// The ticker of one site: one frame per interval while anyone listens (the hub's own receiver
/// does not count), until shutdown.
async fn tick(hub: Arc<Hub>, site: Arc<SiteRuntime>, frames: watch::Sender<Frame>) {
    let mut interval = tokio::time::interval(PUSH_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    interval.tick().await; // the first tick is immediate; subscribe computed that frame
    let mut shutdown = hub.shutdown.clone();
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = shutdown.changed() => break,
        }
        let seq = {
            let mut feeds = hub.feeds.lock();
            let Some(feed) = feeds.get_mut(&site.domain) else {
                break;
            };
            if frames.receiver_count() <= 1 {
                // Only the hub's receiver is left: stop, under the lock so that no client
                // subscribes in between.
                feed.frames = None;
                break;
            }
            feed.last_seq += 1;
            feed.last_seq
        };
        let (engine, runtime) = (hub.engine.clone(), site.clone());
        // Counting live visitors walks a map of up to a million entries: off the async workers.
        let frame =
            tokio::task::spawn_blocking(move || compute_frame(&engine, &runtime, seq)).await;
        match frame {
            Ok(frame) => {
                frames.send_replace(frame);
            }
            Err(error) => {
                tracing::warn!(site = %site.domain, error = %error, "live frame task failed");
            }
        }
    }
    if let Some(feed) = hub.feeds.lock().get_mut(&site.domain) {
        feed.frames = None;
    }
}

/// Why a client's stream ends.
enum End {
    /// Say so with a close frame.
    Close(u16, &'static str),
    /// The client is gone or stuck: just drop the socket.
    Drop,
}

async fn serve_client(
    mut socket: WebSocket,
    mut frames: watch::Receiver<Frame>,
    mut shutdown: watch::Receiver<()>,
) {
    let mut ping =
        tokio::time::interval_at(tokio::time::Instant::now() + PING_INTERVAL, PING_INTERVAL);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut awaiting_pong = false;
    let mut send_frame = true; // the current frame first
    let end = loop {
        if send_frame {
            let frame = frames.borrow_and_update().clone();
            if !send_within_timeout(&mut socket, Message::Text(frame)).await {
                break End::Drop;
            }
            send_frame = false;
        }
        tokio::select! {
            changed = frames.changed() => match changed {
                Ok(()) => send_frame = true,
                Err(_) => break End::Close(close_code::AWAY, "server shutting down"),
            },
            _ = shutdown.changed() => break End::Close(close_code::AWAY, "server shutting down"),
            _ = ping.tick() => {
                if awaiting_pong {
                    tracing::debug!("websocket client did not answer a ping, dropping it");
                    break End::Drop;
                }
                let payload = bytes::Bytes::copy_from_slice(&ping_payload());
                if !send_within_timeout(&mut socket, Message::Ping(payload)).await {
                    break End::Drop;
                }
                awaiting_pong = true;
            }
            message = socket.recv() => match message {
                Some(Ok(Message::Pong(_))) => awaiting_pong = false,
                Some(Ok(Message::Close(_))) => break End::Close(close_code::NORMAL, ""),
                Some(Ok(_)) => {} // pings are answered by the library; text is ignored
                Some(Err(_)) | None => break End::Drop,
            },
        }
    };
    if let End::Close(code, reason) = end {
        let close = Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        }));
        let _ = send_within_timeout(&mut socket, close).await;
    }
}

/// Sends one message, false when it failed or did not finish within [`SEND_TIMEOUT`].
async fn send_within_timeout(socket: &mut WebSocket, message: Message) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(message)).await,
        Ok(Ok(()))
    )
}

/// A ping payload that says when it was sent (debugging aid; clients echo it back).
fn ping_payload() -> [u8; 8] {
    static STARTED: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let started = STARTED.get_or_init(Instant::now);
    (started.elapsed().as_millis() as u64).to_be_bytes()
}

mod close_code {
    pub const NORMAL: u16 = 1000;
    pub const AWAY: u16 = 1001;
}
