//! Per-unit planning: before a unit (segment chunk, memtable batch) is decoded, its statistics
//! — exact min/max and null count per column from the segment footer, and the site of its
//! partition — decide what they can about the query for *every* row of the unit:
//!
//! - a filter conjunct that is true for every row is dropped (the 30-day range on a chunk of
//!   one day, the read key's site restriction on a partition of that site), and a column only
//!   such conjuncts read is not decoded at all;
//! - a conjunct that is true for no row skips the unit without reading it;
//! - a group key whose value is the same for every row (`toDate(ts)` on a chunk of one day)
//!   becomes a constant, and its column is not decoded for it.
//!
//! Decisions are conservative: anything the statistics do not settle is left to the row-level
//! evaluation, so results never depend on whether a source keeps statistics.

use std::sync::Arc;

use ecomdash_storage::StrDict;

use crate::plan::{CmpOp, Expr, ExprKind, TimeFn};
use crate::source::BatchUnit;
use crate::types::{DataType, Scalar, MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_MINUTE};

/// The parts of a query a unit plan looks at, shared by all units of one scan.
pub(crate) struct ScanScope<'p> {
    /// The filter's top-level conjuncts (empty: no filter).
    pub conjuncts: Vec<&'p Expr>,
    /// GROUP BY keys (empty for plain SELECTs).
    pub keys: &'p [Expr],
    /// Every other row-level expression evaluated per batch: aggregate arguments and `-If`
    /// conditions, or the slots of a plain SELECT.
    pub others: Vec<&'p Expr>,
    /// The schema index of the site column when scanning a base table.
    pub site_column: Option<usize>,
}

/// What one unit needs.
pub(crate) struct UnitPlan<'p> {
    /// Conjuncts the statistics did not decide; a row is selected when all are true.
    pub conjuncts: Vec<&'p Expr>,
    /// Per group key, its value for every row of the unit when the statistics fix it.
    pub const_keys: Vec<Option<Scalar>>,
    /// Columns the remaining conjuncts read, decoded first.
    pub filter_columns: Vec<usize>,
    /// The other columns the query reads, decoded only when a row passes the filter.
    pub rest_columns: Vec<usize>,
}

impl<'p> ScanScope<'p> {
    /// The unit's plan, or `None` when no row of it can pass the filter (or it has no rows).
    pub(crate) fn plan_unit(&self, unit: &dyn BatchUnit) -> Option<UnitPlan<'p>> {
        let rows = unit.row_count();
        if rows == 0 {
            return None;
        }
        let facts = Facts {
            unit,
            rows: rows as u64,
            site_column: self.site_column,
        };
        let mut conjuncts = Vec::with_capacity(self.conjuncts.len());
        for &c in &self.conjuncts {
            match facts.decide(c) {
                Some(true) => {}
                Some(false) => return None,
                None => conjuncts.push(c),
            }
        }
        let const_keys: Vec<Option<Scalar>> = self.keys.iter().map(|k| facts.constant(k)).collect();
        let mut filter_columns = Vec::new();
        for c in &conjuncts {
            c.visit_columns(&mut |i| filter_columns.push(i));
        }
        filter_columns.sort_unstable();
        filter_columns.dedup();
        let mut rest_columns = Vec::new();
        let mut add = |i: usize| {
            if filter_columns.binary_search(&i).is_err() {
                rest_columns.push(i);
            }
        };
        for (k, constant) in self.keys.iter().zip(&const_keys) {
            if constant.is_none() {
                k.visit_columns(&mut add);
            }
        }
        for e in &self.others {
            e.visit_columns(&mut add);
        }
        rest_columns.sort_unstable();
        rest_columns.dedup();
        Some(UnitPlan {
            conjuncts,
            const_keys,
            filter_columns,
            rest_columns,
        })
    }
}

/// The values an integer-like expression takes over a unit's rows.
#[derive(Clone, Copy)]
struct Span {
    /// Min and max of the non-null values; `None` when every row is null.
    range: Option<(i64, i64)>,
    has_null: bool,
}

