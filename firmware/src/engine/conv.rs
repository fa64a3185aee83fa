//! Convolution and fully connected layers on HWC activations with OHWI weights.
//!
//! The conv computes output pixels in pairs and output channels in pairs: one
//! [`dot_2xn`] call runs a pixel pair against a block of channels in 2×2
//! register blocks, so every loaded input byte and every loaded weight byte
//! feeds two MACs. A pair's two im2col patches are gathered
//! into scratch as `kh·kw` contiguous channel runs (padding taps filled with
//! the input zero point, which the folded bias cancels); an unpadded 1×1 conv
//! with one group reads the pixels in place. Where the build takes
//! [`PIXEL_TRIPLES`] (Helium, the host) a dense conv over a multiple of 16
//! input channels runs pixel **triples** instead while three pixels remain:
//! their patches interleaved in 16-byte chunks ([`copy_rows_triple`], or
//! lane by lane at the border), one [`dot_3xn`] per channel block, one
//! [`requantize_triple`]; the last one or two pixels go as a pair. Depthwise
//! convs (kept blurs) have their own loop (weights `[kh][kw][c]`).
//! Accumulators of up to [`OC_BLOCK`] channels are requantized a pixel pair
//! (or triple) at a time ([`requantize_pair`], the same arithmetic as
//! [`requantize`], docs/architecture.md, "int8 arithmetic"; a depthwise
//! pixel's through [`requantize_row`]).

use crate::arith::requantize;
use crate::kernels::triple::{interleavable, lane_at, CHUNK, LANES};
use crate::kernels::{
    copy, copy_rows, copy_rows_lane, copy_rows_triple, depthwise_pixel, depthwise_requant, dot,
    dot_2xn, dot_2xn_strided, dot_3xn, mac_row, requantize_pair, requantize_row, requantize_triple,
    Acc3, DwTaps, RowQuant, Strided, ACC_ROW, PIXEL_TRIPLES, ROWS_IN_PLACE,
};
use nyquist_nqm::Tensor;

