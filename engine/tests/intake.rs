//! HTTP intake against the real daemon: single and batch events, keys, CORS, partial batch
//! failures, every error code the daemon can produce here, and realtime freshness.

#![expect(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use ecomdash_protocol::limits::{MAX_BATCH_EVENTS, MAX_EVENT_BODY_BYTES};

const EVENT: &str = "/api/v1/analytics/track/event";
const BATCH: &str = "/api/v1/analytics/track/batch";

fn daemon_with_site(
    env: &[(&str, &str)],
) -> (tempfile::TempDir, Daemon, ecomdash_protocol::SiteKeys) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let keys = site_add(&dir, "shop.example");
    let daemon = Daemon::start(&dir, env);
    (tmp, daemon, keys)
}

fn realtime(daemon: &Daemon, keys: &ecomdash_protocol::SiteKeys) -> serde_json::Value {
    let auth = format!("Bearer {}", keys.read_key);
    let resp = daemon.get(
        "/api/v1/analytics/realtime?site=shop.example",
        &[("Authorization", &auth)],
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp.json()
}

#[test]
fn single_event_is_acknowledged_and_visible_in_realtime_within_a_second() {
    let (_tmp, daemon, keys) = daemon_with_site(&[]);
    let resp = daemon.post(
        EVENT,
        &browser_headers(&keys.write_key),
        &pageview("/shoes?utm_source=google"),
    );
    assert_eq!(resp.status, 202, "{}", resp.body);
    assert_eq!(resp.json()["accepted"], 1);
    let started = std::time::Instant::now();
    let snapshot = poll(Duration::from_secs(1), || {
        let snapshot = realtime(&daemon, &keys);
        (snapshot["top_pages"][0]["key"] == "/shoes").then_some(snapshot)
    });
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(snapshot["visitors_last_5m"], 1);
    assert_eq!(snapshot["devices"][0]["key"], "desktop");
    assert_eq!(snapshot["live_sessions"], 1);
    let per_minute = snapshot["pageviews_per_minute"].as_array().unwrap();
    assert_eq!(per_minute.len(), 30);
    assert_eq!(per_minute.last().unwrap()["pageviews"], 1);
}

#[test]
fn the_write_key_comes_from_header_body_or_query() {
    let (_tmp, daemon, keys) = daemon_with_site(&[]);
    let body_key = format!(
        r#"{{"type":"pageview","url":"https://shop.example/b","api_key":"{}"}}"#,
        keys.write_key
    );
    assert_eq!(daemon.post(EVENT, &[], &body_key).status, 202);
    let query = format!("{EVENT}?key={}", keys.write_key);
    // sendBeacon: text/plain body, key in the query
    let resp = daemon.post(
        &query,
        &[("Content-Type", "text/plain;charset=UTF-8")],
        &pageview("/q"),
    );
    assert_eq!(resp.status, 202, "{}", resp.body);

    let resp = daemon.post(EVENT, &[], &pageview("/none"));
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json()["error"]["code"], "missing_api_key");
    let resp = daemon.post(EVENT, &[("X-API-Key", "wk_nope")], &pageview("/bad"));
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json()["error"]["code"], "invalid_api_key");
    // the read key is not a write key
    let resp = daemon.post(EVENT, &[("X-API-Key", &keys.read_key)], &pageview("/bad"));
    assert_eq!(resp.status, 401);
}

#[test]
fn batches_accept_good_events_and_report_bad_ones_by_index() {
    let (_tmp, daemon, keys) = daemon_with_site(&[]);
    let body = format!(
        r#"{{"api_key":"{}","events":[{},{{"type":"pageview"}},{},{{"type":"custom","url":"https://shop.example/"}},{{"type":"pageview","url":"https://shop.example/","screen":{{"w":"wide","h":1}}}}]}}"#,
        keys.write_key,
        pageview("/1"),
        pageview("/2"),
    );
    let resp = daemon.post(BATCH, &[], &body);
    assert_eq!(resp.status, 202, "{}", resp.body);
    let json = resp.json();
    assert_eq!(json["accepted"], 2);
    let rejected = json["rejected"].as_array().unwrap();
    let fields: Vec<_> = rejected
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap(),
                r["error"]["field"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        fields,
        vec![
            (1, "events[1].url".to_owned()),
            (3, "events[3].name".to_owned()),
            (4, "events[4].screen.w".to_owned())
        ]
    );

    // nothing valid: 400 with the first error
    let body = r#"{"events":[{"type":"pageview"}]}"#;
    let resp = daemon.post(BATCH, &[("X-API-Key", &keys.write_key)], body);
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["error"]["field"], "events[0].url");
}

