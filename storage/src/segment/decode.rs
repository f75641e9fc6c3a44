//! Decoding helpers of the segment reader: column payload framing (validity + values), building
//! column vectors from decoded integers, and concatenating chunks.

use std::sync::Arc;

use crate::column::{ColumnBatch, ColumnVec, StrDict};
use crate::encoding::{self, plain, DecodeError};
use crate::schema::ColumnType;

/// Splits a column payload (see the writer's `encode_column_chunk`) into the validity mask and
/// the values section, checking the null count against the footer.
pub(super) fn split_validity(
    raw: &[u8],
    rows: usize,
    null_count: u64,
) -> Result<(Option<Vec<bool>>, &[u8]), DecodeError> {
    let (bitmap, values) = split_bitmap(raw, rows, null_count)?;
    let validity = bitmap.map(|b| plain::decode_bitmap(b, rows)).transpose()?;
    Ok((validity, values))
}

/// [`split_validity`] without decoding the bitmap: `(bitmap, values)`, the bitmap `None` when
/// no row is null. The same checks (length, zero padding bits, null count).
pub(super) fn split_bitmap(
    raw: &[u8],
    rows: usize,
    null_count: u64,
) -> Result<(Option<&[u8]>, &[u8]), DecodeError> {
    let (&flags, rest) = raw.split_first().ok_or(DecodeError("empty column block"))?;
    let (bitmap, values) = match flags {
        0 => (None, rest),
        1 => {
            let len = rows.div_ceil(8);
            if rest.len() < len {
                return Err(DecodeError("validity bitmap truncated"));
            }
            let bitmap = &rest[..len];
            if let Some(&last) = bitmap.last().filter(|_| rows % 8 != 0) {
                if last >> (rows % 8) != 0 {
                    return Err(DecodeError("nonzero padding bits in bitmap"));
                }
            }
            (Some(bitmap), &rest[len..])
        }
        _ => return Err(DecodeError("unknown column block flags")),
    };
    let present = bitmap.map_or(rows, |b| {
        b.iter()
            .map(|byte| byte.count_ones() as usize)
            .sum::<usize>()
    });
    if (rows - present) as u64 != null_count || (bitmap.is_some() && null_count == 0) {
        return Err(DecodeError("null count differs from footer"));
    }
    Ok((bitmap, values))
}

/// A column decoded only at `rows` (ascending, each below `row_count`), for a scan that needs
/// a few rows of it: the values are read in place when their encoding allows random access
/// (plain, frame of reference), and every other row reads as null. `Ok(None)` when it does not
/// (sequential encodings, group runs, floats) or `rows` is not ascending: decode it all.
pub(super) fn sparse_column(
    ty: ColumnType,
    values: &[u8],
    present: usize,
    bitmap: Option<&[u8]>,
    row_count: usize,
    rows: &[u32],
    dict: Option<&Arc<StrDict>>,
) -> Result<Option<ColumnVec>, DecodeError> {
    let group_runs = values.first() == Some(&encoding::rle::GROUP_RUNS_TAG);
    if ty == ColumnType::Float || group_runs || !rows.windows(2).all(|w| w[0] < w[1]) {
        return Ok(None);
    }
    if rows.last().is_some_and(|&r| r as usize >= row_count) {
        return Err(DecodeError("row outside the chunk"));
    }
    let Some(at) = encoding::ints_at(values, present)? else {
        return Ok(None);
    };
    Ok(Some(match ty {
        ColumnType::Float => return Ok(None),
        ColumnType::Timestamp | ColumnType::Int => {
            let (values, validity) = gather(&at, bitmap, row_count, rows, 0, Ok)?;
            ColumnVec::Int {
                values,
                validity: Some(validity),
            }
        }
        ColumnType::Bool => {
            let (values, validity) = gather(&at, bitmap, row_count, rows, false, |v| match v {
                0 => Ok(false),
                1 => Ok(true),
                _ => Err(DecodeError("bool value other than 0 or 1")),
            })?;
            ColumnVec::Bool {
                values,
                validity: Some(validity),
            }
        }
        ColumnType::Str => {
            let dict = dict.ok_or(DecodeError("string column without dictionary"))?;
            let limit = dict.len() as u64;
            let (codes, validity) = gather(&at, bitmap, row_count, rows, 0u32, |c| {
                if (c as u64) < limit {
                    Ok(c as u32)
                } else {
                    Err(DecodeError("string code outside the dictionary"))
                }
            })?;
            ColumnVec::Str {
                dict: Arc::clone(dict),
                codes,
                validity: Some(validity),
            }
        }
    }))
}

/// The values at ascending `rows` (`fill` and invalid elsewhere): a row's value is the one at
/// its rank among the present rows, counted through the bitmap as the rows advance.
fn gather<T: Copy>(
    at: &encoding::IntsAt<'_>,
    bitmap: Option<&[u8]>,
    row_count: usize,
    rows: &[u32],
    fill: T,
    convert: impl Fn(i64) -> Result<T, DecodeError>,
) -> Result<(Vec<T>, Vec<bool>), DecodeError> {
    let mut values = vec![fill; row_count];
    let mut validity = vec![false; row_count];
    let (mut byte_at, mut rank_before) = (0usize, 0usize);
    for &r in rows {
        let r = r as usize;
        let index = match bitmap {
            None => r,
            Some(bits) => {
                let b = r / 8;
                while byte_at < b {
                    rank_before += bits[byte_at].count_ones() as usize;
                    byte_at += 1;
                }
                let byte = bits[b];
                let bit = r % 8;
                if byte >> bit & 1 == 0 {
                    continue;
                }
                rank_before + (byte & ((1u8 << bit) - 1)).count_ones() as usize
            }
        };
        values[r] = convert(at.get(index))?;
        validity[r] = true;
    }
    Ok((values, validity))
}

