//! Aggregate accumulators, stored column-wise: one vector per aggregate, indexed by group id, so
//! each update is a tight loop over (selected row, group id) pairs.

use std::sync::Arc;

use ecomdash_storage::StrDict;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::funnel::{funnel_level, FunnelEvents};
use crate::hll::{hash_str, Hll};
use crate::kernels::{
    distinct_update, hash128_str, quantile, sum_f64, sum_f64_at, sum_i64, value_hash, PendingCodes,
    DISTINCT_ENTRY_BYTES,
};
use crate::plan::{AggCall, AggFunc};
use crate::types::{DataType, Scalar};
use crate::vector::Vector;

/// Per-thread caches shared by all accumulators: per-dictionary string hashes for `uniq`.
#[derive(Default)]
pub(crate) struct AggCtx {
    str_hashes: FxHashMap<usize, (Arc<StrDict>, Arc<Vec<u64>>)>,
}

impl AggCtx {
    fn hashes(&mut self, dict: &Arc<StrDict>) -> Arc<Vec<u64>> {
        let key = Arc::as_ptr(dict) as usize;
        let entry = self.str_hashes.entry(key).or_insert_with(|| {
            let hashes: Vec<u64> = dict.iter().map(hash_str).collect();
            (Arc::clone(dict), Arc::new(hashes))
        });
        Arc::clone(&entry.1)
    }
}

pub(crate) enum Acc {
    CountRows(Vec<i64>),
    Count(Vec<i64>),
    SumInt {
        sums: Vec<i64>,
        seen: Vec<bool>,
    },
    SumFloat {
        sums: Vec<f64>,
        seen: Vec<bool>,
    },
    Avg {
        sums: Vec<f64>,
        counts: Vec<u64>,
    },
    /// Min or max of int-like and bool values (`ty` says how to print).
    ExtremeInt {
        best: Vec<Option<i64>>,
        max: bool,
        ty: DataType,
    },
    ExtremeFloat {
        best: Vec<Option<f64>>,
        max: bool,
    },
    ExtremeStr {
        best: Vec<Option<Arc<str>>>,
        max: bool,
    },
    Distinct {
        sets: Vec<FxHashSet<u128>>,
        pending: PendingCodes,
    },
    Uniq {
        sketches: Vec<Hll>,
        pending: PendingCodes,
    },
    Quantile {
        level: f64,
        values: Vec<Vec<f64>>,
    },
    Funnel {
        window: i64,
        steps: usize,
        events: Vec<FunnelEvents>,
    },
}

impl Acc {
    pub(crate) fn new(call: &AggCall) -> Acc {
        let arg_ty = call.args.first().map(|a| a.ty);
        match &call.func {
            AggFunc::CountRows => Acc::CountRows(Vec::new()),
            AggFunc::Count => Acc::Count(Vec::new()),
            AggFunc::Sum if call.ty == DataType::Float => Acc::SumFloat {
                sums: Vec::new(),
                seen: Vec::new(),
            },
            AggFunc::Sum => Acc::SumInt {
                sums: Vec::new(),
                seen: Vec::new(),
            },
            AggFunc::Avg => Acc::Avg {
                sums: Vec::new(),
                counts: Vec::new(),
            },
            AggFunc::Min | AggFunc::Max => {
                let max = matches!(call.func, AggFunc::Max);
                match arg_ty {
                    Some(DataType::Float) => Acc::ExtremeFloat {
                        best: Vec::new(),
                        max,
                    },
                    Some(DataType::Str) => Acc::ExtremeStr {
                        best: Vec::new(),
                        max,
                    },
                    _ => Acc::ExtremeInt {
                        best: Vec::new(),
                        max,
                        ty: call.ty,
                    },
                }
            }
            AggFunc::CountDistinct => Acc::Distinct {
                sets: Vec::new(),
                pending: PendingCodes::default(),
            },
            AggFunc::Uniq => Acc::Uniq {
                sketches: Vec::new(),
                pending: PendingCodes::default(),
            },
            AggFunc::Quantile(level) => Acc::Quantile {
                level: *level,
                values: Vec::new(),
            },
            AggFunc::WindowFunnel { window } => Acc::Funnel {
                window: *window,
                steps: call.args.len().saturating_sub(1),
                events: Vec::new(),
            },
        }
    }

