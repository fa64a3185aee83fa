//! The portable reference every SIMD kernel is checked against.

/// `Σ x[i]·w[i]` over the shorter length (wrapping, like the SIMD kernels).
#[inline]
pub fn dot(x: &[i8], w: &[i8]) -> i32 {
    x.iter()
        .zip(w)
        .fold(0i32, |acc, (&a, &b)| acc.wrapping_add(a as i32 * b as i32))
}
