//! NEON for Cortex-A (Raspberry Pi 4/5, Jetson): `SMULL`/`SMULL2` widen 8×8
//! products to 16 bits, `SADALP` folds them into 32-bit lanes; with the
//! `dotprod` feature (Cortex-A76, Orin) one `SDOT` does 16 MACs.

use core::arch::aarch64::*;

use super::RowQuant;
#[cfg(target_feature = "dotprod")]
use core::arch::asm;

/// `Σ x[i]·w[i]`, bit-exact with [`super::scalar::dot`].
#[inline]
pub fn dot(x: &[i8], w: &[i8]) -> i32 {
    let n = x.len().min(w.len());
    let blocks = n / 16;
    // SAFETY: NEON is part of the aarch64 baseline; every load reads 16 bytes at
    // offset 16·b with b < blocks, so within the first `n` bytes of both slices.
    let mut acc = unsafe {
        let mut v = vdupq_n_s32(0);
        for b in 0..blocks {
            let a = vld1q_s8(x.as_ptr().add(16 * b));
            let c = vld1q_s8(w.as_ptr().add(16 * b));
            v = dot16(v, a, c);
        }
        vaddvq_s32(v)
    };
    acc = acc.wrapping_add(super::scalar::dot(&x[16 * blocks..n], &w[16 * blocks..n]));
    acc
}

/// `[x0·w0, x0·w1, x1·w0, x1·w1]`, bit-exact with [`super::scalar::dot_2x2`].
#[inline]
pub fn dot_2x2(x0: &[i8], x1: &[i8], w0: &[i8], w1: &[i8]) -> [i32; 4] {
    let n = x0.len().min(x1.len()).min(w0.len()).min(w1.len());
    let blocks = n / 16;
    // SAFETY: as in [`dot`]: every load reads 16 bytes at offset 16·b < n of
    // slices that all hold at least `n` bytes.
    let body = unsafe {
        let mut v = [vdupq_n_s32(0); 4];
        for b in 0..blocks {
            let a = vld1q_s8(x0.as_ptr().add(16 * b));
            let c = vld1q_s8(x1.as_ptr().add(16 * b));
            let p = vld1q_s8(w0.as_ptr().add(16 * b));
            let q = vld1q_s8(w1.as_ptr().add(16 * b));
            v = [
                dot16(v[0], a, p),
                dot16(v[1], a, q),
                dot16(v[2], c, p),
                dot16(v[3], c, q),
            ];
        }
        v.map(|x| vaddvq_s32(x))
    };
    let d = 16 * blocks;
    let t = super::scalar::dot_2x2(&x0[d..n], &x1[d..n], &w0[d..n], &w1[d..n]);
    [0, 1, 2, 3].map(|i| body[i].wrapping_add(t[i]))
}

/// [`super::scalar::requantize_row`] four channels per step, bit-exact:
/// `SQRDMULH` is gemmlowp's rounding doubling high multiply, `SRSHL` by a
/// negative amount rounds ties up, so negatives are nudged down by one first
/// (ties away from zero, as [`crate::arith::rounding_divide_by_pot`]).
#[inline]
pub fn requantize_row(acc: &[i32], q: &RowQuant, out: &mut [i8]) {
    let n = q.span(acc, out);
    let blocks = n / 4;
    // SAFETY: every load reads 4 `i32`s at offset 4·b < n of slices that hold
    // at least `n`; register-only NEON arithmetic otherwise.
    unsafe {
        let (zero, z) = (vdupq_n_s32(0), vdupq_n_s32(q.zero_point));
        let (lo, hi) = (vdupq_n_s32(q.act[0] as i32), vdupq_n_s32(q.act[1] as i32));
        for b in 0..blocks {
            let at = 4 * b;
            let s = vld1q_s32(q.shift.as_ptr().add(at));
            let (left, right) = (vmaxq_s32(s, zero), vminq_s32(s, zero));
            let mut x = vaddq_s32(
                vld1q_s32(acc.as_ptr().add(at)),
                vld1q_s32(q.bias.as_ptr().add(at)),
            );
            x = vqrdmulhq_s32(vshlq_s32(x, left), vld1q_s32(q.mult.as_ptr().add(at)));
            x = vqaddq_s32(x, vshrq_n_s32::<31>(vandq_s32(x, right)));
            x = vminq_s32(vmaxq_s32(vaddq_s32(vrshlq_s32(x, right), z), lo), hi);
            let mut v = [0i32; 4];
            vst1q_s32(v.as_mut_ptr(), x);
            for (o, r) in out[at..at + 4].iter_mut().zip(v) {
                *o = r as i8;
            }
        }
    }
    let d = 4 * blocks;
    if let Some(tail) = q.rows(d..n) {
        super::scalar::requantize_row(&acc[d..n], &tail, &mut out[d..n]);
    }
}

#[cfg(not(target_feature = "dotprod"))]
#[inline(always)]
unsafe fn dot16(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    // SAFETY: register-only NEON arithmetic, always available on aarch64.
    unsafe {
        let lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
        let hi = vmull_high_s8(a, b);
        vpadalq_s16(vpadalq_s16(acc, lo), hi)
    }
}

#[cfg(target_feature = "dotprod")]
#[inline(always)]
unsafe fn dot16(mut acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    // SAFETY: SDOT is available (cfg `dotprod`); register-only.
    unsafe {
        asm!("sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b", acc = inout(vreg) acc, a = in(vreg) a, b = in(vreg) b, options(pure, nomem, nostack));
    }
    acc
}