struct Facts<'u> {
    unit: &'u dyn BatchUnit,
    rows: u64,
    site_column: Option<usize>,
}

impl Facts<'_> {
    /// `Some(true)`: the predicate is true for every row; `Some(false)`: it is true for no row
    /// (false or null); `None`: the statistics do not tell.
    fn decide(&self, e: &Expr) -> Option<bool> {
        match &e.kind {
            ExprKind::Literal(Scalar::Bool(b)) => Some(*b),
            ExprKind::Literal(Scalar::Null) => Some(false),
            ExprKind::And(a, b) => match (self.decide(a), self.decide(b)) {
                (Some(true), Some(true)) => Some(true),
                (Some(false), _) | (_, Some(false)) => Some(false),
                _ => None,
            },
            ExprKind::Or(a, b) => match (self.decide(a), self.decide(b)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            ExprKind::IsNull { expr, negated } => {
                let (none_null, all_null) = self.nullness(expr)?;
                if all_null {
                    Some(!negated)
                } else if none_null {
                    Some(*negated)
                } else {
                    None
                }
            }
            ExprKind::Compare(op, a, b) => self
                .compare_site(*op, a, b)
                .or_else(|| self.compare_ints(*op, a, b))
                .or_else(|| self.compare_codes(*op, a, b)),
            ExprKind::InList {
                expr,
                list,
                negated,
            } => {
                if list.iter().any(Scalar::is_null) {
                    return None;
                }
                if let Some(site) = self.site_of(expr) {
                    let hit = list
                        .iter()
                        .any(|v| matches!(v, Scalar::Str(s) if s.as_ref() == site));
                    return Some(hit != *negated);
                }
                // No listed string occurs in the unit: the same as `<> each`.
                let mut possible = false;
                for v in list {
                    let Scalar::Str(s) = v else { return None };
                    possible |= self.string_in_unit(expr, s)?;
                }
                match (possible, negated) {
                    (true, _) => None,
                    (false, false) => Some(false),
                    (false, true) => {
                        let (none_null, _) = self.nullness(expr)?;
                        none_null.then_some(true)
                    }
                }
            }
            _ => None,
        }
    }

    /// The unit's site when `e` is the site column and the unit knows it. A partition named
    /// `""` stands for rows without a site, whose column is null: never decided.
    fn site_of(&self, e: &Expr) -> Option<&str> {
        let site_column = self.site_column?;
        if !matches!(e.kind, ExprKind::Column(i) if i == site_column) {
            return None;
        }
        self.unit.site().filter(|s| !s.is_empty())
    }

    fn compare_site(&self, op: CmpOp, a: &Expr, b: &Expr) -> Option<bool> {
        let (site, literal) = match (&a.kind, &b.kind) {
            (_, ExprKind::Literal(Scalar::Str(s))) => (self.site_of(a)?, s),
            (ExprKind::Literal(Scalar::Str(s)), _) => (self.site_of(b)?, s),
            _ => return None,
        };
        match op {
            CmpOp::Eq => Some(site == literal.as_ref()),
            CmpOp::NotEq => Some(site != literal.as_ref()),
            _ => None,
        }
    }

    fn compare_ints(&self, op: CmpOp, a: &Expr, b: &Expr) -> Option<bool> {
        let (x, y) = (self.span(a)?, self.span(b)?);
        let ((alo, ahi), (blo, bhi)) = match (x.range, y.range) {
            (Some(p), Some(q)) => (p, q),
            // a null side makes every comparison null
            _ => return Some(false),
        };
        let (always, never) = match op {
            CmpOp::Eq => (
                alo == ahi && blo == bhi && alo == blo,
                ahi < blo || bhi < alo,
            ),
            CmpOp::NotEq => (
                ahi < blo || bhi < alo,
                alo == ahi && blo == bhi && alo == blo,
            ),
            CmpOp::Lt => (ahi < blo, alo >= bhi),
            CmpOp::LtEq => (ahi <= blo, alo > bhi),
            CmpOp::Gt => (alo > bhi, ahi <= blo),
            CmpOp::GtEq => (alo >= bhi, ahi < blo),
        };
        if never {
            Some(false)
        } else if always && !x.has_null && !y.has_null {
            Some(true)
        } else {
            None
        }
    }

    /// `string column = / <> literal` from the unit's sorted dictionary and code range: a
    /// literal the unit's rows cannot hold decides both; a unit whose rows all hold it, too.
    fn compare_codes(&self, op: CmpOp, a: &Expr, b: &Expr) -> Option<bool> {
        let (column, literal) = match (&a.kind, &b.kind) {
            (_, ExprKind::Literal(Scalar::Str(s))) => (a, s),
            (ExprKind::Literal(Scalar::Str(s)), _) => (b, s),
            _ => return None,
        };
        if !matches!(op, CmpOp::Eq | CmpOp::NotEq) {
            return None;
        }
        let (none_null, all_null) = self.nullness(column)?;
        if all_null {
            return Some(false);
        }
        let ExprKind::Column(i) = column.kind else {
            return None;
        };
        let stats = self.unit.column_stats(i)?;
        let (lo, hi) = stats.code_range?;
        let dict = self.unit.sorted_dict(i)?;
        let code = find_code(&dict, literal)?;
        // every non-null row holds the literal / no row does
        let all_equal = code == Some(lo) && lo == hi;
        let nowhere = code.is_none_or(|c| c < lo || c > hi);
        let eq = op == CmpOp::Eq;
        if (eq && nowhere) || (!eq && all_equal) {
            Some(false)
        } else if none_null && ((eq && all_equal) || (!eq && nowhere)) {
            Some(true)
        } else {
            None
        }
    }

    /// Whether string column `e` may hold `literal` in this unit; `None` when unknown.
    fn string_in_unit(&self, e: &Expr, literal: &str) -> Option<bool> {
        let ExprKind::Column(i) = e.kind else {
            return None;
        };
        let stats = self.unit.column_stats(i)?;
        let Some((lo, hi)) = stats.code_range else {
            // every value null
            return (stats.null_count == self.rows).then_some(false);
        };
        let dict = self.unit.sorted_dict(i)?;
        Some(find_code(&dict, literal)?.is_some_and(|c| c >= lo && c <= hi))
    }

    /// (no row null, every row null) for a column, a time function of one, or a literal.
    fn nullness(&self, e: &Expr) -> Option<(bool, bool)> {
        match &e.kind {
            ExprKind::Column(i) => {
                let stats = self.unit.column_stats(*i)?;
                Some((stats.null_count == 0, stats.null_count == self.rows))
            }
            ExprKind::Time(_, x) => self.nullness(x),
            ExprKind::Literal(v) => Some((!v.is_null(), v.is_null())),
            _ => None,
        }
    }

    /// The values of an integer-like column, a time function of one, or a literal.
    fn span(&self, e: &Expr) -> Option<Span> {
        if !matches!(
            e.ty,
            DataType::Int
                | DataType::Bool
                | DataType::Timestamp
                | DataType::DateTime
                | DataType::Date
        ) {
            return None;
        }
        match &e.kind {
            ExprKind::Column(i) => {
                let stats = self.unit.column_stats(*i)?;
                if stats.null_count >= self.rows {
                    return Some(Span {
                        range: None,
                        has_null: true,
                    });
                }
                Some(Span {
                    range: Some(stats.int_range?),
                    has_null: stats.null_count > 0,
                })
            }
            ExprKind::Literal(v) => {
                let value = match v {
                    Scalar::Int(v) => Some(*v),
                    Scalar::Bool(b) => Some(i64::from(*b)),
                    Scalar::Null => None,
                    _ => return None,
                };
                Some(Span {
                    range: value.map(|v| (v, v)),
                    has_null: value.is_none(),
                })
            }
            ExprKind::Time(f, x) => {
                let inner = self.span(x)?;
                Some(Span {
                    range: inner
                        .range
                        .map(|(lo, hi)| (time_value(*f, lo), time_value(*f, hi))),
                    has_null: inner.has_null,
                })
            }
            _ => None,
        }
    }

    /// The value of a group key when it is the same for every row of the unit.
    fn constant(&self, e: &Expr) -> Option<Scalar> {
        if let Some(site) = self.site_of(e) {
            return Some(Scalar::Str(Arc::from(site)));
        }
        if matches!(e.kind, ExprKind::Literal(_)) {
            return None;
        }
        if let Some((_, true)) = self.nullness(e) {
            return Some(Scalar::Null);
        }
        let span = self.span(e)?;
        match span.range {
            None => Some(Scalar::Null),
            Some((lo, hi)) if lo == hi && !span.has_null => Some(match e.ty {
                DataType::Bool => Scalar::Bool(lo != 0),
                _ => Scalar::Int(lo),
            }),
            Some(_) => None,
        }
    }
}

