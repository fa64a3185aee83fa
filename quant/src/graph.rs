//! The quantizer's view of a float model: which nodes become which int8
//! operator, what is fused (ReLU / Clip into the conv or add before them), which
//! smooth activations become lookup tables (GELU as PyTorch exports it below
//! opset 20: `Div(√2) → Erf → Add(1) → Mul(x) → Mul(0.5)`; SiLU `Sigmoid → Mul`),
//! and which tensors need a calibrated range.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::Serialize;

use crate::error::QuantError;
use nyquist_onnx::conv::ConvGeom;
use nyquist_onnx::error::Located as _;
use nyquist_onnx::graph::{node_label, GraphIndex};
use nyquist_onnx::pb::{GraphProto, NodeProto};
use nyquist_onnx::{attr, Tensor};

/// A smooth activation evaluated through a 256-entry table in int8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LutKind {
    /// `x·Φ(x)` (erf form).
    Gelu,
    /// `x·σ(x)`.
    Silu,
    /// `σ(x)`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
}

impl LutKind {
    /// The function, in f64.
    pub fn eval(self, x: f64) -> f64 {
        match self {
            LutKind::Gelu => 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2)),
            LutKind::Silu => x / (1.0 + libm::exp(-x)),
            LutKind::Sigmoid => 1.0 / (1.0 + libm::exp(-x)),
            LutKind::Tanh => libm::tanh(x),
        }
    }
}

/// An activation fused into the op before it (exact on int8: a clamp).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Fused {
    /// None.
    None,
    /// ReLU.
    Relu,
    /// Clip to [lo, hi].
    Clip(f32, f32),
}

/// One quantized operator.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "op")]
pub enum QOp {
    /// 2-D convolution (any kernel, stride, padding, groups) with optional fused clamp.
    Conv {
        /// ONNX node names (conv, then a fused activation).
        nodes: Vec<String>,
        /// Input tensor.
        input: String,
        /// Output tensor (after the fused activation).
        output: String,
        /// Name of the conv's weight input.
        weight: String,
        /// Name of the conv's bias input, if any.
        bias: Option<String>,
        /// Geometry.
        #[serde(skip)]
        geom: ConvGeom,
        /// Fused activation.
        fused: Fused,
    },
    /// Fully connected (`Gemm`, weight `[N, K]` after transB).
    Gemm {
        /// Node names.
        nodes: Vec<String>,
        /// Input.
        input: String,
        /// Output.
        output: String,
        /// Weight input name.
        weight: String,
        /// Bias input name.
        bias: Option<String>,
        /// Whether the weight is stored `[N, K]` (transB = 1) rather than `[K, N]`.
        trans_b: bool,
        /// Fused activation.
        fused: Fused,
    },
    /// Elementwise add of two activations (residual).
    Add {
        /// Node names.
        nodes: Vec<String>,
        /// Inputs.
        inputs: [String; 2],
        /// Output.
        output: String,
        /// Fused activation.
        fused: Fused,
    },
    /// Smooth activation through a lookup table.
    Lut {
        /// The nodes of the pattern.
        nodes: Vec<String>,
        /// Which function.
        kind: LutKind,
        /// Input.
        input: String,
        /// Output.
        output: String,
    },
    /// A standalone ReLU / Clip.
    Clamp {
        /// Node name.
        nodes: Vec<String>,
        /// Input.
        input: String,
        /// Output.
        output: String,
        /// Bounds.
        fused: Fused,
    },
    /// Global average pool.
    GlobalAveragePool {
        /// Node name.
        nodes: Vec<String>,
        /// Input.
        input: String,
        /// Output.
        output: String,
    },
    /// Ops that pass quantization through unchanged (MaxPool, Pad, Flatten,
    /// Reshape, Identity): output scale and zero point = input's.
    PassThrough {
        /// Node name.
        nodes: Vec<String>,
        /// ONNX op type.
        kind: String,
        /// Input.
        input: String,
        /// Output.
        output: String,
    },
}

