//! Encoding side of the segment writer: row order, and per column chunk the payload (validity +
//! the smallest encoding of the values) with its zone.

use super::writer::SortOrder;
use super::Zone;
use crate::column::{ColumnBatch, ColumnVec};
use crate::encoding::{self, bitpack, dictionary, plain, rle, IntEncoding};
use crate::row::put_varint;
use crate::schema::Schema;

/// Per-column state for writing: the sorted dictionary and remapped codes of `Str` columns.
pub(super) struct StrColumn {
    pub sorted: dictionary::SortedDict,
}

/// The order in which rows are stored, as indexes into the batch.
pub(super) fn row_order(
    schema: &Schema,
    batch: &ColumnBatch,
    sort: SortOrder,
    str_columns: &[Option<StrColumn>],
) -> Vec<u32> {
    let mut order: Vec<u32> = (0..batch.row_count as u32).collect();
    let time_col = &batch.columns[schema.time_column];
    let ts = |row: usize| match time_col {
        ColumnVec::Int { values, .. } if !time_col.is_null(row) => values[row],
        _ => i64::MIN,
    };
    match sort {
        SortOrder::AsGiven => {}
        SortOrder::Time => order.sort_by_cached_key(|&row| ts(row as usize)),
        SortOrder::GroupThenTime { group } => {
            let (Some(ColumnVec::Str { codes, .. }), Some(Some(str_col))) =
                (batch.columns.get(group), str_columns.get(group))
            else {
                order.sort_by_key(|&row| ts(row as usize));
                return order;
            };
            let group_col = &batch.columns[group];
            let remap = &str_col.sorted.remap;
            let group_of =
                |row: usize| (!group_col.is_null(row)).then(|| remap[codes[row] as usize]);
            order = group_then_time(batch.row_count, str_col.sorted.dict.len(), group_of, ts);
        }
    }
    order
}

/// The `GroupThenTime` order of `rows` rows: by (first timestamp of the row's group, group,
/// timestamp, row); a row without a group (`group_of` is `None`) sorts as (its timestamp,
/// after every group of that timestamp, its timestamp, row). Groups are codes below `groups`.
///
/// Equal to sorting every row by that 4-tuple, without the O(n log n) sort of 32-byte keys:
/// the groups (and group-less rows) are sorted among themselves, each group gets its slots,
/// rows are placed in row order, and only a group whose timestamps are out of order is sorted
/// (stably, by timestamp). Rows arrive mostly in time order, so that sort is rare.
fn group_then_time(
    rows: usize,
    groups: usize,
    group_of: impl Fn(usize) -> Option<u32>,
    ts: impl Fn(usize) -> i64,
) -> Vec<u32> {
    let mut first_ts = vec![i64::MAX; groups];
    let mut count = vec![0u32; groups];
    let mut group_rows: Vec<u32> = Vec::with_capacity(rows);
    let mut ungrouped = 0usize;
    for row in 0..rows {
        match group_of(row) {
            Some(g) => {
                let g = g as usize;
                first_ts[g] = first_ts[g].min(ts(row));
                count[g] += 1;
                group_rows.push(g as u32);
            }
            None => {
                ungrouped += 1;
                group_rows.push(u32::MAX);
            }
        }
    }
    // (first timestamp, group or u64::MAX, row of a group-less row): the tuple order on these
    // items is the rows' order on their groups, since a group and a group-less row never tie.
    let mut items: Vec<(i64, u64, u32)> = Vec::with_capacity(groups.min(rows) + ungrouped);
    for (g, &n) in count.iter().enumerate() {
        if n > 0 {
            items.push((first_ts[g], g as u64, 0));
        }
    }
    for (row, &g) in group_rows.iter().enumerate() {
        if g == u32::MAX {
            items.push((ts(row), u64::MAX, row as u32));
        }
    }
    items.sort_unstable();
    // slot of each group's first row; a group-less row is placed as its item comes
    let mut order = vec![0u32; rows];
    let mut start = vec![0u32; groups];
    let mut next = 0u32;
    for &(_, g, row) in &items {
        if g == u64::MAX {
            order[next as usize] = row;
            next += 1;
        } else {
            start[g as usize] = next;
            next += count[g as usize];
        }
    }
    let mut fill = start.clone();
    for (row, &g) in group_rows.iter().enumerate() {
        if g != u32::MAX {
            order[fill[g as usize] as usize] = row as u32;
            fill[g as usize] += 1;
        }
    }
    for (g, &n) in count.iter().enumerate() {
        if n > 1 {
            let slice = &mut order[start[g] as usize..(start[g] + n) as usize];
            if slice
                .windows(2)
                .any(|w| ts(w[0] as usize) > ts(w[1] as usize))
            {
                // stable: equal timestamps keep row order
                slice.sort_by_key(|&row| ts(row as usize));
            }
        }
    }
    order
}

/// Run lengths of the segment's group column (the `GroupThenTime` column) in one chunk.
pub(super) struct GroupRuns {
    pub column: usize,
    pub runs: Vec<u32>,
}

