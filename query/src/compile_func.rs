//! Function calls: the time functions and the aggregates, with their argument and parameter
//! checks.

use sqlparser::ast::{self, FunctionArg, FunctionArgExpr, Spanned};
use sqlparser::tokenizer::Span;

use crate::compile_types::require_bool;
use crate::error::QueryError;
use crate::plan::{AggCall, AggFunc, Expr, ExprKind, TimeFn};
use crate::types::{parse_time_literal, DataType, Scalar, MICROS_PER_SECOND};

/// Most conditions one `windowFunnel` may take (ClickHouse allows 32).
pub(crate) const MAX_FUNNEL_STEPS: usize = 32;

pub(crate) enum Arg<'e> {
    Star,
    Expr(&'e ast::Expr),
}

pub(crate) fn plain_args<'e>(
    args: &'e [FunctionArg],
    span: Span,
) -> Result<Vec<Arg<'e>>, QueryError> {
    args.iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(Arg::Expr(e)),
            FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => Ok(Arg::Star),
            _ => Err(QueryError::unsupported(
                "named or qualified-wildcard function arguments",
                span,
            )),
        })
        .collect()
}

pub(crate) fn has_parameters(name: &str) -> bool {
    matches!(name, "quantile" | "windowfunnel")
}

pub(crate) fn time_function(name: &str, x: Expr, span: Span) -> Result<Expr, QueryError> {
    let x = match (&x.kind, x.ty) {
        (ExprKind::Literal(Scalar::Str(s)), _) => {
            let micros = parse_time_literal(s).ok_or_else(|| {
                QueryError::invalid(format!("cannot read '{s}' as a date or time"), span)
            })?;
            Expr::literal(Scalar::Int(micros), DataType::Timestamp)
        }
        (_, DataType::Timestamp | DataType::DateTime) => x,
        (_, DataType::Date) if name == "todate" => return Ok(x),
        (_, DataType::Date) => Expr::new(
            ExprKind::Time(TimeFn::DateToMicros, Box::new(x)),
            DataType::DateTime,
        ),
        (_, ty) => {
            return Err(QueryError::mismatch(
                format!("`{name}` needs a timestamp or date, got {ty}"),
                span,
            ))
        }
    };
    let (func, ty) = match name {
        "todate" => (TimeFn::ToDate, DataType::Date),
        "tostartofday" => (TimeFn::ToStartOfDay, DataType::DateTime),
        "tostartofhour" => (TimeFn::ToStartOfHour, DataType::DateTime),
        _ => (TimeFn::ToStartOfMinute, DataType::DateTime),
    };
    Ok(Expr::new(ExprKind::Time(func, Box::new(x)), ty))
}

pub(crate) fn aggregate_call(
    name: &str,
    distinct: bool,
    star: bool,
    mut args: Vec<(Expr, Span)>,
    params: Option<&[Arg<'_>]>,
    span: Span,
) -> Result<AggCall, QueryError> {
    let one_arg = |args: &mut Vec<(Expr, Span)>| -> Result<(Expr, Span), QueryError> {
        if star || args.len() != 1 {
            return Err(QueryError::invalid(
                format!("`{name}` takes exactly one argument"),
                span,
            ));
        }
        args.pop()
            .ok_or_else(|| QueryError::invalid("missing argument", span))
    };
    let numeric = |x: &Expr, at: Span| -> Result<(), QueryError> {
        if x.ty.is_numeric() {
            Ok(())
        } else {
            Err(QueryError::mismatch(
                format!("`{name}` needs a number, got {}", x.ty),
                at,
            ))
        }
    };
    let (func, args, ty) = match name {
        "count" if distinct => {
            let (x, _) = one_arg(&mut args)?;
            (AggFunc::CountDistinct, vec![x], DataType::Int)
        }
        "count" if args.is_empty() => (AggFunc::CountRows, vec![], DataType::Int),
        "count" => {
            let (x, _) = one_arg(&mut args)?;
            (AggFunc::Count, vec![x], DataType::Int)
        }
        "uniq" | "uniqexact" => {
            let (x, _) = one_arg(&mut args)?;
            let func = if name == "uniq" {
                AggFunc::Uniq
            } else {
                AggFunc::CountDistinct
            };
            (func, vec![x], DataType::Int)
        }
        "sum" => {
            let (x, at) = one_arg(&mut args)?;
            numeric(&x, at)?;
            let ty = if x.ty == DataType::Float {
                DataType::Float
            } else {
                DataType::Int
            };
            (AggFunc::Sum, vec![x], ty)
        }
        "avg" => {
            let (x, at) = one_arg(&mut args)?;
            numeric(&x, at)?;
            (AggFunc::Avg, vec![x], DataType::Float)
        }
        "min" | "max" => {
            let (x, _) = one_arg(&mut args)?;
            let ty = x.ty;
            let func = if name == "min" {
                AggFunc::Min
            } else {
                AggFunc::Max
            };
            (func, vec![x], ty)
        }
        "quantile" => {
            let level = match params {
                None => 0.5,
                Some([Arg::Expr(p)]) => number_literal(p)
                    .filter(|l| (0.0..=1.0).contains(l))
                    .ok_or_else(|| {
                        QueryError::invalid("quantile level must be a number in [0, 1]", p.span())
                    })?,
                Some(_) => {
                    return Err(QueryError::invalid(
                        "quantile takes one level parameter: quantile(0.9)(x)",
                        span,
                    ))
                }
            };
            let (x, at) = one_arg(&mut args)?;
            numeric(&x, at)?;
            (AggFunc::Quantile(level), vec![x], DataType::Float)
        }
        _ => {
            let window =
                match params {
                    Some([Arg::Expr(p)]) => number_literal(p)
                        .filter(|w| *w >= 0.0 && w.fract() == 0.0)
                        .ok_or_else(|| {
                            QueryError::invalid(
                                "windowFunnel window must be a non-negative integer of seconds",
                                p.span(),
                            )
                        })? as i64,
                    Some(_) => return Err(QueryError::unsupported(
                        "windowFunnel modes; write windowFunnel(window_seconds)(ts, cond1, ...)",
                        span,
                    )),
                    None => return Err(QueryError::invalid(
                        "windowFunnel needs a window: windowFunnel(window_seconds)(ts, cond1, ...)",
                        span,
                    )),
                };
            if star || args.len() < 2 || args.len() > MAX_FUNNEL_STEPS + 1 {
                return Err(QueryError::invalid(
                    format!(
                        "windowFunnel takes a timestamp and 1 to {MAX_FUNNEL_STEPS} conditions"
                    ),
                    span,
                ));
            }
            let window = match args[0].0.ty {
                DataType::Timestamp | DataType::DateTime => {
                    window.saturating_mul(MICROS_PER_SECOND)
                }
                DataType::Int => window,
                ty => {
                    return Err(QueryError::mismatch(
                        format!("windowFunnel needs a timestamp first, got {ty}"),
                        args[0].1,
                    ))
                }
            };
            for (c, at) in &args[1..] {
                require_bool(c, "windowFunnel conditions", *at)?;
            }
            let exprs = args.into_iter().map(|(e, _)| e).collect();
            (AggFunc::WindowFunnel { window }, exprs, DataType::Int)
        }
    };
    Ok(AggCall {
        func,
        args,
        ty,
        condition: None,
    })
}

fn number_literal(e: &ast::Expr) -> Option<f64> {
    match e {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::Number(n, _) => n.parse::<f64>().ok(),
            _ => None,
        },
        _ => None,
    }
}
