//! The int8 arithmetic of docs/architecture.md, TFLite / CMSIS-NN compatible, written once:
//! the converter computes multipliers with [`quantize_multiplier`], the engine
//! requantizes with [`multiply_by_quantized_multiplier`], and the tests compare
//! both with real arithmetic.
//!
//! `y_q = clamp(z_y + MBQM(acc, M0, shift))` with `s_x·s_w/s_y = M0·2^shift / 2^31`.

/// `round(a·b / 2^31)`, saturating the one overflowing case `i32::MIN · i32::MIN`
/// (gemmlowp's `SaturatingRoundingDoublingHighMul`).
///
/// gemmlowp adds a nudge of `2^30` for non-negative products and `1 − 2^30` for
/// negative ones, then divides by `2^31` truncating toward zero. For negative
/// `v = ab + 1 − 2^30`, truncation is `⌈v / 2^31⌉ = ⌊(ab + 2^30) / 2^31⌋`, the same
/// expression as the non-negative case: ties round *up* (toward +∞) in both, so the
/// whole function is one add and an arithmetic shift — and exactly what Helium's
/// `VQRDMULH.S32` computes. [`tests`] check it against the two-branch original.
#[inline]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    ((a as i64 * b as i64 + (1 << 30)) >> 31) as i32
}

/// `x / 2^exponent` rounded to nearest, ties away from zero (gemmlowp).
#[inline]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    debug_assert!((0..=31).contains(&exponent));
    // In u32: `2^e − 1` for e ≤ 31 without a 64-bit shift (the same values
    // as gemmlowp's i32 arithmetic, [`tests`] check every exponent).
    let e = (exponent & 31) as u32;
    let mask = (1u32 << e).wrapping_sub(1);
    let remainder = x as u32 & mask;
    let threshold = (mask >> 1) + u32::from(x < 0);
    (x >> e) + i32::from(remainder > threshold)
}

/// TFLite's `MultiplyByQuantizedMultiplier`: `x · M0 · 2^shift / 2^31`, rounded.
#[inline]
pub fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left = shift.max(0);
    let right = (-shift).max(0);
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x.wrapping_mul(1 << left), multiplier),
        right,
    )
}

/// Split a positive real multiplier into a Q31 `M0` in [2^30, 2^31) and a shift
/// (`m = M0 · 2^shift / 2^31`). `m = 0` gives `(0, 0)`; tiny multipliers flush
/// to zero, huge ones saturate.
pub fn quantize_multiplier(m: f64) -> (i32, i32) {
    if m <= 0.0 || !m.is_finite() {
        return (0, 0);
    }
    // frexp: m = q · 2^e with q in [0.5, 1).
    let mut e = 0i32;
    let mut q = m;
    while q >= 1.0 {
        q /= 2.0;
        e += 1;
    }
    while q < 0.5 {
        q *= 2.0;
        e -= 1;
    }
    let mut q_fixed = round_half_away(q * (1u64 << 31) as f64) as i64;
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        e += 1;
    }
    if e < -31 {
        return (0, 0);
    }
    if e > 30 {
        return (i32::MAX, 30);
    }
    (q_fixed as i32, e)
}

/// Round half away from zero (C's `round`), without `std`.
pub fn round_half_away(x: f64) -> f64 {
    let t = x as i64 as f64; // truncation toward zero
    let f = x - t;
    if f >= 0.5 {
        t + 1.0
    } else if f <= -0.5 {
        t - 1.0
    } else {
        t
    }
}

/// Requantize an accumulator: `clamp(z + MBQM(acc), lo, hi)`.
#[inline]
pub fn requantize(acc: i32, multiplier: i32, shift: i32, zero_point: i32, lo: i8, hi: i8) -> i8 {
    // max-then-min rather than `clamp`, which panics on lo > hi (blobs are
    // validated against that; this keeps the function total anyway).
    (multiply_by_quantized_multiplier(acc, multiplier, shift).wrapping_add(zero_point))
        .max(lo as i32)
        .min(hi as i32) as i8
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// gemmlowp's two-branch formulation, for the equivalence test.
    fn srdhm_gemmlowp(a: i32, b: i32) -> i32 {
        if a == i32::MIN && b == i32::MIN {
            return i32::MAX;
        }
        let ab = a as i64 * b as i64;
        let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
        ((ab + nudge) / (1i64 << 31)) as i32
    }

    #[test]
    fn srdhm_ties_and_extremes_match_gemmlowp() {
        for (a, b) in [
            (-(1 << 30), 1),
            (1 << 30, 1),
            (-3 << 29, 2),
            (i32::MIN, i32::MAX),
            (i32::MAX, i32::MAX),
            (i32::MIN, 1 << 30),
            (-1, 1),
            (0, i32::MIN),
        ] {
            assert_eq!(
                saturating_rounding_doubling_high_mul(a, b),
                srdhm_gemmlowp(a, b),
                "{a} {b}"
            );
        }
    }

    #[test]
    fn known_values_from_gemmlowp() {
        assert_eq!(rounding_divide_by_pot(5, 1), 3); // 2.5 → 3
        assert_eq!(rounding_divide_by_pot(-5, 1), -3); // -2.5 → -3
        assert_eq!(rounding_divide_by_pot(7, 2), 2); // 1.75 → 2
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
            i32::MAX
        );
        assert_eq!(
            saturating_rounding_doubling_high_mul(1 << 30, 1 << 30),
            1 << 29
        );
        assert_eq!(quantize_multiplier(0.5), (1 << 30, 0));
        assert_eq!(quantize_multiplier(1.0), (1 << 30, 1));
        assert_eq!(quantize_multiplier(0.0), (0, 0));
    }

    /// gemmlowp's `RoundingDivideByPOT` in i64, as first written here.
    fn rdbp_i64(x: i32, exponent: i32) -> i32 {
        let mask = ((1i64 << exponent) - 1) as i32;
        let remainder = x & mask;
        let threshold = (mask >> 1) + i32::from(x < 0);
        (x >> exponent) + i32::from(remainder > threshold)
    }

    #[test]
    fn rdbp_extremes_match_i64_form() {
        for e in 0..=31 {
            for x in [
                i32::MIN,
                i32::MIN + 1,
                -1,
                0,
                1,
                i32::MAX,
                1 << e.min(30),
                -(1 << e.min(30)),
            ] {
                assert_eq!(rounding_divide_by_pot(x, e), rdbp_i64(x, e), "{x} {e}");
            }
        }
    }

    proptest! {
        #[test]
        fn rdbp_matches_i64_form(x in any::<i32>(), e in 0i32..=31) {
            prop_assert_eq!(rounding_divide_by_pot(x, e), rdbp_i64(x, e));
        }

        #[test]
        fn srdhm_matches_gemmlowp(a in any::<i32>(), b in any::<i32>()) {
            prop_assert_eq!(saturating_rounding_doubling_high_mul(a, b), srdhm_gemmlowp(a, b));
        }

        /// MBQM(x, quantize_multiplier(m)) is x·m rounded, within one unit.
        #[test]
        fn mbqm_matches_real_multiplication(x in -(1i32 << 24)..(1i32 << 24), m in 1e-6f64..8.0) {
            let (q, s) = quantize_multiplier(m);
            let got = multiply_by_quantized_multiplier(x, q, s) as f64;
            let want = x as f64 * m;
            prop_assert!((got - want).abs() <= 1.0 + want.abs() * 1e-8, "x={} m={} got={} want={}", x, m, got, want);
        }
    }
}
