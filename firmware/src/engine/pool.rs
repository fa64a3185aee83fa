//! Spatial ops on HWC activations that only move or compare bytes (pad, max
//! pool) and the global average pool.

use crate::arith::requantize;
use crate::kernels::copy;
use nyquist_nqm::Tensor;

/// Pad with the zero point (`mode` 0), by reflection (1) or the edge (2): one
/// contiguous channel run per output pixel.
pub(super) fn pad(
    x: &Tensor,
    y: &Tensor,
    xin: &[i8],
    yout: &mut [i8],
    mode: u8,
    pad: [u8; 4],
) -> Option<()> {
    let (h, w, c) = (x.h as isize, x.w as isize, x.c as usize);
    let fold = |i: isize, n: isize| -> Option<isize> {
        match mode {
            1 => Some(if i < 0 {
                -i
            } else if i >= n {
                2 * n - 2 - i
            } else {
                i
            }),
            2 => Some(i.clamp(0, n - 1)),
            _ => (0..n).contains(&i).then_some(i),
        }
    };
    let ow = y.w as usize;
    for (p, out) in yout.chunks_exact_mut(c).enumerate() {
        let iy = fold((p / ow) as isize - pad[0] as isize, h);
        let ix = fold((p % ow) as isize - pad[1] as isize, w);
        match (iy, ix) {
            (Some(iy), Some(ix)) => {
                let at = (iy * w + ix) as usize * c;
                copy(out, xin.get(at..at + c)?);
            }
            _ => out.fill(x.zero_point),
        }
    }
    Some(())
}

/// Max pooling; padded taps are ignored (validation keeps every window non-empty).
pub(super) fn max_pool(
    x: &Tensor,
    y: &Tensor,
    xin: &[i8],
    yout: &mut [i8],
    k: [u8; 2],
    s: [u8; 2],
    pad: [u8; 4],
) -> Option<()> {
    let (h, w, c) = (x.h as isize, x.w as isize, x.c as usize);
    let ow = y.w as usize;
    for (p, out) in yout.chunks_exact_mut(c).enumerate() {
        out.fill(i8::MIN);
        let (oy, ox) = ((p / ow) as isize, (p % ow) as isize);
        for ky in 0..k[0] as isize {
            let iy = oy * s[0] as isize + ky - pad[0] as isize;
            for kx in 0..k[1] as isize {
                let ix = ox * s[1] as isize + kx - pad[1] as isize;
                if iy >= 0 && iy < h && ix >= 0 && ix < w {
                    let at = (iy * w + ix) as usize * c;
                    for (m, &v) in out.iter_mut().zip(xin.get(at..at + c)?) {
                        *m = (*m).max(v);
                    }
                }
            }
        }
    }
    Some(())
}

/// Global average pool: `Σ (x − z_x)` per channel, requantized with the
/// `1/(h·w)` factor folded into `mult`.
pub(super) fn global_avg_pool(
    x: &Tensor,
    y: &Tensor,
    xin: &[i8],
    yout: &mut [i8],
    mult: [i32; 2],
) -> Option<()> {
    let c = x.c as usize;
    let zi = x.zero_point as i32;
    for (ch, v) in yout.iter_mut().enumerate() {
        let acc: i32 = xin.iter().skip(ch).step_by(c).map(|&a| a as i32 - zi).sum();
        *v = requantize(acc, mult[0], mult[1], y.zero_point as i32, i8::MIN, i8::MAX);
    }
    Some(())
}
