//! nyquist-corrupt against the `imagecorruptions` package (1.1.2) on real
//! photographs (`tests/reference/make_references.py` made the references).
//!
//! * deterministic corruptions: PSNR against the reference ≥ a per-corruption bound;
//! * corruptions with replayable randomness: the reference's own random draws are
//!   fed in, then PSNR ≥ bound;
//! * noise: the statistics of the noise match (its randomness is not replayed).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use image::RgbImage;
use nyquist_corrupt::{blur, digital, weather, Corruption};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference")
}

fn load(p: &Path) -> RgbImage {
    image::open(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .to_rgb8()
}

fn inputs() -> Vec<(String, RgbImage)> {
    let mut v: Vec<_> = std::fs::read_dir(dir().join("inputs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v.into_iter()
        .map(|p| {
            (
                p.file_stem().unwrap().to_string_lossy().into_owned(),
                load(&p),
            )
        })
        .collect()
}

fn reference(input: &str, c: Corruption, s: u8) -> RgbImage {
    load(&dir().join(format!("refs/{input}/{}-{s}.png", c.name())))
}

fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let mse = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum::<f64>()
        / a.as_raw().len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

fn draws_path(input: &str, c: Corruption, s: u8, ext: &str) -> PathBuf {
    dir().join(format!("draws/{input}/{}-{s}.{ext}", c.name()))
}

fn json(input: &str, c: Corruption, s: u8) -> Option<serde_json::Value> {
    let p = draws_path(input, c, s, "json");
    p.exists()
        .then(|| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
}

fn field(input: &str, c: Corruption, s: u8, name: &str) -> Vec<f64> {
    let raw = std::fs::read(draws_path(input, c, s, &format!("{name}.bin.gz"))).unwrap();
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(&raw[..])
        .read_to_end(&mut bytes)
        .unwrap();
    bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// Our output for a corruption with no randomness, or with the reference's draws.
fn ours(input: &str, img: &RgbImage, c: Corruption, s: u8) -> Option<RgbImage> {
    let i = s as usize - 1;
    Some(match c {
        Corruption::MotionBlur => blur::motion_blur(
            img,
            i,
            blur::MotionDraws {
                angle: json(input, c, s)?["angle"].as_f64()?,
            },
        ),
        Corruption::Snow => {
            let j = json(input, c, s)?;
            weather::snow(
                img,
                i,
                &weather::SnowDraws {
                    layer: field(input, c, s, "layer"),
                    angle: j["angle"].as_f64()?,
                },
            )
        }
        Corruption::Frost => {
            let j = json(input, c, s)?;
            let g = |k: &str| j[k].as_u64().map(|v| v as usize);
            weather::frost(
                img,
                i,
                weather::FrostDraws {
                    index: g("index")?,
                    top: g("top")?,
                    left: g("left")?,
                },
            )
        }
        Corruption::Fog => {
            let j = json(input, c, s)?;
            weather::fog(
                img,
                i,
                &weather::FogDraws {
                    size: j["size"].as_u64()? as usize,
                    plasma: field(input, c, s, "plasma"),
                },
            )
        }
        Corruption::ElasticTransform => {
            json(input, c, s)?;
            digital::elastic_transform(
                img,
                i,
                &digital::ElasticDraws {
                    dx: field(input, c, s, "dx"),
                    dy: field(input, c, s, "dy"),
                },
            )
        }
        Corruption::GlassBlur => {
            let v: Vec<i64> = json(input, c, s)?["shifts"]
                .as_array()?
                .iter()
                .map(|x| x.as_i64().unwrap())
                .collect();
            blur::glass_blur(
                img,
                i,
                &blur::GlassDraws {
                    shifts: v.chunks(2).map(|p| (p[0], p[1])).collect(),
                },
            )
        }
        Corruption::Spatter => {
            json(input, c, s)?;
            weather::spatter(
                img,
                i,
                &weather::SpatterDraws {
                    liquid: field(input, c, s, "liquid"),
                },
            )
        }
        Corruption::GaussianNoise
        | Corruption::ShotNoise
        | Corruption::ImpulseNoise
        | Corruption::SpeckleNoise => return None,
        _ => nyquist_corrupt::corrupt(img, c, s, 0).unwrap(),
    })
}

/// The PSNR (dB) each corruption reaches on every input and severity, kept as
/// the test's bound. `INFINITY`: bit-identical to the reference.
fn bound(c: Corruption) -> f64 {
    match c {
        Corruption::Brightness
        | Corruption::Contrast
        | Corruption::Saturate
        | Corruption::Pixelate
        | Corruption::GaussianBlur
        | Corruption::ZoomBlur
        | Corruption::GlassBlur
        | Corruption::Fog
        | Corruption::ElasticTransform => f64::INFINITY,
        Corruption::MotionBlur => 80.0,
        Corruption::Snow => 75.0,
        Corruption::Frost => 65.0,
        Corruption::DefocusBlur => 60.0,
        Corruption::Spatter => 45.0,
        Corruption::JpegCompression => 26.0,
        _ => 0.0,
    }
}

#[test]
fn matches_imagecorruptions_closely() {
    let mut worst: BTreeMap<Corruption, f64> = BTreeMap::new();
    let mut report = String::new();
    for (name, img) in inputs() {
        for c in Corruption::all() {
            for s in 1..=5u8 {
                let Some(got) = ours(&name, &img, c, s) else {
                    continue;
                };
                let p = psnr(&got, &reference(&name, c, s));
                let w = worst.entry(c).or_insert(f64::INFINITY);
                *w = w.min(p);
                report.push_str(&format!("{name} {c} {s}: {p:.1} dB\n"));
            }
        }
    }
    eprintln!("{report}");
    for (c, p) in &worst {
        eprintln!("worst PSNR {c}: {p:.1} dB (bound {:.0})", bound(*c));
    }
    for (c, p) in worst {
        assert!(
            p >= bound(c),
            "{c}: PSNR {p:.1} dB below the bound {} dB",
            bound(c)
        );
    }
}

/// Mean and standard deviation of `out − in` (0–255) over all values.
fn diff_stats(input: &RgbImage, out: &RgbImage) -> (f64, f64) {
    let d: Vec<f64> = out
        .as_raw()
        .iter()
        .zip(input.as_raw())
        .map(|(&o, &i)| o as f64 - i as f64)
        .collect();
    let n = d.len() as f64;
    let m = d.iter().sum::<f64>() / n;
    (
        m,
        (d.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n).sqrt(),
    )
}

/// Fraction of values that became 0 or 255 where the input was neither.
fn impulse_fraction(input: &RgbImage, out: &RgbImage) -> f64 {
    let pairs: Vec<(u8, u8)> = input
        .as_raw()
        .iter()
        .copied()
        .zip(out.as_raw().iter().copied())
        .filter(|&(i, _)| i != 0 && i != 255)
        .collect();
    pairs
        .iter()
        .filter(|&&(i, o)| o != i && (o == 0 || o == 255))
        .count() as f64
        / pairs.len() as f64
}

#[test]
fn noise_matches_imagecorruptions_in_distribution() {
    for (name, img) in inputs() {
        for c in [
            Corruption::GaussianNoise,
            Corruption::ShotNoise,
            Corruption::SpeckleNoise,
            Corruption::ImpulseNoise,
        ] {
            for s in 1..=5u8 {
                let want = reference(&name, c, s);
                let got = nyquist_corrupt::corrupt(&img, c, s, 42).unwrap();
                if c == Corruption::ImpulseNoise {
                    let (a, b) = (impulse_fraction(&img, &got), impulse_fraction(&img, &want));
                    assert!(
                        (a - b).abs() <= 0.25 * b + 0.005,
                        "{name} {c} {s}: salt-and-pepper fraction {a:.4} vs {b:.4}"
                    );
                } else {
                    let ((ma, sa), (mb, sb)) = (diff_stats(&img, &got), diff_stats(&img, &want));
                    assert!(
                        (sa - sb).abs() <= 0.08 * sb + 0.5,
                        "{name} {c} {s}: noise std {sa:.2} vs {sb:.2}"
                    );
                    assert!(
                        (ma - mb).abs() <= 0.1 * sb + 0.6,
                        "{name} {c} {s}: noise mean {ma:.2} vs {mb:.2}"
                    );
                }
            }
        }
    }
}
