//! The inner loops of every conv and fully connected layer: the int8 dot product
//! `Σ x[i]·w[i]` with an i32 accumulator ([`dot`], fully connected layers), and
//! its 2×2 register block ([`dot_2x2`]: two input patches × two weight rows,
//! each load feeding two MACs), run over a block of output channels by
//! [`dot_2xn`] (the conv's channel loop; on Helium one asm block), and on
//! Helium the 3×2 block over pixel triples ([`dot_3xn`], [`triple`]). A
//! portable scalar reference, and the SIMD forms chosen at compile time:
//!
//! | build | kernel | instructions per 16 MACs of `dot_2x2` |
//! |---|---|---|
//! | feature `kernel-helium` (Cortex-M55/M85) | `WLSTP`/`LETP` tail-predicated loop, `VLDRB` ×4 + `VMLADAVA.S8` ×4 | 2.25 |
//! | feature `kernel-dsp` (Cortex-M4/M7/M33) | `SXTB16` + `SMLAD`; in [`dot_2xn`] on patches widened once per pixel pair (CMSIS-NN's scheme) | ≈ 20; 17 in [`dot_2xn`] |
//! | `aarch64` with `dotprod` | `SDOT` | 16 |
//! | `aarch64` | `SMULL`/`SMULL2` + `SADALP` | 16 per 4 |
//! | otherwise | scalar | 1 |
//!
//! Every SIMD kernel is bit-exact with [`scalar::dot`] (integer arithmetic):
//! host / qemu-aarch64 tests check NEON, the QEMU board self-test checks DSP and Helium.

pub mod scalar;
pub mod triple;

pub use triple::{copy_rows_lane, copy_rows_triple, dot_3xn, Acc3, PIXEL_TRIPLES};

#[cfg(feature = "kernel-dsp")]
pub mod dsp;
#[cfg(feature = "kernel-helium")]
pub mod helium;
#[cfg(target_arch = "aarch64")]
pub mod neon;

/// The dot product this build uses.
#[inline]
pub fn dot(x: &[i8], w: &[i8]) -> i32 {
    #[cfg(feature = "kernel-helium")]
    return helium::dot(x, w);
    #[cfg(all(feature = "kernel-dsp", not(feature = "kernel-helium")))]
    return dsp::dot(x, w);
    #[cfg(all(
        target_arch = "aarch64",
        not(any(feature = "kernel-dsp", feature = "kernel-helium"))
    ))]
    return neon::dot(x, w);
    #[cfg(not(any(
        feature = "kernel-dsp",
        feature = "kernel-helium",
        target_arch = "aarch64"
    )))]
    return scalar::dot(x, w);
}

/// The 2×2 block this build uses: `[x0·w0, x0·w1, x1·w0, x1·w1]`.
#[inline]
pub fn dot_2x2(x0: &[i8], x1: &[i8], w0: &[i8], w1: &[i8]) -> [i32; 4] {
    #[cfg(feature = "kernel-helium")]
    return helium::dot_2x2(x0, x1, w0, w1);
    #[cfg(all(feature = "kernel-dsp", not(feature = "kernel-helium")))]
    return dsp::dot_2x2(x0, x1, w0, w1);
    #[cfg(all(
        target_arch = "aarch64",
        not(any(feature = "kernel-dsp", feature = "kernel-helium"))
    ))]
    return neon::dot_2x2(x0, x1, w0, w1);
    #[cfg(not(any(
        feature = "kernel-dsp",
        feature = "kernel-helium",
        target_arch = "aarch64"
    )))]
    return scalar::dot_2x2(x0, x1, w0, w1);
}

/// Output channels one [`dot_2xn`] call handles: its accumulator rows.
pub const ACC_ROW: usize = 64;

/// Rows `m` of a [`dot_2xn`] call with patch length `k` over `w_len` weight
/// bytes: whole rows, at most [`ACC_ROW`]; none when `k = 0`.
#[inline]
pub fn rows_2xn(k: usize, w_len: usize) -> usize {
    w_len.checked_div(k).map_or(0, |m| m.min(ACC_ROW))
}

