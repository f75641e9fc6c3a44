//! Owned, hashable values: group keys and `count(DISTINCT)` members.

use std::sync::Arc;

use crate::types::Scalar;

/// A hashable, owned value: group keys and `count(DISTINCT)` members.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum KeyValue {
    Null,
    Int(i64),
    /// `f64` bits with -0.0 folded into 0.0 and one NaN.
    Float(u64),
    Bool(bool),
    Str(Arc<str>),
}

impl KeyValue {
    pub(crate) fn from_scalar(s: &Scalar) -> KeyValue {
        match s {
            Scalar::Null => KeyValue::Null,
            Scalar::Int(v) => KeyValue::Int(*v),
            Scalar::Float(f) => KeyValue::Float(float_bits(*f)),
            Scalar::Bool(b) => KeyValue::Bool(*b),
            Scalar::Str(s) => KeyValue::Str(Arc::clone(s)),
        }
    }

    pub(crate) fn to_scalar(&self) -> Scalar {
        match self {
            KeyValue::Null => Scalar::Null,
            KeyValue::Int(v) => Scalar::Int(*v),
            KeyValue::Float(b) => Scalar::Float(f64::from_bits(*b)),
            KeyValue::Bool(b) => Scalar::Bool(*b),
            KeyValue::Str(s) => Scalar::Str(Arc::clone(s)),
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            KeyValue::Str(s) => s.len() + 16,
            _ => 0,
        }
    }
}

pub(crate) fn float_bits(f: f64) -> u64 {
    if f == 0.0 {
        0
    } else if f.is_nan() {
        f64::NAN.to_bits()
    } else {
        f.to_bits()
    }
}

impl KeyValue {
    pub(crate) fn int_like(&self) -> i64 {
        match self {
            KeyValue::Int(v) => *v,
            KeyValue::Float(b) => (*b as i64) ^ crate::kernels::FLOAT_SALT,
            KeyValue::Bool(b) => i64::from(*b) ^ 0x0b00_1ea0,
            _ => 0,
        }
    }
}
