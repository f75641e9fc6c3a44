//! Delta and delta-of-delta encodings for integers (timestamps, ids, sorted codes).
//!
//! Arithmetic wraps, so every `i64` sequence round-trips, extremes included.
//!
//! ```text
//! delta := first:zigzag-varint min_delta:zigzag-varint width:u8 packed
//!          packed = (n-1) values (delta_i - min_delta) bit-packed at `width` bits
//! dod   := first:zigzag-varint (n-1) zigzag-varints of (delta_i - delta_{i-1}), delta_0 = 0
//! ```
//! An empty sequence encodes to zero bytes in both.

use super::{bitpack, DecodeError};
use crate::row::{get_varint, put_varint, unzigzag, zigzag};

fn deltas(values: &[i64]) -> impl Iterator<Item = i64> + '_ {
    values.windows(2).map(|w| w[1].wrapping_sub(w[0]))
}

/// (min delta, bit width) of the delta encoding of `values` (n >= 2).
fn delta_params(values: &[i64]) -> (i64, u8) {
    let mut min = i64::MAX;
    let mut max = i64::MIN;
    for d in deltas(values) {
        min = min.min(d);
        max = max.max(d);
    }
    if values.len() < 2 {
        return (0, 0);
    }
    (min, bitpack::width_for(max.wrapping_sub(min) as u64))
}

pub fn delta_len(values: &[i64]) -> usize {
    let Some(&first) = values.first() else {
        return 0;
    };
    let (min, width) = delta_params(values);
    varint_len(zigzag(first))
        + varint_len(zigzag(min))
        + 1
        + bitpack::packed_len(values.len() - 1, width)
}

pub fn encode_delta(values: &[i64], out: &mut Vec<u8>) {
    let Some(&first) = values.first() else {
        return;
    };
    let (min, width) = delta_params(values);
    put_varint(out, zigzag(first));
    put_varint(out, zigzag(min));
    out.push(width);
    bitpack::pack(
        deltas(values).map(|d| d.wrapping_sub(min) as u64),
        width,
        out,
    );
}

pub fn decode_delta(bytes: &[u8], n: usize) -> Result<Vec<i64>, DecodeError> {
    if n == 0 {
        return empty(bytes);
    }
    let mut pos = 0;
    let first = unzigzag(get_varint(bytes, &mut pos).ok_or(DecodeError("bad delta base"))?);
    let min = unzigzag(get_varint(bytes, &mut pos).ok_or(DecodeError("bad delta minimum"))?);
    let width = *bytes.get(pos).ok_or(DecodeError("truncated delta width"))?;
    let packed = bitpack::unpack(&bytes[pos + 1..], n - 1, width)?;
    let mut out = Vec::with_capacity(n);
    let mut prev = first;
    out.push(prev);
    for p in packed {
        prev = prev.wrapping_add(min.wrapping_add(p as i64));
        out.push(prev);
    }
    Ok(out)
}

pub fn dod_len(values: &[i64]) -> usize {
    let Some(&first) = values.first() else {
        return 0;
    };
    let mut len = varint_len(zigzag(first));
    let mut prev_delta = 0i64;
    for d in deltas(values) {
        len += varint_len(zigzag(d.wrapping_sub(prev_delta)));
        prev_delta = d;
    }
    len
}

pub fn encode_dod(values: &[i64], out: &mut Vec<u8>) {
    let Some(&first) = values.first() else {
        return;
    };
    put_varint(out, zigzag(first));
    let mut prev_delta = 0i64;
    for d in deltas(values) {
        put_varint(out, zigzag(d.wrapping_sub(prev_delta)));
        prev_delta = d;
    }
}

pub fn decode_dod(bytes: &[u8], n: usize) -> Result<Vec<i64>, DecodeError> {
    if n == 0 {
        return empty(bytes);
    }
    let mut pos = 0;
    let mut prev = unzigzag(get_varint(bytes, &mut pos).ok_or(DecodeError("bad dod base"))?);
    // Every value takes at least one byte, so a count larger than the input is corrupt.
    if n - 1 > bytes.len() - pos {
        return Err(DecodeError("dod data shorter than value count"));
    }
    let mut out = Vec::with_capacity(n);
    out.push(prev);
    let mut delta = 0i64;
    for _ in 1..n {
        let dod = unzigzag(get_varint(bytes, &mut pos).ok_or(DecodeError("bad dod varint"))?);
        delta = delta.wrapping_add(dod);
        prev = prev.wrapping_add(delta);
        out.push(prev);
    }
    if pos != bytes.len() {
        return Err(DecodeError("trailing bytes after dod values"));
    }
    Ok(out)
}

fn empty(bytes: &[u8]) -> Result<Vec<i64>, DecodeError> {
    if bytes.is_empty() {
        Ok(Vec::new())
    } else {
        Err(DecodeError("bytes present for an empty sequence"))
    }
}

pub fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    fn ints() -> impl Strategy<Value = Vec<i64>> {
        prop_oneof![
            proptest::collection::vec(any::<i64>(), 0..200),
            proptest::collection::vec(-1000i64..1000, 0..200),
            (
                any::<i64>(),
                proptest::collection::vec(0i64..5_000_000, 0..200)
            )
                .prop_map(|(start, gaps)| {
                    let mut t = start;
                    gaps.into_iter()
                        .map(|g| {
                            t = t.wrapping_add(g);
                            t
                        })
                        .collect()
                }),
            Just(vec![i64::MIN, i64::MAX, i64::MIN, 0, i64::MAX]),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn delta_round_trips(values in ints()) {
            let mut out = Vec::new();
            encode_delta(&values, &mut out);
            prop_assert_eq!(out.len(), delta_len(&values));
            prop_assert_eq!(decode_delta(&out, values.len()).unwrap(), values);
        }

        #[test]
        fn dod_round_trips(values in ints()) {
            let mut out = Vec::new();
            encode_dod(&values, &mut out);
            prop_assert_eq!(out.len(), dod_len(&values));
            prop_assert_eq!(decode_dod(&out, values.len()).unwrap(), values);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64), n in 0usize..100) {
            let _ = decode_delta(&bytes, n);
            let _ = decode_dod(&bytes, n);
        }
    }

    #[test]
    fn varint_len_matches_put_varint() {
        for v in [0u64, 1, 127, 128, 16383, 16384, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
        }
    }
}
