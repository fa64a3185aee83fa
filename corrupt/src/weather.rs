//! snow, frost, fog, spatter.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use image::RgbImage;

use crate::blur::{clipped_zoom, motion_plane};
use crate::color::CV_GRAY;
use crate::filter::{gaussian, Border};
use crate::resize::cv_cubic;
use crate::{Planes, Rng};

/// Snow (mean, std, zoom, threshold, blur radius, blur sigma, blend).
pub const SNOW: [(f64, f64, f64, f64, usize, f64, f64); 5] = [
    (0.1, 0.3, 3.0, 0.5, 10, 4.0, 0.8),
    (0.2, 0.3, 2.0, 0.5, 12, 4.0, 0.7),
    (0.55, 0.3, 4.0, 0.9, 12, 8.0, 0.7),
    (0.55, 0.3, 4.5, 0.85, 12, 8.0, 0.65),
    (0.55, 0.3, 2.5, 0.85, 12, 12.0, 0.55),
];
/// Frost (image weight, frost weight).
pub const FROST: [(f64, f64); 5] = [(1.0, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)];
/// Fog (plasma strength, wibble decay).
pub const FOG: [(f64, f64); 5] = [(1.5, 2.0), (2.0, 2.0), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4)];
/// Spatter (mean, std, sigma, threshold, intensity, mode 0 water / 1 mud).
pub const SPATTER: [(f64, f64, f64, f64, f64, u8); 5] = [
    (0.65, 0.3, 4.0, 0.69, 0.6, 0),
    (0.65, 0.3, 3.0, 0.68, 0.6, 0),
    (0.65, 0.3, 2.0, 0.68, 0.5, 0),
    (0.65, 0.3, 1.0, 0.65, 1.5, 1),
    (0.67, 0.4, 1.0, 0.65, 1.5, 1),
];

/// The six frost photographs of ImageNet-C / imagecorruptions (Apache 2.0, see
/// `assets/frost/LICENSE-imagecorruptions`); the reference picks among the first five.
pub const FROST_IMAGES: [&[u8]; 6] = [
    include_bytes!("../assets/frost/frost1.png"),
    include_bytes!("../assets/frost/frost2.png"),
    include_bytes!("../assets/frost/frost3.png"),
    include_bytes!("../assets/frost/frost4.jpg"),
    include_bytes!("../assets/frost/frost5.jpg"),
    include_bytes!("../assets/frost/frost6.jpg"),
];

/// Random draws of snow.
#[derive(Debug, Clone, PartialEq)]
pub struct SnowDraws {
    /// `h × w` N(mean, std) field.
    pub layer: Vec<f64>,
    /// Motion angle in degrees, uniform in [−135°, −45°).
    pub angle: f64,
}

impl SnowDraws {
    /// Draw for an image of this size.
    pub fn draw(img: &RgbImage, s: usize, rng: &mut Rng) -> Self {
        let (m, sd, ..) = SNOW[s];
        let layer = (0..img.width() as usize * img.height() as usize)
            .map(|_| rng.gauss(m, sd))
            .collect();
        SnowDraws {
            layer,
            angle: rng.uniform(-135.0, -45.0),
        }
    }
}

