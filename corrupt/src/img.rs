//! Planar (CHW) float images, and the conversions in and out of 8-bit RGB with
//! numpy's semantics (`x / 255.` in f64 in; `np.uint8(clip(x)·255)`, which
//! truncates, out).

use image::{Rgb, RgbImage};

/// A planar float image: `c` planes of `h × w`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Planes {
    /// Width.
    pub w: usize,
    /// Height.
    pub h: usize,
    /// Channels.
    pub c: usize,
    /// `c · h · w` values.
    pub data: Vec<f64>,
}

impl Planes {
    /// Zeros.
    pub fn zeros(c: usize, h: usize, w: usize) -> Self {
        Planes {
            w,
            h,
            c,
            data: vec![0.0; c * h * w],
        }
    }

    /// From RGB8, each value divided by `div` (255 for [0, 1], as numpy's
    /// `x / 255.`, which is not always `x · (1/255)`).
    pub fn from_rgb(img: &RgbImage, div: f64) -> Self {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let mut p = Planes::zeros(3, h, w);
        let n = w * h;
        for (i, px) in img.pixels().enumerate() {
            for ch in 0..3 {
                p.data[ch * n + i] = px.0[ch] as f64 / div;
            }
        }
        p
    }

    /// From RGB8 as values / 255 (numpy's `np.array(x) / 255.`).
    pub fn unit(img: &RgbImage) -> Self {
        Self::from_rgb(img, 255.0)
    }

    /// Number of pixels per plane.
    pub fn plane_len(&self) -> usize {
        self.w * self.h
    }

    /// One plane.
    pub fn plane(&self, ch: usize) -> &[f64] {
        let n = self.plane_len();
        &self.data[ch * n..(ch + 1) * n]
    }

    /// One plane, mutable.
    pub fn plane_mut(&mut self, ch: usize) -> &mut [f64] {
        let n = self.plane_len();
        &mut self.data[ch * n..(ch + 1) * n]
    }

    /// Value at channel, row, column.
    pub fn at(&self, ch: usize, y: usize, x: usize) -> f64 {
        self.data[(ch * self.h + y) * self.w + x]
    }

    /// Apply `f` to every value.
    pub fn map(mut self, mut f: impl FnMut(f64) -> f64) -> Self {
        self.data.iter_mut().for_each(|v| *v = f(*v));
        self
    }

    /// To RGB8 as numpy's `np.uint8(np.clip(x, 0, 1) * 255)`: clip, scale, truncate.
    pub fn to_rgb_unit(&self) -> RgbImage {
        self.to_rgb(|v| v.clamp(0.0, 1.0) * 255.0)
    }

    /// To RGB8 as `np.uint8(np.clip(x, 0, 255))` for values already in 0–255.
    pub fn to_rgb_255(&self) -> RgbImage {
        self.to_rgb(|v| v.clamp(0.0, 255.0))
    }

    /// To RGB8 through `f` (which must land in 0–255) and truncation.
    pub fn to_rgb(&self, f: impl Fn(f64) -> f64) -> RgbImage {
        let n = self.plane_len();
        let g = |ch: usize, i: usize| -> u8 {
            let v = f(self.data[(ch.min(self.c - 1)) * n + i]);
            v as u8 // saturating float → int cast truncates toward zero, like numpy for 0 ≤ v < 256
        };
        RgbImage::from_fn(self.w as u32, self.h as u32, |x, y| {
            let i = y as usize * self.w + x as usize;
            Rgb([g(0, i), g(1, i), g(2, i)])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_round_trip_matches_numpy_truncation() {
        // numpy: np.uint8(np.clip(np.arange(256) / 255., 0, 1) * 255) == arange(256).
        let img = RgbImage::from_fn(256, 1, |x, _| Rgb([x as u8, 0, 255]));
        let back = Planes::unit(&img).to_rgb_unit();
        for x in 0..256u32 {
            assert_eq!(back.get_pixel(x, 0).0[0], x as u8);
        }
    }
}
