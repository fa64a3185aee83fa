//! `nyquist-convert … --quantize int8`: calibrate, quantize, run the robustness
//! gate, report; write the artifacts only when the gate passes (the report is
//! written either way). Exit code 2 when the gate fails.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use nyquist_corrupt::Corruption;
use nyquist_runtime::eval::EvalOptions;
use nyquist_runtime::{dataset, ModelInfo, Preprocess};
use prost::Message;

use crate::cli::{calib_samples, report_paths, Args};
use nyquist_convert::gate::{self, Candidate, GateCache, GateOptions};
use nyquist_convert::onnx::io::write_atomic;
use nyquist_convert::onnx::{save_model, Model};
use nyquist_convert::pipeline::Conversion;
use nyquist_convert::quant::{quantize, QuantOptions, Quantized};
use nyquist_convert::report::{layer_table, QuantSection};

/// Gate images the repair ranks the layers on (each clean and once corrupted).
const REPAIR_PROBE_IMAGES: usize = 32;

/// The first `n` images of the gate's data, clean and once corrupted (the
/// gate's corruptions in turn, at its highest severity), preprocessed.
fn probe_images(
    data: &dataset::Dataset,
    pre: &Preprocess,
    gopts: &GateOptions,
    n: usize,
) -> Result<Vec<Vec<f32>>> {
    let conditions: Vec<(nyquist_corrupt::Corruption, u8)> = gopts
        .eval
        .corruptions
        .iter()
        .filter_map(|&c| gopts.eval.severities.iter().max().map(|&s| (c, s)))
        .collect();
    let mut out = Vec::with_capacity(2 * n);
    for (i, item) in data.clean.iter().take(n).enumerate() {
        let img = item.source.load()?;
        let geo = pre.geometry(&img);
        out.push(pre.normalize(&geo));
        if let Some(&(c, s)) = conditions.get(i % conditions.len().max(1)) {
            let x = nyquist_corrupt::corrupt(&geo, c, s, gopts.eval.seed.wrapping_add(i as u64))
                .with_context(|| item.source.describe())?;
            out.push(pre.normalize(&x));
        }
    }
    Ok(out)
}

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

