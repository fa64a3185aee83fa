//! Per-layer quantization error: which tensor's int8 form departs most from
//! float, and why (a range that clips, weights that quantize coarsely, or
//! error accumulated upstream) — the question quantizer users ask when
//! accuracy drops (AIMET's QuantAnalyzer and onnxruntime's `qdq_loss_debug`
//! answer it in Python; here it is part of the conversion report).
//!
//! For every calibrated activation `t`, over the first calibration images:
//!
//! * **SQNR** `10·log10(Σ f² / Σ (q − f)²)` dB, `f` the float model's `t`, `q`
//!   the QDQ model's dequantized `t` (run as ONNX defines it, so upstream
//!   error is included: the figure of the int8 model as deployed);
//! * the **calibration range** chosen, and the **share of values clipped** by
//!   it (from calibration's histogram of `t`);
//! * for a convolution's or a classifier's output, its **weight SQNR**
//!   `10·log10(Σ w² / Σ (ŵ − w)²)` of the per-channel int8 weights.
//!
//! Rows are ranked worst SQNR first.

use std::collections::HashMap;
use std::path::Path;

use nyquist_runtime::engine::{Engine, Int8Mode};
use prost::Message;
use rayon::prelude::*;
use serde::Serialize;

use super::calib::{Observer, BINS};
use super::graph::{QGraph, QOp};
use super::params::QParams;
use crate::error::QuantError;
use nyquist_onnx::error::Located as _;
use nyquist_onnx::pb::{ModelProto, ValueInfoProto};

/// Calibration images the SQNR is measured on (at most).
pub const SQNR_IMAGES: usize = 64;

/// One row of the per-layer table.
#[derive(Debug, Clone, Serialize)]
pub struct LayerError {
    /// The activation tensor.
    pub tensor: String,
    /// The operator producing it (first ONNX node of the quantized op).
    pub op: String,
    /// Range method.
    pub method: String,
    /// Calibration range.
    pub range: (f32, f32),
    /// Share of calibration values outside the range (0–1).
    pub clipped: f64,
    /// SQNR of the int8 model's tensor against float (dB).
    pub sqnr_db: f64,
    /// SQNR of the producing op's int8 weights (dB), for convolutions and
    /// the classifier.
    pub weight_sqnr_db: Option<f64>,
}

fn sqnr(signal: f64, noise: f64) -> f64 {
    if noise <= 0.0 {
        f64::INFINITY
    } else {
        10.0 * (signal / noise).log10()
    }
}

/// Signal and noise power of `q` against the reference `f`: `(Σ f², Σ (q − f)²)`.
fn powers(f: &[f32], q: &[f32]) -> (f64, f64) {
    f.iter().zip(q).fold((0.0, 0.0), |(s, n), (&a, &b)| {
        (s + (a as f64).powi(2), n + (b as f64 - a as f64).powi(2))
    })
}

/// Share of the values `o` saw outside `[lo, hi]`, at histogram resolution.
pub(crate) fn clipped_share(o: &Observer, lo: f32, hi: f32) -> f64 {
    let total: u64 = o.hist.iter().sum();
    if total == 0 || o.max <= o.min {
        return 0.0;
    }
    let width = (o.max - o.min) as f64 / BINS as f64;
    let outside: u64 = o
        .hist
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            let (a, b) = (
                o.min as f64 + *i as f64 * width,
                o.min as f64 + (*i + 1) as f64 * width,
            );
            b <= lo as f64 || a >= hi as f64
        })
        .map(|(_, &n)| n)
        .sum();
    outside as f64 / total as f64
}

