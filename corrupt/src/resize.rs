//! Resampling with the conventions of each reference library:
//! scipy `ndimage.zoom(order=1)`, Pillow's `BOX` and `NEAREST` resize (8-bit, two
//! passes, 22-bit fixed-point weights) and OpenCV's `INTER_CUBIC` (a = −0.75).

/// Python's `round` (half to even) of a non-negative value.
pub fn round_half_even(x: f64) -> f64 {
    let r = libm::round(x);
    if (r - x).abs() == 0.5 && (r as i64) % 2 != 0 {
        r - (r - x).signum()
    } else {
        r
    }
}

/// scipy `ndimage.zoom(plane, z, order=1)` (grid_mode=False): output length
/// `round(n·z)`, output `i` samples input `i·(n−1)/(m−1)` linearly.
pub fn zoom_linear(src: &[f64], w: usize, h: usize, z: f64) -> (Vec<f64>, usize, usize) {
    let oh = round_half_even(h as f64 * z) as usize;
    let ow = round_half_even(w as f64 * z) as usize;
    let coords = |n: usize, m: usize| -> Vec<(usize, usize, f64)> {
        (0..m)
            .map(|i| {
                let c = if m > 1 {
                    i as f64 * (n as f64 - 1.0) / (m as f64 - 1.0)
                } else {
                    0.0
                };
                let i0 = (libm::floor(c) as usize).min(n - 1);
                let i1 = (i0 + 1).min(n - 1);
                (i0, i1, c - i0 as f64)
            })
            .collect()
    };
    let cy = coords(h, oh);
    let cx = coords(w, ow);
    let mut out = vec![0.0; oh * ow];
    for (y, &(y0, y1, fy)) in cy.iter().enumerate() {
        for (x, &(x0, x1, fx)) in cx.iter().enumerate() {
            let a = src[y0 * w + x0] * (1.0 - fx) + src[y0 * w + x1] * fx;
            let b = src[y1 * w + x0] * (1.0 - fx) + src[y1 * w + x1] * fx;
            out[y * ow + x] = a * (1.0 - fy) + b * fy;
        }
    }
    (out, oh, ow)
}

/// One axis of a Pillow resample: per output index, the first input index and
/// the 22-bit fixed-point weights (Pillow's `precompute_coeffs` +
/// `normalize_coeffs_8bpc`).
fn pil_coeffs(
    input: usize,
    output: usize,
    support: f64,
    filter: fn(f64) -> f64,
) -> Vec<(usize, Vec<i64>)> {
    let scale = input as f64 / output as f64;
    let filterscale = scale.max(1.0);
    let support = support * filterscale;
    let ss = 1.0 / filterscale;
    (0..output)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = (((center + support + 0.5) as i64).min(input as i64) as usize) - xmin;
            let mut k: Vec<f64> = (0..xmax)
                .map(|x| filter((x as f64 + xmin as f64 - center + 0.5) * ss))
                .collect();
            let ww: f64 = k.iter().sum();
            if ww != 0.0 {
                k.iter_mut().for_each(|v| *v /= ww);
            }
            let fixed = k
                .iter()
                .map(|&v| {
                    if v < 0.0 {
                        (v * (1 << 22) as f64 - 0.5) as i64
                    } else {
                        (v * (1 << 22) as f64 + 0.5) as i64
                    }
                })
                .collect();
            (xmin, fixed)
        })
        .collect()
}

fn box_filter(x: f64) -> f64 {
    if (-0.5..0.5).contains(&x) {
        1.0
    } else {
        0.0
    }
}

/// Pillow `resize(size, Image.BOX)` of an interleaved 8-bit image with `c`
/// channels: horizontal pass, then vertical, each rounded to 8 bits.
pub fn pil_box(src: &[u8], w: usize, h: usize, c: usize, ow: usize, oh: usize) -> Vec<u8> {
    let clip = |v: i64| -> u8 { (v >> 22).clamp(0, 255) as u8 };
    let mut mid = vec![0u8; ow * h * c];
    if ow != w {
        let cx = pil_coeffs(w, ow, 0.5, box_filter);
        for y in 0..h {
            for (x, (x0, k)) in cx.iter().enumerate() {
                for ch in 0..c {
                    let s: i64 = (1 << 21)
                        + k.iter()
                            .enumerate()
                            .map(|(i, &kv)| kv * src[(y * w + x0 + i) * c + ch] as i64)
                            .sum::<i64>();
                    mid[(y * ow + x) * c + ch] = clip(s);
                }
            }
        }
    } else {
        mid.copy_from_slice(src);
    }
    if oh == h {
        return mid;
    }
    let cy = pil_coeffs(h, oh, 0.5, box_filter);
    let mut out = vec![0u8; ow * oh * c];
    for (y, (y0, k)) in cy.iter().enumerate() {
        for x in 0..ow {
            for ch in 0..c {
                let s: i64 = (1 << 21)
                    + k.iter()
                        .enumerate()
                        .map(|(i, &kv)| kv * mid[((y0 + i) * ow + x) * c + ch] as i64)
                        .sum::<i64>();
                out[(y * ow + x) * c + ch] = clip(s);
            }
        }
    }
    out
}