/// A pixel pair against `m` weight rows stored back to back in `w` (OHWI:
/// one output channel's `k` weights after another), `k = min(x0.len(),
/// x1.len())`, `m =` [`rows_2xn`]`(k, w.len())`: `acc[0][j] = x0·w_j` and
/// `acc[1][j] = x1·w_j` for `j < m`; returns `m`. The conv's inner loop —
/// Helium runs the whole channel loop in one asm block; other builds call
/// [`dot_2x2`] per channel pair. Bit-exact with [`scalar::dot_2xn`].
#[inline]
pub fn dot_2xn(x0: &[i8], x1: &[i8], w: &[i8], acc: &mut [[i32; ACC_ROW]; 2]) -> usize {
    #[cfg(feature = "kernel-helium")]
    return helium::dot_2xn(x0, x1, w, acc);
    #[cfg(all(feature = "kernel-dsp", not(feature = "kernel-helium")))]
    return dsp::dot_2xn(x0, x1, w, acc);
    #[cfg(not(any(feature = "kernel-dsp", feature = "kernel-helium")))]
    return blocked_2xn(dot_2x2, x0, x1, w, acc);
}

/// Where a patch lies in the input when read in place: `rows` runs of `run`
/// bytes, `stride` bytes apart (a conv's kernel rows inside an HWC input:
/// `kh` runs of `kw·cin` bytes, `W·cin` apart); the patch is their
/// concatenation, `rows · run` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strided {
    /// Runs (kernel rows).
    pub rows: usize,
    /// Bytes per run.
    pub run: usize,
    /// Bytes from one run's start to the next's.
    pub stride: usize,
}

impl Strided {
    /// Bytes of input the patch spans from its first byte (`None` on
    /// overflow); 0 for no rows.
    #[inline]
    pub fn span(&self) -> Option<usize> {
        match self.rows {
            0 => Some(0),
            r => (r - 1).checked_mul(self.stride)?.checked_add(self.run),
        }
    }

    /// Whether both pixels' inputs hold the whole span.
    #[inline]
    pub fn fits(&self, x0: &[i8], x1: &[i8]) -> bool {
        self.span().is_some_and(|n| x0.len() >= n && x1.len() >= n)
    }
}

/// [`dot_2xn`] on patches read in place: pixel 0's patch is the runs
/// [`Strided`] describes from `x0`, pixel 1's from `x1` — no im2col copy.
/// No rows (0) when either slice is shorter than the span. The DSP build
/// widens the runs straight into its patch buffer (runs of a multiple of 4
/// bytes; others through the scalar reference); elsewhere this is the
/// scalar reference, and the engine gathers patches instead
/// ([`ROWS_IN_PLACE`]). Bit-exact with [`scalar::dot_2xn_strided`].
#[inline]
pub fn dot_2xn_strided(
    x0: &[i8],
    x1: &[i8],
    s: &Strided,
    w: &[i8],
    acc: &mut [[i32; ACC_ROW]; 2],
) -> usize {
    #[cfg(all(feature = "kernel-dsp", not(feature = "kernel-helium")))]
    return dsp::dot_2xn_strided(x0, x1, s, w, acc);
    #[cfg(not(all(feature = "kernel-dsp", not(feature = "kernel-helium"))))]
    return scalar::dot_2xn_strided(x0, x1, s, w, acc);
}

/// An interior pixel's im2col patch: the runs [`Strided`] describes from
/// `src`, copied one after another into `dst` (`rows · run` bytes). `false`,
/// nothing written, when `src` is shorter than the span or `dst` than the
/// patch. On Helium one asm block (runs tail-predicated); elsewhere [`copy`]
/// run by run.
/// Bit-exact with [`scalar::copy_rows`].
#[inline]
pub fn copy_rows(dst: &mut [i8], src: &[i8], s: &Strided) -> bool {
    let fits = s.span().is_some_and(|n| src.len() >= n)
        && s.rows.checked_mul(s.run).is_some_and(|n| dst.len() >= n);
    if !fits {
        return false;
    }
    #[cfg(feature = "kernel-helium")]
    if s.rows > 0 {
        helium::copy_rows(dst, src, s);
        return true;
    }
    for (ky, out) in dst.chunks_exact_mut(s.run.max(1)).take(s.rows).enumerate() {
        copy(out, &src[ky * s.stride..]);
    }
    true
}

/// Whether the engine should hand interior patches to [`dot_2xn_strided`] in
/// place rather than gather them for [`dot_2xn`]: on the DSP build, whose
/// kernel copies (widens) the patch anyway.
pub const ROWS_IN_PLACE: bool = cfg!(all(feature = "kernel-dsp", not(feature = "kernel-helium")));

