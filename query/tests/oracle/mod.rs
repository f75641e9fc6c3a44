//! The oracle: a test-side query description that renders to SQL and is evaluated naively, row at
//! a time, over the same rows the engine sees. Written from ClickHouse's documented semantics, it
//! shares no code with the engine.
#![allow(dead_code)]

use std::cmp::Ordering;

use serde_json::{json, Value};

use crate::common::{Row, V};

pub const DAY_US: i64 = 86_400_000_000;
pub const HOUR_US: i64 = 3_600_000_000;
/// 2026-01-01 00:00:00 UTC.
pub const JAN1: i64 = 20_454 * DAY_US;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Col {
    Name,
    Path,
    Session,
    Revenue,
    ScreenW,
    Lcp,
    IsBot,
    Ts,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Str,
    Int,
    Float,
    Bool,
    Ts,
}

impl Col {
    pub fn sql(self) -> &'static str {
        match self {
            Col::Name => "name",
            Col::Path => "path",
            Col::Session => "session_id",
            Col::Revenue => "revenue",
            Col::ScreenW => "screen_w",
            Col::Lcp => "lcp",
            Col::IsBot => "is_bot",
            Col::Ts => "ts",
        }
    }

    pub fn kind(self) -> Kind {
        match self {
            Col::Name | Col::Path | Col::Session => Kind::Str,
            Col::Revenue | Col::ScreenW => Kind::Int,
            Col::Lcp => Kind::Float,
            Col::IsBot => Kind::Bool,
            Col::Ts => Kind::Ts,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

impl Op {
    fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::NotEq => "!=",
            Op::Lt => "<",
            Op::LtEq => "<=",
            Op::Gt => ">",
            Op::GtEq => ">=",
        }
    }

    fn holds(self, o: Ordering) -> bool {
        match self {
            Op::Eq => o == Ordering::Equal,
            Op::NotEq => o != Ordering::Equal,
            Op::Lt => o == Ordering::Less,
            Op::LtEq => o != Ordering::Greater,
            Op::Gt => o == Ordering::Greater,
            Op::GtEq => o != Ordering::Less,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Pred {
    Cmp(Col, Op, V),
    In(Col, Vec<V>, bool),
    Like(Col, String, bool),
    IsNull(Col, bool),
    Between(Col, V, V),
    And(Box<Pred>, Box<Pred>),
    Or(Box<Pred>, Box<Pred>),
    Not(Box<Pred>),
}

fn lit_sql(v: &V) -> String {
    match v {
        V::Null => "NULL".into(),
        V::I(i) => i.to_string(),
        V::F(f) => format!("{f:?}"),
        V::B(b) => b.to_string(),
        V::S(s) => format!("'{}'", s.replace('\'', "''")),
    }
}

impl Pred {
    pub fn sql(&self) -> String {
        match self {
            Pred::Cmp(c, op, v) => format!("{} {} {}", c.sql(), op.sql(), lit_sql(v)),
            Pred::In(c, list, neg) => format!(
                "{} {}IN ({})",
                c.sql(),
                if *neg { "NOT " } else { "" },
                list.iter().map(lit_sql).collect::<Vec<_>>().join(", ")
            ),
            Pred::Like(c, p, neg) => format!(
                "{} {}LIKE {}",
                c.sql(),
                if *neg { "NOT " } else { "" },
                lit_sql(&V::S(p.clone()))
            ),
            Pred::IsNull(c, neg) => {
                format!("{} IS {}NULL", c.sql(), if *neg { "NOT " } else { "" })
            }
            Pred::Between(c, lo, hi) => {
                format!("{} BETWEEN {} AND {}", c.sql(), lit_sql(lo), lit_sql(hi))
            }
            Pred::And(a, b) => format!("({} AND {})", a.sql(), b.sql()),
            Pred::Or(a, b) => format!("({} OR {})", a.sql(), b.sql()),
            Pred::Not(a) => format!("NOT ({})", a.sql()),
        }
    }

    /// Three-valued: None is SQL NULL.
    pub fn eval(&self, row: &Row) -> Option<bool> {
        match self {
            Pred::Cmp(c, op, v) => cmp(&get(row, *c), v).map(|o| op.holds(o)),
            Pred::In(c, list, neg) => {
                let x = get(row, *c);
                if x == V::Null {
                    return None;
                }
                let hit = list.iter().any(|v| cmp(&x, v) == Some(Ordering::Equal));
                Some(hit != *neg)
            }
            Pred::Like(c, p, neg) => match get(row, *c) {
                V::S(s) => Some(like(p, &s) != *neg),
                _ => None,
            },
            Pred::IsNull(c, neg) => Some((get(row, *c) == V::Null) != *neg),
            Pred::Between(c, lo, hi) => {
                let x = get(row, *c);
                let a = cmp(&x, lo).map(|o| o != Ordering::Less);
                let b = cmp(&x, hi).map(|o| o != Ordering::Greater);
                and3(a, b)
            }
            Pred::And(a, b) => and3(a.eval(row), b.eval(row)),
            Pred::Or(a, b) => match (a.eval(row), b.eval(row)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            Pred::Not(a) => a.eval(row).map(|b| !b),
        }
    }
}

fn and3(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

pub fn get(row: &Row, c: Col) -> V {
    row.get(c.sql()).cloned().unwrap_or(V::Null)
}

fn num(v: &V) -> Option<f64> {
    match v {
        V::I(i) => Some(*i as f64),
        V::F(f) => Some(*f),
        V::B(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

fn cmp(a: &V, b: &V) -> Option<Ordering> {
    match (a, b) {
        (V::Null, _) | (_, V::Null) => None,
        (V::S(x), V::S(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (V::I(x), V::I(y)) => Some(x.cmp(y)),
        (V::B(x), V::B(y)) => Some(x.cmp(y)),
        _ => num(a)?.partial_cmp(&num(b)?),
    }
}

/// `%` and `_` only (the generator never produces escapes).
fn like(p: &str, s: &str) -> bool {
    let p: Vec<char> = p.chars().collect();
    let s: Vec<char> = s.chars().collect();
    // Dynamic programming over (pattern prefix, text prefix).
    let mut dp = vec![vec![false; s.len() + 1]; p.len() + 1];
    dp[0][0] = true;
    for i in 1..=p.len() {
        dp[i][0] = dp[i - 1][0] && p[i - 1] == '%';
        for j in 1..=s.len() {
            dp[i][j] = match p[i - 1] {
                '%' => dp[i - 1][j] || dp[i][j - 1],
                '_' => dp[i - 1][j - 1],
                c => dp[i - 1][j - 1] && c == s[j - 1],
            };
        }
    }
    dp[p.len()][s.len()]
}

#[derive(Clone, Debug)]
pub enum Key {
    Col(Col),
    ToDate,
    ToStartOfHour,
}

impl Key {
    pub fn sql(&self) -> String {
        match self {
            Key::Col(c) => c.sql().to_string(),
            Key::ToDate => "toDate(ts)".into(),
            Key::ToStartOfHour => "toStartOfHour(ts)".into(),
        }
    }

    fn eval(&self, row: &Row) -> Value {
        match self {
            Key::Col(c) => json_of(&get(row, *c), c.kind()),
            Key::ToDate => match get(row, Col::Ts) {
                V::I(t) => json!(format!("2026-01-{:02}", 1 + (t - JAN1).div_euclid(DAY_US))),
                _ => Value::Null,
            },
            Key::ToStartOfHour => match get(row, Col::Ts) {
                V::I(t) => {
                    let d = (t - JAN1).div_euclid(DAY_US);
                    let h = (t - JAN1).rem_euclid(DAY_US) / HOUR_US;
                    json!(format!("2026-01-{:02} {:02}:00:00", 1 + d, h))
                }
                _ => Value::Null,
            },
        }
    }
}

fn ts_text(t: i64) -> String {
    let d = (t - JAN1).div_euclid(DAY_US);
    let rest = (t - JAN1).rem_euclid(DAY_US);
    let (h, m, s, us) = (
        rest / HOUR_US,
        rest / 60_000_000 % 60,
        rest / 1_000_000 % 60,
        rest % 1_000_000,
    );
    format!("2026-01-{:02} {h:02}:{m:02}:{s:02}.{us:06}", 1 + d)
}

pub fn json_of(v: &V, kind: Kind) -> Value {
    match v {
        V::Null => Value::Null,
        V::I(i) if kind == Kind::Ts => json!(ts_text(*i)),
        V::I(i) => json!(i),
        V::F(f) => json!(f),
        V::B(b) => json!(b),
        V::S(s) => json!(s),
    }
}

#[derive(Clone, Debug)]
pub enum Agg {
    CountStar,
    Count(Col),
    CountDistinct(Col),
    Uniq(Col),
    Sum(Col),
    Avg(Col),
    Min(Col),
    Max(Col),
    Quantile(f64, Col),
    /// window in seconds, conditions.
    Funnel(i64, Vec<Pred>),
    /// ClickHouse's `-If` combinator over a non-funnel, non-distinct aggregate.
    If(Box<Agg>, Pred),
}

impl Agg {
    pub fn sql(&self) -> String {
        match self {
            Agg::CountStar => "count(*)".into(),
            Agg::Count(c) => format!("count({})", c.sql()),
            Agg::CountDistinct(c) => format!("count(DISTINCT {})", c.sql()),
            Agg::Uniq(c) => format!("uniq({})", c.sql()),
            Agg::Sum(c) => format!("sum({})", c.sql()),
            Agg::Avg(c) => format!("avg({})", c.sql()),
            Agg::Min(c) => format!("min({})", c.sql()),
            Agg::Max(c) => format!("max({})", c.sql()),
            Agg::Quantile(p, c) => format!("quantile({p})({})", c.sql()),
            Agg::Funnel(w, conds) => format!(
                "windowFunnel({w})(ts, {})",
                conds.iter().map(Pred::sql).collect::<Vec<_>>().join(", ")
            ),
            Agg::If(inner, cond) => {
                let c = cond.sql();
                match inner.as_ref() {
                    Agg::CountStar => format!("countIf({c})"),
                    Agg::Count(x) => format!("countIf({}, {c})", x.sql()),
                    Agg::Uniq(x) => format!("uniqIf({}, {c})", x.sql()),
                    Agg::Sum(x) => format!("sumIf({}, {c})", x.sql()),
                    Agg::Avg(x) => format!("avgIf({}, {c})", x.sql()),
                    Agg::Min(x) => format!("minIf({}, {c})", x.sql()),
                    Agg::Max(x) => format!("maxIf({}, {c})", x.sql()),
                    Agg::Quantile(p, x) => format!("quantileIf({p})({}, {c})", x.sql()),
                    other => panic!("no -If form for {other:?}"),
                }
            }
        }
    }

    fn eval(&self, rows: &[&Row]) -> Value {
        let values = |c: Col| -> Vec<V> {
            rows.iter()
                .map(|r| get(r, c))
                .filter(|v| *v != V::Null)
                .collect()
        };
        match self {
            Agg::CountStar => json!(rows.len()),
            Agg::Count(c) => json!(values(*c).len()),
            Agg::CountDistinct(c) | Agg::Uniq(c) => {
                let mut seen: Vec<V> = Vec::new();
                for v in values(*c) {
                    if !seen.contains(&v) {
                        seen.push(v);
                    }
                }
                json!(seen.len())
            }
            Agg::Sum(c) => {
                let vs = values(*c);
                if vs.is_empty() {
                    Value::Null
                } else if c.kind() == Kind::Float {
                    json!(vs.iter().filter_map(num).sum::<f64>())
                } else {
                    json!(vs.iter().filter_map(num).map(|f| f as i64).sum::<i64>())
                }
            }
            Agg::Avg(c) => {
                let vs: Vec<f64> = values(*c).iter().filter_map(num).collect();
                if vs.is_empty() {
                    Value::Null
                } else {
                    json!(vs.iter().sum::<f64>() / vs.len() as f64)
                }
            }
            Agg::Min(c) | Agg::Max(c) => {
                let vs = values(*c);
                let best = vs.into_iter().reduce(|a, b| {
                    let o = cmp(&b, &a).unwrap_or(Ordering::Equal);
                    let take_b = if matches!(self, Agg::Min(_)) {
                        o == Ordering::Less
                    } else {
                        o == Ordering::Greater
                    };
                    if take_b {
                        b
                    } else {
                        a
                    }
                });
                best.map_or(Value::Null, |v| json_of(&v, c.kind()))
            }
            Agg::Quantile(p, c) => {
                let mut vs: Vec<f64> = values(*c).iter().filter_map(num).collect();
                if vs.is_empty() {
                    return Value::Null;
                }
                vs.sort_by(f64::total_cmp);
                let pos = p * (vs.len() - 1) as f64;
                let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
                json!(vs[lo] + (pos - lo as f64) * (vs[hi] - vs[lo]))
            }
            Agg::If(inner, cond) => {
                let kept: Vec<&Row> = rows
                    .iter()
                    .copied()
                    .filter(|r| cond.eval(r) == Some(true))
                    .collect();
                inner.eval(&kept)
            }
            Agg::Funnel(w, conds) => {
                let window = w * 1_000_000;
                let mut events: Vec<(i64, usize)> = Vec::new();
                for r in rows {
                    let V::I(ts) = get(r, Col::Ts) else { continue };
                    for (i, c) in conds.iter().enumerate() {
                        if c.eval(r) == Some(true) {
                            events.push((ts, i));
                        }
                    }
                }
                events.sort();
                let mut chain_start: Vec<Option<i64>> = vec![None; conds.len()];
                for (ts, i) in events {
                    if i == 0 {
                        chain_start[0] = Some(ts);
                    } else if let Some(first) = chain_start[i - 1] {
                        if ts <= first + window {
                            chain_start[i] = Some(first);
                        }
                    }
                }
                json!(chain_start
                    .iter()
                    .rposition(Option::is_some)
                    .map_or(0, |i| i + 1))
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct AggQuery {
    pub filter: Option<Pred>,
    pub keys: Vec<Key>,
    pub aggs: Vec<Agg>,
    /// `HAVING count(*) >= n`.
    pub having_min_count: Option<i64>,
    /// ORDER BY every key (descending when true) then LIMIT.
    pub order_limit: Option<(bool, u64)>,
}

impl AggQuery {
    pub fn sql(&self) -> String {
        let mut items: Vec<String> = self.keys.iter().map(Key::sql).collect();
        items.extend(
            self.aggs
                .iter()
                .enumerate()
                .map(|(i, a)| format!("{} AS a{i}", a.sql())),
        );
        let mut sql = format!("SELECT {} FROM events", items.join(", "));
        if let Some(f) = &self.filter {
            sql += &format!(" WHERE {}", f.sql());
        }
        if !self.keys.is_empty() {
            let keys: Vec<String> = self.keys.iter().map(Key::sql).collect();
            sql += &format!(" GROUP BY {}", keys.join(", "));
        }
        if let Some(n) = self.having_min_count {
            sql += &format!(" HAVING count(*) >= {n}");
        }
        if let Some((desc, limit)) = self.order_limit {
            let dir = if desc { " DESC" } else { "" };
            let keys: Vec<String> = self
                .keys
                .iter()
                .map(|k| format!("{}{dir}", k.sql()))
                .collect();
            if !keys.is_empty() {
                sql += &format!(" ORDER BY {}", keys.join(", "));
            }
            sql += &format!(" LIMIT {limit}");
        }
        sql
    }

    /// Rows as JSON; ordered only when the query has ORDER BY.
    pub fn eval(&self, rows: &[Row], allowed: &[&str]) -> Vec<Vec<Value>> {
        let visible: Vec<&Row> = rows
            .iter()
            .filter(|r| matches!(r.get("site"), Some(V::S(s)) if allowed.contains(&s.as_str())))
            .filter(|r| self.filter.as_ref().is_none_or(|f| f.eval(r) == Some(true)))
            .collect();
        let mut groups: Vec<(Vec<Value>, Vec<&Row>)> = Vec::new();
        if self.keys.is_empty() {
            groups.push((Vec::new(), visible));
        } else {
            for r in visible {
                let key: Vec<Value> = self.keys.iter().map(|k| k.eval(r)).collect();
                match groups.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, members)) => members.push(r),
                    None => groups.push((key, vec![r])),
                }
            }
        }
        let mut out: Vec<Vec<Value>> = Vec::new();
        for (key, members) in groups {
            if let Some(n) = self.having_min_count {
                if (members.len() as i64) < n {
                    continue;
                }
            }
            let mut row = key;
            row.extend(self.aggs.iter().map(|a| a.eval(&members)));
            out.push(row);
        }
        if let Some((desc, limit)) = self.order_limit {
            let k = self.keys.len();
            out.sort_by(|a, b| {
                let o = cmp_keys(&a[..k], &b[..k]);
                if desc {
                    // NULLs stay last in both directions.
                    cmp_keys_desc(&a[..k], &b[..k])
                } else {
                    o
                }
            });
            out.truncate(limit as usize);
        }
        out
    }
}

pub fn cmp_json(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&y.as_f64().unwrap_or(0.0)),
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

/// Ascending, NULLs last.
fn cmp_keys(a: &[Value], b: &[Value]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            _ => cmp_json(x, y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// Descending, NULLs last.
fn cmp_keys_desc(a: &[Value], b: &[Value]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            _ => cmp_json(y, x),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// Whether two result values agree (floats to a relative 1e-9).
pub fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(p), Some(q)) = (x.as_i64(), y.as_i64()) {
                return p == q;
            }
            let (p, q) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            (p - q).abs() <= 1e-9 * p.abs().max(q.abs()).max(1.0)
        }
        _ => a == b,
    }
}

pub fn same_rows(a: &[Vec<Value>], b: &[Vec<Value>]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_value(p, q)))
}

/// Sorts rows into a canonical order for order-insensitive comparison.
pub fn canonical(mut rows: Vec<Vec<Value>>) -> Vec<Vec<Value>> {
    rows.sort_by_key(|r| {
        r.iter()
            .map(|v| match v {
                // Round floats so tiny summation differences do not change the order.
                Value::Number(n) if n.as_i64().is_none() => {
                    format!("{:.6}", n.as_f64().unwrap_or(0.0))
                }
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
    });
    rows
}
