//! Property tests: random data (small dictionaries, nulls, several batches with different
//! dictionaries) and random queries within the dialect; the vectorized engine must return what
//! the row-at-a-time oracle in `oracle/` returns.
#![expect(clippy::unwrap_used)]

mod common;
mod oracle;

use common::{batch_with, Row, V};
use ecomdash_query::{execute, execute_many, parse_and_check, MemorySource, QueryLimits};
use ecomdash_storage::Table;
use oracle::{canonical, same_rows, Agg, AggQuery, Col, Key, Op, Pred, HOUR_US, JAN1};
use proptest::prelude::*;
use serde_json::Value;

const NAMES: [&str; 4] = ["pageview", "add_to_cart", "checkout", "Pageview"];
const PATHS: [&str; 5] = ["/", "/p/shoes", "/p/hat", "/checkout", "/ü/x"];
const SESSIONS: [&str; 4] = ["s1", "s2", "s3", "s4"];

fn opt<T: std::fmt::Debug + Clone>(
    s: impl Strategy<Value = T>,
) -> impl Strategy<Value = Option<T>> {
    prop_oneof![1 => Just(None), 4 => s.prop_map(Some)]
}

fn str_of(pool: &'static [&'static str]) -> impl Strategy<Value = V> {
    prop::sample::select(pool).prop_map(|s| V::S(s.to_string()))
}

fn event_row() -> impl Strategy<Value = Row> {
    (
        prop::sample::select(&["a.com", "a.com", "b.com"][..]),
        0i64..(3 * 24),
        // often on the hour, so a batch's min or max equals a literal of the predicates
        prop_oneof![1 => Just(0i64), 2 => 0i64..3_600],
        opt(str_of(&NAMES)),
        opt(str_of(&PATHS)),
        str_of(&SESSIONS),
        opt(-5i64..2_000),
        opt(prop::sample::select(&[320i64, 1280, 1920][..])),
        opt(prop::sample::select(
            &[0.5f64, 800.0, 1200.25, 2500.0, -1.0][..],
        )),
        opt(any::<bool>()),
    )
        .prop_map(
            |(site, hour, sec, name, path, session, revenue, w, lcp, bot)| {
                let mut r = Row::new();
                r.insert("site", V::S(site.to_string()));
                r.insert("ts", V::I(JAN1 + hour * HOUR_US + sec * 1_000_000));
                r.insert("session_id", session);
                for (k, v) in [
                    ("name", name),
                    ("path", path),
                    ("revenue", revenue.map(V::I)),
                    ("screen_w", w.map(V::I)),
                    ("lcp", lcp.map(V::F)),
                    ("is_bot", bot.map(V::B)),
                ] {
                    if let Some(v) = v {
                        r.insert(k, v);
                    }
                }
                r
            },
        )
}

fn col() -> impl Strategy<Value = Col> {
    prop::sample::select(
        &[
            Col::Name,
            Col::Path,
            Col::Session,
            Col::Revenue,
            Col::ScreenW,
            Col::Lcp,
            Col::IsBot,
            Col::Ts,
        ][..],
    )
}

