//! QUIC listener limits and lifecycle against the real daemon, each bounded in time:
//! - a client over `max_connections_per_ip` is refused at the handshake (CONNECTION_REFUSED),
//!   and a freed slot admits the next one;
//! - a connection over `max_streams_per_connection` waits for stream credit (it is not refused)
//!   and proceeds once a batch is answered;
//! - an idle connection is closed after `idle_timeout_secs`, and `ecomdash-client` reconnects;
//! - SIGTERM while batches are in flight: every acked batch is durable and queryable after a
//!   restart, and connections are closed with the application code `CLOSE_SHUTDOWN` (0x01).

#![expect(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::{request, site_add, BIN, START_TIMEOUT};
use ecomdash_client::{Client, EventType, Tls, WireEvent};
use ecomdash_protocol::quic::{decode_reply_frame, encode_batch_frame, Reply, CLOSE_SHUTDOWN};

/// A daemon started with a config file (the QUIC limits have no environment variables).
struct QuicDaemon {
    child: Option<Child>,
    http: SocketAddr,
    quic: SocketAddr,
    fingerprint: String,
}

impl QuicDaemon {
    fn start(data_dir: &Path, quic_toml: &str) -> QuicDaemon {
        let config = data_dir.with_extension("toml");
        std::fs::write(
            &config,
            format!("[quic]\naddr = \"127.0.0.1:0\"\n{quic_toml}"),
        )
        .unwrap();
        let log = std::fs::File::create(data_dir.with_extension("log")).unwrap();
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--http", "127.0.0.1:0", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        for (name, _) in std::env::vars() {
            if name.starts_with("ECOMDASH_") || name == "RUST_LOG" {
                command.env_remove(name);
            }
        }
        command.env("ECOMDASH_LOG", "warn");
        let mut child = command.spawn().unwrap();
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut quic, mut fingerprint) = (None, String::new());
        loop {
            let line = rx.recv_timeout(START_TIMEOUT).unwrap_or_else(|_| {
                let _ = child.kill();
                let _ = child.wait();
                panic!("daemon did not start");
            });
            if let Some(fp) = line.strip_prefix("quic certificate sha256 fingerprint: ") {
                fingerprint = fp.to_owned();
            } else if let Some(addr) = line.strip_prefix("listening on quic://") {
                quic = Some(addr.parse().unwrap());
            } else if let Some(addr) = line.strip_prefix("listening on http://") {
                return QuicDaemon {
                    child: Some(child),
                    http: addr.parse().unwrap(),
                    quic: quic.expect("the QUIC listener did not start"),
                    fingerprint,
                };
            }
        }
    }

    /// SIGTERM, then waits (bounded) for a clean exit.
    fn terminate(&mut self, timeout: Duration) {
        let mut child = self.child.take().unwrap();
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "daemon exited with {status}");
                return;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("daemon did not exit within {timeout:?} after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn client(&self, key: &str) -> Client {
        let tls = Tls::pinned_sha256(&self.fingerprint).unwrap();
        Client::quic(self.quic, key, tls).build().unwrap()
    }
}

impl Drop for QuicDaemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn data_dir(tmp: &tempfile::TempDir) -> PathBuf {
    tmp.path().join("data")
}

fn pageview(id: String) -> WireEvent<'static> {
    WireEvent {
        event_type: EventType::Pageview,
        url: "https://shop.example/limits".into(),
        event_id: Some(id.into()),
        user_agent: Some(
            "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0".into(),
        ),
        lang: Some("en".into()),
        ..WireEvent::default()
    }
}

/// A bare quinn connection that trusts the daemon's certificate by fingerprint, without
/// keep-alives, so tests see exactly what the server does.
async fn raw_connection(daemon: &QuicDaemon) -> Result<quinn::Connection, quinn::ConnectionError> {
    raw_endpoint()
        .connect_with(common::quic::raw_config(), daemon.quic, "localhost")
        .unwrap()
        .await
}

fn raw_endpoint() -> quinn::Endpoint {
    quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap()
}

/// Sends one whole frame on a new stream and returns the reply.
async fn exchange(conn: &quinn::Connection, frame: &[u8]) -> Result<Reply, String> {
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    send.write_all(frame).await.map_err(|e| e.to_string())?;
    send.finish().map_err(|e| e.to_string())?;
    let reply = recv.read_to_end(1 << 20).await.map_err(|e| e.to_string())?;
    decode_reply_frame(&reply).map_err(|e| e.to_string())
}

