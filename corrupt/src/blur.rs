//! defocus_blur, glass_blur, motion_blur, zoom_blur, gaussian_blur.

use image::RgbImage;

use crate::filter::{filter2d, gaussian_kernel, gaussian_planes, Border};
use crate::resize::zoom_linear;
use crate::{Planes, Rng};

/// Gaussian blur sigma per severity.
pub const GAUSSIAN: [f64; 5] = [1.0, 2.0, 3.0, 4.0, 6.0];
/// Glass blur (sigma, max shift, iterations).
pub const GLASS: [(f64, i64, usize); 5] = [
    (0.7, 1, 2),
    (0.9, 2, 1),
    (1.0, 2, 3),
    (1.1, 3, 2),
    (1.5, 4, 2),
];
/// Defocus (disk radius, alias sigma).
pub const DEFOCUS: [(f64, f64); 5] = [(3.0, 0.1), (4.0, 0.5), (6.0, 0.5), (8.0, 0.5), (10.0, 0.5)];
/// Motion blur (radius, sigma).
pub const MOTION: [(usize, f64); 5] = [(10, 3.0), (15, 5.0), (15, 8.0), (15, 12.0), (20, 15.0)];
/// Zoom blur `np.arange(1, stop, step)`.
pub const ZOOM: [(f64, f64); 5] = [
    (1.11, 0.01),
    (1.16, 0.01),
    (1.21, 0.02),
    (1.26, 0.02),
    (1.31, 0.03),
];

/// skimage `gaussian(x, sigma, channel_axis=-1)`.
pub fn gaussian_blur(img: &RgbImage, s: usize) -> RgbImage {
    gaussian_planes(&Planes::unit(img), GAUSSIAN[s]).to_rgb_unit()
}

/// The anti-aliased disk kernel of `imagecorruptions.disk`: an aliased disk on a
/// 17×17 grid (radius ≤ 8) or `(2r+1)²`, normalised, then OpenCV
/// `GaussianBlur(ksize 3 or 5, sigma = alias_blur)` with BORDER_REFLECT_101.
pub fn disk(radius: f64, alias_blur: f64) -> (Vec<f64>, usize) {
    let (l, ks) = if radius <= 8.0 {
        (8i64, 3usize)
    } else {
        (radius as i64, 5usize)
    };
    let n = (2 * l + 1) as usize;
    let mut k: Vec<f64> = (-l..=l)
        .flat_map(|y| {
            (-l..=l).map(move |x| {
                if ((x * x + y * y) as f64) <= radius * radius {
                    1.0
                } else {
                    0.0
                }
            })
        })
        .collect();
    let sum: f64 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= sum);
    // cv2.getGaussianKernel(ks, sigma): exp(-(i - (ks-1)/2)^2 / (2 sigma^2)), normalised.
    let c = (ks as f64 - 1.0) / 2.0;
    let g: Vec<f64> = (0..ks)
        .map(|i| libm::exp(-((i as f64 - c) * (i as f64 - c)) / (2.0 * alias_blur * alias_blur)))
        .collect();
    let gs: f64 = g.iter().sum();
    let g: Vec<f64> = g.into_iter().map(|v| v / gs).collect();
    let k = crate::filter::correlate_rows(&k, n, n, &g, Border::Mirror);
    let k = crate::filter::correlate_cols(&k, n, n, &g, Border::Mirror);
    (k, n)
}

/// `cv2.filter2D` of every channel with the disk kernel.
pub fn defocus_blur(img: &RgbImage, s: usize) -> RgbImage {
    let (r, a) = DEFOCUS[s];
    let (k, n) = disk(r, a);
    let mut p = Planes::unit(img);
    for ch in 0..3 {
        let f = filter2d(p.plane(ch), p.w, p.h, &k, n, n);
        p.plane_mut(ch).copy_from_slice(&f);
    }
    p.to_rgb_unit()
}

/// The random draws of glass blur: one `(dx, dy)` per visited pixel, each
/// uniform in `[−max_shift, max_shift)` (numpy `randint(-d, d)`).
#[derive(Debug, Clone, PartialEq)]
pub struct GlassDraws {
    /// Shifts in visiting order.
    pub shifts: Vec<(i64, i64)>,
}

impl GlassDraws {
    /// Draw for an image of this size.
    pub fn draw(img: &RgbImage, s: usize, rng: &mut Rng) -> Self {
        let (_, d, it) = GLASS[s];
        let n = it * glass_positions(img.height() as i64, img.width() as i64, d).count();
        GlassDraws {
            shifts: (0..n).map(|_| (rng.int(-d, d), rng.int(-d, d))).collect(),
        }
    }
}