/// Builds an Int/Timestamp, Bool or Str column from decoded non-null integer values.
pub(super) fn int_column(
    ty: ColumnType,
    ints: Vec<i64>,
    validity: Option<Vec<bool>>,
    dict: Option<Arc<StrDict>>,
) -> Result<ColumnVec, DecodeError> {
    Ok(match ty {
        ColumnType::Float => return Err(DecodeError("float column holds integer values")),
        ColumnType::Timestamp | ColumnType::Int => ColumnVec::Int {
            values: expand(ints, validity.as_deref(), 0),
            validity,
        },
        ColumnType::Bool => {
            if ints.iter().any(|&v| v != 0 && v != 1) {
                return Err(DecodeError("bool value other than 0 or 1"));
            }
            let bools = ints.into_iter().map(|v| v == 1).collect();
            ColumnVec::Bool {
                values: expand(bools, validity.as_deref(), false),
                validity,
            }
        }
        ColumnType::Str => {
            let dict = dict.ok_or(DecodeError("string column without dictionary"))?;
            let limit = dict.len() as u64;
            // One pass: a negative code wraps to a huge u64, so one compare checks both ends.
            let mut worst = 0u64;
            let codes: Vec<u32> = ints
                .iter()
                .map(|&c| {
                    worst = worst.max(c as u64);
                    c as u32
                })
                .collect();
            if !ints.is_empty() && worst >= limit {
                return Err(DecodeError("string code outside the dictionary"));
            }
            ColumnVec::Str {
                dict,
                codes: expand(codes, validity.as_deref(), 0),
                validity,
            }
        }
    })
}

/// Spreads the values of non-null rows over all rows, `fill` at null rows.
pub(super) fn expand<T: Copy>(present: Vec<T>, validity: Option<&[bool]>, fill: T) -> Vec<T> {
    let Some(validity) = validity else {
        return present;
    };
    let mut values = present.into_iter();
    validity
        .iter()
        .map(|&valid| {
            if valid {
                values.next().unwrap_or(fill)
            } else {
                fill
            }
        })
        .collect()
}

pub(super) fn null_column(ty: ColumnType, rows: usize) -> ColumnVec {
    let validity = (rows > 0).then(|| vec![false; rows]);
    match ty {
        ColumnType::Timestamp | ColumnType::Int => ColumnVec::Int {
            values: vec![0; rows],
            validity,
        },
        ColumnType::Float => ColumnVec::Float {
            values: vec![0.0; rows],
            validity,
        },
        ColumnType::Bool => ColumnVec::Bool {
            values: vec![false; rows],
            validity,
        },
        ColumnType::Str => ColumnVec::Str {
            dict: Arc::new(StrDict::new()),
            codes: vec![0; rows],
            validity,
        },
    }
}

/// Appends `part`'s rows to `batch` (same columns; `Str` columns share one dictionary).
pub(super) fn append_batch(batch: &mut ColumnBatch, part: ColumnBatch) {
    let before = batch.row_count;
    for (dst, src) in batch.columns.iter_mut().zip(part.columns) {
        let src_validity = src.validity().map(<[bool]>::to_vec);
        let src_len = src.len();
        match (dst, src) {
            (ColumnVec::Int { values, validity }, ColumnVec::Int { values: v, .. }) => {
                values.extend(v);
                merge_validity(validity, before, src_validity, src_len);
            }
            (ColumnVec::Float { values, validity }, ColumnVec::Float { values: v, .. }) => {
                values.extend(v);
                merge_validity(validity, before, src_validity, src_len);
            }
            (ColumnVec::Bool { values, validity }, ColumnVec::Bool { values: v, .. }) => {
                values.extend(v);
                merge_validity(validity, before, src_validity, src_len);
            }
            (
                ColumnVec::Str {
                    codes, validity, ..
                },
                ColumnVec::Str { codes: c, .. },
            ) => {
                codes.extend(c);
                merge_validity(validity, before, src_validity, src_len);
            }
            _ => debug_assert!(false, "column types differ between chunks"),
        }
    }
    batch.row_count += part.row_count;
}

pub(super) fn merge_validity(
    dst: &mut Option<Vec<bool>>,
    before: usize,
    src: Option<Vec<bool>>,
    src_len: usize,
) {
    match (dst.as_mut(), src) {
        (None, None) => {}
        (Some(d), None) => d.extend(std::iter::repeat_n(true, src_len)),
        (None, Some(s)) => {
            let mut d = vec![true; before];
            d.extend(s);
            *dst = Some(d);
        }
        (Some(d), Some(s)) => d.extend(s),
    }
}
