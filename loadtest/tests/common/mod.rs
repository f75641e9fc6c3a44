//! The real `ecomdash` daemon for the loadtest's end-to-end tests: found as `$ECOMDASH_BIN` or
//! next to this crate's binary (cargo builds it there for the engine's own tests), started on
//! ephemeral HTTP and QUIC ports with a clean environment, and killed on drop.

#![allow(dead_code)]
#![expect(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const LOADTEST: &str = env!("CARGO_BIN_EXE_ecomdash-loadtest");
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The daemon binary; when it is missing, says so and returns `None` (the caller's test then
/// passes), except under `CI`, where a missing binary fails the test.
pub fn daemon_binary_or_skip() -> Option<PathBuf> {
    let found = match std::env::var_os("ECOMDASH_BIN") {
        Some(path) => Some(PathBuf::from(path)),
        None => {
            let next_to_us = Path::new(LOADTEST).parent()?.join("ecomdash");
            next_to_us.exists().then_some(next_to_us)
        }
    };
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the ecomdash binary is missing next to {LOADTEST}; build it or set ECOMDASH_BIN"
        );
        eprintln!(
            "SKIPPED: no ecomdash binary next to {LOADTEST} and no ECOMDASH_BIN; \
             run `cargo build -p ecomdash-engine --bin ecomdash` first"
        );
    }
    found
}

pub fn temp_dir(name: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Drops the caller's `ECOMDASH_*` and `RUST_LOG` settings, so a test sees the defaults.
pub fn clean_env(command: &mut Command) {
    for (name, _) in std::env::vars() {
        if name.starts_with("ECOMDASH_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command.env("ECOMDASH_LOG", "warn");
}

/// `ecomdash site add DOMAIN`: the printed keys (`write_key`, `read_key`).
pub fn site_add(bin: &Path, data_dir: &Path, domain: &str) -> serde_json::Value {
    let added = Command::new(bin)
        .args(["site", "add", domain, "--data-dir"])
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "site add failed: {}",
        String::from_utf8_lossy(&added.stderr)
    );
    serde_json::from_slice(&added.stdout).unwrap()
}

/// A daemon process killed on drop, with the addresses and fingerprint it printed.
pub struct Daemon {
    child: Child,
    pub addr: SocketAddr,
    pub quic: String,
    pub fingerprint: String,
}

impl Daemon {
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_daemon(bin: &Path, data_dir: &Path) -> Daemon {
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
    // owned by the Daemon from here, so the child is killed and reaped on every path
    let mut daemon = Daemon {
        child,
        addr: "127.0.0.1:0".parse().unwrap(),
        quic: String::new(),
        fingerprint: String::new(),
    };
    loop {
        let line = rx
            .recv_timeout(START_TIMEOUT)
            .expect("the daemon did not print its addresses");
        if let Some(found) = line.strip_prefix("quic certificate sha256 fingerprint: ") {
            daemon.fingerprint = found.to_owned();
        } else if let Some(addr) = line.strip_prefix("listening on quic://") {
            daemon.quic = addr.to_owned();
        } else if let Some(addr) = line.strip_prefix("listening on http://") {
            assert!(!daemon.quic.is_empty(), "the QUIC listener did not start");
            daemon.addr = addr.parse().unwrap();
            return daemon;
        }
    }
}
