//! # nyquist-quant
//!
//! int8 post-training quantization (`docs/architecture.md`, "int8 arithmetic"):
//! per-channel symmetric int8 weights in [−127, 127], per-tensor asymmetric int8
//! activations whose range always contains 0, int32 bias at scale `s_x·s_w[o]`.
//!
//! ```text
//! float model ─ graph (ops, fusions, LUT activations) ─ [cross-layer equalization]
//!             ─ calibrate (tract, all activations exposed, rayon) ─ ranges (minmax / percentile / entropy / mse)
//!             ─ [bias correction] ─ QDQ ONNX (onnxruntime, tract) ─ QOperator ONNX (QLinearConv, QLinearAdd …)
//! ```
//!
//! The entry point is [`quantize`]; `nyquist-convert` wraps it with the
//! robustness gate, repair and the `.nqm` export (`nyquist_convert::int8`).
//! The bundled model, calibrated on four synthetic images:
//!
//! ```
//! use nyquist_quant::{quantize, QuantOptions};
//!
//! let model = nyquist_onnx::load_model("../models/fmnist/resnet18r-blurafterconv.onnx".as_ref())?;
//! let calib: Vec<Vec<f32>> = (0..4)
//!     .map(|k| (0..32 * 32).map(|i| ((i * (k + 3)) % 97) as f32 / 97.0).collect())
//!     .collect();
//! let q = quantize(&model.proto, &calib, &[1, 1, 32, 32], model.base_dir(), &QuantOptions::default())?;
//! assert_eq!(q.report.calibration_images, 4);
//! assert!(q.report.qlinear_convs > 0, "convolutions run as QLinearConv");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod analysis;
pub mod calib;
pub mod equalize;
pub mod error;
pub mod graph;
pub mod params;
pub mod qdq;
pub mod qlinear;

pub use calib::Method;
pub use error::QuantError;
pub use graph::{QGraph, QOp, Weighted};
pub use params::{QParams, TensorQuant};

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use nyquist_onnx::error::Located as _;
use nyquist_onnx::pb::ModelProto;
use params::WeightQuant;

/// Quantizer options.
#[derive(Debug, Clone)]
pub struct QuantOptions {
    /// Activation range method.
    pub method: Method,
    /// Correct each conv's bias for the mean error its quantized weights make.
    pub bias_correction: bool,
    /// Cross-layer equalization of Conv → ReLU → Conv pairs first.
    pub equalize: bool,
    /// Nodes to leave in float.
    pub exclude: Vec<String>,
    /// Progress bar on a terminal.
    pub progress: bool,
}

impl Default for QuantOptions {
    fn default() -> Self {
        QuantOptions {
            method: Method::Percentile(99.99),
            bias_correction: false,
            equalize: false,
            exclude: vec![],
            progress: false,
        }
    }
}

/// What the quantizer did, for the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct QuantReport {
    /// Calibration images.
    pub calibration_images: usize,
    /// Range method.
    pub method: String,
    /// Per activation tensor: method, range, scale, zero point.
    pub tensors: BTreeMap<String, (String, f32, f32, f32, i8)>,
    /// Conv → ReLU → Conv pairs equalized.
    pub equalized: Vec<(String, String)>,
    /// Ops whose bias was corrected, with the largest correction in bias units.
    pub bias_corrected: Vec<(String, f32)>,
    /// Nodes left in float, and why.
    pub float_nodes: Vec<(String, String)>,
    /// Smooth activations marked for lookup tables (GELU, SiLU …).
    pub luts: Vec<(String, String)>,
    /// Convolutions running as QLinearConv in the tract form.
    pub qlinear_convs: usize,
    /// Every operator of the tract form that runs on int8 tensors.
    pub qoperators: qlinear::Rewritten,
    /// Per-layer quantization error, worst first (`analysis`).
    pub layers: Vec<analysis::LayerError>,
}

