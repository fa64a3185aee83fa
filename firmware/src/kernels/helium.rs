//! Helium / MVE (Cortex-M55, M85): 16 int8 lanes per load, and `VMLADAVA.S8`
//! multiplies them pairwise and adds all 16 products into a scalar accumulator.
//! The loops are low-overhead, tail-predicated `WLSTP.8` / `LETP` loops: the
//! last, partial block runs with the lanes past the end switched off (not
//! loaded, not accumulated), so any length runs without a scalar tail.

use core::arch::asm;

use super::RowQuant;

/// One step of the 2×2 block over 16 bytes: 4 loads (`x0`, `x1`, `w0`, `w1`,
/// post-incremented) and 4 `VMLADAVA.S8` into r0 (x0·w0), r2 (x0·w1), r4
/// (x1·w0), r8 (x1·w1) — the even registers the instruction requires.
macro_rules! block_2x2_16 {
    () => {
        "vldrb.u8 q0, [{x0}], #16
        vldrb.u8 q1, [{x1}], #16
        vldrb.u8 q2, [{w0}], #16
        vldrb.u8 q3, [{w1}], #16
        vmladava.s8 r0, q0, q2
        vmladava.s8 r2, q0, q3
        vmladava.s8 r4, q1, q2
        vmladava.s8 r8, q1, q3"
    };
}

/// One 16-byte step of the 3×2 pixel-triple block ([`dot_3xn`]): pixel 0's
/// chunk with a post-increment of 48, pixels 1 and 2's at −32 and −16, two
/// weight rows, six multiply-accumulates (`$op`: `vmladav` to start the
/// sums, `vmladava` to add to them) into r0/r2 (pixel 0), r4/r8, r10/r12.
#[rustfmt::skip] // one instruction per line
macro_rules! block_3x2_16 {
    ($op:literal) => {
        concat!(
            "vldrb.u8 q0, [{x}], #48\n",
            "vldrb.u8 q1, [{x}, #-32]\n",
            "vldrb.u8 q2, [{x}, #-16]\n",
            "vldrb.u8 q3, [{w0}], #16\n",
            "vldrb.u8 q4, [{w1}], #16\n",
            $op, ".s8 r0, q0, q3\n",
            $op, ".s8 r2, q0, q4\n",
            $op, ".s8 r4, q1, q3\n",
            $op, ".s8 r8, q1, q4\n",
            $op, ".s8 r10, q2, q3\n",
            $op, ".s8 r12, q2, q4"
        )
    };
}

/// `Σ x[i]·w[i]`, bit-exact with [`super::scalar::dot`].
#[inline]
pub fn dot(x: &[i8], w: &[i8]) -> i32 {
    let n = x.len().min(w.len());
    let mut acc: i32 = 0;
    // SAFETY: the tail-predicated loop reads exactly `n` bytes from each slice
    // (both hold at least `n`): lanes past the end are predicated off and not
    // loaded. `vldrb` has no alignment requirement; q0/q1 (d0–d3) and lr are
    // declared clobbered; `kernel-helium` is only enabled for MVE cores.
    unsafe {
        asm!(
            "wlstp.8 lr, {n}, 3f",
            "2:",
            "vldrb.u8 q0, [{xp}], #16",
            "vldrb.u8 q1, [{wp}], #16",
            "vmladava.s8 r0, q0, q1",
            "letp lr, 2b",
            "3:",
            xp = inout(reg) x.as_ptr() => _,
            wp = inout(reg) w.as_ptr() => _,
            n = in(reg) n,
            inout("r0") acc, // VMLADAVA needs an even-numbered accumulator register
            out("lr") _,
            out("d0") _, out("d1") _, out("d2") _, out("d3") _,
            options(readonly, nostack),
        );
    }
    acc
}

/// `[x0·w0, x0·w1, x1·w0, x1·w1]`, bit-exact with [`super::scalar::dot_2x2`]:
/// per 16 bytes 4 loads + 4 `VMLADAVA` + `LETP` = 9 instructions for 64 MACs.
#[inline]
pub fn dot_2x2(x0: &[i8], x1: &[i8], w0: &[i8], w1: &[i8]) -> [i32; 4] {
    let n = x0.len().min(x1.len()).min(w0.len()).min(w1.len());
    let (mut a, mut b, mut c, mut d) = (0i32, 0i32, 0i32, 0i32);
    // SAFETY: as in [`dot`]: exactly `n` bytes are read from each of the four
    // slices (all hold at least `n`), the rest predicated off; q0–q3 (d0–d7) and
    // lr are clobbered; accumulators are the even registers VMLADAVA requires.
    unsafe {
        asm!(
            "wlstp.8 lr, {n}, 3f",
            "2:",
            block_2x2_16!(),
            "letp lr, 2b",
            "3:",
            x0 = inout(reg) x0.as_ptr() => _,
            x1 = inout(reg) x1.as_ptr() => _,
            w0 = inout(reg) w0.as_ptr() => _,
            w1 = inout(reg) w1.as_ptr() => _,
            n = in(reg) n,
            inout("r0") a,
            inout("r2") b,
            inout("r4") c,
            inout("r8") d,
            out("lr") _,
            out("d0") _, out("d1") _, out("d2") _, out("d3") _,
            out("d4") _, out("d5") _, out("d6") _, out("d7") _,
            options(readonly, nostack),
        );
    }
    [a, b, c, d]
}

// The second accumulator row lies 256 bytes after the first (the `STRD` offset).
const _: () = assert!(super::ACC_ROW * 4 == 256);

/// The conv's channel loop over `pairs` row pairs (see [`dot_2xn`]): per
/// pair the first 16 bytes' 2×2 block with `VMLADAV` (the accumulators start
/// from those products: nothing to zero, one `LETP` fewer; `k ≥ 16`), the
/// tail-predicated 2×2 block loop over the other `k − 16`, two
/// `STRD`s, then `$rewind` (pointers back to the patches' start, weights on
/// to the next pair); `$pre` / `$post` run once around it. A trailing
/// `nostack` says the block leaves the stack alone (the whole-vector path;
/// the general path keeps `k16` on it).
macro_rules! channel_loop {
    ($x0:expr, $x1:expr, $w:expr, $acc:expr, $pairs:expr, $k:expr,
     [$($pre:literal),*], [$($rewind:literal),*], [$($post:literal),*] $(, $opt:ident)?) => {
        asm!(
            $($pre,)*
            "2:",
            "vldrb.u8 q0, [{x0}], #16",
            "vldrb.u8 q1, [{x1}], #16",
            "vldrb.u8 q2, [{w0}], #16",
            "vldrb.u8 q3, [{w1}], #16",
            "vmladav.s8 r0, q0, q2",
            "vmladav.s8 r2, q0, q3",
            "vmladav.s8 r4, q1, q2",
            "vmladav.s8 r8, q1, q3",
            "sub lr, {k}, #16",
            "wlstp.8 lr, lr, 3f",
            "4:",
            block_2x2_16!(),
            "letp lr, 4b",
            "3:",
            "strd r4, r8, [{acc}, #256]",
            "strd r0, r2, [{acc}], #8",
            $($rewind,)*
            "subs {n}, {n}, #1",
            "bne 2b",
            $($post,)*
            x0 = inout(reg) $x0.as_ptr() => _,
            x1 = inout(reg) $x1.as_ptr() => _,
            w0 = inout(reg) $w.as_ptr() => _,
            w1 = inout(reg) $w.as_ptr().wrapping_add($k) => _,
            acc = inout(reg) $acc.as_mut_ptr().cast::<i32>() => _,
            n = inout(reg) $pairs => _,
            k = in(reg) $k,
            out("r0") _,
            out("r2") _,
            out("r4") _,
            out("r8") _,
            out("lr") _,
            out("d0") _, out("d1") _, out("d2") _, out("d3") _,
            out("d4") _, out("d5") _, out("d6") _, out("d7") _,
            $(options($opt),)?
        )
    };
}

