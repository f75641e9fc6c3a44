//! Daemon lifecycle: first start, lock file, graceful shutdown keeping data, admin API, import.

#![expect(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use ecomdash_storage::Table;

const EVENT: &str = "/api/v1/analytics/track/event";

#[test]
fn first_start_creates_a_demo_site_and_prints_its_keys_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut daemon = Daemon::start(&dir, &[]);
    let printed = daemon.stdout.join("\n");
    let write_key = daemon
        .stdout
        .iter()
        .find_map(|l| l.split("write key (for the tracker): ").nth(1))
        .unwrap_or_else(|| panic!("no write key in {printed}"))
        .to_owned();
    assert!(printed.contains("read key"), "{printed}");
    let resp = daemon.post(EVENT, &[("X-API-Key", &write_key)], &pageview("/"));
    assert_eq!(resp.status, 202, "{}", resp.body);
    assert!(daemon.terminate(Duration::from_secs(20)).success());
    let again = Daemon::start(&dir, &[]);
    assert!(
        !again.stdout.join("\n").contains("write key"),
        "keys printed twice"
    );
}

#[test]
fn a_second_daemon_on_the_same_data_dir_refuses_to_start() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let _first = Daemon::start(&dir, &[]);
    let out = run(
        &[
            "serve",
            "--http",
            "127.0.0.1:0",
            "--data-dir",
            dir.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("in use by another ecomdash process"),
        "{stderr}"
    );
    // offline commands refuse too
    let out = run(
        &[
            "site",
            "add",
            "x.example",
            "--data-dir",
            dir.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!out.status.success());
}

#[test]
fn sigterm_drains_and_exits_zero_and_data_survives_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let keys = site_add(&dir, "shop.example");
    let mut daemon = Daemon::start(&dir, &[]);
    for i in 0..20 {
        let body = format!(
            r#"{{"type":"pageview","url":"https://shop.example/{i}","event_id":"ev-{i}"}}"#
        );
        assert_eq!(
            daemon
                .post(EVENT, &browser_headers(&keys.write_key), &body)
                .status,
            202
        );
    }
    let status = daemon.terminate(Duration::from_secs(20));
    assert!(status.success(), "exit status {status:?}\n{}", daemon.log());
    let mut ids = stored_event_ids(&dir);
    ids.sort();
    let mut expected: Vec<String> = (0..20).map(|i| format!("ev-{i}")).collect();
    expected.sort();
    assert_eq!(ids, expected);
    // the live session was closed by the drain and written
    assert_eq!(stored_rows(&dir, Table::Sessions), 1);
    // and the restarted daemon serves the same site
    let daemon = Daemon::start(&dir, &[]);
    assert_eq!(
        daemon
            .post(EVENT, &[("X-API-Key", &keys.write_key)], &pageview("/"))
            .status,
        202
    );
}

#[test]
fn idle_sessions_close_and_write_a_session_row() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let keys = site_add(&dir, "shop.example");
    let daemon = Daemon::start(&dir, &[("ECOMDASH_SESSION_IDLE_TIMEOUT_SECS", "1")]);
    assert_eq!(
        daemon
            .post(EVENT, &browser_headers(&keys.write_key), &pageview("/a"))
            .status,
        202
    );
    poll(Duration::from_secs(10), || {
        let metrics = daemon.get("/metrics", &[]).body;
        metrics
            .contains("ecomdash_sessions_closed_total 1")
            .then_some(())
    });
}

