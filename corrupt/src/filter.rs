//! Linear filters with the border rules and kernels of the libraries the
//! reference uses: scipy.ndimage / skimage (Gaussian, `correlate1d`) and OpenCV
//! (`filter2D`, `blur`: BORDER_REFLECT_101). Separable where the kernel is, and
//! written as row sweeps so the inner loops vectorize.

/// How a filter reads outside the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Border {
    /// `aaaa|abcd|dddd` (scipy `nearest`, OpenCV REPLICATE).
    Nearest,
    /// `dcba|abcd|dcba` (scipy `reflect`, OpenCV REFLECT).
    Reflect,
    /// `dcb|abcd|cba` (scipy `mirror`, OpenCV REFLECT_101, the OpenCV default).
    Mirror,
    /// Zeros.
    Zero,
}

impl Border {
    /// Index into `0..n` for position `i` (may be outside), or `None` for a zero.
    #[inline]
    pub fn index(self, i: isize, n: usize) -> Option<usize> {
        let n_i = n as isize;
        if (0..n_i).contains(&i) {
            return Some(i as usize);
        }
        match self {
            Border::Zero => None,
            Border::Nearest => Some(i.clamp(0, n_i - 1) as usize),
            Border::Reflect => {
                if n == 1 {
                    return Some(0);
                }
                let period = 2 * n_i;
                let m = i.rem_euclid(period);
                Some(if m < n_i { m } else { period - 1 - m } as usize)
            }
            Border::Mirror => {
                if n == 1 {
                    return Some(0);
                }
                let period = 2 * n_i - 2;
                let m = i.rem_euclid(period);
                Some(if m < n_i { m } else { period - m } as usize)
            }
        }
    }
}

/// scipy's Gaussian kernel: radius `⌊truncate·σ + 0.5⌋`, `exp(−x²/2σ²)`, normalised.
pub fn gaussian_kernel(sigma: f64, truncate: f64) -> Vec<f64> {
    let r = (truncate * sigma + 0.5) as isize;
    let s2 = sigma * sigma;
    let w: Vec<f64> = (-r..=r)
        .map(|x| libm::exp(-0.5 / s2 * (x * x) as f64))
        .collect();
    let sum: f64 = w.iter().sum();
    w.into_iter().map(|v| v / sum).collect()
}

/// Correlate every row of an `h × w` plane with `k` (centred), in place of `out`.
pub fn correlate_rows(src: &[f64], w: usize, h: usize, k: &[f64], border: Border) -> Vec<f64> {
    let r = (k.len() / 2) as isize;
    let mut out = vec![0.0; w * h];
    let mut padded = vec![0.0; w + 2 * r as usize];
    for y in 0..h {
        let row = &src[y * w..(y + 1) * w];
        for (j, p) in padded.iter_mut().enumerate() {
            *p = border.index(j as isize - r, w).map_or(0.0, |i| row[i]);
        }
        let o = &mut out[y * w..(y + 1) * w];
        for (t, &kt) in k.iter().enumerate() {
            for (x, ov) in o.iter_mut().enumerate() {
                *ov += kt * padded[x + t];
            }
        }
    }
    out
}

/// Correlate every column with `k` (centred): output rows are weighted sums of
/// input rows, an axpy per tap.
pub fn correlate_cols(src: &[f64], w: usize, h: usize, k: &[f64], border: Border) -> Vec<f64> {
    let r = (k.len() / 2) as isize;
    let mut out = vec![0.0; w * h];
    for y in 0..h {
        let o = &mut out[y * w..(y + 1) * w];
        for (t, &kt) in k.iter().enumerate() {
            if let Some(sy) = border.index(y as isize + t as isize - r, h) {
                let row = &src[sy * w..(sy + 1) * w];
                for (ov, &v) in o.iter_mut().zip(row) {
                    *ov += kt * v;
                }
            }
        }
    }
    out
}

/// scipy `gaussian_filter` of one plane with per-axis sigmas `[σ_y, σ_x]`
/// (axis 0 first, as scipy does); a zero sigma skips its axis.
pub fn gaussian(
    src: &[f64],
    w: usize,
    h: usize,
    sigma: [f64; 2],
    border: Border,
    truncate: f64,
) -> Vec<f64> {
    let mut v = src.to_vec();
    if sigma[0] > 0.0 {
        v = correlate_cols(&v, w, h, &gaussian_kernel(sigma[0], truncate), border);
    }
    if sigma[1] > 0.0 {
        v = correlate_rows(&v, w, h, &gaussian_kernel(sigma[1], truncate), border);
    }
    v
}

