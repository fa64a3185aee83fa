//! Pixel triples: three output pixels against a pair of output channels per
//! register block (3×2), on im2col patches stored interleaved.
//!
//! A 3×2 block loads 5 vectors for 6 MACs per lane (2×2: 4 for 4), so on
//! Helium its loop is 12 instructions per 96 MACs (`VLDRB` ×5, `VMLADAVA`
//! ×6, `LE`) against the 2×2 loop's 9 per 64: 0.125 instead of 0.14 per MAC.
//! `VMLADAVA` accumulates into even registers only, and of the odd ones
//! inline asm may use five (r7 is the frame pointer, r6 LLVM's base
//! pointer): room for one patch pointer, two weight pointers, the output
//! pointer and the channel-pair counter. So the three patches share one
//! pointer: they are stored **interleaved in 16-byte chunks**, chunk `c` of
//! pixel `lane` at byte [`lane_at`]`(c, lane) = 48·c + 16·lane` — the
//! block loads pixel 0's chunk with a post-increment of 48 and pixels 1
//! and 2's at the immediate offsets −32 and −16. Patches are whole chunks:
//! the engine takes this path for convs whose input channels are a
//! multiple of 16 (every dense 3×3 conv after the stem in the bundled
//! model and in ResNet-8), with one group and im2col (not the in-place
//! 1×1), and whose scratch holds three patches (`nyquist_nqm::conv_scratch`).

use super::{Strided, ACC_ROW};

/// Bytes per chunk of an interleaved patch (one Helium vector).
pub const CHUNK: usize = 16;

/// Pixels per triple.
pub const LANES: usize = 3;

/// A pixel triple's accumulators: one row of [`ACC_ROW`] channels per pixel.
pub type Acc3 = [[i32; ACC_ROW]; LANES];

/// Where chunk `c` of pixel `lane`'s patch lies in an interleaved triple.
#[inline(always)]
pub const fn lane_at(c: usize, lane: usize) -> usize {
    (c * LANES + lane) * CHUNK
}

/// Whether the engine computes dense convs over a multiple of 16 input
/// channels in pixel triples ([`dot_3xn`]): on Helium, and in the host's
/// scalar build (the reference engine the converter and the host tests run,
/// so that they check this path against the QDQ model). Every other build
/// keeps pixel pairs: the DSP build reads interior patches in place
/// ([`super::ROWS_IN_PLACE`]), NEON has no triple kernel, and the scalar
/// Cortex-M builds stay the reference columns `fw bench` has always
/// measured (the chunk-wise scalar twin autovectorizes worse: 34.9 M
/// instead of 27.5 M instructions with LLVM's MVE).
pub const PIXEL_TRIPLES: bool = cfg!(any(
    feature = "kernel-helium",
    not(any(
        feature = "kernel-dsp",
        target_arch = "aarch64",
        target_arch = "arm"
    ))
));

/// Whether `k`-byte patches can be interleaved: whole chunks, at least one.
#[inline]
pub fn interleavable(k: usize) -> bool {
    k >= CHUNK && k.is_multiple_of(CHUNK)
}

/// Whether [`copy_rows_lane`] can write lane `lane` of `dst` from `src`.
#[inline]
pub(crate) fn lane_fits(dst: &[i8], lane: usize, src: &[i8], s: &Strided) -> bool {
    s.run.is_multiple_of(CHUNK)
        && lane < LANES
        && s.span().is_some_and(|n| src.len() >= n)
        && (s.rows.checked_mul(s.run))
            .and_then(|n| n.checked_mul(LANES))
            .is_some_and(|n| dst.len() >= n)
}

/// An interior pixel's im2col patch written as lane `lane` of an
/// interleaved triple in `dst`: the runs [`Strided`] describes from `src`,
/// chunk by chunk to [`lane_at`]. `false`, nothing written, unless every run
/// is whole chunks, `lane` < 3, `src` holds the span and `dst` three
/// patches (`3·rows·run` bytes). On Helium one asm block (3 instructions
/// per chunk, as [`super::copy_rows`]); bit-exact with
/// [`super::scalar::copy_rows_lane`].
#[inline]
pub fn copy_rows_lane(dst: &mut [i8], lane: usize, src: &[i8], s: &Strided) -> bool {
    if !lane_fits(dst, lane, src, s) {
        return false;
    }
    #[cfg(feature = "kernel-helium")]
    if s.rows > 0 && s.run > 0 {
        super::helium::copy_rows_lane(dst, lane, src, s);
        return true;
    }
    super::scalar::copy_rows_lane(dst, lane, src, s)
}

/// Three interior pixels' im2col patches written interleaved into `dst`:
/// pixel `i`'s runs from `src[i]` ([`Strided`]), chunk `c` of each row to
/// [`lane_at`]. `false`, nothing written, unless every run is whole chunks,
/// each source holds the span and `dst` three patches. On Helium one asm
/// block: per chunk triple three `VLDRB` and three `VSTRB` (7 instructions
/// per 48 bytes against 9 through three [`copy_rows_lane`] calls, and one
/// call's set-up instead of three); bit-exact with
/// [`super::scalar::copy_rows_triple`].
#[inline]
pub fn copy_rows_triple(dst: &mut [i8], src: [&[i8]; LANES], s: &Strided) -> bool {
    if !src.iter().all(|x| lane_fits(dst, 0, x, s)) {
        return false;
    }
    #[cfg(feature = "kernel-helium")]
    if s.rows > 0 && s.run > 0 {
        super::helium::copy_rows_triple(dst, src, s);
        return true;
    }
    super::scalar::copy_rows_triple(dst, src, s)
}

/// A pixel triple against `m` weight rows stored back to back in `w` (OHWI),
/// the three `k`-byte patches interleaved in `x` ([`lane_at`]):
/// `acc[i][j] = patch_i · w_j` for `j < m =` [`super::rows_2xn`]`(k, w.len())`;
/// returns `m`, or 0 (nothing written) unless `k` is [`interleavable`] and
/// `x` holds `3·k` bytes. On Helium the channel pairs run in one asm block
/// (3×2 `VMLADAVA` blocks; an odd last row through the scalar twin);
/// bit-exact with [`super::scalar::dot_3xn`].
#[inline]
pub fn dot_3xn(x: &[i8], k: usize, w: &[i8], acc: &mut Acc3) -> usize {
    if !interleavable(k) || x.len() / LANES < k {
        return 0;
    }
    #[cfg(feature = "kernel-helium")]
    return super::helium::dot_3xn(x, k, w, acc);
    #[cfg(not(feature = "kernel-helium"))]
    return super::scalar::dot_3xn(x, k, w, acc);
}

/// Row `j` of [`dot_3xn`] for all three pixels, chunk by chunk (the scalar
/// twin's body; Helium's odd last row).
#[inline]
pub(crate) fn triple_row(x: &[i8], wj: &[i8], j: usize, acc: &mut Acc3) {
    for (lane, row) in acc.iter_mut().enumerate() {
        let mut s = 0i32;
        for (c, wc) in wj.chunks_exact(CHUNK).enumerate() {
            let at = lane_at(c, lane);
            s = s.wrapping_add(super::scalar::dot(&x[at..at + CHUNK], wc));
        }
        row[j] = s;
    }
}
