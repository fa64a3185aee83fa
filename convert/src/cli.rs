//! The `nyquist-convert` command line (also behind `cargo xtask convert`).
//!
//! Exit codes: 0 success, 1 error (bad input, I/O), 2 verification failed
//! (a rewrite exceeds `--tolerance`); the report is written either way, the
//! model only on success.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Parser;

use nyquist_convert::pipeline::{self, BlurMode, Options};
use nyquist_convert::verify::Samples;
use nyquist_onnx::io::write_atomic;
use nyquist_onnx::{load_model, save_model};

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
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "auto", value_parser = <BlurMode as std::str::FromStr>::from_str)]
    pub fold_blur: Option<BlurMode>,
    /// List the blurs, their family, the plan and its cost; write nothing.
    #[arg(long)]
    pub inspect: bool,
    /// Largest relative max |Δ| allowed on the interior of a rewritten region.
    #[arg(long, default_value_t = 1e-4)]
    pub tolerance: f64,
    /// `auto`: smallest top-1 agreement with the original (percent) on the
    /// real images of `--eval`; a plan below it is walked back blur by blur.
    #[arg(long, default_value_t = 99.5)]
    pub min_agreement: f64,
    /// `auto` without real images: largest end-to-end max relative logit
    /// deviation on the random inputs; a plan above it is walked back blur by
    /// blur (`inf`: no check). The default is set from trained models
    /// (models/fmnist/robustness/border_bound.md).
    #[arg(long, default_value_t = nyquist_convert::pipeline::DEFAULT_MAX_RANDOM_DEVIATION)]
    pub max_random_deviation: f64,
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
    /// Quantize the converted model: `int8`.
    #[arg(long, value_parser = ["int8"])]
    pub quantize: Option<String>,
    /// Calibration images (a folder, searched one level deep; labels not needed).
    #[arg(long)]
    pub calib: Option<PathBuf>,
    /// At most this many calibration images.
    #[arg(long, default_value_t = 500)]
    pub calib_limit: usize,
    /// Activation range method: minmax, percentile[:P], entropy, mse.
    #[arg(long, default_value = "percentile:99.99")]
    pub calib_method: String,
    /// Correct each conv's bias for the mean error of its int8 weights.
    #[arg(long)]
    pub bias_correction: bool,
    /// Cross-layer equalization of Conv → ReLU → Conv pairs before calibration.
    #[arg(long)]
    pub equalize: bool,
    /// Leave this node in float (repeatable).
    #[arg(long)]
    pub exclude: Vec<String>,
    /// Split for an idx `--eval` folder.
    #[arg(long, default_value = "t10k")]
    pub eval_split: String,
    /// Corruptions the gate evaluates (default: all 19).
    #[arg(long, value_delimiter = ',')]
    pub corruptions: Option<Vec<String>>,
    /// Severities the gate evaluates (default 1–5).
    #[arg(long, value_delimiter = ',')]
    pub severities: Option<Vec<u8>>,
    /// Largest allowed mCE increase of int8 over the float model (points).
    #[arg(long, default_value_t = 1.0)]
    pub mce_tolerance: f64,
    /// Largest allowed clean-accuracy drop of int8 below the float model (points).
    #[arg(long, default_value_t = 1.0)]
    pub acc_tolerance: f64,
    /// Largest allowed drop of shift consistency (points), from the original
    /// to the converted model and from float to int8.
    #[arg(long, default_value_t = 1.0)]
    pub consistency_tolerance: f64,
    /// Eval images the gate measures shift consistency on (clean only).
    #[arg(long, default_value_t = 2000)]
    pub consistency_images: usize,
    /// Evaluate and report, but do not fail on the gate.
    #[arg(long)]
    pub no_gate: bool,
    /// When int8 fails the gate, keep the fewest layers in float (ranked by
    /// their quantization error, confirmed by the gate) that make it pass.
    #[arg(long)]
    pub repair: bool,
    /// Extra artifacts: `nnef` (tract NNEF archive of the float model), `nqm`
    /// (firmware blob of the int8 model; needs --quantize int8).
    #[arg(long, value_delimiter = ',', value_parser = ["nnef", "nqm"])]
    pub emit: Vec<String>,
    /// Refuse the `.nqm` blob, with the numbers, unless it fits this board's
    /// flash and RAM: `pico2`, `qemu-an547`, `qemu-an386` (needs --emit nqm).
    #[arg(long, requires = "emit")]
    pub board: Option<String>,
    /// Print these sections of the Markdown report (by their `##` title,
    /// e.g. `Blurs,Robustness gate`) to stdout, without their subsections.
    #[arg(long, value_delimiter = ',')]
    pub print_sections: Vec<String>,
}

/// Print the report sections `--print-sections` names (a missing one is
/// named on stderr: a report without a gate has no gate section).
pub fn print_sections(args: &Args, md: &str) {
    for title in &args.print_sections {
        match nyquist_convert::report::Report::markdown_section(md, title) {
            Some(s) => println!("\n{}", s.trim_end()),
            None => eprintln!("note: the report has no `{title}` section"),
        }
    }
}