/// [`dot_2xn`] through a 2×2 block kernel, channel pair by channel pair; an
/// odd last row pairs with itself and its twin is dropped.
#[cfg(not(any(feature = "kernel-helium", feature = "kernel-dsp")))]
#[inline(never)]
pub(crate) fn blocked_2xn(
    block: impl Fn(&[i8], &[i8], &[i8], &[i8]) -> [i32; 4],
    x0: &[i8],
    x1: &[i8],
    w: &[i8],
    acc: &mut [[i32; ACC_ROW]; 2],
) -> usize {
    let k = x0.len().min(x1.len());
    let m = rows_2xn(k, w.len());
    let [a0, a1] = acc;
    let pairs = w[..m * k].chunks(2 * k.max(1));
    for ((w01, a0), a1) in pairs.zip(a0[..m].chunks_mut(2)).zip(a1[..m].chunks_mut(2)) {
        let (w0, w1) = w01.split_at(k);
        let w1 = if w1.is_empty() { w0 } else { w1 };
        let r = block(x0, x1, w0, w1);
        for (i, (u, v)) in a0.iter_mut().zip(a1.iter_mut()).enumerate() {
            (*u, *v) = (r[i], r[2 + i]);
        }
    }
    m
}

/// Where the taps of one depthwise output pixel lie (HWC input, weights
/// `[kh][kw][c]`), for [`depthwise_pixel`].
#[derive(Debug, Clone, Copy)]
pub struct DwTaps {
    /// Kernel height and width.
    pub k: [usize; 2],
    /// Bytes between vertically adjacent input pixels (`W·C`).
    pub row: usize,
    /// Channels of the layer: bytes between horizontally adjacent input
    /// pixels, and between the weights of adjacent taps.
    pub c: usize,
}

impl DwTaps {
    /// Bytes of `x` and of `w` a pixel over `n` channels reads (from the first
    /// channel of the top-left tap).
    #[inline]
    pub fn spans(&self, n: usize) -> Option<(usize, usize)> {
        let [kh, kw] = self.k;
        let x = (kh.checked_sub(1)?).checked_mul(self.row)?;
        let x = x.checked_add((kw.checked_sub(1)?).checked_mul(self.c)?)?;
        let w = (kh.checked_mul(kw)?.checked_sub(1)?).checked_mul(self.c)?;
        Some((x.checked_add(n)?, w.checked_add(n)?))
    }

    /// Whether `x` and `w` hold a pixel's taps over `n` channels
    /// ([`DwTaps::spans`]; `false` for an empty kernel).
    #[inline]
    pub fn fits(&self, n: usize, x: &[i8], w: &[i8]) -> bool {
        self.spans(n)
            .is_some_and(|(nx, nw)| nx <= x.len() && nw <= w.len())
    }
}

/// One output pixel of a depthwise conv whose taps all lie inside the input:
/// `acc[i] = Σ_{ky,kx} x[ky·row + kx·c + i] · w[(ky·kw + kx)·c + i]` (wrapping)
/// for every `i < acc.len()`, `x` and `w` starting at the first channel of the
/// top-left tap. Returns `false`, writing nothing, when `x` or `w` is shorter
/// than [`DwTaps::spans`] or the kernel is empty. On Helium four channels'
/// sums stay in a Q register across all taps. Bit-exact with
/// [`scalar::depthwise_pixel`].
#[inline]
pub fn depthwise_pixel(acc: &mut [i32], x: &[i8], w: &[i8], t: &DwTaps) -> bool {
    #[cfg(feature = "kernel-helium")]
    return helium::depthwise_pixel(acc, x, w, t);
    #[cfg(all(feature = "kernel-dsp", not(feature = "kernel-helium")))]
    return dsp::depthwise_pixel(acc, x, w, t);
    #[cfg(not(any(feature = "kernel-helium", feature = "kernel-dsp")))]
    return scalar::depthwise_pixel(acc, x, w, t);
}