/// Where the QDQ model holds the dequantized value of each activation: the
/// output of the `DequantizeLinear` fed by the `QuantizeLinear` of `t`.
fn dequantized_names(qdq: &ModelProto) -> HashMap<String, String> {
    let Some(g) = qdq.graph.as_ref() else {
        return HashMap::new();
    };
    let mut q_of: HashMap<&str, &str> = HashMap::new(); // Q output → Q input
    for n in g.node.iter().filter(|n| n.op_type() == "QuantizeLinear") {
        q_of.insert(&n.output[0], &n.input[0]);
    }
    let mut map = HashMap::new();
    for n in g.node.iter().filter(|n| n.op_type() == "DequantizeLinear") {
        if let Some(src) = q_of.get(n.input[0].as_str()) {
            // A graph output keeps its name on the dequantized value and
            // quantizes `{t}_float`.
            let t = src.strip_suffix("_float").unwrap_or(src);
            map.insert(t.to_string(), n.output[0].clone());
        }
    }
    map
}

/// Run `model` (as ONNX defines it) on `inputs` with `tensors` exposed and
/// return, per tensor, every image's values concatenated.
fn capture(
    model: &ModelProto,
    tensors: &[String],
    shape: &[usize],
    inputs: &[Vec<f32>],
) -> Result<Vec<Vec<f32>>, QuantError> {
    let mut p = model.clone();
    let g = p.graph.get_or_insert_with(Default::default);
    let first = g.output.len();
    for t in tensors {
        g.output.push(ValueInfoProto {
            name: Some(t.clone()),
            ..Default::default()
        });
    }
    let engine = Engine::from_onnx_bytes_with(
        &p.encode_to_vec(),
        Path::new("<per-layer error>"),
        shape,
        Int8Mode::Simulate,
    )
    .map_err(QuantError::from)?;
    let outs: Vec<Vec<Vec<f32>>> = inputs
        .par_iter()
        .map(|x| {
            engine
                .run(x)
                .map(|o| o.into_iter().skip(first).map(|t| t.data).collect())
                .map_err(QuantError::from)
        })
        .collect::<Result<_, _>>()?;
    Ok((0..tensors.len())
        .map(|k| outs.iter().flat_map(|o| o[k].iter().copied()).collect())
        .collect())
}

/// The per-layer table (see the module docs), worst SQNR first.
#[allow(clippy::too_many_arguments)] // the quantizer's state, as it has it
pub(crate) fn per_layer(
    float: &ModelProto,
    qdq: &ModelProto,
    qg: &QGraph,
    qp: &QParams,
    ranges: &std::collections::BTreeMap<String, (String, f32, f32, f32, i8)>,
    obs: &HashMap<String, Observer>,
    calib: &[Vec<f32>],
    shape: &[usize],
    base: Option<&Path>,
) -> Result<Vec<LayerError>, QuantError> {
    let names = dequantized_names(qdq);
    let tensors: Vec<String> = qg
        .calibrated
        .iter()
        .filter(|t| names.contains_key(*t))
        .cloned()
        .collect();
    let dq: Vec<String> = tensors.iter().map(|t| names[t].clone()).collect();
    let images = &calib[..calib.len().min(SQNR_IMAGES)];
    let f = capture(float, &tensors, shape, images)?;
    let q = capture(qdq, &dq, shape, images)?;
    let g = float
        .graph
        .as_ref()
        .ok_or_else(|| QuantError::graph("no graph"))?;
    // The op producing each tensor, and its weight's SQNR.
    let mut producer: HashMap<&str, (String, Option<f64>)> = HashMap::new();
    for op in &qg.ops {
        let (first, weight, axis) = match op {
            QOp::Conv { nodes, weight, .. } => (&nodes[0], Some(weight), 0),
            QOp::Gemm {
                nodes,
                weight,
                trans_b,
                ..
            } => (&nodes[0], Some(weight), if *trans_b { 0 } else { 1 }),
            other => (&other.nodes()[0], None, 0),
        };
        let wsqnr = match weight.and_then(|w| qp.weights.get(w).map(|wq| (w, wq))) {
            Some((w, wq)) => {
                let wf = QGraph::weight(g, w, base)?.to_f32();
                let wd = wq.dequantized(axis);
                let s: f64 = wf.iter().map(|&v| (v as f64).powi(2)).sum();
                let n: f64 = wf
                    .iter()
                    .zip(&wd)
                    .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
                    .sum();
                Some(sqnr(s, n))
            }
            None => None,
        };
        producer.insert(op.output(), (first.clone(), wsqnr));
    }
    let mut rows: Vec<LayerError> = tensors
        .iter()
        .enumerate()
        .filter_map(|(k, t)| {
            let (method, lo, hi, _, _) = ranges.get(t)?.clone();
            let (s, n) = powers(&f[k], &q[k]);
            let (op, weight_sqnr_db) = producer
                .get(qg.root(t))
                .or_else(|| producer.get(t.as_str()))
                .cloned()
                .unwrap_or_else(|| ("(input)".into(), None));
            Some(LayerError {
                tensor: t.clone(),
                op,
                method,
                range: (lo, hi),
                clipped: obs.get(t).map_or(0.0, |o| clipped_share(o, lo, hi)),
                sqnr_db: sqnr(s, n),
                weight_sqnr_db,
            })
        })
        .collect();
    rows.sort_by(|a, b| a.sqnr_db.total_cmp(&b.sqnr_db));
    Ok(rows)
}

