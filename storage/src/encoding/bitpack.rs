//! Bit-packing: unsigned values of `width` bits each, packed least-significant bit first into a
//! byte stream (value `i` occupies bits `i*width .. (i+1)*width`). Unused bits of the last byte
//! are zero. Width 0 stores no bytes at all (every value is 0).

use super::DecodeError;
use crate::row::{get_varint, put_varint, unzigzag, zigzag};

/// Smallest width (0..=64) that holds every value.
pub fn width_for(max: u64) -> u8 {
    (64 - max.leading_zeros()) as u8
}

/// Number of bytes `n` values of `width` bits take.
pub fn packed_len(n: usize, width: u8) -> usize {
    (n * usize::from(width)).div_ceil(8)
}

/// Appends `values` packed at `width` bits. Every value must fit in `width` bits.
pub fn pack(values: impl IntoIterator<Item = u64>, width: u8, out: &mut Vec<u8>) {
    debug_assert!(width <= 64);
    if width == 0 {
        return;
    }
    let width = u32::from(width);
    let mut acc: u128 = 0;
    let mut bits: u32 = 0;
    for v in values {
        debug_assert!(width == 64 || v >> width == 0, "value does not fit width");
        acc |= u128::from(v) << bits;
        bits += width;
        while bits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
    if bits > 0 {
        out.push(acc as u8);
    }
}

/// Unpacks exactly `n` values of `width` bits; `bytes` must be exactly [`packed_len`] long and
/// the padding bits of the last byte zero.
pub fn unpack(bytes: &[u8], n: usize, width: u8) -> Result<Vec<u64>, DecodeError> {
    unpack_map(bytes, n, width, |v| v)
}

/// [`unpack`] with `f` applied to every value on the way out, so a caller that offsets or
/// converts the values (frame of reference) makes one vector in one pass instead of two.
pub fn unpack_map<T: Copy + Default>(
    bytes: &[u8],
    n: usize,
    width: u8,
    f: impl Fn(u64) -> T,
) -> Result<Vec<T>, DecodeError> {
    if width > 64 {
        return Err(DecodeError("bit width above 64"));
    }
    let expected = n
        .checked_mul(usize::from(width))
        .map(|bits| bits.div_ceil(8))
        .ok_or(DecodeError("bit-packed length overflows"))?;
    if bytes.len() != expected {
        return Err(DecodeError("bit-packed length does not match value count"));
    }
    let mut out = Vec::with_capacity(n);
    match width {
        0 => out.extend(std::iter::repeat_with(|| f(0)).take(n)),
        8 => out.extend(bytes.iter().map(|&b| f(u64::from(b)))),
        16 => out.extend(
            bytes
                .chunks_exact(2)
                .map(|c| f(u64::from(u16::from_le_bytes([c[0], c[1]])))),
        ),
        32 => out.extend(
            bytes
                .chunks_exact(4)
                .map(|c| f(u64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))),
        ),
        _ => {
            let done = unpack_groups(bytes, n, width, &f, &mut out);
            unpack_tail(bytes, done, n, u32::from(width), &f, &mut out)?;
        }
    }
    Ok(out)
}

/// Fast path for the common narrow widths: whole groups of 8 values (exactly `width` bytes
/// each, so every group starts on a byte boundary) while 8 more bytes follow the group, read
/// as little-endian words at offsets the compiler knows. Returns how many values it unpacked;
/// the rest (and other widths) go through [`unpack_tail`].
fn unpack_groups<T: Copy + Default>(
    bytes: &[u8],
    n: usize,
    width: u8,
    f: &impl Fn(u64) -> T,
    out: &mut Vec<T>,
) -> usize {
    macro_rules! widths {
        ($($w:literal)*) => {
            match width {
                $($w => groups::<$w, T>(bytes, n, f, out),)*
                _ => 0,
            }
        };
    }
    widths!(1 2 3 4 5 6 7 9 10 11 12 13 14 15 17 18 19 20 21 22 23 24)
}