fn lit_for(c: Col) -> BoxedStrategy<V> {
    match c {
        Col::Name => str_of(&["pageview", "checkout", "zzz", ""]).boxed(),
        Col::Path => str_of(&["/", "/p/hat", "/p", "/x"]).boxed(),
        Col::Session => str_of(&SESSIONS).boxed(),
        Col::Revenue => (-10i64..2_100).prop_map(V::I).boxed(),
        Col::ScreenW => prop::sample::select(&[320i64, 1000, 1920][..])
            .prop_map(V::I)
            .boxed(),
        Col::Lcp => prop_oneof![
            prop::sample::select(&[800.0f64, 1000.0, 0.5][..]).prop_map(V::F),
            (0i64..3000).prop_map(V::I)
        ]
        .boxed(),
        Col::IsBot => any::<bool>().prop_map(V::B).boxed(),
        Col::Ts => (0i64..72).prop_map(|h| V::I(JAN1 + h * HOUR_US)).boxed(),
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop::sample::select(&[Op::Eq, Op::NotEq, Op::Lt, Op::LtEq, Op::Gt, Op::GtEq][..])
}

fn leaf() -> BoxedStrategy<Pred> {
    let cmp =
        (col(), op()).prop_flat_map(|(c, o)| lit_for(c).prop_map(move |v| Pred::Cmp(c, o, v)));
    let inl = (col(), any::<bool>()).prop_flat_map(|(c, neg)| {
        prop::collection::vec(lit_for(c), 1..4).prop_map(move |l| Pred::In(c, l, neg))
    });
    let like = (
        prop::sample::select(&[Col::Name, Col::Path][..]),
        prop::sample::select(&["%", "/p/%", "%e%", "_", "pageview", "/_/%", "%out", ""][..]),
        any::<bool>(),
    )
        .prop_map(|(c, p, neg)| Pred::Like(c, p.to_string(), neg));
    let null = (col(), any::<bool>()).prop_map(|(c, neg)| Pred::IsNull(c, neg));
    let between = prop::sample::select(&[Col::Revenue, Col::Ts, Col::Path][..])
        .prop_flat_map(|c| (lit_for(c), lit_for(c)).prop_map(move |(a, b)| Pred::Between(c, a, b)));
    prop_oneof![4 => cmp, 2 => inl, 2 => like, 1 => null, 1 => between].boxed()
}

fn pred() -> impl Strategy<Value = Pred> {
    leaf().prop_recursive(3, 8, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Pred::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Pred::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| Pred::Not(Box::new(a))),
        ]
    })
}

fn key() -> impl Strategy<Value = Key> {
    prop_oneof![
        4 => col().prop_map(Key::Col),
        1 => Just(Key::ToDate),
        1 => Just(Key::ToStartOfHour),
    ]
}

fn numeric_col() -> impl Strategy<Value = Col> {
    prop::sample::select(&[Col::Revenue, Col::ScreenW, Col::Lcp, Col::IsBot][..])
}

fn agg() -> impl Strategy<Value = Agg> {
    let plain = prop_oneof![
        Just(Agg::CountStar),
        col().prop_map(Agg::Count),
        col().prop_map(Agg::Uniq),
        numeric_col().prop_map(Agg::Sum),
        numeric_col().prop_map(Agg::Avg),
        col().prop_map(Agg::Min),
        col().prop_map(Agg::Max),
        (prop::sample::select(&[0.0, 0.5, 0.9][..]), numeric_col())
            .prop_map(|(p, c)| Agg::Quantile(p, c)),
    ];
    prop_oneof![
        2 => (plain, leaf()).prop_map(|(a, c)| Agg::If(Box::new(a), c)),
        1 => Just(Agg::CountStar),
        1 => col().prop_map(Agg::Count),
        1 => col().prop_map(Agg::CountDistinct),
        1 => col().prop_map(Agg::Uniq),
        1 => numeric_col().prop_map(Agg::Sum),
        1 => numeric_col().prop_map(Agg::Avg),
        1 => col().prop_map(Agg::Min),
        1 => col().prop_map(Agg::Max),
        1 => (
            prop::sample::select(&[0.0, 0.25, 0.5, 0.9, 1.0][..]),
            numeric_col()
        )
            .prop_map(|(p, c)| Agg::Quantile(p, c)),
        1 => (
            prop::sample::select(&[0i64, 600, 3600, 86_400][..]),
            prop::collection::vec(leaf(), 1..4)
        )
            .prop_map(|(w, conds)| Agg::Funnel(w, conds)),
    ]
}

fn agg_query() -> impl Strategy<Value = AggQuery> {
    (
        opt(pred()),
        prop::collection::vec(key(), 0..3),
        prop::collection::vec(agg(), 1..4),
        opt(1i64..3),
        opt((any::<bool>(), 0u64..6)),
    )
        .prop_map(|(filter, mut keys, aggs, having, order_limit)| {
            // Distinct keys keep GROUP BY meaningful.
            let mut seen = Vec::new();
            keys.retain(|k| {
                let s = k.sql();
                let new = !seen.contains(&s);
                seen.push(s);
                new
            });
            AggQuery {
                filter,
                keys,
                aggs,
                having_min_count: having,
                order_limit,
            }
        })
}

