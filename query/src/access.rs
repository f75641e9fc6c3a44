//! The read key's site restriction, enforced in the plan, and the scan hints (sites, time and
//! integer ranges) derived from the WHERE clause for partition and zone-map pruning.

use std::sync::Arc;

use crate::plan::{CmpOp, Expr, ExprKind, Input, SelectPlan, TimeFn};
use crate::source::ScanSpec;
use crate::types::{DataType, Scalar, MICROS_PER_DAY};

/// The plan that scans the base table: the query itself or its FROM subquery.
pub(crate) fn base_plan_mut(plan: &mut SelectPlan) -> &mut SelectPlan {
    match plan.input {
        Input::Table(_) => plan,
        Input::Subquery(ref mut inner) => inner,
    }
}

pub(crate) fn base_plan(plan: &SelectPlan) -> &SelectPlan {
    match &plan.input {
        Input::Table(_) => plan,
        Input::Subquery(inner) => inner,
    }
}

fn site_column(plan: &SelectPlan) -> Option<usize> {
    match plan.input {
        Input::Table(t) => Some(t.schema().site_column),
        Input::Subquery(_) => None,
    }
}

/// Site literals the WHERE clause compares the site column with, anywhere in the condition.
pub(crate) fn named_sites(plan: &SelectPlan) -> Vec<String> {
    let base = base_plan(plan);
    let (Some(site), Some(filter)) = (site_column(base), &base.filter) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    collect_sites(filter, site, &mut out);
    out
}

fn collect_sites(e: &Expr, site: usize, out: &mut Vec<String>) {
    let is_site = |x: &Expr| matches!(x.kind, ExprKind::Column(i) if i == site);
    match &e.kind {
        ExprKind::Compare(_, a, b) => {
            for (col, lit) in [(a, b), (b, a)] {
                if let (true, ExprKind::Literal(Scalar::Str(s))) = (is_site(col), &lit.kind) {
                    out.push(s.to_string());
                }
            }
        }
        ExprKind::InList { expr, list, .. } if is_site(expr) => {
            for v in list {
                if let Scalar::Str(s) = v {
                    out.push(s.to_string());
                }
            }
        }
        ExprKind::And(a, b) | ExprKind::Or(a, b) => {
            collect_sites(a, site, out);
            collect_sites(b, site, out);
        }
        ExprKind::Not(x) => collect_sites(x, site, out),
        _ => {}
    }
}

/// ANDs `site IN (allowed)` into the base plan's filter.
pub(crate) fn restrict_to_sites(plan: &mut SelectPlan, allowed: &[String]) {
    let base = base_plan_mut(plan);
    let Some(site) = site_column(base) else {
        return;
    };
    let restriction = Expr::new(
        ExprKind::InList {
            expr: Box::new(Expr::column(site, DataType::Str)),
            list: allowed
                .iter()
                .map(|s| Scalar::Str(Arc::from(s.as_str())))
                .collect(),
            negated: false,
        },
        DataType::Bool,
    );
    base.filter = Some(match base.filter.take() {
        None => restriction,
        Some(f) => Expr::new(
            ExprKind::And(Box::new(f), Box::new(restriction)),
            DataType::Bool,
        ),
    });
}

#[derive(Clone, Copy)]
struct Range {
    lo: i64,
    hi: i64,
}

impl Range {
    const ALL: Range = Range {
        lo: i64::MIN,
        hi: i64::MAX,
    };

    fn narrow(&mut self, op: CmpOp, v: i64) {
        match op {
            CmpOp::Eq => {
                self.lo = self.lo.max(v);
                self.hi = self.hi.min(v);
            }
            CmpOp::Gt => self.lo = self.lo.max(v.saturating_add(1)),
            CmpOp::GtEq => self.lo = self.lo.max(v),
            CmpOp::Lt => self.hi = self.hi.min(v.saturating_sub(1)),
            CmpOp::LtEq => self.hi = self.hi.min(v),
            CmpOp::NotEq => {}
        }
    }
}

