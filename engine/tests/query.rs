//! `POST /api/v1/query` and `GET /api/v1/analytics/summary` against the real daemon: events sent
//! through intake are visible to SQL within a second, SQL results, CSV and the summary agree with
//! what was sent, and bad SQL, bad keys and other sites' names are refused with 400/401/403.

#![expect(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use ecomdash_protocol::SiteKeys;
use serde_json::{json, Value};

const EVENT: &str = "/api/v1/analytics/track/event";
const QUERY: &str = "/api/v1/query";

struct Fixture {
    _tmp: tempfile::TempDir,
    daemon: Daemon,
    shop: SiteKeys,
    other: SiteKeys,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let shop = site_add(&dir, "shop.example");
    let other = site_add(&dir, "other.example");
    // HTTP only: parallel test daemons would collide on the QUIC listener's fixed UDP port
    let daemon = Daemon::start(&dir, &[("ECOMDASH_QUIC", "off")]);
    Fixture {
        _tmp: tmp,
        daemon,
        shop,
        other,
    }
}

fn send(f: &Fixture, body: &str) {
    let resp = f
        .daemon
        .post(EVENT, &browser_headers(&f.shop.write_key), body);
    assert_eq!(resp.status, 202, "{}", resp.body);
}

fn sql(f: &Fixture, key: &str, query: &str) -> Response {
    let auth = format!("Bearer {key}");
    f.daemon.post(
        QUERY,
        &[("Authorization", &auth)],
        &json!({ "sql": query }).to_string(),
    )
}

fn rows(resp: &Response) -> Value {
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp.json()["rows"].clone()
}

/// `YYYY-MM-DD` of today (UTC) shifted by `days`.
fn day(days: i64) -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let z = secs.div_euclid(86_400) + days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[test]
fn acknowledged_events_answer_sql_csv_and_summary() {
    let f = fixture();
    send(&f, &pageview("/a"));
    let started = Instant::now();
    // visible to a query within a second of the acknowledgement
    poll(Duration::from_secs(1), || {
        let r = sql(&f, &f.shop.read_key, "SELECT count() FROM events");
        (rows(&r) == json!([[1]])).then_some(())
    });
    assert!(started.elapsed() < Duration::from_secs(1));

    for path in ["/a", "/a", "/b"] {
        send(&f, &pageview(path));
    }
    send(
        &f,
        r#"{"type":"ecommerce","name":"purchase","url":"https://shop.example/checkout",
            "ecommerce":{"order_id":"o1","order_value":19.99,"order_currency":"EUR"}}"#,
    );
    let top = poll(Duration::from_secs(5), || {
        let r = sql(
            &f,
            &f.shop.read_key,
            "SELECT path, count() AS c FROM events WHERE type = 'pageview' \
             GROUP BY path ORDER BY c DESC, path",
        );
        let rows = rows(&r);
        (rows == json!([["/a", 3], ["/b", 1]])).then_some(r.json())
    });
    assert_eq!(
        top["columns"],
        json!([{"name": "path", "type": "string"}, {"name": "c", "type": "int"}])
    );
    for stat in [
        "rows_read",
        "bytes_read",
        "segments_scanned",
        "segments_pruned",
        "elapsed_ms",
    ] {
        assert!(top["stats"][stat].is_u64(), "stats lack {stat}: {top}");
    }
    let orders = sql(
        &f,
        &f.shop.read_key,
        "SELECT count(DISTINCT order_id), sumIf(revenue, order_id IS NOT NULL) FROM events \
         WHERE site = 'shop.example'",
    );
    let orders = rows(&orders);
    assert_eq!(orders[0][0], 1, "{orders}");
    assert!(orders[0][1].as_i64().unwrap() > 0, "{orders}");

    // CSV
    let auth = format!("Bearer {}", f.shop.read_key);
    let csv = f.daemon.post(
        &format!("{QUERY}?format=csv"),
        &[("Authorization", &auth)],
        &json!({"sql": "SELECT path, count() AS c FROM events WHERE type = 'pageview' GROUP BY path ORDER BY c DESC"}).to_string(),
    );
    assert_eq!(csv.status, 200, "{}", csv.body);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    assert_eq!(csv.body, "path,c\r\n/a,3\r\n/b,1\r\n");

    // the other site's key sees none of these rows
    assert_eq!(
        rows(&sql(&f, &f.other.read_key, "SELECT count() FROM events")),
        json!([[0]])
    );

    // summary: the same numbers as the SQL
    let path = format!(
        "/api/v1/analytics/summary?site=shop.example&from={}&to={}",
        day(-1),
        day(1)
    );
    let summary = f.daemon.get(&path, &[("Authorization", &auth)]);
    assert_eq!(summary.status, 200, "{}", summary.body);
    let summary = summary.json();
    assert_eq!(summary["totals"]["pageviews"], 4, "{summary}");
    assert_eq!(summary["totals"]["events"], 5, "{summary}");
    assert_eq!(summary["totals"]["orders"], 1, "{summary}");
    assert_eq!(summary["totals"]["visitors"], 1, "{summary}");
    assert_eq!(summary["top_pages"][0]["key"], "/a", "{summary}");
    assert_eq!(summary["top_pages"][0]["count"], 3, "{summary}");
    assert_eq!(summary["timeseries"].as_array().unwrap().len(), 3);

    // a filter narrows it (percent-encoded value)
    let filtered = f
        .daemon
        .get(&format!("{path}&page=%2Fb"), &[("Authorization", &auth)]);
    assert_eq!(filtered.status, 200, "{}", filtered.body);
    assert_eq!(
        filtered.json()["totals"]["pageviews"],
        1,
        "{}",
        filtered.body
    );
}

