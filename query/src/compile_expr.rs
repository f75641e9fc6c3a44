//! Expression compilation: name resolution (columns, select aliases, qualifiers), operators,
//! and the split between row-level and output-level expressions.

use sqlparser::ast::{
    self, BinaryOperator, DuplicateTreatment, FunctionArg, FunctionArgExpr, FunctionArguments,
    Spanned, UnaryOperator,
};
use sqlparser::tokenizer::Span;

use crate::compile_func::{aggregate_call, has_parameters, plain_args, time_function, Arg};
use crate::compile_types::{coerce_literal, compare, literal, require_bool};
use crate::error::{Position, QueryError};
use crate::plan::{AggCall, ArithOp, CmpOp, Expr, ExprKind};
use crate::types::{DataType, Scalar};

const AGGREGATES: [&str; 9] = [
    "count",
    "uniq",
    "uniqexact",
    "sum",
    "avg",
    "min",
    "max",
    "quantile",
    "windowfunnel",
];

#[derive(Clone, Copy, Debug)]
pub(crate) enum Mode {
    /// Row-level: columns of the input; aggregates are not allowed.
    Row { aliases: bool },
    /// Output-level: group keys and aggregates.
    Output { aliases: bool },
}

impl Mode {
    fn aliases(self) -> bool {
        match self {
            Mode::Row { aliases } | Mode::Output { aliases } => aliases,
        }
    }

    fn without_aliases(self) -> Mode {
        match self {
            Mode::Row { .. } => Mode::Row { aliases: false },
            Mode::Output { .. } => Mode::Output { aliases: false },
        }
    }
}

pub(crate) struct Compiler<'a> {
    columns: &'a [(String, DataType)],
    qualifiers: Vec<String>,
    pub aliases: Vec<(String, &'a ast::Expr)>,
    /// Group keys, set before output-level expressions are compiled.
    pub keys: Vec<Expr>,
    pub aggs: Vec<AggCall>,
}

/// The aggregate a name calls and whether it carries ClickHouse's `-If` combinator
/// (`countIf`, `sumIf`, `uniqIf`, ...); `None` when the name is no aggregate.
pub(crate) fn aggregate_name(name: &str) -> Option<(&str, bool)> {
    if AGGREGATES.contains(&name) {
        return Some((name, false));
    }
    let base = name.strip_suffix("if")?;
    (AGGREGATES.contains(&base) && base != "windowfunnel").then_some((base, true))
}

fn function_name(f: &ast::Function) -> String {
    f.name.to_string().to_ascii_lowercase()
}

/// Whether `e` calls an aggregate function, looking through select aliases one level deep.
pub(crate) fn contains_aggregate(e: &ast::Expr, aliases: &[(String, &ast::Expr)]) -> bool {
    use ast::Expr as E;
    match e {
        E::Function(f) => {
            let name = function_name(f);
            if aggregate_name(&name).is_some() {
                return true;
            }
            match &f.args {
                FunctionArguments::List(l) => l.args.iter().any(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => {
                        contains_aggregate(x, aliases)
                    }
                    _ => false,
                }),
                _ => false,
            }
        }
        E::Identifier(id) => aliases
            .iter()
            .any(|(name, body)| *name == id.value && contains_aggregate(body, &[])),
        E::Nested(x) | E::UnaryOp { expr: x, .. } | E::IsNull(x) | E::IsNotNull(x) => {
            contains_aggregate(x, aliases)
        }
        E::BinaryOp { left, right, .. } => {
            contains_aggregate(left, aliases) || contains_aggregate(right, aliases)
        }
        E::Between {
            expr, low, high, ..
        } => {
            contains_aggregate(expr, aliases)
                || contains_aggregate(low, aliases)
                || contains_aggregate(high, aliases)
        }
        E::In { expr, .. } | E::Like { expr, .. } | E::ILike { expr, .. } => {
            contains_aggregate(expr, aliases)
        }
        _ => false,
    }
}

impl<'a> Compiler<'a> {
    pub(crate) fn new(
        columns: &'a [(String, DataType)],
        qualifiers: Vec<String>,
        aliases: Vec<(String, &'a ast::Expr)>,
    ) -> Compiler<'a> {
        Compiler {
            columns,
            qualifiers,
            aliases,
            keys: Vec::new(),
            aggs: Vec::new(),
        }
    }

