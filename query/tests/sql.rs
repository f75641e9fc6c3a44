//! Focused end-to-end tests: one behaviour of the dialect per test, over small hand-made data.
#![expect(clippy::unwrap_used)]

mod common;

use common::{batch, row, s, Row, V};
use ecomdash_query::{
    execute, parse_and_check, MemorySource, QueryError, QueryLimits, QueryResult,
};
use ecomdash_storage::Table;
use serde_json::{json, Value};

const DAY_US: i64 = 86_400_000_000;
/// 2026-01-01 00:00:00 UTC in microseconds.
const JAN1: i64 = 20_454 * DAY_US;

fn ev(site: &str, ts: i64, name: &str, path: &str, session: &str, visitor: &str) -> Row {
    row(&[
        ("site", s(site)),
        ("ts", V::I(ts)),
        (
            "type",
            s(if name == "pageview" {
                "pageview"
            } else {
                "custom"
            }),
        ),
        ("name", s(name)),
        ("path", s(path)),
        ("session_id", s(session)),
        ("visitor_id", s(visitor)),
    ])
}

/// Two batches with different dictionaries, two sites.
fn source() -> MemorySource {
    let h = 3_600_000_000;
    let mut a = vec![
        ev("a.com", JAN1, "pageview", "/", "s1", "v1"),
        ev("a.com", JAN1 + h, "pageview", "/p/shoes", "s1", "v1"),
        ev("a.com", JAN1 + 2 * h, "add_to_cart", "/p/shoes", "s1", "v1"),
        ev("a.com", JAN1 + DAY_US, "pageview", "/", "s2", "v2"),
        ev("b.com", JAN1, "pageview", "/secret", "s9", "v9"),
    ];
    a[1].insert("revenue", V::I(500));
    a[2].insert("revenue", V::I(1500));
    a[2].insert("lcp", V::F(1200.0));
    a[1].insert("lcp", V::F(800.0));
    let mut b = vec![
        ev("a.com", JAN1 + DAY_US + h, "pageview", "/p/hat", "s2", "v2"),
        ev(
            "a.com",
            JAN1 + DAY_US + 2 * h,
            "add_to_cart",
            "/p/hat",
            "s2",
            "v2",
        ),
        ev(
            "a.com",
            JAN1 + DAY_US + 30 * h,
            "checkout",
            "/checkout",
            "s2",
            "v2",
        ),
        ev("a.com", JAN1 + 2 * DAY_US, "pageview", "/", "s3", "v3"),
    ];
    b[3].insert("country", s("DE"));
    b[0].insert("lcp", V::F(2000.0));
    let mut src = MemorySource::new();
    src.push(Table::Events, batch(Table::Events, &a, false));
    src.push(Table::Events, batch(Table::Events, &b, true));
    src
}

fn sites(list: &[&str]) -> Vec<String> {
    list.iter().map(|x| x.to_string()).collect()
}

fn run_with(sql: &str, allowed: &[&str], limits: &QueryLimits) -> Result<QueryResult, QueryError> {
    let q = parse_and_check(sql)?;
    execute(&q, &source(), limits, &sites(allowed))
}

fn run(sql: &str) -> QueryResult {
    run_with(sql, &["a.com"], &QueryLimits::default()).unwrap()
}

fn rows(sql: &str) -> Vec<Vec<Value>> {
    run(sql).rows
}

fn err(sql: &str) -> QueryError {
    run_with(sql, &["a.com"], &QueryLimits::default()).unwrap_err()
}

#[test]
fn count_sees_only_allowed_sites() {
    assert_eq!(rows("SELECT count(*) FROM events"), vec![vec![json!(8)]]);
    let both = run_with(
        "SELECT count() FROM events",
        &["a.com", "b.com"],
        &QueryLimits::default(),
    )
    .unwrap();
    assert_eq!(both.rows, vec![vec![json!(9)]]);
    let none = run_with("SELECT count() FROM events", &[], &QueryLimits::default()).unwrap();
    assert_eq!(none.rows, vec![vec![json!(0)]]);
}

