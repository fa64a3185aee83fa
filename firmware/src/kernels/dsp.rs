//! Cortex-M DSP extension (M4, M7, M33): four int8 products per step with
//! `SXTB16` (unpack even / odd bytes to sign-extended halfwords) and `SMLAD`
//! (two 16×16 multiplies accumulated).
//!
//! The conv's channel loop ([`dot_2xn`]) follows CMSIS-NN's s8 kernels on
//! these cores: a pixel pair's patches are widened to halfword pairs once
//! (a chunk of [`CHUNK`] bytes at a time, into a stack buffer), and then, for
//! every pair of weight rows, one hand-scheduled loop (`nq_dsp_mac_2xn`,
//! fourteen registers: nothing spills) runs 16 MACs in 17 instructions: two
//! weight loads and four `SXTB16`, two `LDRD`s of widened input, eight
//! `SMLAD`s, and half of the loop's `SUBS`/`BNE` (unrolled twice); the loop
//! over row pairs is in the same asm (about 25 instructions per pair, state
//! on the stack).

use core::arch::asm;
use core::mem::MaybeUninit;

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

/// Arguments of `nq_dsp_dw_group`, loaded with one `LDM`.
#[repr(C)]
struct DwArgs {
    x: *const i8,
    w: *const i8,
    /// Bytes between the taps of a kernel row (input and weights): `c`.
    c: usize,
    /// Input bytes from the end of a kernel row's taps to the next row's
    /// first: `row − kw·c`.
    radj: usize,
    kh: usize,
    kw: usize,
    out: *mut i32,
}

// `nq_dsp_dw_group(args)`: four channels of one depthwise output pixel,
//   out[j] = Σ_{ky<kh, kx<kw} x[ky·row + kx·c + j] · w[(ky·kw + kx)·c + j], j < 4
// (wrapping), the four sums in registers across all taps: per tap one word
// of input and one of weights (single `LDR`s, any alignment), each unpacked
// by `SXTB16` into channels (0, 2) and (1, 3), one `SMLABB` / `SMLATT` per
// channel — 14 instructions per tap. Registers: r0 x, r1 w, r2 c, r3 radj,
// r4 rows left, r6 taps left in the row, r7–r10 the sums, r5, r11, r12, lr
// the words in flight; kw and out on the stack.
/// # Safety
/// `x` valid for reads of 4 bytes at every tap (`(kh−1)·row + (kw−1)·c + 4`
/// bytes), `w` at every weight tap (`(kh·kw−1)·c + 4`), `out` for 4 `i32`
/// writes; kh, kw ≥ 1; the core must have the DSP extension.
#[inline(never)]
unsafe fn nq_dsp_dw_group(args: &DwArgs) {
    // SAFETY: the caller's contract covers the memory; r4–r11 (r6 and the
    // frame pointer r7 among them) and lr are pushed first and popped last,
    // the stack is balanced, and r0–r3, r12, lr and the flags are declared
    // clobbered.
    unsafe {
        asm!(
            "push {{r4-r11, lr}}",
            "ldm r0, {{r0-r6}}",
            "push {{r5, r6}}",
            "movs r7, #0",
            "movs r8, #0",
            "movs r9, #0",
            "movs r10, #0",
            "1:",
            "ldr r6, [sp]",
            "2:",
            "ldr r11, [r0]",
            "ldr r12, [r1]",
            "add r0, r0, r2",
            "add r1, r1, r2",
            "sxtb16 lr, r11",
            "sxtb16 r11, r11, ror #8",
            "sxtb16 r5, r12",
            "sxtb16 r12, r12, ror #8",
            "smlabb r7, lr, r5, r7",
            "smlatt r9, lr, r5, r9",
            "smlabb r8, r11, r12, r8",
            "smlatt r10, r11, r12, r10",
            "subs r6, r6, #1",
            "bne 2b",
            "add r0, r0, r3",
            "subs r4, r4, #1",
            "bne 1b",
            "ldr r6, [sp, #4]",
            "stm r6, {{r7-r10}}",
            "add sp, #8",
            "pop {{r4-r11, lr}}",
            inout("r0") args as *const DwArgs => _,
            out("r1") _, out("r2") _, out("r3") _, out("r12") _, out("lr") _,
        )
    }
}

/// One output pixel of a depthwise conv (see [`super::depthwise_pixel`]),
/// bit-exact with [`super::scalar::depthwise_pixel`]: four channels per
/// `nq_dsp_dw_group` call, their sums in registers across all taps (3.5
/// instructions per MAC); the last `n mod 4` channels in scalar.
pub fn depthwise_pixel(acc: &mut [i32], x: &[i8], w: &[i8], t: &super::DwTaps) -> bool {
    let n = acc.len();
    if !t.fits(n, x, w) {
        return false;
    }
    let [kh, kw] = t.k;
    let whole = n & !3;
    for (g, out) in acc[..whole].chunks_exact_mut(4).enumerate() {
        let args = DwArgs {
            x: x[4 * g..].as_ptr(),
            w: w[4 * g..].as_ptr(),
            c: t.c,
            radj: t.row.wrapping_sub(kw * t.c),
            kh,
            kw,
            out: out.as_mut_ptr(),
        };
        // SAFETY: `spans(n)` succeeded (kh, kw ≥ 1) and fits `x` and `w`:
        // channel group g reads 4 bytes at x + 4g + ky·row + kx·c, ending by
        // (kh−1)·row + (kw−1)·c + 4g + 4 ≤ nx ≤ x.len() (4g + 4 ≤ n), and at
        // w + 4g + (ky·kw + kx)·c, ending by (kh·kw−1)·c + 4g + 4 ≤ nw ≤
        // w.len(); `out` is 4 `i32`s of `acc`. The asm saves and restores
        // every callee-saved register and executes only DSP instructions.
        // `radj` wraps when row < kw·c; the asm adds it modulo 2^32, which
        // lands on the next row's first tap all the same.
        unsafe { nq_dsp_dw_group(&args) };
    }
    if whole < n {
        return super::scalar::depthwise_pixel(&mut acc[whole..], &x[whole..], &w[whole..], t);
    }
    true
}