    /// Makes room for `groups` groups. Returns bytes added.
    pub(crate) fn grow(&mut self, groups: usize) -> usize {
        fn to<T: Clone>(v: &mut Vec<T>, n: usize, fill: T) -> usize {
            let added = n.saturating_sub(v.len());
            if added > 0 {
                v.resize(n, fill);
            }
            added * std::mem::size_of::<T>()
        }
        match self {
            Acc::CountRows(c) | Acc::Count(c) => to(c, groups, 0),
            Acc::SumInt { sums, seen } => to(sums, groups, 0) + to(seen, groups, false),
            Acc::SumFloat { sums, seen } => to(sums, groups, 0.0) + to(seen, groups, false),
            Acc::Avg { sums, counts } => to(sums, groups, 0.0) + to(counts, groups, 0),
            Acc::ExtremeInt { best, .. } => to(best, groups, None),
            Acc::ExtremeFloat { best, .. } => to(best, groups, None),
            Acc::ExtremeStr { best, .. } => to(best, groups, None),
            Acc::Distinct { sets, .. } => to(sets, groups, FxHashSet::default()),
            Acc::Uniq { sketches, .. } => to(sketches, groups, Hll::default()),
            Acc::Quantile { values, .. } => to(values, groups, Vec::new()),
            Acc::Funnel { events, .. } => to(events, groups, Vec::new()),
        }
    }

