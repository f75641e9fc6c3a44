//! `--mode quic` end to end, through the `ecomdash-loadtest` binary against the real `ecomdash`
//! daemon (its QUIC listener on an ephemeral UDP port): 2 s of batches over QUIC, then `--verify`
//! counts every acknowledged event through `POST /api/v1/query`; and a wrong write key is
//! reported as refused batches (401) instead of acks.
//!
//! The daemon binary is `$ECOMDASH_BIN` or `ecomdash` next to this crate's binary (cargo builds
//! it there for the engine's own tests); when it is missing the test says so and passes, unless
//! `CI` is set, where it fails.
#![expect(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const LOADTEST: &str = env!("CARGO_BIN_EXE_ecomdash-loadtest");
const START_TIMEOUT: Duration = Duration::from_secs(30);

fn daemon_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ECOMDASH_BIN") {
        return Some(PathBuf::from(path));
    }
    let next_to_us = Path::new(LOADTEST).parent()?.join("ecomdash");
    next_to_us.exists().then_some(next_to_us)
}

fn clean_env(command: &mut Command) {
    for (name, _) in std::env::vars() {
        if name.starts_with("ECOMDASH_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command.env("ECOMDASH_LOG", "warn");
}

/// A daemon process killed on drop, with the addresses and fingerprint it printed.
struct Daemon {
    child: Child,
    http: String,
    quic: String,
    fingerprint: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_daemon(bin: &Path, data_dir: &Path) -> Daemon {
    let mut command = Command::new(bin);
    command
        .args(["serve", "--http", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    clean_env(&mut command);
    command.env("ECOMDASH_QUIC", "127.0.0.1:0");
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut daemon = Daemon {
        child,
        http: String::new(),
        quic: String::new(),
        fingerprint: String::new(),
    };
    loop {
        let line = rx
            .recv_timeout(START_TIMEOUT)
            .expect("the daemon did not print its addresses");
        if let Some(fingerprint) = line.strip_prefix("quic certificate sha256 fingerprint: ") {
            daemon.fingerprint = fingerprint.to_owned();
        } else if let Some(addr) = line.strip_prefix("listening on quic://") {
            daemon.quic = addr.to_owned();
        } else if let Some(addr) = line.strip_prefix("listening on http://") {
            daemon.http = format!("http://{addr}");
            assert!(!daemon.quic.is_empty(), "the QUIC listener did not start");
            return daemon;
        }
    }
}

fn run_quic(daemon: &Daemon, key: &str, args: &[&str]) -> Output {
    let mut command = Command::new(LOADTEST);
    command
        .args(["--mode", "quic", "--target", &daemon.quic])
        .args(["--fingerprint", &daemon.fingerprint])
        .args(["--query-url", &daemon.http, "--key", key])
        .args(["--quiet", "--sites", "1", "--pool-events", "2000"])
        .args(args);
    clean_env(&mut command);
    command.output().unwrap()
}

#[test]
fn quic_mode_reports_and_verifies_against_the_real_daemon() {
    let Some(bin) = daemon_binary() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "the ecomdash binary is missing next to {LOADTEST}; build it or set ECOMDASH_BIN"
        );
        eprintln!(
            "SKIPPED: no ecomdash binary next to {LOADTEST} and no ECOMDASH_BIN; \
             run `cargo build -p ecomdash-engine --bin ecomdash` first"
        );
        return;
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "ecomdash-loadtest-quic-{}-{nanos}",
        std::process::id()
    ));
    let data_dir = dir.join("data");
    let added = Command::new(&bin)
        .args(["site", "add", "shop1.loadtest.example", "--data-dir"])
        .arg(&data_dir)
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "site add failed: {}",
        String::from_utf8_lossy(&added.stderr)
    );
    let keys: serde_json::Value = serde_json::from_slice(&added.stdout).unwrap();
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