/// Per-output-channel constants of a conv / FC layer, read in place.
pub(super) struct Quant<'a> {
    pub weights: &'a [i8],
    pub bias: &'a [u8],
    pub mult: &'a [u8],
    pub shift: &'a [u8],
    /// `bias`, `mult`, `shift` as `i32`s when all three are 4-byte aligned in
    /// memory (they are within the blob; the blob itself normally is), and
    /// whether every shift is right and every multiplier ≥ 0
    /// ([`RowQuant::new`]): cast and scanned once per layer, not per row.
    pub typed: Option<([&'a [i32]; 3], bool)>,
}

impl<'a> Quant<'a> {
    /// The constants of one layer, with their `i32` view when aligned.
    pub fn new(weights: &'a [i8], bias: &'a [u8], mult: &'a [u8], shift: &'a [u8]) -> Self {
        let cast = |b: &'a [u8]| bytemuck::try_cast_slice::<u8, i32>(b).ok();
        let typed = match (cast(bias), cast(mult), cast(shift)) {
            (Some(b), Some(m), Some(s)) => {
                Some(([b, m, s], RowQuant::new(b, m, s, 0, [0, 0]).right_shifts))
            }
            _ => None,
        };
        Quant {
            weights,
            bias,
            mult,
            shift,
            typed,
        }
    }
}

fn i32_at(b: &[u8], i: usize) -> i32 {
    b.get(4 * i..4 * i + 4)
        .map_or(0, |s| i32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

impl<'a> Quant<'a> {
    /// `clamp(z + MBQM(bias[o] + acc))` for output channel `o`.
    #[inline]
    fn out(&self, o: usize, acc: i32, zp: i32, act: [i8; 2]) -> i8 {
        requantize(
            i32_at(self.bias, o).wrapping_add(acc),
            i32_at(self.mult, o),
            i32_at(self.shift, o),
            zp,
            act[0],
            act[1],
        )
    }

    /// The kernels' view of channels `base..base + n`: `Some(None)` when the
    /// constants are not aligned (the caller goes channel by channel), `None`
    /// when the range lies outside them.
    #[inline]
    fn kernel_row(
        &self,
        base: usize,
        n: usize,
        zp: i32,
        act: [i8; 2],
    ) -> Option<Option<RowQuant<'a>>> {
        let Some(([bias, mult, shift], right_shifts)) = self.typed else {
            return Some(None);
        };
        let r = base..base + n;
        // A slice of the scanned layer: the finding holds for it.
        Some(Some(RowQuant {
            bias: bias.get(r.clone())?,
            mult: mult.get(r.clone())?,
            shift: shift.get(r)?,
            zero_point: zp,
            act,
            right_shifts,
        }))
    }

    /// Requantize the accumulators of channels `base..base + acc.len()` into
    /// `out`: the build's [`requantize_row`] kernel over the aligned `i32`
    /// view, else the same arithmetic one channel at a time.
    #[inline]
    fn row(&self, acc: &[i32], base: usize, zp: i32, act: [i8; 2], out: &mut [i8]) -> Option<()> {
        let n = acc.len();
        let out = out.get_mut(..n)?;
        match self.kernel_row(base, n, zp, act)? {
            Some(q) => requantize_row(acc, &q, out),
            None => {
                for (j, (o, &a)) in out.iter_mut().zip(acc).enumerate() {
                    *o = self.out(base + j, a, zp, act);
                }
            }
        }
        Some(())
    }

    /// Requantize a pixel pair's accumulators of channels `base..base + n`
    /// into both pixels' rows of `yout` ([`requantize_pair`]; pixel `px.p`'s
    /// row only when the pair is one pixel twice).
    #[inline(always)]
    fn pair(&self, acc: &Acc, n: usize, base: usize, px: &Pixels, yout: &mut [i8]) -> Option<()> {
        let at = |p: usize| p * px.cout + base;
        let (acc0, acc1) = (acc[0].get(..n)?, acc[1].get(..n)?);
        if px.p1 == px.p {
            return self.row(acc0, base, px.zp, px.act, yout.get_mut(at(px.p)..)?);
        }
        // The second pixel's row starts past the first's (p1 = p + 1).
        let split = at(px.p1).min(yout.len());
        let (lo, hi) = yout.split_at_mut(split);
        let (o0, o1) = (lo.get_mut(at(px.p)..)?.get_mut(..n)?, hi.get_mut(..n)?);
        match self.kernel_row(base, n, px.zp, px.act)? {
            Some(q) => requantize_pair(acc, n, &q, [o0, o1]),
            None => {
                self.row(acc0, base, px.zp, px.act, o0)?;
                self.row(acc1, base, px.zp, px.act, o1)?;
            }
        }
        Some(())
    }
}

impl Quant<'_> {
    /// Requantize a pixel triple's accumulators of channels `base..base +
    /// n` into the rows of pixels `px.p`, `px.p1 = px.p + 1` and `px.p + 2`:
    /// one [`requantize_triple`] over the aligned `i32` view, else
    /// [`Quant::row`] per pixel.
    #[inline]
    fn triple(
        &self,
        acc: &Acc3,
        n: usize,
        base: usize,
        px: &Pixels,
        yout: &mut [i8],
    ) -> Option<()> {
        let at = |p: usize| p * px.cout + base;
        // The rows of pixels p + 1 and p + 2 start past pixel p's.
        let (lo, hi) = yout.split_at_mut(at(px.p1).min(yout.len()));
        let (mid, hi) = hi.split_at_mut(px.cout.min(hi.len()));
        let o0 = lo.get_mut(at(px.p)..)?.get_mut(..n)?;
        let (o1, o2) = (mid.get_mut(..n)?, hi.get_mut(..n)?);
        match self.kernel_row(base, n, px.zp, px.act)? {
            Some(q) => requantize_triple(acc, n, &q, [o0, o1, o2]),
            None => {
                for (a, o) in acc.iter().zip([o0, o1, o2]) {
                    self.row(a.get(..n)?, base, px.zp, px.act, o)?;
                }
            }
        }
        Some(())
    }
}

/// A pixel pair's accumulators: one row of [`OC_BLOCK`] channels per pixel.
type Acc = [[i32; ACC_ROW]; 2];

/// Where a pixel pair's outputs go: pixels `p` and `p1` (`p1 = p + 1`, or
/// `p` itself for the last pixel of an odd count) of an HWC output of `cout`
/// channels, requantized to zero point `zp` and clamped to `act`.
struct Pixels {
    p: usize,
    p1: usize,
    cout: usize,
    zp: i32,
    act: [i8; 2],
}

/// Output channels `base..base + count` of a pixel pair or triple,
/// [`OC_BLOCK`] at a time: `dot` fills the accumulators from a block's
/// weight rows (patches of `plen` bytes) and returns how many rows it took,
/// then `done(acc, rows, first channel)` requantizes them ([`Quant::pair`],
/// [`Quant::triple`]).
#[inline]
fn channel_blocks<A>(
    q: &Quant,
    [base, count, plen]: [usize; 3],
    acc: &mut A,
    mut dot: impl FnMut(&[i8], &mut A) -> usize,
    mut done: impl FnMut(&A, usize, usize) -> Option<()>,
) -> Option<()> {
    for c0 in (base..base + count).step_by(OC_BLOCK) {
        let nb = OC_BLOCK.min(base + count - c0);
        let rows = q.weights.get(c0 * plen..(c0 + nb) * plen)?;
        if dot(rows, acc) != nb {
            return None;
        }
        done(acc, nb, c0)?;
    }
    Some(())
}

/// Output channels per block: accumulators of a pixel pair live on the stack.
const OC_BLOCK: usize = ACC_ROW;

/// Conv geometry (validated at load).
pub(super) struct Geom {
    pub groups: usize,
    pub k: [usize; 2],
    pub s: [usize; 2],
    pub pad: [usize; 2],
    pub act: [i8; 2],
}

/// Where [`gather`] writes a patch: `put` copies `src` to patch offset
/// `at`, `fill` sets `len` bytes from `at` to `v`; `None` when the patch
/// cannot hold them.
trait PatchOut {
    fn put(&mut self, at: usize, src: &[i8]) -> Option<()>;
    fn fill(&mut self, at: usize, len: usize, v: i8) -> Option<()>;
}

/// A contiguous patch.
impl PatchOut for &mut [i8] {
    #[inline]
    fn put(&mut self, at: usize, src: &[i8]) -> Option<()> {
        copy(self.get_mut(at..at + src.len())?, src);
        Some(())
    }
    #[inline]
    fn fill(&mut self, at: usize, len: usize, v: i8) -> Option<()> {
        self.get_mut(at..at + len)?.fill(v);
        Some(())
    }
}

/// Lane `lane` of an interleaved pixel triple ([`lane_at`]): offsets and
/// lengths whole chunks (a conv over a multiple of 16 input channels).
struct Lane<'a> {
    buf: &'a mut [i8],
    lane: usize,
}

