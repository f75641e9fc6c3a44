//! Per-row aggregate kernels: lane-parallel sums, quantile interpolation, value hashing for
//! `uniq`, and batch-deduplicated `count(DISTINCT)` inserts.

use std::hash::Hasher;
use std::sync::Arc;

use ecomdash_storage::StrDict;
use rustc_hash::{FxHashMap, FxHashSet};
use siphasher::sip128::{Hasher128, SipHasher13};

use crate::hll::{hash_i64, hash_str};
use crate::keys::{float_bits, KeyValue};
use crate::types::Scalar;
use crate::vector::Vector;

/// Keeps the rows of `rows` for which `keep` is true, in order, without a branch per row
/// (always write, advance only on a hit): selections filtered by an irregular predicate made
/// `Vec::retain` mispredict about every other row.
pub(crate) fn compact(rows: &mut Vec<u32>, keep: impl Fn(usize) -> bool) {
    let mut k = 0usize;
    for i in 0..rows.len() {
        let r = rows[i];
        rows[k] = r;
        k += usize::from(keep(r as usize));
    }
    rows.truncate(k);
}

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
    sets: &mut [FxHashSet<u128>],
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
            if sets[g as usize].insert(hash128_str(dict.get(code))) {
                added += DISTINCT_ENTRY_BYTES;
            }
        }
        return added;
    }
    for (&r, &g) in sel.iter().zip(gids) {
        if let Some(key) = distinct_key(v, r as usize) {
            if sets[g as usize].insert(key) {
                added += DISTINCT_ENTRY_BYTES;
            }
        }
    }
    added
}

/// Approximate bytes one member of a distinct set costs (value plus hash table overhead).
pub(crate) const DISTINCT_ENTRY_BYTES: usize = 24;

/// 128-bit SipHash-1-3 of a string, as ClickHouse's `uniqExact` keeps for strings (one pass of
/// SipHash128, fixed keys). A collision needs on the order of 2^64 distinct strings.
pub(crate) fn hash128_str(s: &str) -> u128 {
    let mut h = SipHasher13::new_with_keys(0x5151_a7a7_0bad_cafe, 0x1357_9bdf_2468_ace0);
    h.write(s.as_bytes());
    h.finish128().into()
}

/// The member of a distinct set for a non-null value: numbers exactly (tagged by type), strings
/// by their 128-bit hash.
pub(crate) fn distinct_key(v: &Vector<'_>, r: usize) -> Option<u128> {
    if !v.is_valid(r) {
        return None;
    }
    let tagged = |tag: u128, bits: u64| (tag << 120) | u128::from(bits);
    Some(match v {
        Vector::Int { values, .. } => tagged(1, values[r] as u64),
        Vector::Float { values, .. } => tagged(2, float_bits(values[r])),
        Vector::Bool { values, .. } => tagged(3, u64::from(values[r])),
        Vector::Str { dict, codes, .. } => hash128_str(dict.get(codes[r])),
        Vector::Const(c) => match c {
            Scalar::Int(i) => tagged(1, *i as u64),
            Scalar::Float(f) => tagged(2, float_bits(*f)),
            Scalar::Bool(b) => tagged(3, u64::from(*b)),
            Scalar::Str(s) => hash128_str(s),
            Scalar::Null => return None,
        },
    })
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

/// [`sum_f64`] of the values at rows `sel`.
pub(crate) fn sum_f64_at(values: &[f64], sel: &[u32]) -> f64 {
    let mut lanes = [0f64; 4];
    let chunks = sel.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..4 {
            lanes[i] += values[c[i] as usize];
        }
    }
    lanes.iter().sum::<f64>() + rest.iter().map(|&r| values[r as usize]).sum::<f64>()
}

