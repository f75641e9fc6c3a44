//! `ecomdash-query`: the SQL-lite dialect of EcomDash (ClickHouse names and semantics) and a
//! vectorized executor over the store's column batches.
//!
//! [`parse_and_check`] turns SQL into a checked [`Query`] (errors name the column, function or
//! syntax and its line and column); [`execute`] runs it against a [`BatchSource`] under
//! [`QueryLimits`], restricted to the sites the caller's key may read. Execution is blocking CPU
//! work: async callers run it on `spawn_blocking`.
//!
//! It is not an HTTP layer (the `ecomdash` daemon maps [`QueryError::code`] to status codes) and
//! not a storage engine: it reads whatever units the source plans and applies every predicate
//! itself, treating the source's pruning as a hint.

mod access;
mod agg;
mod compile;
mod compile_expr;
mod compile_func;
mod compile_types;
mod error;
mod eval;
mod exec;
mod funnel;
mod fused;
mod groupby;
mod hll;
mod kernels;
mod keys;
mod like;
mod materialize;
mod plan;
mod scalar_ops;
mod source;
mod store_source;
mod summary;
mod types;
mod unit_plan;
mod vector;

use serde::Serialize;

pub use error::{Position, QueryError};
pub use source::{BatchSource, BatchUnit, ColumnStats, MemorySource, ScanSpec, ScanUnits};
pub use store_source::SnapshotSource;
pub use summary::{
    summary, SeriesPoint, Summary, SummaryFilter, SummaryRequest, SummaryTotals, TopRow,
    SUMMARY_TOP_LIMIT,
};
pub use types::{DataType, Scalar};

/// A parsed and checked query, ready to run any number of times.
#[derive(Clone, Debug)]
pub struct Query {
    plan: plan::SelectPlan,
}

impl Query {
    /// Names and types of the result columns.
    pub fn columns(&self) -> Vec<ResultColumn> {
        self.plan
            .outputs
            .iter()
            .map(|o| ResultColumn {
                name: o.name.clone(),
                ty: o.expr.ty.name().to_string(),
            })
            .collect()
    }

    /// The scan the query would ask of the store for the given sites (for tests and EXPLAIN-like
    /// diagnostics).
    pub fn scan_spec(&self, allowed_sites: &[String]) -> Option<ScanSpec> {
        let mut plan = self.plan.clone();
        access::restrict_to_sites(&mut plan, allowed_sites);
        let base = access::base_plan(&plan);
        match base.input {
            plan::Input::Table(t) => Some(access::scan_spec(base, t)),
            plan::Input::Subquery(_) => None,
        }
    }
}

/// Limits one query runs under; exceeding one stops the query with an error.
#[derive(Clone, Debug)]
pub struct QueryLimits {
    /// Bytes of query state (groups, distinct sets, sketches, buffered rows).
    pub memory_bytes: u64,
    pub time_ms: u64,
    /// Threads that scan units in parallel.
    pub threads: usize,
}

