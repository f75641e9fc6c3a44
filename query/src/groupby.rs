//! Hash aggregation. Within a batch, rows are grouped on encoded keys (dictionary codes, raw
//! integers); each new local key is resolved once to the thread's global group, keyed by value,
//! so partial aggregates from batches with different dictionaries (segments, memtable) and from
//! different threads merge by string value.

use std::sync::Arc;

use ecomdash_storage::StrDict;
use rustc_hash::FxHashMap;

use crate::agg::{Acc, AggCtx};
use crate::compile::MAX_GROUP_KEYS;
use crate::eval::CodePredicate;
use crate::keys::{float_bits, KeyValue};
use crate::plan::AggCall;
use crate::types::Scalar;
use crate::vector::Vector;

/// Approximate bytes of one group's bookkeeping besides its accumulator slots.
const GROUP_OVERHEAD_BYTES: usize = 64;

type LocalKey = [u64; MAX_GROUP_KEYS + 1];

/// Group ids by key value: a single key is hashed as itself, so a group costs no key vector.
enum GroupIndex {
    /// One key: strings looked up by `&str` (no allocation for a known value), other values
    /// by themselves.
    One {
        strs: FxHashMap<Arc<str>, u32>,
        others: FxHashMap<KeyValue, u32>,
    },
    Many(FxHashMap<Vec<KeyValue>, u32>),
}

/// The condition of an `-If` aggregate over one batch.
pub(crate) enum Condition<'b> {
    /// A boolean vector over the batch's rows.
    Rows(Vector<'b>),
    /// A string predicate tested row by row through its dictionary mask.
    Codes(CodePredicate<'b>),
}

impl Condition<'_> {
    fn holds(&self, r: usize) -> bool {
        match self {
            Condition::Rows(v) => is_true_at(v, r),
            Condition::Codes(p) => p.holds(r),
        }
    }
}

pub(crate) struct PartialAgg {
    key_count: usize,
    groups: GroupIndex,
    /// Key values of every group, `key_count` per group, one flat vector.
    group_keys: Vec<KeyValue>,
    group_count: usize,
    accs: Vec<Acc>,
    ctx: AggCtx,
    /// Single string key: per dictionary, code → group id (`u32::MAX` = not yet resolved).
    code_groups: FxHashMap<usize, (Arc<StrDict>, Vec<u32>)>,
}

impl PartialAgg {
    pub(crate) fn new(key_count: usize, aggs: &[AggCall]) -> PartialAgg {
        let mut p = PartialAgg {
            key_count,
            groups: if key_count == 1 {
                GroupIndex::One {
                    strs: FxHashMap::default(),
                    others: FxHashMap::default(),
                }
            } else {
                GroupIndex::Many(FxHashMap::default())
            },
            group_keys: Vec::new(),
            group_count: 0,
            accs: aggs.iter().map(Acc::new).collect(),
            ctx: AggCtx::default(),
            code_groups: FxHashMap::default(),
        };
        if key_count == 0 {
            // Aggregates without GROUP BY return one row even over no input.
            p.group_of(Vec::new());
        }
        p
    }

    pub(crate) fn group_count(&self) -> usize {
        self.group_count
    }

    /// The group of a key, created if new. Returns (group id, bytes added).
    fn group_of(&mut self, mut key: Vec<KeyValue>) -> (u32, usize) {
        if let (GroupIndex::One { .. }, 1) = (&self.groups, key.len()) {
            if let Some(one) = key.pop() {
                return self.group_of_one(one);
            }
        }
        let GroupIndex::Many(map) = &mut self.groups else {
            debug_assert!(false, "a key of {} values for one group key", key.len());
            return (0, 0);
        };
        if let Some(&g) = map.get(&key) {
            return (g, 0);
        }
        let g = self.group_count as u32;
        let bytes = GROUP_OVERHEAD_BYTES + key.iter().map(|k| 48 + k.heap_bytes()).sum::<usize>();
        self.group_keys.extend(key.iter().cloned());
        map.insert(key, g);
        (g, bytes + self.grow_accs())
    }

    /// [`Self::group_of`] for a single group key, without a key vector.
    fn group_of_one(&mut self, key: KeyValue) -> (u32, usize) {
        let GroupIndex::One { strs, others } = &mut self.groups else {
            return self.group_of(vec![key]);
        };
        let found = match &key {
            KeyValue::Str(s) => strs.get(s.as_ref()),
            other => others.get(other),
        };
        if let Some(&g) = found {
            return (g, 0);
        }
        let g = self.group_count as u32;
        let bytes = GROUP_OVERHEAD_BYTES + 48 + key.heap_bytes();
        match &key {
            KeyValue::Str(s) => strs.insert(Arc::clone(s), g),
            other => others.insert(other.clone(), g),
        };
        self.group_keys.push(key);
        (g, bytes + self.grow_accs())
    }

