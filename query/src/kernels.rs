//! Per-row aggregate kernels: lane-parallel sums, quantile interpolation, value hashing for
//! `uniq`, and batch-deduplicated `count(DISTINCT)` inserts.

use std::sync::Arc;

use rustc_hash::FxHashSet;

use crate::hll::{hash_i64, hash_str};
use crate::keys::{float_bits, KeyValue};
use crate::types::Scalar;
use crate::vector::Vector;

/// Linear interpolation between the two closest ranks at `level * (n - 1)`.
pub(crate) fn quantile(values: &mut [f64], level: f64) -> Scalar {
    if values.is_empty() {
        return Scalar::Null;
    }
    values.sort_unstable_by(f64::total_cmp);
    let pos = level * (values.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let v = values[lo] + (pos - lo as f64) * (values[hi] - values[lo]);
    Scalar::Float(v)
}

pub(crate) const FLOAT_SALT: i64 = 0x2545_f491_4f6c_dd1d;

pub(crate) fn value_hash(v: &Vector<'_>, r: usize) -> Option<u64> {
    if !v.is_valid(r) {
        return None;
    }
    Some(match v {
        Vector::Int { values, .. } => hash_i64(values[r]),
        Vector::Float { values, .. } => hash_i64((float_bits(values[r]) as i64) ^ FLOAT_SALT),
        Vector::Bool { values, .. } => hash_i64(i64::from(values[r]) ^ 0x0b00_1ea0),
        Vector::Str { dict, codes, .. } => hash_str(dict.get(codes[r])),
        Vector::Const(c) => match c {
            Scalar::Str(s) => hash_str(s),
            other => hash_i64(KeyValue::from_scalar(other).int_like()),
        },
    })
}

pub(crate) fn distinct_update(
    sets: &mut [FxHashSet<KeyValue>],
    v: &Vector<'_>,
    sel: &[u32],
    gids: &[u32],
) -> usize {
    let mut added = 0;
    if let Vector::Str {
        dict,
        codes,
        validity,
    } = v
    {
        // Deduplicate (group, code) within the batch before touching strings.
        let mut seen: FxHashSet<(u32, u32)> = FxHashSet::default();
        for (&r, &g) in sel.iter().zip(gids) {
            let r = r as usize;
            if validity.as_ref().is_none_or(|v| v[r]) {
                seen.insert((g, codes[r]));
            }
        }
        for (g, code) in seen {
            let s = dict.get(code);
            let set = &mut sets[g as usize];
            if !set.contains(&KeyValue::Str(Arc::from(s))) {
                set.insert(KeyValue::Str(Arc::from(s)));
                added += s.len() + 48;
            }
        }
        return added;
    }
    for (&r, &g) in sel.iter().zip(gids) {
        let r = r as usize;
        if v.is_valid(r) && sets[g as usize].insert(KeyValue::from_scalar(&v.scalar(r))) {
            added += 32;
        }
    }
    added
}

/// Wrapping sum in eight independent lanes, shaped for auto-vectorization.
pub(crate) fn sum_i64(values: &[i64]) -> i64 {
    let mut lanes = [0i64; 8];
    let chunks = values.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..8 {
            lanes[i] = lanes[i].wrapping_add(c[i]);
        }
    }
    let mut total = rest.iter().fold(0i64, |a, &b| a.wrapping_add(b));
    for l in lanes {
        total = total.wrapping_add(l);
    }
    total
}

/// Float sum in four independent accumulators.
pub(crate) fn sum_f64(values: &[f64]) -> f64 {
    let mut lanes = [0f64; 4];
    let chunks = values.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..4 {
            lanes[i] += c[i];
        }
    }
    lanes.iter().sum::<f64>() + rest.iter().sum::<f64>()
}