impl Lane<'_> {
    /// The chunks `at..at + len` of this lane, one by one.
    fn chunks(&mut self, at: usize, len: usize) -> Option<impl Iterator<Item = &mut [i8]> + '_> {
        if !(at.is_multiple_of(CHUNK) && len.is_multiple_of(CHUNK)) {
            return None;
        }
        let (first, lane) = (at / CHUNK, self.lane);
        let end = lane_at(first + len / CHUNK, 0);
        let region = self.buf.get_mut(lane_at(first, 0)..end)?;
        Some(
            region
                .chunks_exact_mut(LANES * CHUNK)
                .map(move |c| &mut c[lane * CHUNK..][..CHUNK]),
        )
    }
}

impl PatchOut for Lane<'_> {
    fn put(&mut self, at: usize, src: &[i8]) -> Option<()> {
        for (dst, s) in self.chunks(at, src.len())?.zip(src.chunks_exact(CHUNK)) {
            copy(dst, s);
        }
        Some(())
    }
    fn fill(&mut self, at: usize, len: usize, v: i8) -> Option<()> {
        self.chunks(at, len)?.for_each(|dst| dst.fill(v));
        Some(())
    }
}

/// im2col of output pixel `p`, group `grp`: `kh·kw` runs of `cin_g` channels.
/// With one group the `kw` taps of a kernel row inside the image are adjacent
/// pixels, so they are one contiguous `kw·cin` copy.
fn gather(
    x: &Tensor,
    xin: &[i8],
    g: &Geom,
    ow: usize,
    p: usize,
    grp: usize,
    mut out: impl PatchOut,
) -> Option<()> {
    let (h, w, cin) = (x.h as isize, x.w as isize, x.c as usize);
    let cin_g = cin / g.groups;
    let (oy, ox) = (p / ow, p % ow);
    let ix0 = (ox * g.s[1]) as isize - g.pad[1] as isize;
    let row_inside = g.groups == 1 && ix0 >= 0 && ix0 + g.k[1] as isize <= w;
    let run = g.k[1] * cin_g;
    for ky in 0..g.k[0] {
        let base = ky * run;
        let iy = (oy * g.s[0] + ky) as isize - g.pad[0] as isize;
        if iy < 0 || iy >= h {
            out.fill(base, run, x.zero_point)?;
        } else if row_inside {
            let at = (iy * w + ix0) as usize * cin;
            out.put(base, xin.get(at..at + run)?)?;
        } else {
            for kx in 0..g.k[1] {
                let ix = ix0 + kx as isize;
                if ix >= 0 && ix < w {
                    let at = (iy * w + ix) as usize * cin + grp * cin_g;
                    out.put(base + kx * cin_g, xin.get(at..at + cin_g)?)?;
                } else {
                    out.fill(base + kx * cin_g, cin_g, x.zero_point)?;
                }
            }
        }
    }
    Some(())
}