#[test]
fn retried_event_ids_are_counted_once() {
    let (_tmp, daemon, keys) = daemon_with_site(&[]);
    let headers = browser_headers(&keys.write_key);
    let body = r#"{"type":"pageview","url":"https://shop.example/","event_id":"retry-1"}"#;
    assert_eq!(daemon.post(EVENT, &headers, body).json()["deduplicated"], 0);
    assert_eq!(daemon.post(EVENT, &headers, body).json()["deduplicated"], 1);
    // a batch retried with one new event: only the new one is stored and counted
    let batch = r#"{"events":[
        {"type":"pageview","url":"https://shop.example/","event_id":"retry-1"},
        {"type":"pageview","url":"https://shop.example/marker","event_id":"new-1"}]}"#;
    let resp = daemon.post(BATCH, &headers, batch).json();
    assert_eq!(
        (&resp["accepted"], &resp["deduplicated"]),
        (&2.into(), &1.into())
    );
    // the live figures (and the session) see each event once: once the marker is live, every
    // event before it has been applied
    let snapshot = poll(Duration::from_secs(5), || {
        let snapshot = realtime(&daemon, &keys);
        let pages = snapshot["top_pages"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        pages
            .iter()
            .any(|p| p["key"] == "/marker")
            .then_some(snapshot)
    });
    assert_eq!(snapshot["events_last_30m"], 2, "{snapshot}");
    let per_minute = snapshot["pageviews_per_minute"].as_array().unwrap();
    let pageviews: u64 = per_minute
        .iter()
        .map(|m| m["pageviews"].as_u64().unwrap())
        .sum();
    assert_eq!(pageviews, 2, "{snapshot}");
}

