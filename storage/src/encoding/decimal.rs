//! Decimal encoding for floats that are short decimals (web vitals such as `1200.5`, pixel
//! offsets, prices): each value is stored as the integer `v * 10^scale`, itself encoded with the
//! best integer encoding, when that reproduces every value bit for bit.
//!
//! ```text
//! decimal := scale:u8 (0..=6) ints        value = int as f64 / 10^scale
//! ```
//! `-0.0`, NaN, infinities and values needing more digits never qualify; they stay plain.

use super::DecodeError;

const POW10: [f64; 7] = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6];
/// Integers up to 2^53 convert to f64 exactly.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

pub const MAX_SCALE: u8 = 6;

/// The smallest scale at which every value round-trips exactly, with the scaled integers.
pub fn find_scale(values: &[f64]) -> Option<(u8, Vec<i64>)> {
    'scale: for (scale, &pow) in POW10.iter().enumerate() {
        let mut ints = Vec::with_capacity(values.len());
        for &v in values {
            let scaled = (v * pow).round();
            if scaled.is_nan() || scaled.abs() > MAX_EXACT {
                continue 'scale;
            }
            let int = scaled as i64;
            if from_scaled(int, scale as u8).to_bits() != v.to_bits() {
                continue 'scale;
            }
            ints.push(int);
        }
        return Some((scale as u8, ints));
    }
    None
}

/// The float a scaled integer stands for.
pub fn from_scaled(int: i64, scale: u8) -> f64 {
    int as f64 / POW10[usize::from(scale.min(MAX_SCALE))]
}

pub fn decode_scaled(ints: Vec<i64>, scale: u8) -> Result<Vec<f64>, DecodeError> {
    if scale > MAX_SCALE {
        return Err(DecodeError("decimal scale above 6"));
    }
    Ok(ints.into_iter().map(|i| from_scaled(i, scale)).collect())
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn round_trips_when_it_applies(values in proptest::collection::vec(any::<f64>(), 0..50)) {
            if let Some((scale, ints)) = find_scale(&values) {
                let back = decode_scaled(ints, scale).unwrap();
                let bits: Vec<u64> = back.iter().map(|f| f.to_bits()).collect();
                let expected: Vec<u64> = values.iter().map(|f| f.to_bits()).collect();
                prop_assert_eq!(bits, expected);
            }
        }

        #[test]
        fn short_decimals_qualify(cents in proptest::collection::vec(-10_000_000i64..10_000_000, 1..50)) {
            let values: Vec<f64> = cents.iter().map(|&c| c as f64 / 100.0).collect();
            let (scale, ints) = find_scale(&values).unwrap();
            prop_assert!(scale <= 2);
            let back = decode_scaled(ints, scale).unwrap();
            prop_assert_eq!(back, values);
        }
    }

    #[test]
    fn special_values_do_not_qualify() {
        assert!(find_scale(&[-0.0]).is_none());
        assert!(find_scale(&[f64::NAN]).is_none());
        assert!(find_scale(&[f64::INFINITY]).is_none());
        assert!(find_scale(&[0.1234567]).is_none());
        assert_eq!(find_scale(&[1200.5, 3.0]).unwrap(), (1, vec![12005, 30]));
    }
}
