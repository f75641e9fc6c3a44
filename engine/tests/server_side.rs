//! Events without a browser: a shop backend's order, sent over HTTP without browser headers (as
//! `ecomdash-client` sends it) or over QUIC, counts in the summary's revenue and orders and is
//! not a bot, without becoming a visitor; an empty or tool User-Agent from a browser context
//! stays a bot.

#![expect(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use ecomdash_client::{Client, Ecommerce, EventType, Tls, WireEvent};

const EVENT: &str = "/api/v1/analytics/track/event";

/// `YYYY-MM-DD` of the UTC day `days` after 1970-01-01 (civil-from-days).
fn date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn summary_totals(daemon: &Daemon, read_key: &str) -> serde_json::Value {
    let today = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        / 86_400;
    let path = format!(
        "/api/v1/analytics/summary?site=shop.example&from={}&to={}",
        date(today - 1),
        date(today + 1)
    );
    let auth = format!("Bearer {read_key}");
    let resp = daemon.get(&path, &[("Authorization", &auth)]);
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp.json()["totals"].clone()
}

fn purchase(order_id: &str, value: &str) -> String {
    format!(
        r#"{{"type":"ecommerce","name":"purchase","url":"https://shop.example/checkout/done","ecommerce":{{"order_id":"{order_id}","order_value":{value},"order_currency":"EUR"}}}}"#
    )
}

#[test]
fn a_backend_order_over_http_counts_and_browserless_tools_stay_bots() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let keys = site_add(&dir, "shop.example");
    let daemon = Daemon::start(&dir, &[]);
    let key = keys.write_key.as_str();

    // one real browser visit
    let resp = daemon.post(EVENT, &browser_headers(key), &pageview("/p/shoes"));
    assert_eq!(resp.status, 202, "{}", resp.body);
    // the shop's backend: no User-Agent, no Origin, no Referer (what ecomdash-client sends)
    let resp = daemon.post(EVENT, &[("X-API-Key", key)], &purchase("o-1", "49.90"));
    assert_eq!(resp.status, 202, "{}", resp.body);
    // a browser context with an empty User-Agent, and curl posting as if from the page: bots
    let origin = ("Origin", "https://shop.example");
    let empty_ua = [("X-API-Key", key), ("User-Agent", ""), origin];
    let resp = daemon.post(EVENT, &empty_ua, &purchase("o-2", "1000"));
    assert_eq!(resp.status, 202, "{}", resp.body);
    let curl = [
        ("X-API-Key", key),
        ("User-Agent", "curl/8.5.0"),
        ("Accept-Language", "en"),
        origin,
    ];
    let resp = daemon.post(EVENT, &curl, &purchase("o-3", "2000"));
    assert_eq!(resp.status, 202, "{}", resp.body);

    let totals = poll(Duration::from_secs(5), || {
        let totals = summary_totals(&daemon, &keys.read_key);
        (totals["events"] == 2).then_some(totals)
    });
    assert_eq!(totals["orders"], 1, "{totals}");
    assert_eq!(totals["revenue_minor"], 4990, "{totals}");
    // the order made no visitor of its own: only the browser is one
    assert_eq!(totals["visitors"], 1, "{totals}");
    assert_eq!(totals["pageviews"], 1, "{totals}");
}

#[tokio::test]
async fn a_backend_order_over_quic_counts_in_revenue() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let keys = site_add(&dir, "shop.example");
    let daemon = Daemon::start(&dir, &[("ECOMDASH_QUIC", "127.0.0.1:0")]);
    let addr = daemon.printed("listening on quic://").parse().unwrap();
    let tls = Tls::pinned_sha256(&daemon.printed("quic certificate sha256 fingerprint: ")).unwrap();
    let client = Client::quic(addr, &keys.write_key, tls).build().unwrap();
    let order = WireEvent {
        event_type: EventType::Ecommerce,
        name: Some("purchase".into()),
        url: "https://shop.example/checkout/done".into(),
        ecommerce: Some(Ecommerce {
            order_id: Some("o-q1".into()),
            order_value: Some(120.0),
            order_currency: Some("USD".into()),
            ..Ecommerce::default()
        }),
        ..WireEvent::default()
    };
    let ack = client.send_batch(vec![order]).await.unwrap();
    assert_eq!(ack.accepted, 1, "{ack:?}");
    client.close().await.unwrap();

    let totals = poll(Duration::from_secs(5), || {
        let totals = summary_totals(&daemon, &keys.read_key);
        (totals["orders"] == 1).then_some(totals)
    });
    assert_eq!(totals["revenue_minor"], 12_000, "{totals}");
    assert_eq!(totals["visitors"], 0, "{totals}");
}
