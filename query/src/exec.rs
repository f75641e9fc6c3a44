//! The executor: scans units on several threads (each with its own partial state), merges the
//! partial states, then applies HAVING, ORDER BY, OFFSET/LIMIT and the output expressions.

use std::cmp::Ordering;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::time::Instant;

use ecomdash_storage::ColumnBatch;

use crate::access::scan_spec;
use crate::error::QueryError;
use crate::eval::Evaluator;
use crate::groupby::{Condition, PartialAgg};
use crate::kernels::compact;
use crate::materialize::to_batches;
use crate::plan::{AggCall, Expr, ExprKind, Input, OrderKey, SelectPlan, Shape};
use crate::scalar_ops::{eval_row, is_true};
use crate::source::{memory_units, BatchSource, BatchUnit};
use crate::types::{DataType, Scalar};
use crate::unit_plan::{ScanScope, UnitPlan};
use crate::vector::{selection_of, Vector};
use crate::{QueryLimits, QueryStats};

/// Shared by all threads of one query: memory charged so far, the deadline, and a stop flag.
pub(crate) struct Budget {
    start: Instant,
    memory_limit: u64,
    time_limit_ms: u64,
    used: AtomicU64,
    stop: AtomicBool,
}

impl Budget {
    pub(crate) fn new(limits: &QueryLimits) -> Budget {
        Budget {
            start: Instant::now(),
            memory_limit: limits.memory_bytes,
            time_limit_ms: limits.time_ms,
            used: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        }
    }

    pub(crate) fn charge(&self, bytes: usize) -> Result<(), QueryError> {
        let total = self.used.fetch_add(bytes as u64, AtomicOrdering::Relaxed) + bytes as u64;
        if total > self.memory_limit {
            self.stop.store(true, AtomicOrdering::Relaxed);
            return Err(QueryError::MemoryLimit {
                limit_bytes: self.memory_limit,
            });
        }
        Ok(())
    }

    pub(crate) fn release(&self, bytes: usize) {
        self.used.fetch_sub(
            (bytes as u64).min(self.used.load(AtomicOrdering::Relaxed)),
            AtomicOrdering::Relaxed,
        );
    }

    pub(crate) fn check_time(&self) -> Result<(), QueryError> {
        if self.start.elapsed().as_micros() > u128::from(self.time_limit_ms) * 1000 {
            self.stop.store(true, AtomicOrdering::Relaxed);
            return Err(QueryError::TimeLimit {
                limit_ms: self.time_limit_ms,
            });
        }
        Ok(())
    }

    pub(crate) fn elapsed_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
}

/// A fully computed SELECT: typed columns and rows.
pub(crate) struct Materialized {
    pub columns: Vec<(String, DataType)>,
    pub rows: Vec<Vec<Scalar>>,
}

/// Rows kept with their ORDER BY key values.
type KeyedRow = (Vec<Scalar>, Vec<Scalar>);

