//! Same seed ⇒ byte-identical output, whatever the thread count and platform.

use std::path::Path;

use image::RgbImage;
use nyquist_corrupt::{corrupt, corrupt_many, Corruption};
use proptest::prelude::*;

fn astronaut() -> RgbImage {
    image::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/inputs/astronaut.png"))
        .unwrap()
        .to_rgb8()
}

/// FNV-1a, enough to fingerprint an image.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

#[test]
fn same_seed_same_bytes_other_seed_other_noise() {
    let img = astronaut();
    for c in Corruption::all() {
        let a = corrupt(&img, c, 3, 11).unwrap();
        let b = corrupt(&img, c, 3, 11).unwrap();
        assert_eq!(a, b, "{c}");
        let stochastic = !matches!(
            c,
            Corruption::DefocusBlur
                | Corruption::ZoomBlur
                | Corruption::GaussianBlur
                | Corruption::Brightness
                | Corruption::Contrast
                | Corruption::Saturate
                | Corruption::Pixelate
                | Corruption::JpegCompression
        );
        if stochastic {
            assert_ne!(a, corrupt(&img, c, 3, 12).unwrap(), "{c} ignores its seed");
        }
    }
}

#[test]
fn thread_count_does_not_matter() {
    let imgs: Vec<RgbImage> = (0..6u8)
        .map(|i| {
            let mut im = astronaut();
            im.put_pixel(0, 0, image::Rgb([i * 40; 3]));
            im
        })
        .collect();
    for c in [
        Corruption::GaussianNoise,
        Corruption::Snow,
        Corruption::Frost,
        Corruption::GlassBlur,
        Corruption::Spatter,
    ] {
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| corrupt_many(&imgs, c, 2, 5).unwrap());
        let many = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap()
            .install(|| corrupt_many(&imgs, c, 2, 5).unwrap());
        assert_eq!(one, many, "{c}");
    }
}

/// Fingerprints of all 19 × 5 outputs for one input and seed, made on x86-64
/// (`NYQUIST_BLESS=1` rewrites them). CI runs this file on aarch64 too (under
/// qemu): equal fingerprints there show the output does not depend on the platform.
#[test]
fn outputs_are_identical_across_platforms() {
    let img = astronaut();
    let mut lines = String::new();
    for c in Corruption::all() {
        for s in 1..=5 {
            lines.push_str(&format!(
                "{c} {s} {:016x}\n",
                fnv(corrupt(&img, c, s, 2024).unwrap().as_raw())
            ));
        }
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/fingerprints.txt");
    if std::env::var_os("NYQUIST_BLESS").is_some() {
        std::fs::write(&path, &lines).unwrap();
    }
    let want =
        std::fs::read_to_string(&path).expect("fingerprints.txt (make it with NYQUIST_BLESS=1)");
    assert_eq!(lines, want, "outputs differ from the x86-64 fingerprints");
}

#[test]
fn bad_arguments_are_errors() {
    let img = astronaut();
    assert!(corrupt(&img, Corruption::Fog, 0, 1).is_err());
    assert!(corrupt(&img, Corruption::Fog, 6, 1).is_err());
    assert!(corrupt(&RgbImage::new(4, 40), Corruption::Fog, 1, 1).is_err());
    assert!("fogg"
        .parse::<Corruption>()
        .unwrap_err()
        .to_string()
        .contains("gaussian_noise"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]
    #[test]
    fn any_size_any_corruption_keeps_the_size(w in 8u32..48, h in 8u32..48, seed in 0u64..1000) {
        let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 7) as u8, (y * 5) as u8, ((x + y) * 3) as u8]));
        for c in Corruption::all() {
            for s in [1u8, 5] {
                let out = corrupt(&img, c, s, seed).unwrap();
                prop_assert_eq!(out.dimensions(), (w, h));
            }
        }
    }
}