/// `n` codes from `src` looked up in `table` (256 entries from code −128)
/// and written to `dst`, which may be `src` itself: per code `LDRSB` (the
/// signed code), `LDRB` at `table + 128` plus the code, `STRB`; four per
/// loop turn, loads before stores.
/// # Safety
/// `src` valid for `n` byte reads, `dst` for `n` byte writes (equal or not
/// overlapping); the core Armv7-M or later.
#[inline(never)]
pub(crate) unsafe fn lut_raw(src: *const i8, dst: *mut i8, n: usize, table: &[i8; 256]) {
    // SAFETY: the caller's contract covers `src` and `dst`; each code c in
    // [−128, 127] reads `table[c + 128]`, inside the 256 entries; a turn
    // loads its codes before it stores, so `dst == src` reads every code
    // before overwriting it. Only the declared registers and the flags
    // change.
    unsafe {
        asm!(
            "lsrs {q}, {n}, #2",
            "beq 2f",
            "1:",
            "ldrsb {a}, [{s}], #1",
            "ldrsb {b}, [{s}], #1",
            "ldrsb {c}, [{s}], #1",
            "ldrsb {e}, [{s}], #1",
            "ldrb {a}, [{t}, {a}]",
            "ldrb {b}, [{t}, {b}]",
            "ldrb {c}, [{t}, {c}]",
            "ldrb {e}, [{t}, {e}]",
            "strb {a}, [{d}], #1",
            "strb {b}, [{d}], #1",
            "strb {c}, [{d}], #1",
            "strb {e}, [{d}], #1",
            "subs {q}, {q}, #1",
            "bne 1b",
            "2:",
            "ands {n}, {n}, #3",
            "beq 4f",
            "3:",
            "ldrsb {a}, [{s}], #1",
            "ldrb {a}, [{t}, {a}]",
            "strb {a}, [{d}], #1",
            "subs {n}, {n}, #1",
            "bne 3b",
            "4:",
            s = inout(reg) src => _,
            d = inout(reg) dst => _,
            n = inout(reg) n => _,
            t = in(reg) table.as_ptr().add(128),
            q = out(reg) _,
            a = out(reg) _,
            b = out(reg) _,
            c = out(reg) _,
            e = out(reg) _,
            options(nostack),
        );
    }
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

/// One step of `nq_dsp_mac_2xn`'s inner loop: four patch bytes of two
/// pixels against two weight rows, 16 MACs in 16 instructions.
macro_rules! mac_step {
    () => {
        concat!(
            "ldr r8, [r2, r3]\n",
            "ldr r9, [r2], #4\n",
            "ldrd r10, r11, [r1], #8\n",
            "sxtb16 r12, r9\n",
            "sxtb16 r9, r9, ror #8\n",
            "sxtb16 lr, r8\n",
            "sxtb16 r8, r8, ror #8\n",
            "smlad r4, r12, r10, r4\n",
            "smlad r5, lr, r10, r5\n",
            "smlad r4, r9, r11, r4\n",
            "smlad r5, r8, r11, r5\n",
            "ldrd r10, r11, [r1], #8\n",
            "smlad r6, r12, r10, r6\n",
            "smlad r7, lr, r10, r7\n",
            "smlad r6, r9, r11, r6\n",
            "smlad r7, r8, r11, r7\n",
        )
    };
}

/// Arguments of [`nq_dsp_mac_2xn`] in the order one `LDM` loads them
/// (r0–r4, r12, lr).
#[repr(C)]
struct MacArgs {
    acc: *mut i32,
    x: *const u32,
    w: *const i8,
    woff: usize,
    zero: u32,
    steps: usize,
    pairs: usize,
}

// `nq_dsp_mac_2xn(acc, x, w, woff, steps, pairs, zero)`: for each of
// `pairs` row pairs p (rows w0 = w + 2p·woff, w1 = w0 + woff; int8, any
// alignment) and `steps` steps of four patch bytes,
//   a0[2p] += x0·w0, a0[2p+1] += x0·w1, a1[2p] += x1·w0, a1[2p+1] += x1·w1
// where a0 = `acc` and a1 = `acc` + 256 bytes (the engine's two rows of
// ACC_ROW = 64 accumulators), starting from 0 instead when `zero` ≠ 0. The
// two pixels' patches are widened and interleaved in `x` (word-aligned):
// per step [x0 even, x0 odd, x1 even, x1 odd], each a pair of sign-extended
// halfwords of bytes (0, 2) and (1, 3) — what `SXTB16` and `SXTB16 ror #8`
// give, so one `SMLAD` of a weight's even (odd) pair with an input's even
// (odd) pair adds two of the four products.
// Inner loop (two steps per iteration, an odd one before) registers: r0
// step pairs left, r1 x, r2 w0, r3 woff, r4–r7 the
// accumulators, r8–r12 and lr the words in flight. Frame (sp after `sub`):
// [0] x, [4] steps, [8] zero, [12] pairs left, [16] acc, [20] w0 of the pair.
/// # Safety
/// As the comment above: `acc` (two rows, 256 bytes apart), `x`, and the
/// weight rows must be valid for the accesses described; the core must have
/// the DSP extension.
#[inline(never)]
unsafe fn nq_dsp_mac_2xn(args: &MacArgs) {
    // SAFETY: the caller's contract covers the memory; r4–r11 (the frame
    // pointer r7 and LLVM's reserved r6 among them) and lr are pushed first
    // and popped last, the stack is balanced, and r0–r3, r12, lr and the
    // flags are declared clobbered.
    unsafe {
        asm!(
            "push {{r4-r11, lr}}",
            "ldm r0, {{r0-r4, r12, lr}}",
            "sub sp, #24",
            "str r1, [sp, #0]",
            "str r12, [sp, #4]",
            "str r4, [sp, #8]",
            "str r0, [sp, #16]",
            "cmp lr, #0",
            "beq 9f",
            "0:",
            "str lr, [sp, #12]",
            "str r2, [sp, #20]",
            "ldr r4, [sp, #8]",
            "ldr r9, [sp, #16]",
            "cbz r4, 3f",
            "movs r4, #0",
            "movs r5, #0",
            "movs r6, #0",
            "movs r7, #0",
            "b 4f",
            "3:",
            "ldrd r4, r5, [r9]",
            "ldrd r6, r7, [r9, #256]",
            "4:",
            "ldr r0, [sp, #4]",
            "ldr r1, [sp, #0]",
            // An odd step first, then two steps per iteration.
            "lsrs r0, r0, #1",
            "bcc 5f",
            mac_step!(),
            "5:",
            "cmp r0, #0",
            "beq 2f",
            "1:",
            mac_step!(),
            mac_step!(),
            "subs r0, r0, #1",
            "bne 1b",
            "2:",
            "ldr r9, [sp, #16]",
            "strd r4, r5, [r9]",
            "strd r6, r7, [r9, #256]",
            "adds r9, #8",
            "str r9, [sp, #16]",
            "ldr r2, [sp, #20]",
            "add.w r2, r2, r3, lsl #1",
            "ldr lr, [sp, #12]",
            "subs lr, lr, #1",
            "bne 0b",
            "9:",
            "add sp, #24",
            "pop {{r4-r11, lr}}",
            inout("r0") args as *const MacArgs => _,
            out("r1") _, out("r2") _, out("r3") _, out("r12") _, out("lr") _,
        )
    }
}

// `nq_dsp_widen_pair(out, x0, x1, n)`: for `n` steps of four bytes of each
// row, write [x0 even, x0 odd, x1 even, x1 odd] (four words) to `out`.
/// # Safety
/// `out` valid for `4·n` word writes, `x0` and `x1` for `4·n` byte reads;
/// the core must have the DSP extension.
#[inline(never)]
unsafe fn nq_dsp_widen_pair(out: *mut u32, x0: *const i8, x1: *const i8, n: usize) {
    // SAFETY: the caller's contract covers the memory; r4–r7 (the frame
    // pointer r7 and LLVM's reserved r6 among them) are pushed first and
    // popped last; r0–r3 and the flags are declared clobbered.
    unsafe {
        asm!(
            "push {{r4-r7}}",
            "cbz r3, 2f",
            "1:",
            "ldr r4, [r1], #4",
            "ldr r6, [r2], #4",
            "sxtb16 r5, r4, ror #8",
            "sxtb16 r4, r4",
            "sxtb16 r7, r6, ror #8",
            "sxtb16 r6, r6",
            "stm r0!, {{r4-r7}}",
            "subs r3, r3, #1",
            "bne 1b",
            "2:",
            "pop {{r4-r7}}",
            inout("r0") out => _,
            inout("r1") x0 => _,
            inout("r2") x1 => _,
            inout("r3") n => _,
        )
    }
}

// The asm finds the second accumulator row 256 bytes after the first.
const _: () = assert!(super::ACC_ROW * 4 == 256);

/// Patch bytes widened per step of [`dot_2xn`] (a multiple of 4): its stack
/// buffer holds two pixels' chunks as halfword pairs, `4·CHUNK` bytes.
pub const CHUNK: usize = 256;

/// A pixel pair's patch chunk widened for `nq_dsp_mac_2xn`: the first `len`
/// words of `buf` are written, the rest is uninitialized (zeroing a kilobyte
/// per call cost more than the widening).
struct Widened<'a> {
    buf: &'a mut [MaybeUninit<u32>; CHUNK],
    len: usize,
}