/// A weighted op's names, as quantization of its weight and bias needs them.
#[derive(Debug, Clone, Copy)]
pub struct Weighted<'a> {
    /// The first ONNX node (the conv or Gemm).
    pub first: &'a str,
    /// Input tensor.
    pub input: &'a str,
    /// Weight initializer.
    pub weight: &'a str,
    /// Bias initializer, if any.
    pub bias: Option<&'a str>,
    /// The weight's output-channel axis (0 for Conv and `[N, K]` Gemm, 1 for `[K, N]`).
    pub axis: usize,
}

impl QOp {
    /// A Conv's or Gemm's [`Weighted`] names; `None` for every other op.
    pub fn weighted(&self) -> Option<Weighted<'_>> {
        let (nodes, input, weight, bias, axis) = match self {
            QOp::Conv {
                nodes,
                input,
                weight,
                bias,
                ..
            } => (nodes, input, weight, bias, 0),
            QOp::Gemm {
                nodes,
                input,
                weight,
                bias,
                trans_b,
                ..
            } => (nodes, input, weight, bias, if *trans_b { 0 } else { 1 }),
            _ => return None,
        };
        Some(Weighted {
            first: nodes.first()?,
            input,
            weight,
            bias: bias.as_deref(),
            axis,
        })
    }
    /// The ONNX nodes this op covers.
    pub fn nodes(&self) -> &[String] {
        match self {
            QOp::Conv { nodes, .. }
            | QOp::Gemm { nodes, .. }
            | QOp::Add { nodes, .. }
            | QOp::Lut { nodes, .. }
            | QOp::Clamp { nodes, .. }
            | QOp::GlobalAveragePool { nodes, .. }
            | QOp::PassThrough { nodes, .. } => nodes,
        }
    }

    /// Activation inputs.
    pub fn inputs(&self) -> Vec<&str> {
        match self {
            QOp::Add { inputs, .. } => vec![&inputs[0], &inputs[1]],
            QOp::Conv { input, .. }
            | QOp::Gemm { input, .. }
            | QOp::Lut { input, .. }
            | QOp::Clamp { input, .. }
            | QOp::GlobalAveragePool { input, .. }
            | QOp::PassThrough { input, .. } => vec![input],
        }
    }

    /// The output tensor.
    pub fn output(&self) -> &str {
        match self {
            QOp::Conv { output, .. }
            | QOp::Gemm { output, .. }
            | QOp::Add { output, .. }
            | QOp::Lut { output, .. }
            | QOp::Clamp { output, .. }
            | QOp::GlobalAveragePool { output, .. }
            | QOp::PassThrough { output, .. } => output,
        }
    }
}

/// A float model seen as int8 operators.
#[derive(Debug, Clone, Serialize)]
pub struct QGraph {
    /// The image input.
    pub input: String,
    /// The logits output.
    pub output: String,
    /// Operators in graph order.
    pub ops: Vec<QOp>,
    /// Tensors that need a calibrated range (op outputs that do not inherit one).
    pub calibrated: Vec<String>,
    /// Tensor → the tensor whose quantization it shares (pass-through ops).
    pub aliases: HashMap<String, String>,
    /// Nodes left in float (excluded by the user or not understood), with why.
    pub float_nodes: Vec<(String, String)>,
}

fn is_const(g: &GraphProto, ix: &GraphIndex, name: &str) -> bool {
    ix.const_proto(g, name).is_some()
        || ix
            .producer_of(g, name)
            .is_some_and(|n| n.op_type() == "Constant")
}

fn scalar(g: &GraphProto, ix: &GraphIndex, name: &str) -> Option<f32> {
    let t = ix.const_value(g, name, None).ok()??;
    (t.len() == 1).then(|| t.to_f32()[0])
}