pub(crate) fn run_select(
    plan: &SelectPlan,
    source: &dyn BatchSource,
    budget: &Budget,
    threads: usize,
    stats: &mut QueryStats,
) -> Result<Materialized, QueryError> {
    let (units, site_column) = match &plan.input {
        Input::Table(table) => (
            plan_units(plan, *table, source, stats)?,
            Some(table.schema().site_column),
        ),
        Input::Subquery(inner) => {
            let m = run_select(inner, source, budget, threads, stats)?;
            (memory_units(to_batches(&m, &plan.used_columns())), None)
        }
    };
    let conjuncts = plan
        .filter
        .as_ref()
        .map(|f| f.conjuncts())
        .unwrap_or_default();
    let counted = matches!(plan.input, Input::Table(_));
    let rows = match &plan.shape {
        Shape::Aggregate { keys, aggs } => {
            let scope = ScanScope {
                conjuncts,
                keys,
                others: aggs
                    .iter()
                    .flat_map(|a| a.args.iter().chain(&a.condition))
                    .collect(),
                site_column,
            };
            let workers = scan(
                &units,
                &scope,
                budget,
                threads,
                stats,
                counted,
                || PartialAgg::new(keys.len(), aggs),
                |partial, eval, batch, unit, sel| {
                    aggregate_batch(partial, eval, keys, aggs, batch, unit, sel, budget)?;
                    Ok(true)
                },
            )?;
            finish_groups(plan, keys.len(), aggs, workers, budget)?
        }
        Shape::Rows { slots } => {
            let keep = plan.limit.map(|l| l.saturating_add(plan.offset) as usize);
            let ordered = !plan.order_by.is_empty();
            // Slots the ORDER BY reads: evaluated first, so rows that cannot make the top-k are
            // skipped before the rest of the row is materialized.
            let mut key_slots = vec![false; slots.len()];
            for k in &plan.order_by {
                k.expr.visit_columns(&mut |i| {
                    if let Some(slot) = key_slots.get_mut(i) {
                        *slot = true;
                    }
                });
            }
            let collected = AtomicUsize::new(0);
            let scope = ScanScope {
                conjuncts,
                keys: &[],
                others: slots.iter().collect(),
                site_column,
            };
            let workers = scan(
                &units,
                &scope,
                budget,
                threads,
                stats,
                counted,
                || (Vec::<KeyedRow>::new(), None::<Vec<Scalar>>),
                |(rows, threshold), eval, batch, _unit, sel| {
                    if keep == Some(0) {
                        return Ok(false);
                    }
                    let vectors = slots
                        .iter()
                        .map(|s| eval.eval(s, batch))
                        .collect::<Result<Vec<_>, _>>()?;
                    let mut bytes = 0;
                    for &r in sel {
                        let r = r as usize;
                        let keys = if ordered {
                            let key_row: Vec<Scalar> = vectors
                                .iter()
                                .zip(&key_slots)
                                .map(|(v, &used)| if used { v.scalar(r) } else { Scalar::Null })
                                .collect();
                            let keys = order_values(&plan.order_by, &key_row);
                            if let Some(worst) = threshold.as_ref() {
                                if compare_keys(&plan.order_by, &keys, worst) != Ordering::Less {
                                    continue;
                                }
                            }
                            keys
                        } else {
                            Vec::new()
                        };
                        let row: Vec<Scalar> = vectors.iter().map(|v| v.scalar(r)).collect();
                        bytes += row_bytes(&row);
                        rows.push((keys, row));
                    }
                    budget.charge(bytes)?;
                    match keep {
                        Some(k) if ordered => {
                            if rows.len() >= (2 * k).max(1024) {
                                let before: usize = rows.iter().map(|(_, r)| row_bytes(r)).sum();
                                keep_best(rows, k, &plan.order_by);
                                *threshold = rows.last().map(|(keys, _)| keys.clone());
                                let after: usize = rows.iter().map(|(_, r)| row_bytes(r)).sum();
                                budget.release(before - after);
                            }
                            Ok(true)
                        }
                        Some(k) => {
                            let total =
                                collected.fetch_add(sel.len(), AtomicOrdering::Relaxed) + sel.len();
                            Ok(total < k)
                        }
                        None => Ok(true),
                    }
                },
            )?;
            workers.into_iter().flat_map(|(rows, _)| rows).collect()
        }
    };
    finish_rows(plan, rows, budget)
}

/// Adds one batch's selected rows to an aggregate's partial state.
#[expect(clippy::too_many_arguments)]
pub(crate) fn aggregate_batch(
    partial: &mut PartialAgg,
    eval: &mut Evaluator,
    keys: &[Expr],
    aggs: &[AggCall],
    batch: &ColumnBatch,
    unit: &UnitPlan<'_>,
    sel: &[u32],
    budget: &Budget,
) -> Result<(), QueryError> {
    let n = batch.row_count;
    let mut key_vectors = Vec::with_capacity(keys.len());
    for (k, constant) in keys.iter().zip(&unit.const_keys) {
        key_vectors.push(match constant {
            Some(v) => Vector::Const(v.clone()),
            None => eval.eval(k, batch)?,
        });
    }
    let mut arg_vectors = Vec::with_capacity(aggs.len());
    let mut conditions = Vec::with_capacity(aggs.len());
    let few = sel.len().saturating_mul(2) < n;
    for a in aggs {
        // With few rows selected, a string predicate argument (windowFunnel's steps) is
        // tested at those rows only instead of over the whole batch.
        arg_vectors.push(
            a.args
                .iter()
                .map(|e| match eval.dict_predicate(e, batch).filter(|_| few) {
                    Some(p) => Ok(p.at_rows(sel, n)),
                    None => eval.eval(e, batch),
                })
                .collect::<Result<Vec<_>, _>>()?,
        );
        // A string predicate as a condition is tested at the selected rows through its
        // dictionary mask, without a vector over the whole batch.
        conditions.push(match &a.condition {
            Some(c) => Some(match eval.dict_predicate(c, batch) {
                Some(p) => Condition::Codes(p),
                None => Condition::Rows(eval.eval(c, batch)?),
            }),
            None => None,
        });
    }
    let bytes = partial.add_batch(&key_vectors, &arg_vectors, &conditions, sel, n);
    budget.charge(bytes)
}

