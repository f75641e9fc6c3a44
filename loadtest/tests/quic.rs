//! `--mode quic` end to end, through the `ecomdash-loadtest` binary against the real `ecomdash`
//! daemon (its QUIC listener on an ephemeral UDP port): 2 s of batches over QUIC, then `--verify`
//! counts every acknowledged event through `POST /api/v1/query`; and a wrong write key is
//! reported as refused batches (401) instead of acks.
//!
//! The daemon binary is `$ECOMDASH_BIN` or `ecomdash` next to this crate's binary (cargo builds
//! it there for the engine's own tests); when it is missing the test says so and passes, unless
//! `CI` is set, where it fails.
#![expect(clippy::unwrap_used)]

mod common;

use std::process::{Command, Output};

use common::{
    clean_env, daemon_binary_or_skip, site_add, start_daemon, temp_dir, Daemon, LOADTEST,
};

fn run_quic(daemon: &Daemon, key: &str, args: &[&str]) -> Output {
    let mut command = Command::new(LOADTEST);
    command
        .args(["--mode", "quic", "--target", &daemon.quic])
        .args(["--fingerprint", &daemon.fingerprint])
        .args(["--query-url", &daemon.http_url(), "--key", key])
        .args(["--quiet", "--sites", "1", "--pool-events", "2000"])
        .args(args);
    clean_env(&mut command);
    command.output().unwrap()
}

#[test]
fn quic_mode_reports_and_verifies_against_the_real_daemon() {
    let Some(bin) = daemon_binary_or_skip() else {
        return;
    };
    let dir = temp_dir("ecomdash-loadtest-quic");
    let data_dir = dir.join("data");
    let keys = site_add(&bin, &data_dir, "shop1.loadtest.example");
    let daemon = start_daemon(&bin, &data_dir);
    let json = dir.join("report.json");
    let out = run_quic(
        &daemon,
        keys["write_key"].as_str().unwrap(),
        &[
            "--duration",
            "2s",
            "--batch",
            "250",
            "--connections",
            "4",
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
    assert!(stdout.contains("closed loop over quic to "), "{stdout}");
    assert!(stdout.contains("verified: "), "{stdout}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["mode"], "quic", "{report}");
    assert_eq!(report["batch"], 250, "{report}");
    let acked = report["events_acked"].as_u64().unwrap();
    assert!(acked >= 250, "{report}");
    assert_eq!(report["transport_errors"], 0, "{report}");
    assert_eq!(report["verify"]["ok"], true, "{report}");
    assert_eq!(report["verify"]["queryable"].as_u64(), Some(acked));
    assert!(
        report["latency_ms"]["p99"].as_f64().unwrap() > 0.0,
        "{report}"
    );

    // a key the daemon does not know: every batch is refused with an error frame, counted as 401
    let wrong = run_quic(
        &daemon,
        "wk_not_a_key",
        &["--duration", "300ms", "--connections", "2"],
    );
    let stdout = String::from_utf8_lossy(&wrong.stdout);
    assert!(wrong.status.success(), "{stdout}");
    assert!(stdout.contains("acked 0 "), "{stdout}");
    assert!(stdout.contains("401: "), "{stdout}");
    drop(daemon);
    let _ = std::fs::remove_dir_all(&dir);
}
