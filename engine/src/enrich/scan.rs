//! Byte searches for the short strings of the enrichment hot path (URLs, query pairs, names).
//!
//! Every page URL is scanned several times per event (PII scrubbing, splitting, query pairs),
//! mostly in pieces of 5 to 60 bytes: too short for `memchr`'s set-up to pay off, too long for
//! a byte loop to be cheap. These look at 8 bytes per step in plain safe code (SWAR: the
//! classic "has a zero byte" bit trick on `u64` words), then finish byte by byte.

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Marks (high bit set) the bytes of `word` equal to `needle`. Only the lowest mark is exact
/// (a borrow can mark a byte above a real match), which is all a forward search needs.
#[inline]
fn matches(word: u64, needle: u8) -> u64 {
    let x = word ^ (LOW_BITS * u64::from(needle));
    x.wrapping_sub(LOW_BITS) & !x & HIGH_BITS
}

/// The first position of `needle` in `haystack`.
#[inline]
pub fn find_byte(haystack: &[u8], needle: u8) -> Option<usize> {
    find_any(haystack, [needle])
}

/// The first position of `a` or `b` in `haystack`.
#[inline]
pub fn find_either(haystack: &[u8], a: u8, b: u8) -> Option<usize> {
    find_any(haystack, [a, b])
}

/// The first position in `haystack` of any of `needles`.
#[inline]
pub fn find_any<const N: usize>(haystack: &[u8], needles: [u8; N]) -> Option<usize> {
    let mut words = haystack.chunks_exact(8);
    let mut offset = 0;
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let word = u64::from_le_bytes(bytes);
        // the lowest mark of each needle is exact, so the lowest of them is the first match
        let mut found = 64;
        for needle in needles {
            found = found.min(matches(word, needle).trailing_zeros());
        }
        if found != 64 {
            return Some(offset + (found / 8) as usize);
        }
        offset += 8;
    }
    for (i, &byte) in words.remainder().iter().enumerate() {
        // a loop over the needles, not `contains`: that is a `memchr` call per byte
        for needle in needles {
            if byte == needle {
                return Some(offset + i);
            }
        }
    }
    None
}

/// How many bytes of `haystack` are `needle`: u8 counters over 32-byte blocks, which the
/// compiler vectorises (a `usize` sum per byte does not, or only into 2 lanes).
pub fn count_byte(haystack: &[u8], needle: u8) -> usize {
    let mut count = 0usize;
    let mut blocks = haystack.chunks_exact(32);
    for block in &mut blocks {
        let mut in_block = 0u8;
        for &byte in block {
            in_block += u8::from(byte == needle);
        }
        count += usize::from(in_block);
    }
    count
        + blocks
            .remainder()
            .iter()
            .filter(|&&byte| byte == needle)
            .count()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn finds_the_first_match_at_every_position() {
        for len in 0..40 {
            for at in 0..len {
                let mut haystack = vec![b'x'; len];
                haystack[at] = b'&';
                if at + 1 < len {
                    haystack[at + 1] = b'&';
                }
                assert_eq!(find_byte(&haystack, b'&'), Some(at));
                assert_eq!(find_either(&haystack, b'?', b'&'), Some(at));
                assert_eq!(find_either(&haystack, b'&', b'?'), Some(at));
            }
            assert_eq!(find_byte(&vec![b'x'; len], b'&'), None);
        }
        // a byte one above the needle right after a match (the borrow case)
        assert_eq!(find_byte(b"ab\x01\x02cdefgh", 0x01), Some(2));
        assert_eq!(
            find_byte(&[0x80, 0x00, 0x01, 0x81, 0, 0, 0, 0], 0x01),
            Some(2)
        );
    }

    proptest! {
        #[test]
        fn agrees_with_a_byte_loop(haystack in proptest::collection::vec(any::<u8>(), 0..80), a in any::<u8>(), b in any::<u8>()) {
            prop_assert_eq!(find_byte(&haystack, a), haystack.iter().position(|&x| x == a));
            prop_assert_eq!(
                find_either(&haystack, a, b),
                haystack.iter().position(|&x| x == a || x == b)
            );
            prop_assert_eq!(
                find_any(&haystack, [a, b, 0x80]),
                haystack.iter().position(|&x| x == a || x == b || x == 0x80)
            );
        }

        #[test]
        fn counts_like_a_filter(haystack in proptest::collection::vec(prop_oneof![Just(b'\n'), any::<u8>()], 0..200)) {
            prop_assert_eq!(count_byte(&haystack, b'\n'), haystack.iter().filter(|&&b| b == b'\n').count());
        }

        #[test]
        fn agrees_on_url_bytes(haystack in "[a-z?#&=%/@.:]{0,70}") {
            let bytes = haystack.as_bytes();
            for needle in [b'?', b'#', b'&', b'=', b'@'] {
                prop_assert_eq!(find_byte(bytes, needle), bytes.iter().position(|&x| x == needle));
            }
            prop_assert_eq!(
                find_either(bytes, b'?', b'#'),
                bytes.iter().position(|&x| x == b'?' || x == b'#')
            );
        }
    }
}