/// Merges the threads' partial aggregates and applies HAVING: the groups, with their ORDER BY
/// values.
pub(crate) fn finish_groups(
    plan: &SelectPlan,
    key_count: usize,
    aggs: &[AggCall],
    partials: Vec<PartialAgg>,
    budget: &Budget,
) -> Result<Vec<KeyedRow>, QueryError> {
    let mut partials = partials;
    if partials.len() > 1 && partials.iter().any(PartialAgg::has_pending) {
        // Hash the strings of the codes each thread marked on that thread, instead of all of
        // them on one thread while merging.
        std::thread::scope(|s| {
            for p in &mut partials {
                s.spawn(move || p.flush_pending());
            }
        });
    }
    let mut partials = partials.into_iter();
    let mut merged = partials
        .next()
        .unwrap_or_else(|| PartialAgg::new(key_count, aggs));
    for p in partials {
        merged.merge(p);
    }
    budget.check_time()?;
    let mut keyed = Vec::with_capacity(merged.group_count());
    for row in merged.finish() {
        if plan
            .having
            .as_ref()
            .is_none_or(|h| is_true(&eval_row(h, &row)))
        {
            keyed.push((order_values(&plan.order_by, &row), row));
        }
    }
    Ok(keyed)
}

/// ORDER BY, OFFSET/LIMIT and the output expressions over the rows of a SELECT.
pub(crate) fn finish_rows(
    plan: &SelectPlan,
    mut rows: Vec<KeyedRow>,
    budget: &Budget,
) -> Result<Materialized, QueryError> {
    if !plan.order_by.is_empty() {
        match plan.limit {
            Some(l) => keep_best(
                &mut rows,
                l.saturating_add(plan.offset) as usize,
                &plan.order_by,
            ),
            None => sort_rows(&mut rows, &plan.order_by),
        }
    }
    budget.check_time()?;
    let offset = (plan.offset as usize).min(rows.len());
    let end = plan.limit.map_or(rows.len(), |l| {
        offset.saturating_add(l as usize).min(rows.len())
    });
    // Outputs that are the row's own values in order (a GROUP BY's keys and aggregates as
    // selected) keep the rows as they are.
    let identity = plan
        .outputs
        .iter()
        .enumerate()
        .all(|(i, o)| matches!(o.expr.kind, ExprKind::Column(c) if c == i))
        && rows[offset..end]
            .iter()
            .all(|(_, row)| row.len() == plan.outputs.len());
    let rows = if identity {
        rows.drain(offset..end).map(|(_, row)| row).collect()
    } else {
        rows[offset..end]
            .iter()
            .map(|(_, row)| {
                plan.outputs
                    .iter()
                    .map(|o| eval_row(&o.expr, row))
                    .collect()
            })
            .collect()
    };
    Ok(Materialized {
        columns: plan
            .outputs
            .iter()
            .map(|o| (o.name.clone(), o.expr.ty))
            .collect(),
        rows,
    })
}

/// Plans the table scan: the units holding the sites and time range the filter asks for.
fn plan_units(
    plan: &SelectPlan,
    table: ecomdash_storage::Table,
    source: &dyn BatchSource,
    stats: &mut QueryStats,
) -> Result<Vec<Box<dyn BatchUnit>>, QueryError> {
    let planned = source.plan_scan(&scan_spec(plan, table))?;
    stats.segments_scanned += planned.segments_scanned;
    stats.segments_pruned += planned.segments_pruned;
    Ok(planned.units)
}

/// The columns of two reads of the same rows as one batch.
fn join_batches(
    first: Arc<ColumnBatch>,
    second: Arc<ColumnBatch>,
) -> Result<ColumnBatch, QueryError> {
    if first.row_count != second.row_count {
        return Err(QueryError::Storage(format!(
            "a scan unit returned {} rows for some columns and {} for others",
            first.row_count, second.row_count
        )));
    }
    let mut batch = Arc::try_unwrap(first).unwrap_or_else(|shared| (*shared).clone());
    let second = Arc::try_unwrap(second).unwrap_or_else(|shared| (*shared).clone());
    batch.column_indexes.extend(second.column_indexes);
    batch.columns.extend(second.columns);
    Ok(batch)
}