/// Snow: a zoomed, thresholded, motion-blurred noise layer added twice (once
/// rotated by 180°) to an image brightened towards its gray version.
pub fn snow(img: &RgbImage, s: usize, d: &SnowDraws) -> RgbImage {
    let (_, _, zoom, thr, radius, sigma, blend) = SNOW[s];
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (mut layer, lh, lw) = clipped_zoom(&d.layer, w, h, zoom);
    let _ = lh;
    for v in layer.iter_mut() {
        if *v < thr {
            *v = 0.0;
        }
        *v = v.clamp(0.0, 1.0);
    }
    let lh = layer.len() / lw;
    let blurred = motion_plane(&layer, lw, lh, radius, sigma, d.angle);
    // np.round(layer * 255).astype(np.uint8) / 255, cropped to the image.
    let snow: Vec<f64> = (0..h)
        .flat_map(|y| (0..w).map(move |x| (y, x)))
        .map(|(y, x)| {
            crate::resize::round_half_even(blurred[y * lw + x] * 255.0).clamp(0.0, 255.0) as u8
                as f64
                / 255.0
        })
        .collect();
    let x = Planes::unit(img).map(|v| v as f32 as f64);
    let n = w * h;
    let mut out = x.clone();
    let blend32 = blend as f32;
    for i in 0..n {
        let (r, g, b) = (
            x.data[i] as f32,
            x.data[n + i] as f32,
            x.data[2 * n + i] as f32,
        );
        let gray = r * CV_GRAY[0] as f32 + g * CV_GRAY[1] as f32 + b * CV_GRAY[2] as f32;
        let lifted = gray * 1.5 + 0.5;
        let flake = snow[i] + snow[n - 1 - i];
        for (ch, v) in [r, g, b].into_iter().enumerate() {
            let mixed = blend32 * v + (1.0 - blend32) * v.max(lifted);
            out.data[ch * n + i] = mixed as f64 + flake;
        }
    }
    out.to_rgb_unit()
}

/// Random draws of frost: which photograph (0–4) and where to crop it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrostDraws {
    /// Photograph index, 0–4.
    pub index: usize,
    /// Top row of the crop.
    pub top: usize,
    /// Left column of the crop.
    pub left: usize,
}

impl FrostDraws {
    /// Draw for an image of this size.
    pub fn draw(img: &RgbImage, rng: &mut Rng) -> Self {
        let index = rng.int(0, 5) as usize;
        let f = frost_layer(index, img.width() as usize, img.height() as usize);
        let top = rng.int(0, (f.h - img.height() as usize).max(1) as i64) as usize;
        let left = rng.int(0, (f.w - img.width() as usize).max(1) as i64) as usize;
        FrostDraws { index, top, left }
    }
}

/// A frost photograph rescaled for one image size (interleaved RGB8).
#[derive(Debug)]
pub struct FrostLayer {
    /// Width.
    pub w: usize,
    /// Height.
    pub h: usize,
    /// RGB8 pixels.
    pub rgb: Vec<u8>,
}

/// The frost photograph `index` scaled as the reference does for a `w × h`
/// image: up to cover the image if smaller, then ×1.1 always (OpenCV cubic).
/// Cached per (index, size): the reference rescales on every call.
pub fn frost_layer(index: usize, w: usize, h: usize) -> Arc<FrostLayer> {
    type Cache = Mutex<HashMap<(usize, usize, usize), Arc<FrostLayer>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(f) = cache
        .lock()
        .ok()
        .and_then(|c| c.get(&(index, w, h)).cloned())
    {
        return f;
    }
    let src = image::load_from_memory(FROST_IMAGES[index])
        .map(|i| i.to_rgb8())
        .unwrap_or_else(|_| RgbImage::new(1, 1));
    let (fw, fh) = (src.width() as usize, src.height() as usize);
    let mut scale = match (fh >= h, fw >= w) {
        (true, true) => 1.0,
        (false, true) => h as f64 / fh as f64,
        (true, false) => w as f64 / fw as f64,
        (false, false) => (h as f64 / fh as f64).max(w as f64 / fw as f64),
    };
    scale *= 1.1;
    let (nw, nh) = (
        libm::ceil(fw as f64 * scale) as usize,
        libm::ceil(fh as f64 * scale) as usize,
    );
    let rgb = cv_cubic(src.as_raw(), fw, fh, 3, nw, nh);
    let f = Arc::new(FrostLayer { w: nw, h: nh, rgb });
    if let Ok(mut c) = cache.lock() {
        c.insert((index, w, h), f.clone());
    }
    f
}

