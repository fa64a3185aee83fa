//! brightness, contrast, saturate, pixelate, jpeg_compression, elastic_transform.

use image::RgbImage;

use crate::color::{hsv2rgb, rgb2hsv};
use crate::filter::{gaussian, Border};
use crate::resize::{pil_box, pil_nearest};
use crate::{Planes, Rng};

/// Added to HSV value.
pub const BRIGHTNESS: [f64; 5] = [0.1, 0.2, 0.3, 0.4, 0.5];
/// Scale about the per-channel mean.
pub const CONTRAST: [f64; 5] = [0.4, 0.3, 0.2, 0.1, 0.05];
/// Saturation `S·a + b`.
pub const SATURATE: [(f64, f64); 5] = [(0.3, 0.0), (0.1, 0.0), (2.0, 0.0), (5.0, 0.1), (20.0, 0.2)];
/// Pixelate down-scale factor.
pub const PIXELATE: [f64; 5] = [0.6, 0.5, 0.4, 0.3, 0.25];
/// JPEG quality.
pub const JPEG: [u8; 5] = [25, 18, 15, 10, 7];
/// Elastic transform alpha factor (alpha = 250 × factor; sigma = 0.01 × size).
pub const ELASTIC: [f64; 5] = [0.05, 0.065, 0.085, 0.1, 0.12];

fn hsv_map(img: &RgbImage, f: impl Fn(f64, f64, f64) -> (f64, f64, f64)) -> RgbImage {
    let mut p = Planes::unit(img);
    let n = p.plane_len();
    for i in 0..n {
        let (h, s, v) = rgb2hsv(p.data[i], p.data[n + i], p.data[2 * n + i]);
        let (h, s, v) = f(h, s, v);
        let (r, g, b) = hsv2rgb(h, s, v);
        p.data[i] = r;
        p.data[n + i] = g;
        p.data[2 * n + i] = b;
    }
    p.to_rgb_unit()
}

/// HSV `V + c`, clipped.
pub fn brightness(img: &RgbImage, s: usize) -> RgbImage {
    let c = BRIGHTNESS[s];
    hsv_map(img, |h, sa, v| (h, sa, (v + c).clamp(0.0, 1.0)))
}

/// HSV `S·a + b`, clipped.
pub fn saturate(img: &RgbImage, s: usize) -> RgbImage {
    let (a, b) = SATURATE[s];
    hsv_map(img, |h, sa, v| (h, (sa * a + b).clamp(0.0, 1.0), v))
}

/// `(x − mean_c)·c + mean_c` with the mean of each channel.
pub fn contrast(img: &RgbImage, s: usize) -> RgbImage {
    let c = CONTRAST[s];
    let mut p = Planes::unit(img);
    for ch in 0..3 {
        let plane = p.plane_mut(ch);
        let mean = plane.iter().sum::<f64>() / plane.len() as f64;
        plane.iter_mut().for_each(|v| *v = (*v - mean) * c + mean);
    }
    p.to_rgb_unit()
}

/// Pillow `BOX` down to `⌊size·c⌋`, `NEAREST` back up.
pub fn pixelate(img: &RgbImage, s: usize) -> RgbImage {
    let c = PIXELATE[s];
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (sw, sh) = (
        ((w as f64 * c) as usize).max(1),
        ((h as f64 * c) as usize).max(1),
    );
    let small = pil_box(img.as_raw(), w, h, 3, sw, sh);
    let back = pil_nearest(&small, sw, sh, 3, w, h);
    RgbImage::from_raw(w as u32, h as u32, back).unwrap_or_else(|| img.clone())
}

/// Encode as baseline JPEG at the severity's quality (4:2:0 chroma subsampling,
/// IJG tables, as Pillow does) and decode again.
pub fn jpeg_compression(img: &RgbImage, s: usize) -> RgbImage {
    let mut buf = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut buf, JPEG[s]);
    enc.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
    let ok = enc
        .encode(
            img.as_raw(),
            img.width() as u16,
            img.height() as u16,
            jpeg_encoder::ColorType::Rgb,
        )
        .is_ok();
    if !ok {
        return img.clone();
    }
    image::load_from_memory_with_format(&buf, image::ImageFormat::Jpeg)
        .map(|i| i.to_rgb8())
        .unwrap_or_else(|_| img.clone())
}

/// Random draws of the elastic transform: two `h × w` uniform fields in
/// `[−0.005·h, 0.005·h)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ElasticDraws {
    /// Field smoothed into the horizontal displacement.
    pub dx: Vec<f64>,
    /// Field smoothed into the vertical displacement.
    pub dy: Vec<f64>,
}

impl ElasticDraws {
    /// Draw for an image of this size.
    pub fn draw(img: &RgbImage, _s: usize, rng: &mut Rng) -> Self {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let m = h as f64 * 0.005;
        let dx = (0..w * h).map(|_| rng.uniform(-m, m)).collect();
        let dy = (0..w * h).map(|_| rng.uniform(-m, m)).collect();
        ElasticDraws { dx, dy }
    }
}

/// imagecorruptions' elastic transform (no affine step, unlike
/// `make_imagenet_c.py`): displacement fields smoothed with a Gaussian
/// (`σ = 0.01·size`, reflect, truncate 3), scaled by `alpha = 250·factor`, and
/// bilinear resampling with reflected borders.
pub fn elastic_transform(img: &RgbImage, s: usize, d: &ElasticDraws) -> RgbImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let alpha = 250.0 * ELASTIC[s];
    let sigma = [h as f64 * 0.01, w as f64 * 0.01];
    let dx: Vec<f32> = gaussian(&d.dx, w, h, sigma, Border::Reflect, 3.0)
        .into_iter()
        .map(|v| (v * alpha) as f32)
        .collect();
    let dy: Vec<f32> = gaussian(&d.dy, w, h, sigma, Border::Reflect, 3.0)
        .into_iter()
        .map(|v| (v * alpha) as f32)
        .collect();
    let x = Planes::unit(img).map(|v| v as f32 as f64);
    let mut out = x.clone();
    let n = w * h;
    let refl = |c: f64, len: usize| -> f64 {
        // scipy map_coordinates mode='reflect' (half-sample symmetric) for order 1.
        let l = len as f64;
        if len == 1 {
            return 0.0;
        }
        let p = 2.0 * l;
        let mut m = c.rem_euclid(p);
        if m >= l {
            m = p - 1.0 - m;
        }
        m.clamp(0.0, l - 1.0)
    };
    for y in 0..h {
        for xx in 0..w {
            let i = y * w + xx;
            let cy = refl(y as f64 + dy[i] as f64, h);
            let cx = refl(xx as f64 + dx[i] as f64, w);
            let (y0, x0) = (libm::floor(cy) as usize, libm::floor(cx) as usize);
            let (y1, x1) = ((y0 + 1).min(h - 1), (x0 + 1).min(w - 1));
            let (fy, fx) = (cy - y0 as f64, cx - x0 as f64);
            for ch in 0..3 {
                let p = x.plane(ch);
                let a = p[y0 * w + x0] * (1.0 - fx) + p[y0 * w + x1] * fx;
                let b = p[y1 * w + x0] * (1.0 - fx) + p[y1 * w + x1] * fx;
                out.data[ch * n + i] = a * (1.0 - fy) + b * fy;
            }
        }
    }
    out.to_rgb_unit()
}
