//! `nyquist corrupt`: one corruption of one image, or all 19 × 5 as a folder of
//! images plus one contact sheet.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use image::{Rgb, RgbImage};
use nyquist_corrupt::{corrupt, Corruption};
use rayon::prelude::*;

/// `nyquist corrupt IN.png …`
#[derive(Debug, Args)]
pub struct CorruptArgs {
    /// Input image.
    pub input: PathBuf,
    /// Corruption name (e.g. fog); not with --all.
    #[arg(long, required_unless_present = "all")]
    pub corruption: Option<String>,
    /// Severity 1–5; not with --all.
    #[arg(long, required_unless_present = "all")]
    pub severity: Option<u8>,
    /// Seed of the random draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Every corruption at every severity: OUT is a folder that receives
    /// `<corruption>-<s>.png` and `contact-sheet.png`.
    #[arg(long, conflicts_with_all = ["corruption", "severity"])]
    pub all: bool,
    /// Output image (or folder with --all).
    #[arg(short, long)]
    pub output: PathBuf,
}

fn save(img: &RgbImage, path: &std::path::Path) -> Result<()> {
    let fmt = image::ImageFormat::from_path(path)
        .with_context(|| format!("{}: unknown image extension", path.display()))?;
    let tmp = path.with_extension(format!(
        "tmp.{}",
        path.extension().and_then(|e| e.to_str()).unwrap_or("png")
    ));
    img.save_with_format(&tmp, fmt)
        .with_context(|| format!("{}: cannot write", path.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot write", path.display()))
}

/// Run `nyquist corrupt`.
pub fn run(a: CorruptArgs) -> Result<ExitCode> {
    let img = nyquist_runtime::preprocess::open_image(&a.input)?.to_rgb8();
    if !a.all {
        let c: Corruption = a.corruption.as_deref().unwrap_or_default().parse()?;
        let s = a.severity.unwrap_or(0);
        let out = corrupt(&img, c, s, a.seed)?;
        save(&out, &a.output)?;
        super::out(format!("wrote {}", a.output.display()))?;
        return Ok(ExitCode::SUCCESS);
    }
    if !a.output.is_dir() {
        std::fs::create_dir_all(&a.output)
            .with_context(|| format!("{}: cannot create folder", a.output.display()))?;
    }
    let jobs: Vec<(Corruption, u8)> = Corruption::all()
        .flat_map(|c| (1..=5u8).map(move |s| (c, s)))
        .collect();
    let outs: Vec<RgbImage> = jobs
        .par_iter()
        .map(|&(c, s)| corrupt(&img, c, s, a.seed))
        .collect::<Result<_, _>>()?;
    for ((c, s), o) in jobs.iter().zip(&outs) {
        save(o, &a.output.join(format!("{}-{s}.png", c.name())))?;
    }
    // Contact sheet: one row per corruption (clean image first), one column per severity.
    let (w, h) = img.dimensions();
    let pad = 2;
    let cols = 6;
    let rows = 19;
    let mut sheet = RgbImage::from_pixel(
        cols * (w + pad) + pad,
        rows * (h + pad) + pad,
        Rgb([255, 255, 255]),
    );
    for r in 0..rows {
        for col in 0..cols {
            let tile = if col == 0 {
                &img
            } else {
                &outs[(r * 5 + col - 1) as usize]
            };
            image::imageops::replace(
                &mut sheet,
                tile,
                (pad + col * (w + pad)) as i64,
                (pad + r * (h + pad)) as i64,
            );
        }
    }
    if jobs.len() != 95 {
        bail!("internal: expected 95 corruptions");
    }
    save(&sheet, &a.output.join("contact-sheet.png"))?;
    super::out(format!("wrote 95 images and contact-sheet.png (rows: corruptions in ImageNet-C order; columns: clean, severity 1–5) to {}", a.output.display()))?;
    Ok(ExitCode::SUCCESS)
}
