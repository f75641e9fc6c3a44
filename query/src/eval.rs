//! Vectorized evaluation of row-level expressions over one [`ColumnBatch`].
//!
//! String predicates (`=`, `<`, `IN`, `LIKE` against literals) are evaluated once per dictionary
//! entry into a mask, cached per (expression, dictionary) so that all chunks sharing a segment's
//! dictionary reuse it; the per-row work is then one lookup by code.

use std::borrow::Cow;
use std::sync::Arc;

use ecomdash_storage::{ColumnBatch, ColumnVec, StrDict};
use rustc_hash::FxHashMap;

use crate::error::QueryError;
use crate::kernels::compact;
use crate::like::LikePattern;
use crate::plan::{ArithOp, CmpOp, Expr, ExprKind, TimeFn};
use crate::scalar_ops::in_list;
use crate::types::Scalar;
use crate::unit_plan::time_value;
use crate::vector::{and_validity, Vector};

/// Per-thread evaluation state: dictionary masks keyed by (expression address, dictionary
/// address). The dictionary `Arc` is kept so the address cannot be reused while cached.
/// A predicate's value for each entry of one dictionary.
pub(crate) struct DictMask {
    bits: Vec<bool>,
    /// `Some(b)` when every entry gives `b`: the predicate is constant over the dictionary.
    uniform: Option<bool>,
    /// The code of the only entry that gives true, when exactly one does (`col = 'x'`).
    single: Option<u32>,
}

/// A string predicate of one batch, testable row by row through its dictionary mask.
pub(crate) struct CodePredicate<'b> {
    mask: Arc<DictMask>,
    codes: &'b [u32],
    validity: Option<&'b [bool]>,
    negated: bool,
}

impl CodePredicate<'_> {
    /// Whether the predicate is true at row `r`.
    pub(crate) fn holds(&self, r: usize) -> bool {
        self.validity.is_none_or(|v| v[r])
            & (self
                .mask
                .bits
                .get(self.codes[r] as usize)
                .copied()
                .unwrap_or(false)
                != self.negated)
    }

    /// How many rows of `sel` the predicate is true at.
    pub(crate) fn count(&self, sel: &[u32]) -> usize {
        let codes = self.codes;
        match (self.validity, self.mask.single.filter(|_| !self.negated)) {
            (None, Some(c)) => sel
                .iter()
                .map(|&r| usize::from(codes[r as usize] == c))
                .sum(),
            _ => sel
                .iter()
                .map(|&r| usize::from(self.holds(r as usize)))
                .sum(),
        }
    }

    /// The rows of `sel` (all rows when `None`) where the predicate is true.
    pub(crate) fn filter(&self, sel: Option<Vec<u32>>) -> Vec<u32> {
        let n = self.codes.len();
        if let (Some(b), None) = (self.mask.uniform, self.validity) {
            return if b != self.negated {
                sel.unwrap_or_else(|| (0..n as u32).collect())
            } else {
                Vec::new()
            };
        }
        let codes = self.codes;
        let bits = self.mask.bits.as_slice();
        let negated = self.negated;
        // a null row's code points nowhere (an all-null column has an empty dictionary)
        // `&`, not `&&`: both sides are cheap, and a branch on validity mispredicts
        let in_mask = |code: u32| bits.get(code as usize).copied().unwrap_or(false) != negated;
        match (sel, self.validity, self.mask.single.filter(|_| !negated)) {
            (Some(mut rows), None, Some(c)) => {
                compact(&mut rows, |r| codes[r] == c);
                rows
            }
            (Some(mut rows), None, None) => {
                compact(&mut rows, |r| in_mask(codes[r]));
                rows
            }
            (Some(mut rows), Some(valid), _) => {
                compact(&mut rows, |r| valid[r] & in_mask(codes[r]));
                rows
            }
            (None, None, Some(c)) => rows_where(codes, |code, _| code == c),
            (None, None, None) => rows_where(codes, |code, _| in_mask(code)),
            (None, Some(valid), _) => rows_where(codes, |code, r| valid[r] & in_mask(code)),
        }
    }
}