/// The quantization branch of the CLI.
pub fn run(args: &Args, model: &Model, mut conv: Conversion, out: &Path) -> Result<ExitCode> {
    let original = model.inlined_bytes()?;
    let info = ModelInfo::from_onnx_bytes(&original, &model.path)?;
    let mut pre = Preprocess::from_info(&info)?;
    let shape = conv.report.input_shape.clone();
    if shape.len() == 4 {
        pre.shape = [shape[0], shape[1], shape[2], shape[3]];
    }
    let calib_dir = args.calib.as_deref().context("--calib")?;
    let calib = calib_samples(calib_dir, &pre, args.calib_limit)?;
    let qopts = QuantOptions {
        method: args.calib_method.parse().map_err(anyhow::Error::msg)?,
        bias_correction: args.bias_correction,
        equalize: args.equalize,
        exclude: args.exclude.clone(),
        progress: !args.quiet,
    };
    let quant_with = |extra: &[String]| -> Result<Quantized> {
        let mut o = qopts.clone();
        o.exclude.extend(extra.iter().cloned());
        Ok(quantize(&conv.model, &calib, &shape, model.base_dir(), &o)?)
    };
    let mut q = quant_with(&[])?;
    let converted = conv.model.encode_to_vec();
    let files = Files::new(out);
    let mut section = QuantSection {
        report: q.report.clone(),
        figures: vec![],
        verdict: None,
        files: files.names(),
        nqm: None,
        repair: None,
    };
    if let Some(eval_dir) = &args.eval {
        let data = dataset::open(eval_dir, &args.eval_split, info.labels()?.as_deref())?;
        let corruptions: Vec<Corruption> = match &args.corruptions {
            Some(v) => v.iter().map(|s| s.parse()).collect::<Result<_, _>>()?,
            None => Corruption::all().collect(),
        };
        let gopts = GateOptions {
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
        };
        let layers = layer_table(&model.inlined()?, &q.qdq, &shape)?;
        let macs_int8 = layers.total_after.macs;
        let mut cache = GateCache::default();
        let gate_of = |q: &Quantized, cache: &mut GateCache| {
            let tract_int8 = q.qlinear.encode_to_vec();
            let candidates = [
                Candidate {
                    role: "original",
                    file: file_name(&model.path),
                    bytes: &original,
                    macs: conv.report.layers.total_before.macs,
                },
                Candidate {
                    role: "converted",
                    file: file_name(&files.float),
                    bytes: &converted,
                    macs: conv.report.layers.total_after.macs,
                },
                Candidate {
                    role: "int8",
                    file: file_name(&files.tract),
                    bytes: &tract_int8,
                    macs: macs_int8,
                },
            ];
            gate::run_cached(&candidates, &pre, &data, &gopts, cache)
        };
        let (mut figs, mut verdict) = gate_of(&q, &mut cache)?;
        if !verdict.passed && args.repair {
            let macs_of = |node: &str| {
                layers
                    .rows
                    .iter()
                    .find(|r| r.name == node)
                    .and_then(|r| r.after.as_ref().or(r.before.as_ref()))
                    .map_or(0, |c| c.macs)
            };
            // The cheap estimate, on the gate's own images (clean and
            // corrupted): each layer's local quantization noise.
            let probe = probe_images(&data, &pre, &gopts, REPAIR_PROBE_IMAGES)?;
            let ranked: Vec<(String, f64, u64)> = nyquist_convert::quant::analysis::local_costs(
                &q.float, &q.qdq, &q.graph, &probe, &shape,
            )?
            .into_iter()
            .map(|(node, db, _)| {
                let macs = macs_of(&node);
                (node, db, macs)
            })
            .collect();
            if !args.quiet {
                eprintln!(
                    "{}\nrepair: searching the fewest of {} layers to keep in float",
                    verdict.line,
                    ranked.len()
                );
            }
            let mut last: Option<(Quantized, Vec<gate::ModelFigures>, gate::Verdict)> = None;
            let rep = nyquist_convert::repair::search(
                &ranked,
                macs_int8,
                verdict.line.clone(),
                |float| {
                    let q2 = quant_with(float).map_err(|e| {
                        nyquist_convert::error::ConvertError::Usage(format!("{e:#}"))
                    })?;
                    let (f2, v2) = gate_of(&q2, &mut cache)?;
                    let r = (v2.passed, v2.line.clone());
                    if !args.quiet {
                        eprintln!("repair: {} layers in float: {}", float.len(), v2.line);
                    }
                    last = Some((q2, f2, v2));
                    Ok(r)
                },
            )?;
            if rep.passed {
                if let Some((q2, f2, v2)) = last {
                    q = q2;
                    figs = f2;
                    verdict = v2;
                }
            }
            section.repair = Some(rep);
        }
        crate::plots::ce_svg(&figs, &files.svg)?;
        section.report = q.report.clone();
        section.figures = figs;
        section.verdict = Some(verdict);
    }
    if let Some(v) = &section.verdict {
        println!("{}", v.line);
    }
    if let Some(r) = &section.repair {
        println!("{}", r.summary());
    }
    let qdq = q.qdq.encode_to_vec();
    let tract_int8 = q.qlinear.encode_to_vec();
    let want_nqm = args.emit.iter().any(|e| e == "nqm");
    let nqm_blob = if want_nqm {
        let (blob, info) =
            nyquist_convert::nqm::export(&q.float, &q.graph, &q.params, &shape, model.base_dir())?;
        // Check the blob on the evaluation images (else the calibration images).
        let check_inputs = match &args.eval {
            Some(dir) => {
                crate::cli::eval_samples(
                    "--eval",
                    &args.model,
                    &original,
                    dir,
                    args.eval_limit,
                    &shape,
                )?
                .inputs
            }
            None => calib.clone(),
        };
        let check = nyquist_convert::nqm::verify(&blob, &q.qdq, &check_inputs, &shape)?;
        section.nqm = Some((info, check));
        section.files.push(file_name(&files.nqm));
        Some(blob)
    } else {
        None
    };
    conv.report.quantization = Some(section.clone());
    let (md_path, json_path) = report_paths(out);
    write_atomic(&md_path, conv.report.to_markdown().as_bytes())?;
    write_atomic(&json_path, conv.report.to_json().as_bytes())?;
    if let Some(v) = &section.verdict {
        if !v.passed {
            eprintln!(
                "error: the int8 model did not pass the gate; no model written (report: {})",
                md_path.display()
            );
            return Ok(ExitCode::from(2));
        }
    }
    if !conv.report.passed {
        eprintln!(
            "error: blur verification failed; no model written (report: {})",
            md_path.display()
        );
        return Ok(ExitCode::from(2));
    }
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
        if check.top1_agreement < 0.99 || check.max_lsb > check.bound_lsb {
            eprintln!("error: the .nqm blob does not reproduce the QDQ model (top-1 agreement < 99% or |Δ| > {} LSB); nothing written", check.bound_lsb);
            return Ok(ExitCode::from(2));
        }
    }
    save_model(&conv.model, &files.float, model.base_dir())?;
    write_atomic(&files.qdq, &qdq)?;
    write_atomic(&files.tract, &tract_int8)?;
    if let Some(blob) = &nqm_blob {
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