fn groups<const W: usize, T: Copy + Default>(
    bytes: &[u8],
    n: usize,
    f: &impl Fn(u64) -> T,
    out: &mut Vec<T>,
) -> usize {
    let mask = (1u64 << W) - 1;
    // group g reads bytes g*W .. g*W + W + 8 (its last value's word may run past the group)
    let fast = if bytes.len() >= W + 8 {
        ((bytes.len() - W - 8) / W + 1).min(n / 8)
    } else {
        0
    };
    // Written in place (no capacity check per value), so the group loop can be unrolled.
    let start = out.len();
    out.resize(start + fast * 8, T::default());
    for (g, dst) in out[start..].chunks_exact_mut(8).enumerate() {
        let Some(group) = bytes.get(g * W..g * W + W + 8) else {
            out.truncate(start + g * 8);
            return g * 8;
        };
        for (j, slot) in dst.iter_mut().enumerate() {
            let bit = j * W;
            let at = bit / 8;
            let mut word = [0u8; 8];
            word.copy_from_slice(&group[at..at + 8]);
            *slot = f((u64::from_le_bytes(word) >> (bit % 8)) & mask);
        }
    }
    fast * 8
}

/// Values `i..n`, starting on a byte boundary or not, byte by byte; checks the padding bits.
fn unpack_tail<T>(
    bytes: &[u8],
    mut i: usize,
    n: usize,
    width: u32,
    f: &impl Fn(u64) -> T,
    out: &mut Vec<T>,
) -> Result<(), DecodeError> {
    let mask = if width == 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    };
    // Read 8 bytes at a time while a full little-endian word is available and the value fits
    // in the 57 bits that a word always holds after the sub-byte shift.
    if width <= 56 {
        let w = width as usize;
        while i < n {
            let bit = i * w;
            let byte = bit / 8;
            let Some(word) = bytes.get(byte..byte + 8) else {
                break;
            };
            let mut buf = [0u8; 8];
            buf.copy_from_slice(word);
            out.push(f((u64::from_le_bytes(buf) >> (bit % 8)) & mask));
            i += 1;
        }
    }
    // Tail (and wide values): accumulate byte by byte.
    let start_bit = i * width as usize;
    let mut pos = start_bit / 8;
    let mut acc: u128 = 0;
    let mut bits: u32 = 0;
    if start_bit % 8 != 0 {
        acc = u128::from(bytes[pos]) >> (start_bit % 8);
        bits = 8 - (start_bit % 8) as u32;
        pos += 1;
    }
    while i < n {
        while bits < width {
            let b = *bytes
                .get(pos)
                .ok_or(DecodeError("bit-packed data truncated"))?;
            acc |= u128::from(b) << bits;
            bits += 8;
            pos += 1;
        }
        out.push(f((acc as u64) & mask));
        acc >>= width;
        bits -= width;
        i += 1;
    }
    if acc != 0 {
        return Err(DecodeError("nonzero padding bits after bit-packed values"));
    }
    Ok(())
}

/// Frame-of-reference bit-packing of signed integers:
/// `for := min:zigzag-varint width:u8 packed`, packed = `(v - min)` at `width` bits.
/// An empty sequence encodes to zero bytes.
pub fn for_params(values: &[i64]) -> (i64, u8) {
    let (mut min, mut max) = (i64::MAX, i64::MIN);
    for &v in values {
        min = min.min(v);
        max = max.max(v);
    }
    if values.is_empty() {
        return (0, 0);
    }
    (min, width_for(max.wrapping_sub(min) as u64))
}

pub fn for_len(values: &[i64]) -> usize {
    if values.is_empty() {
        return 0;
    }
    let (min, width) = for_params(values);
    super::delta::varint_len(zigzag(min)) + 1 + packed_len(values.len(), width)
}

pub fn encode_for(values: &[i64], out: &mut Vec<u8>) {
    if values.is_empty() {
        return;
    }
    let (min, width) = for_params(values);
    put_varint(out, zigzag(min));
    out.push(width);
    pack(
        values.iter().map(|v| v.wrapping_sub(min) as u64),
        width,
        out,
    );
}