    /// The group of a single string key, allocating only for a new group.
    fn group_of_str(&mut self, key: &str) -> (u32, usize) {
        if let GroupIndex::One { strs, .. } = &self.groups {
            if let Some(&g) = strs.get(key) {
                return (g, 0);
            }
        }
        self.group_of_one(KeyValue::Str(Arc::from(key)))
    }

    fn grow_accs(&mut self) -> usize {
        self.group_count += 1;
        let mut bytes = 0;
        for acc in &mut self.accs {
            bytes += acc.grow(self.group_count);
        }
        bytes
    }

    /// Aggregates the selected rows of one batch. Returns bytes added to this state.
    pub(crate) fn add_batch(
        &mut self,
        keys: &[Vector<'_>],
        args: &[Vec<Vector<'_>>],
        conditions: &[Option<Condition<'_>>],
        sel: &[u32],
        n: usize,
    ) -> usize {
        let (gids, mut bytes) = self.group_ids(keys, sel);
        // One group for the whole batch: no keys, or keys the unit's statistics fixed.
        let uniform = keys
            .iter()
            .all(|k| matches!(k, Vector::Const(_)))
            .then(|| gids.first().copied())
            .flatten();
        for ((acc, acc_args), condition) in self.accs.iter_mut().zip(args).zip(conditions) {
            match condition {
                None | Some(Condition::Rows(Vector::Const(Scalar::Bool(true)))) => {
                    bytes += acc.update(acc_args, sel, &gids, uniform, n, &mut self.ctx)
                }
                Some(c) => {
                    // `-If`: only the selected rows where the condition is true.
                    match (&mut *acc, c, uniform) {
                        (
                            Acc::CountRows(counts),
                            Condition::Rows(Vector::Bool { values, validity }),
                            _,
                        ) => {
                            count_if(counts, values, validity.as_deref(), sel, &gids, uniform);
                            continue;
                        }
                        (Acc::CountRows(counts), Condition::Codes(p), Some(g)) => {
                            counts[g as usize] += p.count(sel) as i64;
                            continue;
                        }
                        _ => {}
                    }
                    let mut rows = Vec::with_capacity(sel.len());
                    let mut groups = Vec::with_capacity(sel.len());
                    for (&r, &g) in sel.iter().zip(&gids) {
                        if c.holds(r as usize) {
                            rows.push(r);
                            groups.push(g);
                        }
                    }
                    bytes += acc.update(acc_args, &rows, &groups, uniform, n, &mut self.ctx);
                }
            }
        }
        bytes
    }

    fn group_ids(&mut self, keys: &[Vector<'_>], sel: &[u32]) -> (Vec<u32>, usize) {
        let mut bytes = 0;
        if self.key_count == 0 {
            return (vec![0; sel.len()], 0);
        }
        if keys.iter().all(|k| matches!(k, Vector::Const(_))) {
            // every row in one group, known without looking at the rows
            let key = keys
                .iter()
                .map(|k| KeyValue::from_scalar(&k.scalar(0)))
                .collect();
            let (g, b) = self.group_of(key);
            return (vec![g; sel.len()], bytes + b);
        }
        if let [Vector::Str {
            dict,
            codes,
            validity,
        }] = keys
        {
            let ptr = Arc::as_ptr(dict) as usize;
            let mut map = match self.code_groups.remove(&ptr) {
                Some((_, map)) => map,
                None => {
                    bytes += dict.len() * 4;
                    vec![u32::MAX; dict.len()]
                }
            };
            let mut null_group = None;
            let mut gids = Vec::with_capacity(sel.len());
            for &r in sel {
                let r = r as usize;
                let g = if validity.as_ref().is_none_or(|v| v[r]) {
                    let code = codes[r] as usize;
                    if map[code] == u32::MAX {
                        let (g, b) = self.group_of_str(dict.get(codes[r]));
                        bytes += b;
                        map[code] = g;
                    }
                    map[code]
                } else {
                    *null_group.get_or_insert_with(|| {
                        let (g, b) = self.group_of_one(KeyValue::Null);
                        bytes += b;
                        g
                    })
                };
                gids.push(g);
            }
            self.code_groups.insert(ptr, (Arc::clone(dict), map));
            return (gids, bytes);
        }
        if let Some(domains) = dense_domains(keys, sel) {
            return self.group_ids_dense(keys, sel, bytes, &domains);
        }
        // Local keys sized to the key count, so the common one- and two-key cases hash less.
        match keys.len() {
            1 => self.group_ids_by(keys, sel, bytes, |r| {
                let k = &keys[0];
                (k.is_valid(r).then(|| encode(k, r)), 0u8)
            }),
            2 => self.group_ids_by(keys, sel, bytes, |r| {
                let (a, b) = (&keys[0], &keys[1]);
                (
                    a.is_valid(r).then(|| encode(a, r)),
                    b.is_valid(r).then(|| encode(b, r)),
                )
            }),
            _ => self.group_ids_by(keys, sel, bytes, |r| {
                let mut encoded: LocalKey = [0; MAX_GROUP_KEYS + 1];
                for (i, k) in keys.iter().enumerate() {
                    if k.is_valid(r) {
                        encoded[i] = encode(k, r);
                    } else {
                        encoded[MAX_GROUP_KEYS] |= 1 << i;
                    }
                }
                encoded
            }),
        }
    }

    /// Group ids through a dense per-batch array indexed by the keys' combined position in their
    /// (small) domains: no hashing per row.
    fn group_ids_dense(
        &mut self,
        keys: &[Vector<'_>],
        sel: &[u32],
        mut bytes: usize,
        domains: &[Domain],
    ) -> (Vec<u32>, usize) {
        let size: usize = domains.iter().map(|d| d.size).product();
        let mut map = vec![u32::MAX; size];
        let mut gids = Vec::with_capacity(sel.len());
        for &r in sel {
            let r = r as usize;
            let mut index = 0usize;
            for (k, d) in keys.iter().zip(domains) {
                index = index * d.size + d.position(k, r);
            }
            if map[index] == u32::MAX {
                let key = keys
                    .iter()
                    .map(|k| KeyValue::from_scalar(&k.scalar(r)))
                    .collect();
                let (g, b) = self.group_of(key);
                bytes += b;
                map[index] = g;
            }
            gids.push(map[index]);
        }
        (gids, bytes)
    }

    /// Group ids through a per-batch map from an encoded local key to the group.
    fn group_ids_by<K: std::hash::Hash + Eq>(
        &mut self,
        keys: &[Vector<'_>],
        sel: &[u32],
        mut bytes: usize,
        local_key: impl Fn(usize) -> K,
    ) -> (Vec<u32>, usize) {
        let mut local: FxHashMap<K, u32> = FxHashMap::default();
        let mut gids = Vec::with_capacity(sel.len());
        for &r in sel {
            let r = r as usize;
            let encoded = local_key(r);
            let g = match local.get(&encoded) {
                Some(&g) => g,
                None => {
                    let key = keys
                        .iter()
                        .map(|k| KeyValue::from_scalar(&k.scalar(r)))
                        .collect();
                    let (g, b) = self.group_of(key);
                    bytes += b;
                    local.insert(encoded, g);
                    g
                }
            };
            gids.push(g);
        }
        (gids, bytes)
    }

    /// Folds another thread's partial state into this one.
    pub(crate) fn merge(&mut self, other: PartialAgg) {
        let mut map = Vec::with_capacity(other.group_count);
        if other.key_count == 0 {
            map.extend((0..other.group_count).map(|_| 0));
        } else {
            for key in other.group_keys.chunks_exact(other.key_count) {
                map.push(self.group_of(key.to_vec()).0);
            }
        }
        for (mine, theirs) in self.accs.iter_mut().zip(other.accs) {
            mine.merge(theirs, &map);
        }
    }

    /// One row per group: key values, then aggregate results.
    /// Whether some accumulator holds dictionary codes not yet resolved to strings.
    pub(crate) fn has_pending(&self) -> bool {
        self.accs.iter().any(Acc::has_pending)
    }

    /// Resolves pending dictionary codes (hashing their strings), as merging would.
    pub(crate) fn flush_pending(&mut self) {
        for acc in &mut self.accs {
            acc.flush_pending();
        }
    }

    pub(crate) fn finish(mut self) -> Vec<Vec<Scalar>> {
        let mut rows = Vec::with_capacity(self.group_count);
        for g in 0..self.group_count {
            let key = &self.group_keys[g * self.key_count..(g + 1) * self.key_count];
            let mut row: Vec<Scalar> = key.iter().map(KeyValue::to_scalar).collect();
            for acc in &mut self.accs {
                row.push(acc.finish(g));
            }
            rows.push(row);
        }
        rows
    }
}

/// Largest combined key domain (product of per-key domain sizes) grouped through a dense array.
const DENSE_GROUP_SLOTS: usize = 1 << 16;

/// One key's values within a batch: positions `0..size-1` for values (offset by `min`), the last
/// position for null.
struct Domain {
    min: i64,
    /// Distance between consecutive values (1, or a time unit for time buckets).
    step: i64,
    size: usize,
}

/// Steps tried for integer keys whose range is too wide for a dense array: the buckets of
/// `toDate`-free time functions (`toStartOfHour`, `toStartOfMinute`, whole seconds).
const TIME_STEPS: [i64; 4] = [
    crate::types::MICROS_PER_DAY,
    crate::types::MICROS_PER_HOUR,
    crate::types::MICROS_PER_MINUTE,
    crate::types::MICROS_PER_SECOND,
];

impl Domain {
    fn position(&self, v: &Vector<'_>, r: usize) -> usize {
        if !v.is_valid(r) {
            return self.size - 1;
        }
        match v {
            Vector::Str { codes, .. } => codes[r] as usize,
            Vector::Int { values, .. } => ((values[r] - self.min) / self.step) as usize,
            Vector::Bool { values, .. } => usize::from(values[r]),
            _ => self.size - 1,
        }
    }
}

/// Per-key domains when every key is a string (codes), a bool, or an int whose selected values
/// span a small range, and their product is small (at most [`DENSE_GROUP_SLOTS`], and a few
/// slots per selected row).
fn dense_domains(keys: &[Vector<'_>], sel: &[u32]) -> Option<Vec<Domain>> {
    // The array is filled per batch: keep it within a few slots per selected row.
    let limit = DENSE_GROUP_SLOTS.min((sel.len() * 4).max(256));
    let mut domains = Vec::with_capacity(keys.len());
    let mut product = 1usize;
    for k in keys {
        let d = match k {
            Vector::Str { dict, .. } => Domain {
                min: 0,
                step: 1,
                size: dict.len() + 1,
            },
            Vector::Bool { .. } => Domain {
                min: 0,
                step: 1,
                size: 3,
            },
            // one value for the whole batch (a key the unit's statistics fixed)
            Vector::Const(_) => Domain {
                min: 0,
                step: 1,
                size: 1,
            },
            Vector::Int { values, validity } => {
                let (mut lo, mut hi) = (i64::MAX, i64::MIN);
                for &r in sel {
                    let r = r as usize;
                    if validity.as_ref().is_none_or(|v| v[r]) {
                        lo = lo.min(values[r]);
                        hi = hi.max(values[r]);
                    }
                }
                if lo > hi {
                    Domain {
                        min: 0,
                        step: 1,
                        size: 1,
                    }
                } else {
                    let span = hi.checked_sub(lo)?;
                    let fits = |step: i64| {
                        (span / step)
                            .checked_add(2)
                            .and_then(|s| usize::try_from(s).ok())
                            .filter(|&s| s <= limit)
                    };
                    let step = if fits(1).is_some() {
                        1
                    } else {
                        // the widest time unit every selected value is a whole multiple of
                        let on_grid = |step: i64| {
                            sel.iter().all(|&r| {
                                let r = r as usize;
                                validity.as_ref().is_some_and(|v| !v[r])
                                    || (values[r] - lo) % step == 0
                            })
                        };
                        TIME_STEPS
                            .into_iter()
                            .find(|&step| fits(step).is_some() && on_grid(step))?
                    };
                    Domain {
                        min: lo,
                        step,
                        size: fits(step)?,
                    }
                }
            }
            _ => return None,
        };
        product = product.checked_mul(d.size)?;
        if product > limit {
            return None;
        }
        domains.push(d);
    }
    Some(domains)
}

/// `countIf`: adds the selected rows where the condition is true (and not null).
fn count_if(
    counts: &mut [i64],
    values: &[bool],
    validity: Option<&[bool]>,
    sel: &[u32],
    gids: &[u32],
    uniform: Option<u32>,
) {
    match (uniform, validity) {
        (Some(g), None) => {
            let hits: usize = sel.iter().map(|&r| usize::from(values[r as usize])).sum();
            counts[g as usize] += hits as i64;
        }
        (Some(g), Some(valid)) => {
            let hits: usize = sel
                .iter()
                .map(|&r| usize::from(values[r as usize] & valid[r as usize]))
                .sum();
            counts[g as usize] += hits as i64;
        }
        (None, _) => {
            for (&r, &g) in sel.iter().zip(gids) {
                let r = r as usize;
                let hit = values[r] && validity.is_none_or(|v| v[r]);
                counts[g as usize] += i64::from(hit);
            }
        }
    }
}

fn is_true_at(v: &Vector<'_>, r: usize) -> bool {
    match v {
        Vector::Bool { values, .. } => values[r] && v.is_valid(r),
        Vector::Const(Scalar::Bool(b)) => *b,
        _ => false,
    }
}

/// A row's key part within one batch: equal values give equal encodings (codes are per
/// dictionary, and one batch has one dictionary per column).
fn encode(v: &Vector<'_>, r: usize) -> u64 {
    match v {
        Vector::Int { values, .. } => values[r] as u64,
        Vector::Float { values, .. } => float_bits(values[r]),
        Vector::Bool { values, .. } => u64::from(values[r]),
        Vector::Str { codes, .. } => u64::from(codes[r]),
        Vector::Const(_) => 0,
    }
}