/// `column op literal` with the column on the left, or None.
fn normalized(e: &Expr) -> Option<(CmpOp, &Expr, &Scalar)> {
    let ExprKind::Compare(op, a, b) = &e.kind else {
        return None;
    };
    match (&a.kind, &b.kind) {
        (_, ExprKind::Literal(v)) => Some((*op, a, v)),
        (ExprKind::Literal(v), _) => Some((op.flipped(), b, v)),
        _ => None,
    }
}

/// The scan request for a base-table plan: projection and pruning hints.
pub(crate) fn scan_spec(plan: &SelectPlan, table: ecomdash_storage::Table) -> ScanSpec {
    let schema = table.schema();
    let mut sites: Option<Vec<String>> = None;
    let mut time = Range::ALL;
    let mut ints: Vec<(usize, Range)> = Vec::new();
    let conjuncts = plan
        .filter
        .as_ref()
        .map(|f| f.conjuncts())
        .unwrap_or_default();
    for c in conjuncts {
        // Sites: `site = 'x'` and `site IN (...)`.
        let listed: Option<Vec<String>> = match &c.kind {
            ExprKind::InList {
                expr,
                list,
                negated: false,
            } if matches!(expr.kind, ExprKind::Column(i) if i == schema.site_column) => Some(
                list.iter()
                    .filter_map(|v| match v {
                        Scalar::Str(s) => Some(s.to_string()),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => match normalized(c) {
                Some((CmpOp::Eq, col, Scalar::Str(s))) if matches!(col.kind, ExprKind::Column(i) if i == schema.site_column) => {
                    Some(vec![s.to_string()])
                }
                _ => None,
            },
        };
        if let Some(listed) = listed {
            sites = Some(match sites {
                None => listed,
                Some(prev) => prev.into_iter().filter(|s| listed.contains(s)).collect(),
            });
            continue;
        }
        let Some((op, col, Scalar::Int(v))) = normalized(c) else {
            continue;
        };
        match &col.kind {
            ExprKind::Column(i) if *i == schema.time_column => time.narrow(op, *v),
            ExprKind::Time(TimeFn::ToDate, inner) if matches!(inner.kind, ExprKind::Column(i) if i == schema.time_column) =>
            {
                let day = v.saturating_mul(MICROS_PER_DAY);
                let next = v.saturating_add(1).saturating_mul(MICROS_PER_DAY);
                match op {
                    CmpOp::Eq => {
                        time.narrow(CmpOp::GtEq, day);
                        time.narrow(CmpOp::Lt, next);
                    }
                    CmpOp::GtEq => time.narrow(CmpOp::GtEq, day),
                    CmpOp::Gt => time.narrow(CmpOp::GtEq, next),
                    CmpOp::LtEq => time.narrow(CmpOp::Lt, next),
                    CmpOp::Lt => time.narrow(CmpOp::Lt, day),
                    CmpOp::NotEq => {}
                }
            }
            ExprKind::Column(i) if col.ty == DataType::Int => {
                match ints.iter_mut().find(|(j, _)| j == i) {
                    Some((_, r)) => r.narrow(op, *v),
                    None => {
                        let mut r = Range::ALL;
                        r.narrow(op, *v);
                        ints.push((*i, r));
                    }
                }
            }
            _ => {}
        }
    }
    let mut columns = plan.used_columns();
    if columns.is_empty() {
        // count(*) with no other column still needs row counts: read the cheapest column.
        columns.push(schema.site_column);
    }
    ScanSpec {
        table,
        columns,
        sites,
        time_range: (time.lo != i64::MIN || time.hi != i64::MAX).then_some((time.lo, time.hi)),
        int_ranges: ints.into_iter().map(|(i, r)| (i, r.lo, r.hi)).collect(),
    }
}
