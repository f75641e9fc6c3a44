//! Value encodings of the segment format, one file per encoding. The writer picks an encoding per
//! column chunk from the values' statistics (it computes the exact encoded size of each candidate
//! and keeps the smallest); the chosen encoding's tag is the first byte of the encoded values, so
//! readers need no side information except the value count.
//!
//! ```text
//! ints   := tag:u8 body        tag 0 plain, 1 frame-of-reference, 2 delta, 3 delta-of-delta, 4 rle
//! floats := tag:u8 body        tag 0 plain (f64 bits), 1 decimal (scale:u8 ints)
//! ```
//! Timestamps, integers, booleans (0/1) and dictionary codes are all `ints`.

pub mod bitpack;
pub mod decimal;
pub mod delta;
pub mod dictionary;
pub mod plain;
pub mod rle;

use std::fmt;

/// Why encoded bytes could not be decoded. The segment reader wraps it with file and offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Integer encoding tags, stable on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum IntEncoding {
    Plain = 0,
    FrameOfReference = 1,
    Delta = 2,
    DeltaOfDelta = 3,
    RunLength = 4,
}

impl IntEncoding {
    pub const ALL: [IntEncoding; 5] = [
        IntEncoding::RunLength,
        IntEncoding::FrameOfReference,
        IntEncoding::Delta,
        IntEncoding::DeltaOfDelta,
        IntEncoding::Plain,
    ];

    pub fn from_tag(tag: u8) -> Option<IntEncoding> {
        IntEncoding::ALL.into_iter().find(|e| *e as u8 == tag)
    }

    /// Exact size in bytes of the body of `values` in this encoding.
    pub fn encoded_len(self, values: &[i64]) -> usize {
        match self {
            IntEncoding::Plain => values.len() * 8,
            IntEncoding::FrameOfReference => bitpack::for_len(values),
            IntEncoding::Delta => delta::delta_len(values),
            IntEncoding::DeltaOfDelta => delta::dod_len(values),
            IntEncoding::RunLength => rle::rle_len(values),
        }
    }

    pub fn encode(self, values: &[i64], out: &mut Vec<u8>) {
        out.push(self as u8);
        match self {
            IntEncoding::Plain => plain::encode_u64s(values.iter().map(|&v| v as u64), out),
            IntEncoding::FrameOfReference => bitpack::encode_for(values, out),
            IntEncoding::Delta => delta::encode_delta(values, out),
            IntEncoding::DeltaOfDelta => delta::encode_dod(values, out),
            IntEncoding::RunLength => rle::encode_rle(values, out),
        }
    }
}

/// The integer encoding with the smallest encoded size for `values` (the first of
/// [`IntEncoding::ALL`] on a tie). The exact size of every candidate comes from one pass over the
/// values (the same sizes [`IntEncoding::encoded_len`] computes one encoding at a time).
pub fn choose_int_encoding(values: &[i64]) -> IntEncoding {
    smallest_int_encoding(values).0
}

/// [`choose_int_encoding`] with the size of the body in that encoding.
pub fn smallest_int_encoding(values: &[i64]) -> (IntEncoding, usize) {
    let lens = encoded_lens(values, false);
    let mut best = IntEncoding::Plain;
    let mut best_len = usize::MAX;
    for (encoding, len) in IntEncoding::ALL.into_iter().zip(lens) {
        if len < best_len {
            best = encoding;
            best_len = len;
        }
    }
    (best, best_len)
}

/// [`IntEncoding::encoded_len`] of every encoding, in the order of [`IntEncoding::ALL`]: the
/// value range (frame of reference), the delta range (delta) and the runs (run length) in one
/// pass. Delta of delta (a varint per value) takes a second pass, only when `exact` or when it can
/// win: it is at least one byte per value, so when another candidate is no longer than that, its
/// size is given as `usize::MAX` (it loses every comparison, as its exact size would).
fn encoded_lens(values: &[i64], exact: bool) -> [usize; 5] {
    use bitpack::{packed_len, width_for};
    use delta::varint_len;

    use crate::row::zigzag;

    let Some((&first, rest)) = values.split_first() else {
        // Every body is empty except run length's run count.
        return [varint_len(0), 0, 0, 0, 0];
    };
    let (mut min, mut max) = (first, first);
    let (mut delta_min, mut delta_max) = (i64::MAX, i64::MIN);
    let (mut runs, mut rle) = (0u64, 0usize);
    let (mut prev, mut run_len) = (first, 1usize);
    for &v in rest {
        min = min.min(v);
        max = max.max(v);
        let d = v.wrapping_sub(prev);
        delta_min = delta_min.min(d);
        delta_max = delta_max.max(d);
        if v == prev {
            run_len += 1;
        } else {
            runs += 1;
            rle += varint_len(zigzag(prev)) + varint_len(run_len as u64);
            run_len = 1;
        }
        prev = v;
    }
    runs += 1;
    rle += varint_len(zigzag(prev)) + varint_len(run_len as u64) + varint_len(runs);
    let n = values.len();
    let for_len =
        varint_len(zigzag(min)) + 1 + packed_len(n, width_for(max.wrapping_sub(min) as u64));
    let (delta_min, delta_width) = if rest.is_empty() {
        (0, 0)
    } else {
        (
            delta_min,
            width_for(delta_max.wrapping_sub(delta_min) as u64),
        )
    };
    let delta_len = varint_len(zigzag(first))
        + varint_len(zigzag(delta_min))
        + 1
        + packed_len(n - 1, delta_width);
    // Ties go to the earlier encoding in `ALL`, and all three come before delta of delta.
    let dod_at_least = varint_len(zigzag(first)) + rest.len();
    let dod = if exact || rle.min(for_len).min(delta_len) > dod_at_least {
        let mut len = varint_len(zigzag(first));
        let (mut prev, mut prev_delta) = (first, 0i64);
        for &v in rest {
            let d = v.wrapping_sub(prev);
            len += varint_len(zigzag(d.wrapping_sub(prev_delta)));
            (prev, prev_delta) = (v, d);
        }
        len
    } else {
        usize::MAX
    };
    [rle, for_len, delta_len, dod, n * 8]
}

