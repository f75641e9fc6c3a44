//! The live WebSocket stream against the real daemon: auth, once-a-second pushes, freshness,
//! slow clients, 1,000 concurrent clients sharing one computation, and close on shutdown.

#![expect(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

const SITE: &str = "shop.example";

fn daemon_with_site() -> (tempfile::TempDir, Daemon, ecomdash_protocol::SiteKeys) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let keys = site_add(&dir, SITE);
    // These tests speak HTTP only; a QUIC listener, where the daemon has one, would bind its
    // fixed default UDP port in every parallel test daemon.
    let help = run(&["serve", "--help"], &[]);
    let env: &[(&str, &str)] = if String::from_utf8_lossy(&help.stdout).contains("ECOMDASH_QUIC") {
        &[("ECOMDASH_QUIC", "off")]
    } else {
        &[]
    };
    let daemon = Daemon::start(&dir, env);
    (tmp, daemon, keys)
}

fn small_buffers() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4096)
}

async fn connect(daemon: &Daemon, token: &str) -> Client {
    let url = format!(
        "ws://{}/api/v1/analytics/ws?site={SITE}&token={token}",
        daemon.addr
    );
    let (client, response) =
        tokio_tungstenite::connect_async_with_config(url, Some(small_buffers()), true)
            .await
            .unwrap();
    assert_eq!(response.status(), 101);
    client
}