/// [`super::dot_2xn`] with the channel loop inside the asm block: per channel
/// pair the first 16 bytes peeled (8 instructions, no accumulator to zero),
/// the 9-instruction `dot_2x2` loop over the rest (tail-predicated: any `k`),
/// two `STRD`s and 8 instructions of pointer and counter updates — ≈ 12
/// instructions of overhead per pair instead of the ≈ 47 a Rust loop around
/// [`dot_2x2`] costs. The loads post-increment by
/// whole vectors, so after a row the pointers stand `k16 = ⌈k/16⌉·16` bytes
/// on; the asm steps them back by `k16` (`k` when it is a multiple of 16;
/// else kept on the stack) and on by `k`.
/// Patches shorter than 16 bytes take [`short_2xn`].
#[inline]
pub fn dot_2xn(x0: &[i8], x1: &[i8], w: &[i8], acc: &mut [[i32; super::ACC_ROW]; 2]) -> usize {
    let k = x0.len().min(x1.len());
    if k > 0 && k < 16 {
        return short_2xn(x0, x1, w, acc);
    }
    let m = super::rows_2xn(k, w.len());
    let pairs = m / 2;
    if pairs > 0 {
        // SAFETY: `pairs` ≥ 1 iterations of the outer loop; iteration `i` reads
        // exactly `k ≥ 16` bytes (16 = one whole vector peeled, `k ≥ 16` here as
        // shorter patches took `short_2xn`; the tail-predicated loop over the
        // other `k − 16` loads no lane past `k`)
        // from each of `x0`, `x1` (both hold ≥ `k`), and rows `2i`, `2i + 1`
        // of `w` (`2·pairs ≤ m ≤ w.len() / k`); then the pointers, `k16` past
        // where they started, step back by `k16` (`k` itself when a multiple
        // of 16; else read from the word the asm pushed and popped before the
        // end: the stack is balanced) and the w
        // pointers on to the next pair. It writes `acc[0][2i..2i + 2]`
        // (post-indexed `STRD`) and `acc[1][2i..2i + 2]` (`ACC_ROW · 4` = 256
        // bytes further: `acc` is two contiguous `[i32; ACC_ROW]` rows, word
        // aligned as `STRD` needs), `2i + 1 < m ≤ ACC_ROW`. Accumulators are the
        // even registers VMLADAVA requires; r0, r2, r4, r8, q0–q3 (d0–d7), lr
        // and the flags are clobbered.
        // Rows of whole vectors (every 3×3 conv over ≥ 16 channels) rewind
        // by `k`; others by `k16`, kept on the stack (4 more instructions
        // per call, 2 per pair).
        if k.is_multiple_of(16) {
            // SAFETY: as above, with k16 = k.
            unsafe {
                channel_loop!(
                    x0,
                    x1,
                    w,
                    acc,
                    pairs,
                    k,
                    [],
                    [
                        "sub {x0}, {x0}, {k}",
                        "sub {x1}, {x1}, {k}",
                        "mov {w0}, {w1}",
                        "add {w1}, {w1}, {k}"
                    ],
                    [],
                    nostack
                );
            }
        } else {
            // SAFETY: as above, k16 on the stack.
            unsafe {
                channel_loop!(
                    x0,
                    x1,
                    w,
                    acc,
                    pairs,
                    k,
                    ["add r0, {k}, #15", "bic r0, r0, #15", "push {{r0}}"],
                    [
                        "ldr r0, [sp]",
                        "sub {x0}, {x0}, r0",
                        "sub {x1}, {x1}, r0",
                        "sub {w1}, {w1}, r0",
                        "add {w0}, {w1}, {k}",
                        "add {w1}, {w0}, {k}"
                    ],
                    ["add sp, #4"]
                );
            }
        }
    }
    odd_row(x0, x1, w, k, m, acc)
}

/// The last row of an odd row count `m` through [`dot_2x2`] (paired with
/// itself, the twin dropped); returns `m`.
#[inline]
fn odd_row(
    x0: &[i8],
    x1: &[i8],
    w: &[i8],
    k: usize,
    m: usize,
    acc: &mut [[i32; super::ACC_ROW]; 2],
) -> usize {
    if m % 2 == 1 {
        let j = m - 1;
        let wj = &w[j * k..(j + 1) * k];
        let r = dot_2x2(x0, x1, wj, wj);
        (acc[0][j], acc[1][j]) = (r[0], r[2]);
    }
    m
}

/// [`super::dot_2xn`] for patches shorter than one vector (`0 < k < 16`, e.g.
/// the first conv over one input channel: 9 bytes): both patches are loaded
/// once, predicated to `k` lanes by `VCTP.8` (lanes past `k` read nothing and
/// hold zero); per channel pair two predicated weight loads, 4 `VMLADAV.S8`
/// (no accumulator to clear), 2 `STRD`s, 4 pointer/loop instructions — 13
/// instructions for 4·k MACs, against ≈ 75 through [`dot_2x2`] per pair.
#[inline(never)] // out of line: keeps `dot_2xn`'s inlined body small
fn short_2xn(x0: &[i8], x1: &[i8], w: &[i8], acc: &mut [[i32; super::ACC_ROW]; 2]) -> usize {
    let k = x0.len().min(x1.len());
    let m = super::rows_2xn(k, w.len());
    let pairs = m / 2;
    if pairs > 0 {
        // SAFETY: 0 < k < 16, so `VCTP.8` enables exactly the first `k` lanes
        // and every predicated load reads `k` bytes: once from `x0` and `x1`
        // (both hold ≥ k), then per iteration `i < pairs` rows `2i` and `2i + 1`
        // of `w` (2·pairs ≤ m ≤ w.len() / k). Writes as in [`dot_2xn`]:
        // `acc[0][2i..2i + 2]` and, 256 bytes further, `acc[1][2i..2i + 2]`.
        // VPR (set by `VCTP`, read by the `VPST` blocks) is saved on entry and
        // restored on exit through one pushed word, sp balanced; q0–q3 (d0–d7)
        // and the flags are clobbered; accumulators are the even registers
        // VMLADAV requires.
        unsafe {
            asm!(
                // The compiler does not know VPR is touched: keep its value.
                "vmrs r0, p0",
                "push {{r0}}",
                "vctp.8 {k}",
                "vpstt",
                "vldrbt.u8 q0, [{x0}]",
                "vldrbt.u8 q1, [{x1}]",
                "2:",
                "vpstt",
                "vldrbt.u8 q2, [{w0}]",
                "vldrbt.u8 q3, [{w1}]",
                "vmladav.s8 r0, q0, q2",
                "vmladav.s8 r2, q0, q3",
                "vmladav.s8 r4, q1, q2",
                "vmladav.s8 r8, q1, q3",
                "strd r4, r8, [{acc}, #256]",
                "strd r0, r2, [{acc}], #8",
                "add {w0}, {w0}, {k2}",
                "add {w1}, {w1}, {k2}",
                "subs {n}, {n}, #1",
                "bne 2b",
                "pop {{r0}}",
                "vmsr p0, r0",
                x0 = in(reg) x0.as_ptr(),
                x1 = in(reg) x1.as_ptr(),
                w0 = inout(reg) w.as_ptr() => _,
                w1 = inout(reg) w.as_ptr().wrapping_add(k) => _,
                acc = inout(reg) acc.as_mut_ptr().cast::<i32>() => _,
                n = inout(reg) pairs => _,
                k = in(reg) k,
                k2 = in(reg) 2 * k,
                out("r0") _,
                out("r2") _,
                out("r4") _,
                out("r8") _,
                out("d0") _, out("d1") _, out("d2") _, out("d3") _,
                out("d4") _, out("d5") _, out("d6") _, out("d7") _,
                // Not `nostack`: VPR is saved on the stack (pushed and popped here).
            );
        }
    }
    odd_row(x0, x1, w, k, m, acc)
}