/// Pillow `resize(size, Image.NEAREST)`: output `x` takes input `⌊(x + ½)·in/out⌋`.
pub fn pil_nearest(src: &[u8], w: usize, h: usize, c: usize, ow: usize, oh: usize) -> Vec<u8> {
    let map = |n: usize, m: usize| -> Vec<usize> {
        (0..m)
            .map(|i| (((i as f64 + 0.5) * n as f64 / m as f64) as usize).min(n - 1))
            .collect()
    };
    let (mx, my) = (map(w, ow), map(h, oh));
    let mut out = Vec::with_capacity(ow * oh * c);
    for &sy in &my {
        for &sx in &mx {
            out.extend_from_slice(&src[(sy * w + sx) * c..(sy * w + sx + 1) * c]);
        }
    }
    out
}

/// OpenCV's cubic convolution weights (a = −0.75) for fraction `f`.
fn cubic_weights(f: f64) -> [f64; 4] {
    const A: f64 = -0.75;
    let w0 = ((A * (f + 1.0) - 5.0 * A) * (f + 1.0) + 8.0 * A) * (f + 1.0) - 4.0 * A;
    let w1 = ((A + 2.0) * f - (A + 3.0)) * f * f + 1.0;
    let w2 = ((A + 2.0) * (1.0 - f) - (A + 3.0)) * (1.0 - f) * (1.0 - f) + 1.0;
    [w0, w1, w2, 1.0 - w0 - w1 - w2]
}

/// OpenCV `resize(INTER_CUBIC)` of an interleaved 8-bit image (source sample
/// `(x + ½)·scale − ½`, clamped borders), computed in floating point and rounded.
pub fn cv_cubic(src: &[u8], w: usize, h: usize, c: usize, ow: usize, oh: usize) -> Vec<u8> {
    let taps = |n: usize, m: usize| -> Vec<([usize; 4], [f64; 4])> {
        let scale = n as f64 / m as f64;
        (0..m)
            .map(|i| {
                let sx = (i as f64 + 0.5) * scale - 0.5;
                let x0 = libm::floor(sx);
                let wts = cubic_weights(sx - x0);
                let idx = [-1, 0, 1, 2].map(|d| (x0 as i64 + d).clamp(0, n as i64 - 1) as usize);
                (idx, wts)
            })
            .collect()
    };
    let (tx, ty) = (taps(w, ow), taps(h, oh));
    // Horizontal pass in float, then vertical.
    let mut mid = vec![0.0f64; ow * h * c];
    for y in 0..h {
        for (x, (ix, wx)) in tx.iter().enumerate() {
            for ch in 0..c {
                mid[(y * ow + x) * c + ch] = (0..4)
                    .map(|t| wx[t] * src[(y * w + ix[t]) * c + ch] as f64)
                    .sum();
            }
        }
    }
    let mut out = vec![0u8; ow * oh * c];
    for (y, (iy, wy)) in ty.iter().enumerate() {
        for x in 0..ow {
            for ch in 0..c {
                let v: f64 = (0..4).map(|t| wy[t] * mid[(iy[t] * ow + x) * c + ch]).sum();
                out[(y * ow + x) * c + ch] = libm::round(v).clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_rounding() {
        assert_eq!(round_half_even(2.5), 2.0);
        assert_eq!(round_half_even(3.5), 4.0);
        assert_eq!(round_half_even(3.4), 3.0);
    }

    #[test]
    fn zoom_keeps_corners_and_interpolates() {
        let src = [0.0, 1.0, 2.0, 3.0];
        let (out, oh, ow) = zoom_linear(&src, 2, 2, 2.0);
        assert_eq!((oh, ow), (4, 4));
        assert_eq!(out[0], 0.0);
        assert_eq!(out[15], 3.0);
        assert!((out[1] - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn box_halving_averages_pairs_with_rounding() {
        let src = [10u8, 13, 200, 201];
        assert_eq!(pil_box(&src, 4, 1, 1, 2, 1), vec![12, 201]); // 11.5 → 12, 200.5 → 201
        assert_eq!(pil_nearest(&[1, 2], 2, 1, 1, 4, 1), vec![1, 1, 2, 2]);
    }

    #[test]
    fn cubic_identity_and_constant() {
        let src: Vec<u8> = (0..16).collect();
        assert_eq!(cv_cubic(&src, 4, 4, 1, 4, 4), src);
        assert!(cv_cubic(&[77; 36], 6, 6, 1, 9, 9).iter().all(|&v| v == 77));
    }
}