/// `clip(a·x + b·frost, 0, 255)` on 0–255 values.
pub fn frost(img: &RgbImage, s: usize, d: FrostDraws) -> RgbImage {
    let (a, b) = FROST[s];
    let (w, h) = (img.width() as usize, img.height() as usize);
    let f = frost_layer(d.index, w, h);
    let mut out = Planes::from_rgb(img, 1.0);
    let n = w * h;
    for y in 0..h {
        for x in 0..w {
            let fi = ((d.top + y).min(f.h - 1) * f.w + (d.left + x).min(f.w - 1)) * 3;
            for ch in 0..3 {
                let v = &mut out.data[ch * n + y * w + x];
                *v = a * *v + b * f.rgb[fi + ch] as f64;
            }
        }
    }
    out.to_rgb_255()
}

/// Random draws of fog: the plasma fractal.
#[derive(Debug, Clone, PartialEq)]
pub struct FogDraws {
    /// Side of the square map (a power of two ≥ the image's largest side).
    pub size: usize,
    /// `size × size` values in [0, 1].
    pub plasma: Vec<f64>,
}

impl FogDraws {
    /// Draw for an image of this size.
    pub fn draw(img: &RgbImage, s: usize, rng: &mut Rng) -> Self {
        let side = (img.width().max(img.height()).max(3) as usize).next_power_of_two();
        FogDraws {
            size: side,
            plasma: plasma_fractal(side, FOG[s].1, rng),
        }
    }
}

/// Diamond-square plasma fractal, the algorithm of `imagecorruptions.plasma_fractal`
/// (same order of fills and draws), normalised to [0, 1].
pub fn plasma_fractal(size: usize, decay: f64, rng: &mut Rng) -> Vec<f64> {
    let mut m = vec![0.0f64; size * size];
    let mut step = size;
    let mut wibble = 100.0f64;
    let at = |i: usize, j: usize| i * size + j;
    while step >= 2 {
        let n = size / step;
        let half = step / 2;
        // fillsquares
        let corner = |m: &Vec<f64>, i: usize, j: usize| m[at((i % n) * step, (j % n) * step)];
        let mut sq = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                let a = corner(&m, i, j) + corner(&m, i + 1, j);
                let b = corner(&m, i, j + 1) + corner(&m, i + 1, j + 1);
                sq[i * n + j] = a + b;
            }
        }
        for i in 0..n {
            for j in 0..n {
                m[at(i * step + half, j * step + half)] =
                    sq[i * n + j] / 4.0 + wibble * rng.uniform(-wibble, wibble);
            }
        }
        // filldiamonds
        let dr =
            |m: &Vec<f64>, i: usize, j: usize| m[at((i % n) * step + half, (j % n) * step + half)];
        let ul = |m: &Vec<f64>, i: usize, j: usize| m[at((i % n) * step, (j % n) * step)];
        let mut lt = vec![0.0; n * n];
        let mut tt = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                lt[i * n + j] =
                    (dr(&m, i, j) + dr(&m, i + n - 1, j)) + (ul(&m, i, j) + ul(&m, i, j + 1));
                tt[i * n + j] =
                    (dr(&m, i, j) + dr(&m, i, j + n - 1)) + (ul(&m, i, j) + ul(&m, i + 1, j));
            }
        }
        for i in 0..n {
            for j in 0..n {
                m[at(i * step, j * step + half)] =
                    lt[i * n + j] / 4.0 + wibble * rng.uniform(-wibble, wibble);
            }
        }
        for i in 0..n {
            for j in 0..n {
                m[at(i * step + half, j * step)] =
                    tt[i * n + j] / 4.0 + wibble * rng.uniform(-wibble, wibble);
            }
        }
        step /= 2;
        wibble /= decay;
    }
    let lo = m.iter().copied().fold(f64::INFINITY, f64::min);
    m.iter_mut().for_each(|v| *v -= lo);
    let hi = m.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    m.iter_mut().for_each(|v| *v /= hi);
    m
}