/// [`super::depthwise_pixel`] sixteen channels at a time, their sums kept in
/// q2–q5 across all taps: per tap and 4 channels `VLDRB.S32` × 2 (inputs and
/// weights, widened; immediate offsets 0/4/8/12), `VMUL.I32` + `VADD.I32` (MVE
/// has no non-reducing integer vector-by-vector multiply-accumulate); per tap
/// two pointer steps and the loop — 20 instructions per 16 MACs, no
/// accumulator traffic. Channels past the last multiple of 16 take the scalar
/// path.
#[inline(never)] // one call per pixel; out of line, its codegen does not depend on the caller
pub fn depthwise_pixel(acc: &mut [i32], x: &[i8], w: &[i8], t: &super::DwTaps) -> bool {
    let n = acc.len();
    let [kh, kw] = t.k;
    if !t.fits(n, x, w) {
        return false;
    }
    let fast = n - n % 16;
    if fast > 0 {
        // SAFETY: block b (of fast / 16) reads 16 bytes at x + 16b + ky·row +
        // kx·c and at w + 16b + (ky·kw + kx)·c for ky < kh, kx < kw (both ≥ 1:
        // `spans` succeeded): the last end at (kh−1)·row + (kw−1)·c + fast ≤
        // x.len() and (kh·kw−1)·c + fast ≤ w.len() (checked above with n ≥
        // fast). It writes acc[16b..16b + 16] (i32-aligned by type), 16b + 16 ≤
        // fast ≤ n. The widening loads take low registers (r0, r1); q0–q5
        // (d0–d11) and the flags are clobbered.
        unsafe {
            asm!(
                "2:",
                "vmov.i32 q2, #0",
                "vmov.i32 q3, #0",
                "vmov.i32 q4, #0",
                "vmov.i32 q5, #0",
                "mov r0, {xg}",
                "mov r1, {wg}",
                "mov {ry}, {kh}",
                "3:",
                "mov {rx}, {kw}",
                "4:",
                "vldrb.s32 q0, [r0]",
                "vldrb.s32 q1, [r1]",
                "vmul.i32 q0, q0, q1",
                "vadd.i32 q2, q2, q0",
                "vldrb.s32 q0, [r0, #4]",
                "vldrb.s32 q1, [r1, #4]",
                "vmul.i32 q0, q0, q1",
                "vadd.i32 q3, q3, q0",
                "vldrb.s32 q0, [r0, #8]",
                "vldrb.s32 q1, [r1, #8]",
                "vmul.i32 q0, q0, q1",
                "vadd.i32 q4, q4, q0",
                "vldrb.s32 q0, [r0, #12]",
                "vldrb.s32 q1, [r1, #12]",
                "vmul.i32 q0, q0, q1",
                "vadd.i32 q5, q5, q0",
                "add r0, r0, {c}",
                "add r1, r1, {c}",
                "subs {rx}, {rx}, #1",
                "bne 4b",
                "add r0, r0, {radj}",
                "subs {ry}, {ry}, #1",
                "bne 3b",
                "vstrw.32 q2, [{pa}]",
                "vstrw.32 q3, [{pa}, #16]",
                "vstrw.32 q4, [{pa}, #32]",
                "vstrw.32 q5, [{pa}, #48]",
                "add {pa}, {pa}, #64",
                "add {xg}, {xg}, #16",
                "add {wg}, {wg}, #16",
                "subs {ng}, {ng}, #1",
                "bne 2b",
                xg = inout(reg) x.as_ptr() => _,
                wg = inout(reg) w.as_ptr() => _,
                pa = inout(reg) acc.as_mut_ptr() => _,
                ng = inout(reg) fast / 16 => _,
                c = in(reg) t.c,
                radj = in(reg) t.row.wrapping_sub(kw * t.c),
                kh = in(reg) kh,
                kw = in(reg) kw,
                ry = out(reg) _,
                rx = out(reg) _,
                out("r0") _,
                out("r1") _,
                out("d0") _, out("d1") _, out("d2") _, out("d3") _, out("d4") _, out("d5") _,
                out("d6") _, out("d7") _, out("d8") _, out("d9") _, out("d10") _, out("d11") _,
                options(nostack),
            );
        }
    }
    if fast == n {
        return true;
    }
    let (x, w) = (&x[fast..], &w[fast..]);
    super::scalar::depthwise_pixel(&mut acc[fast..], x, w, t)
}

