//! Run-length encoding for integers: pays on sorted or low-cardinality columns (a session's
//! rows, a constant `site`, mostly-equal flags).
//!
//! ```text
//! rle := run_count:varint run_count × (value:zigzag-varint length:varint)   length >= 1
//! ```

use super::delta::varint_len;
use super::DecodeError;
use crate::row::{get_varint, put_varint, unzigzag, zigzag};

fn runs(values: &[i64]) -> impl Iterator<Item = (i64, usize)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let &v = values.get(i)?;
        let start = i;
        while values.get(i) == Some(&v) {
            i += 1;
        }
        Some((v, i - start))
    })
}

pub fn rle_len(values: &[i64]) -> usize {
    let mut count = 0;
    let mut len = 0;
    for (v, run) in runs(values) {
        count += 1;
        len += varint_len(zigzag(v)) + varint_len(run as u64);
    }
    len + varint_len(count)
}

pub fn encode_rle(values: &[i64], out: &mut Vec<u8>) {
    put_varint(out, runs(values).count() as u64);
    for (v, run) in runs(values) {
        put_varint(out, zigzag(v));
        put_varint(out, run as u64);
    }
}

/// Longest run [`decode_rle`] writes as one fixed-size block.
const SHORT_RUN: usize = 4;

pub fn decode_rle(bytes: &[u8], n: usize) -> Result<Vec<i64>, DecodeError> {
    let mut pos = 0;
    let count = varint(bytes, &mut pos).ok_or(DecodeError("bad run count"))?;
    if count > n as u64 {
        return Err(DecodeError("more runs than values"));
    }
    // room for one short run's fixed-size write past the end: no reallocation, no zero fill
    let mut out = Vec::with_capacity(n + SHORT_RUN);
    for _ in 0..count {
        let v = unzigzag(varint(bytes, &mut pos).ok_or(DecodeError("bad run value"))?);
        let run = varint(bytes, &mut pos).ok_or(DecodeError("bad run length"))?;
        if run == 0 || run > (n - out.len()) as u64 {
            return Err(DecodeError("run length out of range"));
        }
        let end = out.len() + run as usize;
        if run as usize <= SHORT_RUN {
            // per-session columns are mostly runs of a few rows: one fixed-size copy instead
            // of a loop whose trip count changes every run
            out.extend_from_slice(&[v; SHORT_RUN]);
            out.truncate(end);
        } else {
            out.extend(std::iter::repeat_n(v, run as usize));
        }
    }
    if out.len() != n {
        return Err(DecodeError("runs do not add up to value count"));
    }
    if pos != bytes.len() {
        return Err(DecodeError("trailing bytes after runs"));
    }
    Ok(out)
}

/// [`get_varint`] with the one-byte case (small values, short runs) inline.
#[inline(always)]
fn varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    match bytes.get(*pos) {
        Some(&b) if b < 0x80 => {
            *pos += 1;
            Some(u64::from(b))
        }
        _ => get_varint(bytes, pos),
    }
}

/// Tag of the group-runs encoding in a column payload's values section. It is not a plain
/// integer encoding: decoding it needs the run lengths of another column of the same chunk.
///
/// ```text
/// group_runs := 5 group_column:varint ints      one value per group run with >= 1 non-null row
/// ```
/// A group run is a maximal range of rows over which the group column (the column the segment is
/// sorted by, e.g. `session_id`) has the same value (or is null throughout). Session-level
/// attributes (country, device, browser…) are constant within a session's run, so they cost one
/// value per session and share the session column's run boundaries instead of storing their own.
pub const GROUP_RUNS_TAG: u8 = 5;

/// Run lengths of a column over all rows: a run ends where the value or its nullness changes.
pub fn run_lengths(values: &[i64], validity: Option<&[bool]>) -> Vec<u32> {
    if validity.is_none() {
        // No nulls: a run ends where the value changes (one compare per row).
        let mut runs = Vec::new();
        let mut start = 0;
        for (row, pair) in values.windows(2).enumerate() {
            if pair[0] != pair[1] {
                runs.push((row + 1 - start) as u32);
                start = row + 1;
            }
        }
        if !values.is_empty() {
            runs.push((values.len() - start) as u32);
        }
        return runs;
    }
    let present = |row: usize| validity.is_none_or(|v| v[row]);
    let mut runs = Vec::new();
    let mut start = 0;
    for row in 1..=values.len() {
        let boundary = row == values.len()
            || present(row) != present(start)
            || (present(row) && values[row] != values[start]);
        if boundary {
            runs.push((row - start) as u32);
            start = row;
        }
    }
    runs
}

/// One value per run for a column whose non-null values are constant within every run of
/// `runs`; `None` if some run holds two different values. `value(row)` is `None` for null rows.
pub fn per_run_values(runs: &[u32], value: impl Fn(usize) -> Option<i64>) -> Option<Vec<i64>> {
    let mut out = Vec::with_capacity(runs.len());
    let mut row = 0;
    for &len in runs {
        let mut run_value: Option<i64> = None;
        for r in row..row + len as usize {
            if let Some(v) = value(r) {
                match run_value {
                    Some(existing) if existing != v => return None,
                    _ => run_value = Some(v),
                }
            }
        }
        out.extend(run_value);
        row += len as usize;
    }
    Some(out)
}