impl Widened<'_> {
    /// Widen `x0` and `x1` (`n` the shorter length, at most [`CHUNK`] bytes
    /// used), four words per four bytes: [x0 even, x0 odd, x1 even, x1 odd]
    /// halfword pairs; `⌈n/4⌉` steps, a last partial step padded with zeros.
    #[inline(always)]
    fn fill(&mut self, x0: &[i8], x1: &[i8]) {
        let n = x0.len().min(x1.len()).min(CHUNK);
        let whole = n / 4;
        // SAFETY: `nq_dsp_widen_pair` (above) reads `4·whole ≤ n` bytes of
        // `x0` and of `x1` with single `LDR`s (unaligned allowed), writes
        // `4·whole ≤ CHUNK` words to `buf` (word-aligned `MaybeUninit<u32>`s),
        // saves and restores the callee-saved registers it uses, and executes
        // only DSP-extension instructions (`kernel-dsp`).
        unsafe {
            nq_dsp_widen_pair(
                self.buf.as_mut_ptr().cast(),
                x0.as_ptr(),
                x1.as_ptr(),
                whole,
            );
        }
        self.len = 4 * whole;
        if !n.is_multiple_of(4) {
            // The partial step: its bytes and zeros as a word, widened here.
            let word = |x: &[i8]| {
                x[4 * whole..n]
                    .iter()
                    .rev()
                    .fold(0u32, |v, &b| v << 8 | u32::from(b as u8))
            };
            let ((e0, o0), (e1, o1)) = (unpack(word(x0)), unpack(word(x1)));
            // `4·(whole + 1) ≤ CHUNK`: `n < CHUNK` when `n % 4 ≠ 0`, and
            // CHUNK is a multiple of 4.
            let step = &mut self.buf[4 * whole..4 * whole + 4];
            for (slot, v) in step.iter_mut().zip([e0, o0, e1, o1]) {
                slot.write(v);
            }
            self.len += 4;
        }
    }

    /// Widen `n` bytes of `x0` and `x1` (`n` a multiple of 4, at most the
    /// room left in the buffer) after what is there.
    #[inline(always)]
    fn append(&mut self, x0: &[i8], x1: &[i8], n: usize) {
        let n = n.min(x0.len()).min(x1.len()).min(CHUNK - self.len) & !3;
        // SAFETY: `nq_dsp_widen_pair` (above) reads `n` bytes of `x0` and of
        // `x1` (in bounds: n ≤ both lengths) with single `LDR`s (unaligned
        // allowed), writes `n` words from word `len` of `buf` (in bounds:
        // len + n ≤ CHUNK; word-aligned `MaybeUninit<u32>`s), saves and
        // restores the callee-saved registers it uses, and executes only
        // DSP-extension instructions (`kernel-dsp`).
        unsafe {
            nq_dsp_widen_pair(
                self.buf.as_mut_ptr().add(self.len).cast(),
                x0.as_ptr(),
                x1.as_ptr(),
                n / 4,
            );
        }
        self.len += n;
    }

    /// `pairs` row pairs from row `j` (even) of `w` (rows of `k` bytes, this
    /// chunk starting at byte `c0` of each), every widened step:
    /// accumulators `j..j + 2·pairs` of both rows of `acc`, from zero when
    /// `zero`. With `single`, one row `j` paired with itself (its twin's slot
    /// `j + 1` gets the same sums; a caller reads only the first `m` slots).
    /// `None`, touching nothing, when the rows or slots are out of bounds.
    #[allow(clippy::too_many_arguments)]
    fn mac(
        &self,
        acc: &mut [[i32; super::ACC_ROW]; 2],
        w: &[i8],
        k: usize,
        c0: usize,
        j: usize,
        pairs: usize,
        single: bool,
        zero: bool,
    ) -> Option<()> {
        let steps = self.len / 4;
        let rows = if single { 1 } else { 2 * pairs };
        // The asm reads rows j..j + rows of w, bytes c0..c0 + 4·steps of
        // each, and writes slots j..j + 2·pairs of both accumulator rows.
        let last = (j + rows).checked_mul(k)?;
        if w.len() < last || c0 + 4 * steps > k || j + 2 * pairs > super::ACC_ROW {
            return None;
        }
        // SAFETY: the reads stay inside rows j..j + rows of `w` and the
        // slots inside `acc`, as checked; `steps` words of `buf` are widened.
        unsafe { self.run(acc, w, k, j * k + c0, j, pairs, single, zero, steps) };
        Some(())
    }

    /// Rows `0..m` of `w` over the widened chunk at `c0`: the row pairs, then
    /// an odd last row paired with itself (its twin slot `m` is scratch).
    #[inline(always)]
    fn mac_rows(
        &self,
        acc: &mut [[i32; super::ACC_ROW]; 2],
        w: &[i8],
        k: usize,
        c0: usize,
        m: usize,
    ) -> Option<()> {
        self.mac(acc, w, k, c0, 0, m / 2, false, c0 == 0)?;
        match m % 2 {
            1 => self.mac(acc, w, k, c0, m - 1, 1, true, c0 == 0),
            _ => Some(()),
        }
    }

    /// [`Widened::mac`] over the first `steps` widened steps, which may end
    /// in a padded one: its read runs up to three bytes past a row (the next
    /// row's first bytes, times the zero padding). `None`, touching nothing,
    /// when the furthest read leaves `w` or the slots leave `acc`.
    #[allow(clippy::too_many_arguments)]
    fn mac_padded(
        &self,
        acc: &mut [[i32; super::ACC_ROW]; 2],
        w: &[i8],
        k: usize,
        c0: usize,
        j: usize,
        pairs: usize,
        single: bool,
        zero: bool,
        steps: usize,
    ) -> Option<()> {
        let rows = if single { 1 } else { 2 * pairs };
        if rows == 0 {
            return Some(());
        }
        if j + 2 * pairs > super::ACC_ROW || 4 * steps > self.len {
            return None;
        }
        // The furthest byte read: the end of the last row's steps.
        let end = k
            .checked_mul(j + rows - 1)?
            .checked_add(c0)?
            .checked_add(4 * steps)?;
        if w.len() < end {
            return None;
        }
        // SAFETY: every read ends at or before `end ≤ w.len()` and the slots
        // stay inside `acc`, as checked; `steps` words of `buf` are widened.
        unsafe { self.run(acc, w, k, j * k + c0, j, pairs, single, zero, steps) };
        Some(())
    }

    /// The asm call of [`Widened::mac`] and [`Widened::mac_padded`], from
    /// byte `at` of `w`.
    /// # Safety
    /// `steps` steps widened; `steps` · 4 bytes from `at + p·2·k` and
    /// `at + p·2·k + k` (or just `at` when `single`) inside `w` for every
    /// pair p < `pairs`; `j + 2·pairs ≤ ACC_ROW`.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn run(
        &self,
        acc: &mut [[i32; super::ACC_ROW]; 2],
        w: &[i8],
        k: usize,
        at: usize,
        j: usize,
        pairs: usize,
        single: bool,
        zero: bool,
        steps: usize,
    ) {
        let (woff, pairs) = if single { (0, 1) } else { (k, pairs) };
        // SAFETY: `nq_dsp_mac_2xn` (above) reads `4·steps` words of `buf`
        // (written by `fill`), `4·steps` bytes at `w + at + p·2·woff` and
        // `w + at + p·2·woff + woff` for each pair p (inside `w`: the
        // caller's contract), reads and writes slots j..j + 2·pairs of the
        // two 64-slot rows of `acc` (the caller's contract), uses its own
        // stack frame, saves and restores every callee-saved register
        // (AAPCS), and executes only DSP-extension instructions
        // (`kernel-dsp`). `LDRD` needs `buf` and `acc` word-aligned: they
        // are arrays of `u32` / `i32`; the weight loads are single `LDR`s
        // (unaligned allowed).
        unsafe {
            nq_dsp_mac_2xn(&MacArgs {
                acc: acc[0].as_mut_ptr().add(j),
                x: self.buf.as_ptr().cast(),
                w: w.as_ptr().add(at),
                woff,
                zero: u32::from(zero),
                steps,
                pairs,
            });
        }
    }
}

