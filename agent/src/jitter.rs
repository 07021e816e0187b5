//! Randomness for jitter only (not for anything secret).

use std::hash::{BuildHasher, Hasher};

/// A random number in [0, 1).
pub fn unit() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// `value` scaled by a random factor in [`low`, `high`).
pub fn scale(value: std::time::Duration, low: f64, high: f64) -> std::time::Duration {
    value.mul_f64(low + (high - low) * unit())
}
