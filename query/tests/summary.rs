//! The dashboard summary: every figure equals the SQL that defines it, days without data are
//! zero-filled, bots and other sites are excluded, filters narrow both tables.
#![expect(clippy::unwrap_used)]

mod common;

use common::{batch, row, s, V};
use ecomdash_query::{summary, MemorySource, QueryLimits, SummaryFilter, SummaryRequest, TopRow};
use ecomdash_storage::Table;

const DAY_US: i64 = 86_400_000_000;
const HOUR_US: i64 = 3_600_000_000;
const JAN1: i64 = 20_454 * DAY_US;

fn source() -> MemorySource {
    let ev = |site: &str, ts: i64, ty: &str, path: &str, visitor: &str| {
        row(&[
            ("site", s(site)),
            ("ts", V::I(ts)),
            ("type", s(ty)),
            ("path", s(path)),
            ("visitor_id", s(visitor)),
            ("country", s("DE")),
            ("is_bot", V::B(false)),
        ])
    };
    let mut events = vec![
        ev("o'k.shop", JAN1 + HOUR_US, "pageview", "/", "v1"),
        ev("o'k.shop", JAN1 + 2 * HOUR_US, "pageview", "/p/a", "v1"),
        ev("o'k.shop", JAN1 + 2 * DAY_US, "pageview", "/", "v2"),
        ev(
            "o'k.shop",
            JAN1 + 2 * DAY_US + 5,
            "ecommerce",
            "/checkout",
            "v2",
        ),
        ev("o'k.shop", JAN1 + 2 * DAY_US + 6, "pageview", "/", "bot"),
        ev("other.shop", JAN1, "pageview", "/", "v9"),
    ];
    events[3].insert("order_id", s("o1"));
    events[3].insert("revenue", V::I(4999));
    events[4].insert("is_bot", V::B(true));
    events[2].insert("country", s("FR"));
    events[3].insert("country", s("FR"));
    let se =
        |start: i64, entry: &str, bounce: bool, duration: i64, converted: bool, country: &str| {
            row(&[
                ("site", s("o'k.shop")),
                ("start", V::I(start)),
                ("entry_path", s(entry)),
                ("is_bounce", V::B(bounce)),
                ("duration", V::I(duration)),
                ("converted", V::B(converted)),
                ("referrer_source", s("Google")),
                ("country", s(country)),
            ])
        };
    let sessions = vec![
        se(JAN1 + HOUR_US, "/", false, 3600, false, "DE"),
        se(JAN1 + 2 * DAY_US, "/", false, 60, true, "FR"),
        se(JAN1 + 5 * DAY_US, "/late", true, 0, false, "DE"),
    ];
    let mut src = MemorySource::new();
    src.push(Table::Events, batch(Table::Events, &events, false));
    src.push(Table::Sessions, batch(Table::Sessions, &sessions, false));
    src
}

fn request(from: &str, to: &str, filters: Vec<(SummaryFilter, String)>) -> SummaryRequest {
    SummaryRequest {
        site: "o'k.shop".into(),
        from: from.into(),
        to: to.into(),
        filters,
    }
}

fn top(key: &str, count: i64) -> TopRow {
    TopRow {
        key: Some(key.into()),
        count,
    }
}

#[test]
fn totals_series_and_top_lists() {
    let sum = summary(
        &source(),
        &request("2026-01-01", "2026-01-03", vec![]),
        &QueryLimits::default(),
    )
    .unwrap();
    let t = &sum.totals;
    assert_eq!(
        (t.visitors, t.pageviews, t.events, t.sessions),
        (2, 3, 4, 2)
    );
    assert_eq!((t.orders, t.revenue_minor), (1, 4999));
    assert!((t.bounce_rate - 0.0).abs() < 1e-12);
    assert!((t.avg_session_duration_secs - 1830.0).abs() < 1e-9);
    assert!((t.conversion_rate - 0.5).abs() < 1e-12);
    assert_eq!(sum.granularity, "day");
    let series: Vec<(String, i64, i64)> = sum
        .timeseries
        .iter()
        .map(|p| (p.bucket.clone(), p.visitors, p.pageviews))
        .collect();
    assert_eq!(
        series,
        vec![
            ("2026-01-01".to_string(), 1, 2),
            ("2026-01-02".to_string(), 0, 0),
            ("2026-01-03".to_string(), 1, 1)
        ]
    );
    assert_eq!(sum.top_pages, vec![top("/", 2), top("/p/a", 1)]);
    assert_eq!(sum.entry_pages, vec![top("/", 2)]);
    assert_eq!(sum.referrer_sources, vec![top("Google", 2)]);
    assert_eq!(sum.countries, vec![top("DE", 1), top("FR", 1)]);
    assert!(sum.utm_campaigns.is_empty());
    assert_eq!(
        sum.devices,
        vec![TopRow {
            key: None,
            count: 2
        }]
    );
    let json = serde_json::to_value(&sum).unwrap();
    assert_eq!(json["totals"]["visitors"], 2);
}

#[test]
fn one_day_is_hourly_and_filters_narrow() {
    let sum = summary(
        &source(),
        &request("2026-01-01", "2026-01-01", vec![]),
        &QueryLimits::default(),
    )
    .unwrap();
    assert_eq!(sum.granularity, "hour");
    assert_eq!(sum.timeseries.len(), 24);
    assert_eq!(sum.timeseries[1].bucket, "2026-01-01 01:00:00");
    assert_eq!(
        (sum.timeseries[1].visitors, sum.timeseries[1].pageviews),
        (1, 1)
    );
    assert_eq!(sum.timeseries[2].pageviews, 1);

    let fr = summary(
        &source(),
        &request(
            "2026-01-01",
            "2026-01-07",
            vec![(SummaryFilter::Country, "FR".into())],
        ),
        &QueryLimits::default(),
    )
    .unwrap();
    assert_eq!(
        (fr.totals.visitors, fr.totals.pageviews, fr.totals.sessions),
        (1, 1, 1)
    );
    assert_eq!(fr.totals.orders, 1);
}

#[test]
fn bad_dates_are_errors() {
    let e = summary(
        &source(),
        &request("2026-13-01", "2026-01-01", vec![]),
        &QueryLimits::default(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "invalid_query");
    assert!(
        e.to_string().contains("from must be a date YYYY-MM-DD"),
        "{e}"
    );
    let e = summary(
        &source(),
        &request("2026-01-02", "2026-01-01", vec![]),
        &QueryLimits::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("to is before from"), "{e}");
    assert_eq!(
        SummaryFilter::from_param("utm_campaign"),
        Some(SummaryFilter::UtmCampaign)
    );
    assert_eq!(SummaryFilter::from_param("nope"), None);
}