/// `clip((x + c·plasma) · max / (max + c))`.
pub fn fog(img: &RgbImage, s: usize, d: &FogDraws) -> RgbImage {
    let (c, _) = FOG[s];
    let mut x = Planes::unit(img);
    let max_val = x.data.iter().copied().fold(0.0f64, f64::max);
    let n = x.plane_len();
    for ch in 0..3 {
        for i in 0..n {
            let (y, xx) = (i / x.w, i % x.w);
            x.data[ch * n + i] += c * d.plasma[y * d.size + xx];
        }
    }
    x.map(|v| v * max_val / (max_val + c)).to_rgb_unit()
}

/// Random draws of spatter: the liquid layer.
#[derive(Debug, Clone, PartialEq)]
pub struct SpatterDraws {
    /// `h × w` N(mean, std) field.
    pub liquid: Vec<f64>,
}

impl SpatterDraws {
    /// Draw for an image of this size.
    pub fn draw(img: &RgbImage, s: usize, rng: &mut Rng) -> Self {
        let (m, sd, ..) = SPATTER[s];
        SpatterDraws {
            liquid: (0..img.width() as usize * img.height() as usize)
                .map(|_| rng.gauss(m, sd))
                .collect(),
        }
    }
}

/// Spatter: water (severities 1–3: edges of the smoothed liquid layer, a
/// distance transform and histogram equalisation shape pale-turquoise drops) or
/// mud (4–5: brown blobs). The OpenCV steps (Canny, 5×5 chamfer distance,
/// equalizeHist, 8-bit filters) are reimplemented in [`spatter_ops`].
pub fn spatter(img: &RgbImage, s: usize, d: &SpatterDraws) -> RgbImage {
    let (_, _, sigma, thr, intensity, mode) = SPATTER[s];
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut liquid = gaussian(&d.liquid, w, h, [sigma, sigma], Border::Nearest, 4.0);
    liquid.iter_mut().for_each(|v| {
        if *v < thr {
            *v = 0.0
        }
    });
    let x = Planes::unit(img).map(|v| v as f32 as f64);
    let n = w * h;
    let mut out = x.clone();
    if mode == 0 {
        let l8: Vec<u8> = liquid
            .iter()
            .map(|&v| (v * 255.0).clamp(0.0, 255.0) as u8)
            .collect();
        let edges = spatter_ops::canny(&l8, w, h, 50, 150);
        let inv: Vec<u8> = edges.iter().map(|&e| 255 - e).collect();
        let dist: Vec<f64> = spatter_ops::distance_l2_5x5(&inv, w, h)
            .into_iter()
            .map(|v| v.min(20.0))
            .collect();
        let dist8: Vec<u8> = crate::filter::box_blur(&dist, w, h, 3)
            .into_iter()
            .map(|v| v as u8)
            .collect();
        let eq = spatter_ops::equalize_hist(&dist8);
        let emb =
            spatter_ops::filter_u8(&eq, w, h, &[-2.0, -1.0, 0.0, -1.0, 1.0, 1.0, 0.0, 1.0, 2.0]);
        let emb = spatter_ops::box_blur_u8(&emb, w, h);
        let m: Vec<f64> = liquid
            .iter()
            .zip(&emb)
            .map(|(&l, &e)| l * e as f64)
            .collect();
        let mmax = m.iter().copied().fold(0.0f64, f64::max);
        let color = [175.0 / 255.0, 238.0 / 255.0, 238.0 / 255.0];
        for i in 0..n {
            let mi = if mmax > 0.0 {
                m[i] / mmax * intensity
            } else {
                0.0
            };
            for ch in 0..3 {
                out.data[ch * n + i] = (x.data[ch * n + i] + mi * color[ch]).clamp(0.0, 1.0);
            }
        }
    } else {
        let mask: Vec<f64> = liquid
            .iter()
            .map(|&v| if v > thr { 1.0 } else { 0.0 })
            .collect();
        let mut m = gaussian(&mask, w, h, [intensity, intensity], Border::Nearest, 4.0);
        m.iter_mut().for_each(|v| {
            if *v < 0.8 {
                *v = 0.0
            }
        });
        let color = [63.0 / 255.0, 42.0 / 255.0, 20.0 / 255.0];
        for i in 0..n {
            for ch in 0..3 {
                out.data[ch * n + i] = x.data[ch * n + i] * (1.0 - m[i]) + color[ch] * m[i];
            }
        }
    }
    out.to_rgb_unit()
}