/// The quantized model in its forms.
#[derive(Debug, Clone)]
pub struct Quantized {
    /// The float model that was calibrated (after equalization).
    pub float: ModelProto,
    /// The quantizer's view of it.
    pub graph: QGraph,
    /// Every parameter.
    pub params: QParams,
    /// QDQ ONNX (onnxruntime, tract).
    pub qdq: ModelProto,
    /// QLinearConv ONNX (tract's int8 kernels).
    pub qlinear: ModelProto,
    /// What was done.
    pub report: QuantReport,
}

/// Quantize `model` (a float model, e.g. the converter's output) with the
/// preprocessed calibration inputs `calib` of shape `shape`.
pub fn quantize(
    model: &ModelProto,
    calib: &[Vec<f32>],
    shape: &[usize],
    base: Option<&Path>,
    opts: &QuantOptions,
) -> Result<Quantized, QuantError> {
    let mut float = model.clone();
    let g = float
        .graph
        .as_mut()
        .ok_or_else(|| QuantError::graph("no graph"))?;
    let mut qg = graph::analyse(g, base, &opts.exclude)?;
    let mut report = QuantReport {
        calibration_images: calib.len(),
        method: opts.method.to_string(),
        ..Default::default()
    };
    if opts.equalize {
        report.equalized = equalize::equalize(g, &qg, base)?;
        qg = graph::analyse(g, base, &opts.exclude)?;
    }
    let g = float
        .graph
        .as_ref()
        .ok_or_else(|| QuantError::graph("no graph"))?;
    let mut observed: Vec<String> = qg.calibrated.clone();
    for op in &qg.ops {
        if matches!(op, QOp::Conv { .. } | QOp::Gemm { .. }) {
            for i in op.inputs() {
                observed.push(qg.root(i).to_string());
            }
        }
    }
    observed.sort();
    observed.dedup();
    let obs = calib::observe(&float, &observed, shape, calib, opts.progress)?;
    let mut qp = QParams::default();
    for t in &qg.calibrated {
        let o = obs
            .get(t)
            .ok_or_else(|| QuantError::tensor(t.clone(), "not observed during calibration"))?;
        let (lo, hi) = o.range(opts.method);
        let tq = TensorQuant::from_range(lo, hi);
        report.tensors.insert(
            t.clone(),
            (opts.method.to_string(), lo, hi, tq.scale, tq.zero_point),
        );
        qp.methods.insert(t.clone(), opts.method.to_string());
        qp.tensors.insert(t.clone(), tq);
    }
    for (alias, root) in &qg.aliases {
        if let Some(tq) = qp.tensors.get(root).copied() {
            qp.tensors.insert(alias.clone(), tq);
        }
    }
    for op in &qg.ops {
        if let QOp::Lut { nodes, kind, .. } = op {
            report.luts.push((nodes.join(" → "), format!("{kind:?}")));
            continue;
        }
        let Some(Weighted {
            first,
            input,
            weight,
            bias,
            axis,
        }) = op.weighted()
        else {
            continue;
        };
        let w = QGraph::weight(g, weight, base)?;
        let wq = WeightQuant::per_channel(&w, axis);
        let out_ch = w.dims[axis];
        let mut b = match bias {
            Some(b) => QGraph::weight(g, b, base)?.to_f32(),
            None => vec![0.0; out_ch],
        };
        if opts.bias_correction {
            if let Some(means) = obs.get(qg.root(input)).map(|o| o.channel_means()) {
                let corr = bias_correction(
                    &w.to_f32(),
                    &wq.dequantized(axis),
                    &w.dims,
                    axis,
                    op,
                    &means,
                );
                let worst = corr.iter().fold(0f32, |m, v| m.max(v.abs()));
                for (bv, c) in b.iter_mut().zip(&corr) {
                    *bv -= c;
                }
                report.bias_corrected.push((first.to_string(), worst));
            }
        }
        qp.biases.insert(first.to_string(), b);
        qp.weights.insert(weight.to_string(), wq);
    }
    // A quantized bias needs a bias input: add zero biases where a conv has none.
    let mut float_b = float.clone();
    add_missing_biases(&mut float_b, &mut qg)?;
    let qdq = qdq::build(&float_b, &qg, &qp, base)?;
    report.layers = analysis::per_layer(
        &float,
        &qdq,
        &qg,
        &qp,
        &report.tensors,
        &obs,
        calib,
        shape,
        base,
    )?;
    let (qlinear, done) = qlinear::from_qdq(&qdq)?;
    report.qlinear_convs = done.convs;
    report.qoperators = done;
    report.float_nodes = qg.float_nodes.clone();
    Ok(Quantized {
        float,
        graph: qg,
        params: qp,
        qdq,
        qlinear,
        report,
    })
}

