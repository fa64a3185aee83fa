//! `nyquist classify`: top-k classes of images, folders, an MJPEG/PNG stream on
//! stdin (`-`), recorded YUYV frames, or a V4L2 camera, one line (or one JSON
//! object) per image, in input order. Unreadable inputs are reported and
//! skipped; the exit code then says some failed.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use nyquist_corrupt::Corruption;
use rayon::prelude::*;
use serde::Serialize;

use super::model::{Loaded, ModelArgs};
use nyquist_runtime::frames::{Files, Frame, FrameSource, ImageStream, YuyvFile};
use nyquist_runtime::preprocess::Geometry;

/// `nyquist classify --model M INPUTS…`
#[derive(Debug, Args)]
pub struct ClassifyArgs {
    /// The model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Image files and folders; `-` reads an MJPEG or PNG stream from stdin.
    pub inputs: Vec<PathBuf>,
    /// Classes per image.
    #[arg(long, default_value_t = 5)]
    pub top_k: usize,
    /// A JSON array instead of text lines.
    #[arg(long)]
    pub json: bool,
    /// Corrupt every frame first: `NAME:SEVERITY`, e.g. `fog:3`.
    #[arg(long)]
    pub corrupt: Option<String>,
    /// Seed of `--corrupt`.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Recorded raw YUYV frames (as `v4l2-ctl --stream-to` writes them); needs --frame-size.
    #[arg(long)]
    pub yuyv: Option<PathBuf>,
    /// Frame size WxH for --yuyv and --camera.
    #[arg(long, default_value = "640x480")]
    pub frame_size: String,
    /// V4L2 camera device (build with `--features camera`).
    #[arg(long)]
    pub camera: Option<PathBuf>,
    /// Camera pixel format: mjpeg or yuyv (default: MJPEG if offered).
    #[arg(long)]
    pub camera_format: Option<String>,
    /// Stop after this many frames (camera / streams).
    #[arg(long)]
    pub frames: Option<u64>,
}

/// One classified image.
#[derive(Debug, Clone, Serialize)]
pub struct Classified {
    /// Where it came from.
    pub path: String,
    /// Best class index.
    pub top1_index: usize,
    /// Best class label (or its index as text).
    pub top1_label: String,
    /// The top-k classes with softmax scores.
    pub top: Vec<Scored>,
}

/// A class and its probability.
#[derive(Debug, Clone, Serialize)]
pub struct Scored {
    /// Class index.
    pub index: usize,
    /// Label.
    pub label: String,
    /// Softmax probability.
    pub score: f32,
}

/// Softmax over logits, top-k.
pub fn top_k(logits: &[f32], k: usize, labels: Option<&[String]>) -> Vec<Scored> {
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = logits.iter().map(|&v| (v - m).exp()).collect();
    let z: f32 = e.iter().sum();
    let mut idx: Vec<usize> = (0..logits.len()).collect();
    idx.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    idx.into_iter()
        .take(k.max(1))
        .map(|i| Scored {
            index: i,
            label: labels
                .and_then(|l| l.get(i).cloned())
                .unwrap_or_else(|| i.to_string()),
            score: e[i] / z,
        })
        .collect()
}

fn parse_size(s: &str) -> Result<(u32, u32)> {
    let (w, h) = s
        .split_once('x')
        .with_context(|| format!("--frame-size {s}: expected WxH"))?;
    Ok((
        w.parse().context("--frame-size width")?,
        h.parse().context("--frame-size height")?,
    ))
}

fn parse_corruption(s: &str) -> Result<(Corruption, u8)> {
    let (name, sev) = s
        .split_once(':')
        .with_context(|| format!("--corrupt {s}: expected NAME:SEVERITY, e.g. fog:3"))?;
    let sev: u8 = sev
        .parse()
        .with_context(|| format!("--corrupt {s}: severity"))?;
    if !(1..=5).contains(&sev) {
        bail!("--corrupt {s}: severity must be 1–5");
    }
    Ok((name.parse()?, sev))
}

