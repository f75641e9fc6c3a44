//! QUIC intake against the real daemon: acks, per-index rejections, invalid buffers, wrong
//! keys, retries counted once, and a client that carries on across a daemon restart.

#![expect(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use ecomdash_client::{Client, ClientError, ErrorCode, EventType, Tls, WireEvent};
use ecomdash_protocol::quic::{decode_reply_frame, Reply, FRAME_BATCH};

const SAFARI: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15";

struct Quic {
    addr: SocketAddr,
    fingerprint: String,
}

fn quic_of(daemon: &Daemon) -> Quic {
    Quic {
        addr: daemon.printed("listening on quic://").parse().unwrap(),
        fingerprint: daemon.printed("quic certificate sha256 fingerprint: "),
    }
}

fn start(dir: &std::path::Path, quic_addr: &str) -> (Daemon, Quic) {
    let daemon = Daemon::start(dir, &[("ECOMDASH_QUIC", quic_addr)]);
    let quic = quic_of(&daemon);
    (daemon, quic)
}

fn client(quic: &Quic, key: &str) -> Client {
    let tls = Tls::pinned_sha256(&quic.fingerprint).unwrap();
    Client::quic(quic.addr, key, tls)
        .flush_interval(Duration::from_millis(50))
        .build()
        .unwrap()
}

fn pageview(path: &str, id: Option<&str>) -> WireEvent<'static> {
    WireEvent {
        event_type: EventType::Pageview,
        url: format!("https://shop.example{path}").into(),
        event_id: id.map(|id| id.to_owned().into()),
        lang: Some("en".into()),
        // forwarded like a backend would; without one the event counts as a bot (as over HTTP)
        user_agent: Some(SAFARI.into()),
        ..WireEvent::default()
    }
}

#[tokio::test]
async fn batches_are_acked_with_per_index_rejections() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let keys = site_add(&dir, "shop.example");
    let (daemon, quic) = start(&dir, "127.0.0.1:0");
    let client = client(&quic, &keys.write_key);

    let ack = client
        .send_batch(vec![pageview("/a", None), pageview("/b", None)])
        .await
        .unwrap();
    assert_eq!((ack.accepted, ack.deduplicated), (2, 0));
    assert!(ack.rejected.is_empty());

    let mut bad = pageview("/c", None);
    bad.url = "not a url".into();
    let custom_without_name = WireEvent {
        event_type: EventType::Custom,
        ..pageview("/d", None)
    };
    let ack = client
        .send_batch(vec![pageview("/ok", None), bad, custom_without_name])
        .await
        .unwrap();
    assert_eq!(ack.accepted, 1);
    let indexes: Vec<usize> = ack.rejected.iter().map(|r| r.index).collect();
    assert_eq!(indexes, [1, 2]);
    assert_eq!(
        ack.rejected[0].error.field.as_deref(),
        Some("events[1].url")
    );

    // background batching: send() then flush()
    for i in 0..250 {
        client.send(pageview(&format!("/bg/{i}"), None)).unwrap();
    }
    client.flush().await.unwrap();

    // the realtime API sees them (same pipeline as HTTP)
    let auth = format!("Bearer {}", keys.read_key);
    poll(Duration::from_secs(5), || {
        let resp = daemon.get(
            "/api/v1/analytics/realtime?site=shop.example",
            &[("Authorization", &auth)],
        );
        (resp.status == 200 && resp.body.contains("/bg/")).then_some(())
    });
    client.close().await.unwrap();
    let mut daemon = daemon;
    assert!(daemon.terminate(Duration::from_secs(20)).success());
    assert_eq!(stored_event_ids(&dir).len(), 2 + 1 + 250);
}

#[tokio::test]
async fn wrong_key_and_invalid_buffers_get_error_frames() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    site_add(&dir, "shop.example");
    let (_daemon, quic) = start(&dir, "127.0.0.1:0");

    let wrong = client(&quic, "not-a-key");
    let err = wrong
        .send_batch(vec![pageview("/x", None)])
        .await
        .unwrap_err();
    match err {
        ClientError::Refused { error, .. } => assert_eq!(error.code, ErrorCode::InvalidApiKey),
        other => panic!("expected a refusal, got {other}"),
    }
    wrong.close().await.unwrap();

    // raw frames over a raw connection: garbage, a truncated batch, a wrong kind
    let valid = ecomdash_protocol::quic::encode_batch_frame("k", 5, &[pageview("/y", None)]);
    let cases: Vec<Vec<u8>> = vec![
        vec![FRAME_BATCH, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
        valid[..valid.len() / 2].to_vec(),
        {
            let mut v = valid.clone();
            v[0] = 0x7f;
            v
        },
        vec![],
    ];
    let conn = raw_connection(&quic).await;
    for frame in cases {
        let (mut send, mut recv) = conn.open_bi().await.unwrap();
        send.write_all(&frame).await.unwrap();
        send.finish().unwrap();
        let reply = recv.read_to_end(1 << 20).await.unwrap();
        match decode_reply_frame(&reply).unwrap() {
            Reply::Error { error, .. } => assert_eq!(error.code, ErrorCode::InvalidJson),
            other => panic!("expected an error frame, got {other:?}"),
        }
    }
    // the connection survives bad frames
    assert!(conn.close_reason().is_none());
}

