//! Literals and the type rules of comparisons: which types compare, and how a literal is read
//! as the type it is compared with (strings as dates and times).

use std::sync::Arc;

use sqlparser::ast;
use sqlparser::tokenizer::Span;

use crate::error::QueryError;
use crate::plan::{CmpOp, Expr, ExprKind, TimeFn};
use crate::types::{parse_date_literal, parse_time_literal, DataType, Scalar};

pub(crate) fn literal(v: &ast::Value, span: Span) -> Result<Expr, QueryError> {
    Ok(match v {
        ast::Value::Number(n, _) => match n.parse::<i64>() {
            Ok(i) => Expr::literal(Scalar::Int(i), DataType::Int),
            Err(_) => match n.parse::<f64>() {
                Ok(f) => Expr::literal(Scalar::Float(f), DataType::Float),
                Err(_) => return Err(QueryError::invalid(format!("bad number {n}"), span)),
            },
        },
        ast::Value::SingleQuotedString(s) => {
            Expr::literal(Scalar::Str(Arc::from(s.as_str())), DataType::Str)
        }
        ast::Value::Boolean(b) => Expr::literal(Scalar::Bool(*b), DataType::Bool),
        ast::Value::Null => Expr::literal(Scalar::Null, DataType::Int),
        other => return Err(QueryError::unsupported(format!("literal {other}"), span)),
    })
}

pub(crate) fn require_bool(x: &Expr, what: &str, span: Span) -> Result<(), QueryError> {
    if x.ty == DataType::Bool || matches!(x.kind, ExprKind::Literal(Scalar::Null)) {
        Ok(())
    } else {
        Err(QueryError::mismatch(
            format!("{what} needs boolean operands, got {}", x.ty),
            span,
        ))
    }
}

fn is_literal(x: &Expr) -> bool {
    matches!(x.kind, ExprKind::Literal(_))
}

/// A comparison with its operands brought to comparable types.
pub(crate) fn compare(op: CmpOp, l: Expr, r: Expr, span: Span) -> Result<Expr, QueryError> {
    let (l, r) = match (is_literal(&l), is_literal(&r)) {
        (false, true) => {
            let r = coerce_literal(r, l.ty, span)?;
            (l, r)
        }
        (true, false) => {
            let l = coerce_literal(l, r.ty, span)?;
            (l, r)
        }
        _ => {
            let (lt, rt) = (l.ty, r.ty);
            let ok = (lt == DataType::Str) == (rt == DataType::Str)
                && !(lt.is_time() && rt == DataType::Float)
                && !(rt.is_time() && lt == DataType::Float);
            if !ok && !is_literal(&l) {
                return Err(QueryError::mismatch(
                    format!("cannot compare {lt} with {rt}"),
                    span,
                ));
            }
            if !ok {
                let null = matches!(l.kind, ExprKind::Literal(Scalar::Null))
                    || matches!(r.kind, ExprKind::Literal(Scalar::Null));
                if !null {
                    return Err(QueryError::mismatch(
                        format!("cannot compare {lt} with {rt}"),
                        span,
                    ));
                }
            }
            let widen = |x: Expr, other: DataType| {
                if x.ty == DataType::Date
                    && matches!(other, DataType::Timestamp | DataType::DateTime)
                {
                    Expr::new(
                        ExprKind::Time(TimeFn::DateToMicros, Box::new(x)),
                        DataType::DateTime,
                    )
                } else {
                    x
                }
            };
            (widen(l, rt), widen(r, lt))
        }
    };
    Ok(Expr::new(
        ExprKind::Compare(op, Box::new(l), Box::new(r)),
        DataType::Bool,
    ))
}

/// Brings a literal to the type of what it is compared with: strings become times where a time
/// is expected; numbers stay numbers (mixed int/float comparisons compare values).
pub(crate) fn coerce_literal(lit: Expr, target: DataType, span: Span) -> Result<Expr, QueryError> {
    let ExprKind::Literal(value) = &lit.kind else {
        return Ok(lit);
    };
    let mismatch = || {
        QueryError::mismatch(
            format!("cannot compare {target} with {} literal", lit.ty),
            span,
        )
    };
    match (value, target) {
        (Scalar::Null, _) => Ok(Expr::literal(Scalar::Null, target)),
        (Scalar::Str(_), DataType::Str) => Ok(lit),
        (_, DataType::Str) => Err(mismatch()),
        (Scalar::Str(s), DataType::Timestamp | DataType::DateTime) => parse_time_literal(s)
            .map(|v| Expr::literal(Scalar::Int(v), target))
            .ok_or_else(|| QueryError::invalid(format!("cannot read '{s}' as a timestamp"), span)),
        (Scalar::Str(s), DataType::Date) => parse_date_literal(s)
            .map(|v| Expr::literal(Scalar::Int(v), target))
            .ok_or_else(|| {
                QueryError::invalid(format!("cannot read '{s}' as a date (YYYY-MM-DD)"), span)
            }),
        (Scalar::Str(_), _) => Err(mismatch()),
        (Scalar::Int(v), t) if t.is_time() => Ok(Expr::literal(Scalar::Int(*v), t)),
        (_, t) if t.is_time() => Err(mismatch()),
        _ => Ok(lit),
    }
}