/// Recognise the GELU pattern ending at the Erf node `e`: returns (input, output, nodes).
fn gelu_at(g: &GraphProto, ix: &GraphIndex, e: usize) -> Option<(String, String, Vec<usize>)> {
    let erf = &g.node[e];
    let div = ix
        .producer_of(g, &erf.input[0])
        .filter(|n| n.op_type() == "Div")?;
    let s2 = scalar(g, ix, &div.input[1])?;
    if (s2 - std::f32::consts::SQRT_2).abs() > 1e-3 {
        return None;
    }
    let x = div.input[0].clone();
    let add_i = ix.sole_consumer(&erf.output[0])?;
    let add = &g.node[add_i];
    let one = add
        .input
        .iter()
        .find(|i| **i != erf.output[0])
        .and_then(|i| scalar(g, ix, i))?;
    if add.op_type() != "Add" || (one - 1.0).abs() > 1e-6 {
        return None;
    }
    let m1_i = ix.sole_consumer(&add.output[0])?;
    let m1 = &g.node[m1_i];
    let (m2_i, half_first) = if m1.op_type() == "Mul" && m1.input.contains(&x) {
        (ix.sole_consumer(&m1.output[0])?, false)
    } else if m1.op_type() == "Mul"
        && m1
            .input
            .iter()
            .any(|i| scalar(g, ix, i).is_some_and(|v| (v - 0.5).abs() < 1e-6))
    {
        (ix.sole_consumer(&m1.output[0])?, true)
    } else {
        return None;
    };
    let m2 = &g.node[m2_i];
    if m2.op_type() != "Mul" {
        return None;
    }
    let ok = if half_first {
        m2.input.contains(&x)
    } else {
        m2.input
            .iter()
            .any(|i| scalar(g, ix, i).is_some_and(|v| (v - 0.5).abs() < 1e-6))
    };
    if !ok {
        return None;
    }
    let div_i = *ix.producer.get(&erf.input[0])?;
    Some((x, m2.output[0].clone(), vec![div_i, e, add_i, m1_i, m2_i]))
}