/// The conv's channel loop (see [`super::dot_2xn`]), bit-exact with
/// [`super::scalar::dot_2xn`]: per chunk of the patches, widen the pixel
/// pair once, then run every pair of weight rows over it in one asm call (an
/// odd last row pairs with itself). A patch length `k` that is not a
/// multiple of 4 (a 3-channel stem: 27) ends in a step padded with zeros,
/// whose weight bytes past a row are the next row's first ones, times zero;
/// only rows whose padded read would leave `w` (the last, or the last few
/// when `k < 4`) take whole steps and add their last `k mod 4` products in
/// scalar.
pub fn dot_2xn(x0: &[i8], x1: &[i8], w: &[i8], acc: &mut [[i32; super::ACC_ROW]; 2]) -> usize {
    let k = x0.len().min(x1.len());
    let m = super::rows_2xn(k, w.len());
    // `m > 0` and the `body == 0` fill below look redundant (the padded
    // path handles both cases); without them LLVM compiles this function
    // worse: +25 k instructions on a 16-channel 3×3 layer, measured.
    let body = k & !3;
    // A separate uninitialized buffer: built inside the struct with `len`,
    // LLVM merged it into one 1 KiB memset per call. One for both paths
    // (each its own cost 1 KiB more stack).
    let mut buf = [MaybeUninit::<u32>::uninit(); CHUNK];
    if body != k && m > 0 {
        return dot_2xn_padded(&x0[..k], &x1[..k], w, m, acc, &mut buf);
    }
    if body == 0 {
        // No chunk writes the rows first (here only with k = 0 or m = 0).
        acc[0][..m].fill(0);
        acc[1][..m].fill(0);
    }
    // An odd last row's twin slot is scratch for the asm; keep its value
    // (callers and tests see slots past `m` untouched).
    let twin = [acc[0].get(m).copied(), acc[1].get(m).copied()];
    let mut x = Widened {
        buf: &mut buf,
        len: 0,
    };
    for c0 in (0..body).step_by(CHUNK) {
        let len = CHUNK.min(body - c0);
        x.fill(&x0[c0..c0 + len], &x1[c0..c0 + len]);
        if x.mac_rows(acc, w, k, c0, m).is_none() {
            // Unreachable: `m ≤ 64` rows of `k` fit in `w` (rows_2xn).
            return 0;
        }
    }
    if m % 2 == 1 {
        for (row, v) in acc.iter_mut().zip(twin) {
            if let (Some(slot), Some(v)) = (row.get_mut(m), v) {
                *slot = v;
            }
        }
    }
    m
}