/// The pixels glass blur visits, in order: rows and columns from `n − d` down to `d + 1`.
fn glass_positions(h: i64, w: i64, d: i64) -> impl Iterator<Item = (i64, i64)> {
    ((d + 1)..=(h - d))
        .rev()
        .flat_map(move |y| ((d + 1)..=(w - d)).rev().map(move |x| (y, x)))
}

/// Gaussian blur, 8-bit truncation, local pixel shuffling, Gaussian blur again.
///
/// The reference "swaps" with `x[h, w], x[h', w'] = x[h', w'], x[h, w]` on numpy
/// views, which copies `(h', w')` into `(h, w)` and leaves `(h', w')` as it was
/// (the right-hand view already sees the new value). ImageNet-C was generated
/// that way, so this copies too.
pub fn glass_blur(img: &RgbImage, s: usize, draws: &GlassDraws) -> RgbImage {
    let (sigma, d, it) = GLASS[s];
    let first = gaussian_planes(&Planes::unit(img), sigma).to_rgb_unit();
    let (w, h) = (first.width() as i64, first.height() as i64);
    let mut px: Vec<[u8; 3]> = first.pixels().map(|p| p.0).collect();
    let mut k = 0;
    for _ in 0..it {
        for (y, x) in glass_positions(h, w, d) {
            let (dx, dy) = draws.shifts.get(k).copied().unwrap_or((0, 0));
            k += 1;
            let (yp, xp) = (y + dy, x + dx);
            if y < h && x < w && (0..h).contains(&yp) && (0..w).contains(&xp) {
                px[(y * w + x) as usize] = px[(yp * w + xp) as usize];
            }
        }
    }
    let shuffled = RgbImage::from_fn(w as u32, h as u32, |x, y| {
        image::Rgb(px[(y as i64 * w + x as i64) as usize])
    });
    gaussian_planes(&Planes::unit(&shuffled), sigma).to_rgb_unit()
}

/// The random draw of motion blur: the angle in degrees, uniform in [−45°, 45°).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotionDraws {
    /// Angle in degrees.
    pub angle: f64,
}

impl MotionDraws {
    /// Draw.
    pub fn draw(rng: &mut Rng) -> Self {
        MotionDraws {
            angle: rng.uniform(-45.0, 45.0),
        }
    }
}

/// One-sided Gaussian motion kernel of `imagecorruptions`: `width = 2r+1` taps of
/// `exp(−i²/2σ²)`, normalised.
pub fn motion_kernel(radius: usize, sigma: f64) -> Vec<f64> {
    let width = 2 * radius + 1;
    let k: Vec<f64> = (0..width)
        .map(|i| {
            libm::exp(-((i * i) as f64) / (2.0 * sigma * sigma))
                / (libm::sqrt(2.0 * std::f64::consts::PI) * sigma)
        })
        .collect();
    let z: f64 = k.iter().sum();
    k.into_iter().map(|v| v / z).collect()
}

/// `imagecorruptions._motion_blur` on one `h × w` plane: the sum of the kernel
/// taps times copies of the plane shifted along the angle with edge replication;
/// stops when a shift reaches the image size.
pub fn motion_plane(
    src: &[f64],
    w: usize,
    h: usize,
    radius: usize,
    sigma: f64,
    angle: f64,
) -> Vec<f64> {
    let k = motion_kernel(radius, sigma);
    let width = k.len() as f64;
    let rad = angle.to_radians();
    let (py, px) = (width * libm::sin(rad), width * libm::cos(rad));
    let hyp = libm::hypot(py, px);
    let mut out = vec![0.0; w * h];
    for (i, &ki) in k.iter().enumerate() {
        let dy = -(libm::ceil((i as f64 * py) / hyp - 0.5) as i64);
        let dx = -(libm::ceil((i as f64 * px) / hyp - 0.5) as i64);
        if dy.unsigned_abs() as usize >= h || dx.unsigned_abs() as usize >= w {
            break;
        }
        for y in 0..h {
            let sy = (y as i64 - dy).clamp(0, h as i64 - 1) as usize;
            let row = &src[sy * w..(sy + 1) * w];
            let o = &mut out[y * w..(y + 1) * w];
            for (x, ov) in o.iter_mut().enumerate() {
                let sx = (x as i64 - dx).clamp(0, w as i64 - 1) as usize;
                *ov += ki * row[sx];
            }
        }
    }
    out
}

