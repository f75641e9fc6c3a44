//! Crash safety: the daemon under continuous HTTP load is killed with SIGKILL again and again and
//! restarted; afterwards every event that got a 2xx is in the store exactly once (read back
//! through `ecomdash_storage::Store`). Requests cut off by a kill are retried with the same
//! `event_id` after the restart, as a tracker would.

#![expect(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

/// Kill/restart cycles.
const KILLS: usize = 12;
/// Concurrent client threads.
const CLIENTS: usize = 4;
/// Events per batch request.
const BATCH_EVENTS: usize = 10;
/// Whole test budget.
const BUDGET: Duration = Duration::from_secs(80);

fn batch_body(key: &str, ids: &[String]) -> String {
    let events: Vec<String> = ids
        .iter()
        .map(|id| {
            format!(r#"{{"type":"pageview","url":"https://shop.example/{id}","event_id":"{id}"}}"#)
        })
        .collect();
    format!(r#"{{"api_key":"{key}","events":[{}]}}"#, events.join(","))
}

#[test]
fn acknowledged_events_survive_repeated_sigkill_exactly_once() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let keys = site_add(&dir, "shop.example");
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    // batches whose answer was lost to a kill: retried after the restart
    let unanswered: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let mut next_id = 0usize;
    for round in 0..=KILLS {
        assert!(
            started.elapsed() < BUDGET,
            "crash test over budget at round {round}"
        );
        let mut daemon = Daemon::start(&dir, &[]);
        let stop = Arc::new(AtomicBool::new(false));
        let retries: Vec<Vec<String>> = std::mem::take(&mut *unanswered.lock().unwrap());
        let retries = Arc::new(Mutex::new(retries));
        let mut clients = Vec::new();
        for client in 0..CLIENTS {
            let (stop, acked, unanswered, retries) = (
                stop.clone(),
                acked.clone(),
                unanswered.clone(),
                retries.clone(),
            );
            let (addr, key) = (daemon.addr, keys.write_key.clone());
            let first = next_id + client * 1_000_000;
            clients.push(std::thread::spawn(move || {
                let mut n = first;
                while !stop.load(Ordering::Relaxed) {
                    let ids = retries.lock().unwrap().pop().unwrap_or_else(|| {
                        let ids = (n..n + BATCH_EVENTS)
                            .map(|i| format!("r{round}-{i}"))
                            .collect();
                        n += BATCH_EVENTS;
                        ids
                    });
                    match request(
                        addr,
                        "POST",
                        "/api/v1/analytics/track/batch",
                        &[],
                        batch_body(&key, &ids).as_bytes(),
                    ) {
                        Ok(resp) if resp.status == 202 => acked.lock().unwrap().extend(ids),
                        Ok(resp) => panic!("unexpected answer {}: {}", resp.status, resp.body),
                        Err(_) => {
                            unanswered.lock().unwrap().push(ids);
                            break;
                        }
                    }
                }
            }));
        }
        next_id += CLIENTS * 1_000_000;
        let before = acked.lock().unwrap().len();
        // let load run until some events were acknowledged in this round, then a bit more
        poll(Duration::from_secs(10), || {
            (acked.lock().unwrap().len() > before + 50).then_some(())
        });
        std::thread::sleep(Duration::from_millis(20 + 37 * (round as u64 % 5)));
        if round < KILLS {
            daemon.kill9();
        } else {
            stop.store(true, Ordering::Relaxed);
        }
        for client in clients {
            client.join().unwrap();
        }
        if round == KILLS {
            assert!(daemon.terminate(Duration::from_secs(20)).success());
        }
    }
    let acked = acked.lock().unwrap().clone();
    let stored = stored_event_ids(&dir);
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for id in &stored {
        *counts.entry(id.as_str()).or_default() += 1;
    }
    let duplicated: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).take(5).collect();
    assert!(
        duplicated.is_empty(),
        "stored more than once: {duplicated:?}"
    );
    let missing: Vec<_> = acked
        .iter()
        .filter(|id| !counts.contains_key(id.as_str()))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged but lost: {missing:?} (of {} acknowledged)",
        acked.len()
    );
    assert!(acked.len() > KILLS * 50, "too little load: {}", acked.len());
    eprintln!(
        "{} kills, {} events acknowledged, {} stored, {:?}",
        KILLS,
        acked.len(),
        stored.len(),
        started.elapsed()
    );
}
