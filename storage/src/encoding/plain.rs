//! Plain encoding: fixed-width little-endian values (`i64` or the bits of an `f64`), and the
//! LSB-first bitmap used for validity masks.

use super::DecodeError;

pub fn encode_u64s(values: impl IntoIterator<Item = u64>, out: &mut Vec<u8>) {
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

pub fn decode_u64s(bytes: &[u8], n: usize) -> Result<Vec<u64>, DecodeError> {
    if Some(bytes.len()) != n.checked_mul(8) {
        return Err(DecodeError("plain length does not match value count"));
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect())
}

/// Appends `bits` as a bitmap of `ceil(len / 8)` bytes, bit `i` of the stream = `bits[i]`.
pub fn encode_bitmap(bits: &[bool], out: &mut Vec<u8>) {
    for chunk in bits.chunks(8) {
        let mut byte = 0u8;
        for (i, &b) in chunk.iter().enumerate() {
            byte |= u8::from(b) << i;
        }
        out.push(byte);
    }
}

/// Decodes a bitmap of exactly `n` bits; padding bits must be zero.
pub fn decode_bitmap(bytes: &[u8], n: usize) -> Result<Vec<bool>, DecodeError> {
    if bytes.len() != n.div_ceil(8) {
        return Err(DecodeError("bitmap length does not match row count"));
    }
    let full = n / 8;
    let mut out = Vec::with_capacity(n);
    // Eight bits per byte without a data-dependent branch: a loop the compiler unrolls.
    for &byte in &bytes[..full] {
        out.extend((0..8).map(|bit| byte >> bit & 1 == 1));
    }
    if let Some(&last) = bytes.get(full) {
        let bits_here = n - full * 8;
        if last >> bits_here != 0 {
            return Err(DecodeError("nonzero padding bits in bitmap"));
        }
        out.extend((0..bits_here).map(|bit| last >> bit & 1 == 1));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn u64s_round_trip(values in proptest::collection::vec(any::<u64>(), 0..100)) {
            let mut out = Vec::new();
            encode_u64s(values.iter().copied(), &mut out);
            prop_assert_eq!(decode_u64s(&out, values.len()).unwrap(), values);
        }

        #[test]
        fn bitmaps_round_trip(bits in proptest::collection::vec(any::<bool>(), 0..100)) {
            let mut out = Vec::new();
            encode_bitmap(&bits, &mut out);
            prop_assert_eq!(decode_bitmap(&out, bits.len()).unwrap(), bits);
        }
    }

    #[test]
    fn bad_lengths_and_padding_are_rejected() {
        assert!(decode_u64s(&[0; 7], 1).is_err());
        assert!(decode_bitmap(&[0b0000_0111], 3).is_ok());
        assert!(decode_bitmap(&[0b0000_1111], 3).is_err());
        assert!(decode_bitmap(&[0, 0], 3).is_err());
    }
}