/// The conv's channel loop on patches read in place (see
/// [`super::dot_2xn_strided`]), bit-exact with
/// [`super::scalar::dot_2xn_strided`]: the runs widened straight into the
/// chunk buffer, [`CHUNK`] bytes at a time across run boundaries, then every
/// pair of weight rows over each chunk as in [`dot_2xn`]. Runs whose length
/// is not a multiple of 4 go through the scalar reference. Not inlined: its
/// 1 KiB chunk buffer must not sit in the conv's frame beside [`dot_2xn`]'s.
#[inline(never)]
pub fn dot_2xn_strided(
    x0: &[i8],
    x1: &[i8],
    s: &super::Strided,
    w: &[i8],
    acc: &mut [[i32; super::ACC_ROW]; 2],
) -> usize {
    if !s.fits(x0, x1) {
        return 0;
    }
    if !s.run.is_multiple_of(4) {
        return super::scalar::dot_2xn_strided(x0, x1, s, w, acc);
    }
    let k = s.rows * s.run;
    let m = super::rows_2xn(k, w.len());
    if m == 0 {
        return 0;
    }
    let twin = [acc[0].get(m).copied(), acc[1].get(m).copied()];
    let mut buf = [MaybeUninit::<u32>::uninit(); CHUNK];
    let mut x = Widened {
        buf: &mut buf,
        len: 0,
    };
    let mut c0 = 0;
    for r in 0..s.rows {
        let at = r * s.stride;
        let mut off = 0;
        while off < s.run {
            let n = (s.run - off).min(CHUNK - x.len);
            x.append(&x0[at + off..], &x1[at + off..], n);
            off += n;
            let last = r + 1 == s.rows && off == s.run;
            if x.len == CHUNK || last {
                if x.mac_rows(acc, w, k, c0, m).is_none() {
                    // Unreachable: `m ≤ 64` rows of `k` fit in `w`.
                    return 0;
                }
                c0 += x.len;
                x.len = 0;
            }
        }
    }
    restore_twin(acc, m, twin);
    m
}

/// An odd row count's twin slot back to what it held before the asm used it.
#[inline]
fn restore_twin(acc: &mut [[i32; super::ACC_ROW]; 2], m: usize, twin: [Option<i32>; 2]) {
    if m % 2 == 1 {
        for (row, v) in acc.iter_mut().zip(twin) {
            if let (Some(slot), Some(v)) = (row.get_mut(m), v) {
                *slot = v;
            }
        }
    }
}

/// [`dot_2xn`] for a patch length `k` not a multiple of 4 (a 3-channel
/// stem: 27), `m ≥ 1` rows: the patches end in a step padded with zeros,
/// whose weight bytes past a row are the next row's first ones, times zero.
/// Rows whose padded read would leave `w` (the last, or the last few when
/// `k < 4`) take whole steps only and add their last `k mod 4` products in
/// scalar — on a stem, 1 or 2 rows of 16 instead of all.
#[inline(never)]
fn dot_2xn_padded(
    x0: &[i8],
    x1: &[i8],
    w: &[i8],
    m: usize,
    acc: &mut [[i32; super::ACC_ROW]; 2],
    buf: &mut [MaybeUninit<u32>; CHUNK],
) -> usize {
    let k = x0.len();
    if m == 0 {
        return 0;
    }
    let tail = k % 4;
    // Rows whose padded last step stays inside `w`; they go in pairs.
    let padded = (w.len().saturating_sub(4 - tail) / k).min(m);
    let pairs = padded / 2;
    let rest = m - 2 * pairs;
    let twin = [acc[0].get(m).copied(), acc[1].get(m).copied()];
    let mut x = Widened { buf, len: 0 };
    for c0 in (0..k).step_by(CHUNK) {
        let len = CHUNK.min(k - c0);
        x.fill(&x0[c0..c0 + len], &x1[c0..c0 + len]);
        let (all, whole, zero) = (len.div_ceil(4), len / 4, c0 == 0);
        let ok = x
            .mac_padded(acc, w, k, c0, 0, pairs, false, zero, all)
            .and_then(|_| x.mac_padded(acc, w, k, c0, 2 * pairs, rest / 2, false, zero, whole))
            .and_then(|_| match rest % 2 {
                1 => x.mac_padded(acc, w, k, c0, m - 1, 1, true, zero, whole),
                _ => Some(()),
            });
        if ok.is_none() {
            // Unreachable: `m ≤ 64` rows of `k` fit in `w` (rows_2xn), the
            // padded ones with their read past the row (`padded`).
            return 0;
        }
    }
    restore_twin(acc, m, twin);
    let [a0, a1] = acc;
    let body = k - tail;
    for (j, wj) in w.chunks_exact(k).enumerate().take(m).skip(2 * pairs) {
        a0[j] = a0[j].wrapping_add(super::scalar::dot(&x0[body..], &wj[body..]));
        a1[j] = a1[j].wrapping_add(super::scalar::dot(&x1[body..], &wj[body..]));
    }
    m
}

