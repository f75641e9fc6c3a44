//! Several aggregate queries over the same table, sites and time range answered by one scan:
//! every unit is planned for each query from its statistics, the union of the columns they
//! still need is decoded once, and each query filters and aggregates the shared batch into its
//! own partial state. The dashboard summary asks three questions of a site's events and eight
//! of its sessions; fused, it decodes each column once instead of once per question.

use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use crate::access::scan_spec;
use crate::error::QueryError;
use crate::eval::Evaluator;
use crate::exec::{
    aggregate_batch, finish_groups, finish_rows, for_each_unit, narrow, select, Budget,
    Materialized,
};
use crate::groupby::PartialAgg;
use crate::plan::{Expr, Input, SelectPlan, Shape};
use crate::source::{BatchSource, ScanSpec};
use crate::unit_plan::{ScanScope, UnitPlan};
use crate::QueryStats;

/// What decides whether two plans can share a scan: the same table and pruning hints.
pub(crate) fn fusion_key(plan: &SelectPlan) -> Option<ScanSpec> {
    let (Input::Table(table), Shape::Aggregate { .. }) = (&plan.input, &plan.shape) else {
        return None;
    };
    let mut spec = scan_spec(plan, *table);
    spec.columns.clear();
    Some(spec)
}

/// Runs aggregate `plans` that share one [`fusion_key`] in one scan. Each result is what
/// `run_select` returns for the plan alone; the scan's statistics are added to `stats` once.
pub(crate) fn run_fused(
    plans: &[SelectPlan],
    source: &dyn BatchSource,
    budget: &Budget,
    threads: usize,
    stats: &mut QueryStats,
) -> Result<Vec<Materialized>, QueryError> {
    let mut spec: Option<ScanSpec> = None;
    let mut scopes = Vec::with_capacity(plans.len());
    for plan in plans {
        let (Input::Table(table), Shape::Aggregate { keys, aggs }) = (&plan.input, &plan.shape)
        else {
            return Err(QueryError::Storage(
                "only aggregate queries over a table share a scan".into(),
            ));
        };
        let own = scan_spec(plan, *table);
        match &mut spec {
            None => spec = Some(own),
            Some(shared) => shared.columns.extend(own.columns),
        }
        scopes.push(ScanScope {
            conjuncts: plan
                .filter
                .as_ref()
                .map(|f| f.conjuncts())
                .unwrap_or_default(),
            keys,
            others: aggs
                .iter()
                .flat_map(|a| a.args.iter().chain(&a.condition))
                .collect(),
            site_column: Some(table.schema().site_column),
        });
    }
    let Some(mut spec) = spec else {
        return Ok(Vec::new());
    };
    spec.columns.sort_unstable();
    spec.columns.dedup();
    let planned = source.plan_scan(&spec)?;
    stats.segments_scanned += planned.segments_scanned;
    stats.segments_pruned += planned.segments_pruned;
    let rows_read = AtomicU64::new(0);
    let bytes_read = AtomicU64::new(0);
    let new_partials = || -> Vec<PartialAgg> {
        plans
            .iter()
            .map(|p| match &p.shape {
                Shape::Aggregate { keys, aggs } => PartialAgg::new(keys.len(), aggs),
                Shape::Rows { .. } => PartialAgg::new(0, &[]),
            })
            .collect()
    };
    let workers = for_each_unit(
        &planned.units,
        budget,
        threads,
        || (new_partials(), Evaluator::default()),
        |(partials, eval), unit| {
            let unit_plans: Vec<Option<UnitPlan<'_>>> =
                scopes.iter().map(|s| s.plan_unit(unit)).collect();
            let mut columns = Vec::new();
            for p in unit_plans.iter().flatten() {
                columns.extend(&p.filter_columns);
                columns.extend(&p.rest_columns);
            }
            if unit_plans.iter().all(Option::is_none) {
                return Ok(true);
            }
            columns.sort_unstable();
            columns.dedup();
            rows_read.fetch_add(unit.row_count() as u64, AtomicOrdering::Relaxed);
            bytes_read.fetch_add(unit.bytes_of(&columns), AtomicOrdering::Relaxed);
            let batch = unit.read_columns(&columns)?;
            // Selections computed so far, by their conjuncts: a query whose remaining filter
            // starts with another's (the summary's lists all share the bot filter) narrows
            // that selection instead of evaluating the shared conjuncts again.
            let mut done: Vec<(&[&Expr], Vec<u32>)> = Vec::new();
            for (i, up) in unit_plans.iter().enumerate() {
                let (Some(up), Shape::Aggregate { keys, aggs }) = (up, &plans[i].shape) else {
                    continue;
                };
                let prefix = done
                    .iter()
                    .filter(|(c, _)| {
                        c.len() <= up.conjuncts.len()
                            && c.iter().zip(&up.conjuncts).all(|(a, b)| a == b)
                    })
                    .max_by_key(|(c, _)| c.len());
                let sel = match prefix {
                    Some((c, start)) => {
                        narrow(eval, &up.conjuncts[c.len()..], &batch, Some(start.clone()))?
                    }
                    None => select(eval, &up.conjuncts, &batch)?,
                };
                if !sel.is_empty() {
                    aggregate_batch(&mut partials[i], eval, keys, aggs, &batch, up, &sel, budget)?;
                }
                done.push((&up.conjuncts, sel));
            }
            Ok(true)
        },
    )?;
    stats.rows_read += rows_read.load(AtomicOrdering::Relaxed);
    stats.bytes_read += bytes_read.load(AtomicOrdering::Relaxed);
    // Per plan, the partial states of every thread.
    let mut per_plan: Vec<Vec<PartialAgg>> = plans.iter().map(|_| Vec::new()).collect();
    for (partials, _) in workers {
        for (slot, p) in per_plan.iter_mut().zip(partials) {
            slot.push(p);
        }
    }
    let mut out = Vec::with_capacity(plans.len());
    for (plan, partials) in plans.iter().zip(per_plan) {
        let Shape::Aggregate { keys, aggs } = &plan.shape else {
            continue;
        };
        let rows = finish_groups(plan, keys.len(), aggs, partials, budget)?;
        out.push(finish_rows(plan, rows, budget)?);
    }
    Ok(out)
}
