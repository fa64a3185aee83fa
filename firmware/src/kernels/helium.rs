//! Helium / MVE (Cortex-M55, M85): 16 int8 lanes per load, and `VMLADAVA.S8`
//! multiplies them pairwise and adds all 16 products into a scalar accumulator.

use core::arch::asm;

/// `Σ x[i]·w[i]`, bit-exact with [`super::scalar::dot`].
#[inline]
pub fn dot(x: &[i8], w: &[i8]) -> i32 {
    let n = x.len().min(w.len());
    let blocks = n / 16;
    let mut acc: i32 = 0;
    if blocks > 0 {
        // SAFETY: reads exactly `blocks·16 ≤ n` bytes from each slice (both have
        // at least `n`), with post-increment addressing; `vldrb.s8` has no
        // alignment requirement; q0/q1 (d0–d3) are declared clobbered; the
        // `kernel-helium` feature is only enabled for MVE cores (Cortex-M55/M85).
        unsafe {
            asm!(
                "2:",
                "vldrb.s8 q0, [{xp}], #16",
                "vldrb.s8 q1, [{wp}], #16",
                "vmladava.s8 {acc}, q0, q1",
                "subs {k}, #1",
                "bne 2b",
                xp = inout(reg) x.as_ptr() => _,
                wp = inout(reg) w.as_ptr() => _,
                k = inout(reg) blocks => _,
                acc = inout(reg) acc,
                out("d0") _, out("d1") _, out("d2") _, out("d3") _,
                options(readonly, nostack),
            );
        }
    }
    let done = blocks * 16;
    acc.wrapping_add(super::scalar::dot(&x[done..n], &w[done..n]))
}