#[tokio::test]
async fn connections_over_the_per_ip_limit_are_refused_until_a_slot_frees() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = data_dir(&tmp);
    site_add(&dir, "shop.example");
    let daemon = QuicDaemon::start(&dir, "max_connections_per_ip = 2\n");
    let first = raw_connection(&daemon).await.unwrap();
    let _second = raw_connection(&daemon).await.unwrap();
    match raw_connection(&daemon).await {
        Err(quinn::ConnectionError::ConnectionClosed(close)) => {
            assert_eq!(
                close.error_code,
                quinn::TransportErrorCode::CONNECTION_REFUSED
            )
        }
        other => panic!("expected CONNECTION_REFUSED, got {other:?}"),
    }
    // the client library reports it as a connection error (retried with backoff by default)
    let client = Client::quic(
        daemon.quic,
        "any",
        Tls::pinned_sha256(&daemon.fingerprint).unwrap(),
    )
    .retry(ecomdash_client::RetryPolicy {
        max_attempts: 1,
        ..Default::default()
    })
    .build()
    .unwrap();
    match client.send_batch(vec![pageview("refused".into())]).await {
        Err(ecomdash_client::ClientError::Connection(message)) => {
            assert!(message.contains("refused"), "{message}")
        }
        other => panic!("expected a connection error, got {other:?}"),
    }
    // closing one connection frees its slot
    first.close(0u32.into(), b"done");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if raw_connection(&daemon).await.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "the freed slot was never reused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn streams_over_the_limit_wait_for_credit_instead_of_failing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = data_dir(&tmp);
    let keys = site_add(&dir, "shop.example");
    let daemon = QuicDaemon::start(&dir, "max_streams_per_connection = 2\n");
    let conn = raw_connection(&daemon).await.unwrap();
    let frame =
        |n: usize| encode_batch_frame(&keys.write_key, n as u64, &[pageview(format!("s-{n}"))]);
    // two streams hold the whole credit: half a frame each, not finished
    let mut open = Vec::new();
    for n in 0..2 {
        let (mut send, recv) = conn.open_bi().await.unwrap();
        let f = frame(n);
        send.write_all(&f[..f.len() / 2]).await.unwrap();
        open.push((send, recv, f));
    }
    // a third stream cannot be opened while they are open
    let third = tokio::time::timeout(Duration::from_millis(500), conn.open_bi()).await;
    assert!(
        third.is_err(),
        "a third stream opened beyond the limit of 2"
    );
    // finish the first batch: it is acked and its credit comes back
    let (mut send, mut recv, f) = open.remove(0);
    send.write_all(&f[f.len() / 2..]).await.unwrap();
    send.finish().unwrap();
    let reply = decode_reply_frame(&recv.read_to_end(1 << 20).await.unwrap()).unwrap();
    assert!(
        matches!(reply, Reply::Ack(ref ack) if ack.accepted == 1),
        "{reply:?}"
    );
    let reply = tokio::time::timeout(Duration::from_secs(10), exchange(&conn, &frame(2)))
        .await
        .expect("no stream credit after a batch was answered")
        .unwrap();
    assert!(
        matches!(reply, Reply::Ack(ref ack) if ack.accepted == 1),
        "{reply:?}"
    );
    assert!(conn.close_reason().is_none());
}

#[tokio::test]
async fn idle_connections_are_closed_and_the_client_reconnects() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = data_dir(&tmp);
    let keys = site_add(&dir, "shop.example");
    let daemon = QuicDaemon::start(&dir, "idle_timeout_secs = 1\n");
    let client = daemon.client(&keys.write_key);
    let ack = client
        .send_batch(vec![pageview("idle-1".into())])
        .await
        .unwrap();
    assert_eq!(ack.accepted, 1);

    let opened = Instant::now();
    let conn = raw_connection(&daemon).await.unwrap();
    let reason = tokio::time::timeout(Duration::from_secs(10), conn.closed())
        .await
        .expect("an idle connection stayed open for 10 s");
    assert!(
        matches!(reason, quinn::ConnectionError::TimedOut),
        "{reason:?}"
    );
    let idle = opened.elapsed();
    assert!(idle >= Duration::from_millis(900), "closed after {idle:?}");

    // the client's connection, idle for longer, was closed too; the next batch reconnects
    let ack = client
        .send_batch(vec![pageview("idle-2".into())])
        .await
        .unwrap();
    assert_eq!(ack.accepted, 1);
    client.close().await.unwrap();
}