/// Appends `tag body` for `values` in the smallest integer encoding.
pub fn encode_ints(values: &[i64], out: &mut Vec<u8>) {
    choose_int_encoding(values).encode(values, out);
}

/// Decodes exactly `n` integers from `bytes` (`tag body`, nothing after).
pub fn decode_ints(bytes: &[u8], n: usize) -> Result<Vec<i64>, DecodeError> {
    let (&tag, body) = bytes
        .split_first()
        .ok_or(DecodeError("missing integer encoding tag"))?;
    match IntEncoding::from_tag(tag) {
        Some(IntEncoding::Plain) => Ok(plain::decode_u64s(body, n)?
            .into_iter()
            .map(|v| v as i64)
            .collect()),
        Some(IntEncoding::FrameOfReference) => bitpack::decode_for(body, n),
        Some(IntEncoding::Delta) => delta::decode_delta(body, n),
        Some(IntEncoding::DeltaOfDelta) => delta::decode_dod(body, n),
        Some(IntEncoding::RunLength) => rle::decode_rle(body, n),
        None => Err(DecodeError("unknown integer encoding tag")),
    }
}

/// Dictionary codes of `n` non-null rows, each checked to lie in `0..limit`, decoded straight
/// into `u32` when the values are frame-of-reference coded (what the writer picks for codes);
/// `Ok(None)` for every other encoding, which [`decode_ints`] then decodes.
pub fn decode_codes(bytes: &[u8], n: usize, limit: u32) -> Result<Option<Vec<u32>>, DecodeError> {
    match bytes.split_first() {
        Some((&tag, body)) if IntEncoding::from_tag(tag) == Some(IntEncoding::FrameOfReference) => {
            bitpack::decode_for_codes(body, n, limit)
        }
        _ => Ok(None),
    }
}

/// Integers that can be read at any position without decoding the rest: plain and
/// frame-of-reference sequences (the sequential encodings have no random access).
#[derive(Clone, Copy, Debug)]
pub enum IntsAt<'a> {
    Plain(&'a [u8]),
    FrameOfReference(bitpack::ForValues<'a>),
}

impl IntsAt<'_> {
    /// Value `i` of the sequence (`i` below its length).
    pub fn get(&self, i: usize) -> i64 {
        match self {
            IntsAt::Plain(body) => body.get(i * 8..i * 8 + 8).map_or(0, |b| {
                i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
            }),
            IntsAt::FrameOfReference(f) => f.get(i),
        }
    }
}

/// Random access to the `n` integers of `bytes` (`tag body`, as [`decode_ints`] takes them), or
/// `Ok(None)` when their encoding is sequential (delta, delta of delta, run length).
pub fn ints_at(bytes: &[u8], n: usize) -> Result<Option<IntsAt<'_>>, DecodeError> {
    let (&tag, body) = bytes
        .split_first()
        .ok_or(DecodeError("missing integer encoding tag"))?;
    match IntEncoding::from_tag(tag) {
        Some(IntEncoding::Plain) => {
            if Some(body.len()) != n.checked_mul(8) {
                return Err(DecodeError("plain length does not match value count"));
            }
            Ok(Some(IntsAt::Plain(body)))
        }
        Some(IntEncoding::FrameOfReference) => Ok(Some(IntsAt::FrameOfReference(
            bitpack::ForValues::new(body, n)?,
        ))),
        Some(_) => Ok(None),
        None => Err(DecodeError("unknown integer encoding tag")),
    }
}

const FLOAT_PLAIN: u8 = 0;
const FLOAT_DECIMAL: u8 = 1;

/// Appends `tag body` for `values`: decimal when every value is a short decimal and that is
/// smaller, plain otherwise.
pub fn encode_floats(values: &[f64], out: &mut Vec<u8>) {
    if let Some((scale, ints)) = decimal::find_scale(values) {
        let encoding = choose_int_encoding(&ints);
        if 2 + encoding.encoded_len(&ints) < values.len() * 8 {
            out.push(FLOAT_DECIMAL);
            out.push(scale);
            encoding.encode(&ints, out);
            return;
        }
    }
    out.push(FLOAT_PLAIN);
    plain::encode_u64s(values.iter().map(|v| v.to_bits()), out);
}