/// Values (0 at null rows) and presence of an Int/Bool/Str column over `rows`, `Str` as codes
/// of the segment dictionary. Floats yield nothing.
pub(super) fn int_like_values(
    col: &ColumnVec,
    str_col: Option<&StrColumn>,
    rows: &[u32],
) -> (Vec<i64>, Vec<bool>) {
    let gathered = gather(col, str_col, rows);
    (gathered.row_values, gathered.present)
}

/// A column over the rows of one chunk, in one pass.
struct Gathered {
    /// Every row's value, 0 at null rows (integer-like columns; empty for floats).
    row_values: Vec<i64>,
    present: Vec<bool>,
    /// The non-null values (integer-like columns; empty for floats).
    values: Vec<i64>,
}

fn gather(col: &ColumnVec, str_col: Option<&StrColumn>, rows: &[u32]) -> Gathered {
    fn with(rows: &[u32], validity: Option<&[bool]>, value: impl Fn(usize) -> i64) -> Gathered {
        let Some(validity) = validity else {
            // No nulls: plain loops the compiler can unroll.
            let row_values: Vec<i64> = rows.iter().map(|&r| value(r as usize)).collect();
            return Gathered {
                values: row_values.clone(),
                row_values,
                present: vec![true; rows.len()],
            };
        };
        let mut out = Gathered {
            row_values: Vec::with_capacity(rows.len()),
            present: Vec::with_capacity(rows.len()),
            values: Vec::with_capacity(rows.len()),
        };
        for &r in rows {
            let r = r as usize;
            let present = validity[r];
            out.present.push(present);
            if present {
                let v = value(r);
                out.row_values.push(v);
                out.values.push(v);
            } else {
                out.row_values.push(0);
            }
        }
        out
    }
    let validity = col.validity();
    match col {
        ColumnVec::Int { values, .. } => with(rows, validity, |r| values[r]),
        ColumnVec::Bool { values, .. } => with(rows, validity, |r| i64::from(values[r])),
        ColumnVec::Str { codes, .. } => match str_col {
            Some(s) => {
                let remap = &s.sorted.remap;
                with(rows, validity, |r| i64::from(remap[codes[r] as usize]))
            }
            None => with(rows, validity, |_| 0),
        },
        ColumnVec::Float { .. } => Gathered {
            row_values: Vec::new(),
            present: rows
                .iter()
                .map(|&r| validity.is_none_or(|v| v[r as usize]))
                .collect(),
            values: Vec::new(),
        },
    }
}

/// [`rle::per_run_values`] over gathered values: one value per run for a column whose non-null
/// values are constant within every run of `runs`; `None` if some run holds two different values.
/// Runs without nulls are checked with a plain comparison loop.
fn per_run_values(runs: &[u32], row_values: &[i64], present: &[bool]) -> Option<Vec<i64>> {
    let mut out = Vec::with_capacity(runs.len());
    let mut start = 0;
    for &len in runs {
        let end = start + len as usize;
        let (values, present) = (row_values.get(start..end)?, &present[start..end]);
        if let (true, Some(&first)) = (present.iter().all(|&p| p), values.first()) {
            if values.iter().any(|&v| v != first) {
                return None;
            }
            out.push(first);
        } else {
            let mut run_value = None;
            for (&v, _) in values.iter().zip(present).filter(|(_, &p)| p) {
                match run_value {
                    Some(existing) if existing != v => return None,
                    _ => run_value = Some(v),
                }
            }
            out.extend(run_value);
        }
        start = end;
    }
    Some(out)
}

/// Appends the values section for integer-like values: the smallest integer encoding, or group
/// runs when the column is constant within each run of the group column and that is smaller.
///
/// `values` are the non-null values; `row_values` and `present` cover every row of the chunk.
pub(super) fn encode_int_values(
    values: &[i64],
    row_values: &[i64],
    present: &[bool],
    group: Option<&GroupRuns>,
    out: &mut Vec<u8>,
) -> Option<Vec<u8>> {
    let prefix_len = out.len();
    let (plain_choice, plain_body_len) = encoding::smallest_int_encoding(values);
    let plain_len = 1 + plain_body_len;
    let mut chosen: (IntEncoding, Vec<i64>) = (plain_choice, Vec::new());
    let mut header = Vec::new();
    if let Some(group) = group {
        if let Some(per_run) = per_run_values(&group.runs, row_values, present) {
            let (choice, body_len) = encoding::smallest_int_encoding(&per_run);
            let mut group_header = vec![rle::GROUP_RUNS_TAG];
            put_varint(&mut group_header, group.column as u64);
            if group_header.len() + 1 + body_len < plain_len {
                header = group_header;
                chosen = (choice, per_run);
            }
        }
    }
    let inner: &[i64] = if header.is_empty() { values } else { &chosen.1 };
    out.extend_from_slice(&header);
    chosen.0.encode(inner, out);
    // A byte-aligned frame-of-reference variant; the block writer keeps whichever compresses
    // smaller.
    if chosen.0 != IntEncoding::FrameOfReference {
        return None;
    }
    let mut alternative = out[..prefix_len].to_vec();
    alternative.extend_from_slice(&header);
    alternative.push(IntEncoding::FrameOfReference as u8);
    bitpack::encode_for_byte_aligned(inner, &mut alternative).then_some(alternative)
}

