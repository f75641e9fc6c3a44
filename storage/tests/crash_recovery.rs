//! Crash test: a child process (this test binary, re-executed) appends events in a loop with
//! flushes and compactions going on, and prints every acknowledged event id. The parent kills
//! it with SIGKILL at a random moment, 20 times on the same directory, and checks after reopening
//! that every acknowledged event is present exactly once and the store is consistent.
#![expect(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ecomdash_storage::{Durability, Store, StoreConfig, MICROS_PER_DAY};
use parking_lot::Mutex;
use rand::{rngs::StdRng, Rng, SeedableRng};

const CHILD_DIR_ENV: &str = "ECOMDASH_CRASH_CHILD_DIR";
const CHILD_RUN_ENV: &str = "ECOMDASH_CRASH_CHILD_RUN";
const RUNS: usize = 20;
const APPENDERS: usize = 4;

/// Small limits so the child flushes (and compacts) many times per second.
fn config() -> StoreConfig {
    StoreConfig {
        durability: Durability::Fsync,
        memtable_max_bytes: 24 << 10,
        memtable_max_age_ms: 100,
        // Exactly-once must come from WAL replay and checkpoints, not from deduplication.
        dedup_window_ms: 0,
        wal_file_max_bytes: 8 << 10,
        compaction_small_segment_bytes: 1 << 20,
        compaction_min_segments: 3,
        // Tests compare every row's event_id, so it must not expire.
        event_id_ttl_ms: None,
        ..StoreConfig::default()
    }
}

/// The child process. Does nothing unless started by the parent test.
#[test]
#[ignore = "child process entry point of crash_recovery_after_repeated_sigkill"]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else {
        return;
    };
    let run: usize = std::env::var(CHILD_RUN_ENV).unwrap().parse().unwrap();
    let store = Store::open(Path::new(&dir), config()).unwrap();
    let stdout = Arc::new(Mutex::new(std::io::stdout()));
    let maintenance = store.clone();
    std::thread::spawn(move || {
        for i in 0u64.. {
            std::thread::sleep(Duration::from_millis(15));
            let _ = maintenance.compact();
            if i % 4 == 0 {
                let _ = maintenance.flush();
            }
        }
    });
    let mut handles = Vec::new();
    for t in 0..APPENDERS {
        let store = store.clone();
        let stdout = stdout.clone();
        handles.push(std::thread::spawn(move || {
            let sites = ["a.com", "b.com", "c.com"];
            for seq in 0usize.. {
                let n = 1 + seq % 5;
                let batch: Vec<Ev> = (0..n)
                    .map(|k| {
                        let day = ((seq + k) % 3) as i64;
                        Ev::new(
                            sites[(seq + t) % 3],
                            &format!("r{run}-t{t}-{seq}-{k}"),
                            DAY0_US + day * MICROS_PER_DAY + seq as i64,
                            &format!("v{}", seq % 17),
                        )
                    })
                    .collect();
                store.append(rows(&batch)).wait().unwrap();
                let ids: Vec<&str> = batch.iter().map(|e| e.event_id.as_str()).collect();
                let mut out = stdout.lock();
                writeln!(out, "ACK {}", ids.join(" ")).unwrap();
                out.flush().unwrap();
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
}

fn verify(dir: &Path, acked: &HashSet<String>) -> usize {
    // What the killed child left: every segment the manifest lists exists.
    assert_consistent_dir(dir);
    let store = Store::open(dir, config()).unwrap();
    let events = scan_events(&store);
    let counts = id_counts(&events);
    for id in acked {
        assert_eq!(
            counts.get(id),
            Some(&1),
            "acknowledged event {id} must be present once"
        );
    }
    if let Some((id, n)) = counts.iter().find(|(_, n)| **n > 1) {
        panic!("event {id} stored {n} times");
    }
    // Flush so the counts are stable (the age trigger may be flushing replayed rows right now).
    store.flush().unwrap();
    let stats = store.stats();
    assert_eq!((stats.memtable_rows, stats.flushing_rows), (0, 0));
    assert_eq!(
        stats.segment_rows as usize,
        events.len(),
        "stats agree with a full scan"
    );
    assert_eq!(
        scan_events(&store),
        events,
        "a flush changes nothing visible"
    );
    let segments = stats.segment_count;
    drop(store);
    assert_consistent_dir(dir);
    segments
}

#[test]
fn crash_recovery_after_repeated_sigkill() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    // ECOMDASH_CRASH_SEED varies the kill moments (for soak runs); CI uses the fixed default.
    let seed = std::env::var("ECOMDASH_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_C0DE);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut acked: HashSet<String> = HashSet::new();
    let mut max_segments = 0;
    for run in 0..RUNS {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR_ENV, dir.path())
            .env(CHILD_RUN_ENV, run.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<Vec<String>>();
        let reader = std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        // A line cut by the kill has no newline: it was never fully printed.
                        if let Some(ids) =
                            line.strip_prefix("ACK ").and_then(|l| l.strip_suffix('\n'))
                        {
                            let _ = tx.send(ids.split(' ').map(String::from).collect());
                        }
                    }
                }
            }
        });
        let first = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("child acknowledges appends");
        acked.extend(first);
        let kill_at = Instant::now() + Duration::from_millis(rng.gen_range(20..400));
        while let Ok(ids) = rx.recv_timeout(kill_at.saturating_duration_since(Instant::now())) {
            acked.extend(ids);
            if Instant::now() >= kill_at {
                break;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        acked.extend(rx.iter().flatten());
        if run % 5 == 4 {
            max_segments = max_segments.max(verify(dir.path(), &acked));
        }
    }
    let segments = verify(dir.path(), &acked);
    assert!(
        acked.len() > 100,
        "only {} events acknowledged",
        acked.len()
    );
    assert!(
        max_segments.max(segments) > 0,
        "the children flushed segments"
    );
    eprintln!(
        "{RUNS} kills, {} acknowledged events, {segments} segments, {:?}",
        acked.len(),
        started.elapsed()
    );
}