#[test]
fn naming_a_foreign_site_is_forbidden() {
    let e = err("SELECT count() FROM events WHERE site = 'b.com'");
    assert_eq!(
        e,
        QueryError::SiteForbidden {
            site: "b.com".into()
        }
    );
    assert_eq!(e.code(), "site_forbidden");
    let e = err("SELECT count() FROM events WHERE site IN ('a.com', 'b.com') OR 1 = 1");
    assert!(matches!(e, QueryError::SiteForbidden { .. }));
    assert_eq!(
        rows("SELECT count() FROM events WHERE site = 'a.com'"),
        vec![vec![json!(8)]]
    );
}

#[test]
fn group_by_string_merges_across_dictionaries() {
    let r = rows("SELECT path, count() AS c FROM events GROUP BY path ORDER BY c DESC, path");
    assert_eq!(
        r,
        vec![
            vec![json!("/"), json!(3)],
            vec![json!("/p/hat"), json!(2)],
            vec![json!("/p/shoes"), json!(2)],
            vec![json!("/checkout"), json!(1)],
        ]
    );
    let two_threads = QueryLimits {
        threads: 2,
        ..QueryLimits::default()
    };
    let again = run_with(
        "SELECT path, count() AS c FROM events GROUP BY path ORDER BY c DESC, path",
        &["a.com"],
        &two_threads,
    )
    .unwrap();
    assert_eq!(again.rows, r);
}

#[test]
fn dates_group_and_print_like_clickhouse() {
    let r = rows("SELECT toDate(ts) AS day, count() FROM events GROUP BY day ORDER BY day");
    assert_eq!(
        r,
        vec![
            vec![json!("2026-01-01"), json!(3)],
            vec![json!("2026-01-02"), json!(3)],
            vec![json!("2026-01-03"), json!(2)],
        ]
    );
    let r = rows("SELECT toStartOfHour(ts) h, count() FROM events WHERE toDate(ts) = '2026-01-01' GROUP BY h ORDER BY h LIMIT 1");
    assert_eq!(r, vec![vec![json!("2026-01-01 00:00:00"), json!(1)]]);
    let r = rows("SELECT ts FROM events WHERE ts >= '2026-01-03' ORDER BY ts");
    assert_eq!(
        r,
        vec![
            vec![json!("2026-01-03 00:00:00.000000")],
            vec![json!("2026-01-03 06:00:00.000000")]
        ]
    );
    let r = rows("SELECT count() FROM events WHERE ts BETWEEN '2026-01-01 01:00:00' AND '2026-01-01 02:00:00'");
    assert_eq!(r, vec![vec![json!(2)]]);
    let cols = run("SELECT toDate(ts) AS day, toStartOfMinute(ts) FROM events LIMIT 1").columns;
    assert_eq!(cols[0].ty, "date");
    assert_eq!(cols[1].ty, "datetime");
    assert_eq!(cols[1].name, "toStartOfMinute(ts)");
}

#[test]
fn aggregates_follow_clickhouse() {
    let r = rows(
        "SELECT sum(revenue), avg(revenue), min(path), max(lcp), count(revenue), \
         count(DISTINCT session_id), uniq(visitor_id), quantile(0.5)(lcp), quantile(lcp) FROM events",
    );
    assert_eq!(
        r,
        vec![vec![
            json!(2000),
            json!(1000.0),
            json!("/"),
            json!(2000.0),
            json!(2),
            json!(3),
            json!(3),
            json!(1200.0),
            json!(1200.0)
        ]]
    );
    let r = rows("SELECT quantile(0.25)(lcp) FROM events");
    assert_eq!(r, vec![vec![json!(1000.0)]]);
    // No rows: count is 0, the others are null.
    let r =
        rows("SELECT count(), sum(revenue), avg(lcp), uniq(path) FROM events WHERE path = '/nope'");
    assert_eq!(r, vec![vec![json!(0), json!(null), json!(null), json!(0)]]);
}