/// Number of per-run values a column with `validity` stores over `runs`.
pub fn runs_with_values(runs: &[u32], validity: Option<&[bool]>) -> usize {
    let Some(validity) = validity else {
        return runs.len();
    };
    let mut row = 0;
    let mut count = 0;
    for &len in runs {
        let end = row + len as usize;
        count += usize::from(validity.get(row..end).is_some_and(|v| v.iter().any(|&p| p)));
        row = end;
    }
    count
}

/// Expands per-run values to the values of the non-null rows, in row order.
pub fn expand_runs(
    runs: &[u32],
    validity: Option<&[bool]>,
    run_values: &[i64],
    rows: usize,
) -> Result<Vec<i64>, DecodeError> {
    if runs.iter().map(|&l| l as usize).sum::<usize>() != rows {
        return Err(DecodeError("group runs do not cover the chunk"));
    }
    let mut out = Vec::with_capacity(rows);
    let mut values = run_values.iter();
    let mut row = 0;
    for &len in runs {
        let end = row + len as usize;
        let present = validity.map_or(len as usize, |v| v[row..end].iter().filter(|&&p| p).count());
        if present > 0 {
            let &v = values
                .next()
                .ok_or(DecodeError("too few group run values"))?;
            out.resize(out.len() + present, v);
        }
        row = end;
    }
    if values.next().is_some() {
        return Err(DecodeError("too many group run values"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    /// The run lengths the general loop finds, row by row.
    fn runs_by_rows(values: &[i64], validity: Option<&[bool]>) -> Vec<u32> {
        let present = |r: usize| validity.is_none_or(|v| v[r]);
        let mut runs: Vec<u32> = Vec::new();
        for r in 0..values.len() {
            let same = r > 0
                && present(r) == present(r - 1)
                && (!present(r) || values[r] == values[r - 1]);
            match runs.last_mut() {
                Some(last) if same => *last += 1,
                _ => runs.push(1),
            }
        }
        runs
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn run_lengths_split_where_values_or_nullness_change(
            cells in proptest::collection::vec((0i64..3, any::<bool>()), 0..60),
            all_valid in any::<bool>(),
        ) {
            let values: Vec<i64> = cells.iter().map(|c| c.0).collect();
            let valid: Vec<bool> = cells.iter().map(|c| c.1 || all_valid).collect();
            let validity = (!all_valid).then_some(valid.as_slice());
            prop_assert_eq!(run_lengths(&values, validity), runs_by_rows(&values, validity));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn round_trips(runs in proptest::collection::vec((any::<i64>(), 1usize..20), 0..30)) {
            let values: Vec<i64> = runs.iter().flat_map(|&(v, n)| std::iter::repeat_n(v, n)).collect();
            let mut out = Vec::new();
            encode_rle(&values, &mut out);
            prop_assert_eq!(out.len(), rle_len(&values));
            prop_assert_eq!(decode_rle(&out, values.len()).unwrap(), values);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64), n in 0usize..100) {
            let _ = decode_rle(&bytes, n);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn group_runs_round_trip(
            groups in proptest::collection::vec((0i64..4, 1usize..6, any::<bool>(), 0i64..3), 0..30),
            nulls in proptest::collection::vec(any::<bool>(), 200),
        ) {
            // A group column of runs, and a column constant within each group (some nulls).
            let mut group = Vec::new();
            let mut column = Vec::new();
            for &(g, len, _, v) in &groups {
                group.extend(std::iter::repeat_n(g, len));
                column.extend(std::iter::repeat_n(v, len));
            }
            let rows = group.len();
            let validity: Vec<bool> = (0..rows).map(|r| !nulls[r]).collect();
            let runs = run_lengths(&group, None);
            prop_assert_eq!(runs.iter().map(|&l| l as usize).sum::<usize>(), rows);
            let values = per_run_values(&runs, |r| validity[r].then_some(column[r]));
            // Adjacent groups with the same id merge into one run and may disagree on the value.
            if let Some(values) = values {
                prop_assert_eq!(values.len(), runs_with_values(&runs, Some(&validity)));
                let present: Vec<i64> = (0..rows).filter(|&r| validity[r]).map(|r| column[r]).collect();
                prop_assert_eq!(expand_runs(&runs, Some(&validity), &values, rows).unwrap(), present);
            }
        }
    }

    #[test]
    fn group_runs_reject_mismatches() {
        let runs = run_lengths(&[1, 1, 2, 2, 2], Some(&[true, true, true, false, true]));
        assert_eq!(runs, [2, 1, 1, 1]);
        assert_eq!(per_run_values(&[2, 3], |r| Some([5, 5, 6, 6, 7][r])), None);
        assert_eq!(
            per_run_values(&[2, 3], |r| Some([5, 5, 6, 6, 6][r])),
            Some(vec![5, 6])
        );
        assert!(expand_runs(&[2, 3], None, &[5], 5).is_err());
        assert!(expand_runs(&[2, 3], None, &[5, 6, 7], 5).is_err());
        assert!(expand_runs(&[2, 2], None, &[5, 6], 5).is_err());
        assert_eq!(
            expand_runs(&[2, 3], None, &[5, 6], 5).unwrap(),
            [5, 5, 6, 6, 6]
        );
    }

    #[test]
    fn wrong_counts_are_rejected() {
        let mut out = Vec::new();
        encode_rle(&[5, 5, 5, 7], &mut out);
        assert!(decode_rle(&out, 3).is_err());
        assert!(decode_rle(&out, 5).is_err());
        assert_eq!(decode_rle(&out, 4).unwrap(), [5, 5, 5, 7]);
    }
}
