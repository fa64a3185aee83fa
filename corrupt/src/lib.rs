//! # nyquist-corrupt
//!
//! The ImageNet-C corruptions of Hendrycks & Dietterich (2019) — the 15
//! benchmark corruptions and the 4 extras, severities 1–5 — as pure
//! image → image functions, and the CE / mCE scoring of the paper.
//!
//! Algorithms and parameters follow the `imagecorruptions` package (1.1.2, Apache
//! 2.0), which reimplements `make_imagenet_c.py` for any image size; where the two
//! differ, `imagecorruptions` is followed and the difference is documented on the
//! corruption (see also `corrupt/README.md`).
//!
//! Determinism: every corruption draws its randomness from a ChaCha8 stream seeded
//! with `(seed, corruption, severity)` and uses only IEEE-exact arithmetic and
//! [`libm`] for transcendental functions, so the same seed gives byte-identical
//! output on every platform and thread count.
//!
//! Data flow: `RgbImage (model input size) → corrupt → RgbImage → normalisation → model`.
//!
//! ```
//! use nyquist_corrupt::{corrupt, Corruption};
//!
//! let img = image::RgbImage::from_fn(32, 32, |x, y| image::Rgb([(8 * x) as u8, (8 * y) as u8, 128]));
//! let fog = corrupt(&img, Corruption::Fog, 3, 7).unwrap();
//! assert_eq!(fog.dimensions(), (32, 32));
//! assert_ne!(fog, img);
//! // Deterministic in the seed.
//! assert_eq!(fog, corrupt(&img, Corruption::Fog, 3, 7).unwrap());
//! // Severities are 1–5.
//! assert!(corrupt(&img, Corruption::Fog, 6, 7).is_err());
//! ```

// Library code returns errors; tests may unwrap.
#![warn(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]
// Pixel loops index several planes by one position; iterator zips would hide that.
#![allow(clippy::needless_range_loop)]

pub mod blur;
pub mod color;
pub mod digital;
pub mod filter;
pub mod img;
pub mod noise;
pub mod resize;
pub mod rng;
pub mod score;
pub mod weather;

use image::RgbImage;
use rayon::prelude::*;

pub use img::Planes;
pub use rng::Rng;

/// A corruption of the ImageNet-C suite.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Corruption {
    /// Additive N(0, σ²) noise.
    GaussianNoise,
    /// Poisson photon noise.
    ShotNoise,
    /// Salt-and-pepper noise.
    ImpulseNoise,
    /// Disk (defocus) blur.
    DefocusBlur,
    /// Gaussian blur with local pixel shuffling.
    GlassBlur,
    /// Linear motion blur at a random angle.
    MotionBlur,
    /// Mean of centre zooms.
    ZoomBlur,
    /// Motion-blurred snow flakes.
    Snow,
    /// Frost photographs blended in.
    Frost,
    /// Plasma-fractal fog.
    Fog,
    /// HSV value shift.
    Brightness,
    /// Scale about the mean.
    Contrast,
    /// Smooth random displacement field.
    ElasticTransform,
    /// Box downsampling, nearest upsampling.
    Pixelate,
    /// JPEG round trip at low quality.
    JpegCompression,
    /// Multiplicative Gaussian noise (extra).
    SpeckleNoise,
    /// Gaussian blur (extra).
    GaussianBlur,
    /// Water / mud splashes (extra).
    Spatter,
    /// HSV saturation change (extra).
    Saturate,
}

use Corruption::*;

impl Corruption {
    /// The 15 benchmark corruptions, in the paper's order.
    pub const BENCHMARK: [Corruption; 15] = [
        GaussianNoise,
        ShotNoise,
        ImpulseNoise,
        DefocusBlur,
        GlassBlur,
        MotionBlur,
        ZoomBlur,
        Snow,
        Frost,
        Fog,
        Brightness,
        Contrast,
        ElasticTransform,
        Pixelate,
        JpegCompression,
    ];
    /// The 4 extra (validation) corruptions.
    pub const EXTRAS: [Corruption; 4] = [SpeckleNoise, GaussianBlur, Spatter, Saturate];

    /// All 19, benchmark first.
    pub fn all() -> impl Iterator<Item = Corruption> {
        Self::BENCHMARK.into_iter().chain(Self::EXTRAS)
    }