impl<'b> CodePredicate<'b> {
    /// The predicate as a boolean vector that is exact at the rows of `sel` (false elsewhere;
    /// null where the column is), for a batch of `n` rows of which few are selected.
    pub(crate) fn at_rows(&self, sel: &[u32], n: usize) -> Vector<'b> {
        if let (Some(b), None) = (self.mask.uniform, self.validity) {
            return Vector::Const(Scalar::Bool(b != self.negated));
        }
        let mut values = vec![false; n];
        for &r in sel {
            values[r as usize] = self.holds(r as usize);
        }
        Vector::Bool {
            values: Cow::Owned(values),
            validity: self.validity.map(Cow::Borrowed),
        }
    }
}

/// The rows whose code passes `hit(code, row)`, in order: 64 rows at a time into a bit mask
/// (no branch per row; a plain compare vectorizes), then one step per hit.
fn rows_where(codes: &[u32], hit: impl Fn(u32, usize) -> bool) -> Vec<u32> {
    let mut rows = Vec::with_capacity(codes.len() / 16);
    let push_hits = |rows: &mut Vec<u32>, base: usize, mut m: u64| {
        while m != 0 {
            rows.push((base + m.trailing_zeros() as usize) as u32);
            m &= m - 1;
        }
    };
    let blocks = codes.chunks_exact(64);
    let tail = blocks.remainder();
    for (b, block) in blocks.enumerate() {
        let base = b * 64;
        let mut m = 0u64;
        if let Ok(block) = <&[u32; 64]>::try_from(block) {
            for (j, &code) in block.iter().enumerate() {
                m |= u64::from(hit(code, base + j)) << j;
            }
        }
        push_hits(&mut rows, base, m);
    }
    let base = codes.len() - tail.len();
    let mut m = 0u64;
    for (j, &code) in tail.iter().enumerate() {
        m |= u64::from(hit(code, base + j)) << j;
    }
    push_hits(&mut rows, base, m);
    rows
}

/// A dictionary kept alive next to the mask computed over it.
type CachedMask = (Arc<StrDict>, Arc<DictMask>);

#[derive(Default)]
pub(crate) struct Evaluator {
    masks: FxHashMap<(usize, usize), CachedMask>,
}

