//! The checked, typed plan that the compiler builds from SQL and the executor runs.
//!
//! Expressions come in two levels that share one type: row-level expressions (WHERE, GROUP BY
//! keys, aggregate arguments, the columns of a plain SELECT) index columns of the input relation;
//! output-level expressions (SELECT list, HAVING, ORDER BY) index *slots* of an intermediate row,
//! which is `group keys ++ aggregate results` for aggregate queries and the evaluated row
//! expressions for plain ones.

use ecomdash_storage::Table;

use crate::types::{DataType, Scalar};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

impl CmpOp {
    /// The operator with its operands swapped (`a < b` is `b > a`).
    pub(crate) fn flipped(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::LtEq => CmpOp::GtEq,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::GtEq => CmpOp::LtEq,
            other => other,
        }
    }

    pub(crate) fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            CmpOp::Eq => ordering == Equal,
            CmpOp::NotEq => ordering != Equal,
            CmpOp::Lt => ordering == Less,
            CmpOp::LtEq => ordering != Greater,
            CmpOp::Gt => ordering == Greater,
            CmpOp::GtEq => ordering != Less,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimeFn {
    /// Timestamp or datetime to days; dates pass through.
    ToDate,
    ToStartOfDay,
    ToStartOfHour,
    ToStartOfMinute,
    /// Days to microseconds at midnight, inserted when a date meets a timestamp.
    DateToMicros,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ExprKind {
    Column(usize),
    Literal(Scalar),
    Time(TimeFn, Box<Expr>),
    Arith(ArithOp, Box<Expr>, Box<Expr>),
    Neg(Box<Expr>),
    Compare(CmpOp, Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    /// `expr [NOT] IN (literals)`; literals are already converted to the type of `expr`.
    InList {
        expr: Box<Expr>,
        list: Vec<Scalar>,
        negated: bool,
    },
    Like {
        expr: Box<Expr>,
        pattern: String,
        negated: bool,
        case_insensitive: bool,
    },
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Expr {
    pub kind: ExprKind,
    pub ty: DataType,
}

impl Expr {
    pub(crate) fn new(kind: ExprKind, ty: DataType) -> Expr {
        Expr { kind, ty }
    }

    pub(crate) fn column(index: usize, ty: DataType) -> Expr {
        Expr::new(ExprKind::Column(index), ty)
    }

    pub(crate) fn literal(value: Scalar, ty: DataType) -> Expr {
        Expr::new(ExprKind::Literal(value), ty)
    }

    /// Calls `f` on every column index this expression reads.
    pub(crate) fn visit_columns(&self, f: &mut impl FnMut(usize)) {
        match &self.kind {
            ExprKind::Column(i) => f(*i),
            ExprKind::Literal(_) => {}
            ExprKind::Time(_, e)
            | ExprKind::Neg(e)
            | ExprKind::Not(e)
            | ExprKind::InList { expr: e, .. }
            | ExprKind::Like { expr: e, .. }
            | ExprKind::IsNull { expr: e, .. } => e.visit_columns(f),
            ExprKind::Arith(_, a, b)
            | ExprKind::Compare(_, a, b)
            | ExprKind::And(a, b)
            | ExprKind::Or(a, b) => {
                a.visit_columns(f);
                b.visit_columns(f);
            }
        }
    }

    /// The top-level AND-ed conjuncts.
    pub(crate) fn conjuncts(&self) -> Vec<&Expr> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            match &e.kind {
                ExprKind::And(a, b) => {
                    stack.push(b);
                    stack.push(a);
                }
                _ => out.push(e),
            }
        }
        out
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum AggFunc {
    /// `count(*)` / `count()`.
    CountRows,
    /// `count(x)`: non-null values.
    Count,
    /// `count(DISTINCT x)`, `uniqExact(x)`: exact.
    CountDistinct,
    /// `uniq(x)`: HyperLogLog, exact below a small threshold.
    Uniq,
    Sum,
    Avg,
    Min,
    Max,
    /// `quantile(level)(x)` with linear interpolation between the closest ranks.
    Quantile(f64),
    /// `windowFunnel(window)(ts, cond1, ..)`; the window is in the unit of `ts` (microseconds
    /// for timestamps).
    WindowFunnel {
        window: i64,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct AggCall {
    pub func: AggFunc,
    pub args: Vec<Expr>,
    pub ty: DataType,
    /// The condition of ClickHouse's `-If` combinator (`countIf(c)`, `sumIf(x, c)`): only rows
    /// where it is true are aggregated.
    pub condition: Option<Expr>,
}

#[derive(Clone, Debug)]
pub(crate) struct OutputColumn {
    pub name: String,
    pub expr: Expr,
}

#[derive(Clone, Debug)]
pub(crate) struct OrderKey {
    pub expr: Expr,
    pub descending: bool,
    pub nulls_first: bool,
}

#[derive(Clone, Debug)]
pub(crate) enum Input {
    Table(Table),
    Subquery(Box<SelectPlan>),
}

#[derive(Clone, Debug)]
pub(crate) enum Shape {
    Aggregate {
        keys: Vec<Expr>,
        aggs: Vec<AggCall>,
    },
    /// A plain SELECT: each slot is a row expression.
    Rows {
        slots: Vec<Expr>,
    },
}

#[derive(Clone, Debug)]
pub(crate) struct SelectPlan {
    pub input: Input,
    pub filter: Option<Expr>,
    pub shape: Shape,
    pub outputs: Vec<OutputColumn>,
    pub having: Option<Expr>,
    pub order_by: Vec<OrderKey>,
    pub limit: Option<u64>,
    pub offset: u64,
}

impl SelectPlan {
    /// Input columns read by the filter, keys, aggregates and slots, sorted.
    pub(crate) fn used_columns(&self) -> Vec<usize> {
        let mut used = Vec::new();
        let mut add = |i: usize| {
            if !used.contains(&i) {
                used.push(i);
            }
        };
        if let Some(f) = &self.filter {
            f.visit_columns(&mut add);
        }
        match &self.shape {
            Shape::Aggregate { keys, aggs } => {
                for k in keys {
                    k.visit_columns(&mut add);
                }
                for a in aggs {
                    for e in a.args.iter().chain(&a.condition) {
                        e.visit_columns(&mut add);
                    }
                }
            }
            Shape::Rows { slots } => {
                for s in slots {
                    s.visit_columns(&mut add);
                }
            }
        }
        used.sort_unstable();
        used
    }
}