/// Arguments of `nq_dsp_requantize_row`, loaded with one `LDM`.
#[repr(C)]
struct RequantArgs {
    acc: *const i32,
    bias: *const i32,
    mult: *const i32,
    shift: *const i32,
    out: *mut i8,
    n: usize,
    zero_point: i32,
    lo: i32,
    hi: i32,
}

/// SRDHM without its saturating case: `x = (x·m + 2^30) >> 31` in 64 bits
/// (`SMULL`, the round, the high 32 bits of the shift); clobbers r12 and lr.
/// The rounding is gemmlowp's (ties away from zero): for a negative product
/// its nudge `1 − 2^30` and truncating division equal this floor.
#[rustfmt::skip] // one asm instruction per line
macro_rules! srdhm {
    ($x:literal, $m:literal) => {
        concat!(
            "smull r12, lr, ", $x, ", ", $m, "\n",
            "adds r12, r12, #0x40000000\n",
            "adc lr, lr, #0\n",
            "lsr r12, r12, #31\n",
            "orr ", $x, ", r12, lr, lsl #1\n",
        )
    };
}

/// The rounding division `RDBP(x, right) = (x + 2^(right−1) − [x < 0]) >>
/// right` for right ≥ 1, `$half` the operand giving `2^(right−1)`: the sum
/// overflows only for x ≥ 0 (V set), and is then exact as unsigned, so it
/// is shifted logically. Clobbers r12.
#[rustfmt::skip] // one asm instruction per line
macro_rules! rdbp {
    ($x:literal, $half:literal, $right:literal) => {
        concat!(
            "adds r12, ", $x, ", ", $half, "\n",
            "add r12, r12, ", $x, ", asr #31\n",
            "ite vs\n",
            "lsrvs ", $x, ", r12, ", $right, "\n",
            "asrvc ", $x, ", r12, ", $right, "\n",
        )
    };
}

/// `x = clamp(x + zp, lo, hi)` and one byte stored through `$out`.
#[rustfmt::skip] // one asm instruction per line
macro_rules! clamp_store {
    ($x:literal, $zp:literal, $lo:literal, $hi:literal, $out:literal) => {
        concat!(
            "add ", $x, ", ", $x, ", ", $zp, "\n",
            "cmp ", $x, ", ", $lo, "\n",
            "it lt\n",
            "movlt ", $x, ", ", $lo, "\n",
            "cmp ", $x, ", ", $hi, "\n",
            "it gt\n",
            "movgt ", $x, ", ", $hi, "\n",
            "strb ", $x, ", [", $out, "], #1\n",
        )
    };
}

/// One output of `nq_dsp_requantize_row` (registers as said there): load
/// `acc`, `bias`, `shift`, `mult`; shift left by `max(shift, 0)`; SRDHM as
/// `SMULL` + round + the high 32 bits of the 64 >> 31, with its one
/// saturating case (only `i32::MIN · i32::MIN` reaches 2^62, high word
/// 2^30); then, for `right = −shift > 0`, the rounding division
/// `RDBP(S, right) = (S + 2^(right−1) − [S < 0]) >> right` (gemmlowp's
/// `(x >> e) + (x & mask > threshold)` as one add and one shift; the sum
/// overflows only for S ≥ 0, V set, and is then exact as unsigned, so it is
/// shifted logically); add the zero point, clamp, store one byte. 32
/// instructions (25 when `shift ≥ 0`).
macro_rules! requant_one {
    () => {
        concat!(
            "ldr r9, [r0], #4\n",
            "ldr r10, [r1], #4\n",
            "add r9, r9, r10\n",
            "ldr r11, [r3], #4\n",
            "ldr r10, [r2], #4\n",
            "bic r12, r11, r11, asr #31\n",
            "lsl r9, r9, r12\n",
            srdhm!("r9", "r10"),
            // SRDHM's one saturating case: the product 2^62, high word 2^30.
            "cmp lr, #0x40000000\n",
            "it eq\n",
            "mvneq r9, #0x80000000\n",
            "rsbs r11, r11, #0\n",
            "ble 3f\n",
            "mov r12, #1\n",
            "lsl r12, r12, r11\n",
            rdbp!("r9", "r12, lsr #1", "r11"),
            "3:\n",
            clamp_store!("r9", "r6", "r7", "r8", "r4"),
        )
    };
}

// `nq_dsp_requantize_row(args)`: for i < n,
//   out[i] = clamp(zp + RDBP(SRDHM((acc[i] + bias[i]) << left, mult[i]), right), lo, hi)
// with left = max(shift[i], 0), right = max(−shift[i], 0): the arithmetic of
// `crate::arith::requantize` ([`requant_one`]), all in registers (r0–r3
// the tables, r4 out, r5 count, r6–r8 zp, lo, hi, r9–r12 and lr the values
// in flight); two outputs per loop turn: 33 instructions per output with a
// right shift, what conv layers have (37 before the division was
// rewritten and the loop unrolled).
/// # Safety
/// The five pointers of `args` valid for `n` elements; the core must be
/// Armv7-M or later.
#[inline(never)]
unsafe fn nq_dsp_requantize_row(args: &RequantArgs) {
    // SAFETY: the caller's contract covers the memory; r4–r11 (r6 and the
    // frame pointer r7 among them) and lr are pushed first and popped last;
    // r0–r3, r12, lr and the flags are declared clobbered.
    unsafe {
        asm!(
            "push {{r4-r11, lr}}",
            "ldm r0, {{r0-r8}}",
            // An odd count: one output first; then pairs.
            "tst r5, #1",
            "beq 4f",
            requant_one!(),
            "4:",
            "lsrs r5, r5, #1",
            "beq 2f",
            "1:",
            requant_one!(),
            requant_one!(),
            "subs r5, r5, #1",
            "bne 1b",
            "2:",
            "pop {{r4-r11, lr}}",
            inout("r0") args as *const RequantArgs => _,
            out("r1") _, out("r2") _, out("r3") _, out("r12") _, out("lr") _,
        )
    }
}