/// `Δb[o] = Σ (W̃ − W)[o, i, …] · E[x_i]`: the mean output error the weight
/// rounding makes, given the mean of each input channel.
fn bias_correction(
    w: &[f32],
    wq: &[f32],
    dims: &[usize],
    axis: usize,
    op: &QOp,
    means: &[f32],
) -> Vec<f32> {
    let out_ch = dims[axis];
    let mut corr = vec![0f64; out_ch];
    match op {
        QOp::Conv { geom, .. } => {
            let (cin_g, k) = (dims[1], dims[2..].iter().product::<usize>());
            let per_group_out = out_ch / geom.group.max(1);
            for (o, c) in corr.iter_mut().enumerate() {
                let grp = o / per_group_out.max(1);
                for i in 0..cin_g {
                    let m = means.get(grp * cin_g + i).copied().unwrap_or(0.0) as f64;
                    let base = (o * cin_g + i) * k;
                    let d: f64 = (0..k).map(|t| (wq[base + t] - w[base + t]) as f64).sum();
                    *c += d * m;
                }
            }
        }
        _ => {
            // Gemm: weight [N, K] (axis 0) or [K, N] (axis 1).
            let (n, kk) = if axis == 0 {
                (dims[0], dims[1])
            } else {
                (dims[1], dims[0])
            };
            for (o, c) in corr.iter_mut().enumerate().take(n) {
                for k in 0..kk {
                    let idx = if axis == 0 { o * kk + k } else { k * n + o };
                    *c += (wq[idx] - w[idx]) as f64 * means.get(k).copied().unwrap_or(0.0) as f64;
                }
            }
        }
    }
    corr.into_iter().map(|v| v as f32).collect()
}

fn add_missing_biases(m: &mut ModelProto, qg: &mut QGraph) -> Result<(), QuantError> {
    let g = m
        .graph
        .as_mut()
        .ok_or_else(|| QuantError::graph("no graph"))?;
    let mut namer = nyquist_onnx::graph::Namer::new(g);
    for op in qg.ops.iter_mut() {
        let (QOp::Conv {
            nodes,
            bias,
            weight,
            ..
        }
        | QOp::Gemm {
            nodes,
            bias,
            weight,
            ..
        }) = op
        else {
            continue;
        };
        if bias.is_some() {
            continue;
        }
        let ix = nyquist_onnx::graph::GraphIndex::new(g);
        let Some(w) = ix.const_proto(g, weight) else {
            continue;
        };
        let out = if matches!(
            g.node
                .iter()
                .find(|n| nyquist_onnx::graph::node_label(n) == nodes[0])
                .map(|n| n.op_type()),
            Some("Gemm")
        ) {
            let tb = g
                .node
                .iter()
                .find(|n| nyquist_onnx::graph::node_label(n) == nodes[0])
                .and_then(|n| nyquist_onnx::attr::int(n, "transB"))
                .unwrap_or(0);
            w.dims[if tb == 1 { 0 } else { 1 }] as usize
        } else {
            w.dims[0] as usize
        };
        let name = namer.fresh(&format!("{}_zero_bias", nodes[0]));
        g.initializer
            .push(nyquist_onnx::Tensor::f32(vec![out], vec![0.0; out]).to_proto(&name));
        if let Some(n) = g
            .node
            .iter_mut()
            .find(|n| nyquist_onnx::graph::node_label(n) == nodes[0])
        {
            n.input.resize(3, String::new());
            n.input[2] = name.clone();
        }
        *bias = Some(name);
    }
    Ok(())
}
