//! The int8 branch of a conversion as one library call: quantize the
//! converted model, run the robustness gate on real images, keep the fewest
//! layers in float when asked to repair a failing gate, and encode the `.nqm`
//! blob and check it against the QDQ model.
//!
//! ```text
//! pipeline::convert ─► Conversion ─► int8::run(Int8Inputs, Int8Options) ─► Int8Outcome
//!                                      quantize → gate (original, converted, int8)
//!                                      → repair (optional) → nqm::export + nqm::verify
//! ```
//!
//! Nothing here writes a file or prints: the outcome carries every artifact
//! in memory and the verdicts that decide whether a caller may write them
//! ([`Int8Outcome::refusal`]); `nyquist-convert` is one such caller.

use std::path::Path;

use nyquist_runtime::dataset::Dataset;
use nyquist_runtime::eval::image_inputs;
use nyquist_runtime::Preprocess;
use prost::Message;

use crate::error::ConvertError;
use crate::gate::{self, Candidate, GateCache, GateOptions, ModelFigures, Verdict};
use crate::pipeline::Conversion;
use crate::report::{layer_table, QuantSection};
use nyquist_onnx::pb::ModelProto;
use nyquist_quant::{quantize, QuantOptions, Quantized};

/// Gate images the repair ranks the layers on (each clean and once corrupted).
pub const REPAIR_PROBE_IMAGES: usize = 32;

/// The least top-1 agreement of the `.nqm` engine with the QDQ model for the
/// blob to be written.
pub const NQM_MIN_AGREEMENT: f64 = 0.99;

/// What to do after quantizing.
#[derive(Debug, Clone)]
pub struct Int8Options {
    /// Calibration method, exclusions, equalization, bias correction.
    pub quant: QuantOptions,
    /// The robustness gate; `None` skips it (no evaluation images).
    pub gate: Option<GateOptions>,
    /// When the gate fails, search the fewest layers to keep in float.
    pub repair: bool,
    /// Encode the `.nqm` firmware blob and check it.
    pub nqm: bool,
    /// Check the blob against this board's flash and RAM (needs `nqm`).
    pub board: Option<crate::nqm::deploy::Board>,
}

/// What the int8 branch works on.
#[derive(Debug, Clone, Copy)]
pub struct Int8Inputs<'a> {
    /// The original model (serialized, external data inlined): the gate's reference.
    pub original: &'a [u8],
    /// The same, decoded (the per-layer MAC table compares it with the int8 model).
    pub original_model: &'a ModelProto,
    /// The converted float model and its report.
    pub conversion: &'a Conversion,
    /// Folder external tensor data is resolved against.
    pub base_dir: Option<&'a Path>,
    /// Calibration inputs (preprocessed, the model's input shape).
    pub calib: &'a [Vec<f32>],
    /// The model's preprocessing (gate images, repair probes).
    pub preprocess: &'a Preprocess,
    /// The gate's images (needed when [`Int8Options::gate`] is set).
    pub eval: Option<&'a Dataset>,
    /// Inputs the `.nqm` blob is checked on (evaluation, else calibration images).
    pub nqm_check: &'a [Vec<f32>],
    /// File names of the original, converted and int8 models, for the report.
    pub names: [&'a str; 3],
}

/// Everything the int8 branch produced, in memory.
#[derive(Debug)]
pub struct Int8Outcome {
    /// The quantized model (after repair, when one was made and passed).
    pub quantized: Quantized,
    /// The report section: quantizer report, gate figures and verdict, repair, `.nqm` check.
    pub section: QuantSection,
    /// The `.nqm` blob, when asked for.
    pub nqm: Option<Vec<u8>>,
}

impl Int8Outcome {
    /// Why the artifacts must not be written, if they must not: the gate
    /// failed, or the `.nqm` blob does not reproduce the QDQ model.
    pub fn refusal(&self) -> Option<String> {
        if let Some(v) = self.section.verdict.as_ref().filter(|v| !v.passed) {
            return Some(format!("the int8 model did not pass the gate: {}", v.line));
        }
        if let Some((_, check)) = &self.section.nqm {
            if check.top1_agreement < NQM_MIN_AGREEMENT || check.max_lsb > check.bound_lsb {
                return Some(format!(
                    "the .nqm blob does not reproduce the QDQ model (top-1 agreement {:.2}% < {:.0}% or |Δ| {} > {} LSB)",
                    100.0 * check.top1_agreement,
                    100.0 * NQM_MIN_AGREEMENT,
                    check.max_lsb,
                    check.bound_lsb
                ));
            }
        }
        if let Some((_, Some(why))) = &self.section.board {
            return Some(format!("the .nqm blob {why}"));
        }
        None
    }
}

