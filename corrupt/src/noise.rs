//! gaussian_noise, shot_noise, impulse_noise, speckle_noise: per-element noise on
//! [0, 1] pixels, clipped, as in `imagecorruptions`. Random fields come from
//! [`Rng`](crate::Rng), so they match the reference in distribution, not draw for draw.

use image::RgbImage;

use crate::{Planes, Rng};

/// Standard deviation per severity.
pub const GAUSSIAN: [f64; 5] = [0.08, 0.12, 0.18, 0.26, 0.38];
/// Photon-count scale `c` of `Poisson(x·c)/c`.
pub const SHOT: [f64; 5] = [60.0, 25.0, 12.0, 5.0, 3.0];
/// Salt-and-pepper amount.
pub const IMPULSE: [f64; 5] = [0.03, 0.06, 0.09, 0.17, 0.27];
/// Speckle standard deviation.
pub const SPECKLE: [f64; 5] = [0.15, 0.2, 0.35, 0.45, 0.6];

/// `clip(x + N(0, c))`.
pub fn gaussian_noise(img: &RgbImage, s: usize, rng: &mut Rng) -> RgbImage {
    let c = GAUSSIAN[s];
    Planes::unit(img)
        .map(|x| x + c * rng.normal())
        .to_rgb_unit()
}

/// `clip(Poisson(x·c) / c)`.
pub fn shot_noise(img: &RgbImage, s: usize, rng: &mut Rng) -> RgbImage {
    let c = SHOT[s];
    Planes::unit(img)
        .map(|x| rng.poisson(x * c) / c)
        .to_rgb_unit()
}

/// skimage `random_noise(mode="s&p")`: each value independently (per channel)
/// becomes 1 or 0 with probability `amount`, salt and pepper equally likely.
pub fn impulse_noise(img: &RgbImage, s: usize, rng: &mut Rng) -> RgbImage {
    let amount = IMPULSE[s];
    Planes::unit(img)
        .map(|x| {
            if rng.uniform01() < amount {
                if rng.uniform01() < 0.5 {
                    1.0
                } else {
                    0.0
                }
            } else {
                x
            }
        })
        .to_rgb_unit()
}

/// `clip(x + x·N(0, c))`.
pub fn speckle_noise(img: &RgbImage, s: usize, rng: &mut Rng) -> RgbImage {
    let c = SPECKLE[s];
    Planes::unit(img)
        .map(|x| x + x * c * rng.normal())
        .to_rgb_unit()
}