/// Motion blur of the 0–255 image, clipped and truncated.
pub fn motion_blur(img: &RgbImage, s: usize, d: MotionDraws) -> RgbImage {
    let (r, sigma) = MOTION[s];
    let mut p = Planes::from_rgb(img, 1.0);
    for ch in 0..3 {
        let f = motion_plane(p.plane(ch), p.w, p.h, r, sigma, d.angle);
        p.plane_mut(ch).copy_from_slice(&f);
    }
    p.to_rgb_255()
}

/// numpy `arange(start, stop, step)` values: numpy fills with the *computed*
/// increment `(start + step) − start`, so `arange(1, 1.31, 0.03)[10]` is
/// 1.3000000000000003, not 1.3 — which decides a zoom's output size.
pub fn arange(start: f64, stop: f64, step: f64) -> Vec<f64> {
    let n = libm::ceil((stop - start) / step).max(0.0) as usize;
    let delta = (start + step) - start;
    (0..n).map(|i| start + i as f64 * delta).collect()
}

/// `imagecorruptions.clipped_zoom` of one plane: crop the centre `⌈n/z⌉`, zoom it
/// by `z` (linear); the result may be larger than the input (callers crop).
pub fn clipped_zoom(src: &[f64], w: usize, h: usize, z: f64) -> (Vec<f64>, usize, usize) {
    let ch = libm::ceil(h as f64 / z) as usize;
    let cw = libm::ceil(w as f64 / z) as usize;
    let (top, left) = ((h - ch) / 2, (w - cw) / 2);
    let crop: Vec<f64> = (0..ch)
        .flat_map(|y| {
            src[(top + y) * w + left..(top + y) * w + left + cw]
                .iter()
                .copied()
        })
        .collect();
    zoom_linear(&crop, cw, ch, z)
}

/// Mean of the image and its centre zooms (float32 in the reference).
pub fn zoom_blur(img: &RgbImage, s: usize) -> RgbImage {
    let (stop, step) = ZOOM[s];
    let zooms = arange(1.0, stop, step);
    let x = Planes::unit(img).map(|v| v as f32 as f64);
    let mut out = Planes::zeros(3, x.h, x.w);
    for &z in &zooms {
        for ch in 0..3 {
            let (layer, _, lw) = clipped_zoom(x.plane(ch), x.w, x.h, z);
            let lh = layer.len() / lw;
            let o = out.plane_mut(ch);
            for y in 0..x.h.min(lh) {
                for xx in 0..x.w.min(lw) {
                    o[y * x.w + xx] = (o[y * x.w + xx] as f32 + layer[y * lw + xx] as f32) as f64;
                }
            }
        }
    }
    let n = zooms.len() as f32 + 1.0;
    let mut r = x.clone();
    for (v, o) in r.data.iter_mut().zip(&out.data) {
        *v = ((*v as f32 + *o as f32) / n) as f64;
    }
    r.to_rgb_unit()
}

/// Gaussian kernel helper re-exported for the weather module.
pub fn kernel(sigma: f64) -> Vec<f64> {
    gaussian_kernel(sigma, 4.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arange_matches_numpy_lengths() {
        // numpy: (1.11 - 1) / 0.01 = 11.000000000000009, so 12 values.
        assert_eq!(arange(1.0, 1.11, 0.01).len(), 12);
        assert_eq!(arange(1.0, 1.16, 0.01).len(), 16);
        assert_eq!(arange(1.0, 1.21, 0.02).len(), 11);
        assert_eq!(arange(1.0, 1.26, 0.02).len(), 13);
        assert_eq!(arange(1.0, 1.31, 0.03).len(), 11);
    }

    #[test]
    fn disk_kernel_sums_to_one_and_is_round() {
        let (k, n) = disk(3.0, 0.1);
        assert_eq!(n, 17);
        assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(k[8 * 17 + 8] > 0.0 && k[8 * 17 + 8 + 4] < 1e-9);
        let (_, n) = disk(10.0, 0.5);
        assert_eq!(n, 21);
    }

    #[test]
    fn motion_kernel_is_one_sided_and_normalised() {
        let k = motion_kernel(10, 3.0);
        assert_eq!(k.len(), 21);
        assert!(k.windows(2).all(|w| w[0] > w[1]));
        assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}