/// Pixel `p`'s im2col patch (group `grp`) into `dst`: with one group a patch
/// wholly inside the input is its kernel rows (`rows`) through [`copy_rows`],
/// inline; any other through [`gather`].
// The arguments stay separate: the same code as a per-layer `Source` struct
// with methods (measured 2026-11-28) took the bundled model's Helium build
// from 8,424,812 to 8,433,757 instructions per image (+0.1 %, the 16→16
// layers 3.5 instructions more per pixel pair) and 32 B more stack.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn patch(
    x: &Tensor,
    xin: &[i8],
    g: &Geom,
    ow: usize,
    p: usize,
    grp: usize,
    rows: &Strided,
    dst: &mut [i8],
) -> Option<()> {
    if g.groups == 1 {
        if let Some(at) = patch_inside(x, g, ow, p) {
            return copy_rows(dst, xin.get(at..)?, rows).then_some(());
        }
    }
    gather(x, xin, g, ow, p, grp, dst)
}

/// Where output pixel `p`'s patch starts in the input, when every tap lies
/// inside it: the offset of its top-left tap's first channel.
#[inline]
fn patch_inside(x: &Tensor, g: &Geom, ow: usize, p: usize) -> Option<usize> {
    let (h, w, cin) = (x.h as usize, x.w as usize, x.c as usize);
    let (oy, ox) = (p / ow, p % ow);
    let iy0 = (oy * g.s[0]).checked_sub(g.pad[0])?;
    let ix0 = (ox * g.s[1]).checked_sub(g.pad[1])?;
    (iy0 + g.k[0] <= h && ix0 + g.k[1] <= w).then_some((iy0 * w + ix0) * cin)
}

