//! The driver against tiny in-test axum servers on 127.0.0.1:0: what the server counts must match
//! what the generator reports, event ids must be unique, and the open loop must offer exactly its
//! rate. The whole file runs in about 3 seconds.
#![expect(clippy::unwrap_used)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use ecomdash_loadtest::driver::{drive, DriveConfig, Target, BATCH_PATH, EVENT_PATH};
use ecomdash_loadtest::model::ModelConfig;
use ecomdash_loadtest::pool::Pool;
use ecomdash_loadtest::report::LiveCounters;
use ecomdash_protocol::{decode_batch, decode_event, TrackResponse};

#[derive(Default)]
struct Received {
    event_ids: Mutex<Vec<String>>,
    missing_headers: Mutex<u64>,
    keys: Mutex<HashSet<String>>,
}

fn check_headers(received: &Received, headers: &HeaderMap) {
    let ok = headers.contains_key("user-agent") && headers.contains_key("x-forwarded-for");
    if !ok {
        *received.missing_headers.lock().unwrap() += 1;
    }
    if let Some(key) = headers.get("x-api-key").and_then(|k| k.to_str().ok()) {
        received.keys.lock().unwrap().insert(key.to_owned());
    }
}

async fn single(
    State(received): State<Arc<Received>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    check_headers(&received, &headers);
    let event = decode_event(&body).unwrap();
    received
        .event_ids
        .lock()
        .unwrap()
        .push(event.event_id.unwrap().to_string());
    StatusCode::NO_CONTENT
}

async fn batch(State(received): State<Arc<Received>>, headers: HeaderMap, body: Bytes) -> Response {
    check_headers(&received, &headers);
    let batch = decode_batch(&body).unwrap();
    let mut ids = Vec::new();
    for raw in &batch.events {
        let event = decode_event(raw.get().as_bytes()).unwrap();
        ids.push(event.event_id.unwrap().to_string());
    }
    // accept all but the first event of each batch, as a daemon with a partial failure would
    let accepted = ids.len() - 1;
    received
        .event_ids
        .lock()
        .unwrap()
        .extend(ids.into_iter().skip(1));
    let answer = TrackResponse {
        accepted,
        ..TrackResponse::default()
    };
    (StatusCode::ACCEPTED, Json(answer)).into_response()
}

async fn start_server() -> (SocketAddr, Arc<Received>) {
    let received = Arc::new(Received::default());
    let app = Router::new()
        .route(EVENT_PATH, post(single))
        .route(BATCH_PATH, post(batch))
        .with_state(Arc::clone(&received));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, received)
}

fn config(addr: SocketAddr, duration: Duration, rate: Option<f64>, batch: bool) -> DriveConfig {
    DriveConfig {
        target: Target::parse(&format!("http://{addr}")).unwrap(),
        connections: 4,
        duration,
        rate,
        keys: vec!["key-a".to_owned(), "key-b".to_owned()],
        batch,
    }
}

fn pool(batch: Option<usize>) -> Arc<Pool> {
    Arc::new(Pool::build(ModelConfig::new(5, 2, 1_795_000_000_000), 2000, batch).unwrap())
}

fn assert_unique(ids: &[String]) {
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "every sent event id is unique");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_single_events_are_all_counted() {
    let (addr, received) = start_server().await;
    let live = Arc::new(LiveCounters::default());
    let stats = drive(
        config(addr, Duration::from_millis(1000), None, false),
        pool(None),
        Arc::clone(&live),
    )
    .await
    .unwrap();
    let ids = received.event_ids.lock().unwrap().clone();
    assert!(
        stats.requests > 50,
        "only {} requests in a second",
        stats.requests
    );
    assert_eq!(stats.transport_errors, 0);
    assert_eq!(stats.status.get(&204).copied(), Some(stats.requests));
    assert_eq!(stats.events_acked, ids.len() as u64);
    assert_eq!(stats.events_sent, stats.events_acked);
    assert_eq!(stats.latency_us.len(), stats.requests);
    assert_eq!(
        live.events_acked.load(std::sync::atomic::Ordering::Relaxed),
        stats.events_acked
    );
    assert_unique(&ids);
    assert_eq!(*received.missing_headers.lock().unwrap(), 0);
    assert_eq!(
        received.keys.lock().unwrap().len(),
        2,
        "both sites' keys were used"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_batches_count_partial_acceptance() {
    let (addr, received) = start_server().await;
    let live = Arc::new(LiveCounters::default());
    let stats = drive(
        config(addr, Duration::from_millis(800), None, true),
        pool(Some(10)),
        live,
    )
    .await
    .unwrap();
    let ids = received.event_ids.lock().unwrap().clone();
    assert!(stats.requests > 10);
    assert_eq!(stats.status.get(&202).copied(), Some(stats.requests));
    assert_eq!(stats.events_acked, ids.len() as u64);
    assert_eq!(
        stats.events_rejected, stats.requests,
        "one rejected per batch"
    );
    assert_eq!(
        stats.events_sent,
        stats.events_acked + stats.events_rejected
    );
    assert!(
        stats.events_sent > 9 * stats.requests,
        "batches are mostly full"
    );
    assert_unique(&ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_offers_exactly_its_rate() {
    let (addr, received) = start_server().await;
    let live = Arc::new(LiveCounters::default());
    let stats = drive(
        config(addr, Duration::from_millis(1000), Some(200.0), false),
        pool(None),
        live,
    )
    .await
    .unwrap();
    // requests are due at k / 200 s for k = 0..199: exactly 200 within one second
    assert_eq!(stats.requests, 200);
    assert_eq!(stats.events_acked, 200);
    assert_eq!(received.event_ids.lock().unwrap().len(), 200);
    // a local 204 server answers far below the 5 ms between requests
    let p50_ms = stats.latency_us.value_at_quantile(0.5) as f64 / 1000.0;
    assert!(p50_ms < 50.0, "median latency {p50_ms} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_counts_connection_errors() {
    // bind and drop: nothing listens on this port any more
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let live = Arc::new(LiveCounters::default());
    let stats = drive(
        config(addr, Duration::from_millis(200), None, false),
        pool(None),
        live,
    )
    .await
    .unwrap();
    assert_eq!(stats.requests, 0);
    assert_eq!(stats.events_acked, 0);
    assert!(stats.transport_errors > 0);
}
