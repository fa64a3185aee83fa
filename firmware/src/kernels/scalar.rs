//! The portable reference every SIMD kernel is checked against.

/// `Σ x[i]·w[i]` over the shorter length.
#[inline]
pub fn dot(x: &[i8], w: &[i8]) -> i32 {
    x.iter().zip(w).map(|(&a, &b)| a as i32 * b as i32).sum()
}