/// Quantize, gate, repair and export. `log` receives one line per repair
/// attempt (progress for people; nothing else depends on it).
pub fn run(
    inp: &Int8Inputs,
    opts: &Int8Options,
    mut log: impl FnMut(&str),
) -> Result<Int8Outcome, ConvertError> {
    let conv = inp.conversion;
    let shape = conv.report.input_shape.clone();
    let quant_with = |extra: &[String]| -> Result<Quantized, ConvertError> {
        let mut o = opts.quant.clone();
        o.exclude.extend(extra.iter().cloned());
        Ok(quantize(&conv.model, inp.calib, &shape, inp.base_dir, &o)?)
    };
    let mut q = quant_with(&[])?;
    let mut section = QuantSection {
        report: q.report.clone(),
        figures: vec![],
        verdict: None,
        files: vec![],
        nqm: None,
        repair: None,
        deployment: None,
        board: None,
    };
    if let Some(gopts) = &opts.gate {
        let data = inp.eval.ok_or_else(|| {
            ConvertError::Usage("the gate needs evaluation images (--eval)".into())
        })?;
        let converted = conv.model.encode_to_vec();
        let layers = layer_table(inp.original_model, &q.qdq, &shape)?;
        let macs_int8 = layers.total_after.macs;
        let mut cache = GateCache::default();
        let gate_of = |q: &Quantized,
                       cache: &mut GateCache|
         -> Result<(Vec<ModelFigures>, Verdict), ConvertError> {
            let tract_int8 = q.qlinear.encode_to_vec();
            let candidates = [
                Candidate {
                    role: "original",
                    file: inp.names[0].to_string(),
                    bytes: inp.original,
                    macs: conv.report.layers.total_before.macs,
                },
                Candidate {
                    role: "converted",
                    file: inp.names[1].to_string(),
                    bytes: &converted,
                    macs: conv.report.layers.total_after.macs,
                },
                Candidate {
                    role: "int8",
                    file: inp.names[2].to_string(),
                    bytes: &tract_int8,
                    macs: macs_int8,
                },
            ];
            gate::run_cached(&candidates, inp.preprocess, data, gopts, cache)
        };
        let (mut figs, mut verdict) = gate_of(&q, &mut cache)?;
        if !verdict.passed && opts.repair {
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
            let probe = probe_images(data, inp.preprocess, gopts, REPAIR_PROBE_IMAGES)?;
            let ranked: Vec<(String, f64, u64)> =
                nyquist_quant::analysis::local_costs(&q.float, &q.qdq, &q.graph, &probe, &shape)?
                    .into_iter()
                    .map(|(node, db, _)| {
                        let macs = macs_of(&node);
                        (node, db, macs)
                    })
                    .collect();
            log(&format!(
                "{}\nrepair: searching the fewest of {} layers to keep in float",
                verdict.line,
                ranked.len()
            ));
            let mut last: Option<(Quantized, Vec<ModelFigures>, Verdict)> = None;
            let rep = crate::repair::search(&ranked, macs_int8, verdict.line.clone(), |float| {
                let q2 = quant_with(float)?;
                let (f2, v2) = gate_of(&q2, &mut cache)?;
                let r = (v2.passed, v2.line.clone());
                log(&format!(
                    "repair: {} layers in float: {}",
                    float.len(),
                    v2.line
                ));
                last = Some((q2, f2, v2));
                Ok(r)
            })?;
            if rep.passed {
                if let Some((q2, f2, v2)) = last {
                    q = q2;
                    figs = f2;
                    verdict = v2;
                }
            }
            section.repair = Some(rep);
        }
        section.report = q.report.clone();
        section.figures = figs;
        section.verdict = Some(verdict);
    }
    let nqm = if opts.nqm {
        let (blob, info) = crate::nqm::export(&q.float, &q.graph, &q.params, &shape, inp.base_dir)?;
        let check = crate::nqm::verify(&blob, &q.qdq, inp.nqm_check, &shape)?;
        section.nqm = Some((info, check));
        let d = crate::nqm::deploy::estimate(&blob)?;
        section.board = opts.board.map(|b| (b, d.misfit(&b)));
        section.deployment = Some(d);
        Some(blob)
    } else {
        None
    };
    Ok(Int8Outcome {
        quantized: q,
        section,
        nqm,
    })
}

/// The first `n` images of the gate's data, clean and once corrupted (the
/// gate's corruptions in turn, at its highest severity), preprocessed.
fn probe_images(
    data: &Dataset,
    pre: &Preprocess,
    gopts: &GateOptions,
    n: usize,
) -> Result<Vec<Vec<f32>>, ConvertError> {
    let conditions: Vec<(nyquist_corrupt::Corruption, u8)> = gopts
        .eval
        .corruptions
        .iter()
        .filter_map(|&c| gopts.eval.severities.iter().max().map(|&s| (c, s)))
        .collect();
    let mut out = Vec::with_capacity(2 * n);
    for (i, item) in data.clean.iter().take(n).enumerate() {
        let img = item.source.load()?;
        // The clean input, and one of the gate's conditions in turn.
        let cond = conditions.get(i % conditions.len().max(1)).copied();
        let mut flat = Vec::new();
        image_inputs(pre, &img, cond.as_slice(), gopts.eval.seed, i, &mut flat)?;
        out.extend(
            flat.chunks_exact(pre.shape.iter().product())
                .map(<[f32]>::to_vec),
        );
    }
    Ok(out)
}