/// The next text frame as JSON (pings are answered by the library while reading).
async fn next_frame(client: &mut Client) -> serde_json::Value {
    let deadline = Duration::from_secs(5);
    loop {
        let message = tokio::time::timeout(deadline, client.next())
            .await
            .expect("no frame within 5 s")
            .expect("stream ended")
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_key_is_required_before_the_upgrade() {
    let (_tmp, daemon, keys) = daemon_with_site();
    let attempt = |query: String, auth: Option<String>| {
        let mut request = format!("ws://{}/api/v1/analytics/ws{query}", daemon.addr)
            .into_client_request()
            .unwrap();
        if let Some(auth) = auth {
            request
                .headers_mut()
                .insert("authorization", auth.parse().unwrap());
        }
        tokio_tungstenite::connect_async(request)
    };
    let status = |result: Result<_, tokio_tungstenite::tungstenite::Error>| match result {
        Ok((_, response)) => {
            let response: &tokio_tungstenite::tungstenite::handshake::client::Response = &response;
            response.status().as_u16()
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("unexpected error {other}"),
    };
    let ok = |r: Result<(Client, _), _>| status(r.map(|(_, resp)| ((), resp)));
    assert_eq!(ok(attempt(format!("?site={SITE}"), None).await), 401);
    assert_eq!(
        ok(attempt(format!("?site={SITE}&token=wrong"), None).await),
        401
    );
    assert_eq!(
        ok(attempt(format!("?site={SITE}&token={}", keys.write_key), None).await),
        401,
        "the write key is not a read key"
    );
    assert_eq!(
        ok(attempt(format!("?site=other.example&token={}", keys.read_key), None).await),
        401
    );
    assert_eq!(
        ok(attempt(format!("?token={}", keys.read_key), None).await),
        400
    );
    let bearer = Some(format!("Bearer {}", keys.read_key));
    assert_eq!(ok(attempt(format!("?site={SITE}"), bearer).await), 101);
    assert_eq!(
        ok(attempt(format!("?site={SITE}&token={}", keys.read_key), None).await),
        101
    );
    // A plain GET (no upgrade) with a good key is refused by the upgrade check, not served.
    let resp = daemon.get(
        &format!("/api/v1/analytics/ws?site={SITE}&token={}", keys.read_key),
        &[],
    );
    assert!(resp.status >= 400, "{}", resp.status);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_come_once_a_second_with_increasing_seq_and_the_realtime_shape() {
    let (_tmp, daemon, keys) = daemon_with_site();
    let mut client = connect(&daemon, &keys.read_key).await;
    let first = next_frame(&mut client).await;
    for field in [
        "site",
        "now_ms",
        "visitors_last_5m",
        "pageviews_per_minute",
        "events_per_second",
        "events_last_30m",
        "live_sessions",
        "top_pages",
        "referrer_sources",
        "countries",
        "devices",
    ] {
        assert!(first.get(field).is_some(), "missing {field} in {first}");
    }
    assert_eq!(first["site"], SITE);
    let mut previous = first;
    let mut gaps = Vec::new();
    for _ in 0..4 {
        let frame = next_frame(&mut client).await;
        assert_eq!(
            frame["seq"].as_u64().unwrap(),
            previous["seq"].as_u64().unwrap() + 1
        );
        gaps.push(frame["ts"].as_i64().unwrap() - previous["ts"].as_i64().unwrap());
        previous = frame;
    }
    // One frame a second: each gap near a second (a loaded machine may delay one tick), and on
    // average close to it.
    assert!(gaps.iter().all(|g| (500..=2000).contains(g)), "{gaps:?}");
    let mean = gaps.iter().sum::<i64>() / gaps.len() as i64;
    assert!((850..=1300).contains(&mean), "{gaps:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_event_is_in_the_next_push() {
    let (_tmp, daemon, keys) = daemon_with_site();
    let mut client = connect(&daemon, &keys.read_key).await;
    let before = next_frame(&mut client).await;
    assert_eq!(before["top_pages"].as_array().unwrap().len(), 0);
    let resp = daemon.post(
        "/api/v1/analytics/track/event",
        &browser_headers(&keys.write_key),
        &pageview("/fresh"),
    );
    assert_eq!(resp.status, 202, "{}", resp.body);
    let acked_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let acked = Instant::now();
    // The first frame computed after the acknowledgement carries the event.
    let frame = loop {
        let frame = next_frame(&mut client).await;
        if frame["ts"].as_i64().unwrap() >= acked_ms {
            break frame;
        }
    };
    assert!(acked.elapsed() < Duration::from_millis(1500));
    assert_eq!(frame["top_pages"][0]["key"], "/fresh", "{frame}");
    assert_eq!(frame["visitors_last_5m"], 1);
    let minutes = frame["pageviews_per_minute"].as_array().unwrap();
    assert_eq!(minutes.last().unwrap()["pageviews"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_dropped_while_others_keep_getting_frames() {
    let (_tmp, daemon, keys) = daemon_with_site();
    let mut stalled = connect(&daemon, &keys.read_key).await;
    let mut healthy = connect(&daemon, &keys.read_key).await;
    // The stalled client reads nothing (so it answers no ping) for three ping intervals.
    let started = Instant::now();
    let mut seqs = Vec::new();
    while started.elapsed() < Duration::from_secs(12) {
        seqs.push(next_frame(&mut healthy).await["seq"].as_u64().unwrap());
    }
    assert!(seqs.len() >= 10, "healthy client got {} frames", seqs.len());
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    // What the stalled client finds in its socket: at most the frames sent before the server gave
    // up on it, then the end of the stream (no close frame: it was dropped, not closed).
    let mut frames = 0;
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(message) = stalled.next().await {
            match message {
                Ok(Message::Text(_)) => frames += 1,
                Ok(_) => {}
                Err(_) => break,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stalled client was never dropped");
    assert!(frames <= 12, "{frames} frames queued for a stalled client");
    assert!(frames >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_clients_share_one_computation_per_second() {
    const CLIENTS: usize = 1000;
    let (_tmp, daemon, keys) = daemon_with_site();
    let rss_before = rss_kib(daemon.pid());
    let started = Instant::now();
    let url = format!(
        "ws://{}/api/v1/analytics/ws?site={SITE}&token={}",
        daemon.addr, keys.read_key
    );
    // Handshakes 100 at a time, then every client reads until it saw two frames.
    let handshakes = Arc::new(tokio::sync::Semaphore::new(100));
    let mut tasks = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        let url = url.clone();
        let handshakes = handshakes.clone();
        tasks.push(tokio::spawn(async move {
            let permit = handshakes.acquire_owned().await.unwrap();
            let (mut client, _) =
                tokio_tungstenite::connect_async_with_config(url, Some(small_buffers()), true)
                    .await
                    .unwrap();
            drop(permit);
            let mut seen = Vec::new();
            while seen.len() < 2 {
                let frame = next_frame(&mut client).await;
                seen.push((
                    frame["seq"].as_u64().unwrap(),
                    frame["ts"].as_i64().unwrap(),
                ));
            }
            (client, seen)
        }));
    }
    let mut clients = Vec::with_capacity(CLIENTS);
    let mut ts_by_seq: HashMap<u64, i64> = HashMap::new();
    let all = tokio::time::timeout(Duration::from_secs(90), async {
        for task in tasks {
            let (client, seen) = task.await.unwrap();
            for (seq, ts) in seen {
                let first = *ts_by_seq.entry(seq).or_insert(ts);
                assert_eq!(first, ts, "seq {seq} was computed twice");
            }
            clients.push(client);
        }
    })
    .await;
    assert!(
        all.is_ok(),
        "1,000 clients did not all get two frames in 90 s"
    );
    assert_eq!(clients.len(), CLIENTS);
    let elapsed = started.elapsed();
    // All those frames came from one computation per second: few distinct sequence numbers.
    let span = elapsed.as_secs() + 3;
    assert!(
        (ts_by_seq.len() as u64) <= span,
        "{} distinct frames in {elapsed:?}",
        ts_by_seq.len()
    );
    let rss_after = rss_kib(daemon.pid());
    eprintln!(
        "{CLIENTS} clients connected and got two frames each in {elapsed:?} ({} distinct frames); \
         daemon RSS {rss_before} KiB before, {rss_after} KiB with all clients connected",
        ts_by_seq.len()
    );
    // Per client the daemon keeps a task, a small read buffer and a shared frame: far below 100 KiB.
    assert!(
        rss_after.saturating_sub(rss_before) < 100 * CLIENTS as u64,
        "{rss_before} -> {rss_after} KiB"
    );
}

/// Resident set size of a process, from /proc.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_streams_with_going_away() {
    let (_tmp, mut daemon, keys) = daemon_with_site();
    let mut client = connect(&daemon, &keys.read_key).await;
    next_frame(&mut client).await;
    let reader = tokio::spawn(async move {
        loop {
            match client.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                Some(Err(error)) => panic!("stream failed before a close frame: {error}"),
                None => panic!("stream ended without a close frame"),
            }
        }
    });
    let status = tokio::task::spawn_blocking(move || daemon.terminate(Duration::from_secs(20)))
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    let code = tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(code, Some(1001));
}