/// One output of `nq_dsp_requantize_row_right` (registers as said there):
/// [`requant_one`] without the three steps its preconditions make dead — no
/// left shift (every shift < 0), no SRDHM saturation (a multiplier ≥ 0 never
/// meets `i32::MIN · i32::MIN`), no upper clamp compare (`SSAT #8` gives
/// ≤ 127, the row's upper clamp) — and with 1 kept in a register: 23
/// instructions.
macro_rules! requant_right {
    () => {
        concat!(
            "ldr r9, [r0], #4\n",
            "ldr r10, [r1], #4\n",
            "add r9, r9, r10\n",
            "ldr r10, [r2], #4\n",
            "ldr r11, [r3], #4\n",
            srdhm!("r9", "r10"),
            "rsb r11, r11, #0\n",
            "lsl r12, r8, r11\n",
            rdbp!("r9", "r12, lsr #1", "r11"),
            "add r9, r9, r6\n",
            "ssat r9, #8, r9\n",
            "cmp r9, r7\n",
            "it lt\n",
            "movlt r9, r7\n",
            "strb r9, [r4], #1\n",
        )
    };
}

// `nq_dsp_requantize_row_right(args)`: `nq_dsp_requantize_row` for a row
// whose shifts are all < 0 and multipliers all ≥ 0, clamped to [lo, 127]
// (`RowQuant::right_only`; `hi` in `args` is ignored): r0–r3 the tables, r4
// out, r5 count, r6 zp, r7 lo, r8 the constant 1, r9–r12 and lr in flight;
// two outputs per loop turn, 24 instructions per output.
/// # Safety
/// As `nq_dsp_requantize_row`.
#[inline(never)]
unsafe fn nq_dsp_requantize_row_right(args: &RequantArgs) {
    // SAFETY: as `nq_dsp_requantize_row`: the caller's contract covers the
    // memory; r4–r11 and lr are pushed first and popped last; r0–r3, r12, lr
    // and the flags are declared clobbered.
    unsafe {
        asm!(
            "push {{r4-r11, lr}}",
            "ldm r0, {{r0-r7}}",
            "movs r8, #1",
            "tst r5, #1",
            "beq 4f",
            requant_right!(),
            "4:",
            "lsrs r5, r5, #1",
            "beq 2f",
            "1:",
            requant_right!(),
            requant_right!(),
            "subs r5, r5, #1",
            "bne 1b",
            "2:",
            "pop {{r4-r11, lr}}",
            inout("r0") args as *const RequantArgs => _,
            out("r1") _, out("r2") _, out("r3") _, out("r12") _, out("lr") _,
        )
    }
}

/// The row requantization (see [`super::scalar::requantize_row`]), bit-exact
/// with it: `nq_dsp_requantize_row_right` on rows in the common case
/// ([`super::RowQuant::right_only`]), `nq_dsp_requantize_row` on any other.
pub fn requantize_row(acc: &[i32], q: &super::RowQuant, out: &mut [i8]) {
    let n = q.span(acc, out);
    let args = RequantArgs {
        acc: acc.as_ptr(),
        bias: q.bias.as_ptr(),
        mult: q.mult.as_ptr(),
        shift: q.shift.as_ptr(),
        out: out.as_mut_ptr(),
        n,
        zero_point: q.zero_point,
        lo: q.act[0] as i32,
        hi: q.act[1] as i32,
    };
    // SAFETY: `nq_dsp_requantize_row` and `nq_dsp_requantize_row_right`
    // (above) read `n` `i32`s of `acc`, `bias`, `mult` and `shift` and write
    // `n` bytes of `out`, where `n` is the shortest of the five lengths
    // (`RowQuant::span`); they read `args` (alive for the call), save and
    // restore every callee-saved register (AAPCS), use no other memory and
    // execute only Armv7-M instructions (`SMULL`, `SSAT` included), which
    // every `kernel-dsp` core has. The second is exact only on rows
    // `RowQuant::right_only` vouches for (a matter of values, not memory).
    unsafe {
        if q.right_only() {
            nq_dsp_requantize_row_right(&args)
        } else {
            nq_dsp_requantize_row(&args)
        }
    }
}

/// Arguments of `nq_dsp_add_row`, loaded with one `LDM`.
#[repr(C)]
struct AddArgs {
    a: *const i8,
    b: *const i8,
    /// `tables + 128`: entry `code` of input 1 at `t_mid[code]`, of input 2
    /// at `t_mid[256 + code]`.
    t_mid: *const i32,
    out: *mut i8,
    n: usize,
    mult: i32,
    right: i32,
    half: i32,
    zero_point: i32,
    lo: i32,
    hi: i32,
}

/// One output of `nq_dsp_add_row` (registers as said there): the two codes,
/// their table entries (input 2's 256 entries after input 1's), the sum
/// requantized: 24 instructions.
macro_rules! add_one {
    () => {
        concat!(
            "ldrsb r11, [r0], #1\n",
            "ldrsb r12, [r1], #1\n",
            "ldr r11, [r2, r11, lsl #2]\n",
            "add r12, r12, #256\n",
            "ldr r12, [r2, r12, lsl #2]\n",
            "add r11, r11, r12\n",
            srdhm!("r11", "r5"),
            rdbp!("r11", "r7", "r6"),
            clamp_store!("r11", "r8", "r9", "r10", "r3"),
        )
    };
}