/// Frame-of-reference with the width rounded up to whole bytes (same layout and tag as
/// [`encode_for`], so readers do not distinguish them). Byte-aligned values often compress better
/// under zstd than tightly packed ones. Returns `false` (writing nothing) when the exact width is
/// already a multiple of 8.
pub fn encode_for_byte_aligned(values: &[i64], out: &mut Vec<u8>) -> bool {
    let (min, width) = for_params(values);
    let aligned = width.div_ceil(8) * 8;
    if values.is_empty() || aligned == width {
        return false;
    }
    put_varint(out, zigzag(min));
    out.push(aligned);
    pack(
        values.iter().map(|v| v.wrapping_sub(min) as u64),
        aligned,
        out,
    );
    true
}

pub fn decode_for(bytes: &[u8], n: usize) -> Result<Vec<i64>, DecodeError> {
    if n == 0 {
        return if bytes.is_empty() {
            Ok(Vec::new())
        } else {
            Err(DecodeError("bytes present for an empty sequence"))
        };
    }
    let mut pos = 0;
    let min = unzigzag(get_varint(bytes, &mut pos).ok_or(DecodeError("bad frame minimum"))?);
    let width = *bytes.get(pos).ok_or(DecodeError("truncated frame width"))?;
    unpack_map(&bytes[pos + 1..], n, width, |p| min.wrapping_add(p as i64))
}

/// Frame-of-reference dictionary codes straight into `u32`, each checked to lie in `0..limit`:
/// one vector and one pass instead of `i64` values converted afterwards. `Ok(None)` when the
/// frame is wider than 32 bits (the caller then takes the general path, whose checks decide).
pub fn decode_for_codes(
    bytes: &[u8],
    n: usize,
    limit: u32,
) -> Result<Option<Vec<u32>>, DecodeError> {
    if n == 0 {
        return Ok(None);
    }
    let mut pos = 0;
    let min = unzigzag(get_varint(bytes, &mut pos).ok_or(DecodeError("bad frame minimum"))?);
    let width = *bytes.get(pos).ok_or(DecodeError("truncated frame width"))?;
    if width > 32 {
        return Ok(None);
    }
    let base = u32::try_from(min)
        .ok()
        .filter(|&b| b < limit)
        .ok_or(DecodeError("string code outside the dictionary"))?;
    // `p < 2^width <= 2^32` is stored as `base + p` wrapped to 32 bits, so `c - base` (wrapped)
    // gives `p` back. Every code is in range without looking when the frame's top is; else
    // the largest `p` (a max over the vector, which vectorizes) decides.
    let packed = &bytes[pos + 1..];
    let in_range = |p: u64| u64::from(base) + p < u64::from(limit);
    if width == 8 && packed.len() == n {
        // One byte per code: the range check is a max over the bytes, before widening.
        let top = packed.iter().copied().max().unwrap_or(0);
        if !in_range(u64::from(top)) {
            return Err(DecodeError("string code outside the dictionary"));
        }
        return Ok(Some(
            packed
                .iter()
                .map(|&b| base.wrapping_add(u32::from(b)))
                .collect(),
        ));
    }
    let codes = unpack_map(packed, n, width, |p| base.wrapping_add(p as u32))?;
    if !in_range((1u64 << width) - 1) {
        let largest = codes
            .iter()
            .map(|&c| c.wrapping_sub(base))
            .max()
            .unwrap_or(0);
        if !in_range(u64::from(largest)) {
            return Err(DecodeError("string code outside the dictionary"));
        }
    }
    Ok(Some(codes))
}

/// Random access into a frame-of-reference sequence of `n` values: the value at any position
/// without unpacking the others (a scan that needs a few rows of a column).
#[derive(Clone, Copy, Debug)]
pub struct ForValues<'a> {
    min: i64,
    width: u8,
    packed: &'a [u8],
    n: usize,
}