/// Any conv but depthwise: pixel pairs × channel pairs through [`dot_2xn`]
/// (on the DSP build, a pair whose taps all lie inside the input through
/// [`dot_2xn_strided`], read in place).
// Out of line: inlined into the engine's op loop it shares a frame of ~2 KB
// and its registers with every other op (measured: −0.6 % on ResNet-8 Helium,
// the profile's per-function table then names it).
#[inline(never)]
pub(super) fn conv(
    x: &Tensor,
    y: &Tensor,
    xin: &[i8],
    yout: &mut [i8],
    q: &Quant,
    g: &Geom,
    scratch: &mut [i8],
) -> Option<()> {
    let (cin, cout) = (x.c as usize, y.c as usize);
    let (cin_g, cout_g) = (cin / g.groups, cout / g.groups);
    let plen = cin_g * g.k[0] * g.k[1];
    let (ow, npix) = (y.w as usize, y.h as usize * y.w as usize);
    let in_place = g.k == [1, 1] && g.pad == [0, 0] && g.groups == 1;
    // Kernel rows read in place need whole 4-byte steps per row.
    let rows_ok = ROWS_IN_PLACE && !in_place && g.groups == 1 && (g.k[1] * cin).is_multiple_of(4);
    let strided = Strided {
        rows: g.k[0],
        run: g.k[1] * cin,
        stride: x.w as usize * cin,
    };
    let zp = y.zero_point as i32;
    let px = |p: usize, p1: usize| Pixels {
        p,
        p1,
        cout,
        zp,
        act: g.act,
    };
    // Every accumulator a block reads was written by that block first.
    let mut acc3: Acc3 = [[0i32; ACC_ROW]; LANES];
    // Pixel triples while three remain, on interleaved patches
    // (`kernels::triple`); the rest, and other convs, in pairs.
    let triples = PIXEL_TRIPLES
        && !in_place
        && g.groups == 1
        && cin.is_multiple_of(CHUNK)
        && interleavable(plen)
        && scratch.len() >= LANES * plen;
    let mut done = 0;
    if triples {
        let buf = scratch.get_mut(..LANES * plen)?;
        for p in (0..npix - npix % LANES).step_by(LANES) {
            let inside = [0, 1, 2].map(|lane| patch_inside(x, g, ow, p + lane));
            if let [Some(a0), Some(a1), Some(a2)] = inside {
                let src = [xin.get(a0..)?, xin.get(a1..)?, xin.get(a2..)?];
                copy_rows_triple(buf, src, &strided).then_some(())?;
            } else {
                for (lane, at) in inside.into_iter().enumerate() {
                    match at {
                        Some(at) => {
                            copy_rows_lane(buf, lane, xin.get(at..)?, &strided).then_some(())?
                        }
                        None => gather(x, xin, g, ow, p + lane, 0, Lane { buf, lane })?,
                    }
                }
            }
            let three = px(p, p + 1);
            channel_blocks(
                q,
                [0, cout, plen],
                &mut acc3,
                |rows, acc| dot_3xn(buf, plen, rows, acc),
                |acc, nb, c0| q.triple(acc, nb, c0, &three, yout),
            )?;
        }
        done = npix - npix % LANES;
    }
    let acc: &mut Acc = acc3.first_chunk_mut::<2>()?;
    let (pa, pb) = scratch.split_at_mut(plen.min(scratch.len()));
    for p in (done..npix).step_by(2) {
        // The last pixel of an odd count pairs with itself; its twin is dropped.
        let p1 = (p + 1).min(npix - 1);
        let pair = px(p, p1);
        if rows_ok {
            if let (Some(a0), Some(a1)) = (patch_inside(x, g, ow, p), patch_inside(x, g, ow, p1)) {
                let (x0, x1) = (xin.get(a0..)?, xin.get(a1..)?);
                channel_blocks(
                    q,
                    [0, cout, plen],
                    acc,
                    |rows, acc| dot_2xn_strided(x0, x1, &strided, rows, acc),
                    |acc, nb, c0| q.pair(acc, nb, c0, &pair, yout),
                )?;
                continue;
            }
        }
        for grp in 0..g.groups {
            let (a, b): (&[i8], &[i8]) = if in_place {
                let at = |p: usize| ((p / ow) * g.s[0] * x.w as usize + (p % ow) * g.s[1]) * cin;
                (xin.get(at(p)..at(p) + cin)?, xin.get(at(p1)..at(p1) + cin)?)
            } else {
                let (a, b) = (pa.get_mut(..plen)?, pb.get_mut(..plen)?);
                patch(x, xin, g, ow, p, grp, &strided, a)?;
                patch(x, xin, g, ow, p1, grp, &strided, b)?;
                (a, b)
            };
            channel_blocks(
                q,
                [grp * cout_g, cout_g, plen],
                acc,
                |rows, acc| dot_2xn(a, b, rows, acc),
                |acc, nb, c0| q.pair(acc, nb, c0, &pair, yout),
            )?;
        }
    }
    Some(())
}