/// skimage `filters.gaussian(x, sigma, channel_axis=-1)` on every plane
/// (mode `nearest`, truncate 4).
pub fn gaussian_planes(p: &crate::Planes, sigma: f64) -> crate::Planes {
    let mut out = p.clone();
    for ch in 0..p.c {
        let f = gaussian(p.plane(ch), p.w, p.h, [sigma, sigma], Border::Nearest, 4.0);
        out.plane_mut(ch).copy_from_slice(&f);
    }
    out
}

/// OpenCV `filter2D` (correlation, anchor at the centre, BORDER_REFLECT_101).
pub fn filter2d(src: &[f64], w: usize, h: usize, k: &[f64], kw: usize, kh: usize) -> Vec<f64> {
    let (ry, rx) = ((kh / 2) as isize, (kw / 2) as isize);
    let mut out = vec![0.0; w * h];
    // Pad columns once per source row so the inner loop is a plain axpy.
    let pw = w + kw - 1;
    let padded: Vec<f64> = (0..h)
        .flat_map(|y| (0..pw).map(move |j| (y, j)))
        .map(|(y, j)| src[y * w + Border::Mirror.index(j as isize - rx, w).unwrap_or(0)])
        .collect();
    for y in 0..h {
        let o = &mut out[y * w..(y + 1) * w];
        for ky in 0..kh {
            let Some(sy) = Border::Mirror.index(y as isize + ky as isize - ry, h) else {
                continue;
            };
            let row = &padded[sy * pw..(sy + 1) * pw];
            for kx in 0..kw {
                let kv = k[ky * kw + kx];
                if kv == 0.0 {
                    continue;
                }
                for (x, ov) in o.iter_mut().enumerate() {
                    *ov += kv * row[x + kx];
                }
            }
        }
    }
    out
}

/// OpenCV `blur(x, (k, k))`: normalised box filter, BORDER_REFLECT_101.
pub fn box_blur(src: &[f64], w: usize, h: usize, k: usize) -> Vec<f64> {
    let taps = vec![1.0 / k as f64; k];
    correlate_cols(
        &correlate_rows(src, w, h, &taps, Border::Mirror),
        w,
        h,
        &taps,
        Border::Mirror,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn border_rules_match_scipy_and_opencv() {
        let idx = |b: Border| (-3..7).map(|i| b.index(i, 4)).collect::<Vec<_>>();
        let s = |v: &[usize]| v.iter().map(|&x| Some(x)).collect::<Vec<_>>();
        assert_eq!(idx(Border::Nearest), s(&[0, 0, 0, 0, 1, 2, 3, 3, 3, 3]));
        assert_eq!(idx(Border::Reflect), s(&[2, 1, 0, 0, 1, 2, 3, 3, 2, 1]));
        assert_eq!(idx(Border::Mirror), s(&[3, 2, 1, 0, 1, 2, 3, 2, 1, 0]));
    }

    #[test]
    fn gaussian_kernel_matches_scipy() {
        // scipy.ndimage._gaussian_kernel1d(1.0, 0, 4): 9 taps, centre 0.39894228...
        let k = gaussian_kernel(1.0, 4.0);
        assert_eq!(k.len(), 9);
        assert!(
            (k[4] - 0.398_942_280_401_4).abs() < 1e-3
                && (k.iter().sum::<f64>() - 1.0).abs() < 1e-12
        );
        assert!((k[3] / k[4] - libm::exp(-0.5)).abs() < 1e-12);
    }

    #[test]
    fn separable_equals_direct_2d() {
        let (w, h) = (9, 7);
        let src: Vec<f64> = (0..w * h).map(|i| ((i * 37) % 11) as f64).collect();
        let k = [0.25, 0.5, 0.25];
        let sep = correlate_cols(
            &correlate_rows(&src, w, h, &k, Border::Mirror),
            w,
            h,
            &k,
            Border::Mirror,
        );
        let k2: Vec<f64> = k
            .iter()
            .flat_map(|a| k.iter().map(move |b| a * b))
            .collect();
        let direct = filter2d(&src, w, h, &k2, 3, 3);
        assert!(sep.iter().zip(&direct).all(|(a, b)| (a - b).abs() < 1e-12));
    }
}
