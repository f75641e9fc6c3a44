//! From a `sqlparser` statement to a checked [`SelectPlan`]: the dialect's statement shape, name
//! resolution (columns, select aliases, table qualifiers), and the split into row-level and
//! output-level expressions. Expressions themselves are compiled in `compile_expr`.

use ecomdash_storage::Table;
use sqlparser::ast::{
    self, GroupByExpr, LimitClause, OrderByKind, OrderBySort, SelectItem, SetExpr, Spanned,
    TableFactor,
};
use sqlparser::dialect::ClickHouseDialect;
use sqlparser::parser::Parser;

use crate::compile_expr::{contains_aggregate, Compiler, Mode};
use crate::error::QueryError;
use crate::plan::{Expr, ExprKind, Input, OrderKey, OutputColumn, SelectPlan, Shape};
use crate::types::DataType;

/// Most GROUP BY expressions one query may have.
pub(crate) const MAX_GROUP_KEYS: usize = 7;

pub(crate) fn compile_sql(sql: &str) -> Result<SelectPlan, QueryError> {
    let statements = Parser::parse_sql(&ClickHouseDialect {}, sql).map_err(|e| {
        let text = e.to_string();
        QueryError::Syntax {
            message: text
                .strip_prefix("sql parser error: ")
                .unwrap_or(&text)
                .to_string(),
        }
    })?;
    let statement = match statements.as_slice() {
        [one] => one,
        [] => {
            return Err(QueryError::Syntax {
                message: "empty query".into(),
            })
        }
        [_, second, ..] => {
            return Err(QueryError::unsupported(
                "more than one statement",
                second.span(),
            ))
        }
    };
    match statement {
        ast::Statement::Query(q) => compile_query(q, false),
        other => Err(QueryError::unsupported(
            "only SELECT statements can be run",
            other.span(),
        )),
    }
}