#[test]
fn window_funnel_over_a_subquery() {
    let sql = "SELECT level, count(*) AS sessions FROM (SELECT session_id, windowFunnel(3600)(ts, \
               name = 'pageview', name = 'add_to_cart', name = 'checkout') AS level FROM events \
               GROUP BY session_id) GROUP BY level ORDER BY level";
    // s1: view, cart within 1h of the view at +1h -> 2 (the first view at 0 is 2h before the
    // cart, but the later view restarts the chain); s2: view+1h, cart+2h -> 2, checkout 28h
    // later is outside the window; s3: one view -> 1.
    assert_eq!(
        rows(sql),
        vec![vec![json!(1), json!(1)], vec![json!(2), json!(2)]]
    );
    let r = rows("SELECT windowFunnel(86400)(ts, name = 'pageview', name = 'checkout') FROM events WHERE session_id = 's2'");
    assert_eq!(r, vec![vec![json!(1)]]);
    let r = rows("SELECT windowFunnel(200000)(ts, name = 'pageview', name = 'checkout') FROM events WHERE session_id = 's2'");
    assert_eq!(r, vec![vec![json!(2)]]);
}

#[test]
fn session_level_subquery_then_aggregate() {
    let sql = "SELECT avg(pages), max(pages) FROM (SELECT session_id, count() AS pages \
               FROM events WHERE type = 'pageview' GROUP BY session_id) AS s WHERE s.pages >= 1";
    assert_eq!(rows(sql), vec![vec![json!(5.0 / 3.0), json!(2)]]);
}

#[test]
fn having_order_limit_offset() {
    let r = rows("SELECT path, count() FROM events GROUP BY path HAVING count() >= 2 ORDER BY 2 DESC, 1 LIMIT 2 OFFSET 1");
    assert_eq!(
        r,
        vec![
            vec![json!("/p/hat"), json!(2)],
            vec![json!("/p/shoes"), json!(2)]
        ]
    );
    let r = rows("SELECT path FROM events GROUP BY path ORDER BY count() DESC, path DESC LIMIT 1");
    assert_eq!(r, vec![vec![json!("/")]]);
    let r = rows("SELECT path, revenue FROM events ORDER BY revenue DESC NULLS LAST, path LIMIT 2");
    assert_eq!(
        r,
        vec![
            vec![json!("/p/shoes"), json!(1500)],
            vec![json!("/p/shoes"), json!(500)]
        ]
    );
    let r = rows("SELECT count() FROM events LIMIT 0");
    assert!(r.is_empty());
    let r = rows("SELECT DISTINCT name FROM events ORDER BY name");
    assert_eq!(
        r,
        vec![
            vec![json!("add_to_cart")],
            vec![json!("checkout")],
            vec![json!("pageview")]
        ]
    );
}

#[test]
fn predicates() {
    let count = |w: &str| rows(&format!("SELECT count() FROM events WHERE {w}"))[0][0].clone();
    assert_eq!(count("path LIKE '/p/%'"), json!(4));
    assert_eq!(count("path NOT LIKE '/p/%'"), json!(4));
    assert_eq!(count("path ILIKE '/P/H%'"), json!(2));
    assert_eq!(count("name IN ('checkout', 'add_to_cart')"), json!(3));
    assert_eq!(count("name NOT IN ('pageview')"), json!(3));
    assert_eq!(count("country IS NULL"), json!(7));
    assert_eq!(count("country IS NOT NULL AND country = 'DE'"), json!(1));
    assert_eq!(count("NOT (country = 'DE')"), json!(0));
    assert_eq!(count("revenue > 600 OR lcp < 1000"), json!(2));
    assert_eq!(count("revenue BETWEEN 100 AND 1000"), json!(1));
    assert_eq!(count("revenue NOT BETWEEN 100 AND 1000"), json!(1));
    assert_eq!(count("revenue / 100 = 15"), json!(1));
    assert_eq!(count("path > '/p'"), json!(4));
    assert_eq!(count("events.path = '/'"), json!(3));
    // a batch whose column holds only nulls has an empty dictionary: no code may be looked up
    assert_eq!(count("country LIKE '%E'"), json!(1));
    assert_eq!(count("country NOT LIKE '%E'"), json!(0));
    assert_eq!(count("props LIKE '%run%'"), json!(0));
}

#[test]
fn select_star_and_plain_rows() {
    let r = run("SELECT * FROM events WHERE name = 'checkout'");
    assert_eq!(r.columns.len(), 44);
    assert_eq!(r.rows.len(), 1);
    let r = rows("SELECT path, lcp FROM events WHERE lcp IS NOT NULL ORDER BY lcp");
    assert_eq!(r[0], vec![json!("/p/shoes"), json!(800.0)]);
}

