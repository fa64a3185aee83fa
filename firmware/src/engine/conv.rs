//! Convolution and fully connected layers on HWC activations with OHWI weights.
//!
//! The conv computes output pixels in pairs and output channels in pairs: one
//! [`dot_2xn`] call runs a pixel pair against a block of channels in 2×2
//! register blocks, so every loaded input byte and every loaded weight byte
//! feeds two MACs. A pair's two im2col patches are gathered
//! into scratch as `kh·kw` contiguous channel runs (padding taps filled with
//! the input zero point, which the folded bias cancels); an unpadded 1×1 conv
//! with one group reads the pixels in place. Depthwise convs (kept blurs) have
//! their own loop (weights `[kh][kw][c]`). Accumulators of up to [`OC_BLOCK`]
//! channels are requantized a row at a time ([`requantize_row`], the same
//! arithmetic as [`requantize`], docs/architecture.md, "int8 arithmetic").

use crate::arith::requantize;
use crate::kernels::{
    copy, depthwise_pixel, dot, dot_2xn, dot_2xn_strided, mac_row, requantize_row, DwTaps,
    RowQuant, Strided, ACC_ROW, ROWS_IN_PLACE,
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
                let right = RowQuant::new(b, m, s, 0, [i8::MIN, i8::MAX]).right_only();
                Some(([b, m, s], right))
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

impl Quant<'_> {
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

    /// Requantize the accumulators of channels `base..base + acc.len()` into
    /// `out`: the build's [`requantize_row`] kernel over the aligned `i32`
    /// view, else the same arithmetic one channel at a time.
    #[inline]
    fn row(&self, acc: &[i32], base: usize, zp: i32, act: [i8; 2], out: &mut [i8]) -> Option<()> {
        let n = acc.len();
        let out = out.get_mut(..n)?;
        match self.typed {
            Some(([bias, mult, shift], right_shifts)) => {
                let r = base..base + n;
                // A slice of the scanned layer: the finding holds for it.
                let q = RowQuant {
                    bias: bias.get(r.clone())?,
                    mult: mult.get(r.clone())?,
                    shift: shift.get(r)?,
                    zero_point: zp,
                    act,
                    right_shifts,
                };
                requantize_row(acc, &q, out);
            }
            None => {
                for (j, (o, &a)) in out.iter_mut().zip(acc).enumerate() {
                    *o = self.out(base + j, a, zp, act);
                }
            }
        }
        Some(())
    }
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
    dst: &mut [i8],
) -> Option<()> {
    let (h, w, cin) = (x.h as isize, x.w as isize, x.c as usize);
    let cin_g = cin / g.groups;
    let (oy, ox) = (p / ow, p % ow);
    let ix0 = (ox * g.s[1]) as isize - g.pad[1] as isize;
    let row_inside = g.groups == 1 && ix0 >= 0 && ix0 + g.k[1] as isize <= w;
    let run = g.k[1] * cin_g;
    for (ky, out) in dst.chunks_exact_mut(run).take(g.k[0]).enumerate() {
        let iy = (oy * g.s[0] + ky) as isize - g.pad[0] as isize;
        if iy < 0 || iy >= h {
            out.fill(x.zero_point);
        } else if row_inside {
            let at = (iy * w + ix0) as usize * cin;
            copy(out, xin.get(at..at + run)?);
        } else {
            for (kx, tap) in out.chunks_exact_mut(cin_g).enumerate() {
                let ix = ix0 + kx as isize;
                if ix >= 0 && ix < w {
                    let at = (iy * w + ix) as usize * cin + grp * cin_g;
                    copy(tap, xin.get(at..at + cin_g)?);
                } else {
                    tap.fill(x.zero_point);
                }
            }
        }
    }
    Some(())
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
    let (pa, pb) = scratch.split_at_mut(plen.min(scratch.len()));
    let zp = y.zero_point as i32;
    // Every accumulator a block reads was written by that block first.
    let mut acc = [[0i32; ACC_ROW]; 2];
    for p in (0..npix).step_by(2) {
        // The last pixel of an odd count pairs with itself; its twin is dropped.
        let p1 = (p + 1).min(npix - 1);
        if rows_ok {
            if let (Some(a0), Some(a1)) = (patch_inside(x, g, ow, p), patch_inside(x, g, ow, p1)) {
                let (x0, x1) = (xin.get(a0..)?, xin.get(a1..)?);
                for c0 in (0..cout).step_by(OC_BLOCK) {
                    let nb = OC_BLOCK.min(cout - c0);
                    let rows = q.weights.get(c0 * plen..(c0 + nb) * plen)?;
                    if dot_2xn_strided(x0, x1, &strided, rows, &mut acc) != nb {
                        return None;
                    }
                    let pixels = if p1 != p { 2 } else { 1 };
                    for (k, px) in [p, p1].into_iter().take(pixels).enumerate() {
                        let out = yout.get_mut(px * cout + c0..)?;
                        q.row(&acc[k][..nb], c0, zp, g.act, out)?;
                    }
                }
                continue;
            }
        }
        for grp in 0..g.groups {
            let (a, b): (&[i8], &[i8]) = if in_place {
                let at = |p: usize| ((p / ow) * g.s[0] * x.w as usize + (p % ow) * g.s[1]) * cin;
                (xin.get(at(p)..at(p) + cin)?, xin.get(at(p1)..at(p1) + cin)?)
            } else {
                let (a, b) = (pa.get_mut(..plen)?, pb.get_mut(..plen)?);
                gather(x, xin, g, ow, p, grp, a)?;
                gather(x, xin, g, ow, p1, grp, b)?;
                (a, b)
            };
            for c0 in (0..cout_g).step_by(OC_BLOCK) {
                let nb = OC_BLOCK.min(cout_g - c0);
                let base = grp * cout_g + c0;
                let rows = q.weights.get(base * plen..(base + nb) * plen)?;
                if dot_2xn(a, b, rows, &mut acc) != nb {
                    return None;
                }
                let pixels = if p1 != p { 2 } else { 1 };
                for (k, px) in [p, p1].into_iter().take(pixels).enumerate() {
                    let out = yout.get_mut(px * cout + base..)?;
                    q.row(&acc[k][..nb], base, zp, g.act, out)?;
                }
            }
        }
    }
    Some(())
}

/// Depthwise conv (`groups = cin = cout`, e.g. a blur kept as a layer), weights
/// `[kh][kw][c]`: an output pixel whose taps all lie inside the input is one
/// [`depthwise_pixel`] call per channel block; a border pixel goes tap by tap
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
                // Every tap inside the input: one kernel call for the pixel.
                let at = (iy0 * w + ix0) as usize * c + c0;
                let (xs, ws) = (xin.get(at..)?, q.weights.get(c0..)?);
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
