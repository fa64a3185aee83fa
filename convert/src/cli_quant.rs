//! `nyquist-convert … --quantize int8`: flags to [`nyquist_convert::int8`]
//! (calibrate, quantize, gate, repair, `.nqm`), then the report, the CE chart
//! and the artifacts — written only when the gate passes (the report either
//! way). Exit code 2 when the gate fails.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use nyquist_corrupt::Corruption;
use nyquist_runtime::eval::EvalOptions;
use nyquist_runtime::{dataset, ModelInfo, Preprocess};
use prost::Message;

use crate::cli::{calib_samples, report_paths, Args};
use nyquist_convert::gate::GateOptions;
use nyquist_convert::int8::{self, Int8Inputs, Int8Options};
use nyquist_convert::pipeline::Conversion;
use nyquist_onnx::io::write_atomic;
use nyquist_onnx::{save_model, Model};
use nyquist_quant::QuantOptions;

/// Output file next to `out` with a different suffix: `m.nyq.onnx` → `m.int8.onnx`.
pub fn sibling(out: &Path, suffix: &str) -> PathBuf {
    let name = out
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".onnx").unwrap_or(&name);
    let stem = stem.strip_suffix(".nyq").unwrap_or(stem);
    out.with_file_name(format!("{stem}{suffix}"))
}