/// [`depthwise_pixel`] over `acc.len()` channels, then [`requantize_row`]
/// of the sums into `out`: one output pixel of a depthwise conv whose taps
/// all lie inside the input. On Helium 3×3 kernels over whole 16-channel
/// groups in the common case ([`RowQuant::right_only`]) run in one asm block
/// per group, the sums never leaving registers (`acc` then unused).
/// Returns `false`, writing nothing, where [`depthwise_pixel`] would.
/// Bit-exact with [`scalar::depthwise_requant`].
#[inline]
pub fn depthwise_requant(
    acc: &mut [i32],
    x: &[i8],
    w: &[i8],
    t: &DwTaps,
    q: &RowQuant,
    out: &mut [i8],
) -> bool {
    #[cfg(feature = "kernel-helium")]
    if helium::depthwise_requant(x, w, t, q, acc.len(), out) {
        return true;
    }
    if !depthwise_pixel(acc, x, w, t) {
        return false;
    }
    requantize_row(acc, q, out);
    true
}

/// Per-channel requantization constants of a row of outputs (one output
/// pixel's channels): `out[i] = clamp(z + MBQM(acc[i] + bias[i], mult[i], shift[i]), act)`.
///
/// Built by [`RowQuant::new`], which also records whether the whole row lies
/// in the common case every conv layer of the bundled models is in: every
/// shift < 0 (a right shift) and every multiplier ≥ 0; with no upper clamp
/// below 127 too ([`RowQuant::right_only`]), kernels may take a shorter path
/// (the DSP build: 24 instead of 33 instructions per output; Helium: 15
/// instead of 18 per four).
/// [`RowQuant::rows`] keeps the finding for a slice of the row, so a layer
/// is scanned once, not per output pixel.
#[derive(Debug, Clone, Copy)]
pub struct RowQuant<'a> {
    pub(crate) bias: &'a [i32],
    pub(crate) mult: &'a [i32],
    pub(crate) shift: &'a [i32],
    pub(crate) zero_point: i32,
    pub(crate) act: [i8; 2],
    /// Every shift < 0 and multiplier ≥ 0, as found by [`RowQuant::new`];
    /// `false` is always safe (kernels then take their general path).
    pub(crate) right_shifts: bool,
}

impl<'a> RowQuant<'a> {
    /// The constants of a row: folded biases, Q31 multipliers M0 (≥ 0 in
    /// blobs), shifts in [−31, 30], the output zero point and clamp
    /// `[lo, hi]` (lo ≤ hi). Scans the row once for the common case.
    pub fn new(
        bias: &'a [i32],
        mult: &'a [i32],
        shift: &'a [i32],
        zero_point: i32,
        act: [i8; 2],
    ) -> Self {
        let right_shifts = shift.iter().all(|&s| s < 0) && mult.iter().all(|&m| m >= 0);
        RowQuant {
            bias,
            mult,
            shift,
            zero_point,
            act,
            right_shifts,
        }
    }

    /// Entries `r` of the row (`None` when out of bounds of any constant
    /// row): a slice keeps what [`RowQuant::new`] found for the whole row.
    #[inline]
    pub fn rows(&self, r: core::ops::Range<usize>) -> Option<Self> {
        Some(RowQuant {
            bias: self.bias.get(r.clone())?,
            mult: self.mult.get(r.clone())?,
            shift: self.shift.get(r)?,
            ..*self
        })
    }

    /// Outputs a row requantization writes: the shortest of `acc`, `out`
    /// and the three constant rows.
    #[inline]
    pub fn span(&self, acc: &[i32], out: &[i8]) -> usize {
        let consts = self.bias.len().min(self.mult.len()).min(self.shift.len());
        acc.len().min(out.len()).min(consts)
    }

    /// Whether [`RowQuant::new`] found the row in the common case (every
    /// shift < 0, multiplier ≥ 0, upper clamp 127).
    #[inline]
    pub fn right_only(&self) -> bool {
        self.right_shifts && self.act[1] == i8::MAX
    }
}

/// The row requantization this build uses (see [`scalar::requantize_row`]).
#[inline]
pub fn requantize_row(acc: &[i32], q: &RowQuant, out: &mut [i8]) {
    #[cfg(feature = "kernel-helium")]
    return helium::requantize_row(acc, q, out);
    #[cfg(all(target_arch = "aarch64", not(feature = "kernel-helium")))]
    return neon::requantize_row(acc, q, out);
    // The DSP extension has no 32-bit SIMD multiply-high worth the shuffles:
    // one output at a time, in registers.
    #[cfg(all(feature = "kernel-dsp", not(feature = "kernel-helium")))]
    return dsp::requantize_row(acc, q, out);
    #[cfg(not(any(
        feature = "kernel-helium",
        feature = "kernel-dsp",
        target_arch = "aarch64"
    )))]
    return scalar::requantize_row(acc, q, out);
}