/// Depthwise conv (`groups = cin = cout`, e.g. a blur kept as a layer), weights
/// `[kh][kw][c]`: an output pixel whose taps all lie inside the input is one
/// [`depthwise_requant`] call per channel block (sums and requantization);
/// a border pixel goes tap by tap
/// ([`mac_row`] over a contiguous run of channels, padding taps adding the
/// input zero point times the weights).
pub(super) fn depthwise(
    x: &Tensor,
    y: &Tensor,
    xin: &[i8],
    yout: &mut [i8],
    q: &Quant,
    g: &Geom,
) -> Option<()> {
    let (h, w, c) = (x.h as isize, x.w as isize, x.c as usize);
    let (ow, taps) = (y.w as usize, g.k[0] * g.k[1]);
    let zp = y.zero_point as i32;
    let (kh, kw) = (g.k[0] as isize, g.k[1] as isize);
    let geom = DwTaps {
        k: g.k,
        row: x.w as usize * c,
        c,
    };
    let mut block = [0i32; OC_BLOCK];
    for (p, out) in yout.chunks_exact_mut(c).enumerate() {
        let (oy, ox) = (p / ow, p % ow);
        let (iy0, ix0) = (
            (oy * g.s[0]) as isize - g.pad[0] as isize,
            (ox * g.s[1]) as isize - g.pad[1] as isize,
        );
        let inside = iy0 >= 0 && ix0 >= 0 && iy0 + kh <= h && ix0 + kw <= w;
        for c0 in (0..c).step_by(OC_BLOCK) {
            let n = OC_BLOCK.min(c - c0);
            let acc = &mut block[..n];
            if inside {
                // Every tap inside the input: one kernel call for the pixel,
                // its requantization included where the constants are aligned.
                let at = (iy0 * w + ix0) as usize * c + c0;
                let (xs, ws) = (xin.get(at..)?, q.weights.get(c0..)?);
                if let Some(rq) = q.kernel_row(c0, n, zp, g.act)? {
                    let o = out.get_mut(c0..c0 + n)?;
                    if !depthwise_requant(acc, xs, ws, &geom, &rq, o) {
                        return None;
                    }
                    continue;
                }
                if !depthwise_pixel(acc, xs, ws, &geom) {
                    return None;
                }
            } else {
                // At the border: tap by tap, padding taps read the zero point.
                acc.fill(0);
                for t in 0..taps {
                    let (iy, ix) = (iy0 + (t / g.k[1]) as isize, ix0 + (t % g.k[1]) as isize);
                    let wt = q.weights.get(t * c + c0..t * c + c0 + n)?;
                    if iy >= 0 && iy < h && ix >= 0 && ix < w {
                        let at = (iy * w + ix) as usize * c + c0;
                        mac_row(acc, xin.get(at..at + n)?, wt);
                    } else {
                        for (a, &k) in acc.iter_mut().zip(wt) {
                            *a = a.wrapping_add(x.zero_point as i32 * k as i32);
                        }
                    }
                }
            }
            q.row(acc, c0, zp, g.act, out.get_mut(c0..)?)?;
        }
    }
    Some(())
}

/// Fully connected: one [`dot`] per output.
pub(super) fn fully_connected(
    xin: &[i8],
    yout: &mut [i8],
    q: &Quant,
    zp: i32,
    act: [i8; 2],
) -> Option<()> {
    let k = xin.len();
    for (o, v) in yout.iter_mut().enumerate() {
        *v = q.out(o, dot(xin, q.weights.get(o * k..(o + 1) * k)?), zp, act);
    }
    Some(())
}