impl<'a> ForValues<'a> {
    /// Reads the header of `bytes` (as [`decode_for`] takes them) and checks the packed length.
    pub fn new(bytes: &'a [u8], n: usize) -> Result<ForValues<'a>, DecodeError> {
        if n == 0 {
            if !bytes.is_empty() {
                return Err(DecodeError("bytes present for an empty sequence"));
            }
            return Ok(ForValues {
                min: 0,
                width: 0,
                packed: &[],
                n,
            });
        }
        let mut pos = 0;
        let min = unzigzag(get_varint(bytes, &mut pos).ok_or(DecodeError("bad frame minimum"))?);
        let width = *bytes.get(pos).ok_or(DecodeError("truncated frame width"))?;
        if width > 64 {
            return Err(DecodeError("bit width above 64"));
        }
        let packed = &bytes[pos + 1..];
        let expected = n
            .checked_mul(usize::from(width))
            .map(|bits| bits.div_ceil(8))
            .ok_or(DecodeError("bit-packed length overflows"))?;
        if packed.len() != expected {
            return Err(DecodeError("bit-packed length does not match value count"));
        }
        Ok(ForValues {
            min,
            width,
            packed,
            n,
        })
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The frame minimum (every value is at least this).
    pub fn min(&self) -> i64 {
        self.min
    }

    /// The offset from the minimum of value `i` (`i < len()`, else 0).
    pub fn offset(&self, i: usize) -> u64 {
        if i >= self.n || self.width == 0 {
            return 0;
        }
        let width = usize::from(self.width);
        let bit = i * width;
        let byte = bit / 8;
        let mut buf = [0u8; 16];
        let end = (byte + 16).min(self.packed.len());
        buf[..end - byte].copy_from_slice(&self.packed[byte..end]);
        let mask = if width == 64 {
            u64::MAX
        } else {
            (1u64 << width) - 1
        };
        ((u128::from_le_bytes(buf) >> (bit % 8)) as u64) & mask
    }

    /// Value `i` (`i < len()`).
    pub fn get(&self, i: usize) -> i64 {
        self.min.wrapping_add(self.offset(i) as i64)
    }

    /// The largest offset any value can have (`2^width - 1`).
    pub fn max_offset(&self) -> u64 {
        if self.width == 64 {
            u64::MAX
        } else {
            (1u64 << self.width) - 1
        }
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn for_values_reads_any_position(values in proptest::collection::vec(any::<i64>(), 0..200), shift in 0u32..64) {
            let values: Vec<i64> = values.into_iter().map(|v| v >> shift).collect();
            let mut out = Vec::new();
            encode_for(&values, &mut out);
            let reader = ForValues::new(&out, values.len()).unwrap();
            prop_assert_eq!(reader.len(), values.len());
            for (i, &v) in values.iter().enumerate() {
                prop_assert_eq!(reader.get(i), v);
            }
            let mut aligned = Vec::new();
            if encode_for_byte_aligned(&values, &mut aligned) {
                let reader = ForValues::new(&aligned, values.len()).unwrap();
                for (i, &v) in values.iter().enumerate() {
                    prop_assert_eq!(reader.get(i), v);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn round_trips(values in proptest::collection::vec(any::<u64>(), 0..300), shift in 0u32..64) {
            let values: Vec<u64> = values.into_iter().map(|v| v >> shift).collect();
            let width = width_for(values.iter().copied().max().unwrap_or(0));
            let mut out = Vec::new();
            pack(values.iter().copied(), width, &mut out);
            prop_assert_eq!(out.len(), packed_len(values.len(), width));
            prop_assert_eq!(unpack(&out, values.len(), width).unwrap(), values);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn frame_of_reference_round_trips(values in proptest::collection::vec(any::<i64>(), 0..200), shift in 0u32..64) {
            let values: Vec<i64> = values.into_iter().map(|v| v >> shift).collect();
            let mut out = Vec::new();
            encode_for(&values, &mut out);
            prop_assert_eq!(out.len(), for_len(&values));
            prop_assert_eq!(decode_for(&out, values.len()).unwrap(), values);
        }

        #[test]
        fn byte_aligned_frame_of_reference_round_trips(values in proptest::collection::vec(any::<i64>(), 0..200), shift in 0u32..64) {
            let values: Vec<i64> = values.into_iter().map(|v| v >> shift).collect();
            let mut out = Vec::new();
            if encode_for_byte_aligned(&values, &mut out) {
                prop_assert_eq!(decode_for(&out, values.len()).unwrap(), values);
            } else {
                prop_assert!(out.is_empty());
            }
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64), n in 0usize..100) {
            let _ = decode_for(&bytes, n);
        }
    }

    #[test]
    fn every_width_round_trips() {
        for width in 0..=64u8 {
            let max = if width == 64 {
                u64::MAX
            } else {
                (1u64 << width) - 1
            };
            let values: Vec<u64> = (0..77u64)
                .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) & max)
                .collect();
            let mut out = Vec::new();
            pack(values.iter().copied(), width, &mut out);
            assert_eq!(
                unpack(&out, values.len(), width).unwrap(),
                values,
                "width {width}"
            );
        }
    }

    #[test]
    fn every_width_round_trips_through_the_group_path() {
        // long enough that the 8-value groups do most of the work, with a ragged tail
        for width in 0..=64u8 {
            let max = if width == 64 {
                u64::MAX
            } else {
                (1u64 << width) - 1
            };
            for n in [0usize, 1, 7, 8, 9, 15, 16, 17, 63, 1001] {
                let values: Vec<u64> = (0..n as u64)
                    .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(7) & max)
                    .collect();
                let mut out = Vec::new();
                pack(values.iter().copied(), width, &mut out);
                let mapped = unpack_map(&out, n, width, |v| v ^ 1).unwrap();
                let expected: Vec<u64> = values.iter().map(|v| v ^ 1).collect();
                assert_eq!(mapped, expected, "width {width} n {n}");
                if let Some(last) = out.last_mut().filter(|_| (n * usize::from(width)) % 8 != 0) {
                    *last |= 0x80;
                    assert!(
                        unpack(&out, n, width).is_err(),
                        "padding width {width} n {n}"
                    );
                }
            }
        }
    }

    #[test]
    fn codes_decode_like_frame_of_reference_and_are_range_checked() {
        for limit in [1u32, 2, 3, 200, 5000] {
            for n in [1usize, 9, 100, 777] {
                let values: Vec<i64> = (0..n as i64)
                    .map(|i| (i * 7919 + 3) % i64::from(limit))
                    .collect();
                let mut out = Vec::new();
                encode_for(&values, &mut out);
                let codes = decode_for_codes(&out, n, limit).unwrap().unwrap();
                let expected: Vec<u32> = values.iter().map(|&v| v as u32).collect();
                assert_eq!(codes, expected, "limit {limit} n {n}");
                let max = values.iter().copied().max().unwrap() as u32;
                assert!(decode_for_codes(&out, n, max).is_err(), "limit {max} n {n}");
            }
        }
        let mut out = Vec::new();
        encode_for(&[-1, 0, 1], &mut out);
        assert!(decode_for_codes(&out, 3, 10).is_err());
        // values near u32::MAX whose base + offset would wrap
        let mut out = Vec::new();
        encode_for(
            &[i64::from(u32::MAX) - 1, i64::from(u32::MAX) + 1],
            &mut out,
        );
        assert!(decode_for_codes(&out, 2, u32::MAX).is_err());
    }

    #[test]
    fn wrong_lengths_and_padding_are_rejected() {
        let mut out = Vec::new();
        pack([1, 2, 3], 3, &mut out);
        assert!(unpack(&out, 6, 3).is_err());
        assert!(unpack(&out[..1], 3, 3).is_err());
        let mut padded = out.clone();
        *padded.last_mut().unwrap() |= 0x80;
        assert!(unpack(&padded, 3, 3).is_err());
        assert!(unpack(&out, 3, 65).is_err());
    }
}
