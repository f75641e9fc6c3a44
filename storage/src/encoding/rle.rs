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

pub fn decode_rle(bytes: &[u8], n: usize) -> Result<Vec<i64>, DecodeError> {
    let mut pos = 0;
    let count = get_varint(bytes, &mut pos).ok_or(DecodeError("bad run count"))?;
    if count > n as u64 {
        return Err(DecodeError("more runs than values"));
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..count {
        let v = unzigzag(get_varint(bytes, &mut pos).ok_or(DecodeError("bad run value"))?);
        let run = get_varint(bytes, &mut pos).ok_or(DecodeError("bad run length"))?;
        if run == 0 || run > (n - out.len()) as u64 {
            return Err(DecodeError("run length out of range"));
        }
        out.resize(out.len() + run as usize, v);
    }
    if out.len() != n {
        return Err(DecodeError("runs do not add up to value count"));
    }
    if pos != bytes.len() {
        return Err(DecodeError("trailing bytes after runs"));
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

    #[test]
    fn wrong_counts_are_rejected() {
        let mut out = Vec::new();
        encode_rle(&[5, 5, 5, 7], &mut out);
        assert!(decode_rle(&out, 3).is_err());
        assert!(decode_rle(&out, 5).is_err());
        assert_eq!(decode_rle(&out, 4).unwrap(), [5, 5, 5, 7]);
    }
}