impl Evaluator {
    pub(crate) fn eval<'b>(
        &mut self,
        expr: &Expr,
        batch: &'b ColumnBatch,
    ) -> Result<Vector<'b>, QueryError> {
        let n = batch.row_count;
        Ok(match &expr.kind {
            ExprKind::Column(i) => {
                let col = batch.column(*i).ok_or_else(|| {
                    QueryError::Storage(format!("scan did not return column {i}"))
                })?;
                Vector::from_column(col)
            }
            ExprKind::Literal(v) => Vector::Const(v.clone()),
            ExprKind::Time(f, x) => {
                let x = self.eval(x, batch)?;
                time_fn(*f, &x, n)
            }
            ExprKind::Neg(x) => {
                let x = self.eval(x, batch)?;
                if expr.ty == crate::types::DataType::Float {
                    let (v, valid) = x.floats(n);
                    Vector::Float {
                        values: Cow::Owned(v.iter().map(|a| -a).collect()),
                        validity: valid.map(|c| Cow::Owned(c.into_owned())),
                    }
                } else {
                    let (v, valid) = x.ints(n);
                    Vector::Int {
                        values: Cow::Owned(v.iter().map(|a| a.wrapping_neg()).collect()),
                        validity: valid.map(|c| Cow::Owned(c.into_owned())),
                    }
                }
            }
            ExprKind::Arith(op, a, b) => {
                let a = self.eval(a, batch)?;
                let b = self.eval(b, batch)?;
                arith(*op, expr.ty == crate::types::DataType::Float, &a, &b, n)
            }
            ExprKind::Compare(op, a, b) => {
                let l = self.eval(a, batch)?;
                let r = self.eval(b, batch)?;
                self.compare(expr, *op, &l, &r, n)
            }
            ExprKind::And(a, b) | ExprKind::Or(a, b) => {
                let l = self.eval(a, batch)?;
                let r = self.eval(b, batch)?;
                kleene(matches!(expr.kind, ExprKind::And(..)), l, r, n)
            }
            ExprKind::Not(x) => {
                let x = self.eval(x, batch)?;
                match x {
                    Vector::Const(Scalar::Bool(b)) => Vector::Const(Scalar::Bool(!b)),
                    Vector::Const(_) => Vector::Const(Scalar::Null),
                    other => {
                        let (v, valid) = other.ints(n);
                        Vector::Bool {
                            values: Cow::Owned(v.iter().map(|&x| x == 0).collect()),
                            validity: valid.map(|c| Cow::Owned(c.into_owned())),
                        }
                    }
                }
            }
            ExprKind::IsNull { expr: x, negated } => {
                let x = self.eval(x, batch)?;
                match x {
                    Vector::Const(c) => Vector::Const(Scalar::Bool(c.is_null() != *negated)),
                    // no null in this batch: the same answer for every row
                    other if other.validity().is_none() => Vector::Const(Scalar::Bool(*negated)),
                    other => {
                        let values = match other.validity() {
                            None => vec![*negated; n],
                            Some(valid) => valid.iter().map(|&ok| ok == *negated).collect(),
                        };
                        Vector::Bool {
                            values: Cow::Owned(values),
                            validity: None,
                        }
                    }
                }
            }
            ExprKind::InList {
                expr: x,
                list,
                negated,
            } => {
                let v = self.eval(x, batch)?;
                match self.string_mask_of(expr, &v) {
                    Some((mask, negated)) => apply_mask(&v, &mask, negated),
                    None => per_row(&v, n, |s| in_list(s, list).map(|hit| hit != *negated)),
                }
            }
            ExprKind::Like {
                expr: x,
                pattern,
                negated,
                case_insensitive,
            } => {
                let v = self.eval(x, batch)?;
                match self.string_mask_of(expr, &v) {
                    Some((mask, negated)) => apply_mask(&v, &mask, negated),
                    None => {
                        let like = LikePattern::new(pattern, *case_insensitive);
                        per_row(&v, n, |s| match s {
                            Scalar::Str(t) => Some(like.matches(t) != *negated),
                            _ => None,
                        })
                    }
                }
            }
        })
    }

    /// A string predicate against literals on a column (`col op 'x'`, `col [NOT] IN (...)`,
    /// `col [NOT] LIKE ...`) as its per-code mask over the batch's dictionary, with the
    /// column's codes and validity and whether the mask is negated, so a filter can test
    /// only the rows still selected. `None` for any other expression. The masks are the ones
    /// [`Evaluator::eval`] computes and caches for the same expression.
    pub(crate) fn dict_predicate<'b>(
        &mut self,
        expr: &Expr,
        batch: &'b ColumnBatch,
    ) -> Option<CodePredicate<'b>> {
        let column = |e: &Expr| match e.kind {
            ExprKind::Column(i) => match batch.column(i)? {
                ColumnVec::Str {
                    dict,
                    codes,
                    validity,
                } => Some((dict, codes.as_slice(), validity.as_deref())),
                _ => None,
            },
            _ => None,
        };
        // The column side; the literal side is read by `string_mask`.
        let x = match &expr.kind {
            ExprKind::Compare(_, a, b) => match (&a.kind, &b.kind) {
                (_, ExprKind::Literal(Scalar::Str(_))) => a,
                (ExprKind::Literal(Scalar::Str(_)), _) => b,
                _ => return None,
            },
            ExprKind::InList { expr: x, .. } | ExprKind::Like { expr: x, .. } => x,
            _ => return None,
        };
        let (dict, codes, validity) = column(x)?;
        let (mask, negated) = self.string_mask(expr, dict)?;
        Some(CodePredicate {
            mask,
            codes,
            validity,
            negated,
        })
    }

    /// [`Evaluator::string_mask`] of `expr` when its column side evaluated to `v`, a
    /// dictionary-encoded string vector.
    fn string_mask_of(&mut self, expr: &Expr, v: &Vector<'_>) -> Option<(Arc<DictMask>, bool)> {
        match v {
            Vector::Str { dict, .. } => self.string_mask(expr, dict),
            _ => None,
        }
    }

    /// The per-entry mask of `dict` for a string predicate against literals (`col op 'x'`,
    /// `'x' op col`, `col [NOT] IN (...)`, `col [NOT] LIKE ...`) and whether it is negated;
    /// the one place both the vector evaluation and [`Evaluator::dict_predicate`] build it.
    /// `None` for any other expression.
    fn string_mask(&mut self, expr: &Expr, dict: &Arc<StrDict>) -> Option<(Arc<DictMask>, bool)> {
        Some(match &expr.kind {
            ExprKind::Compare(op, a, b) => {
                let op = *op;
                match (&a.kind, &b.kind) {
                    (_, ExprKind::Literal(Scalar::Str(lit))) => (
                        self.dict_mask(expr, dict, |s| op.holds(s.as_bytes().cmp(lit.as_bytes()))),
                        false,
                    ),
                    (ExprKind::Literal(Scalar::Str(lit)), _) => (
                        self.dict_mask(expr, dict, |s| op.holds(lit.as_bytes().cmp(s.as_bytes()))),
                        false,
                    ),
                    _ => return None,
                }
            }
            ExprKind::InList { list, negated, .. } => (
                self.dict_mask(expr, dict, |s| {
                    list.iter()
                        .any(|item| matches!(item, Scalar::Str(t) if t.as_ref() == s))
                }),
                *negated,
            ),
            ExprKind::Like {
                pattern,
                negated,
                case_insensitive,
                ..
            } => {
                let like = LikePattern::new(pattern, *case_insensitive);
                (self.dict_mask(expr, dict, |s| like.matches(s)), *negated)
            }
            _ => return None,
        })
    }

    fn dict_mask(
        &mut self,
        expr: &Expr,
        dict: &Arc<StrDict>,
        pred: impl Fn(&str) -> bool,
    ) -> Arc<DictMask> {
        let key = (expr as *const Expr as usize, Arc::as_ptr(dict) as usize);
        if let Some((_, mask)) = self.masks.get(&key) {
            return Arc::clone(mask);
        }
        let bits: Vec<bool> = dict.iter().map(pred).collect();
        let uniform = match bits.first() {
            Some(&first) if bits.iter().all(|&b| b == first) => Some(first),
            _ => None,
        };
        let mut trues = bits.iter().enumerate().filter(|(_, &b)| b).map(|(i, _)| i);
        let single = match (trues.next(), trues.next()) {
            (Some(only), None) => u32::try_from(only).ok(),
            _ => None,
        };
        let mask = Arc::new(DictMask {
            bits,
            uniform,
            single,
        });
        self.masks
            .insert(key, (Arc::clone(dict), Arc::clone(&mask)));
        mask
    }

    fn compare<'b>(
        &mut self,
        expr: &Expr,
        op: CmpOp,
        l: &Vector<'b>,
        r: &Vector<'b>,
        n: usize,
    ) -> Vector<'b> {
        if matches!(l, Vector::Const(Scalar::Null)) || matches!(r, Vector::Const(Scalar::Null)) {
            return Vector::Const(Scalar::Null);
        }
        // Column against a string literal: decide per dictionary entry.
        match (l, r) {
            (Vector::Str { dict, .. }, Vector::Const(Scalar::Str(lit))) => {
                let lit = Arc::clone(lit);
                let mask =
                    self.dict_mask(expr, dict, |s| op.holds(s.as_bytes().cmp(lit.as_bytes())));
                return apply_mask(l, &mask, false);
            }
            (Vector::Const(Scalar::Str(lit)), Vector::Str { dict, .. }) => {
                let lit = Arc::clone(lit);
                let mask =
                    self.dict_mask(expr, dict, |s| op.holds(lit.as_bytes().cmp(s.as_bytes())));
                return apply_mask(r, &mask, false);
            }
            _ => {}
        }
        let is_str =
            |v: &Vector<'_>| matches!(v, Vector::Str { .. } | Vector::Const(Scalar::Str(_)));
        if is_str(l) || is_str(r) {
            let mut values = vec![false; n];
            let mut validity = vec![true; n];
            for i in 0..n {
                match (l.str_at(i), r.str_at(i)) {
                    (Some(a), Some(b)) => values[i] = op.holds(a.as_bytes().cmp(b.as_bytes())),
                    _ => validity[i] = false,
                }
            }
            return bool_vector(values, Some(validity));
        }
        let floaty =
            |v: &Vector<'_>| matches!(v, Vector::Float { .. } | Vector::Const(Scalar::Float(_)));
        if floaty(l) || floaty(r) {
            let (a, av) = l.floats(n);
            let (b, bv) = r.floats(n);
            let values = float_compare(op, &a, &b);
            return bool_vector(values, and_validity(av.as_deref(), bv.as_deref()));
        }
        // Column against an integer-like constant: compare in place, no broadcast vectors.
        let constant = |v: &Vector<'_>| match v {
            Vector::Const(Scalar::Int(c)) => Some(*c),
            Vector::Const(Scalar::Bool(b)) => Some(i64::from(*b)),
            _ => None,
        };
        match (l, r, constant(l), constant(r)) {
            (Vector::Int { values, validity }, _, None, Some(c)) => {
                return bool_vector(int_compare_const(op, values, c), validity_of(validity));
            }
            (_, Vector::Int { values, validity }, Some(c), None) => {
                return bool_vector(
                    int_compare_const(op.flipped(), values, c),
                    validity_of(validity),
                );
            }
            (Vector::Bool { values, validity }, _, None, Some(c)) => {
                let hits = values
                    .iter()
                    .map(|&b| op.holds(i64::from(b).cmp(&c)))
                    .collect();
                return bool_vector(hits, validity_of(validity));
            }
            _ => {}
        }
        let (a, av) = l.ints(n);
        let (b, bv) = r.ints(n);
        let values = int_compare(op, &a, &b);
        bool_vector(values, and_validity(av.as_deref(), bv.as_deref()))
    }
}