/// The selection vector of the conjuncts for one batch (all rows when there are none). The
/// conjuncts are applied one after another, each narrowing the selection, instead of combining
/// full-batch masks: a conjunct that is true for the whole batch costs nothing, and once no row
/// is left the rest are not evaluated. A row is kept when every conjunct is true, which is
/// exactly when the `AND` of them is true.
pub(crate) fn select(
    eval: &mut Evaluator,
    conjuncts: &[&Expr],
    batch: &ColumnBatch,
) -> Result<Vec<u32>, QueryError> {
    narrow(eval, conjuncts, batch, None)
}

/// [`select`] starting from the rows of `start` (all rows when `None`).
pub(crate) fn narrow(
    eval: &mut Evaluator,
    conjuncts: &[&Expr],
    batch: &ColumnBatch,
    start: Option<Vec<u32>>,
) -> Result<Vec<u32>, QueryError> {
    let n = batch.row_count;
    let mut sel: Option<Vec<u32>> = start;
    if sel.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Vec::new());
    }
    for &conjunct in conjuncts {
        // A string predicate tests only the rows still selected, through its dictionary mask.
        if let Some(p) = eval.dict_predicate(conjunct, batch) {
            sel = Some(p.filter(sel.take()));
            if sel.as_ref().is_some_and(Vec::is_empty) {
                break;
            }
            continue;
        }
        let v = eval.eval(conjunct, batch)?;
        sel = match (sel.take(), &v) {
            (prev, Vector::Const(Scalar::Bool(true))) => prev,
            (Some(mut prev), Vector::Bool { values, validity }) => {
                match validity {
                    None => compact(&mut prev, |r| values[r]),
                    Some(valid) => compact(&mut prev, |r| values[r] & valid[r]),
                }
                Some(prev)
            }
            (None, v) => Some(selection_of(v, n)),
            // false, null or a non-boolean constant: no row is true
            (Some(_), _) => Some(Vec::new()),
        };
        if sel.as_ref().is_some_and(Vec::is_empty) {
            break;
        }
    }
    Ok(sel.unwrap_or_else(|| (0..n as u32).collect()))
}

/// Whether `selected` of `rows` rows is few enough to decode the other columns at those rows
/// only (a value read in place costs several times one decoded in a sequential pass).
pub(crate) fn is_sparse(selected: usize, rows: usize) -> bool {
    selected.saturating_mul(8) <= rows
}

fn row_bytes(row: &[Scalar]) -> usize {
    row.iter()
        .map(|s| match s {
            Scalar::Str(t) => 40 + t.len(),
            _ => 24,
        })
        .sum::<usize>()
        + 48
}

fn order_values(order: &[OrderKey], row: &[Scalar]) -> Vec<Scalar> {
    order.iter().map(|k| eval_row(&k.expr, row)).collect()
}