/// Rows split into 1..=3 batches, alternating dictionary order; or, half of the time, sorted
/// by site and day and cut at every change, as the store partitions them, so that batches
/// hold one site and one day and the per-unit decisions from statistics (a site restriction or
/// a time range true for the whole batch, `toDate(ts)` constant) are exercised.
fn data() -> impl Strategy<Value = (Vec<Row>, Vec<usize>)> {
    (prop::collection::vec(event_row(), 0..60), any::<bool>()).prop_flat_map(
        |(mut rows, partitioned)| {
            let mut bounds = Vec::new();
            if partitioned {
                let key = |r: &Row| {
                    let site = match r.get("site") {
                        Some(V::S(s)) => s.clone(),
                        _ => String::new(),
                    };
                    let day = match r.get("ts") {
                        Some(V::I(ts)) => ts.div_euclid(24 * HOUR_US),
                        _ => 0,
                    };
                    (site, day)
                };
                rows.sort_by_key(key);
                bounds = (1..rows.len())
                    .filter(|&i| key(&rows[i]) != key(&rows[i - 1]))
                    .collect();
            }
            let n = rows.len();
            (Just(rows), Just(bounds), prop::collection::vec(0..=n, 0..3)).prop_map(
                |(rows, mut bounds, cuts)| {
                    bounds.extend(cuts);
                    (rows, bounds)
                },
            )
        },
    )
}

fn source(rows: &[Row], cuts: &[usize]) -> MemorySource {
    let mut cuts: Vec<usize> = cuts.to_vec();
    cuts.push(0);
    cuts.push(rows.len());
    cuts.sort();
    cuts.dedup();
    let mut src = MemorySource::new();
    for (i, w) in cuts.windows(2).enumerate() {
        src.push(
            Table::Events,
            batch_with(Table::Events, &rows[w[0]..w[1]], i % 3 == 1, i % 3 == 2),
        );
    }
    src
}