fn bool_vector<'b>(values: Vec<bool>, validity: Option<Vec<bool>>) -> Vector<'b> {
    let validity = validity.filter(|v| v.iter().any(|ok| !ok));
    Vector::Bool {
        values: Cow::Owned(values),
        validity: validity.map(Cow::Owned),
    }
}

fn int_compare(op: CmpOp, a: &[i64], b: &[i64]) -> Vec<bool> {
    let zip = a.iter().zip(b);
    match op {
        CmpOp::Eq => zip.map(|(x, y)| x == y).collect(),
        CmpOp::NotEq => zip.map(|(x, y)| x != y).collect(),
        CmpOp::Lt => zip.map(|(x, y)| x < y).collect(),
        CmpOp::LtEq => zip.map(|(x, y)| x <= y).collect(),
        CmpOp::Gt => zip.map(|(x, y)| x > y).collect(),
        CmpOp::GtEq => zip.map(|(x, y)| x >= y).collect(),
    }
}

fn validity_of(v: &Option<Cow<'_, [bool]>>) -> Option<Vec<bool>> {
    v.as_deref().map(<[bool]>::to_vec)
}

fn int_compare_const(op: CmpOp, a: &[i64], c: i64) -> Vec<bool> {
    let it = a.iter();
    match op {
        CmpOp::Eq => it.map(|&x| x == c).collect(),
        CmpOp::NotEq => it.map(|&x| x != c).collect(),
        CmpOp::Lt => it.map(|&x| x < c).collect(),
        CmpOp::LtEq => it.map(|&x| x <= c).collect(),
        CmpOp::Gt => it.map(|&x| x > c).collect(),
        CmpOp::GtEq => it.map(|&x| x >= c).collect(),
    }
}

