//! NEON for Cortex-A (Raspberry Pi 4/5, Jetson): `SMULL`/`SMULL2` widen 8×8
//! products to 16 bits, `SADALP` folds them into 32-bit lanes; with the
//! `dotprod` feature (Cortex-A76, Orin) one `SDOT` does 16 MACs.

use core::arch::aarch64::*;
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