/// Build the quantizer's view. `exclude` names nodes to keep in float.
pub fn analyse(
    g: &GraphProto,
    base: Option<&Path>,
    exclude: &[String],
) -> Result<QGraph, QuantError> {
    let ix = GraphIndex::new(g);
    let inits: HashSet<&str> = g.initializer.iter().map(|t| t.name()).collect();
    let input = g
        .input
        .iter()
        .find(|i| !inits.contains(i.name()))
        .map(|i| i.name().to_string())
        .ok_or_else(|| QuantError::graph("no graph input"))?;
    let output = g
        .output
        .first()
        .map(|o| o.name().to_string())
        .ok_or_else(|| QuantError::graph("no graph output"))?;
    let mut used = vec![false; g.node.len()];
    let mut ops = Vec::new();
    let mut float_nodes = Vec::new();
    let excluded = |n: &NodeProto| exclude.iter().any(|e| *e == node_label(n));
    // Fused activation after `tensor`, if its sole consumer is ReLU / Clip.
    let fuse_after = |tensor: &str| -> Option<(usize, Fused)> {
        let ci = ix.sole_consumer(tensor)?;
        let c = &g.node[ci];
        if excluded(c) {
            return None;
        }
        match c.op_type() {
            "Relu" => Some((ci, Fused::Relu)),
            "Clip" => {
                let lo = c
                    .input
                    .get(1)
                    .and_then(|n| scalar(g, &ix, n))
                    .or(attr::float(c, "min"))
                    .unwrap_or(f32::MIN);
                let hi = c
                    .input
                    .get(2)
                    .and_then(|n| scalar(g, &ix, n))
                    .or(attr::float(c, "max"))
                    .unwrap_or(f32::MAX);
                Some((ci, Fused::Clip(lo, hi)))
            }
            _ => None,
        }
    };
    for (i, n) in g.node.iter().enumerate() {
        if used[i] || matches!(n.op_type(), "Constant") {
            continue;
        }
        if excluded(n) {
            float_nodes.push((
                node_label(n),
                "kept in float (--exclude or --repair)".into(),
            ));
            used[i] = true;
            continue;
        }
        let name = node_label(n);
        let mut take = |extra: &[usize]| {
            used[i] = true;
            for &e in extra {
                used[e] = true;
            }
        };
        match n.op_type() {
            "Conv" if n.input.len() >= 2 && is_const(g, &ix, &n.input[1]) => {
                let w = ix
                    .const_value(g, &n.input[1], base)?
                    .ok_or_else(|| QuantError::node(n, "weight"))?;
                let geom = ConvGeom::of(n, Some(&w.dims)).map_err(|e| QuantError::node(n, e))?;
                let (fused, out, extra) = match fuse_after(&n.output[0]) {
                    Some((ci, f)) => (f, g.node[ci].output[0].clone(), vec![ci]),
                    None => (Fused::None, n.output[0].clone(), vec![]),
                };
                let mut nodes = vec![name];
                nodes.extend(extra.iter().map(|&e| node_label(&g.node[e])));
                take(&extra);
                ops.push(QOp::Conv {
                    nodes,
                    input: n.input[0].clone(),
                    output: out,
                    weight: n.input[1].clone(),
                    bias: n.input.get(2).filter(|b| !b.is_empty()).cloned(),
                    geom,
                    fused,
                });
            }
            "Gemm"
                if n.input.len() >= 2
                    && is_const(g, &ix, &n.input[1])
                    && attr::int(n, "transA").unwrap_or(0) == 0 =>
            {
                let (fused, out, extra) = match fuse_after(&n.output[0]) {
                    Some((ci, f)) => (f, g.node[ci].output[0].clone(), vec![ci]),
                    None => (Fused::None, n.output[0].clone(), vec![]),
                };
                let mut nodes = vec![name];
                nodes.extend(extra.iter().map(|&e| node_label(&g.node[e])));
                take(&extra);
                ops.push(QOp::Gemm {
                    nodes,
                    input: n.input[0].clone(),
                    output: out,
                    weight: n.input[1].clone(),
                    bias: n.input.get(2).filter(|b| !b.is_empty()).cloned(),
                    trans_b: attr::int(n, "transB").unwrap_or(0) == 1,
                    fused,
                });
            }
            "Add" if n.input.len() == 2 && !n.input.iter().any(|x| is_const(g, &ix, x)) => {
                let (fused, out, extra) = match fuse_after(&n.output[0]) {
                    Some((ci, f)) => (f, g.node[ci].output[0].clone(), vec![ci]),
                    None => (Fused::None, n.output[0].clone(), vec![]),
                };
                let mut nodes = vec![name];
                nodes.extend(extra.iter().map(|&e| node_label(&g.node[e])));
                take(&extra);
                ops.push(QOp::Add {
                    nodes,
                    inputs: [n.input[0].clone(), n.input[1].clone()],
                    output: out,
                    fused,
                });
            }
            "Div" => {
                let erf = ix
                    .sole_consumer(&n.output[0])
                    .filter(|&e| g.node[e].op_type() == "Erf");
                match erf.and_then(|e| gelu_at(g, &ix, e)) {
                    Some((x, y, idx)) => {
                        let nodes = idx.iter().map(|&k| node_label(&g.node[k])).collect();
                        take(&idx);
                        ops.push(QOp::Lut {
                            nodes,
                            kind: LutKind::Gelu,
                            input: x,
                            output: y,
                        });
                    }
                    None => {
                        float_nodes.push((name, "Div outside a GELU pattern".into()));
                        take(&[]);
                    }
                }
            }
            "Sigmoid" => {
                let x = n.input[0].clone();
                let silu = ix
                    .sole_consumer(&n.output[0])
                    .filter(|&m| g.node[m].op_type() == "Mul" && g.node[m].input.contains(&x));
                match silu {
                    Some(m) => {
                        let nodes = vec![name, node_label(&g.node[m])];
                        take(&[m]);
                        ops.push(QOp::Lut {
                            nodes,
                            kind: LutKind::Silu,
                            input: x,
                            output: g.node[m].output[0].clone(),
                        });
                    }
                    None => {
                        take(&[]);
                        ops.push(QOp::Lut {
                            nodes: vec![name],
                            kind: LutKind::Sigmoid,
                            input: x,
                            output: n.output[0].clone(),
                        });
                    }
                }
            }
            "Tanh" => {
                take(&[]);
                ops.push(QOp::Lut {
                    nodes: vec![name],
                    kind: LutKind::Tanh,
                    input: n.input[0].clone(),
                    output: n.output[0].clone(),
                });
            }
            "Relu" | "Clip" => {
                let fused = if n.op_type() == "Relu" {
                    Fused::Relu
                } else {
                    let lo = n
                        .input
                        .get(1)
                        .and_then(|x| scalar(g, &ix, x))
                        .unwrap_or(f32::MIN);
                    let hi = n
                        .input
                        .get(2)
                        .and_then(|x| scalar(g, &ix, x))
                        .unwrap_or(f32::MAX);
                    Fused::Clip(lo, hi)
                };
                take(&[]);
                ops.push(QOp::Clamp {
                    nodes: vec![name],
                    input: n.input[0].clone(),
                    output: n.output[0].clone(),
                    fused,
                });
            }
            "GlobalAveragePool" => {
                take(&[]);
                ops.push(QOp::GlobalAveragePool {
                    nodes: vec![name],
                    input: n.input[0].clone(),
                    output: n.output[0].clone(),
                });
            }
            "MaxPool" | "Flatten" | "Identity" | "Reshape" | "Squeeze" | "Unsqueeze" => {
                take(&[]);
                ops.push(QOp::PassThrough {
                    nodes: vec![name],
                    kind: n.op_type().to_string(),
                    input: n.input[0].clone(),
                    output: n.output[0].clone(),
                });
            }
            "Pad"
                if attr::string(n, "mode").as_deref() != Some("constant")
                    || n.input
                        .get(2)
                        .is_none_or(|v| v.is_empty() || scalar(g, &ix, v) == Some(0.0)) =>
            {
                take(&[]);
                ops.push(QOp::PassThrough {
                    nodes: vec![name],
                    kind: "Pad".into(),
                    input: n.input[0].clone(),
                    output: n.output[0].clone(),
                });
            }
            other => {
                take(&[]);
                float_nodes.push((name, format!("{other} has no int8 form here")));
            }
        }
    }
    // Which tensors inherit their quantization and which are calibrated:
    // every int8 op's output, and every tensor an int8 op reads that no int8
    // op produces — the image input, or the output of a node kept in float
    // (`--exclude`, `--repair`), which the QDQ form quantizes on the way in.
    // The image input is quantized only when an int8 op reads it.
    let mut aliases: HashMap<String, String> = HashMap::new();
    let mut produced = Vec::new();
    for op in &ops {
        match op {
            QOp::PassThrough { input, output, .. } => {
                let root = aliases.get(input).cloned().unwrap_or_else(|| input.clone());
                aliases.insert(output.clone(), root);
            }
            other => produced.push(other.output().to_string()),
        }
    }
    let mut entries: Vec<String> = Vec::new();
    for op in ops
        .iter()
        .filter(|op| !matches!(op, QOp::PassThrough { .. }))
    {
        for i in op.inputs() {
            let root = aliases.get(i).map_or(i, String::as_str);
            if !produced.iter().any(|p| p == root) && !entries.iter().any(|e| e == root) {
                entries.push(root.to_string());
            }
        }
    }
    // The image input first, then the float → int8 boundaries in graph order.
    entries.sort_by_key(|e| e != &input);
    let calibrated: Vec<String> = entries.into_iter().chain(produced).collect();
    Ok(QGraph {
        input,
        output,
        ops,
        calibrated,
        aliases,
        float_nodes,
    })
}

impl QGraph {
    /// The tensor whose range `t` uses.
    pub fn root<'a>(&'a self, t: &'a str) -> &'a str {
        self.aliases.get(t).map_or(t, String::as_str)
    }

    /// Nodes that stay in float, for messages.
    pub fn float_summary(&self) -> String {
        self.float_nodes
            .iter()
            .map(|(n, w)| format!("`{n}` ({w})"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The constant tensor `name`.
    pub fn weight(g: &GraphProto, name: &str, base: Option<&Path>) -> Result<Tensor, QuantError> {
        GraphIndex::new(g)
            .const_value(g, name, base)?
            .ok_or_else(|| QuantError::tensor(name, "weight is not constant"))
    }
}