fn float_compare(op: CmpOp, a: &[f64], b: &[f64]) -> Vec<bool> {
    let zip = a.iter().zip(b);
    match op {
        CmpOp::Eq => zip.map(|(x, y)| x == y).collect(),
        CmpOp::NotEq => zip.map(|(x, y)| x != y).collect(),
        CmpOp::Lt => zip.map(|(x, y)| x < y).collect(),
        CmpOp::LtEq => zip.map(|(x, y)| x <= y).collect(),
        CmpOp::Gt => zip.map(|(x, y)| x > y).collect(),
        CmpOp::GtEq => zip.map(|(x, y)| x >= y).collect(),
    }
}

/// Rows of a string vector looked up in a per-code mask.
fn apply_mask<'b>(v: &Vector<'b>, mask: &DictMask, negated: bool) -> Vector<'b> {
    match v {
        Vector::Str {
            codes, validity, ..
        } => match (mask.uniform, validity) {
            (Some(b), None) => Vector::Const(Scalar::Bool(b != negated)),
            _ => Vector::Bool {
                values: Cow::Owned(
                    codes
                        .iter()
                        // a null row's code points nowhere (an all-null column has an empty
                        // dictionary); its value is masked by `validity`
                        .map(|&c| mask.bits.get(c as usize).copied().unwrap_or(false) != negated)
                        .collect(),
                ),
                validity: validity.clone(),
            },
        },
        _ => Vector::Const(Scalar::Null),
    }
}

