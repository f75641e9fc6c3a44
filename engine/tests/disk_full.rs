//! Disk full through the daemon (needs `--features failpoints`): while the store's WAL writes
//! fail with ENOSPC, intake answers 507 with the error JSON of DESIGN.md; the events
//! acknowledged before are intact, and intake recovers when space returns.
//!
//! Failpoints are process-wide, so the daemon runs in this test's process (`serve` on a
//! background runtime), not as a child binary.
#![cfg(feature = "failpoints")]
#![expect(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use common::*;
use ecomdash_engine::config::{Config, FlagOverrides};
use ecomdash_engine::lock::DataDirLock;
use ecomdash_engine::server::site_add as add_site;
use ecomdash_engine::{serve, Listeners};
use ecomdash_storage::failpoints::{self, FailAction};

/// A daemon served from this process; stops (graceful shutdown) on drop of `stop`.
struct InProcess {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl InProcess {
    fn start(data_dir: &Path) -> (InProcess, String) {
        let env: BTreeMap<String, String> = [("ECOMDASH_QUIC", "off"), ("ECOMDASH_LOG", "warn")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let flags = FlagOverrides {
            data_dir: Some(data_dir.to_owned()),
            ..FlagOverrides::default()
        };
        let config = Config::load(None, &env, &flags).unwrap();
        let keys = add_site(&config, "shop.example").unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let lock = DataDirLock::acquire(&config.data_dir).unwrap();
                let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(http.local_addr().unwrap()).unwrap();
                let shutdown = async move {
                    let _ = stopped.await;
                };
                serve(config, lock, Listeners { http }, shutdown)
                    .await
                    .unwrap();
            });
        });
        let addr = addr_rx.recv_timeout(START_TIMEOUT).unwrap();
        poll(START_TIMEOUT, || {
            request(addr, "GET", "/healthz", &[], b"")
                .ok()
                .filter(|r| r.status == 200)
        });
        let daemon = InProcess {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        };
        (daemon, keys.write_key)
    }

    fn post(&self, key: &str, body: &str) -> Response {
        request(
            self.addr,
            "POST",
            "/api/v1/analytics/track/batch",
            &browser_headers(key),
            body.as_bytes(),
        )
        .unwrap()
    }

    /// Graceful shutdown; waits for the store to be closed.
    fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

fn batch(ids: &[String]) -> String {
    let events: Vec<String> = ids
        .iter()
        .map(|id| {
            format!(r#"{{"type":"pageview","url":"https://shop.example/p","event_id":"{id}"}}"#)
        })
        .collect();
    format!(r#"{{"events":[{}]}}"#, events.join(","))
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

#[test]
fn disk_full_answers_507_keeps_acknowledged_events_and_recovers() {
    failpoints::clear_all();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (daemon, key) = InProcess::start(&data);

    let before = ids("before", 20);
    assert_eq!(daemon.post(&key, &batch(&before)).status, 202);

    failpoints::set(failpoints::WAL_WRITE, FailAction::DiskFull, None);
    let refused = ids("refused", 5);
    for _ in 0..2 {
        let resp = daemon.post(&key, &batch(&refused));
        assert_eq!(resp.status, 507, "{}", resp.body);
        let error = &resp.json()["error"];
        assert_eq!(error["code"], "storage_full", "{}", resp.body);
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let single = request(
        daemon.addr,
        "POST",
        "/api/v1/analytics/track/event",
        &browser_headers(&key),
        br#"{"type":"pageview","url":"https://shop.example/one","event_id":"refused-single"}"#,
    )
    .unwrap();
    assert_eq!(single.status, 507, "{}", single.body);

    // space returns: the same events are accepted (a failed append left no trace)
    failpoints::clear(failpoints::WAL_WRITE);
    let resp = daemon.post(&key, &batch(&refused));
    assert_eq!(resp.status, 202, "{}", resp.body);
    let after = ids("after", 10);
    assert_eq!(daemon.post(&key, &batch(&after)).status, 202);
    daemon.stop();

    let mut stored = stored_event_ids(&data);
    stored.sort();
    let mut expected: Vec<String> = [before, refused, after].concat();
    expected.sort();
    assert_eq!(
        stored, expected,
        "acknowledged events exactly once, refused ones absent"
    );
}