/// Appends the payload of one column over `rows` and returns (null count, zone, an alternative
/// payload with byte-aligned values that may compress better).
///
/// ```text
/// payload := flags:u8 [validity bitmap, if flags & 1] values     values cover non-null rows only
/// ```
pub(super) fn encode_column_chunk(
    col: &ColumnVec,
    str_col: Option<&StrColumn>,
    rows: &[u32],
    group: Option<&GroupRuns>,
    out: &mut Vec<u8>,
) -> (u64, Option<Zone>, Option<Vec<u8>>) {
    let Gathered {
        row_values,
        present,
        values: vals,
    } = gather(col, str_col, rows);
    let null_count = present.iter().filter(|&&p| !p).count() as u64;
    if null_count > 0 {
        out.push(1);
        plain::encode_bitmap(&present, out);
    } else {
        out.push(0);
    }
    if let ColumnVec::Float { values, .. } = col {
        let vals: Vec<f64> = rows
            .iter()
            .zip(&present)
            .filter(|(_, &p)| p)
            .map(|(&r, _)| values[r as usize])
            .collect();
        encoding::encode_floats(&vals, out);
        let zone = (!vals.is_empty()).then(|| Zone::Float {
            min: vals.iter().copied().fold(f64::NAN, f64::min),
            max: vals.iter().copied().fold(f64::NAN, f64::max),
        });
        return (null_count, zone, None);
    }
    let alternative = encode_int_values(&vals, &row_values, &present, group, out);
    let zone = min_max(&vals).map(|(min, max)| match col {
        ColumnVec::Bool { .. } => Zone::Bool {
            min: min == 1,
            max: max == 1,
        },
        ColumnVec::Str { .. } => Zone::Str {
            min_code: min as u32,
            max_code: max as u32,
        },
        _ => Zone::Int { min, max },
    });
    (null_count, zone, alternative)
}

pub(super) fn min_max(values: &[i64]) -> Option<(i64, i64)> {
    let first = *values.first()?;
    Some(
        values
            .iter()
            .fold((first, first), |(lo, hi), &v| (lo.min(v), hi.max(v))),
    )
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The order `group_then_time` must produce: every row keyed by the full 4-tuple.
    fn group_then_time_by_sorting(groups: &[Option<u32>], ts: &[i64]) -> Vec<u32> {
        let mut first_ts = vec![i64::MAX; 64];
        for (row, g) in groups.iter().enumerate() {
            if let Some(g) = g {
                first_ts[*g as usize] = first_ts[*g as usize].min(ts[row]);
            }
        }
        let mut keyed: Vec<(i64, u64, i64, u32)> = (0..ts.len())
            .map(|r| match groups[r] {
                Some(g) => (first_ts[g as usize], u64::from(g), ts[r], r as u32),
                None => (ts[r], u64::MAX, ts[r], r as u32),
            })
            .collect();
        keyed.sort_unstable();
        keyed.into_iter().map(|k| k.3).collect()
    }

    proptest! {
        #[test]
        fn group_then_time_is_the_sort_by_the_full_key(
            rows in proptest::collection::vec(
                (proptest::option::weighted(0.9, 0u32..64), -5i64..40),
                0..300,
            ),
            sorted_ts in any::<bool>(),
        ) {
            let groups: Vec<Option<u32>> = rows.iter().map(|r| r.0).collect();
            let mut ts: Vec<i64> = rows.iter().map(|r| r.1).collect();
            if sorted_ts {
                ts.sort_unstable();
            }
            let order = group_then_time(ts.len(), 64, |r| groups[r], |r| ts[r]);
            prop_assert_eq!(order, group_then_time_by_sorting(&groups, &ts));
        }

        #[test]
        fn per_run_values_match_the_generic_check(
            runs in proptest::collection::vec(1u32..5, 0..20),
            seed in proptest::collection::vec((0i64..3, any::<bool>()), 100),
        ) {
            let rows: usize = runs.iter().map(|&r| r as usize).sum();
            let row_values: Vec<i64> = (0..rows).map(|r| seed[r % 100].0).collect();
            let present: Vec<bool> = (0..rows).map(|r| seed[r % 100].1).collect();
            let expected = rle::per_run_values(&runs, |r| present[r].then_some(row_values[r]));
            prop_assert_eq!(per_run_values(&runs, &row_values, &present), expected);
            let all = vec![true; rows];
            let expected = rle::per_run_values(&runs, |r| Some(row_values[r]));
            prop_assert_eq!(per_run_values(&runs, &row_values, &all), expected);
            // Constant within runs: always found.
            let mut constant = Vec::with_capacity(rows);
            for (i, &len) in runs.iter().enumerate() {
                constant.extend(std::iter::repeat_n(i as i64, len as usize));
            }
            let expected = rle::per_run_values(&runs, |r| Some(constant[r]));
            prop_assert!(expected.is_some());
            prop_assert_eq!(per_run_values(&runs, &constant, &all), expected);
        }
    }
}