pub(crate) fn compare_keys(order: &[OrderKey], a: &[Scalar], b: &[Scalar]) -> Ordering {
    for (k, (x, y)) in order.iter().zip(a.iter().zip(b)) {
        let ord = match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => {
                if k.nulls_first {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (false, true) => {
                if k.nulls_first {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            (false, false) => {
                let o = x.total_cmp(y);
                if k.descending {
                    o.reverse()
                } else {
                    o
                }
            }
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// Keeps the best `k` rows, sorted: select them first, then sort only those.
fn keep_best(rows: &mut Vec<KeyedRow>, k: usize, order: &[OrderKey]) {
    if k < rows.len() {
        if k > 0 {
            rows.select_nth_unstable_by(k - 1, |a, b| compare_keys(order, &a.0, &b.0));
        }
        rows.truncate(k);
    }
    sort_rows(rows, order);
}

fn sort_rows(rows: &mut [KeyedRow], order: &[OrderKey]) {
    rows.sort_by(|a, b| compare_keys(order, &a.0, &b.0));
}

/// Runs `work` over every unit on up to `threads` threads, each with its own state from `make`
/// and its own evaluator. Each unit is planned from its statistics first ([`ScanScope`]): a
/// unit no row of which can pass is not read; otherwise the remaining filter's columns are
/// decoded, the selection computed, and the other columns decoded only when a row is selected
/// (late materialization). `work` gets the batch, the unit's plan and the selection, and
/// returns false to stop the scan early (LIMIT reached).
#[expect(clippy::too_many_arguments)]
fn scan<W, M, F>(
    units: &[Box<dyn BatchUnit>],
    scope: &ScanScope<'_>,
    budget: &Budget,
    threads: usize,
    stats: &mut QueryStats,
    counted: bool,
    make: M,
    work: F,
) -> Result<Vec<W>, QueryError>
where
    W: Send,
    M: Fn() -> W + Sync,
    F: Fn(&mut W, &mut Evaluator, &ColumnBatch, &UnitPlan<'_>, &[u32]) -> Result<bool, QueryError>
        + Sync,
{
    let rows_read = AtomicU64::new(0);
    let bytes_read = AtomicU64::new(0);
    let states = for_each_unit(
        units,
        budget,
        threads,
        || (make(), Evaluator::default()),
        |(state, eval), unit| {
            let Some(plan) = scope.plan_unit(unit) else {
                return Ok(true);
            };
            rows_read.fetch_add(unit.row_count() as u64, AtomicOrdering::Relaxed);
            let read = |columns: &[usize]| {
                bytes_read.fetch_add(unit.bytes_of(columns), AtomicOrdering::Relaxed);
                unit.read_columns(columns)
            };
            let (batch, sel) = if plan.conjuncts.is_empty() {
                let batch = read(&plan.rest_columns)?;
                let all = (0..batch.row_count as u32).collect();
                (batch, all)
            } else {
                let first = read(&plan.filter_columns)?;
                let sel = select(eval, &plan.conjuncts, &first)?;
                if sel.is_empty() {
                    return Ok(true);
                }
                let missing = plan.rest_columns.iter().any(|&c| first.column(c).is_none());
                if missing {
                    // A selective filter: the other columns only at the selected rows.
                    let second = if is_sparse(sel.len(), first.row_count) {
                        bytes_read
                            .fetch_add(unit.bytes_of(&plan.rest_columns), AtomicOrdering::Relaxed);
                        unit.read_columns_at(&plan.rest_columns, &sel)?
                    } else {
                        read(&plan.rest_columns)?
                    };
                    (Arc::new(join_batches(first, second)?), sel)
                } else {
                    (first, sel)
                }
            };
            work(state, eval, &batch, &plan, &sel)
        },
    )?;
    if counted {
        stats.rows_read += rows_read.load(AtomicOrdering::Relaxed);
        stats.bytes_read += bytes_read.load(AtomicOrdering::Relaxed);
    }
    Ok(states.into_iter().map(|(state, _)| state).collect())
}

/// Calls `per_unit` for every unit on up to `threads` threads, each with its own state from
/// `make`, handing out units one at a time; `per_unit` returns false to stop the scan early.
/// Stops at the first error, the query's time limit or another thread's memory-limit stop.
pub(crate) fn for_each_unit<W, M, F>(
    units: &[Box<dyn BatchUnit>],
    budget: &Budget,
    threads: usize,
    make: M,
    per_unit: F,
) -> Result<Vec<W>, QueryError>
where
    W: Send,
    M: Fn() -> W + Sync,
    F: Fn(&mut W, &dyn BatchUnit) -> Result<bool, QueryError> + Sync,
{
    let next = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let threads = threads.clamp(1, units.len().max(1));
    let run = || -> Result<W, QueryError> {
        let mut state = make();
        loop {
            if done.load(AtomicOrdering::Relaxed) || budget.stop.load(AtomicOrdering::Relaxed) {
                break;
            }
            let i = next.fetch_add(1, AtomicOrdering::Relaxed);
            let Some(unit) = units.get(i) else { break };
            budget.check_time()?;
            if !per_unit(&mut state, unit.as_ref())? {
                done.store(true, AtomicOrdering::Relaxed);
            }
        }
        Ok(state)
    };
    let results: Vec<Result<W, QueryError>> = if threads == 1 {
        vec![run()]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads).map(|_| s.spawn(run)).collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(QueryError::Storage("query worker thread panicked".into()))
                    })
                })
                .collect()
        })
    };
    if budget.stop.load(AtomicOrdering::Relaxed) {
        // Prefer the error that stopped the query over workers that merely noticed.
        for r in &results {
            if let Err(e) = r {
                return Err(e.clone());
            }
        }
    }
    results.into_iter().collect()
}