/// Classify one frame.
pub fn classify_frame(
    m: &Loaded,
    f: &Frame,
    corrupt: Option<(Corruption, u8)>,
    seed: u64,
    k: usize,
) -> Result<Classified> {
    let (h, w) = m.pre.hw();
    if matches!(m.pre.geometry, Geometry::Pad { .. })
        && (f.image.width() > w || f.image.height() > h)
    {
        bail!(
            "{}: image is {}x{} but the model input is {}x{} with geometry `pad` (shape {:?}); resize it or pass --geometry resize",
            f.name,
            f.image.width(),
            f.image.height(),
            w,
            h,
            m.pre.shape
        );
    }
    let mut geo = m.pre.geometry(&f.image);
    if let Some((c, s)) = corrupt {
        geo = nyquist_corrupt::corrupt(&geo, c, s, seed)?;
    }
    let out = m.engine.run(&m.pre.normalize(&geo))?;
    let top = top_k(&out[0].data, k, m.labels.as_deref());
    Ok(Classified {
        path: f.name.clone(),
        top1_index: top[0].index,
        top1_label: top[0].label.clone(),
        top,
    })
}

fn line(c: &Classified) -> String {
    let rest: Vec<String> = c
        .top
        .iter()
        .map(|s| format!("{} {:.3}", s.label, s.score))
        .collect();
    format!("{}: {}", c.path, rest.join(" | "))
}

/// Run `nyquist classify`.
pub fn run(a: ClassifyArgs) -> Result<ExitCode> {
    let corrupt = a.corrupt.as_deref().map(parse_corruption).transpose()?;
    let m = a.model.load()?;
    let mut failed = 0usize;
    let mut results = Vec::new();
    let report =
        |r: Result<Classified>, failed: &mut usize, results: &mut Vec<Classified>| -> Result<()> {
            match r {
                Ok(c) => {
                    if !a.json {
                        super::out(line(&c))?;
                    }
                    results.push(c);
                }
                Err(e) => {
                    *failed += 1;
                    eprintln!("skipped: {e:#}");
                }
            }
            Ok(())
        };
    let files: Vec<PathBuf> = a
        .inputs
        .iter()
        .filter(|p| p.as_os_str() != "-")
        .cloned()
        .collect();
    if !files.is_empty() {
        // Files: decode and classify in parallel, print in input order.
        let paths = Files::new(&files)?.into_paths();
        let out: Vec<Result<Classified>> = paths
            .par_iter()
            .map(|p| {
                let image = nyquist_runtime::preprocess::open_image(p)?;
                classify_frame(
                    &m,
                    &Frame {
                        name: p.display().to_string(),
                        image,
                    },
                    corrupt,
                    a.seed,
                    a.top_k,
                )
            })
            .collect();
        for r in out {
            report(r, &mut failed, &mut results)?;
        }
    }
    let mut sources: Vec<Box<dyn FrameSource>> = Vec::new();
    if a.inputs.iter().any(|p| p.as_os_str() == "-") {
        sources.push(Box::new(ImageStream::new(std::io::stdin().lock(), "stdin")));
    }
    if let Some(y) = &a.yuyv {
        let (w, h) = parse_size(&a.frame_size)?;
        sources.push(Box::new(YuyvFile::open(y, w, h)?));
    }
    if let Some(cam) = &a.camera {
        sources.push(open_camera(cam, &a)?);
    }
    if a.inputs.is_empty() && sources.is_empty() {
        bail!("nothing to classify: give image files / folders, `-` for stdin, --yuyv or --camera");
    }
    for mut src in sources {
        let mut n = 0u64;
        while let Some(f) = src.next_frame() {
            let r = f
                .map_err(anyhow::Error::from)
                .and_then(|f| classify_frame(&m, &f, corrupt, a.seed.wrapping_add(n), a.top_k));
            report(r, &mut failed, &mut results)?;
            n += 1;
            if a.frames.is_some_and(|max| n >= max) {
                break;
            }
        }
    }
    if a.json {
        super::out(serde_json::to_string_pretty(&results)?)?;
    }
    Ok(if failed > 0 {
        ExitCode::from(super::SOME_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(feature = "camera")]
fn open_camera(path: &std::path::Path, a: &ClassifyArgs) -> Result<Box<dyn FrameSource>> {
    use nyquist_runtime::camera::{Camera, CameraFormat};
    let (w, h) = parse_size(&a.frame_size)?;
    let fmt = match a.camera_format.as_deref() {
        None => None,
        Some("mjpeg") => Some(CameraFormat::Mjpeg),
        Some("yuyv") => Some(CameraFormat::Yuyv),
        Some(o) => bail!("--camera-format {o}: expected mjpeg or yuyv"),
    };
    Ok(Box::new(Camera::open(path, w, h, fmt)?))
}

#[cfg(not(feature = "camera"))]
fn open_camera(path: &std::path::Path, _a: &ClassifyArgs) -> Result<Box<dyn FrameSource>> {
    bail!("--camera {}: this nyquist was built without the `camera` feature (cargo build --features camera)", path.display())
}