/// The code of `literal` in a sorted, unique dictionary (`Some(None)`: absent); `None` when
/// the dictionary's codes do not fit `u32`.
fn find_code(dict: &StrDict, literal: &str) -> Option<Option<u32>> {
    let len = u32::try_from(dict.len()).ok()?;
    let (mut lo, mut hi) = (0u32, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match dict.get(mid).as_bytes().cmp(literal.as_bytes()) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Some(Some(mid)),
        }
    }
    Some(None)
}

/// The time functions as the evaluator computes them; each is monotone (non-decreasing), so
/// the images of a range's ends bound the images of its values.
pub(crate) fn time_value(f: TimeFn, v: i64) -> i64 {
    match f {
        TimeFn::ToDate => v.div_euclid(MICROS_PER_DAY),
        TimeFn::ToStartOfDay => v - v.rem_euclid(MICROS_PER_DAY),
        TimeFn::ToStartOfHour => v - v.rem_euclid(MICROS_PER_HOUR),
        TimeFn::ToStartOfMinute => v - v.rem_euclid(MICROS_PER_MINUTE),
        TimeFn::DateToMicros => v.saturating_mul(MICROS_PER_DAY),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ecomdash_storage::ColumnBatch;

    use super::*;
    use crate::error::QueryError;
    use crate::source::ColumnStats;

    /// A unit with given statistics for column 0 (an int) and a site.
    struct Fake {
        rows: usize,
        stats: ColumnStats,
        site: Option<&'static str>,
    }

    impl BatchUnit for Fake {
        fn read_columns(&self, _: &[usize]) -> Result<Arc<ColumnBatch>, QueryError> {
            Err(QueryError::Storage("not readable".into()))
        }
        fn row_count(&self) -> usize {
            self.rows
        }
        fn bytes_of(&self, _: &[usize]) -> u64 {
            0
        }
        fn column_stats(&self, column: usize) -> Option<ColumnStats> {
            (column == 0).then_some(self.stats)
        }
        fn site(&self) -> Option<&str> {
            self.site
        }
    }

    fn col(i: usize, ty: DataType) -> Expr {
        Expr::column(i, ty)
    }

    fn int(v: i64) -> Expr {
        Expr::literal(Scalar::Int(v), DataType::Int)
    }

    fn cmp(op: CmpOp, a: Expr, b: Expr) -> Expr {
        Expr::new(
            ExprKind::Compare(op, Box::new(a), Box::new(b)),
            DataType::Bool,
        )
    }

    fn facts(unit: &Fake) -> Facts<'_> {
        Facts {
            unit,
            rows: unit.rows as u64,
            site_column: Some(1),
        }
    }

    fn unit(lo: i64, hi: i64, nulls: u64) -> Fake {
        Fake {
            rows: 10,
            stats: ColumnStats {
                int_range: Some((lo, hi)),
                code_range: None,
                null_count: nulls,
            },
            site: Some("a.com"),
        }
    }

    #[test]
    fn ranges_decide_comparisons_only_when_every_row_agrees() {
        let u = unit(10, 20, 0);
        let f = facts(&u);
        let ts = || col(0, DataType::Timestamp);
        assert_eq!(f.decide(&cmp(CmpOp::GtEq, ts(), int(10))), Some(true));
        assert_eq!(f.decide(&cmp(CmpOp::Gt, ts(), int(10))), None);
        assert_eq!(f.decide(&cmp(CmpOp::Gt, ts(), int(20))), Some(false));
        assert_eq!(f.decide(&cmp(CmpOp::Lt, int(9), ts())), Some(true));
        assert_eq!(f.decide(&cmp(CmpOp::Eq, ts(), int(21))), Some(false));
        assert_eq!(f.decide(&cmp(CmpOp::NotEq, ts(), int(21))), Some(true));
        assert_eq!(f.decide(&cmp(CmpOp::NotEq, ts(), int(15))), None);
        // a null row makes "true for every row" false, "true for no row" still holds
        let u = unit(10, 20, 1);
        let f = facts(&u);
        assert_eq!(f.decide(&cmp(CmpOp::GtEq, ts(), int(10))), None);
        assert_eq!(f.decide(&cmp(CmpOp::Gt, ts(), int(20))), Some(false));
        let is_null = |negated| {
            Expr::new(
                ExprKind::IsNull {
                    expr: Box::new(ts()),
                    negated,
                },
                DataType::Bool,
            )
        };
        assert_eq!(f.decide(&is_null(false)), None);
        let u = unit(10, 20, 0);
        assert_eq!(facts(&u).decide(&is_null(true)), Some(true));
        assert_eq!(facts(&u).decide(&is_null(false)), Some(false));
    }

    #[test]
    fn one_day_fixes_to_date_and_the_site_fixes_site_predicates() {
        let day = 20_000 * MICROS_PER_DAY;
        let u = unit(day + 5, day + MICROS_PER_DAY - 1, 0);
        let f = facts(&u);
        let to_date = Expr::new(
            ExprKind::Time(TimeFn::ToDate, Box::new(col(0, DataType::Timestamp))),
            DataType::Date,
        );
        assert_eq!(f.constant(&to_date), Some(Scalar::Int(20_000)));
        let hour = Expr::new(
            ExprKind::Time(TimeFn::ToStartOfHour, Box::new(col(0, DataType::Timestamp))),
            DataType::DateTime,
        );
        assert_eq!(f.constant(&hour), None);
        let site = || col(1, DataType::Str);
        let lit = |s: &str| Expr::literal(Scalar::Str(Arc::from(s)), DataType::Str);
        assert_eq!(f.decide(&cmp(CmpOp::Eq, site(), lit("a.com"))), Some(true));
        assert_eq!(f.decide(&cmp(CmpOp::Eq, site(), lit("b.com"))), Some(false));
        assert_eq!(f.decide(&cmp(CmpOp::Lt, site(), lit("b.com"))), None);
        let in_list = |list: Vec<Scalar>| {
            Expr::new(
                ExprKind::InList {
                    expr: Box::new(site()),
                    list,
                    negated: false,
                },
                DataType::Bool,
            )
        };
        assert_eq!(
            f.decide(&in_list(vec![Scalar::Str(Arc::from("a.com"))])),
            Some(true)
        );
        assert_eq!(
            f.decide(&in_list(vec![
                Scalar::Str(Arc::from("b.com")),
                Scalar::Null
            ])),
            None
        );
        let mut nameless = unit(1, 2, 0);
        nameless.site = Some("");
        assert_eq!(
            facts(&nameless).decide(&cmp(CmpOp::Eq, site(), lit(""))),
            None
        );
    }
}