/// A pixel pair's accumulator rows (`acc[0]`, `acc[1]`, their first `n`
/// entries) requantized with the same constants into `out[0]`, `out[1]`:
/// exactly two [`requantize_row`] calls ([`scalar::requantize_pair`]). On
/// Helium rows in the common case ([`RowQuant::right_only`]) share one loop,
/// each constant vector loaded once for both pixels.
#[inline(always)]
pub fn requantize_pair(acc: &[[i32; ACC_ROW]; 2], n: usize, q: &RowQuant, out: [&mut [i8]; 2]) {
    #[cfg(feature = "kernel-helium")]
    return helium::requantize_pair(acc, n, q, out);
    #[cfg(not(feature = "kernel-helium"))]
    {
        let n = n.min(ACC_ROW);
        let [o0, o1] = out;
        requantize_row(&acc[0][..n], q, o0);
        requantize_row(&acc[1][..n], q, o1);
    }
}

/// A pixel triple's accumulator rows (their first `n` entries) requantized
/// with the same constants into `out[0..3]`: exactly three
/// [`requantize_row`] calls ([`scalar::requantize_triple`]). On Helium rows
/// in the common case share one loop, each constant vector loaded once.
#[inline]
pub fn requantize_triple(acc: &Acc3, n: usize, q: &RowQuant, out: [&mut [i8]; 3]) {
    #[cfg(feature = "kernel-helium")]
    return helium::requantize_triple(acc, n, q, out);
    #[cfg(not(feature = "kernel-helium"))]
    return scalar::requantize_triple(acc, n, q, out);
}

/// The index of int8 code `v` in a 256-entry table ordered from −128:
/// `v + 128` (the sign bit flipped).
#[inline(always)]
pub const fn code_index(v: i8) -> usize {
    (v as u8 ^ 0x80) as usize
}

/// The tabulated residual Add over a row: `out[i] = clamp(z + MBQM(t[a[i] +
/// 128] + t[256 + b[i] + 128], mult, shift), act)`, `t` the two inputs'
/// rescale tables (`engine::eltwise`), one output multiplier and shift.
#[derive(Debug, Clone, Copy)]
pub struct AddRow<'a> {
    /// Input 1's rescaled value per code + 128, then input 2's.
    pub tables: &'a [i32; 512],
    /// The output's Q31 multiplier.
    pub mult: i32,
    /// The output's shift in [−31, 30].
    pub shift: i32,
    /// Output zero point.
    pub zero_point: i32,
    /// Output clamp `[lo, hi]`, lo ≤ hi.
    pub act: [i8; 2],
}

impl AddRow<'_> {
    /// Whether the output requantization is a right shift with a multiplier
    /// ≥ 0 (the row's [`RowQuant::right_shifts`]).
    #[inline]
    pub fn right_shifts(&self) -> bool {
        self.shift < 0 && self.mult >= 0
    }

    /// [`AddRow::right_shifts`] with no upper clamp below 127: the common
    /// case, as [`RowQuant::right_only`] for a row.
    #[inline]
    pub fn right_only(&self) -> bool {
        self.right_shifts() && self.act[1] == i8::MAX
    }
}

/// The Add row this build uses (see [`scalar::add_row`]): on the DSP build
/// one asm loop, gather and requantization in registers; on Helium one
/// vector loop (gathers with offsets) for outputs in the common case
/// ([`helium::add_row`]); elsewhere the sums a chunk at a time through the
/// build's [`requantize_row`].
#[inline]
pub fn add_row(a: &[i8], b: &[i8], q: &AddRow, out: &mut [i8]) {
    #[cfg(all(feature = "kernel-dsp", not(feature = "kernel-helium")))]
    return dsp::add_row(a, b, q, out);
    #[cfg(feature = "kernel-helium")]
    if helium::add_row(a, b, q, out) {
        return;
    }
    #[cfg(not(all(feature = "kernel-dsp", not(feature = "kernel-helium"))))]
    return add_row_by_chunks(a, b, q, out);
}

