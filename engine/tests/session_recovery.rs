//! Sessions open when the daemon is killed with SIGKILL get their row after the restart, exactly
//! once, rebuilt from the events in the store; a session whose row was written before the kill
//! gets no second one.
#![expect(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use common::*;

fn event(session: &str, path: &str) -> String {
    format!(r#"{{"type":"pageview","url":"https://shop.example{path}","session_id":"{session}"}}"#)
}

fn purchase(session: &str, order: &str, value: f64) -> String {
    format!(
        r#"{{"type":"ecommerce","name":"purchase","url":"https://shop.example/checkout","session_id":"{session}","ecommerce":{{"order_id":"{order}","order_value":{value},"order_currency":"USD"}}}}"#
    )
}

fn send(daemon: &Daemon, key: &str, events: &[String]) {
    let body = format!(r#"{{"events":[{}]}}"#, events.join(","));
    let resp = daemon.post(
        "/api/v1/analytics/track/batch",
        &browser_headers(key),
        &body,
    );
    assert_eq!(resp.status, 202, "{}", resp.body);
}

fn sessions_closed(daemon: &Daemon) -> u64 {
    let metrics = daemon.get("/metrics", &[]).body;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("ecomdash_sessions_closed_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Every `sessions` row of a stopped daemon: (session id, pageviews, events, revenue).
fn session_rows(data_dir: &Path) -> Vec<(String, i64, i64, i64)> {
    use ecomdash_storage::schema::SESSIONS;
    use ecomdash_storage::{ScanRequest, Store, StoreConfig, Table, Value};
    let store = Store::open(&data_dir.join("store"), StoreConfig::default()).unwrap();
    let col = |name: &str| SESSIONS.index_of(name).unwrap();
    let wanted = vec![
        col("session_id"),
        col("pageviews"),
        col("events"),
        col("revenue"),
    ];
    let plan = store
        .snapshot()
        .plan_scan(&ScanRequest::new(Table::Sessions, wanted.clone()));
    let mut rows = Vec::new();
    for unit in &plan.units {
        let batch = unit.read().unwrap();
        let int = |c: usize, row: usize| match batch.column(c).unwrap().value(row) {
            Value::Int(v) => v,
            other => panic!("not an int: {other:?}"),
        };
        let ids = batch.column(wanted[0]).unwrap();
        for row in 0..ids.len() {
            let Value::Str(id) = ids.value(row) else {
                panic!("no session id")
            };
            rows.push((
                id.to_owned(),
                int(wanted[1], row),
                int(wanted[2], row),
                int(wanted[3], row),
            ));
        }
    }
    store.close().unwrap();
    rows.sort();
    rows
}

#[test]
fn sessions_open_at_sigkill_get_exactly_one_row_after_the_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let keys = site_add(&data, "shop.example");
    let key = keys.write_key.as_str();

    // 1. a session that closes (row written) while the daemon runs, then SIGKILL
    let mut daemon = Daemon::start(&data, &[("ECOMDASH_SESSION_IDLE_TIMEOUT_SECS", "1")]);
    send(
        &daemon,
        key,
        &[event("closed", "/a"), event("closed", "/b")],
    );
    poll(Duration::from_secs(20), || {
        (sessions_closed(&daemon) == 1).then_some(())
    });
    daemon.kill9();

    // 2. three sessions open (a long idle timeout) when the daemon is killed
    let mut daemon = Daemon::start(&data, &[("ECOMDASH_SESSION_IDLE_TIMEOUT_SECS", "3600")]);
    send(
        &daemon,
        key,
        &[
            event("s1", "/"),
            event("s1", "/p/1"),
            event("s2", "/"),
            event("s3", "/"),
            event("s1", "/cart"),
        ],
    );
    send(
        &daemon,
        key,
        &[purchase("s2", "o-1", 19.99), event("s3", "/p/2")],
    );
    assert_eq!(sessions_closed(&daemon), 0);
    daemon.kill9();

    // 3. restart with a short idle timeout: the three rebuilt sessions close, one row each
    let mut daemon = Daemon::start(&data, &[("ECOMDASH_SESSION_IDLE_TIMEOUT_SECS", "1")]);
    poll(Duration::from_secs(20), || {
        (sessions_closed(&daemon) == 3).then_some(())
    });
    let status = daemon.terminate(Duration::from_secs(20));
    assert!(status.success());

    let rows = session_rows(&data);
    let by_id: HashMap<&str, (i64, i64, i64)> = rows
        .iter()
        .map(|(id, p, e, r)| (id.as_str(), (*p, *e, *r)))
        .collect();
    assert_eq!(rows.len(), 4, "one row per session: {rows:?}");
    assert_eq!(by_id["closed"], (2, 2, 0));
    assert_eq!(by_id["s1"], (3, 3, 0));
    assert_eq!(by_id["s2"], (1, 2, 1999));
    assert_eq!(by_id["s3"], (2, 2, 0));

    // 4. a further restart finds nothing to rebuild
    let mut daemon = Daemon::start(&data, &[("ECOMDASH_SESSION_IDLE_TIMEOUT_SECS", "1")]);
    send(&daemon, key, &[event("later", "/")]);
    poll(Duration::from_secs(20), || {
        (sessions_closed(&daemon) == 1).then_some(())
    });
    assert!(daemon.terminate(Duration::from_secs(20)).success());
    assert_eq!(session_rows(&data).len(), 5);
}
