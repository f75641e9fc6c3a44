//! Row-at-a-time evaluation of output-level expressions (SELECT list, HAVING, ORDER BY) over
//! one intermediate row, with the same semantics as the vectorized kernels in `eval`.

use crate::like::LikePattern;
use crate::plan::{ArithOp, CmpOp, Expr, ExprKind, TimeFn};
use crate::types::{DataType, Scalar, MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_MINUTE};

fn is_float(s: &Scalar) -> bool {
    matches!(s, Scalar::Float(_))
}

fn as_i64(s: &Scalar) -> Option<i64> {
    match s {
        Scalar::Int(v) => Some(*v),
        Scalar::Bool(b) => Some(i64::from(*b)),
        Scalar::Float(f) => Some(*f as i64),
        _ => None,
    }
}

/// `a op b`; `None` when either side is null or the types do not compare.
pub(crate) fn compare_scalars(op: CmpOp, a: &Scalar, b: &Scalar) -> Option<bool> {
    match (a, b) {
        (Scalar::Null, _) | (_, Scalar::Null) => None,
        (Scalar::Str(x), Scalar::Str(y)) => Some(op.holds(x.as_bytes().cmp(y.as_bytes()))),
        (Scalar::Str(_), _) | (_, Scalar::Str(_)) => None,
        _ if is_float(a) || is_float(b) => {
            let (x, y) = (a.as_f64()?, b.as_f64()?);
            Some(match op {
                CmpOp::Eq => x == y,
                CmpOp::NotEq => x != y,
                CmpOp::Lt => x < y,
                CmpOp::LtEq => x <= y,
                CmpOp::Gt => x > y,
                CmpOp::GtEq => x >= y,
            })
        }
        _ => Some(op.holds(as_i64(a)?.cmp(&as_i64(b)?))),
    }
}

/// `value IN list`: null on a null value; null list items never match.
pub(crate) fn in_list(value: &Scalar, list: &[Scalar]) -> Option<bool> {
    if value.is_null() {
        return None;
    }
    Some(
        list.iter()
            .any(|item| compare_scalars(CmpOp::Eq, value, item) == Some(true)),
    )
}

pub(crate) fn apply_time_fn(f: TimeFn, v: i64) -> i64 {
    match f {
        TimeFn::ToDate => v.div_euclid(MICROS_PER_DAY),
        TimeFn::ToStartOfDay => v - v.rem_euclid(MICROS_PER_DAY),
        TimeFn::ToStartOfHour => v - v.rem_euclid(MICROS_PER_HOUR),
        TimeFn::ToStartOfMinute => v - v.rem_euclid(MICROS_PER_MINUTE),
        TimeFn::DateToMicros => v.saturating_mul(MICROS_PER_DAY),
    }
}

fn truth(s: &Scalar) -> Option<bool> {
    match s {
        Scalar::Bool(b) => Some(*b),
        Scalar::Int(v) => Some(*v != 0),
        _ => None,
    }
}

fn from_truth(b: Option<bool>) -> Scalar {
    b.map_or(Scalar::Null, Scalar::Bool)
}

pub(crate) fn eval_row(expr: &Expr, row: &[Scalar]) -> Scalar {
    match &expr.kind {
        ExprKind::Column(i) => row.get(*i).cloned().unwrap_or(Scalar::Null),
        ExprKind::Literal(v) => v.clone(),
        ExprKind::Time(f, x) => match eval_row(x, row) {
            Scalar::Int(v) => Scalar::Int(apply_time_fn(*f, v)),
            _ => Scalar::Null,
        },
        ExprKind::Neg(x) => match eval_row(x, row) {
            Scalar::Float(f) => Scalar::Float(-f),
            Scalar::Null => Scalar::Null,
            other => as_i64(&other).map_or(Scalar::Null, |v| Scalar::Int(v.wrapping_neg())),
        },
        ExprKind::Arith(op, a, b) => {
            let (x, y) = (eval_row(a, row), eval_row(b, row));
            if x.is_null() || y.is_null() {
                return Scalar::Null;
            }
            if expr.ty == DataType::Float {
                let (p, q) = match (x.as_f64(), y.as_f64()) {
                    (Some(p), Some(q)) => (p, q),
                    _ => return Scalar::Null,
                };
                Scalar::Float(match op {
                    ArithOp::Add => p + q,
                    ArithOp::Sub => p - q,
                    ArithOp::Mul => p * q,
                    ArithOp::Div => p / q,
                    ArithOp::Mod => p % q,
                })
            } else {
                let (p, q) = match (as_i64(&x), as_i64(&y)) {
                    (Some(p), Some(q)) => (p, q),
                    _ => return Scalar::Null,
                };
                match op {
                    ArithOp::Add => Scalar::Int(p.wrapping_add(q)),
                    ArithOp::Sub => Scalar::Int(p.wrapping_sub(q)),
                    ArithOp::Mul => Scalar::Int(p.wrapping_mul(q)),
                    ArithOp::Div | ArithOp::Mod if q == 0 => Scalar::Null,
                    ArithOp::Div => Scalar::Int(p.wrapping_div(q)),
                    ArithOp::Mod => Scalar::Int(p.wrapping_rem(q)),
                }
            }
        }
        ExprKind::Compare(op, a, b) => {
            from_truth(compare_scalars(*op, &eval_row(a, row), &eval_row(b, row)))
        }
        ExprKind::And(a, b) => {
            let (x, y) = (truth(&eval_row(a, row)), truth(&eval_row(b, row)));
            from_truth(match (x, y) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            })
        }
        ExprKind::Or(a, b) => {
            let (x, y) = (truth(&eval_row(a, row)), truth(&eval_row(b, row)));
            from_truth(match (x, y) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            })
        }
        ExprKind::Not(x) => from_truth(truth(&eval_row(x, row)).map(|b| !b)),
        ExprKind::InList {
            expr: x,
            list,
            negated,
        } => from_truth(in_list(&eval_row(x, row), list).map(|hit| hit != *negated)),
        ExprKind::Like {
            expr: x,
            pattern,
            negated,
            case_insensitive,
        } => match eval_row(x, row) {
            Scalar::Str(s) => {
                Scalar::Bool(LikePattern::new(pattern, *case_insensitive).matches(&s) != *negated)
            }
            _ => Scalar::Null,
        },
        ExprKind::IsNull { expr: x, negated } => {
            Scalar::Bool(eval_row(x, row).is_null() != *negated)
        }
    }
}

/// Whether a condition value keeps the row (true; null and false drop it).
pub(crate) fn is_true(s: &Scalar) -> bool {
    truth(s) == Some(true)
}