#[test]
fn admin_api_adds_sites_behind_the_token_and_imports_ndjson() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let _ = site_add(&dir, "first.example");
    let mut daemon = Daemon::start(&dir, &[]);
    let sites = "/api/v1/admin/sites";
    assert_eq!(
        daemon
            .post(sites, &[], r#"{"domain":"new.example"}"#)
            .status,
        401
    );
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let wrong = [("Authorization", "Bearer wrong-token-wrong-token")];
    assert_eq!(
        daemon
            .post(sites, &wrong, r#"{"domain":"new.example"}"#)
            .status,
        401
    );
    let resp = daemon.post(
        sites,
        &[("Authorization", &auth)],
        r#"{"domain":"new.example"}"#,
    );
    assert_eq!(resp.status, 201, "{}", resp.body);
    let keys: ecomdash_protocol::SiteKeys = serde_json::from_str(&resp.body).unwrap();
    assert_eq!(
        daemon
            .post(
                sites,
                &[("Authorization", &auth)],
                r#"{"domain":"new.example"}"#
            )
            .status,
        409
    );
    assert_eq!(
        daemon
            .post(
                sites,
                &[("Authorization", &auth)],
                r#"{"domain":"Bad Domain"}"#
            )
            .status,
        400
    );
    assert_eq!(
        daemon
            .post(EVENT, &[("X-API-Key", &keys.write_key)], &pageview("/"))
            .status,
        202
    );

    let ua = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
    let mut ndjson = String::new();
    for i in 0..50 {
        ndjson.push_str(&format!(
            "{{\"type\":\"pageview\",\"url\":\"https://new.example/{i}\",\"ts\":{},\"user_agent\":\"{ua}\",\"ip\":\"198.51.100.{}\",\"event_id\":\"imp-{i}\"}}\n",
            1_600_000_000_000i64 + i * 1000,
            i % 5
        ));
    }
    ndjson.push_str("{\"type\":\"pageview\"}\n");
    let resp = daemon.import("new.example", &ndjson);
    assert_eq!(resp.status, 200, "{}", resp.body);
    let report = resp.json();
    assert_eq!(report["imported"], 50);
    assert_eq!(report["rejected"], 1);
    assert_eq!(report["errors"][0]["line"], 51);
    assert_eq!(report["sessions"], 5);
    assert!(daemon.terminate(Duration::from_secs(20)).success());
    let ids = stored_event_ids(&dir);
    assert_eq!(ids.iter().filter(|id| id.starts_with("imp-")).count(), 50);
}

#[test]
fn offline_import_reports_lines_and_stores_events() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let _ = site_add(&dir, "shop.example");
    let file = tmp.path().join("events.ndjson");
    let mut ndjson = String::new();
    for i in 0..1000 {
        ndjson.push_str(&format!(
            "{{\"type\":\"pageview\",\"url\":\"https://shop.example/{}\",\"ts\":{},\"ip\":\"203.0.113.{}\",\"event_id\":\"off-{i}\",\"user_agent\":\"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0\"}}\n",
            i % 7,
            1_600_000_000_000i64 + i * 10_000,
            i % 20
        ));
    }
    ndjson.push_str("garbage\n");
    std::fs::write(&file, ndjson).unwrap();
    let out = run(
        &[
            "import",
            file.to_str().unwrap(),
            "--site",
            "shop.example",
            "--data-dir",
            dir.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["imported"], 1000);
    assert_eq!(report["rejected"], 1);
    assert_eq!(report["errors"][0]["line"], 1001);
    assert_eq!(stored_event_ids(&dir).len(), 1000);
    // 20 visitors (IPs), each with an event every 200 s: one session each
    assert_eq!(report["sessions"], 20);
    assert_eq!(
        stored_rows(&dir, Table::Sessions) as u64,
        report["sessions"].as_u64().unwrap()
    );
    let out = run(
        &[
            "import",
            file.to_str().unwrap(),
            "--site",
            "nope.example",
            "--data-dir",
            dir.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!out.status.success());
}

#[test]
fn serve_help_documents_flags_and_environment() {
    let out = run(&["serve", "--help"], &[]);
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--config",
        "--data-dir",
        "--http",
        "--admin-token",
        "ECOMDASH_DATA_DIR",
        "ECOMDASH_DURABILITY",
        "SIGTERM",
    ] {
        assert!(help.contains(needle), "{needle} missing from:\n{help}");
    }
}