    pub(crate) fn expr(&mut self, e: &ast::Expr, mode: Mode) -> Result<Expr, QueryError> {
        if let Mode::Output { aliases } = mode {
            let visible: &[(String, &ast::Expr)] = if aliases { &self.aliases } else { &[] };
            if !contains_aggregate(e, visible) {
                let row = self.expr(e, Mode::Row { aliases })?;
                if let Some(k) = self.keys.iter().position(|k| *k == row) {
                    return Ok(Expr::column(k, row.ty));
                }
                if matches!(row.kind, ExprKind::Literal(_)) {
                    return Ok(row);
                }
            }
        }
        use ast::Expr as E;
        let span = e.span();
        match e {
            E::Identifier(id) => self.identifier(&id.value, id.span, mode, true),
            E::CompoundIdentifier(parts) => match parts.as_slice() {
                [q, col] if self.qualifiers.contains(&q.value) => {
                    self.identifier(&col.value, col.span, mode, false)
                }
                _ => Err(QueryError::UnknownColumn {
                    name: parts
                        .iter()
                        .map(|p| p.value.as_str())
                        .collect::<Vec<_>>()
                        .join("."),
                    pos: Position::of(span),
                }),
            },
            E::Nested(inner) => self.expr(inner, mode),
            E::Value(v) => literal(&v.value, span),
            E::UnaryOp { op, expr } => match op {
                UnaryOperator::Not => {
                    let x = self.expr(expr, mode)?;
                    require_bool(&x, "NOT", span)?;
                    Ok(Expr::new(ExprKind::Not(Box::new(x)), DataType::Bool))
                }
                UnaryOperator::Plus => self.expr(expr, mode),
                UnaryOperator::Minus => {
                    let x = self.expr(expr, mode)?;
                    match x.kind {
                        ExprKind::Literal(Scalar::Int(v)) => {
                            Ok(Expr::literal(Scalar::Int(v.wrapping_neg()), DataType::Int))
                        }
                        ExprKind::Literal(Scalar::Float(v)) => {
                            Ok(Expr::literal(Scalar::Float(-v), DataType::Float))
                        }
                        _ if x.ty.is_numeric() => {
                            let ty = if x.ty == DataType::Float {
                                DataType::Float
                            } else {
                                DataType::Int
                            };
                            Ok(Expr::new(ExprKind::Neg(Box::new(x)), ty))
                        }
                        _ => Err(QueryError::mismatch(
                            format!("cannot negate a {} value", x.ty),
                            span,
                        )),
                    }
                }
                other => Err(QueryError::unsupported(format!("operator {other}"), span)),
            },
            E::BinaryOp { left, op, right } => {
                let l = self.expr(left, mode)?;
                let r = self.expr(right, mode)?;
                self.binary(op, l, r, span)
            }
            E::IsNull(x) | E::IsNotNull(x) => {
                let x = self.expr(x, mode)?;
                Ok(Expr::new(
                    ExprKind::IsNull {
                        expr: Box::new(x),
                        negated: matches!(e, E::IsNotNull(_)),
                    },
                    DataType::Bool,
                ))
            }
            E::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let x = self.expr(expr, mode)?;
                let lo = self.expr(low, mode)?;
                let hi = self.expr(high, mode)?;
                let ge = compare(CmpOp::GtEq, x.clone(), lo, span)?;
                let le = compare(CmpOp::LtEq, x, hi, span)?;
                let both = Expr::new(ExprKind::And(Box::new(ge), Box::new(le)), DataType::Bool);
                Ok(if *negated {
                    Expr::new(ExprKind::Not(Box::new(both)), DataType::Bool)
                } else {
                    both
                })
            }
            E::In {
                expr,
                target,
                negated,
                global,
            } => {
                let list = match target {
                    ast::InTarget::List(list) if !*global => list,
                    _ => {
                        return Err(QueryError::unsupported(
                            "IN with a subquery, table or GLOBAL; use a list of literals",
                            span,
                        ))
                    }
                };
                let x = self.expr(expr, mode)?;
                let mut values = Vec::with_capacity(list.len());
                for item in list {
                    let lit = self.expr(item, Mode::Row { aliases: false })?;
                    if !matches!(lit.kind, ExprKind::Literal(_)) {
                        return Err(QueryError::unsupported(
                            "IN with non-literal values",
                            item.span(),
                        ));
                    }
                    let lit = coerce_literal(lit, x.ty, item.span())?;
                    if let ExprKind::Literal(v) = lit.kind {
                        values.push(v);
                    }
                }
                Ok(Expr::new(
                    ExprKind::InList {
                        expr: Box::new(x),
                        list: values,
                        negated: *negated,
                    },
                    DataType::Bool,
                ))
            }
            E::Like {
                negated,
                any,
                expr,
                pattern,
                escape_char,
            }
            | E::ILike {
                negated,
                any,
                expr,
                pattern,
                escape_char,
            } => {
                if *any || escape_char.is_some() {
                    return Err(QueryError::unsupported("LIKE ANY or ESCAPE", span));
                }
                let x = self.expr(expr, mode)?;
                if x.ty != DataType::Str {
                    return Err(QueryError::mismatch(
                        format!("LIKE needs a string, got {}", x.ty),
                        expr.span(),
                    ));
                }
                let pattern = match self.expr(pattern, Mode::Row { aliases: false })?.kind {
                    ExprKind::Literal(Scalar::Str(p)) => p.to_string(),
                    _ => {
                        return Err(QueryError::unsupported(
                            "LIKE pattern that is not a string literal",
                            pattern.span(),
                        ))
                    }
                };
                Ok(Expr::new(
                    ExprKind::Like {
                        expr: Box::new(x),
                        pattern,
                        negated: *negated,
                        case_insensitive: matches!(e, E::ILike { .. }),
                    },
                    DataType::Bool,
                ))
            }
            E::Function(f) => self.function(f, span, mode),
            _ => Err(QueryError::unsupported(format!("expression `{e}`"), span)),
        }
    }

    fn identifier(
        &mut self,
        name: &str,
        span: Span,
        mode: Mode,
        may_be_alias: bool,
    ) -> Result<Expr, QueryError> {
        let column = self.columns.iter().position(|(n, _)| n == name);
        if may_be_alias && mode.aliases() {
            let alias = self
                .aliases
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, e)| *e);
            if let Some(body) = alias {
                let is_self = matches!(body, ast::Expr::Identifier(id) if id.value == name);
                let aggregate_in_row =
                    matches!(mode, Mode::Row { .. }) && contains_aggregate(body, &[]);
                if !(is_self || aggregate_in_row && column.is_some()) {
                    return self.expr(body, mode.without_aliases());
                }
            }
        }
        match (column, mode) {
            (Some(i), Mode::Row { .. }) => Ok(Expr::column(i, self.columns[i].1)),
            (Some(_), Mode::Output { .. }) => Err(QueryError::invalid(
                format!("column `{name}` must be in GROUP BY or inside an aggregate function"),
                span,
            )),
            (None, _) => Err(QueryError::UnknownColumn {
                name: name.to_string(),
                pos: Position::of(span),
            }),
        }
    }

    fn binary(
        &mut self,
        op: &BinaryOperator,
        l: Expr,
        r: Expr,
        span: Span,
    ) -> Result<Expr, QueryError> {
        let cmp = match op {
            BinaryOperator::Eq => Some(CmpOp::Eq),
            BinaryOperator::NotEq => Some(CmpOp::NotEq),
            BinaryOperator::Lt => Some(CmpOp::Lt),
            BinaryOperator::LtEq => Some(CmpOp::LtEq),
            BinaryOperator::Gt => Some(CmpOp::Gt),
            BinaryOperator::GtEq => Some(CmpOp::GtEq),
            _ => None,
        };
        if let Some(cmp) = cmp {
            return compare(cmp, l, r, span);
        }
        match op {
            BinaryOperator::And | BinaryOperator::Or => {
                let word = if *op == BinaryOperator::And {
                    "AND"
                } else {
                    "OR"
                };
                require_bool(&l, word, span)?;
                require_bool(&r, word, span)?;
                let kind = if *op == BinaryOperator::And {
                    ExprKind::And(Box::new(l), Box::new(r))
                } else {
                    ExprKind::Or(Box::new(l), Box::new(r))
                };
                Ok(Expr::new(kind, DataType::Bool))
            }
            BinaryOperator::Plus
            | BinaryOperator::Minus
            | BinaryOperator::Multiply
            | BinaryOperator::Divide
            | BinaryOperator::Modulo => {
                let arith = match op {
                    BinaryOperator::Plus => ArithOp::Add,
                    BinaryOperator::Minus => ArithOp::Sub,
                    BinaryOperator::Multiply => ArithOp::Mul,
                    BinaryOperator::Divide => ArithOp::Div,
                    _ => ArithOp::Mod,
                };
                for side in [&l, &r] {
                    let null = matches!(side.kind, ExprKind::Literal(Scalar::Null));
                    if !side.ty.is_numeric() && !null {
                        return Err(QueryError::mismatch(
                            format!("arithmetic needs numbers, got {}", side.ty),
                            span,
                        ));
                    }
                }
                let ty = if arith == ArithOp::Div
                    || l.ty == DataType::Float
                    || r.ty == DataType::Float
                {
                    DataType::Float
                } else {
                    DataType::Int
                };
                Ok(Expr::new(
                    ExprKind::Arith(arith, Box::new(l), Box::new(r)),
                    ty,
                ))
            }
            other => Err(QueryError::unsupported(format!("operator {other}"), span)),
        }
    }

    fn function(&mut self, f: &ast::Function, span: Span, mode: Mode) -> Result<Expr, QueryError> {
        let name = function_name(f);
        if f.uses_odbc_syntax
            || f.filter.is_some()
            || f.null_treatment.is_some()
            || f.over.is_some()
            || !f.within_group.is_empty()
        {
            return Err(QueryError::unsupported(
                format!("OVER, FILTER or WITHIN GROUP on `{name}`"),
                span,
            ));
        }
        let (distinct, args) = match &f.args {
            FunctionArguments::List(list) => {
                if !list.clauses.is_empty() {
                    return Err(QueryError::unsupported(
                        format!("clauses inside the arguments of `{name}`"),
                        span,
                    ));
                }
                (
                    list.duplicate_treatment == Some(DuplicateTreatment::Distinct),
                    plain_args(&list.args, span)?,
                )
            }
            _ => {
                return Err(QueryError::unsupported(
                    format!("`{name}` without an argument list"),
                    span,
                ))
            }
        };
        let params = match &f.parameters {
            FunctionArguments::None => None,
            FunctionArguments::List(list) => Some(plain_args(&list.args, span)?),
            FunctionArguments::Subquery(_) => {
                return Err(QueryError::unsupported("subquery as parameters", span))
            }
        };
        let aggregate = aggregate_name(&name);
        let is_aggregate = aggregate.is_some();
        let is_time = matches!(
            name.as_str(),
            "todate" | "tostartofday" | "tostartofhour" | "tostartofminute"
        );
        if !is_aggregate && !is_time {
            return Err(QueryError::UnknownFunction {
                name: f.name.to_string(),
                pos: Position::of(span),
            });
        }
        let base = aggregate.map_or(name.as_str(), |(b, _)| b);
        let with_if = aggregate.is_some_and(|(_, c)| c);
        if (distinct && (name != "count")) || (params.is_some() && !has_parameters(base)) {
            return Err(QueryError::unsupported(
                format!("DISTINCT or parameters in `{name}`"),
                span,
            ));
        }
        if is_time {
            let [Arg::Expr(arg)] = args.as_slice() else {
                return Err(QueryError::invalid(
                    format!("`{name}` takes exactly one argument"),
                    span,
                ));
            };
            let x = self.expr(arg, mode)?;
            return time_function(&name, x, arg.span());
        }
        if let Mode::Row { .. } = mode {
            return Err(QueryError::invalid(
                format!("aggregate function `{name}` is not allowed here"),
                span,
            ));
        }
        let row = Mode::Row { aliases: true };
        let mut exprs = Vec::new();
        let mut star = false;
        for a in &args {
            match a {
                Arg::Star => star = true,
                Arg::Expr(e) => exprs.push((self.expr(e, row)?, e.span())),
            }
        }
        let condition = if with_if {
            let (cond, at) = exprs.pop().ok_or_else(|| {
                QueryError::invalid(
                    format!("`{name}` needs a condition as its last argument"),
                    span,
                )
            })?;
            require_bool(&cond, &format!("the condition of `{name}`"), at)?;
            Some(cond)
        } else {
            None
        };
        let mut call = aggregate_call(base, distinct, star, exprs, params.as_deref(), span)?;
        call.condition = condition;
        let ty = call.ty;
        let index = match self.aggs.iter().position(|a| *a == call) {
            Some(i) => i,
            None => {
                self.aggs.push(call);
                self.aggs.len() - 1
            }
        };
        Ok(Expr::column(self.keys.len() + index, ty))
    }
}