/// One 3×3 tap of [`depthwise_requant`]'s group: 16 channels' input and
/// weight bytes widened four at a time (`VLDRB.S32`), multiplied and added
/// into q2–q5.
macro_rules! dw_tap {
    () => {
        "vldrb.s32 q0, [r0]
        vldrb.s32 q1, [r1]
        vmul.i32 q0, q0, q1
        vadd.i32 q2, q2, q0
        vldrb.s32 q0, [r0, #4]
        vldrb.s32 q1, [r1, #4]
        vmul.i32 q0, q0, q1
        vadd.i32 q3, q3, q0
        vldrb.s32 q0, [r0, #8]
        vldrb.s32 q1, [r1, #8]
        vmul.i32 q0, q0, q1
        vadd.i32 q4, q4, q0
        vldrb.s32 q0, [r0, #12]
        vldrb.s32 q1, [r1, #12]
        vmul.i32 q0, q0, q1
        vadd.i32 q5, q5, q0"
    };
}

/// One kernel row of three taps: the input pointer a channel stride on
/// between taps, the weight pointer on after each.
macro_rules! dw_row {
    () => {
        concat!(
            dw_tap!(),
            "\nadd r0, r0, {c}\nadd r1, r1, {c}\n",
            dw_tap!(),
            "\nadd r0, r0, {c}\nadd r1, r1, {c}\n",
            dw_tap!(),
            "\nadd r1, r1, {c}"
        )
    };
}

/// Requantize accumulator `$q` (four channels, constants at byte offset
/// `$off` of the group's rows) in the common case and store its four bytes
/// at `$off / 4` of the output.
macro_rules! dw_requant {
    ($q:literal, $off:literal, $o:literal) => {
        concat!(
            "vldrw.u32 q0, [{m}, #",
            $off,
            "]\n",
            "vldrw.u32 q1, [{s}, #",
            $off,
            "]\n",
            "vqrdmulh.s32 ",
            $q,
            ", ",
            $q,
            ", q0\n",
            "vshr.s32 q0, ",
            $q,
            ", #31\n",
            "vqadd.s32 ",
            $q,
            ", ",
            $q,
            ", q0\n",
            "vrshl.s32 ",
            $q,
            ", ",
            $q,
            ", q1\n",
            "vadd.i32 ",
            $q,
            ", ",
            $q,
            ", {zp}\n",
            "vmax.s32 ",
            $q,
            ", ",
            $q,
            ", q6\n",
            "vmin.s32 ",
            $q,
            ", ",
            $q,
            ", q7\n",
            "vstrb.32 ",
            $q,
            ", [r3, #",
            $o,
            "]"
        )
    };
}

/// [`super::depthwise_requant`] for 3×3 kernels over whole 16-channel groups
/// whose row is in the common case ([`RowQuant::right_only`]): per group the
/// accumulators start from the biases, the nine taps run unrolled (16
/// instructions each, 2 pointer steps between), and the sums are
/// requantized in registers and stored as bytes — ≈ 210 instructions per 16
/// channels against ≈ 350 through [`depthwise_pixel`] and a
/// [`requantize_row`] call. `false`, nothing written, for any other shape.
#[inline]
pub fn depthwise_requant(
    x: &[i8],
    w: &[i8],
    t: &super::DwTaps,
    q: &RowQuant,
    n: usize,
    out: &mut [i8],
) -> bool {
    let consts = q.bias.len().min(q.mult.len()).min(q.shift.len());
    let ok = t.k == [3, 3]
        && q.right_only()
        && n > 0
        && n.is_multiple_of(16)
        && t.fits(n, x, w)
        && consts >= n
        && out.len() >= n;
    if !ok {
        return false;
    }
    for g in (0..n).step_by(16) {
        // SAFETY: group `g` reads 16 bytes at x + g + ky·row + kx·c and at
        // w + g + (3·ky + kx)·c for ky, kx < 3, the last ending at
        // 2·row + 2·c + g + 16 ≤ 2·row + 2·c + n ≤ x.len() and 8·c + n ≤ w.len()
        // (`fits`); 16 `i32`s of each constant row from `g` (`consts ≥ n`,
        // aligned by type); writes `out[g..g + 16]` (`out.len() ≥ n`). The
        // shifts are < 0 and multipliers ≥ 0 (`right_only`): the nudge is
        // exact as in [`requantize_row`]; the clamp top is 127. Widening
        // loads and the narrowing store take low registers (r0, r1, r3);
        // q0–q7 (d0–d15) are clobbered; the stack is not touched.
        unsafe {
            asm!(
                "vdup.32 q6, {lo}",
                "vmov.i32 q7, #127",
                "vldrw.u32 q2, [{b}]",
                "vldrw.u32 q3, [{b}, #16]",
                "vldrw.u32 q4, [{b}, #32]",
                "vldrw.u32 q5, [{b}, #48]",
                dw_row!(),
                "add r0, r0, {radj}",
                dw_row!(),
                "add r0, r0, {radj}",
                dw_row!(),
                dw_requant!("q2", "0", "0"),
                dw_requant!("q3", "16", "4"),
                dw_requant!("q4", "32", "8"),
                dw_requant!("q5", "48", "12"),
                inout("r0") x.as_ptr().add(g) => _,
                inout("r1") w.as_ptr().add(g) => _,
                in("r3") out.as_mut_ptr().add(g),
                c = in(reg) t.c,
                radj = in(reg) t.row.wrapping_sub(2 * t.c),
                b = in(reg) q.bias.as_ptr().add(g),
                m = in(reg) q.mult.as_ptr().add(g),
                s = in(reg) q.shift.as_ptr().add(g),
                zp = in(reg) q.zero_point,
                lo = in(reg) q.act[0] as i32,
                out("d0") _, out("d1") _, out("d2") _, out("d3") _,
                out("d4") _, out("d5") _, out("d6") _, out("d7") _,
                out("d8") _, out("d9") _, out("d10") _, out("d11") _,
                out("d12") _, out("d13") _, out("d14") _, out("d15") _,
                options(nostack),
            );
        }
    }
    true
}

/// The row loop of [`requantize_row`], four outputs per step: `acc`, `bias`,
/// `mult`, `shift` loaded into q0–q3 (post-incremented), the bias added,
/// `$steps` (the multiply and the nudge for negatives, leaving q3 the
/// right-shift amounts), `VRSHL`, the zero point, the clamp `[q5, q6]` and the
/// narrowing store. `$pre` runs once before the loop.
macro_rules! requantize_loop {
    ($acc:expr, $q:expr, $out:expr, $n:expr, [$($pre:literal),*], [$($step:literal),*]) => {
        asm!(
            $($pre,)*
            "vdup.32 q5, {lo}",
            "vdup.32 q6, {hi}",
            "wlstp.32 lr, {n}, 3f",
            "2:",
            "vldrw.u32 q0, [{acc}], #16",
            "vldrw.u32 q1, [{bias}], #16",
            "vldrw.u32 q2, [{mult}], #16",
            "vldrw.u32 q3, [{shift}], #16",
            "vadd.i32 q0, q0, q1",
            $($step,)*
            "vrshl.s32 q0, q0, q3",
            "vadd.i32 q0, q0, {zp}",
            "vmax.s32 q0, q0, q5",
            "vmin.s32 q0, q0, q6",
            "vstrb.32 q0, [r3], #4",
            "letp lr, 2b",
            "3:",
            acc = inout(reg) $acc.as_ptr() => _,
            bias = inout(reg) $q.bias.as_ptr() => _,
            mult = inout(reg) $q.mult.as_ptr() => _,
            shift = inout(reg) $q.shift.as_ptr() => _,
            // The narrowing store with writeback takes a low register only.
            inout("r3") $out.as_mut_ptr() => _,
            n = in(reg) $n,
            zp = in(reg) $q.zero_point,
            lo = in(reg) $q.act[0] as i32,
            hi = in(reg) $q.act[1] as i32,
            out("lr") _,
            out("d0") _, out("d1") _, out("d2") _, out("d3") _,
            out("d4") _, out("d5") _, out("d6") _, out("d7") _,
            out("d8") _, out("d9") _, out("d10") _, out("d11") _,
            out("d12") _, out("d13") _,
            options(nostack),
        )
    };
}

/// [`super::scalar::requantize_row`] four channels per step, bit-exact:
/// `VQRDMULH.S32` is gemmlowp's rounding doubling high multiply (see
/// [`crate::arith::saturating_rounding_doubling_high_mul`]); `VRSHL.S32` by a
/// negative amount rounds ties up, so negative values are first nudged down
/// by one (`VQADD` of `(x AND shift) >> 31`) to get gemmlowp's ties away from
/// zero; `VSTRB.32` narrows to bytes. Shifts must lie in [−31, 30] (validated
/// at load): the general path splits each into its left part (`VSHL` by
/// `max(shift, 0)`) and right part (`min(shift, 0)`), 18 instructions per
/// four outputs.
/// Rows in the common case ([`RowQuant::right_only`]: shifts < 0, multipliers
/// ≥ 0, clamp top 127) skip the left shift, take the shift as loaded, and
/// nudge by `x >> 31` (the shift's sign bit is always set, so the `AND`
/// changes nothing): 13 instructions per four outputs.
#[inline]
pub fn requantize_row(acc: &[i32], q: &RowQuant, out: &mut [i8]) {
    let n = q.span(acc, out);
    // SAFETY (both loops): the tail-predicated loop touches exactly `n`
    // elements of each slice (all hold at least `n`): `VLDRW` reads `i32`s
    // (aligned by type), `VSTRB.32` writes bytes. q0–q6 (d0–d13) and lr are
    // declared clobbered; `nostack`: the stack is not touched.
    if q.right_only() {
        // SAFETY: see above.
        unsafe {
            requantize_loop!(
                acc,
                q,
                out,
                n,
                [],
                [
                    "vqrdmulh.s32 q0, q0, q2",
                    "vshr.s32 q1, q0, #31",
                    "vqadd.s32 q0, q0, q1"
                ]
            );
        }
    } else {
        // SAFETY: see above.
        unsafe {
            requantize_loop!(
                acc,
                q,
                out,
                n,
                ["vmov.i32 q4, #0"],
                [
                    "vmax.s32 q1, q3, q4",
                    "vmin.s32 q3, q3, q4",
                    "vshl.s32 q0, q0, q1",
                    "vqrdmulh.s32 q0, q0, q2",
                    "vand q1, q0, q3",
                    "vshr.s32 q1, q1, #31",
                    "vqadd.s32 q0, q0, q1"
                ]
            );
        }
    }
}

/// [`super::requantize_pair`]: rows in the common case
/// ([`RowQuant::right_only`]) in one loop, each constant vector loaded once
/// for both pixels (the second accumulator row read 256 bytes past the
/// first): 24 instructions per eight outputs against 26 and a second call's
/// set-up through [`requantize_row`]; other rows through it, row by row.
#[inline]
pub fn requantize_pair(
    acc: &[[i32; super::ACC_ROW]; 2],
    n: usize,
    q: &RowQuant,
    out: [&mut [i8]; 2],
) {
    let [o0, o1] = out;
    let n = q.span(&acc[0][..n.min(super::ACC_ROW)], o0).min(o1.len());
    if !q.right_only() {
        requantize_row(&acc[0][..n], q, o0);
        requantize_row(&acc[1][..n], q, o1);
        return;
    }
    // SAFETY: the tail-predicated loop touches exactly `n` ≤ `ACC_ROW`
    // elements of `acc[0]`, of `acc[1]` (`VLDRW` at `ACC_ROW · 4` = 256 bytes
    // past the `acc[0]` pointer: the rows are contiguous `i32`s, word
    // aligned), of the three constant rows and of `o0`, `o1` (all hold at
    // least `n`). q0–q6 (d0–d13) and lr are declared clobbered; `nostack`.
    unsafe {
        asm!(
            "vdup.32 q5, {lo}",
            "vdup.32 q6, {hi}",
            "wlstp.32 lr, {n}, 3f",
            "2:",
            "vldrw.u32 q1, [{acc}, #256]",
            "vldrw.u32 q0, [{acc}], #16",
            "vldrw.u32 q2, [{bias}], #16",
            "vldrw.u32 q3, [{mult}], #16",
            "vldrw.u32 q4, [{shift}], #16",
            "vadd.i32 q0, q0, q2",
            "vadd.i32 q1, q1, q2",
            "vqrdmulh.s32 q0, q0, q3",
            "vqrdmulh.s32 q1, q1, q3",
            "vshr.s32 q2, q0, #31",
            "vshr.s32 q3, q1, #31",
            "vqadd.s32 q0, q0, q2",
            "vqadd.s32 q1, q1, q3",
            "vrshl.s32 q0, q0, q4",
            "vrshl.s32 q1, q1, q4",
            "vadd.i32 q0, q0, {zp}",
            "vadd.i32 q1, q1, {zp}",
            "vmax.s32 q0, q0, q5",
            "vmax.s32 q1, q1, q5",
            "vmin.s32 q0, q0, q6",
            "vmin.s32 q1, q1, q6",
            "vstrb.32 q0, [r3], #4",
            "vstrb.32 q1, [r2], #4",
            "letp lr, 2b",
            "3:",
            acc = inout(reg) acc.as_ptr().cast::<i32>() => _,
            bias = inout(reg) q.bias.as_ptr() => _,
            mult = inout(reg) q.mult.as_ptr() => _,
            shift = inout(reg) q.shift.as_ptr() => _,
            // The narrowing stores with writeback take low registers only.
            inout("r3") o0.as_mut_ptr() => _,
            inout("r2") o1.as_mut_ptr() => _,
            n = in(reg) n,
            zp = in(reg) q.zero_point,
            lo = in(reg) q.act[0] as i32,
            hi = in(reg) q.act[1] as i32,
            out("lr") _,
            out("d0") _, out("d1") _, out("d2") _, out("d3") _,
            out("d4") _, out("d5") _, out("d6") _, out("d7") _,
            out("d8") _, out("d9") _, out("d10") _, out("d11") _,
            out("d12") _, out("d13") _,
            options(nostack),
        );
    }
}

/// [`super::requantize_triple`]: a pixel triple's three rows in one loop
/// where the row is in the common case ([`RowQuant::right_only`]), each
/// constant vector loaded once for the three (34 instructions per 12
/// outputs; two rows plus one cost 37); else row by row.
#[inline]
pub fn requantize_triple(acc: &super::Acc3, n: usize, q: &RowQuant, out: [&mut [i8]; 3]) {
    let [o0, o1, o2] = out;
    let n = q
        .span(&acc[0][..n.min(super::ACC_ROW)], o0)
        .min(o1.len())
        .min(o2.len());
    if !q.right_only() {
        for (a, o) in acc.iter().zip([o0, o1, o2]) {
            requantize_row(&a[..n], q, o);
        }
        return;
    }
    // SAFETY: the tail-predicated loop touches exactly `n` ≤ `ACC_ROW`
    // elements of each accumulator row (the pointer starts at `acc[1]`;
    // rows 0 and 2 are read at −256 / +256 bytes, within `VLDRW`'s ±508
    // offsets: the three rows are contiguous `i32`s, word aligned), of the
    // three constant rows and of `o0`, `o1`, `o2` (all hold at least `n`).
    // q0–q7 (d0–d15) and lr are declared clobbered; `nostack`.
    unsafe {
        asm!(
            "vdup.32 q5, {lo}",
            "vdup.32 q6, {hi}",
            "wlstp.32 lr, {n}, 3f",
            "2:",
            "vldrw.u32 q0, [{acc}, #-256]",
            "vldrw.u32 q7, [{acc}, #256]",
            "vldrw.u32 q1, [{acc}], #16",
            "vldrw.u32 q2, [{bias}], #16",
            "vldrw.u32 q3, [{mult}], #16",
            "vldrw.u32 q4, [{shift}], #16",
            "vadd.i32 q0, q0, q2",
            "vadd.i32 q1, q1, q2",
            "vadd.i32 q7, q7, q2",
            "vqrdmulh.s32 q0, q0, q3",
            "vqrdmulh.s32 q1, q1, q3",
            "vqrdmulh.s32 q7, q7, q3",
            "vshr.s32 q2, q0, #31",
            "vshr.s32 q3, q1, #31",
            "vqadd.s32 q0, q0, q2",
            "vqadd.s32 q1, q1, q3",
            "vshr.s32 q2, q7, #31",
            "vqadd.s32 q7, q7, q2",
            "vrshl.s32 q0, q0, q4",
            "vrshl.s32 q1, q1, q4",
            "vrshl.s32 q7, q7, q4",
            "vadd.i32 q0, q0, {zp}",
            "vadd.i32 q1, q1, {zp}",
            "vadd.i32 q7, q7, {zp}",
            "vmax.s32 q0, q0, q5",
            "vmax.s32 q1, q1, q5",
            "vmax.s32 q7, q7, q5",
            "vmin.s32 q0, q0, q6",
            "vmin.s32 q1, q1, q6",
            "vmin.s32 q7, q7, q6",
            "vstrb.32 q0, [r3], #4",
            "vstrb.32 q1, [r2], #4",
            "vstrb.32 q7, [r1], #4",
            "letp lr, 2b",
            "3:",
            acc = inout(reg) acc[1].as_ptr() => _,
            bias = inout(reg) q.bias.as_ptr() => _,
            mult = inout(reg) q.mult.as_ptr() => _,
            shift = inout(reg) q.shift.as_ptr() => _,
            // The narrowing stores with writeback take low registers only.
            inout("r3") o0.as_mut_ptr() => _,
            inout("r2") o1.as_mut_ptr() => _,
            inout("r1") o2.as_mut_ptr() => _,
            n = in(reg) n,
            zp = in(reg) q.zero_point,
            lo = in(reg) q.act[0] as i32,
            hi = in(reg) q.act[1] as i32,
            out("lr") _,
            out("d0") _, out("d1") _, out("d2") _, out("d3") _,
            out("d4") _, out("d5") _, out("d6") _, out("d7") _,
            out("d8") _, out("d9") _, out("d10") _, out("d11") _,
            out("d12") _, out("d13") _, out("d14") _, out("d15") _,
            options(nostack),
        );
    }
}

/// [`super::add_row`] for an output in the common case
/// ([`super::AddRow::right_only`]: multiplier ≥ 0, shift < 0, clamp top 127), four elements per step: both inputs' codes
/// widened (`VLDRB.U32`), turned into table indices (`code ^ 0x80`, input 2's
/// also `+ 256`: `^ 0x180`), their rescaled values gathered (`VLDRW.U32` with
/// offsets) and summed, then [`requantize_row`]'s right-shift steps with the
/// multiplier and shift as scalars: 16 instructions per four outputs against
/// ≈ 48 through table sums in Rust and the row kernel. Returns `false`,
/// nothing written, for any other output (the caller takes the general path).
#[inline]
pub fn add_row(a: &[i8], b: &[i8], q: &super::AddRow, out: &mut [i8]) -> bool {
    if !q.right_only() {
        return false;
    }
    let n = a.len().min(b.len()).min(out.len());
    // SAFETY: the tail-predicated loop reads exactly `n` bytes of `a` and `b`
    // and writes `n` of `out` (all hold at least `n`); every gathered offset
    // is an index below 512 (a byte XOR 0x80 or 0x180), inside `tables`
    // (`[i32; 512]`, word aligned by type). The widening loads and the
    // narrowing store with writeback take low registers (r0, r1, r3). The
    // shift is in [−31, −1] (checked above), the nudge exact as in
    // [`requantize_row`]. q0–q7 (d0–d15) and lr are declared clobbered.
    unsafe {
        asm!(
            "vdup.32 q4, {fa}",
            "vdup.32 q5, {fb}",
            "vdup.32 q6, {lo}",
            "vdup.32 q7, {hi}",
            "wlstp.32 lr, {n}, 3f",
            "2:",
            "vldrb.u32 q0, [r0], #4",
            "vldrb.u32 q2, [r1], #4",
            "veor q0, q0, q4",
            "veor q2, q2, q5",
            "vldrw.u32 q1, [{t}, q0, uxtw #2]",
            "vldrw.u32 q3, [{t}, q2, uxtw #2]",
            "vadd.i32 q1, q1, q3",
            "vqrdmulh.s32 q1, q1, {mult}",
            "vshr.s32 q3, q1, #31",
            "vqadd.s32 q1, q1, q3",
            "vrshl.s32 q1, {shift}",
            "vadd.i32 q1, q1, {zp}",
            "vmax.s32 q1, q1, q6",
            "vmin.s32 q1, q1, q7",
            "vstrb.32 q1, [r3], #4",
            "letp lr, 2b",
            "3:",
            inout("r0") a.as_ptr() => _,
            inout("r1") b.as_ptr() => _,
            inout("r3") out.as_mut_ptr() => _,
            t = in(reg) q.tables.as_ptr(),
            n = in(reg) n,
            fa = in(reg) 0x80u32,
            fb = in(reg) 0x180u32,
            lo = in(reg) q.act[0] as i32,
            hi = in(reg) q.act[1] as i32,
            mult = in(reg) q.mult,
            shift = in(reg) q.shift,
            zp = in(reg) q.zero_point,
            out("lr") _,
            out("d0") _, out("d1") _, out("d2") _, out("d3") _,
            out("d4") _, out("d5") _, out("d6") _, out("d7") _,
            out("d8") _, out("d9") _, out("d10") _, out("d11") _,
            out("d12") _, out("d13") _, out("d14") _, out("d15") _,
            options(readonly, nostack),
        );
    }
    true
}

/// [`super::scalar::copy`]: 16 bytes per `VLDRB` / `VSTRB`, any alignment.
#[inline]
pub fn copy(dst: &mut [i8], src: &[i8]) {
    let n = dst.len().min(src.len());
    // SAFETY: the tail-predicated loop reads `n` bytes of `src` and writes `n`
    // bytes of `dst` (both hold at least `n`; `&mut` excludes overlap); byte
    // accesses need no alignment; q0 (d0, d1) and lr are clobbered.
    unsafe {
        asm!(
            "wlstp.8 lr, {n}, 3f",
            "2:",
            "vldrb.u8 q0, [{s}], #16",
            "vstrb.8 q0, [{d}], #16",
            "letp lr, 2b",
            "3:",
            s = inout(reg) src.as_ptr() => _,
            d = inout(reg) dst.as_mut_ptr() => _,
            n = in(reg) n,
            out("lr") _,
            out("d0") _, out("d1") _,
            options(nostack),
        );
    }
}

/// [`super::copy_rows`] (≥ 1 row): per run a tail-predicated `WLSTP`/`LETP`
/// copy (3 instructions per 16 bytes; a last partial vector moves only the
/// run's bytes), then the source stepped on to the next run and the
/// destination back to the run's end (both pointers stand `⌈run/16⌉·16`
/// on) and the row counter down — 5 instructions per run around the copy,
/// against ≈ 27 in the engine's general im2col loop.
#[inline]
pub fn copy_rows(dst: &mut [i8], src: &[i8], s: &super::Strided) {
    let run16 = s.run.next_multiple_of(16);
    // SAFETY: the caller ([`super::copy_rows`]) checked `src` holds the span
    // `(rows − 1)·stride + run` and `dst` holds `rows·run` bytes, rows ≥ 1.
    // Row `r` reads `src[r·stride..][..run]` and writes `dst[r·run..][..run]`
    // (lanes past `run` predicated off: not accessed); after it both
    // pointers stand `run16` past the row's start, so the source steps on by
    // `stride − run16` and the destination back by `run16 − run` (wrapping
    // adds: the pointers then stand at the next row's start exactly). Byte
    // accesses need no alignment; `&mut` excludes overlap; q0 (d0, d1), lr
    // and the flags are clobbered.
    unsafe {
        asm!(
            "2:",
            "wlstp.8 lr, {run}, 3f",
            "4:",
            "vldrb.u8 q0, [{s}], #16",
            "vstrb.8 q0, [{d}], #16",
            "letp lr, 4b",
            "3:",
            "add {s}, {s}, {skip}",
            "sub {d}, {d}, {pad}",
            "subs {rows}, {rows}, #1",
            "bne 2b",
            s = inout(reg) src.as_ptr() => _,
            d = inout(reg) dst.as_mut_ptr() => _,
            rows = inout(reg) s.rows => _,
            run = in(reg) s.run,
            skip = in(reg) s.stride.wrapping_sub(run16),
            pad = in(reg) run16 - s.run,
            out("lr") _,
            out("d0") _, out("d1") _,
            options(nostack),
        );
    }
}

/// `n` codes from `src` looked up in `table` (256 entries from code −128)
/// and written to `dst`, which may be `src` itself: per 16 codes one
/// `VLDRB`, the sign bit flipped (`VEOR` with 0x80: the table index), one
/// byte gather `VLDRB.U8 [table, Q]` and one `VSTRB`, tail-predicated.
/// # Safety
/// `src` valid for `n` byte reads, `dst` for `n` byte writes (equal or not
/// overlapping), `table` for 256.
#[inline(always)]
pub(crate) unsafe fn lut_raw(src: *const i8, dst: *mut i8, n: usize, table: &[i8; 256]) {
    // SAFETY: the caller's contract covers `src` and `dst`; each 16-code
    // step loads its codes before it stores their entries, so `dst == src`
    // reads every code before overwriting it; the gather's offsets are
    // bytes (0–255), inside `table`; lanes beyond `n` are predicated off
    // (no access). q0, q1, q7 (d0–d3, d14, d15) and lr are clobbered.
    unsafe {
        asm!(
            "vdup.8 q7, {flip}",
            "wlstp.8 lr, {n}, 3f",
            "2:",
            "vldrb.u8 q0, [{s}], #16",
            "veor q0, q0, q7",
            "vldrb.u8 q1, [{t}, q0]",
            "vstrb.8 q1, [{d}], #16",
            "letp lr, 2b",
            "3:",
            s = inout(reg) src => _,
            d = inout(reg) dst => _,
            t = in(reg) table.as_ptr(),
            n = in(reg) n,
            flip = in(reg) 0x80u32,
            out("lr") _,
            out("d0") _, out("d1") _, out("d2") _, out("d3") _, out("d14") _, out("d15") _,
            options(nostack),
        );
    }
}

/// [`super::scalar::mac_row`], four lanes per step: `VLDRB.S32` widens four
/// int8 values of each operand, `VMUL` + `VADD` accumulate in int32.
#[inline]
pub fn mac_row(acc: &mut [i32], x: &[i8], w: &[i8]) {
    let n = acc.len().min(x.len()).min(w.len());
    // SAFETY: the tail-predicated loop touches exactly `n` elements of each
    // slice (all hold at least `n`); `acc` is `i32`-aligned by type; the
    // widening loads with writeback take low registers (r0–r2); q0–q2 and lr
    // are clobbered.
    unsafe {
        asm!(
            "wlstp.32 lr, {n}, 3f",
            "2:",
            "vldrb.s32 q0, [r0], #4",
            "vldrb.s32 q1, [r1], #4",
            "vldrw.u32 q2, [r2]",
            "vmul.i32 q0, q0, q1",
            "vadd.i32 q2, q2, q0",
            "vstrw.32 q2, [r2], #16",
            "letp lr, 2b",
            "3:",
            inout("r0") x.as_ptr() => _,
            inout("r1") w.as_ptr() => _,
            inout("r2") acc.as_mut_ptr() => _,
            n = in(reg) n,
            out("lr") _,
            out("d0") _, out("d1") _, out("d2") _, out("d3") _, out("d4") _, out("d5") _,
            options(nostack),
        );
    }
}

/// [`super::dot_3xn`] (`k` whole chunks, `x` three interleaved patches,
/// checked by the caller): per channel pair the first chunk peeled into
/// `VMLADAV` (nothing to zero), then `k/16 − 1` iterations of the 3×2 block
/// — `VLDRB` of pixel 0's chunk with a post-increment of 48, pixels 1 and
/// 2's at −32 and −16, two weight rows, six `VMLADAVA`, `LE`: 12
/// instructions per 96 MACs — three `STRD`s and 7 instructions of pointer
/// and counter updates. `k` and `k/16 − 1` live on the stack: the five odd
/// registers inline asm may use hold the pointers and the counter. An odd
/// last row goes through [`super::triple::triple_row`].
#[inline]
pub fn dot_3xn(x: &[i8], k: usize, w: &[i8], acc: &mut super::Acc3) -> usize {
    let m = super::rows_2xn(k, w.len());
    let pairs = m / 2;
    if pairs > 0 {
        // SAFETY: the caller checked `k` ≥ 16 is a multiple of 16 and `x`
        // holds `3·k` bytes; `2·pairs ≤ m ≤ w.len() / k`. Iteration `i` of
        // the outer loop reads the `3·k` bytes of `x` (`k/16` chunks of 48,
        // the first peeled, the rest in the `WLS`/`LE` loop of `k/16 − 1`
        // iterations, none when `k` = 16) and rows `2i`, `2i + 1` of `w`
        // (`k` bytes each), then steps `x` back by `3·k` and the weight
        // pointers on to rows `2i + 2`, `2i + 3`. It writes
        // `acc[l][2i..2i + 2]` for `l` = 0, 1, 2 (rows `ACC_ROW · 4` = 256
        // bytes apart; `acc` is contiguous `[[i32; ACC_ROW]; 3]`, word
        // aligned as `STRD` needs; `2i + 1 < m ≤ ACC_ROW`). Two words are
        // pushed on entry and dropped before the end: the stack is
        // balanced. Accumulators are the even registers VMLADAV requires;
        // r0 (k on entry), r2, r4, r8, r10, r12, q0–q4 (d0–d9), lr and the
        // flags are clobbered.
        unsafe {
            asm!(
                "lsr r2, r0, #4",
                "sub r2, r2, #1",
                "push {{r0, r2}}",
                "2:",
                block_3x2_16!("vmladav"),
                "ldr lr, [sp, #4]",
                "wls lr, lr, 3f",
                "4:",
                block_3x2_16!("vmladava"),
                "le lr, 4b",
                "3:",
                "strd r4, r8, [{acc}, #256]",
                "strd r10, r12, [{acc}, #512]",
                "strd r0, r2, [{acc}], #8",
                "ldr r0, [sp]",
                "add r2, r0, r0, lsl #1",
                "sub {x}, {x}, r2",
                "mov {w0}, {w1}",
                "add {w1}, {w1}, r0",
                "subs {n}, {n}, #1",
                "bne 2b",
                "add sp, #8",
                x = inout(reg) x.as_ptr() => _,
                w0 = inout(reg) w.as_ptr() => _,
                w1 = inout(reg) w.as_ptr().wrapping_add(k) => _,
                acc = inout(reg) acc.as_mut_ptr().cast::<i32>() => _,
                n = inout(reg) pairs => _,
                inout("r0") k => _,
                out("r2") _,
                out("r4") _,
                out("r8") _,
                out("r10") _,
                out("r12") _,
                out("lr") _,
                out("d0") _, out("d1") _, out("d2") _, out("d3") _,
                out("d4") _, out("d5") _, out("d6") _, out("d7") _,
                out("d8") _, out("d9") _,
            );
        }
    }
    if m % 2 == 1 {
        let j = m - 1;
        super::triple::triple_row(x, &w[j * k..(j + 1) * k], j, acc);
    }
    m
}

/// [`super::copy_rows_lane`] (≥ 1 row of ≥ 1 chunk, checked by the
/// caller): per run a `WLS`/`LE` loop of `VLDRB` / `VSTRB` with the
/// destination stepping 48 (3 instructions per chunk), then the source on
/// to the next run — the destination needs no step: the next run's chunks
/// follow in the same lane.
#[inline]
pub fn copy_rows_lane(dst: &mut [i8], lane: usize, src: &[i8], s: &super::Strided) {
    // SAFETY: the caller ([`super::copy_rows_lane`]) checked `run` is whole
    // chunks, `lane` < 3, `src` holds the span `(rows − 1)·stride + run` and
    // `dst` holds `3·rows·run` bytes. Run `r`, chunk `c` reads
    // `src[r·stride + 16c..][..16]` and writes `dst[lane_at(r·run/16 + c,
    // lane)..][..16]` = `dst[48·(r·run/16 + c) + 16·lane..][..16]`, inside
    // `3·rows·run`; after a run the source stands `run` on and steps on by
    // `stride − run` (a wrapping add). Byte accesses need no alignment;
    // `&mut` excludes overlap; q0 (d0, d1), lr and the flags are clobbered.
    unsafe {
        asm!(
            "2:",
            "wls lr, {chunks}, 3f",
            "4:",
            "vldrb.u8 q0, [{s}], #16",
            "vstrb.8 q0, [{d}], #48",
            "le lr, 4b",
            "3:",
            "add {s}, {s}, {skip}",
            "subs {rows}, {rows}, #1",
            "bne 2b",
            s = inout(reg) src.as_ptr() => _,
            d = inout(reg) dst.as_mut_ptr().wrapping_add(lane * super::triple::CHUNK) => _,
            rows = inout(reg) s.rows => _,
            chunks = in(reg) s.run / super::triple::CHUNK,
            skip = in(reg) s.stride.wrapping_sub(s.run),
            out("lr") _,
            out("d0") _, out("d1") _,
            options(nostack),
        );
    }
}

/// [`super::copy_rows_triple`] (≥ 1 row of ≥ 1 chunk, checked by the
/// caller): per run a `WLS`/`LE` loop moving one chunk of each pixel —
/// three `VLDRB`, three `VSTRB` with the destination stepping 16: 7
/// instructions per 48 bytes — then the three sources on to the next run.
#[inline]
pub fn copy_rows_triple(dst: &mut [i8], src: [&[i8]; 3], s: &super::Strided) {
    // SAFETY: the caller ([`super::copy_rows_triple`]) checked `run` is
    // whole chunks, each `src[i]` holds the span `(rows − 1)·stride + run`
    // and `dst` holds `3·rows·run` bytes. Run `r`, chunk `c` reads
    // `src[i][r·stride + 16c..][..16]` and writes `dst[48·(r·run/16 + c) +
    // 16·i..][..16]` (= `lane_at`), i = 0, 1, 2, in order: the destination
    // advances 48 per chunk triple and ends at `3·rows·run`. After a run each
    // source stands `run` on and steps on by `stride − run` (wrapping adds).
    // Byte accesses need no alignment; `&mut` excludes overlap; q0–q2
    // (d0–d5), lr and the flags are clobbered.
    unsafe {
        asm!(
            "2:",
            "wls lr, {chunks}, 3f",
            "4:",
            "vldrb.u8 q0, [{s0}], #16",
            "vldrb.u8 q1, [{s1}], #16",
            "vldrb.u8 q2, [{s2}], #16",
            "vstrb.8 q0, [{d}], #16",
            "vstrb.8 q1, [{d}], #16",
            "vstrb.8 q2, [{d}], #16",
            "le lr, 4b",
            "3:",
            "add {s0}, {s0}, {skip}",
            "add {s1}, {s1}, {skip}",
            "add {s2}, {s2}, {skip}",
            "subs {rows}, {rows}, #1",
            "bne 2b",
            s0 = inout(reg) src[0].as_ptr() => _,
            s1 = inout(reg) src[1].as_ptr() => _,
            s2 = inout(reg) src[2].as_ptr() => _,
            d = inout(reg) dst.as_mut_ptr() => _,
            rows = inout(reg) s.rows => _,
            chunks = in(reg) s.run / super::triple::CHUNK,
            skip = in(reg) s.stride.wrapping_sub(s.run),
            out("lr") _,
            out("d0") _, out("d1") _, out("d2") _, out("d3") _, out("d4") _, out("d5") _,
            options(nostack),
        );
    }
}