async fn raw_connection(quic: &Quic) -> quinn::Connection {
    let config = common::quic::raw_config();
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint
        .connect_with(config, quic.addr, "localhost")
        .unwrap()
        .await
        .unwrap()
}

/// A UDP port free right now, so a restarted daemon can listen where the client expects it.
fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn retries_are_counted_once_and_the_client_survives_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let keys = site_add(&dir, "shop.example");
    let addr = format!("127.0.0.1:{}", free_udp_port());
    let (mut daemon, quic) = start(&dir, &addr);
    let client = client(&quic, &keys.write_key);

    let batch: Vec<_> = (0..10)
        .map(|i| pageview(&format!("/r/{i}"), Some(&format!("retry-{i}"))))
        .collect();
    let first = client.send_batch(batch.clone()).await.unwrap();
    assert_eq!((first.accepted, first.deduplicated), (10, 0));
    // the same events again, as a client would after a lost ack
    let again = client.send_batch(batch.clone()).await.unwrap();
    assert_eq!((again.accepted, again.deduplicated), (10, 10));

    // restart: the self-signed certificate is kept, so the pinned client reconnects by itself
    assert!(daemon.terminate(Duration::from_secs(20)).success());
    let (daemon, quic2) = start(&dir, &addr);
    assert_eq!(quic2.fingerprint, quic.fingerprint);
    let after = client
        .send_batch(vec![pageview("/after", Some("after-restart"))])
        .await
        .unwrap();
    assert_eq!(after.accepted, 1);
    // and a retry of the pre-restart batch is still deduplicated (ids survive in the store)
    let replay = client.send_batch(batch).await.unwrap();
    assert_eq!(replay.deduplicated, 10);
    client.close().await.unwrap();
    let mut daemon = daemon;
    assert!(daemon.terminate(Duration::from_secs(20)).success());
    let mut ids = stored_event_ids(&dir);
    ids.sort();
    let total = ids.len();
    ids.dedup();
    assert_eq!((total, ids.len()), (11, 11));
}

#[test]
fn a_taken_udp_port_leaves_http_running() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let keys = site_add(&dir, "shop.example");
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let daemon = Daemon::start(&dir, &[("ECOMDASH_QUIC", &addr)]);
    assert!(
        !daemon
            .stdout
            .iter()
            .any(|l| l.starts_with("listening on quic://")),
        "{:?}",
        daemon.stdout
    );
    let resp = daemon.post(
        "/api/v1/analytics/track/event",
        &browser_headers(&keys.write_key),
        &common::pageview("/still-http"),
    );
    assert_eq!(resp.status, 202, "{}", resp.body);
}

/// The same client over HTTP: acks, per-index rejections and a wrong key.
#[tokio::test]
async fn the_http_transport_of_the_client_acks_and_rejects_by_index() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let keys = site_add(&dir, "shop.example");
    let (daemon, _quic) = start(&dir, "127.0.0.1:0");
    let url = format!("http://{}", daemon.addr);
    let client = Client::http(&url, &keys.write_key).build().unwrap();
    let mut bad = pageview("/bad", None);
    bad.url = "nope".into();
    let ack = client
        .send_batch(vec![pageview("/h1", Some("h-1")), bad])
        .await
        .unwrap();
    assert_eq!(ack.accepted, 1);
    assert_eq!(ack.rejected.len(), 1);
    assert_eq!(ack.rejected[0].index, 1);
    let again = client
        .send_batch(vec![pageview("/h1", Some("h-1"))])
        .await
        .unwrap();
    assert_eq!((again.accepted, again.deduplicated), (1, 1));
    client.close().await.unwrap();

    let wrong = Client::http(&url, "not-a-key").build().unwrap();
    match wrong.send_batch(vec![pageview("/w", None)]).await {
        Err(ClientError::Refused { error, .. }) => {
            assert_eq!(error.code, ErrorCode::InvalidApiKey)
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}