impl Default for QueryLimits {
    fn default() -> QueryLimits {
        QueryLimits {
            memory_bytes: 1 << 30,
            time_ms: 30_000,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResultColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct QueryStats {
    pub rows_read: u64,
    pub bytes_read: u64,
    pub segments_scanned: u64,
    pub segments_pruned: u64,
    pub elapsed_ms: u64,
}

/// What `POST /api/v1/query` returns.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueryResult {
    pub columns: Vec<ResultColumn>,
    /// Values as JSON: numbers, strings, booleans, null; dates and times as ClickHouse prints
    /// them (`2026-01-01`, `2026-01-01 10:00:00`, `2026-01-01 10:00:00.123456`).
    pub rows: Vec<Vec<serde_json::Value>>,
    pub stats: QueryStats,
}

impl QueryResult {
    /// The rows as CSV (RFC 4180): a header of column names, then one line per row; nulls are
    /// empty fields, dates and times print as in JSON.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        let names: Vec<String> = self.columns.iter().map(|c| csv_field(&c.name)).collect();
        out.push_str(&names.join(","));
        out.push_str("\r\n");
        for row in &self.rows {
            let fields: Vec<String> = row
                .iter()
                .map(|v| match v {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::String(s) => csv_field(s),
                    other => other.to_string(),
                })
                .collect();
            out.push_str(&fields.join(","));
            out.push_str("\r\n");
        }
        out
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Parses SQL and checks it against the dialect and the table schemas.
pub fn parse_and_check(sql: &str) -> Result<Query, QueryError> {
    Ok(Query {
        plan: compile::compile_sql(sql)?,
    })
}

/// Runs a query over `source`, seeing only rows whose site is in `allowed_sites`. A query whose
/// WHERE names a site outside `allowed_sites` fails with [`QueryError::SiteForbidden`].
pub fn execute(
    query: &Query,
    source: &dyn BatchSource,
    limits: &QueryLimits,
    allowed_sites: &[String],
) -> Result<QueryResult, QueryError> {
    let plan = restricted_plan(query, allowed_sites)?;
    let budget = exec::Budget::new(limits);
    let mut stats = QueryStats::default();
    let m = exec::run_select(&plan, source, &budget, limits.threads, &mut stats)?;
    stats.elapsed_ms = budget.elapsed_ms();
    Ok(to_result(m, stats))
}

/// Runs several queries, each exactly as [`execute`] would, but answers the aggregate queries
/// that read the same table, sites and time range with one scan: each column is decoded once
/// for all of them. Results come in the order of `queries`; each carries the statistics of the
/// scan that answered it.
pub fn execute_many(
    queries: &[&Query],
    source: &dyn BatchSource,
    limits: &QueryLimits,
    allowed_sites: &[String],
) -> Result<Vec<QueryResult>, QueryError> {
    let plans = queries
        .iter()
        .map(|q| restricted_plan(q, allowed_sites))
        .collect::<Result<Vec<_>, _>>()?;
    let mut results: Vec<Option<QueryResult>> = plans.iter().map(|_| None).collect();
    // Groups of plans sharing a scan, in order of first appearance.
    let mut groups: Vec<(Option<ScanSpec>, Vec<usize>)> = Vec::new();
    for (i, plan) in plans.iter().enumerate() {
        let key = fused::fusion_key(plan);
        match groups.iter_mut().find(|(k, _)| key.is_some() && *k == key) {
            Some((_, members)) => members.push(i),
            None => groups.push((key, vec![i])),
        }
    }
    for (_, members) in groups {
        let budget = exec::Budget::new(limits);
        let mut stats = QueryStats::default();
        let answered = if let [only] = members[..] {
            vec![exec::run_select(
                &plans[only],
                source,
                &budget,
                limits.threads,
                &mut stats,
            )?]
        } else {
            let group: Vec<plan::SelectPlan> = members.iter().map(|&i| plans[i].clone()).collect();
            fused::run_fused(&group, source, &budget, limits.threads, &mut stats)?
        };
        stats.elapsed_ms = budget.elapsed_ms();
        for (&i, m) in members.iter().zip(answered) {
            results[i] = Some(to_result(m, stats.clone()));
        }
    }
    results
        .into_iter()
        .map(|r| r.ok_or_else(|| QueryError::Storage("a query of the batch got no result".into())))
        .collect()
}

/// The query's plan restricted to `allowed_sites`, or the error for a site it may not read.
fn restricted_plan(
    query: &Query,
    allowed_sites: &[String],
) -> Result<plan::SelectPlan, QueryError> {
    if let Some(site) = access::named_sites(&query.plan)
        .into_iter()
        .find(|s| !allowed_sites.contains(s))
    {
        return Err(QueryError::SiteForbidden { site });
    }
    let mut plan = query.plan.clone();
    access::restrict_to_sites(&mut plan, allowed_sites);
    Ok(plan)
}

fn to_result(m: exec::Materialized, stats: QueryStats) -> QueryResult {
    let columns = m
        .columns
        .iter()
        .map(|(name, ty)| ResultColumn {
            name: name.clone(),
            ty: ty.name().to_string(),
        })
        .collect();
    let rows = m
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .zip(&m.columns)
                .map(|(v, (_, ty))| v.to_json(*ty))
                .collect()
        })
        .collect();
    QueryResult {
        columns,
        rows,
        stats,
    }
}