#[test]
fn bad_sql_keys_and_other_sites_are_refused() {
    let f = fixture();
    let key = &f.shop.read_key;

    let unknown = sql(&f, key, "SELECT count()\nFROM events WHERE colour = 'red'");
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    let error = &unknown.json()["error"];
    assert_eq!(error["code"], "invalid_query");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("colour") && message.contains("line 2, column 19"),
        "{message}"
    );

    let syntax = sql(&f, key, "SELEC 1");
    assert_eq!(syntax.status, 400, "{}", syntax.body);
    assert!(
        syntax.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("syntax error"),
        "{}",
        syntax.body
    );

    let not_json = f.daemon.post(
        QUERY,
        &[("Authorization", &format!("Bearer {key}"))],
        "SELECT 1",
    );
    assert_eq!(not_json.status, 400, "{}", not_json.body);
    assert_eq!(not_json.json()["error"]["code"], "invalid_json");

    // 401: no key, a wrong key, a write key
    let none = f
        .daemon
        .post(QUERY, &[], r#"{"sql":"SELECT count() FROM events"}"#);
    assert_eq!(none.status, 401, "{}", none.body);
    assert_eq!(none.json()["error"]["code"], "missing_api_key");
    for wrong in ["rk_not_a_key_at_all_000000", f.shop.write_key.as_str()] {
        let resp = sql(&f, wrong, "SELECT count() FROM events");
        assert_eq!(resp.status, 401, "{}", resp.body);
        assert_eq!(resp.json()["error"]["code"], "invalid_api_key");
    }

    // 403: naming another site, in SQL or in the summary
    let forbidden = sql(
        &f,
        key,
        "SELECT count() FROM events WHERE site = 'other.example'",
    );
    assert_eq!(forbidden.status, 403, "{}", forbidden.body);
    assert_eq!(forbidden.json()["error"]["code"], "forbidden");
    assert!(
        forbidden.body.contains("other.example"),
        "{}",
        forbidden.body
    );
    let auth = format!("Bearer {key}");
    let other_summary = f.daemon.get(
        &format!(
            "/api/v1/analytics/summary?site=other.example&from={}&to={}",
            day(0),
            day(0)
        ),
        &[("Authorization", &auth)],
    );
    assert_eq!(other_summary.status, 403, "{}", other_summary.body);

    // summary parameters
    let bad_range = f.daemon.get(
        "/api/v1/analytics/summary?site=shop.example&from=2026-02-01&to=2026-01-01",
        &[("Authorization", &auth)],
    );
    assert_eq!(bad_range.status, 400, "{}", bad_range.body);
    let missing = f.daemon.get(
        "/api/v1/analytics/summary?site=shop.example",
        &[("Authorization", &auth)],
    );
    assert_eq!(missing.status, 400, "{}", missing.body);
    let unknown_filter = f.daemon.get(
        &format!(
            "/api/v1/analytics/summary?site=shop.example&from={}&to={}&colour=red",
            day(0),
            day(0)
        ),
        &[("Authorization", &auth)],
    );
    assert_eq!(unknown_filter.status, 400, "{}", unknown_filter.body);
    let bad_key = f.daemon.get(
        &format!(
            "/api/v1/analytics/summary?site=shop.example&from={}&to={}",
            day(0),
            day(0)
        ),
        &[("Authorization", "Bearer nope")],
    );
    assert_eq!(bad_key.status, 401, "{}", bad_key.body);
}