/// Write the converted float model as `<stem>.nnef.tgz` next to `out`.
pub fn write_nnef(
    proto: &nyquist_onnx::pb::ModelProto,
    out: &Path,
    shape: &[usize],
) -> Result<PathBuf> {
    use prost::Message;
    let props = proto
        .metadata_props
        .iter()
        .map(|p| (p.key().to_string(), p.value().to_string()))
        .collect();
    let bytes = nyquist_runtime::engine::onnx_to_nnef(&proto.encode_to_vec(), out, shape, &props)?;
    let path = crate::cli_quant::sibling(out, ".nnef.tgz");
    write_atomic(&path, &bytes)?;
    Ok(path)
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
    flag: &str,
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
        dataset::list_images_recursive(dir).with_context(|| format!("{flag} {}", dir.display()))?;
    if files.is_empty() {
        bail!("{flag} {}: no images (png, jpg, bmp) found", dir.display());
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

/// Calibration inputs from a folder: every image must decode and fit the model
/// (same channel count; no larger than the input with `pad` geometry).
pub fn calib_samples(
    dir: &Path,
    pre: &nyquist_runtime::Preprocess,
    limit: usize,
) -> Result<Vec<Vec<f32>>> {
    if !dir.is_dir() {
        bail!("--calib {}: not a folder", dir.display());
    }
    pre.folder_tensors(dir, limit)
        .with_context(|| format!("--calib {}", dir.display()))
}

/// Run the command; returns the process exit code.
pub fn run(args: Args) -> Result<ExitCode> {
    let model = load_model(&args.model)?;
    if args.mce_tolerance < 0.0
        || args.acc_tolerance < 0.0
        || args.mce_tolerance.is_nan()
        || args.acc_tolerance.is_nan()
    {
        bail!("--mce-tolerance and --acc-tolerance must be non-negative");
    }
    if !(0.0..=100.0).contains(&args.min_agreement) {
        bail!(
            "--min-agreement is a percentage (0–100), got {}",
            args.min_agreement
        );
    }
    if let Some(b) = &args.board {
        if !args.emit.iter().any(|e| e == "nqm") {
            bail!("--board checks the firmware blob: it needs --emit nqm");
        }
        nyquist_convert::nqm::deploy::board(b)?;
    }
    if args.emit.iter().any(|e| e == "nqm") && args.quantize.is_none() {
        bail!("--emit nqm needs --quantize int8 (the firmware runs the int8 model)");
    }
    if args.quantize.is_some() {
        if args.calib.is_none() {
            bail!("--quantize int8 needs --calib DIR (calibration images)");
        }
        if args.eval.is_none() && !args.no_gate {
            bail!("--quantize int8 needs --eval DIR for the robustness gate (or --no-gate)");
        }
    }
    let mut opts = Options {
        mode: args.fold_blur.unwrap_or(BlurMode::Off),
        tolerance: args.tolerance,
        random_samples: args.samples,
        seed: args.seed,
        extra_samples: None,
        input_shape: args.input_shape.clone(),
        only: (!args.only_blur.is_empty()).then(|| args.only_blur.clone()),
        min_agreement: args.min_agreement / 100.0,
        max_random_deviation: args.max_random_deviation,
    };
    if args.inspect && args.fold_blur.is_none() {
        opts.mode = BlurMode::Auto;
    }
    opts.validate()?;
    // Real images for the end-to-end check and `auto`'s agreement guard:
    // the evaluation images, else the calibration images.
    let real = match (&args.eval, &args.calib) {
        (Some(dir), _) => Some(("--eval", dir, args.eval_limit)),
        (None, Some(dir)) => Some(("--calib", dir, args.calib_limit)),
        (None, None) => None,
    };
    if let Some((flag, dir, limit)) = real {
        let shape = pipeline::input_shape(&model, &opts)?;
        opts.extra_samples = Some(eval_samples(
            flag,
            &args.model,
            &model.inlined_bytes()?,
            dir,
            limit,
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
    if !args.quiet && !args.inspect && opts.mode == BlurMode::Auto {
        if let Some(g) = &conv.report.guard {
            println!("{}", g.line());
        } else {
            if let Some(g) = &conv.report.random_guard {
                println!("{}", g.line());
            }
            eprintln!("note: {}", pipeline::NO_REAL_IMAGES);
        }
    }
    if args.quantize.is_some() && !args.inspect {
        let eval_inputs = args
            .eval
            .is_some()
            .then(|| opts.extra_samples.as_ref().map(|s| s.inputs.as_slice()))
            .flatten();
        return crate::cli_quant::run(&args, &model, conv, &out, eval_inputs);
    }
    let md = conv.report.to_markdown();
    if args.inspect {
        println!("{md}");
        return Ok(ExitCode::SUCCESS);
    }
    let (md_path, json_path) = report_paths(&out);
    write_atomic(&md_path, md.as_bytes())?;
    write_atomic(&json_path, conv.report.to_json().as_bytes())?;
    print_sections(&args, &md);
    if !conv.report.passed {
        eprintln!("error: verification failed, no model written:");
        for v in &conv.report.violations {
            eprintln!("  {v}");
        }
        eprintln!("report: {}", md_path.display());
        return Ok(ExitCode::from(2));
    }
    save_model(&conv.model, &out, model.base_dir())?;
    if args.emit.iter().any(|e| e == "nnef") {
        let p = write_nnef(&conv.model, &out, &conv.report.input_shape)?;
        if !args.quiet {
            println!("wrote {}", p.display());
        }
    }
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