// `nq_dsp_add_row(args)`: for i < n, with right = −shift ≥ 1 and mult ≥ 0,
//   out[i] = clamp(zp + RDBP(SRDHM(t_mid[a[i]] + t_mid[256 + b[i]], mult), right), lo, hi)
// — the tabulated residual Add, gather and requantization in one loop, all
// in registers (r0–r3 the pointers, r4 count, r5–r10 mult, right, half, zp,
// lo, hi; r11, r12, lr in flight): the codes index the tables through
// signed register offsets (`LDR [t_mid, code, LSL #2]`), the rounding
// division with `right` and `half = 2^(right−1)` loaded once, no SRDHM
// saturation check (a multiplier ≥ 0 never meets `i32::MIN · i32::MIN`);
// two outputs per loop turn: 24.5 instructions per output (≈ 46 as table
// sums through the row requantization).
/// # Safety
/// `a`, `b`, `out` valid for `n` elements, `t_mid` 128 entries into a
/// 512-entry table; the core must be Armv7-M or later.
#[inline(never)]
unsafe fn nq_dsp_add_row(args: &AddArgs) {
    // SAFETY: the caller's contract covers the memory; r4–r11 (r6 and the
    // frame pointer r7 among them) and lr are pushed first and popped last;
    // r0–r3, r12, lr and the flags are declared clobbered.
    unsafe {
        asm!(
            "push {{r4-r11, lr}}",
            "ldm r0, {{r0-r10}}",
            // An odd count: one output first; then pairs.
            "tst r4, #1",
            "beq 4f",
            add_one!(),
            "4:",
            "lsrs r4, r4, #1",
            "beq 2f",
            "1:",
            add_one!(),
            add_one!(),
            "subs r4, r4, #1",
            "bne 1b",
            "2:",
            "pop {{r4-r11, lr}}",
            inout("r0") args as *const AddArgs => _,
            out("r1") _, out("r2") _, out("r3") _, out("r12") _, out("lr") _,
        )
    }
}

/// The tabulated Add row (see [`super::scalar::add_row`]), bit-exact with
/// it: the asm loop for right shifts and multipliers ≥ 0 (every Add output
/// seen: the sum is scaled down from the inputs' `2^20` headroom, and blobs
/// hold multipliers ≥ 0), the scalar twin otherwise.
pub fn add_row(a: &[i8], b: &[i8], q: &super::AddRow, out: &mut [i8]) {
    if !(-31..0).contains(&q.shift) || q.mult < 0 {
        return super::scalar::add_row(a, b, q, out);
    }
    let right = -q.shift;
    let args = AddArgs {
        a: a.as_ptr(),
        b: b.as_ptr(),
        t_mid: q.tables[128..].as_ptr(),
        out: out.as_mut_ptr(),
        n: a.len().min(b.len()).min(out.len()),
        mult: q.mult,
        right,
        half: 1 << (right - 1),
        zero_point: q.zero_point,
        lo: q.act[0] as i32,
        hi: q.act[1] as i32,
    };
    // SAFETY: `nq_dsp_add_row` (above) reads `n` bytes of `a` and `b` and
    // writes `n` of `out` (`n` the shortest length); every code c in
    // [−128, 127] reads `t_mid[c]` = `tables[c + 128]` and `t_mid[256 + c]`
    // = `tables[c + 384]`, both inside the 512 entries; it reads `args`
    // (alive for the call), saves and restores every callee-saved register
    // and executes only Armv7-M instructions (`SMULL` included).
    unsafe { nq_dsp_add_row(&args) }
}

/// `dst[i] = src[i]` over the shorter length (see [`super::scalar::copy`]):
/// when both start word-aligned (im2col rows of ≥ 4-channel tensors), 16
/// bytes per `LDM`/`STM` pair; otherwise (a 3-channel stem's 9-byte rows)
/// a word per unaligned `LDR`/`STR`; the last bytes one by one. Short runs
/// called many times per pixel are where a library `memcpy`'s set-up costs
/// more than the copy.
pub fn copy(dst: &mut [i8], src: &[i8]) {
    let n = dst.len().min(src.len());
    let aligned = (dst.as_ptr() as usize | src.as_ptr() as usize).is_multiple_of(4);
    let blocks = if aligned { n / 16 } else { 0 };
    if blocks > 0 {
        // SAFETY: `blocks` iterations each read 16 bytes at `src` and write
        // 16 at `dst`, post-incrementing both: `16·blocks ≤ n` bytes, inside
        // both slices; `LDM`/`STM` need word alignment, checked above. Only
        // the declared registers (r0–r5, r12) and the flags change.
        unsafe {
            asm!(
                "1:",
                "ldm r1!, {{r2-r5}}",
                "stm r0!, {{r2-r5}}",
                "subs r12, r12, #1",
                "bne 1b",
                inout("r0") dst.as_mut_ptr() => _,
                inout("r1") src.as_ptr() => _,
                inout("r12") blocks => _,
                out("r2") _, out("r3") _, out("r4") _, out("r5") _,
                options(nostack),
            );
        }
    }
    let done = 16 * blocks;
    let words = (n - done) / 4;
    if words > 0 {
        // SAFETY: `words` iterations each read 4 bytes at `src + done` and
        // write 4 at `dst + done`, post-incrementing: `done + 4·words ≤ n`
        // bytes, inside both slices. Single `LDR`/`STR` may be unaligned on
        // Armv7-M (the DSP cores; unaligned trapping is off by default, as
        // the widening's loads already rely on). Only r0–r3 and the flags
        // change.
        unsafe {
            asm!(
                "1:",
                "ldr r2, [r1], #4",
                "str r2, [r0], #4",
                "subs r3, r3, #1",
                "bne 1b",
                inout("r0") dst.as_mut_ptr().add(done) => _,
                inout("r1") src.as_ptr().add(done) => _,
                inout("r3") words => _,
                out("r2") _,
                options(nostack),
            );
        }
    }
    let t = done + 4 * words;
    for (d, s) in dst[t..n].iter_mut().zip(&src[t..n]) {
        *d = *s;
    }
}
