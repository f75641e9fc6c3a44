//! Dictionary encoding for strings: one sorted dictionary of the distinct values per column per
//! segment; rows store integer codes into it (encoded like any integer column). Because the
//! dictionary is sorted byte-wise, code order is string order, so min/max codes are zone maps and
//! codes from different chunks of one segment compare directly.
//!
//! ```text
//! dictionary := count:varint count × length:varint bytes   (concatenated UTF-8, ascending, unique)
//! ```

use super::DecodeError;
use crate::column::StrDict;
use crate::row::{get_varint, put_varint};

/// A segment-wide sorted dictionary plus the mapping from a source dictionary's codes to it.
pub struct SortedDict {
    pub dict: StrDict,
    /// `remap[source_code]` = code in `dict`; `u32::MAX` for source codes no row uses.
    pub remap: Vec<u32>,
}

/// Builds the sorted dictionary of the values that `codes` (where `present`) use. Duplicate
/// strings in `source` (which [`StrDict::push`] allows) map to one code.
pub fn build_sorted(
    source: &StrDict,
    codes: &[u32],
    present: impl Fn(usize) -> bool,
) -> SortedDict {
    let mut used = vec![false; source.len()];
    for (row, &code) in codes.iter().enumerate() {
        if present(row) {
            used[code as usize] = true;
        }
    }
    // Sorted by the first 8 bytes as one big-endian integer (zero-padded) and only on a tie by
    // the whole string: the same byte-wise order, with most comparisons an integer compare
    // instead of a memcmp (random ids such as event_id differ in their first bytes).
    let mut entries: Vec<(u64, &str, u32)> = used
        .iter()
        .enumerate()
        .filter(|(_, &u)| u)
        .map(|(code, _)| {
            let s = source.get(code as u32);
            (prefix_key(s), s, code as u32)
        })
        .collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
    let mut dict = StrDict::new();
    let mut remap = vec![u32::MAX; source.len()];
    let mut last: Option<&str> = None;
    for (_, s, code) in entries {
        if last != Some(s) {
            dict.push(s);
            last = Some(s);
        }
        remap[code as usize] = (dict.len() - 1) as u32;
    }
    SortedDict { dict, remap }
}

/// The first 8 bytes of `s` as a big-endian integer, zero-padded: `prefix_key(a) < prefix_key(b)`
/// implies `a < b` byte-wise, and equal keys leave the order to the full strings.
fn prefix_key(s: &str) -> u64 {
    let mut buf = [0u8; 8];
    let n = s.len().min(8);
    buf[..n].copy_from_slice(&s.as_bytes()[..n]);
    u64::from_be_bytes(buf)
}

pub fn encode(dict: &StrDict, out: &mut Vec<u8>) {
    put_varint(out, dict.len() as u64);
    for s in dict.iter() {
        put_varint(out, s.len() as u64);
    }
    for s in dict.iter() {
        out.extend_from_slice(s.as_bytes());
    }
}

/// Decodes a dictionary of exactly `count` entries and checks it is valid UTF-8, sorted and
/// unique.
pub fn decode(bytes: &[u8], count: usize) -> Result<StrDict, DecodeError> {
    let mut pos = 0;
    let stored = get_varint(bytes, &mut pos).ok_or(DecodeError("bad dictionary count"))?;
    if stored != count as u64 {
        return Err(DecodeError("dictionary count differs from footer"));
    }
    if count > bytes.len() {
        return Err(DecodeError("dictionary shorter than its count"));
    }
    let mut lengths = Vec::with_capacity(count);
    let mut total = 0usize;
    for _ in 0..count {
        let len = get_varint(bytes, &mut pos).ok_or(DecodeError("bad dictionary length"))?;
        let len = usize::try_from(len).map_err(|_| DecodeError("dictionary length overflows"))?;
        total = total
            .checked_add(len)
            .ok_or(DecodeError("dictionary length overflows"))?;
        lengths.push(len);
    }
    if bytes.len() - pos != total {
        return Err(DecodeError("dictionary bytes do not match lengths"));
    }
    let text =
        std::str::from_utf8(&bytes[pos..]).map_err(|_| DecodeError("dictionary is not utf-8"))?;
    let mut dict = StrDict::new();
    let mut start = 0;
    let mut prev: Option<&str> = None;
    for len in lengths {
        let s = text
            .get(start..start + len)
            .ok_or(DecodeError("dictionary entry splits a utf-8 character"))?;
        if prev.is_some_and(|p| p >= s) {
            return Err(DecodeError("dictionary is not sorted and unique"));
        }
        dict.push(s);
        prev = Some(s);
        start += len;
    }
    Ok(dict)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn round_trips(values in proptest::collection::vec("\\PC{0,12}", 0..40), nulls in proptest::collection::vec(any::<bool>(), 40)) {
            let source = StrDict::from_strs(values.iter().map(String::as_str));
            let codes: Vec<u32> = (0..values.len() as u32).rev().collect();
            let sorted = build_sorted(&source, &codes, |row| !nulls[row]);
            for (row, &code) in codes.iter().enumerate() {
                if !nulls[row] {
                    prop_assert_eq!(sorted.dict.get(sorted.remap[code as usize]), source.get(code));
                }
            }
            let all: Vec<&str> = sorted.dict.iter().collect();
            prop_assert!(all.windows(2).all(|w| w[0] < w[1]));
            let mut out = Vec::new();
            encode(&sorted.dict, &mut out);
            prop_assert_eq!(decode(&out, sorted.dict.len()).unwrap(), sorted.dict);
        }

        #[test]
        fn sorting_by_prefix_keeps_byte_order(values in proptest::collection::vec("[ab\u{0}]{0,11}", 0..60)) {
            // Few symbols, NULs and lengths around 8: prefix ties and padded prefixes are common.
            let source = StrDict::from_strs(values.iter().map(String::as_str));
            let codes: Vec<u32> = (0..values.len() as u32).collect();
            let sorted = build_sorted(&source, &codes, |_| true);
            let mut expected: Vec<&str> = values.iter().map(String::as_str).collect();
            expected.sort_unstable();
            expected.dedup();
            let all: Vec<&str> = sorted.dict.iter().collect();
            prop_assert_eq!(all, expected);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64), n in 0usize..20) {
            let _ = decode(&bytes, n);
        }
    }

    #[test]
    fn unsorted_or_duplicate_dictionaries_are_rejected() {
        let mut out = Vec::new();
        encode(&StrDict::from_strs(["b", "a"]), &mut out);
        assert!(decode(&out, 2).is_err());
        out.clear();
        encode(&StrDict::from_strs(["a", "a"]), &mut out);
        assert!(decode(&out, 2).is_err());
        out.clear();
        encode(&StrDict::from_strs(["", "a", "ü"]), &mut out);
        assert_eq!(decode(&out, 3).unwrap().len(), 3);
        assert!(decode(&out, 2).is_err());
    }
}