/// Four senders keep batches in flight; SIGTERM arrives after some acks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_batches_and_closes_with_the_shutdown_code() {
    const SENDERS: usize = 4;
    const BATCH: usize = 200;
    let tmp = tempfile::tempdir().unwrap();
    let dir = data_dir(&tmp);
    let keys = site_add(&dir, "shop.example");
    let mut daemon = QuicDaemon::start(&dir, "");
    let acked_ids = Arc::new(Mutex::new(Vec::<String>::new()));
    let acks = Arc::new(AtomicUsize::new(0));
    let sigterm_sent = Arc::new(AtomicBool::new(false));
    let acks_after_sigterm = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::new();
    for sender in 0..SENDERS {
        let conn = raw_connection(&daemon).await.unwrap();
        let key = keys.write_key.clone();
        let (acked_ids, acks) = (acked_ids.clone(), acks.clone());
        let (sigterm_sent, acks_after_sigterm) = (sigterm_sent.clone(), acks_after_sigterm.clone());
        senders.push(tokio::spawn(async move {
            for n in 0u64.. {
                let ids: Vec<String> = (0..BATCH)
                    .map(|i| format!("drain-{sender}-{n}-{i}"))
                    .collect();
                let events: Vec<_> = ids.iter().map(|id| pageview(id.clone())).collect();
                match exchange(&conn, &encode_batch_frame(&key, n, &events)).await {
                    Ok(Reply::Ack(ack)) => {
                        assert_eq!(ack.accepted, BATCH);
                        if sigterm_sent.load(Ordering::SeqCst) {
                            acks_after_sigterm.fetch_add(1, Ordering::SeqCst);
                        }
                        acked_ids.lock().unwrap().extend(ids);
                        acks.fetch_add(1, Ordering::SeqCst);
                    }
                    // refused while shutting down: nothing stored, try again
                    Ok(Reply::Error { .. }) => {}
                    Err(_) => break,
                }
            }
            conn.closed().await
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while acks.load(Ordering::SeqCst) < 2 * SENDERS {
        assert!(Instant::now() < deadline, "the senders got no acks");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    sigterm_sent.store(true, Ordering::SeqCst);
    let daemon = tokio::task::spawn_blocking(move || {
        daemon.terminate(Duration::from_secs(30));
        daemon
    })
    .await
    .unwrap();
    for sender in senders {
        let reason = tokio::time::timeout(Duration::from_secs(10), sender)
            .await
            .expect("a sender was still running after the daemon exited")
            .unwrap();
        match reason {
            quinn::ConnectionError::ApplicationClosed(close) => {
                assert_eq!(close.error_code, CLOSE_SHUTDOWN.into(), "{close:?}")
            }
            other => panic!("expected the shutdown close code, got {other:?}"),
        }
    }
    assert!(
        acks_after_sigterm.load(Ordering::SeqCst) > 0,
        "no batch in flight at SIGTERM was acked"
    );

    // restart: every acked event is there, once
    let restarted = QuicDaemon::start(&dir, "");
    let acked: HashSet<String> = acked_ids.lock().unwrap().drain(..).collect();
    let auth = format!("Bearer {}", keys.read_key);
    let body = r#"{"sql":"SELECT event_id FROM events WHERE event_id LIKE 'drain-%'"}"#;
    let resp = request(
        restarted.http,
        "POST",
        "/api/v1/query",
        &[("Authorization", &auth)],
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(resp.status, 200, "{}", resp.body);
    let rows = resp.json()["rows"].as_array().unwrap().clone();
    let stored: Vec<String> = rows
        .iter()
        .map(|r| r[0].as_str().unwrap().to_owned())
        .collect();
    let unique: HashSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "an event was stored twice");
    let missing = acked.iter().filter(|id| !unique.contains(id)).count();
    assert_eq!(missing, 0, "{missing} of {} acked events lost", acked.len());
    drop(restarted);
    drop(daemon);
}
