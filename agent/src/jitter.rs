//! Jitter for retries and renewals (not for anything secret): `fastrand`'s generator.

/// `value` scaled by a random factor in [`low`, `high`).
pub fn scale(value: std::time::Duration, low: f64, high: f64) -> std::time::Duration {
    value.mul_f64(low + (high - low) * fastrand::f64())
}