/// [`add_row`] as table sums, 32 at a time, requantized by [`requantize_row`].
#[cfg(not(all(feature = "kernel-dsp", not(feature = "kernel-helium"))))]
#[inline]
fn add_row_by_chunks(a: &[i8], b: &[i8], q: &AddRow, out: &mut [i8]) {
    const CHUNK: usize = 32;
    let (ta, tb) = q.tables.split_at(256);
    let zeros = [0i32; CHUNK];
    let mult = [q.mult; CHUNK];
    let shift = [q.shift; CHUNK];
    // One multiplier and shift for the whole row: the finding without a scan.
    let rq = RowQuant {
        bias: &zeros,
        mult: &mult,
        shift: &shift,
        zero_point: q.zero_point,
        act: q.act,
        right_shifts: q.right_shifts(),
    };
    let mut sums = [0i32; CHUNK];
    // The shortest length up front: no chunk of `out` outruns `a` or `b`.
    let n = a.len().min(b.len()).min(out.len());
    for ((o, u), v) in out[..n]
        .chunks_mut(CHUNK)
        .zip(a.chunks(CHUNK))
        .zip(b.chunks(CHUNK))
    {
        for ((s, &u), &v) in sums.iter_mut().zip(u).zip(v) {
            *s = ta[code_index(u)].wrapping_add(tb[code_index(v)]);
        }
        requantize_row(&sums[..o.len()], &rq, o);
    }
}

#[cfg(all(feature = "kernel-dsp", not(feature = "kernel-helium")))]
use dsp::lut_raw;
#[cfg(feature = "kernel-helium")]
use helium::lut_raw;

/// The table lookup this build uses, `y[i] = table[x[i] + 128]` over the
/// shorter length (an activation tabulated per code, e.g. GELU): Helium
/// gathers 16 codes per `VLDRB` with vector offsets, the DSP build indexes
/// the table by the signed code in asm. See [`scalar::lut`].
#[inline]
pub fn lut(x: &[i8], y: &mut [i8], table: &[i8; 256]) {
    #[cfg(any(feature = "kernel-helium", feature = "kernel-dsp"))]
    {
        let n = x.len().min(y.len());
        // SAFETY: `lut_raw` reads `n` bytes of `x` and writes `n` of `y`
        // (both hold `n`; `&mut y` cannot overlap `x`), and 256 of `table`.
        unsafe { lut_raw(x.as_ptr(), y.as_mut_ptr(), n, table) }
    }
    #[cfg(not(any(feature = "kernel-helium", feature = "kernel-dsp")))]
    scalar::lut(x, y, table)
}

/// [`lut`] in place: `x[i] = table[x[i] + 128]`.
#[inline]
pub fn lut_in_place(x: &mut [i8], table: &[i8; 256]) {
    #[cfg(any(feature = "kernel-helium", feature = "kernel-dsp"))]
    {
        let (n, p) = (x.len(), x.as_mut_ptr());
        // SAFETY: `lut_raw` reads and writes the `n` bytes of `x` in place
        // (it loads every code before storing its entry).
        unsafe { lut_raw(p, p, n, table) }
    }
    #[cfg(not(any(feature = "kernel-helium", feature = "kernel-dsp")))]
    scalar::lut_in_place(x, table)
}

/// The copy this build uses (see [`scalar::copy`]).
#[inline]
pub fn copy(dst: &mut [i8], src: &[i8]) {
    #[cfg(feature = "kernel-helium")]
    return helium::copy(dst, src);
    #[cfg(all(feature = "kernel-dsp", not(feature = "kernel-helium")))]
    return dsp::copy(dst, src);
    #[cfg(not(any(feature = "kernel-helium", feature = "kernel-dsp")))]
    return scalar::copy(dst, src);
}

/// The depthwise tap this build uses (see [`scalar::mac_row`]).
#[inline]
pub fn mac_row(acc: &mut [i32], x: &[i8], w: &[i8]) {
    #[cfg(feature = "kernel-helium")]
    return helium::mac_row(acc, x, w);
    #[cfg(not(feature = "kernel-helium"))]
    return scalar::mac_row(acc, x, w);
}

/// Name of the kernel this build uses.
pub const KERNEL: &str = if cfg!(feature = "kernel-helium") {
    "helium (MVE tail-predicated VMLADAVA.S8)"
} else if cfg!(feature = "kernel-dsp") {
    "dsp (SXTB16 + SMLAD)"
} else if cfg!(all(target_arch = "aarch64", target_feature = "dotprod")) {
    "neon (SDOT)"
} else if cfg!(target_arch = "aarch64") {
    "neon (SMULL + SADALP)"
} else {
    "scalar"
};