/// Fallback: a predicate evaluated on each row's scalar; `None` is a null result.
fn per_row<'b>(v: &Vector<'_>, n: usize, f: impl Fn(&Scalar) -> Option<bool>) -> Vector<'b> {
    let mut values = vec![false; n];
    let mut validity = vec![true; n];
    for i in 0..n {
        match f(&v.scalar(i)) {
            Some(b) if v.is_valid(i) => values[i] = b,
            _ => validity[i] = false,
        }
    }
    bool_vector(values, Some(validity))
}

fn time_fn<'b>(f: TimeFn, x: &Vector<'_>, n: usize) -> Vector<'b> {
    let map = |v: i64| time_value(f, v);
    if let Vector::Const(c) = x {
        return Vector::Const(match c {
            Scalar::Int(v) => Scalar::Int(map(*v)),
            _ => Scalar::Null,
        });
    }
    let (values, validity) = x.ints(n);
    Vector::Int {
        values: Cow::Owned(values.iter().map(|&v| map(v)).collect()),
        validity: validity.map(|c| Cow::Owned(c.into_owned())),
    }
}

fn arith<'b>(op: ArithOp, float: bool, a: &Vector<'_>, b: &Vector<'_>, n: usize) -> Vector<'b> {
    if float {
        let (x, xv) = a.floats(n);
        let (y, yv) = b.floats(n);
        let values: Vec<f64> = x
            .iter()
            .zip(y.iter())
            .map(|(&p, &q)| match op {
                ArithOp::Add => p + q,
                ArithOp::Sub => p - q,
                ArithOp::Mul => p * q,
                ArithOp::Div => p / q,
                ArithOp::Mod => p % q,
            })
            .collect();
        Vector::Float {
            values: Cow::Owned(values),
            validity: and_validity(xv.as_deref(), yv.as_deref()).map(Cow::Owned),
        }
    } else {
        let (x, xv) = a.ints(n);
        let (y, yv) = b.ints(n);
        let mut validity = and_validity(xv.as_deref(), yv.as_deref());
        let mut values = vec![0i64; n];
        for i in 0..n {
            let (p, q) = (x[i], y[i]);
            values[i] = match op {
                ArithOp::Add => p.wrapping_add(q),
                ArithOp::Sub => p.wrapping_sub(q),
                ArithOp::Mul => p.wrapping_mul(q),
                ArithOp::Div | ArithOp::Mod => {
                    if q == 0 {
                        validity.get_or_insert_with(|| vec![true; n])[i] = false;
                        0
                    } else if op == ArithOp::Div {
                        p.wrapping_div(q)
                    } else {
                        p.wrapping_rem(q)
                    }
                }
            };
        }
        Vector::Int {
            values: Cow::Owned(values),
            validity: validity.map(Cow::Owned),
        }
    }
}

/// Three-valued AND/OR.
fn kleene<'b>(is_and: bool, l: Vector<'b>, r: Vector<'b>, n: usize) -> Vector<'b> {
    // A constant side decides (AND false, OR true) or drops out (AND true, OR false).
    let (l, r) = match (l, r) {
        (Vector::Const(Scalar::Bool(b)), other) | (other, Vector::Const(Scalar::Bool(b))) => {
            if b != is_and {
                return Vector::Const(Scalar::Bool(b));
            }
            if matches!(other, Vector::Bool { .. } | Vector::Const(_)) {
                return other;
            }
            (Vector::Const(Scalar::Bool(b)), other)
        }
        pair => pair,
    };
    if let (
        Vector::Bool {
            values: a,
            validity: None,
        },
        Vector::Bool {
            values: b,
            validity: None,
        },
    ) = (&l, &r)
    {
        let values: Vec<bool> = if is_and {
            a.iter().zip(b.iter()).map(|(x, y)| x & y).collect()
        } else {
            a.iter().zip(b.iter()).map(|(x, y)| x | y).collect()
        };
        return Vector::Bool {
            values: Cow::Owned(values),
            validity: None,
        };
    }
    let (a, av) = l.ints(n);
    let (b, bv) = r.ints(n);
    let mut values = vec![false; n];
    let mut validity = vec![true; n];
    for i in 0..n {
        let x = av.as_ref().is_none_or(|v| v[i]).then_some(a[i] != 0);
        let y = bv.as_ref().is_none_or(|v| v[i]).then_some(b[i] != 0);
        let out = if is_and {
            match (x, y) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            }
        } else {
            match (x, y) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            }
        };
        match out {
            Some(v) => values[i] = v,
            None => validity[i] = false,
        }
    }
    bool_vector(values, Some(validity))
}