pub fn decode_floats(bytes: &[u8], n: usize) -> Result<Vec<f64>, DecodeError> {
    let (&tag, body) = bytes
        .split_first()
        .ok_or(DecodeError("missing float encoding tag"))?;
    match tag {
        FLOAT_PLAIN => Ok(plain::decode_u64s(body, n)?
            .into_iter()
            .map(f64::from_bits)
            .collect()),
        FLOAT_DECIMAL => {
            let (&scale, ints) = body
                .split_first()
                .ok_or(DecodeError("missing decimal scale"))?;
            decimal::decode_scaled(decode_ints(ints, n)?, scale)
        }
        _ => Err(DecodeError("unknown float encoding tag")),
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    fn ints() -> impl Strategy<Value = Vec<i64>> {
        prop_oneof![
            proptest::collection::vec(any::<i64>(), 0..200),
            proptest::collection::vec(0i64..4, 0..200),
            proptest::collection::vec(Just(42i64), 0..200),
            (
                any::<i64>(),
                proptest::collection::vec(0i64..1_000_000, 0..200)
            )
                .prop_map(|(s, g)| {
                    let mut t = s;
                    g.into_iter()
                        .map(|d| {
                            t = t.wrapping_add(d);
                            t
                        })
                        .collect()
                }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn every_int_encoding_round_trips(values in ints()) {
            for encoding in IntEncoding::ALL {
                let mut out = Vec::new();
                encoding.encode(&values, &mut out);
                prop_assert_eq!(out.len(), 1 + encoding.encoded_len(&values));
                prop_assert_eq!(decode_ints(&out, values.len()).unwrap(), values.clone());
            }
        }

        #[test]
        fn random_access_reads_what_decoding_does(values in ints()) {
            for encoding in IntEncoding::ALL {
                let mut out = Vec::new();
                encoding.encode(&values, &mut out);
                let at = ints_at(&out, values.len()).unwrap();
                let random = matches!(encoding, IntEncoding::Plain | IntEncoding::FrameOfReference);
                prop_assert_eq!(at.is_some(), random);
                if let Some(at) = at {
                    for (i, &v) in values.iter().enumerate() {
                        prop_assert_eq!(at.get(i), v);
                    }
                }
            }
        }

        #[test]
        fn one_pass_sizes_are_the_exact_sizes(values in ints()) {
            let exact: Vec<usize> = IntEncoding::ALL.iter().map(|e| e.encoded_len(&values)).collect();
            prop_assert_eq!(encoded_lens(&values, true).to_vec(), exact);
        }

        #[test]
        fn chosen_encoding_is_the_smallest(values in ints()) {
            let (encoding, len) = smallest_int_encoding(&values);
            prop_assert_eq!(len, encoding.encoded_len(&values));
            let mut out = Vec::new();
            encode_ints(&values, &mut out);
            for encoding in IntEncoding::ALL {
                prop_assert!(out.len() <= 1 + encoding.encoded_len(&values));
            }
        }

        #[test]
        fn floats_round_trip(values in proptest::collection::vec(prop_oneof![
            any::<f64>(),
            (-100_000i64..100_000).prop_map(|v| v as f64 / 10.0),
            Just(f64::MAX), Just(f64::MIN_POSITIVE), Just(-0.0), Just(f64::NEG_INFINITY),
        ], 0..100)) {
            let mut out = Vec::new();
            encode_floats(&values, &mut out);
            let back = decode_floats(&out, values.len()).unwrap();
            let bits: Vec<u64> = back.iter().map(|f| f.to_bits()).collect();
            let expected: Vec<u64> = values.iter().map(|f| f.to_bits()).collect();
            prop_assert_eq!(bits, expected);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64), n in 0usize..100) {
            let _ = decode_ints(&bytes, n);
            let _ = decode_floats(&bytes, n);
            if let Ok(Some(at)) = ints_at(&bytes, n) {
                for i in 0..n {
                    let _ = at.get(i);
                }
            }
        }
    }

    #[test]
    fn one_pass_sizes_cover_short_and_extreme_inputs() {
        for values in [
            vec![],
            vec![5],
            vec![i64::MIN, i64::MAX],
            vec![i64::MAX, i64::MIN, i64::MAX],
            vec![3, 3, 3, 4, 4, 3],
        ] {
            let exact: Vec<usize> = IntEncoding::ALL
                .iter()
                .map(|e| e.encoded_len(&values))
                .collect();
            assert_eq!(encoded_lens(&values, true).to_vec(), exact, "{values:?}");
        }
    }

    #[test]
    fn sorted_timestamps_pick_a_delta_encoding() {
        let ts: Vec<i64> = (0..1000)
            .map(|i| 1_767_225_600_000_000 + i * 1_000_003)
            .collect();
        assert!(matches!(
            choose_int_encoding(&ts),
            IntEncoding::Delta | IntEncoding::DeltaOfDelta
        ));
        assert_eq!(
            choose_int_encoding(&[7; 1000]),
            IntEncoding::FrameOfReference
        );
    }
}
