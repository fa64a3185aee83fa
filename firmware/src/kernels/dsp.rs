//! Cortex-M DSP extension (M4, M7, M33): four int8 products per step with
//! `SXTB16` (unpack even / odd bytes to sign-extended halfwords) and `SMLAD`
//! (two 16×16 multiplies accumulated).

use core::arch::asm;

/// Four little-endian bytes as a word.
#[inline(always)]
fn word(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// `(even, odd)` bytes of a word sign-extended to halfword pairs.
#[inline(always)]
fn unpack(v: u32) -> (u32, u32) {
    let (e, o): (u32, u32);
    // SAFETY: register-only DSP instructions (no memory access); every
    // thumbv7em / thumbv8m.main core with the DSP extension executes them, and
    // the `kernel-dsp` feature is only enabled for such cores.
    unsafe {
        asm!(
            "sxtb16 {e}, {v}",
            "sxtb16 {o}, {v}, ror #8",
            v = in(reg) v, e = out(reg) e, o = out(reg) o,
            options(pure, nomem, nostack),
        );
    }
    (e, o)
}

/// `acc + a.lo·b.lo + a.hi·b.hi` (signed halfwords).
#[inline(always)]
fn smlad(a: u32, b: u32, acc: i32) -> i32 {
    let r: i32;
    // SAFETY: register-only DSP instruction, as in [`unpack`].
    unsafe {
        asm!("smlad {r}, {a}, {b}, {acc}", a = in(reg) a, b = in(reg) b, acc = in(reg) acc, r = lateout(reg) r,
            options(pure, nomem, nostack));
    }
    r
}

/// `Σ x[i]·w[i]`, bit-exact with [`super::scalar::dot`].
#[inline]
pub fn dot(x: &[i8], w: &[i8]) -> i32 {
    let n = x.len().min(w.len());
    let body = n & !3;
    let (xb, wb): (&[u8], &[u8]) = (
        bytemuck::cast_slice(&x[..body]),
        bytemuck::cast_slice(&w[..body]),
    );
    let mut acc: i32 = 0;
    for (xc, wc) in xb.chunks_exact(4).zip(wb.chunks_exact(4)) {
        let ((xe, xo), (we, wo)) = (unpack(word(xc)), unpack(word(wc)));
        acc = smlad(xo, wo, smlad(xe, we, acc));
    }
    acc.wrapping_add(super::scalar::dot(&x[body..n], &w[body..n]))
}

/// `[x0·w0, x0·w1, x1·w0, x1·w1]`, bit-exact with [`super::scalar::dot_2x2`]:
/// each unpacked word feeds two `SMLAD`s (4 loads, 8 unpacks, 8 MAC pairs per 16 MACs).
#[inline]
pub fn dot_2x2(x0: &[i8], x1: &[i8], w0: &[i8], w1: &[i8]) -> [i32; 4] {
    let n = x0.len().min(x1.len()).min(w0.len()).min(w1.len());
    let body = n & !3;
    fn v(s: &[i8], body: usize) -> &[u8] {
        bytemuck::cast_slice(&s[..body])
    }
    let mut r = [0i32; 4];
    let rows = v(x0, body)
        .chunks_exact(4)
        .zip(v(x1, body).chunks_exact(4))
        .zip(v(w0, body).chunks_exact(4).zip(v(w1, body).chunks_exact(4)));
    for ((a, b), (c, d)) in rows {
        let (a, b, c, d) = (
            unpack(word(a)),
            unpack(word(b)),
            unpack(word(c)),
            unpack(word(d)),
        );
        r[0] = smlad(a.1, c.1, smlad(a.0, c.0, r[0]));
        r[1] = smlad(a.1, d.1, smlad(a.0, d.0, r[1]));
        r[2] = smlad(b.1, c.1, smlad(b.0, c.0, r[2]));
        r[3] = smlad(b.1, d.1, smlad(b.0, d.0, r[3]));
    }
    let t = super::scalar::dot_2x2(&x0[body..n], &x1[body..n], &w0[body..n], &w1[body..n]);
    [0, 1, 2, 3].map(|i| r[i].wrapping_add(t[i]))
}