#[test]
fn invalid_requests_get_the_design_status_codes_and_name_the_field() {
    let (_tmp, daemon, keys) = daemon_with_site(&[]);
    let key = [("X-API-Key", keys.write_key.as_str())];
    let check = |resp: Response, status: u16, code: &str, field: Option<&str>| {
        assert_eq!(resp.status, status, "{}", resp.body);
        let json = resp.json();
        assert_eq!(json["error"]["code"], code, "{json}");
        if let Some(field) = field {
            assert_eq!(json["error"]["field"], field, "{json}");
        }
    };
    check(
        daemon.post(EVENT, &key, "{not json"),
        400,
        "invalid_json",
        None,
    );
    check(
        daemon.post(EVENT, &key, r#"{"type":"pageview","url":"ftp://x/"}"#),
        400,
        "invalid_field",
        Some("url"),
    );
    check(
        daemon.post(
            EVENT,
            &key,
            r#"{"type":"nope","url":"https://shop.example/"}"#,
        ),
        400,
        "invalid_field",
        Some("type"),
    );
    let old = 1_000_000_000_000i64; // 2001: far outside the 72 h window
    check(
        daemon.post(
            EVENT,
            &key,
            &format!(r#"{{"type":"pageview","url":"https://shop.example/","ts":{old}}}"#),
        ),
        400,
        "invalid_field",
        Some("ts"),
    );
    let huge = format!(
        r#"{{"type":"pageview","url":"https://shop.example/","title":"{}"}}"#,
        "x".repeat(MAX_EVENT_BODY_BYTES)
    );
    check(daemon.post(EVENT, &key, &huge), 413, "body_too_large", None);
    let many = format!(
        r#"{{"events":[{}]}}"#,
        vec![pageview("/"); MAX_BATCH_EVENTS + 1].join(",")
    );
    check(
        daemon.post(BATCH, &key, &many),
        413,
        "batch_too_large",
        Some("events"),
    );
    let form = [
        ("X-API-Key", keys.write_key.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    check(
        daemon.post(EVENT, &form, &pageview("/")),
        415,
        "unsupported_media_type",
        None,
    );
    check(daemon.get("/api/v1/nothing", &[]), 404, "not_found", None);
}

#[test]
fn rate_limited_sites_get_429_with_retry_after() {
    let (_tmp, daemon, keys) = daemon_with_site(&[
        ("ECOMDASH_SITE_EVENTS_PER_SECOND", "1"),
        ("ECOMDASH_SITE_BURST_EVENTS", "3"),
    ]);
    let key = [("X-API-Key", keys.write_key.as_str())];
    let statuses: Vec<u16> = (0..6)
        .map(|_| daemon.post(EVENT, &key, &pageview("/")).status)
        .collect();
    assert_eq!(&statuses[..3], &[202, 202, 202]);
    let resp = daemon.post(EVENT, &key, &pageview("/"));
    assert_eq!(resp.status, 429);
    assert_eq!(resp.json()["error"]["code"], "rate_limited");
    assert!(resp.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
}

#[test]
fn a_full_admission_limit_answers_503_with_retry_after() {
    let (_tmp, daemon, keys) = daemon_with_site(&[("ECOMDASH_MAX_IN_FLIGHT_REQUESTS", "1")]);
    // hold the only permit: a request whose body never finishes arriving
    let mut slow = TcpStream::connect(daemon.addr).unwrap();
    write!(
        slow,
        "POST {EVENT} HTTP/1.1\r\nHost: x\r\nX-API-Key: {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{",
        keys.write_key
    )
    .unwrap();
    slow.flush().unwrap();
    // Wait until the slow request holds the permit: a request sent before that could take the
    // permit first, and the slow request would be the one refused.
    poll(Duration::from_secs(5), || {
        let metrics = daemon.get("/metrics", &[]).body;
        metrics
            .lines()
            .any(|line| line == "ecomdash_requests_in_flight 1")
            .then_some(())
    });
    let resp = daemon.post(EVENT, &[("X-API-Key", &keys.write_key)], &pageview("/"));
    assert_eq!(resp.status, 503, "{}", resp.body);
    assert_eq!(resp.json()["error"]["code"], "overloaded");
    assert_eq!(resp.header("retry-after"), Some("1"));
    drop(slow);
    poll(Duration::from_secs(5), || {
        (daemon
            .post(EVENT, &[("X-API-Key", &keys.write_key)], &pageview("/"))
            .status
            == 202)
            .then_some(())
    });
}

#[test]
fn cors_preflight_and_headers_allow_any_origin() {
    let (_tmp, daemon, keys) = daemon_with_site(&[]);
    let resp = request(
        daemon.addr,
        "OPTIONS",
        EVENT,
        &[
            ("Origin", "https://other.example"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type,x-api-key"),
        ],
        b"",
    )
    .unwrap();
    assert_eq!(resp.status, 204);
    assert_eq!(resp.header("access-control-allow-origin"), Some("*"));
    assert!(resp
        .header("access-control-allow-headers")
        .unwrap()
        .contains("x-api-key"));
    assert!(resp
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    assert_eq!(resp.header("access-control-max-age"), Some("86400"));
    // every answer carries the headers, even one no route gives
    let resp = daemon.get("/no/such/path", &[("Origin", "https://other.example")]);
    assert_eq!(resp.status, 404);
    assert_eq!(resp.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        resp.header("access-control-expose-headers"),
        Some("retry-after")
    );
    let mut headers = browser_headers(&keys.write_key);
    headers.push(("Origin", "https://other.example"));
    let resp = daemon.post(EVENT, &headers, &pageview("/"));
    assert_eq!(resp.status, 202);
    assert_eq!(resp.header("access-control-allow-origin"), Some("*"));
    let resp = daemon.post(
        EVENT,
        &[("Origin", "https://other.example")],
        &pageview("/"),
    );
    assert_eq!(resp.status, 401);
    assert_eq!(resp.header("access-control-allow-origin"), Some("*"));
}

#[test]
fn realtime_needs_the_sites_read_key_and_metrics_count_outcomes() {
    let (_tmp, daemon, keys) = daemon_with_site(&[]);
    let path = "/api/v1/analytics/realtime?site=shop.example";
    assert_eq!(daemon.get(path, &[]).status, 401);
    let wrong = format!("Bearer {}", keys.write_key);
    assert_eq!(daemon.get(path, &[("Authorization", &wrong)]).status, 401);
    assert_eq!(
        daemon
            .get("/api/v1/analytics/realtime", &[("Authorization", &wrong)])
            .status,
        400
    );

    assert_eq!(
        daemon
            .post(EVENT, &[("X-API-Key", &keys.write_key)], &pageview("/"))
            .status,
        202
    );
    assert_eq!(
        daemon
            .post(EVENT, &[("X-API-Key", &keys.write_key)], "{")
            .status,
        400
    );
    let metrics = daemon.get("/metrics", &[]);
    assert_eq!(metrics.status, 200);
    let text = metrics.body;
    assert!(text.contains("ecomdash_events_accepted_total 1"), "{text}");
    assert!(text.contains("ecomdash_events_rejected_total{reason=\"invalid_json\"} 1"));
    assert!(text.contains("ecomdash_request_duration_seconds_count{route=\"track_event\"} 2"));
    assert!(text.contains("ecomdash_wal_fsyncs"));
    assert!(text.contains("ecomdash_live_sessions"));
    assert!(text.contains("ecomdash_query_block_cache_bytes"));
}