/// OpenCV operations used by spatter, on 8-bit planes.
pub mod spatter_ops {
    /// Canny edges (3×3 Sobel with replicated borders, L1 magnitude, OpenCV's
    /// fixed-point direction test, 8-connected hysteresis); 255 on edges.
    pub fn canny(src: &[u8], w: usize, h: usize, low: i32, high: i32) -> Vec<u8> {
        let px = |y: isize, x: isize| {
            src[(y.clamp(0, h as isize - 1) as usize) * w + x.clamp(0, w as isize - 1) as usize]
                as i32
        };
        let mut dx = vec![0i32; w * h];
        let mut dy = vec![0i32; w * h];
        let mut mag = vec![0i32; w * h];
        for y in 0..h as isize {
            for x in 0..w as isize {
                let gx = (px(y - 1, x + 1) + 2 * px(y, x + 1) + px(y + 1, x + 1))
                    - (px(y - 1, x - 1) + 2 * px(y, x - 1) + px(y + 1, x - 1));
                let gy = (px(y + 1, x - 1) + 2 * px(y + 1, x) + px(y + 1, x + 1))
                    - (px(y - 1, x - 1) + 2 * px(y - 1, x) + px(y - 1, x + 1));
                let i = y as usize * w + x as usize;
                dx[i] = gx;
                dy[i] = gy;
                mag[i] = gx.abs() + gy.abs();
            }
        }
        const TG22: i64 = 13573; // tan(22.5°) · 2^15
        let m_at = |y: isize, x: isize| {
            if y < 0 || x < 0 || y >= h as isize || x >= w as isize {
                0
            } else {
                mag[y as usize * w + x as usize]
            }
        };
        // 0: not an edge, 1: weak, 2: strong
        let mut state = vec![0u8; w * h];
        let mut stack = Vec::new();
        for y in 0..h as isize {
            for x in 0..w as isize {
                let i = y as usize * w + x as usize;
                let m = mag[i];
                if m <= low {
                    continue;
                }
                let (xs, ys) = (dx[i].abs() as i64, (dy[i].abs() as i64) << 15);
                let tg22x = xs * TG22;
                let is_max = if ys < tg22x {
                    m > m_at(y, x - 1) && m >= m_at(y, x + 1)
                } else {
                    let tg67x = tg22x + (xs << 16);
                    if ys > tg67x {
                        m > m_at(y - 1, x) && m >= m_at(y + 1, x)
                    } else {
                        let s: isize = if (dx[i] ^ dy[i]) < 0 { -1 } else { 1 };
                        m > m_at(y - 1, x - s) && m > m_at(y + 1, x + s)
                    }
                };
                if is_max {
                    if m > high {
                        state[i] = 2;
                        stack.push(i);
                    } else {
                        state[i] = 1;
                    }
                }
            }
        }
        while let Some(i) = stack.pop() {
            let (y, x) = ((i / w) as isize, (i % w) as isize);
            for (dy_, dx_) in [
                (-1, -1),
                (-1, 0),
                (-1, 1),
                (0, -1),
                (0, 1),
                (1, -1),
                (1, 0),
                (1, 1),
            ] {
                let (ny, nx) = (y + dy_, x + dx_);
                if ny < 0 || nx < 0 || ny >= h as isize || nx >= w as isize {
                    continue;
                }
                let j = ny as usize * w + nx as usize;
                if state[j] == 1 {
                    state[j] = 2;
                    stack.push(j);
                }
            }
        }
        state
            .into_iter()
            .map(|s| if s == 2 { 255 } else { 0 })
            .collect()
    }