fn compile_query(q: &ast::Query, nested: bool) -> Result<SelectPlan, QueryError> {
    let span = q.span();
    if q.with.is_some() {
        return Err(QueryError::unsupported("WITH", span));
    }
    if q.fetch.is_some() || !q.locks.is_empty() || q.for_clause.is_some() {
        return Err(QueryError::unsupported(
            "FETCH, FOR or locking clauses",
            span,
        ));
    }
    if q.settings.is_some() || q.format_clause.is_some() || !q.pipe_operators.is_empty() {
        return Err(QueryError::unsupported(
            "SETTINGS, FORMAT or pipe operators",
            span,
        ));
    }
    let select = match q.body.as_ref() {
        SetExpr::Select(s) => s,
        SetExpr::Query(inner) => {
            return Err(QueryError::unsupported(
                "a parenthesized query as the whole statement",
                inner.span(),
            ))
        }
        other => {
            return Err(QueryError::unsupported(
                "set operations (UNION, INTERSECT, EXCEPT) and VALUES",
                other.span(),
            ))
        }
    };
    check_select_clauses(select)?;

    let (input, input_columns, qualifiers) = compile_from(select, nested)?;
    let aliases: Vec<(String, &ast::Expr)> = select
        .projection
        .iter()
        .filter_map(|item| match item {
            SelectItem::ExprWithAlias { expr, alias } => Some((alias.value.clone(), expr)),
            _ => None,
        })
        .collect();
    let mut c = Compiler::new(&input_columns, qualifiers, aliases);

    // The select list with `*` expanded into input columns.
    let mut items: Vec<(String, Option<&ast::Expr>, usize)> = Vec::new();
    for item in &select.projection {
        match item {
            SelectItem::UnnamedExpr(e) => items.push((e.to_string(), Some(e), 0)),
            SelectItem::ExprWithAlias { expr, alias } => {
                items.push((alias.value.clone(), Some(expr), 0))
            }
            SelectItem::Wildcard(opts) => {
                if opts.opt_exclude.is_some()
                    || opts.opt_except.is_some()
                    || opts.opt_replace.is_some()
                    || opts.opt_rename.is_some()
                    || opts.opt_ilike.is_some()
                {
                    return Err(QueryError::unsupported("modifiers of *", item.span()));
                }
                for (i, (name, _)) in input_columns.iter().enumerate() {
                    items.push((name.clone(), None, i));
                }
            }
            other => {
                return Err(QueryError::unsupported(
                    "this kind of select item",
                    other.span(),
                ))
            }
        }
    }

    let mut filter = None;
    for clause in [&select.prewhere, &select.selection].into_iter().flatten() {
        let e = c.expr(clause, Mode::Row { aliases: true })?;
        check_condition(&e, "WHERE", clause)?;
        filter = Some(match filter {
            None => e,
            Some(prev) => Expr::new(ExprKind::And(Box::new(prev), Box::new(e)), DataType::Bool),
        });
    }

    let group_exprs: &[ast::Expr] = match &select.group_by {
        GroupByExpr::Expressions(exprs, modifiers) => {
            if !modifiers.is_empty() {
                return Err(QueryError::unsupported(
                    "GROUP BY modifiers (ROLLUP, CUBE, TOTALS)",
                    select.span(),
                ));
            }
            exprs
        }
        GroupByExpr::All(_) => {
            return Err(QueryError::unsupported("GROUP BY ALL", select.span()));
        }
    };
    let mut keys = Vec::new();
    for g in group_exprs {
        let key = match ordinal(g) {
            Some(n) => {
                let (_, e, col) = items.get(n.wrapping_sub(1)).ok_or_else(|| {
                    QueryError::invalid(format!("GROUP BY position {n} is out of range"), g.span())
                })?;
                match e {
                    Some(e) => c.expr(e, Mode::Row { aliases: true })?,
                    None => Expr::column(*col, input_columns[*col].1),
                }
            }
            None => c.expr(g, Mode::Row { aliases: true })?,
        };
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    if keys.len() > MAX_GROUP_KEYS {
        return Err(QueryError::unsupported(
            format!("more than {MAX_GROUP_KEYS} GROUP BY expressions"),
            select.span(),
        ));
    }

    let projection_has_aggregate = items
        .iter()
        .any(|(_, e, _)| e.is_some_and(|e| contains_aggregate(e, &c.aliases)));
    let distinct = match &select.distinct {
        None | Some(ast::Distinct::All) => false,
        Some(ast::Distinct::Distinct) => true,
        Some(ast::Distinct::On(_)) => {
            return Err(QueryError::unsupported("DISTINCT ON", select.span()))
        }
    };
    if distinct {
        if projection_has_aggregate || !keys.is_empty() {
            return Err(QueryError::unsupported(
                "SELECT DISTINCT together with GROUP BY or aggregates",
                select.span(),
            ));
        }
        for (_, e, col) in &items {
            let key = match e {
                Some(e) => c.expr(e, Mode::Row { aliases: true })?,
                None => Expr::column(*col, input_columns[*col].1),
            };
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    let is_aggregate = !keys.is_empty()
        || projection_has_aggregate
        || select
            .having
            .as_ref()
            .is_some_and(|h| contains_aggregate(h, &c.aliases));

    let mut outputs = Vec::new();
    let mut having = None;
    let mut order_by = Vec::new();
    let order_exprs: &[ast::OrderByExpr] = match &q.order_by {
        None => &[],
        Some(ob) => {
            if ob.interpolate.is_some() {
                return Err(QueryError::unsupported("INTERPOLATE", q.span()));
            }
            match &ob.kind {
                OrderByKind::Expressions(list) => list,
                OrderByKind::All(_) => {
                    return Err(QueryError::unsupported("ORDER BY ALL", q.span()))
                }
            }
        }
    };

    let shape = if is_aggregate {
        c.keys = keys;
        for (name, e, col) in &items {
            let Some(e) = e else {
                let _ = col;
                return Err(QueryError::invalid(
                    "SELECT * cannot be combined with GROUP BY or aggregates",
                    select.span(),
                ));
            };
            let expr = c.expr(e, Mode::Output { aliases: true })?;
            outputs.push(OutputColumn {
                name: name.clone(),
                expr,
            });
        }
        if let Some(h) = &select.having {
            let e = c.expr(h, Mode::Output { aliases: true })?;
            check_condition(&e, "HAVING", h)?;
            having = Some(e);
        }
        for o in order_exprs {
            let expr = match ordinal(&o.expr) {
                Some(n) => output_at(&outputs, n, &o.expr)?,
                None => c.expr(&o.expr, Mode::Output { aliases: true })?,
            };
            order_by.push(order_key(o, expr)?);
        }
        Shape::Aggregate {
            keys: std::mem::take(&mut c.keys),
            aggs: std::mem::take(&mut c.aggs),
        }
    } else {
        if let Some(h) = &select.having {
            return Err(QueryError::invalid(
                "HAVING needs GROUP BY or an aggregate function",
                h.span(),
            ));
        }
        let mut slots: Vec<Expr> = Vec::new();
        for (name, e, col) in &items {
            let row = match e {
                Some(e) => c.expr(e, Mode::Row { aliases: true })?,
                None => Expr::column(*col, input_columns[*col].1),
            };
            let expr = slot_of(&mut slots, row);
            outputs.push(OutputColumn {
                name: name.clone(),
                expr,
            });
        }
        for o in order_exprs {
            let expr = match ordinal(&o.expr) {
                Some(n) => output_at(&outputs, n, &o.expr)?,
                None => {
                    let row = c.expr(&o.expr, Mode::Row { aliases: true })?;
                    slot_of(&mut slots, row)
                }
            };
            order_by.push(order_key(o, expr)?);
        }
        Shape::Rows { slots }
    };

    let (limit, offset) = compile_limit(q.limit_clause.as_ref())?;
    Ok(SelectPlan {
        input,
        filter,
        shape,
        outputs,
        having,
        order_by,
        limit,
        offset,
    })
}

fn check_select_clauses(s: &ast::Select) -> Result<(), QueryError> {
    let span = s.span();
    let unsupported = |what: &str| Err(QueryError::unsupported(what, span));
    if s.top.is_some() {
        return unsupported("TOP");
    }
    if s.into.is_some() {
        return unsupported("SELECT INTO");
    }
    if !s.lateral_views.is_empty() {
        return unsupported("LATERAL VIEW");
    }
    if !s.connect_by.is_empty() {
        return unsupported("CONNECT BY");
    }
    if !s.cluster_by.is_empty() || !s.distribute_by.is_empty() || !s.sort_by.is_empty() {
        return unsupported("CLUSTER BY, DISTRIBUTE BY or SORT BY");
    }
    if !s.named_window.is_empty() || s.qualify.is_some() {
        return unsupported("WINDOW and QUALIFY");
    }
    if s.value_table_mode.is_some() || s.exclude.is_some() || s.select_modifiers.is_some() {
        return unsupported("this SELECT modifier");
    }
    Ok(())
}

type FromParts = (Input, Vec<(String, DataType)>, Vec<String>);

fn compile_from(s: &ast::Select, nested: bool) -> Result<FromParts, QueryError> {
    let from = match s.from.as_slice() {
        [one] => one,
        [] => {
            return Err(QueryError::invalid(
                "a FROM clause naming events, sessions or a subquery is required",
                s.span(),
            ))
        }
        [_, second, ..] => {
            return Err(QueryError::unsupported(
                "more than one table in FROM",
                second.span(),
            ))
        }
    };
    if let Some(join) = from.joins.first() {
        return Err(QueryError::unsupported("JOIN", join.span()));
    }
    match &from.relation {
        TableFactor::Table {
            name,
            alias,
            args,
            with_hints,
            version,
            partitions,
            sample,
            ..
        } => {
            if args.is_some()
                || !with_hints.is_empty()
                || version.is_some()
                || !partitions.is_empty()
                || sample.is_some()
            {
                return Err(QueryError::unsupported(
                    "table functions, hints or SAMPLE",
                    from.relation.span(),
                ));
            }
            let text = name.to_string();
            let table = Table::from_name(&text).ok_or_else(|| QueryError::UnknownTable {
                name: text.clone(),
                pos: crate::error::Position::of(name.span()),
            })?;
            let columns = table
                .schema()
                .columns
                .iter()
                .map(|c| (c.name.to_string(), DataType::from_column(c.ty)))
                .collect();
            let mut qualifiers = vec![text];
            if let Some(a) = alias {
                if !a.columns.is_empty() {
                    return Err(QueryError::unsupported(
                        "column aliases on a table",
                        a.span(),
                    ));
                }
                qualifiers.push(a.name.value.clone());
            }
            Ok((Input::Table(table), columns, qualifiers))
        }
        TableFactor::Derived {
            lateral,
            subquery,
            alias,
            sample,
        } => {
            if nested {
                return Err(QueryError::unsupported(
                    "more than one level of subquery in FROM",
                    subquery.span(),
                ));
            }
            if *lateral || sample.is_some() {
                return Err(QueryError::unsupported(
                    "LATERAL or SAMPLE",
                    subquery.span(),
                ));
            }
            let inner = compile_query(subquery, true)?;
            let columns = inner
                .outputs
                .iter()
                .map(|o| (o.name.clone(), o.expr.ty))
                .collect();
            let mut qualifiers = Vec::new();
            if let Some(a) = alias {
                if !a.columns.is_empty() {
                    return Err(QueryError::unsupported(
                        "column aliases on a subquery",
                        a.span(),
                    ));
                }
                qualifiers.push(a.name.value.clone());
            }
            Ok((Input::Subquery(Box::new(inner)), columns, qualifiers))
        }
        other => Err(QueryError::unsupported(
            "this kind of FROM item",
            other.span(),
        )),
    }
}

fn check_condition(e: &Expr, clause: &str, at: &ast::Expr) -> Result<(), QueryError> {
    let is_null_literal = matches!(&e.kind, ExprKind::Literal(v) if v.is_null());
    if e.ty == DataType::Bool || is_null_literal {
        Ok(())
    } else {
        Err(QueryError::mismatch(
            format!("{clause} needs a boolean condition, got {}", e.ty),
            at.span(),
        ))
    }
}

/// A positive integer literal used as a position (`GROUP BY 1`, `ORDER BY 2`).
fn ordinal(e: &ast::Expr) -> Option<usize> {
    match e {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::Number(n, _) => n.parse::<usize>().ok(),
            _ => None,
        },
        _ => None,
    }
}

fn output_at(outputs: &[OutputColumn], n: usize, at: &ast::Expr) -> Result<Expr, QueryError> {
    outputs
        .get(n.wrapping_sub(1))
        .map(|o| o.expr.clone())
        .ok_or_else(|| {
            QueryError::invalid(format!("ORDER BY position {n} is out of range"), at.span())
        })
}

fn slot_of(slots: &mut Vec<Expr>, row: Expr) -> Expr {
    let ty = row.ty;
    let index = match slots.iter().position(|s| *s == row) {
        Some(i) => i,
        None => {
            slots.push(row);
            slots.len() - 1
        }
    };
    Expr::column(index, ty)
}

fn order_key(o: &ast::OrderByExpr, expr: Expr) -> Result<OrderKey, QueryError> {
    if o.with_fill.is_some() {
        return Err(QueryError::unsupported("WITH FILL", o.span()));
    }
    let descending = match &o.options.sort {
        None | Some(OrderBySort::Asc) => false,
        Some(OrderBySort::Desc) => true,
        Some(OrderBySort::Using(_)) => {
            return Err(QueryError::unsupported("ORDER BY .. USING", o.span()))
        }
    };
    Ok(OrderKey {
        expr,
        descending,
        // ClickHouse puts NULLs last in both directions unless told otherwise.
        nulls_first: o.options.nulls_first.unwrap_or(false),
    })
}

fn compile_limit(clause: Option<&LimitClause>) -> Result<(Option<u64>, u64), QueryError> {
    let count = |e: &ast::Expr, what: &str| -> Result<u64, QueryError> {
        match e {
            ast::Expr::Value(v) => match &v.value {
                ast::Value::Number(n, _) => n.parse::<u64>().ok(),
                _ => None,
            },
            _ => None,
        }
        .ok_or_else(|| {
            QueryError::invalid(
                format!("{what} must be a non-negative integer literal"),
                e.span(),
            )
        })
    };
    match clause {
        None => Ok((None, 0)),
        Some(LimitClause::LimitOffset {
            limit,
            offset,
            limit_by,
        }) => {
            if let Some(first) = limit_by.first() {
                return Err(QueryError::unsupported("LIMIT BY", first.span()));
            }
            let limit = match limit {
                Some(e) => Some(count(e, "LIMIT")?),
                None => None,
            };
            let offset = match offset {
                Some(o) => count(&o.value, "OFFSET")?,
                None => 0,
            };
            Ok((limit, offset))
        }
        Some(LimitClause::OffsetCommaLimit { offset, limit }) => {
            Ok((Some(count(limit, "LIMIT")?), count(offset, "OFFSET")?))
        }
    }
}
