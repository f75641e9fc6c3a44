//! `--verify` end to end, through the `ecomdash-loadtest` binary:
//! - against the real `ecomdash` daemon (2 s of load, then every acked event must be counted by
//!   `POST /api/v1/query`); the daemon binary is `$ECOMDASH_BIN` or `ecomdash` next to this
//!   crate's binary (cargo builds it there for the engine's own tests); when it is missing the
//!   test says so and passes, unless `CI` is set, where it fails;
//! - against an in-test axum server whose query endpoint counts one event less than it
//!   acknowledged: the run must fail with exit code 1 and say why.
#![expect(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use common::{clean_env, daemon_binary_or_skip, site_add, start_daemon, temp_dir, LOADTEST};

fn run_loadtest(target: SocketAddr, args: &[&str]) -> Output {
    let mut command = Command::new(LOADTEST);
    command
        .arg("--target")
        .arg(format!("http://{target}"))
        .args(["--quiet", "--connections", "4", "--pool-events", "2000"])
        .args(args);
    clean_env(&mut command);
    command.output().unwrap()
}

#[test]
fn verify_against_the_real_daemon() {
    let Some(bin) = daemon_binary_or_skip() else {
        return;
    };
    let dir = temp_dir("ecomdash-loadtest-verify");
    let data_dir = dir.join("data");
    let keys = site_add(&bin, &data_dir, "shop1.loadtest.example");
    let daemon = start_daemon(&bin, &data_dir);
    let json = dir.join("report.json");
    let out = run_loadtest(
        daemon.addr,
        &[
            "--duration",
            "2s",
            "--sites",
            "1",
            "--key",
            keys["write_key"].as_str().unwrap(),
            "--read-key",
            keys["read_key"].as_str().unwrap(),
            "--verify",
            "--json",
            json.to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("verified: "), "{stdout}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let acked = report["events_acked"].as_u64().unwrap();
    assert!(acked > 0, "{report}");
    assert_eq!(report["verify"]["ok"], true, "{report}");
    assert_eq!(report["verify"]["queryable"].as_u64(), Some(acked));
    drop(daemon);
    let _ = std::fs::remove_dir_all(&dir);
}

#[derive(Default)]
struct Fake {
    received: AtomicU64,
}

async fn track(State(fake): State<Arc<Fake>>) -> Response {
    fake.received.fetch_add(1, Ordering::Relaxed);
    (StatusCode::ACCEPTED, r#"{"accepted":1,"deduplicated":0}"#).into_response()
}

/// Counts one event less than it acknowledged, and insists on the read key.
async fn query(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer rk_test") {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let count = fake.received.load(Ordering::Relaxed).saturating_sub(1);
    Json(serde_json::json!({
        "columns": [{"name": "count()", "type": "UInt64"}],
        "rows": [[count]],
        "stats": {}
    }))
    .into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_event_fails_the_run_with_exit_code_1() {
    let fake = Arc::new(Fake::default());
    let app = Router::new()
        .route("/api/v1/analytics/track/event", post(track))
        .route("/api/v1/query", post(query))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let run = |read_key: &'static str| {
        tokio::task::spawn_blocking(move || {
            run_loadtest(
                addr,
                &[
                    "--duration",
                    "300ms",
                    "--verify",
                    "--verify-wait",
                    "300ms",
                    "--read-key",
                    read_key,
                ],
            )
        })
    };
    let out = run("rk_test").await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("verify FAILED: "), "{stdout}");
    assert!(stdout.contains("acknowledged"), "{stdout}");
    let wrong_key = run("rk_wrong").await.unwrap();
    let stdout = String::from_utf8_lossy(&wrong_key.stdout);
    assert_eq!(wrong_key.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("401"), "{stdout}");
}
