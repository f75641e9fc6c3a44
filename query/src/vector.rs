//! Evaluated expression vectors: borrowed straight from a [`ColumnBatch`] for column references,
//! owned for computed values, or a broadcast constant.

use std::borrow::Cow;
use std::sync::Arc;

use ecomdash_storage::{ColumnVec, StrDict};

use crate::types::Scalar;

#[derive(Clone, Debug)]
pub(crate) enum Vector<'a> {
    Int {
        values: Cow<'a, [i64]>,
        validity: Option<Cow<'a, [bool]>>,
    },
    Float {
        values: Cow<'a, [f64]>,
        validity: Option<Cow<'a, [bool]>>,
    },
    Bool {
        values: Cow<'a, [bool]>,
        validity: Option<Cow<'a, [bool]>>,
    },
    Str {
        dict: Arc<StrDict>,
        codes: Cow<'a, [u32]>,
        validity: Option<Cow<'a, [bool]>>,
    },
    Const(Scalar),
}

impl<'a> Vector<'a> {
    pub(crate) fn from_column(col: &'a ColumnVec) -> Vector<'a> {
        let v = |x: &'a Option<Vec<bool>>| x.as_deref().map(Cow::Borrowed);
        match col {
            ColumnVec::Int { values, validity } => Vector::Int {
                values: Cow::Borrowed(values),
                validity: v(validity),
            },
            ColumnVec::Float { values, validity } => Vector::Float {
                values: Cow::Borrowed(values),
                validity: v(validity),
            },
            ColumnVec::Bool { values, validity } => Vector::Bool {
                values: Cow::Borrowed(values),
                validity: v(validity),
            },
            ColumnVec::Str {
                dict,
                codes,
                validity,
            } => Vector::Str {
                dict: Arc::clone(dict),
                codes: Cow::Borrowed(codes),
                validity: v(validity),
            },
        }
    }

    pub(crate) fn validity(&self) -> Option<&[bool]> {
        match self {
            Vector::Int { validity, .. }
            | Vector::Float { validity, .. }
            | Vector::Bool { validity, .. }
            | Vector::Str { validity, .. } => validity.as_deref(),
            Vector::Const(_) => None,
        }
    }

    pub(crate) fn is_valid(&self, row: usize) -> bool {
        match self {
            Vector::Const(c) => !c.is_null(),
            _ => self.validity().is_none_or(|v| v[row]),
        }
    }

    /// The value at `row` as an owned scalar (allocates for strings: slow paths only).
    pub(crate) fn scalar(&self, row: usize) -> Scalar {
        if !self.is_valid(row) {
            return Scalar::Null;
        }
        match self {
            Vector::Int { values, .. } => Scalar::Int(values[row]),
            Vector::Float { values, .. } => Scalar::Float(values[row]),
            Vector::Bool { values, .. } => Scalar::Bool(values[row]),
            Vector::Str { dict, codes, .. } => Scalar::Str(Arc::from(dict.get(codes[row]))),
            Vector::Const(c) => c.clone(),
        }
    }

    /// The string at `row` without allocating, if this is a valid string value.
    pub(crate) fn str_at(&self, row: usize) -> Option<&str> {
        if !self.is_valid(row) {
            return None;
        }
        match self {
            Vector::Str { dict, codes, .. } => Some(dict.get(codes[row])),
            Vector::Const(Scalar::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// Values as `i64` (bools as 0/1) with validity, broadcasting constants to `len` rows.
    pub(crate) fn ints(&self, len: usize) -> (Cow<'_, [i64]>, Option<Cow<'_, [bool]>>) {
        match self {
            Vector::Int { values, validity } => (
                Cow::Borrowed(values.as_ref()),
                validity.as_deref().map(Cow::Borrowed),
            ),
            Vector::Bool { values, validity } => (
                Cow::Owned(values.iter().map(|&b| i64::from(b)).collect()),
                validity.as_deref().map(Cow::Borrowed),
            ),
            Vector::Float { values, validity } => (
                Cow::Owned(values.iter().map(|&f| f as i64).collect()),
                validity.as_deref().map(Cow::Borrowed),
            ),
            Vector::Str { .. } => (Cow::Owned(vec![0; len]), Some(Cow::Owned(vec![false; len]))),
            Vector::Const(c) => match c {
                Scalar::Int(v) => (Cow::Owned(vec![*v; len]), None),
                Scalar::Bool(b) => (Cow::Owned(vec![i64::from(*b); len]), None),
                Scalar::Float(f) => (Cow::Owned(vec![*f as i64; len]), None),
                Scalar::Null | Scalar::Str(_) => {
                    (Cow::Owned(vec![0; len]), Some(Cow::Owned(vec![false; len])))
                }
            },
        }
    }

    /// Values as `f64` with validity, broadcasting constants to `len` rows.
    pub(crate) fn floats(&self, len: usize) -> (Cow<'_, [f64]>, Option<Cow<'_, [bool]>>) {
        match self {
            Vector::Float { values, validity } => (
                Cow::Borrowed(values.as_ref()),
                validity.as_deref().map(Cow::Borrowed),
            ),
            Vector::Int { values, validity } => (
                Cow::Owned(values.iter().map(|&v| v as f64).collect()),
                validity.as_deref().map(Cow::Borrowed),
            ),
            Vector::Bool { values, validity } => (
                Cow::Owned(values.iter().map(|&b| f64::from(u8::from(b))).collect()),
                validity.as_deref().map(Cow::Borrowed),
            ),
            Vector::Str { .. } => (
                Cow::Owned(vec![0.0; len]),
                Some(Cow::Owned(vec![false; len])),
            ),
            Vector::Const(c) => match c.as_f64() {
                Some(f) => (Cow::Owned(vec![f; len]), None),
                None => (
                    Cow::Owned(vec![0.0; len]),
                    Some(Cow::Owned(vec![false; len])),
                ),
            },
        }
    }
}

/// Combines two validity masks (a row is valid when valid in both).
pub(crate) fn and_validity(a: Option<&[bool]>, b: Option<&[bool]>) -> Option<Vec<bool>> {
    match (a, b) {
        (None, None) => None,
        (Some(x), None) | (None, Some(x)) => Some(x.to_vec()),
        (Some(x), Some(y)) => Some(x.iter().zip(y).map(|(p, q)| *p && *q).collect()),
    }
}

/// The rows where a boolean vector is true (and not null), as a selection vector.
pub(crate) fn selection_of(v: &Vector<'_>, len: usize) -> Vec<u32> {
    match v {
        Vector::Bool { values, validity } => {
            let mut sel = vec![0u32; len];
            let mut n = 0usize;
            // Branch-free compaction: always write, advance only on a hit.
            match validity {
                None => {
                    for (i, &b) in values.iter().enumerate() {
                        sel[n] = i as u32;
                        n += usize::from(b);
                    }
                }
                Some(valid) => {
                    for (i, (&b, &ok)) in values.iter().zip(valid.iter()).enumerate() {
                        sel[n] = i as u32;
                        n += usize::from(b & ok);
                    }
                }
            }
            sel.truncate(n);
            sel
        }
        Vector::Const(Scalar::Bool(true)) => (0..len as u32).collect(),
        _ => Vec::new(),
    }
}
