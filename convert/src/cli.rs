//! The `nyquist-convert` command line (also behind `cargo xtask convert`).
//!
//! Exit codes: 0 success, 1 error (bad input, I/O), 2 verification failed
//! (a rewrite exceeds `--tolerance`); the report is written either way, the
//! model only on success.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Parser;

use crate::onnx::io::write_atomic;
use crate::onnx::{load_model, save_model};
use crate::pipeline::{self, BlurMode, Options};
use crate::verify::Samples;

/// Fold or commute the fixed blur filters of an anti-aliased ONNX model into its
/// strided convs, verify the result with tract and write a report.
#[derive(Debug, Parser)]
#[command(name = "nyquist-convert", version, about)]
pub struct Args {
    /// The ONNX model to convert.
    pub model: PathBuf,
    /// Output model (default: `<model>.nyq.onnx` beside the input). Reports go
    /// next to it as `<stem>.report.md` / `.report.json`.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Blur rewriting: auto (bare flag), fold, commute, forward, off (flag absent).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "auto", value_enum)]
    pub fold_blur: Option<BlurMode>,
    /// List the blurs, their family, the plan and its cost; write nothing.
    #[arg(long)]
    pub inspect: bool,
    /// Largest relative max |Δ| allowed on the interior of a rewritten region.
    #[arg(long, default_value_t = 1e-4)]
    pub tolerance: f64,
    /// Number of seeded random inputs to verify on.
    #[arg(long, default_value_t = 32)]
    pub samples: usize,
    /// Seed of the random inputs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also verify on real images: an ImageFolder (`DIR/<class>/*.png`) or a folder of images.
    #[arg(long)]
    pub eval: Option<PathBuf>,
    /// At most this many images from `--eval`.
    #[arg(long, default_value_t = 256)]
    pub eval_limit: usize,
    /// Input shape N,C,H,W when the model does not fix it.
    #[arg(long, value_delimiter = ',')]
    pub input_shape: Option<Vec<usize>>,
    /// Only rewrite the named blur node(s).
    #[arg(long = "only-blur")]
    pub only_blur: Vec<String>,
    /// Print nothing but errors.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Default output path: `dir/stem.nyq.onnx`.
pub fn default_output(model: &Path) -> PathBuf {
    let stem = model
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    model.with_file_name(format!("{stem}.nyq.onnx"))
}

/// Report paths for an output model: `<out without .onnx>.report.{md,json}`.
pub fn report_paths(out: &Path) -> (PathBuf, PathBuf) {
    let name = out
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".onnx").unwrap_or(&name);
    (
        out.with_file_name(format!("{stem}.report.md")),
        out.with_file_name(format!("{stem}.report.json")),
    )
}

/// Preprocessed samples from an image folder, using the model's metadata.
pub fn eval_samples(
    model_path: &Path,
    bytes: &[u8],
    dir: &Path,
    limit: usize,
    shape: &[usize],
) -> Result<Samples> {
    use nyquist_runtime::{dataset, preprocess, ModelInfo, Preprocess};
    let info = ModelInfo::from_onnx_bytes(bytes, model_path)?;
    let mut pre = Preprocess::from_info(&info)?;
    if shape.len() == 4 {
        pre.shape = [shape[0], shape[1], shape[2], shape[3]];
    }
    let labels = info.labels()?.unwrap_or_default();
    let files =
        dataset::list_images_recursive(dir).with_context(|| format!("--eval {}", dir.display()))?;
    if files.is_empty() {
        bail!("--eval {}: no images (png, jpg, bmp) found", dir.display());
    }
    let mut s = Samples::default();
    for f in files.into_iter().take(limit) {
        let img = preprocess::open_image(&f)?;
        let class = f
            .parent()
            .filter(|p| p != &dir)
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned());
        s.labels
            .push(class.and_then(|c| labels.iter().position(|l| *l == c)));
        s.inputs.push(pre.tensor(&img));
        s.origin.push(f.display().to_string());
    }
    Ok(s)
}

/// Run the command; returns the process exit code.
pub fn run(args: Args) -> Result<ExitCode> {
    let model = load_model(&args.model)?;
    let mut opts = Options {
        mode: args.fold_blur.unwrap_or(BlurMode::Off),
        tolerance: args.tolerance,
        random_samples: args.samples,
        seed: args.seed,
        extra_samples: None,
        input_shape: args.input_shape.clone(),
        only: (!args.only_blur.is_empty()).then(|| args.only_blur.clone()),
    };
    if args.inspect && args.fold_blur.is_none() {
        opts.mode = BlurMode::Auto;
    }
    if let Some(dir) = &args.eval {
        let shape = pipeline::input_shape(&model, &opts)?;
        opts.extra_samples = Some(eval_samples(
            &args.model,
            &model.inlined_bytes()?,
            dir,
            args.eval_limit,
            &shape,
        )?);
    }
    let out = args
        .output
        .clone()
        .unwrap_or_else(|| default_output(&args.model));
    if !args.inspect {
        let dir = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !dir.is_dir() {
            bail!(
                "{}: output folder {} does not exist",
                out.display(),
                dir.display()
            );
        }
    }
    let conv = pipeline::convert(&model, &opts)?;
    let md = conv.report.to_markdown();
    if args.inspect {
        println!("{md}");
        return Ok(ExitCode::SUCCESS);
    }
    let (md_path, json_path) = report_paths(&out);
    write_atomic(&md_path, md.as_bytes())?;
    write_atomic(&json_path, conv.report.to_json().as_bytes())?;
    if !conv.report.passed {
        eprintln!("error: verification failed, no model written:");
        for v in &conv.report.violations {
            eprintln!("  {v}");
        }
        eprintln!("report: {}", md_path.display());
        return Ok(ExitCode::from(2));
    }
    save_model(&conv.model, &out, model.base_dir())?;
    if !args.quiet {
        println!("{}", conv.report.summary);
        if let Some(e) = &conv.report.end_to_end {
            println!(
                "verified on {} samples: top-1 agreement {:.2}%, max |Δ logits| {:.3e}",
                e.samples,
                100.0 * e.top1_agreement,
                e.max_abs
            );
        }
        println!(
            "wrote {} and {} / {}",
            out.display(),
            md_path.display(),
            json_path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