fn engine_rows(sql: &str, src: &MemorySource, threads: usize) -> Vec<Vec<Value>> {
    let q = parse_and_check(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let limits = QueryLimits {
        threads,
        ..QueryLimits::default()
    };
    execute(&q, src, &limits, &["a.com".to_string()])
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .rows
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn aggregate_queries_match_the_oracle((rows, cuts) in data(), q in agg_query(), threads in 1usize..3) {
        let sql = q.sql();
        let src = source(&rows, &cuts);
        let got = engine_rows(&sql, &src, threads);
        let want = q.eval(&rows, &["a.com"]);
        if q.order_limit.is_some() && !q.keys.is_empty() {
            prop_assert!(same_rows(&got, &want), "{}\n got {:?}\nwant {:?}", sql, got, want);
        } else if q.order_limit.is_some() {
            // No keys: at most one row, LIMIT applies.
            prop_assert!(same_rows(&got, &want), "{}\n got {:?}\nwant {:?}", sql, got, want);
        } else {
            let (g, w) = (canonical(got), canonical(want));
            prop_assert!(same_rows(&g, &w), "{}\n got {:?}\nwant {:?}", sql, g, w);
        }
    }

    #[test]
    fn filtered_rows_match_the_oracle((rows, cuts) in data(), p in pred(), c in col(), threads in 1usize..3) {
        let sql = format!("SELECT {}, path FROM events WHERE {}", c.sql(), p.sql());
        let src = source(&rows, &cuts);
        let got = canonical(engine_rows(&sql, &src, threads));
        let want: Vec<Vec<Value>> = rows
            .iter()
            .filter(|r| matches!(r.get("site"), Some(V::S(s)) if s == "a.com"))
            .filter(|r| p.eval(r) == Some(true))
            .map(|r| vec![oracle::json_of(&oracle::get(r, c), c.kind()), oracle::json_of(&oracle::get(r, Col::Path), oracle::Kind::Str)])
            .collect();
        let want = canonical(want);
        prop_assert!(same_rows(&got, &want), "{}\n got {:?}\nwant {:?}", sql, got, want);
    }

    #[test]
    fn ordered_rows_match_the_oracle((rows, cuts) in data(), p in opt(pred()), c in col(), desc in any::<bool>(), limit in 0u64..8, offset in 0u64..4, threads in 1usize..3) {
        let filter = p.as_ref().map(|p| format!(" WHERE {}", p.sql())).unwrap_or_default();
        let dir = if desc { " DESC" } else { "" };
        let sql = format!("SELECT {c}, path FROM events{filter} ORDER BY {c}{dir}, path LIMIT {limit} OFFSET {offset}", c = c.sql());
        let src = source(&rows, &cuts);
        let got = engine_rows(&sql, &src, threads);
        let mut want: Vec<Vec<Value>> = rows
            .iter()
            .filter(|r| matches!(r.get("site"), Some(V::S(s)) if s == "a.com"))
            .filter(|r| p.as_ref().is_none_or(|p| p.eval(r) == Some(true)))
            .map(|r| vec![oracle::json_of(&oracle::get(r, c), c.kind()), oracle::json_of(&oracle::get(r, Col::Path), oracle::Kind::Str)])
            .collect();
        // NULLs last in both directions (ClickHouse's default).
        let nulls_last = |a: &Value, b: &Value, flip: bool| match (a.is_null(), b.is_null()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ if flip => oracle::cmp_json(b, a),
            _ => oracle::cmp_json(a, b),
        };
        want.sort_by(|a, b| nulls_last(&a[0], &b[0], desc).then_with(|| nulls_last(&a[1], &b[1], false)));
        let want: Vec<Vec<Value>> = want.into_iter().skip(offset as usize).take(limit as usize).collect();
        prop_assert!(same_rows(&got, &want), "{}\n got {:?}\nwant {:?}", sql, got, want);
    }

    #[test]
    fn fused_queries_match_separate_runs((rows, cuts) in data(), p in opt(pred()), qs in prop::collection::vec(agg_query(), 1..4), threads in 1usize..3) {
        // One filter for all, so they share a scan; each keeps its keys, aggregates, HAVING
        // and ORDER BY/LIMIT.
        let sqls: Vec<String> = qs
            .into_iter()
            .map(|mut q| {
                q.filter = p.clone();
                q.sql()
            })
            .collect();
        let src = source(&rows, &cuts);
        let queries: Vec<_> = sqls.iter().map(|s| parse_and_check(s).unwrap()).collect();
        let refs: Vec<_> = queries.iter().collect();
        let limits = QueryLimits { threads, ..QueryLimits::default() };
        let sites = ["a.com".to_string()];
        let fused = execute_many(&refs, &src, &limits, &sites).unwrap();
        prop_assert_eq!(fused.len(), sqls.len());
        for (sql, got) in sqls.iter().zip(fused) {
            let want = engine_rows(sql, &src, threads);
            let (g, w) = (canonical(got.rows), canonical(want));
            prop_assert!(same_rows(&g, &w), "{}\n got {:?}\nwant {:?}", sql, g, w);
        }
    }

    #[test]
    fn funnel_subqueries_match_the_oracle((rows, cuts) in data(), w in prop::sample::select(&[0i64, 1800, 7200][..]), conds in prop::collection::vec(leaf(), 1..4)) {
        let inner = AggQuery {
            filter: None,
            keys: vec![Key::Col(Col::Session)],
            aggs: vec![Agg::Funnel(w, conds)],
            having_min_count: None,
            order_limit: None,
        };
        let sql = format!("SELECT a0 AS level, count() FROM ({}) GROUP BY level ORDER BY level", inner.sql());
        let src = source(&rows, &cuts);
        let got = engine_rows(&sql, &src, 2);
        let mut levels: Vec<(i64, i64)> = Vec::new();
        for r in inner.eval(&rows, &["a.com"]) {
            let level = r[1].as_i64().unwrap();
            match levels.iter_mut().find(|(l, _)| *l == level) {
                Some((_, n)) => *n += 1,
                None => levels.push((level, 1)),
            }
        }
        levels.sort();
        let want: Vec<Vec<Value>> = levels.into_iter().map(|(l, n)| vec![l.into(), n.into()]).collect();
        prop_assert!(same_rows(&got, &want), "{}\n got {:?}\nwant {:?}", sql, got, want);
    }
}