fn pos(e: &QueryError) -> (u64, u64) {
    match e {
        QueryError::UnknownColumn { pos, .. }
        | QueryError::UnknownFunction { pos, .. }
        | QueryError::Unsupported { pos, .. }
        | QueryError::TypeMismatch { pos, .. }
        | QueryError::Invalid { pos, .. }
        | QueryError::UnknownTable { pos, .. } => (pos.line, pos.column),
        other => panic!("no position in {other:?}"),
    }
}

#[test]
fn errors_name_the_thing_and_its_position() {
    let e = err("SELECT pathx FROM events");
    assert_eq!(e.to_string(), "unknown column `pathx` at line 1, column 8");
    assert!(e.is_bad_request());
    let e = err("SELECT count()\nFROM events\nWHERE nope = 1");
    assert_eq!(pos(&e), (3, 7));
    let e = err("SELECT median(lcp) FROM events");
    assert_eq!(
        e.to_string(),
        "unknown function `median` at line 1, column 8"
    );
    let e = err("SELECT count() FROM pageviews");
    assert!(matches!(e, QueryError::UnknownTable { .. }), "{e}");
    let e = err("SELECT count() FROM events e JOIN sessions s ON e.session_id = s.session_id");
    assert!(
        e.to_string().starts_with("unsupported syntax at line 1"),
        "{e}"
    );
    let e = err("SELECT count() FROM events WHERE path = 3");
    assert!(matches!(e, QueryError::TypeMismatch { .. }), "{e}");
    let e = err("SELECT sum(path) FROM events");
    assert_eq!(
        e.to_string(),
        "type mismatch at line 1, column 12: `sum` needs a number, got string"
    );
    let e = err("SELECT count() FROM events WHERE count() > 1");
    assert_eq!(
        e.to_string(),
        "invalid query at line 1, column 34: aggregate function `count` is not allowed here"
    );
    let e = err("SELECT path, count() FROM events");
    assert_eq!(
        e.to_string(),
        "invalid query at line 1, column 8: column `path` must be in GROUP BY or inside an aggregate function"
    );
    let e = err("SELEC 1");
    assert!(matches!(e, QueryError::Syntax { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "syntax error: Expected: an SQL statement, found: SELEC at Line: 1, Column: 1"
    );
    let e = err("SELECT count() FROM events e JOIN sessions s ON e.session_id = s.session_id");
    assert_eq!(
        e.to_string(),
        "unsupported syntax at line 1, column 35: JOIN"
    );
    let e = err("SELECT count() FROM pageviews");
    assert_eq!(
        e.to_string(),
        "unknown table `pageviews` at line 1, column 21; tables are events and sessions"
    );
    for (sql, what) in [
        (
            "SELECT count() FROM events WHERE path IN (SELECT path FROM events)",
            "IN with a subquery",
        ),
        ("SELECT count() OVER () FROM events", "OVER"),
        ("WITH x AS (SELECT 1) SELECT count() FROM events", "WITH"),
        ("SELECT count() FROM events LIMIT 1 BY path", "LIMIT BY"),
        (
            "SELECT count() FROM events GROUP BY path WITH ROLLUP",
            "GROUP BY modifiers",
        ),
    ] {
        let e = err(sql);
        assert_eq!(e.code(), "unsupported", "{sql}");
        assert!(e.to_string().contains(what), "{sql}: {e}");
    }
    let e = err("SELECT count() FROM events WHERE ts > 'yesterday'");
    assert!(
        e.to_string()
            .contains("cannot read 'yesterday' as a timestamp"),
        "{e}"
    );
    let e = err("SELECT count() FROM (SELECT * FROM (SELECT * FROM events))");
    assert!(
        e.to_string().contains("more than one level of subquery"),
        "{e}"
    );
    let e = err("SELECT count() FROM events WHERE path");
    assert!(
        e.to_string()
            .contains("WHERE needs a boolean condition, got string"),
        "{e}"
    );
    let e = err("SELECT windowFunnel(3600)(ts, path) FROM events");
    assert!(matches!(e, QueryError::TypeMismatch { .. }), "{e}");
    let e = err("SELECT quantile(2)(lcp) FROM events");
    assert!(
        e.to_string()
            .contains("quantile level must be a number in [0, 1]"),
        "{e}"
    );
    let e = err("DELETE FROM events");
    assert!(matches!(e, QueryError::Unsupported { .. }), "{e}");
    let e = err("SELECT 1 FROM events UNION ALL SELECT 2 FROM events");
    assert!(matches!(e, QueryError::Unsupported { .. }), "{e}");
}

#[test]
fn limits_stop_queries() {
    let tight = QueryLimits {
        memory_bytes: 200,
        ..QueryLimits::default()
    };
    let e = run_with(
        "SELECT path, session_id, count() FROM events GROUP BY path, session_id",
        &["a.com"],
        &tight,
    )
    .unwrap_err();
    assert_eq!(e, QueryError::MemoryLimit { limit_bytes: 200 });
    assert_eq!(
        e.to_string(),
        "query stopped: it needed more than the memory limit of 200 bytes"
    );
    let no_time = QueryLimits {
        time_ms: 0,
        ..QueryLimits::default()
    };
    let e = run_with("SELECT count() FROM events", &["a.com"], &no_time).unwrap_err();
    assert_eq!(e, QueryError::TimeLimit { limit_ms: 0 });
}

#[test]
fn stats_and_scan_spec() {
    let r = run("SELECT count() FROM events");
    assert_eq!(r.stats.rows_read, 9);
    assert!(r.stats.bytes_read > 0);
    let q = parse_and_check(
        "SELECT path, count() FROM events WHERE site = 'a.com' AND toDate(ts) >= '2026-01-02' \
         AND ts < '2026-01-05' AND revenue > 10 GROUP BY path",
    )
    .unwrap();
    let spec = q.scan_spec(&sites(&["a.com", "b.com"])).unwrap();
    let schema = Table::Events.schema();
    let idx = |n: &str| schema.index_of(n).unwrap();
    let mut expected = vec![idx("ts"), idx("site"), idx("path"), idx("revenue")];
    expected.sort();
    assert_eq!(spec.columns, expected);
    assert_eq!(spec.sites, Some(vec!["a.com".to_string()]));
    assert_eq!(
        spec.time_range,
        Some((JAN1 + DAY_US, JAN1 + 4 * DAY_US - 1))
    );
    assert_eq!(spec.int_ranges, vec![(idx("revenue"), 11, i64::MAX)]);
}

#[test]
fn csv_output_quotes_what_needs_quoting() {
    let r = run(
        "SELECT toDate(ts) AS day, path, lcp FROM events WHERE name = 'add_to_cart' ORDER BY ts",
    );
    assert_eq!(
        r.to_csv(),
        "day,path,lcp\r\n2026-01-01,/p/shoes,1200.0\r\n2026-01-02,/p/hat,\r\n"
    );
    let r = run("SELECT count() AS \"a,b\" FROM events WHERE path = '/'");
    assert_eq!(r.to_csv(), "\"a,b\"\r\n3\r\n");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// Arbitrary token soup never panics the parser or the checker, and whatever passes the
    /// checker runs without panicking.
    #[test]
    fn random_sql_never_panics(tokens in proptest::collection::vec(proptest::sample::select(&[
        "SELECT", "FROM", "events", "sessions", "WHERE", "GROUP", "BY", "ORDER", "LIMIT", "HAVING",
        "count(*)", "count(", "DISTINCT", "uniq(", "sum(", "quantile(0.5)(", "windowFunnel(60)(",
        "toDate(", "path", "ts", "revenue", "lcp", "name", "site", ")", "(", ",", "=", "<", "AND",
        "OR", "NOT", "IN", "LIKE", "'/p/%'", "'2026-01-01'", "1", "-2.5", "NULL", "IS", "*", "/",
        "AS", "x", "DESC", "BETWEEN", "(SELECT", "1e400", "''", "`", "\"",
    ][..]), 0..24), split in 0usize..24, wrap in proptest::prelude::any::<bool>()) {
        let sql = if wrap {
            // Most soups fail to parse; a SELECT .. FROM frame gets more of them to the checker.
            let (a, b) = tokens.split_at(split.min(tokens.len()));
            format!("SELECT {} FROM events {}", a.join(" "), b.join(" "))
        } else {
            tokens.join(" ")
        };
        if let Ok(q) = ecomdash_query::parse_and_check(&sql) {
            let _ = execute(&q, &source(), &QueryLimits::default(), &sites(&["a.com"]));
        }
    }
}

#[test]
fn uniq_is_within_its_documented_error_and_count_distinct_is_exact() {
    // Two batches of 10 000 visitors each, 5 000 shared: 15 000 distinct, split over two types.
    let mut src = MemorySource::new();
    for (b, range) in [(0, 0..10_000), (1, 5_000..15_000)] {
        let rows: Vec<Row> = range
            .map(|i| {
                let mut r = ev(
                    "a.com",
                    JAN1 + i,
                    "pageview",
                    "/",
                    "s",
                    &format!("visitor-{i}"),
                );
                r.insert("type", s(if i % 2 == 0 { "pageview" } else { "custom" }));
                r
            })
            .collect();
        src.push(Table::Events, batch(Table::Events, &rows, b == 1));
    }
    for threads in [1, 2] {
        let limits = QueryLimits {
            threads,
            ..QueryLimits::default()
        };
        let q = parse_and_check("SELECT uniq(visitor_id), count(DISTINCT visitor_id) FROM events")
            .unwrap();
        let r = execute(&q, &src, &limits, &sites(&["a.com"])).unwrap();
        let approx = r.rows[0][0].as_f64().unwrap();
        assert!((approx - 15_000.0).abs() / 15_000.0 < 0.05, "uniq {approx}");
        assert_eq!(r.rows[0][1], json!(15_000));
        let q = parse_and_check(
            "SELECT type, uniq(visitor_id), count(DISTINCT visitor_id) FROM events GROUP BY type ORDER BY type",
        )
        .unwrap();
        let r = execute(&q, &src, &limits, &sites(&["a.com"])).unwrap();
        for row in &r.rows {
            let approx = row[1].as_f64().unwrap();
            assert!((approx - 7_500.0).abs() / 7_500.0 < 0.05, "uniq {approx}");
            assert_eq!(row[2], json!(7_500));
        }
    }
}

#[test]
fn api_types_can_cross_threads() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<ecomdash_query::Query>();
    send_sync::<QueryResult>();
    send_sync::<QueryError>();
    send_sync::<ecomdash_query::SnapshotSource>();
    send_sync::<MemorySource>();
}

#[test]
fn top_k_over_many_groups_keeps_the_best_in_order() {
    let rows: Vec<Row> = (0..500)
        .map(|i| {
            ev(
                "a.com",
                JAN1 + i,
                "pageview",
                &format!("/p/{}", i % 97),
                "s",
                "v",
            )
        })
        .collect();
    let mut src = MemorySource::new();
    src.push(Table::Events, batch(Table::Events, &rows, false));
    let q = parse_and_check(
        "SELECT path, count() AS c FROM events GROUP BY path ORDER BY c DESC, path LIMIT 3 OFFSET 2",
    )
    .unwrap();
    let r = execute(&q, &src, &QueryLimits::default(), &sites(&["a.com"])).unwrap();
    // 500 = 5 * 97 + 15: paths /p/0 .. /p/14 have 6 rows, the rest 5; ordered by path text.
    assert_eq!(
        r.rows,
        vec![
            vec![json!("/p/10"), json!(6)],
            vec![json!("/p/11"), json!(6)],
            vec![json!("/p/12"), json!(6)],
        ]
    );
}

#[test]
fn if_combinator_aggregates_only_matching_rows() {
    let r = rows(
        "SELECT countIf(name = 'pageview'), sumIf(revenue, name = 'add_to_cart'), \
         uniqIf(session_id, path LIKE '/p/%'), avgIf(lcp, lcp > 900), quantileIf(0.5)(lcp, path != '/'), \
         maxIf(path, name = 'checkout') FROM events",
    );
    assert_eq!(
        r,
        vec![vec![
            json!(5),
            json!(1500),
            json!(2),
            json!(1600.0),
            json!(1200.0),
            json!("/checkout")
        ]]
    );
    let r = rows(
        "SELECT toDate(ts) AS d, countIf(name = 'add_to_cart') FROM events GROUP BY d ORDER BY d",
    );
    assert_eq!(
        r,
        vec![
            vec![json!("2026-01-01"), json!(1)],
            vec![json!("2026-01-02"), json!(1)],
            vec![json!("2026-01-03"), json!(0)]
        ]
    );
    let e = err("SELECT sumIf(revenue) FROM events");
    assert!(matches!(e, QueryError::TypeMismatch { .. }), "{e}");
    let e = err("SELECT windowFunnelIf(60)(ts, name = 'a', true) FROM events");
    assert!(matches!(e, QueryError::UnknownFunction { .. }), "{e}");
}

#[test]
fn subqueries_keep_their_order_limit_and_distinct() {
    assert_eq!(
        rows("SELECT count() FROM (SELECT DISTINCT session_id FROM events)"),
        vec![vec![json!(3)]]
    );
    let r = run("SELECT * FROM (SELECT path, count() AS c FROM events GROUP BY path ORDER BY c DESC, path LIMIT 2) AS t ORDER BY t.path");
    assert_eq!(
        r.columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["path", "c"]
    );
    assert_eq!(
        r.rows,
        vec![vec![json!("/"), json!(3)], vec![json!("/p/hat"), json!(2)]]
    );
    // The outer query sees the inner one's types: dates stay dates.
    let r = run("SELECT max(d) FROM (SELECT toDate(ts) AS d FROM events)");
    assert_eq!(r.rows, vec![vec![json!("2026-01-03")]]);
    assert_eq!(r.columns[0].ty, "date");
    // A site named in the inner WHERE is checked like any other.
    let e = err("SELECT count() FROM (SELECT path FROM events WHERE site = 'b.com')");
    assert!(matches!(e, QueryError::SiteForbidden { .. }), "{e}");
}

#[test]
fn plain_top_k_over_many_rows_skips_rows_that_cannot_qualify() {
    // 6 batches of 1 000 rows, timestamps shuffled across batches, a few null paths.
    let mut src = MemorySource::new();
    let n = 6_000i64;
    for b in 0..6 {
        let rows: Vec<Row> = (0..1_000i64)
            .map(|i| {
                let k = (i * 6 + b) * 7919 % n; // a permutation of 0..n
                let mut r = ev(
                    "a.com",
                    JAN1 + k,
                    "pageview",
                    &format!("/p/{}", k % 13),
                    "s",
                    "v",
                );
                if k % 10 == 0 {
                    r.remove("path");
                }
                r
            })
            .collect();
        src.push(Table::Events, batch(Table::Events, &rows, b % 2 == 0));
    }
    for threads in [1, 2] {
        let limits = QueryLimits {
            threads,
            ..QueryLimits::default()
        };
        let q = parse_and_check("SELECT ts, path FROM events ORDER BY ts DESC LIMIT 3 OFFSET 2")
            .unwrap();
        let r = execute(&q, &src, &limits, &sites(&["a.com"])).unwrap();
        let ts: Vec<&str> = r.rows.iter().map(|row| row[0].as_str().unwrap()).collect();
        assert_eq!(
            ts,
            [
                "2026-01-01 00:00:00.005997",
                "2026-01-01 00:00:00.005996",
                "2026-01-01 00:00:00.005995"
            ]
        );
        // Paths ascending with NULLs last: 5 400 non-null paths ("/p/9" sorts last), then nulls.
        let q =
            parse_and_check("SELECT path FROM events ORDER BY path LIMIT 2 OFFSET 5399").unwrap();
        let r = execute(&q, &src, &limits, &sites(&["a.com"])).unwrap();
        assert_eq!(r.rows, vec![vec![json!("/p/9")], vec![json!(null)]]);
        let q = parse_and_check("SELECT path FROM events ORDER BY path DESC LIMIT 2").unwrap();
        let r = execute(&q, &src, &limits, &sites(&["a.com"])).unwrap();
        assert_eq!(r.rows, vec![vec![json!("/p/9")], vec![json!("/p/9")]]);
    }
}