    /// Adds the selected rows `sel` (with group ids `gids`, parallel to `sel`). `args` are the
    /// evaluated arguments over the whole batch of `n` rows. Returns bytes added.
    /// `uniform` is the group of every row when the caller knows there is only one.
    pub(crate) fn update(
        &mut self,
        args: &[Vector<'_>],
        sel: &[u32],
        gids: &[u32],
        uniform: Option<u32>,
        n: usize,
        ctx: &mut AggCtx,
    ) -> usize {
        debug_assert_eq!(sel.len(), gids.len());
        let single_group_all_rows =
            sel.len() == n && uniform.map_or_else(|| gids.iter().all(|&g| g == 0), |g| g == 0);
        match self {
            Acc::CountRows(c) => {
                if c.len() == 1 {
                    c[0] += gids.len() as i64;
                } else if let Some(g) = uniform {
                    c[g as usize] += gids.len() as i64;
                } else {
                    for &g in gids {
                        c[g as usize] += 1;
                    }
                }
                0
            }
            Acc::Count(c) => {
                let v = &args[0];
                for (&r, &g) in sel.iter().zip(gids) {
                    c[g as usize] += i64::from(v.is_valid(r as usize));
                }
                0
            }
            Acc::SumInt { sums, seen } => {
                let (values, valid) = args[0].ints(n);
                if single_group_all_rows && valid.is_none() {
                    sums[0] = sums[0].wrapping_add(sum_i64(&values));
                    seen[0] |= n > 0;
                    return 0;
                }
                for (&r, &g) in sel.iter().zip(gids) {
                    let (r, g) = (r as usize, g as usize);
                    if valid.as_ref().is_none_or(|v| v[r]) {
                        sums[g] = sums[g].wrapping_add(values[r]);
                        seen[g] = true;
                    }
                }
                0
            }
            Acc::SumFloat { sums, seen } => {
                let (values, valid) = args[0].floats(n);
                if single_group_all_rows && valid.is_none() {
                    sums[0] += sum_f64(&values);
                    seen[0] |= n > 0;
                    return 0;
                }
                for (&r, &g) in sel.iter().zip(gids) {
                    let (r, g) = (r as usize, g as usize);
                    if valid.as_ref().is_none_or(|v| v[r]) {
                        sums[g] += values[r];
                        seen[g] = true;
                    }
                }
                0
            }
            Acc::Avg { sums, counts } => {
                let (values, valid) = args[0].floats(n);
                if let (Some(g), None) = (uniform, valid.as_ref()) {
                    // One group, no nulls: a sum in independent lanes instead of one chain.
                    let g = g as usize;
                    sums[g] += if sel.len() == n {
                        sum_f64(&values)
                    } else {
                        sum_f64_at(&values, sel)
                    };
                    counts[g] += sel.len() as u64;
                    return 0;
                }
                for (&r, &g) in sel.iter().zip(gids) {
                    let (r, g) = (r as usize, g as usize);
                    if valid.as_ref().is_none_or(|v| v[r]) {
                        sums[g] += values[r];
                        counts[g] += 1;
                    }
                }
                0
            }
            Acc::ExtremeInt { best, max, .. } => {
                let (values, valid) = args[0].ints(n);
                for (&r, &g) in sel.iter().zip(gids) {
                    let (r, g) = (r as usize, g as usize);
                    if valid.as_ref().is_none_or(|v| v[r]) {
                        let v = values[r];
                        let b = &mut best[g];
                        if b.is_none_or(|cur| if *max { v > cur } else { v < cur }) {
                            *b = Some(v);
                        }
                    }
                }
                0
            }
            Acc::ExtremeFloat { best, max } => {
                let (values, valid) = args[0].floats(n);
                for (&r, &g) in sel.iter().zip(gids) {
                    let (r, g) = (r as usize, g as usize);
                    if valid.as_ref().is_none_or(|v| v[r]) {
                        let v = values[r];
                        let b = &mut best[g];
                        if b.is_none_or(|cur| if *max { v > cur } else { v < cur }) {
                            *b = Some(v);
                        }
                    }
                }
                0
            }
            Acc::ExtremeStr { best, max } => {
                let mut added = 0;
                for (&r, &g) in sel.iter().zip(gids) {
                    if let Some(s) = args[0].str_at(r as usize) {
                        let b = &mut best[g as usize];
                        let better = b.as_ref().is_none_or(|cur| {
                            let ord = s.as_bytes().cmp(cur.as_bytes());
                            if *max {
                                ord.is_gt()
                            } else {
                                ord.is_lt()
                            }
                        });
                        if better {
                            added += s.len();
                            *b = Some(Arc::from(s));
                        }
                    }
                }
                added
            }
            Acc::Distinct { sets, pending } => match &args[0] {
                Vector::Str {
                    dict,
                    codes,
                    validity,
                } if sets.len() == 1 || uniform.is_some() => {
                    // Charge for the strings the marks will resolve to.
                    let group = uniform.unwrap_or(0);
                    pending.mark(group, dict, codes, validity.as_deref(), sel)
                        * DISTINCT_ENTRY_BYTES
                }
                v => distinct_update(sets, v, sel, gids),
            },
            Acc::Uniq { sketches, pending } => {
                let v = &args[0];
                if let (
                    Vector::Str {
                        dict,
                        codes,
                        validity,
                    },
                    1,
                ) = (v, sketches.len())
                {
                    return pending.mark(0, dict, codes, validity.as_deref(), sel);
                }
                if let (
                    Vector::Str {
                        dict,
                        codes,
                        validity,
                    },
                    Some(group),
                ) = (v, uniform)
                {
                    // One group for the batch (a day's chunk of a daily series): mark codes,
                    // hash each distinct string once when the sketches are needed.
                    return pending.mark(group, dict, codes, validity.as_deref(), sel);
                }
                let mut added = 0;
                let mut add = |g: usize, h: u64| {
                    let before = sketches[g].heap_bytes();
                    sketches[g].insert(h);
                    added += sketches[g].heap_bytes().saturating_sub(before);
                };
                match v {
                    Vector::Str {
                        dict,
                        codes,
                        validity,
                    } if uniform.is_some() => {
                        // One sketch for the batch (a day's chunk of a daily series): insert
                        // without per-row bookkeeping.
                        let hashes = ctx.hashes(dict);
                        let sketch = &mut sketches[uniform.unwrap_or(0) as usize];
                        let before = sketch.heap_bytes();
                        for &r in sel {
                            let r = r as usize;
                            if validity.as_ref().is_none_or(|v| v[r]) {
                                sketch.insert(hashes[codes[r] as usize]);
                            }
                        }
                        added += sketch.heap_bytes().saturating_sub(before);
                    }
                    Vector::Str {
                        dict,
                        codes,
                        validity,
                    } => {
                        // Few groups (hours of a day): mark (group, code) pairs and hash each
                        // distinct pair once when the sketches are needed.
                        if let Some(bytes) =
                            pending.mark_grouped(dict, codes, validity.as_deref(), sel, gids)
                        {
                            return bytes;
                        }
                        let hashes = ctx.hashes(dict);
                        for (&r, &g) in sel.iter().zip(gids) {
                            let r = r as usize;
                            if validity.as_ref().is_none_or(|v| v[r]) {
                                add(g as usize, hashes[codes[r] as usize]);
                            }
                        }
                    }
                    _ => {
                        for (&r, &g) in sel.iter().zip(gids) {
                            let r = r as usize;
                            if let Some(h) = value_hash(v, r) {
                                add(g as usize, h);
                            }
                        }
                    }
                }
                added
            }
            Acc::Quantile { values, .. } => {
                let (x, valid) = args[0].floats(n);
                let mut added = 0;
                for (&r, &g) in sel.iter().zip(gids) {
                    let r = r as usize;
                    if valid.as_ref().is_none_or(|v| v[r]) {
                        values[g as usize].push(x[r]);
                        added += 8;
                    }
                }
                added
            }
            Acc::Funnel { events, .. } => {
                let (ts, ts_valid) = args[0].ints(n);
                let conds: Vec<_> = args[1..].iter().map(|c| c.ints(n)).collect();
                let mut added = 0;
                for (&r, &g) in sel.iter().zip(gids) {
                    let r = r as usize;
                    if !ts_valid.as_ref().is_none_or(|v| v[r]) {
                        continue;
                    }
                    for (step, (values, valid)) in conds.iter().enumerate() {
                        if values[r] != 0 && valid.as_ref().is_none_or(|v| v[r]) {
                            events[g as usize].push((ts[r], step as u8 + 1));
                            added += 16;
                        }
                    }
                }
                added
            }
        }
    }

    /// Resolves codes collected per dictionary (single-group `count(DISTINCT)` and `uniq`) into
    /// group 0's set or sketch.
    pub(crate) fn flush_pending(&mut self) {
        match self {
            Acc::Distinct { sets, pending } => {
                let codes = pending.drain();
                if let [set] = sets.as_mut_slice() {
                    set.reserve(codes.len());
                }
                for (group, dict, code) in codes {
                    sets[group as usize].insert(hash128_str(dict.get(code)));
                }
            }
            Acc::Uniq { sketches, pending } => {
                for (group, dict, code) in pending.drain() {
                    sketches[group as usize].insert(hash_str(dict.get(code)));
                }
            }
            _ => {}
        }
    }

    /// Whether codes wait to be resolved by [`Acc::flush_pending`].
    pub(crate) fn has_pending(&self) -> bool {
        match self {
            Acc::Distinct { pending, .. } | Acc::Uniq { pending, .. } => !pending.is_empty(),
            _ => false,
        }
    }

    /// Folds `other` in; `map[g]` is this accumulator's group for `other`'s group `g`.
    pub(crate) fn merge(&mut self, mut other: Acc, map: &[u32]) {
        self.flush_pending();
        other.flush_pending();
        fn each<T>(mine: &mut [T], theirs: Vec<T>, map: &[u32], mut f: impl FnMut(&mut T, T)) {
            for (g, t) in theirs.into_iter().enumerate() {
                f(&mut mine[map[g] as usize], t);
            }
        }
        let pick_i = |max: bool| {
            move |a: &mut Option<i64>, b: Option<i64>| {
                if let Some(v) = b {
                    if a.is_none_or(|cur| if max { v > cur } else { v < cur }) {
                        *a = Some(v);
                    }
                }
            }
        };
        match (self, other) {
            (Acc::CountRows(a), Acc::CountRows(b)) | (Acc::Count(a), Acc::Count(b)) => {
                each(a, b, map, |x, y| *x += y)
            }
            (Acc::SumInt { sums, seen }, Acc::SumInt { sums: s2, seen: n2 }) => {
                each(sums, s2, map, |x, y| *x = x.wrapping_add(y));
                each(seen, n2, map, |x, y| *x |= y);
            }
            (Acc::SumFloat { sums, seen }, Acc::SumFloat { sums: s2, seen: n2 }) => {
                each(sums, s2, map, |x, y| *x += y);
                each(seen, n2, map, |x, y| *x |= y);
            }
            (
                Acc::Avg { sums, counts },
                Acc::Avg {
                    sums: s2,
                    counts: c2,
                },
            ) => {
                each(sums, s2, map, |x, y| *x += y);
                each(counts, c2, map, |x, y| *x += y);
            }
            (Acc::ExtremeInt { best, max, .. }, Acc::ExtremeInt { best: b2, .. }) => {
                each(best, b2, map, pick_i(*max))
            }
            (Acc::ExtremeFloat { best, max }, Acc::ExtremeFloat { best: b2, .. }) => {
                let max = *max;
                each(best, b2, map, |a, b| {
                    if let Some(v) = b {
                        if a.is_none_or(|cur| if max { v > cur } else { v < cur }) {
                            *a = Some(v);
                        }
                    }
                })
            }
            (Acc::ExtremeStr { best, max }, Acc::ExtremeStr { best: b2, .. }) => {
                let max = *max;
                each(best, b2, map, |a, b| {
                    if let Some(v) = b {
                        let better = a.as_ref().is_none_or(|cur| {
                            let ord = v.as_bytes().cmp(cur.as_bytes());
                            if max {
                                ord.is_gt()
                            } else {
                                ord.is_lt()
                            }
                        });
                        if better {
                            *a = Some(v);
                        }
                    }
                })
            }
            (Acc::Distinct { sets: a, .. }, Acc::Distinct { sets: b, .. }) => {
                each(a, b, map, |x, y| x.extend(y))
            }
            (Acc::Uniq { sketches: a, .. }, Acc::Uniq { sketches: b, .. }) => {
                each(a, b, map, |x, y| x.merge(&y))
            }
            (Acc::Quantile { values, .. }, Acc::Quantile { values: v2, .. }) => {
                each(values, v2, map, |x, y| x.extend(y))
            }
            (Acc::Funnel { events, .. }, Acc::Funnel { events: e2, .. }) => {
                each(events, e2, map, |x, y| x.extend(y))
            }
            _ => debug_assert!(false, "merging accumulators of different kinds"),
        }
    }

    /// The final value of group `g`.
    pub(crate) fn finish(&mut self, g: usize) -> Scalar {
        self.flush_pending();
        match self {
            Acc::CountRows(c) | Acc::Count(c) => Scalar::Int(c[g]),
            Acc::SumInt { sums, seen } => {
                if seen[g] {
                    Scalar::Int(sums[g])
                } else {
                    Scalar::Null
                }
            }
            Acc::SumFloat { sums, seen } => {
                if seen[g] {
                    Scalar::Float(sums[g])
                } else {
                    Scalar::Null
                }
            }
            Acc::Avg { sums, counts } => match counts[g] {
                0 => Scalar::Null,
                c => Scalar::Float(sums[g] / c as f64),
            },
            Acc::ExtremeInt { best, ty, .. } => match (best[g], *ty) {
                (None, _) => Scalar::Null,
                (Some(v), DataType::Bool) => Scalar::Bool(v != 0),
                (Some(v), _) => Scalar::Int(v),
            },
            Acc::ExtremeFloat { best, .. } => best[g].map_or(Scalar::Null, Scalar::Float),
            Acc::ExtremeStr { best, .. } => best[g].clone().map_or(Scalar::Null, Scalar::Str),
            Acc::Distinct { sets, .. } => Scalar::Int(sets[g].len() as i64),
            Acc::Uniq { sketches, .. } => Scalar::Int(sketches[g].estimate() as i64),
            Acc::Quantile { level, values } => quantile(&mut values[g], *level),
            Acc::Funnel {
                window,
                steps,
                events,
            } => Scalar::Int(funnel_level(&mut events[g], *steps, *window)),
        }
    }
}