    /// The ImageNet-C name (`gaussian_noise`, …).
    pub fn name(self) -> &'static str {
        match self {
            GaussianNoise => "gaussian_noise",
            ShotNoise => "shot_noise",
            ImpulseNoise => "impulse_noise",
            DefocusBlur => "defocus_blur",
            GlassBlur => "glass_blur",
            MotionBlur => "motion_blur",
            ZoomBlur => "zoom_blur",
            Snow => "snow",
            Frost => "frost",
            Fog => "fog",
            Brightness => "brightness",
            Contrast => "contrast",
            ElasticTransform => "elastic_transform",
            Pixelate => "pixelate",
            JpegCompression => "jpeg_compression",
            SpeckleNoise => "speckle_noise",
            GaussianBlur => "gaussian_blur",
            Spatter => "spatter",
            Saturate => "saturate",
        }
    }

    /// Parse an ImageNet-C name.
    pub fn from_name(s: &str) -> Option<Corruption> {
        Self::all().find(|c| c.name() == s)
    }

    /// True for the 15 that enter mCE.
    pub fn is_benchmark(self) -> bool {
        Self::BENCHMARK.contains(&self)
    }

    /// Stable index (0–18) used to derive per-corruption seeds.
    pub fn index(self) -> u64 {
        Self::all().position(|c| c == self).unwrap_or(0) as u64
    }
}

impl std::fmt::Display for Corruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Corruption {
    type Err = CorruptError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Corruption::from_name(s).ok_or_else(|| CorruptError::UnknownCorruption(s.to_string()))
    }
}

/// Errors of this crate.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CorruptError {
    /// Not one of the 19 names.
    #[error("unknown corruption `{0}`; expected one of: {names}", names = Corruption::all().map(|c| c.name()).collect::<Vec<_>>().join(", "))]
    UnknownCorruption(String),
    /// Severity outside 1–5.
    #[error("severity {0} is outside 1–5")]
    Severity(u8),
    /// Image too small to corrupt.
    #[error("image is {0}x{1}; corruptions need at least 8x8 pixels")]
    TooSmall(u32, u32),
}

/// The per-call seed for one image, corruption and severity (SplitMix64 mixing,
/// so nearby seeds give unrelated streams).
pub fn derive_seed(seed: u64, c: Corruption, severity: u8) -> u64 {
    rng::splitmix64(rng::splitmix64(
        seed ^ (c.index() << 40) ^ ((severity as u64) << 32),
    ))
}

/// Corrupt one image. Same inputs ⇒ byte-identical output.
pub fn corrupt(
    img: &RgbImage,
    c: Corruption,
    severity: u8,
    seed: u64,
) -> Result<RgbImage, CorruptError> {
    if !(1..=5).contains(&severity) {
        return Err(CorruptError::Severity(severity));
    }
    let (w, h) = img.dimensions();
    if w < 8 || h < 8 {
        return Err(CorruptError::TooSmall(w, h));
    }
    let mut rng = Rng::new(derive_seed(seed, c, severity));
    let s = severity as usize - 1;
    Ok(match c {
        GaussianNoise => noise::gaussian_noise(img, s, &mut rng),
        ShotNoise => noise::shot_noise(img, s, &mut rng),
        ImpulseNoise => noise::impulse_noise(img, s, &mut rng),
        SpeckleNoise => noise::speckle_noise(img, s, &mut rng),
        DefocusBlur => blur::defocus_blur(img, s),
        GlassBlur => blur::glass_blur(img, s, &blur::GlassDraws::draw(img, s, &mut rng)),
        MotionBlur => blur::motion_blur(img, s, blur::MotionDraws::draw(&mut rng)),
        ZoomBlur => blur::zoom_blur(img, s),
        GaussianBlur => blur::gaussian_blur(img, s),
        Snow => weather::snow(img, s, &weather::SnowDraws::draw(img, s, &mut rng)),
        Frost => weather::frost(img, s, weather::FrostDraws::draw(img, &mut rng)),
        Fog => weather::fog(img, s, &weather::FogDraws::draw(img, s, &mut rng)),
        Spatter => weather::spatter(img, s, &weather::SpatterDraws::draw(img, s, &mut rng)),
        Brightness => digital::brightness(img, s),
        Contrast => digital::contrast(img, s),
        Saturate => digital::saturate(img, s),
        Pixelate => digital::pixelate(img, s),
        JpegCompression => digital::jpeg_compression(img, s),
        ElasticTransform => {
            digital::elastic_transform(img, s, &digital::ElasticDraws::draw(img, s, &mut rng))
        }
    })
}

/// Corrupt many images in parallel; image `i` uses seed `seed + i`, so the
/// result does not depend on the number of threads.
pub fn corrupt_many(
    imgs: &[RgbImage],
    c: Corruption,
    severity: u8,
    seed: u64,
) -> Result<Vec<RgbImage>, CorruptError> {
    imgs.par_iter()
        .enumerate()
        .map(|(i, im)| corrupt(im, c, severity, seed.wrapping_add(i as u64)))
        .collect()
}