    /// OpenCV `distanceTransform(DIST_L2, 5)`: two-pass 5×5 chamfer distance to
    /// the nearest zero pixel (weights 1, 1.4, 2.1969).
    pub fn distance_l2_5x5(src: &[u8], w: usize, h: usize) -> Vec<f64> {
        const A: f64 = 1.0;
        const B: f64 = 1.4;
        const C: f64 = 2.1969;
        let inf = 1e9;
        let mut d: Vec<f64> = src
            .iter()
            .map(|&v| if v == 0 { 0.0 } else { inf })
            .collect();
        let fwd = [
            (-1, 0, A),
            (0, -1, A),
            (-1, -1, B),
            (-1, 1, B),
            (-2, -1, C),
            (-2, 1, C),
            (-1, -2, C),
            (-1, 2, C),
        ];
        let get = |d: &Vec<f64>, y: isize, x: isize| {
            if y < 0 || x < 0 || y >= h as isize || x >= w as isize {
                inf
            } else {
                d[y as usize * w + x as usize]
            }
        };
        for y in 0..h as isize {
            for x in 0..w as isize {
                let i = y as usize * w + x as usize;
                let mut v = d[i];
                for &(oy, ox, c) in &fwd {
                    v = v.min(get(&d, y + oy, x + ox) + c);
                }
                d[i] = v;
            }
        }
        for y in (0..h as isize).rev() {
            for x in (0..w as isize).rev() {
                let i = y as usize * w + x as usize;
                let mut v = d[i];
                for &(oy, ox, c) in &fwd {
                    v = v.min(get(&d, y - oy, x - ox) + c);
                }
                d[i] = v;
            }
        }
        d
    }

    /// OpenCV `equalizeHist`.
    pub fn equalize_hist(src: &[u8]) -> Vec<u8> {
        let mut hist = [0usize; 256];
        src.iter().for_each(|&v| hist[v as usize] += 1);
        let total = src.len();
        let Some(first) = hist.iter().position(|&c| c > 0) else {
            return src.to_vec();
        };
        if hist[first] == total {
            return vec![first as u8; total];
        }
        let scale = 255.0 / (total - hist[first]) as f64;
        let mut lut = [0u8; 256];
        let mut sum = 0usize;
        for j in first + 1..256 {
            sum += hist[j];
            lut[j] = libm::rint(sum as f64 * scale).clamp(0.0, 255.0) as u8;
        }
        src.iter().map(|&v| lut[v as usize]).collect()
    }

    /// OpenCV `filter2D(src, CV_8U, k3x3)`: REFLECT_101 border, rounded and saturated.
    pub fn filter_u8(src: &[u8], w: usize, h: usize, k: &[f64; 9]) -> Vec<u8> {
        let f: Vec<f64> = src.iter().map(|&v| v as f64).collect();
        crate::filter::filter2d(&f, w, h, k, 3, 3)
            .into_iter()
            .map(|v| libm::rint(v).clamp(0.0, 255.0) as u8)
            .collect()
    }

    /// OpenCV `blur(src, (3, 3))` on 8 bits (rounded).
    pub fn box_blur_u8(src: &[u8], w: usize, h: usize) -> Vec<u8> {
        let f: Vec<f64> = src.iter().map(|&v| v as f64).collect();
        crate::filter::box_blur(&f, w, h, 3)
            .into_iter()
            .map(|v| libm::rint(v).clamp(0.0, 255.0) as u8)
            .collect()
    }
}