/// Each int8 op's own share of the quantization noise on `images`, for
/// ranking (`--repair`): its **local SQNR** `−10·log10(NSR(out) − max NSR(in))`
/// dB, `NSR = Σ (q − f)² / Σ f²` of a tensor of the QDQ model against float.
/// To first order, uncorrelated noise powers add along the network, so the
/// increment is what the op itself adds; an input that no int8 op produces
/// (the image, or a float layer's output) counts as exact, so the op that
/// reads it carries its quantization. Returns (first node, local SQNR dB,
/// output tensor) per op, worst first.
pub fn local_costs(
    float: &ModelProto,
    qdq: &ModelProto,
    qg: &QGraph,
    images: &[Vec<f32>],
    shape: &[usize],
) -> Result<Vec<(String, f64, String)>, QuantError> {
    let names = dequantized_names(qdq);
    let ops: Vec<&QOp> = qg
        .ops
        .iter()
        .filter(|op| !matches!(op, QOp::PassThrough { .. }) && names.contains_key(op.output()))
        .collect();
    let tensors: Vec<String> = ops.iter().map(|op| op.output().to_string()).collect();
    let dq: Vec<String> = tensors.iter().map(|t| names[t].clone()).collect();
    let f = capture(float, &tensors, shape, images)?;
    let q = capture(qdq, &dq, shape, images)?;
    let nsr: HashMap<&str, f64> = tensors
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let (s, n) = powers(&f[k], &q[k]);
            (t.as_str(), if s > 0.0 { n / s } else { 0.0 })
        })
        .collect();
    let mut rows: Vec<(String, f64, String)> = ops
        .iter()
        .map(|op| {
            let upstream = op
                .inputs()
                .iter()
                .filter_map(|i| nsr.get(qg.root(i)).copied())
                .fold(0.0, f64::max);
            let own = (nsr[op.output()] - upstream).max(0.0);
            (
                op.nodes()[0].clone(),
                sqnr(1.0, own),
                op.output().to_string(),
            )
        })
        .collect();
    rows.sort_by(|a, b| a.1.total_cmp(&b.1));
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqnr_and_clipping_by_hand() {
        // Signal power 4, noise power 0.04: 20 dB.
        assert!((sqnr(4.0, 0.04) - 20.0).abs() < 1e-9);
        assert!(sqnr(1.0, 0.0).is_infinite());
        // Uniform histogram over [0, 8]: a range [0, 6] clips a quarter.
        let o = Observer {
            min: 0.0,
            max: 8.0,
            hist: vec![10; BINS],
            ..Default::default()
        };
        assert!((clipped_share(&o, 0.0, 6.0) - 0.25).abs() < 1e-3);
        assert_eq!(clipped_share(&o, -1.0, 9.0), 0.0);
    }
}