/// Per group: which codes of each dictionary were seen, as one flag per dictionary entry.
/// Marking is a store per row; strings are looked up once per distinct code when drained.
#[derive(Default)]
pub(crate) struct PendingCodes {
    /// (group, dictionary address) → the dictionary and its marked codes.
    by_dict: FxHashMap<(u32, usize), (Arc<StrDict>, Vec<bool>)>,
    /// Dictionary address → the dictionary and the marks of every group, group `g`'s code
    /// `c` at `g * dict.len() + c` (batches of several groups: hours of a day).
    grouped: FxHashMap<usize, (Arc<StrDict>, Vec<bool>)>,
}

/// Most flags (groups × dictionary entries) [`PendingCodes::mark_grouped`] keeps per
/// dictionary; beyond it, values go to their group one row at a time.
pub(crate) const MAX_GROUPED_MARKS: usize = 1 << 22;

impl PendingCodes {
    /// Marks the codes of the selected, non-null rows for `group`. Returns bytes added.
    pub(crate) fn mark(
        &mut self,
        group: u32,
        dict: &Arc<StrDict>,
        codes: &[u32],
        validity: Option<&[bool]>,
        sel: &[u32],
    ) -> usize {
        let mut added = 0;
        let (_, seen) = self
            .by_dict
            .entry((group, Arc::as_ptr(dict) as usize))
            .or_insert_with(|| {
                added = dict.len();
                (Arc::clone(dict), vec![false; dict.len()])
            });
        match validity {
            None => {
                for &r in sel {
                    seen[codes[r as usize] as usize] = true;
                }
            }
            Some(valid) => {
                for &r in sel {
                    let r = r as usize;
                    if valid[r] {
                        seen[codes[r] as usize] = true;
                    }
                }
            }
        }
        added
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_dict.is_empty() && self.grouped.is_empty()
    }

    /// Marks the codes of the selected, non-null rows for their groups (`gids[i]` is the
    /// group of `sel[i]`), when the groups' marks fit [`MAX_GROUPED_MARKS`]. Returns the bytes
    /// added, or `None` (nothing marked) when they would not fit.
    pub(crate) fn mark_grouped(
        &mut self,
        dict: &Arc<StrDict>,
        codes: &[u32],
        validity: Option<&[bool]>,
        sel: &[u32],
        gids: &[u32],
    ) -> Option<usize> {
        let len = dict.len();
        let groups = gids.iter().max().map_or(0, |&g| g as usize + 1);
        let (_, marks) = match self.grouped.get_mut(&(Arc::as_ptr(dict) as usize)) {
            Some(entry) => entry,
            None if groups.saturating_mul(len) <= MAX_GROUPED_MARKS => self
                .grouped
                .entry(Arc::as_ptr(dict) as usize)
                .or_insert_with(|| (Arc::clone(dict), Vec::new())),
            None => return None,
        };
        let needed = groups.saturating_mul(len);
        if needed > MAX_GROUPED_MARKS.max(marks.len()) {
            return None;
        }
        let added = needed.saturating_sub(marks.len());
        if added > 0 {
            // Group g's marks start at g * len: growing appends whole groups.
            marks.resize(needed, false);
        }
        for (&r, &g) in sel.iter().zip(gids) {
            let r = r as usize;
            if validity.is_none_or(|v| v[r]) {
                if let Some(m) = marks.get_mut(g as usize * len + codes[r] as usize) {
                    *m = true;
                }
            }
        }
        Some(added)
    }

    /// Every marked (group, dictionary, code), clearing the marks.
    pub(crate) fn drain(&mut self) -> Vec<(u32, Arc<StrDict>, u32)> {
        let mut out = Vec::new();
        for ((group, _), (dict, seen)) in self.by_dict.drain() {
            for (code, _) in seen.iter().enumerate().filter(|(_, &s)| s) {
                out.push((group, Arc::clone(&dict), code as u32));
            }
        }
        for (_, (dict, marks)) in self.grouped.drain() {
            let len = dict.len().max(1);
            for (i, _) in marks.iter().enumerate().filter(|(_, &s)| s) {
                out.push(((i / len) as u32, Arc::clone(&dict), (i % len) as u32));
            }
        }
        out
    }
}