/// The quantization branch of the CLI: flags → [`nyquist_convert::int8::run`]
/// → messages, files and the exit code.
pub fn run(
    args: &Args,
    model: &Model,
    mut conv: Conversion,
    out: &Path,
    eval_inputs: Option<&[Vec<f32>]>,
) -> Result<ExitCode> {
    let original = model.inlined_bytes()?;
    let original_model = model.inlined()?;
    let info = ModelInfo::from_onnx_bytes(&original, &model.path)?;
    let mut pre = Preprocess::from_info(&info)?;
    let shape = conv.report.input_shape.clone();
    if shape.len() == 4 {
        pre.shape = [shape[0], shape[1], shape[2], shape[3]];
    }
    let calib_dir = args.calib.as_deref().context("--calib")?;
    let calib = calib_samples(calib_dir, &pre, args.calib_limit)?;
    let quant = QuantOptions {
        method: args.calib_method.parse().map_err(anyhow::Error::msg)?,
        bias_correction: args.bias_correction,
        equalize: args.equalize,
        exclude: args.exclude.clone(),
        progress: !args.quiet,
    };
    let data = match &args.eval {
        Some(dir) => Some(dataset::open(
            dir,
            &args.eval_split,
            info.labels()?.as_deref(),
        )?),
        None => None,
    };
    let gate = match &data {
        Some(_) => Some(gate_options(args)?),
        None => None,
    };
    let files = Files::new(out);
    let names = [
        file_name(&model.path),
        file_name(&files.float),
        file_name(&files.tract),
    ];
    let want_nqm = args.emit.iter().any(|e| e == "nqm");
    let inputs = Int8Inputs {
        original: &original,
        original_model: &original_model,
        conversion: &conv,
        base_dir: model.base_dir(),
        calib: &calib,
        preprocess: &pre,
        eval: data.as_ref(),
        // The blob is checked on the evaluation images the conversion already
        // loaded, else on the calibration images.
        nqm_check: eval_inputs.unwrap_or(&calib),
        names: [&names[0], &names[1], &names[2]],
    };
    let opts = Int8Options {
        quant,
        gate,
        repair: args.repair,
        nqm: want_nqm,
        board: args
            .board
            .as_deref()
            .map(nyquist_convert::nqm::deploy::board)
            .transpose()?,
    };
    let quiet = args.quiet;
    let outcome = int8::run(&inputs, &opts, |line| {
        if !quiet {
            eprintln!("{line}");
        }
    })?;
    let mut section = outcome.section.clone();
    section.files = files.names();
    if section.verdict.is_some() {
        crate::plots::ce_svg(&section.figures, &files.svg)?;
    }
    if let Some(v) = &section.verdict {
        println!("{}", v.line);
    }
    if let Some(r) = &section.repair {
        println!("{}", r.summary());
    }
    if section.nqm.is_some() {
        section.files.push(file_name(&files.nqm));
    }
    conv.report.quantization = Some(section.clone());
    let (md_path, json_path) = report_paths(out);
    let md = conv.report.to_markdown();
    write_atomic(&md_path, md.as_bytes())?;
    write_atomic(&json_path, conv.report.to_json().as_bytes())?;
    crate::cli::print_sections(args, &md);
    if let Some((info, check)) = &section.nqm {
        println!(
            "nqm: {} bytes, arena {} bytes (activations {}, lifetime lower bound {}); firmware engine vs QDQ on {} images: top-1 agreement {:.2}%, max |Δ| {} LSB",
            info.size,
            info.arena_size,
            info.activation_peak,
            info.lower_bound,
            check.samples,
            100.0 * check.top1_agreement,
            check.max_lsb
        );
    }
    if let Some(d) = &section.deployment {
        let cores: Vec<String> = d
            .cores
            .iter()
            .map(|c| {
                format!(
                    "{} ~{:.1} M instructions/image (≥ {:.1} ms at {} MHz{})",
                    c.core.name,
                    c.instructions as f64 / 1e6,
                    c.ms_lower_bound,
                    c.core.clock_mhz,
                    match (c.est_cycles, c.est_ms) {
                        (Some(cy), Some(ms)) =>
                            format!("; est. {:.1} M cycles ≈ {ms:.1} ms", cy as f64 / 1e6),
                        _ => String::new(),
                    }
                )
            })
            .collect();
        println!(
            "deploy estimate: flash {} B, arena {} B; {}{}",
            d.blob_bytes,
            d.arena_bytes,
            cores.join(", "),
            match &section.board {
                Some((b, None)) => format!("; fits {}", b.name),
                Some((_, Some(why))) => format!("; {why}"),
                None => String::new(),
            }
        );
    }
    if let Some(why) = outcome.refusal() {
        eprintln!(
            "error: {why}; no model written (report: {})",
            md_path.display()
        );
        return Ok(ExitCode::from(2));
    }
    if !conv.report.passed {
        eprintln!(
            "error: blur verification failed; no model written (report: {})",
            md_path.display()
        );
        return Ok(ExitCode::from(2));
    }
    let q = &outcome.quantized;
    save_model(&conv.model, &files.float, model.base_dir())?;
    write_atomic(&files.qdq, &q.qdq.encode_to_vec())?;
    write_atomic(&files.tract, &q.qlinear.encode_to_vec())?;
    if let Some(blob) = &outcome.nqm {
        write_atomic(&files.nqm, blob)?;
    }
    if args.emit.iter().any(|e| e == "nnef") {
        let p = crate::cli::write_nnef(&conv.model, out, &shape)?;
        if !args.quiet {
            println!(
                "wrote {} (float; tract 0.23.9 has no NNEF form for its int8 QuantizeLinear)",
                p.display()
            );
        }
    }
    if !args.quiet {
        println!("{}", conv.report.summary);
        println!(
            "wrote {}, {}, {} and {}",
            files.float.display(),
            files.qdq.display(),
            files.tract.display(),
            md_path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The gate's options from the flags.
fn gate_options(args: &Args) -> Result<GateOptions> {
    let corruptions: Vec<Corruption> = match &args.corruptions {
        Some(v) => v.iter().map(|s| s.parse()).collect::<Result<_, _>>()?,
        None => Corruption::all().collect(),
    };
    Ok(GateOptions {
        eval: EvalOptions {
            corruptions,
            severities: args
                .severities
                .clone()
                .unwrap_or_else(|| vec![1, 2, 3, 4, 5]),
            limit: Some(args.eval_limit),
            seed: args.seed,
            progress: !args.quiet,
            consistency: Some(nyquist_runtime::eval::Consistency {
                max_shift: None,
                corrupted: false,
            }),
            ..EvalOptions::default()
        },
        mce_tolerance: args.mce_tolerance,
        acc_tolerance: args.acc_tolerance,
        consistency_tolerance: args.consistency_tolerance,
        consistency_images: args.consistency_images,
        disabled: args.no_gate,
    })
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The artifacts of a quantizing run.
struct Files {
    float: PathBuf,
    qdq: PathBuf,
    tract: PathBuf,
    svg: PathBuf,
    nqm: PathBuf,
}

impl Files {
    fn new(out: &Path) -> Self {
        Files {
            float: out.to_path_buf(),
            qdq: sibling(out, ".int8.onnx"),
            tract: sibling(out, ".int8.tract.onnx"),
            svg: sibling(out, ".ce.svg"),
            nqm: sibling(out, ".nqm"),
        }
    }

    fn names(&self) -> Vec<String> {
        [&self.float, &self.qdq, &self.tract, &self.svg]
            .iter()
            .map(|p| file_name(p))
            .collect()
    }
}
