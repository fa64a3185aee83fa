//! Cortex-M DSP extension (M4, M7, M33): four int8 products per step with
//! `SXTB16` (unpack even / odd bytes to sign-extended halfwords) and `SMLAD`
//! (two 16×16 multiplies accumulated).

use core::arch::asm;

/// `Σ x[i]·w[i]`, bit-exact with [`super::scalar::dot`].
#[inline]
pub fn dot(x: &[i8], w: &[i8]) -> i32 {
    let n = x.len().min(w.len());
    let body = n & !3;
    let mut acc: i32 = 0;
    let (xb, wb): (&[u8], &[u8]) = (
        bytemuck::cast_slice(&x[..body]),
        bytemuck::cast_slice(&w[..body]),
    );
    for (xc, wc) in xb.chunks_exact(4).zip(wb.chunks_exact(4)) {
        let xv = u32::from_le_bytes([xc[0], xc[1], xc[2], xc[3]]);
        let wv = u32::from_le_bytes([wc[0], wc[1], wc[2], wc[3]]);
        // SAFETY: register-only DSP instructions (no memory access); every
        // thumbv7em / thumbv8m.main core with the DSP extension executes them,
        // and the `kernel-dsp` feature is only enabled for such cores.
        unsafe {
            asm!(
                "sxtb16 {xe}, {x}",
                "sxtb16 {xo}, {x}, ror #8",
                "sxtb16 {we}, {w}",
                "sxtb16 {wo}, {w}, ror #8",
                "smlad {acc}, {xe}, {we}, {acc}",
                "smlad {acc}, {xo}, {wo}, {acc}",
                x = in(reg) xv,
                w = in(reg) wv,
                xe = out(reg) _,
                xo = out(reg) _,
                we = out(reg) _,
                wo = out(reg) _,
                acc = inout(reg) acc,
                options(pure, nomem, nostack),
            );
        }
    }
    acc.wrapping_add(super::scalar::dot(&x[body..n], &w[body..n]))
}
