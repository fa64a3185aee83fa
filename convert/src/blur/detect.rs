//! Blur detection.
//!
//! A **blur** is a `Conv` with `group = C` and weight `[C,1,kh,kw]` whose
//! per-channel kernels are identical, non-negative and sum to 1 (± 1e-5), with no
//! (or a zero) bias, optionally preceded by a `Pad` (reflect / edge / constant 0)
//! that feeds only it. A depthwise conv whose kernels are *proportional* to one
//! such kernel, with a bias, is a blur followed by a per-channel affine map — what
//! an exporter leaves after folding a BatchNorm into the blur; [`BlurSite::affine`]
//! records it and [`super::affine`] separates it again.

use std::path::Path;

use serde::Serialize;

use crate::error::ConvertError;
use crate::kernel::Kernel2d;
use nyquist_onnx::conv::ConvGeom;
use nyquist_onnx::graph::{node_label, GraphIndex};
use nyquist_onnx::pb::{GraphProto, NodeProto};
use nyquist_onnx::{attr, Tensor};

/// Tolerance on "sums to 1", "identical" and "non-negative".
pub const EPS: f64 = 1e-5;

/// How a blur pads its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PadMode {
    /// Zeros (the conv's own pads, or a constant-0 `Pad`).
    Zero,
    /// Mirror without repeating the edge sample.
    Reflect,
    /// Repeat the edge sample.
    Edge,
}

impl PadMode {
    /// The ONNX `Pad` mode string.
    pub fn onnx(self) -> &'static str {
        match self {
            PadMode::Zero => "constant",
            PadMode::Reflect => "reflect",
            PadMode::Edge => "edge",
        }
    }
}

/// The anti-aliasing family a blur's placement and shape point to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// Vasconcelos et al.: conv at stride 1 → blur (stride 2).
    BlurAfterConv,
    /// Zhang's antialiased-cnns: `BlurPool` (default k=4, reflect) after the
    /// nonlinearity, and blur → 1×1 on the shortcut.
    AntialiasedCnns,
    /// timm `resnetblur`: `BlurPool2d` (k=3, symmetric reflect or zero) after the nonlinearity.
    TimmResnetBlur,
    /// MosaicML Composer `BlurConv2d`: stride-1 3×3 blur with zero pads before a strided conv.
    ComposerBlurConv,
    /// A blur in some other place.
    Other,
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Family::BlurAfterConv => "BlurAfterConv",
            Family::AntialiasedCnns => "antialiased-cnns",
            Family::TimmResnetBlur => "timm resnetblur",
            Family::ComposerBlurConv => "Composer BlurConv2d",
            Family::Other => "other",
        })
    }
}

/// What sits on one side of a blur.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Neighbour {
    /// A `Conv` node. `exclusive`: the tensor between it and the blur has no other reader.
    Conv {
        /// Node name.
        node: String,
        /// Its geometry.
        #[serde(skip)]
        geom: ConvGeom,
        /// No other reader of the tensor in between.
        exclusive: bool,
    },
    /// Any other node.
    Op {
        /// Node name.
        node: String,
        /// Operator type.
        op: String,
    },
    /// A graph input (before) or a graph output (after).
    Boundary,
    /// Several nodes read the tensor.
    Shared {
        /// Number of readers.
        readers: usize,
    },
}

impl Neighbour {
    /// Short description for reports.
    pub fn describe(&self) -> String {
        match self {
            Neighbour::Conv {
                geom, exclusive, ..
            } => format!(
                "Conv {}x{}/s{}{}",
                geom.kernel[0],
                geom.kernel[1],
                geom.strides[0],
                if *exclusive { "" } else { " (shared output)" }
            ),
            Neighbour::Op { op, .. } => op.clone(),
            Neighbour::Boundary => "graph input/output".into(),
            Neighbour::Shared { readers } => format!("{readers} readers"),
        }
    }
}

/// A per-channel affine map after the blur: `z_c = scale_c · blur(x)_c + bias_c`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Affine {
    /// Per-channel scale (the kernel sums).
    pub scale: Vec<f32>,
    /// Per-channel bias.
    pub bias: Vec<f32>,
}

/// One blur found in the graph.
#[derive(Debug, Clone, Serialize)]
pub struct BlurSite {
    /// Name of the blur `Conv` node.
    pub node: String,
    /// Name of the `Pad` node in front of it, if any.
    pub pad_node: Option<String>,
    /// Tensor the blur reads (before its `Pad`).
    pub input: String,
    /// Tensor the blur writes.
    pub output: String,
    /// Number of channels.
    pub channels: usize,
    /// The normalised kernel.
    #[serde(skip)]
    pub kernel: Kernel2d,
    /// Kernel size `[h, w]`, for reports.
    pub kernel_size: [usize; 2],
    /// Binomial order if the kernel is binomial.
    pub binomial: Option<usize>,
    /// Stride `[h, w]`.
    pub stride: [usize; 2],
    /// Total padding (top, left, bottom, right), all of mode `pad_mode`.
    pub pads: [usize; 4],
    /// Padding mode.
    pub pad_mode: PadMode,
    /// BatchNorm folded into the blur, if any.
    pub affine: Option<Affine>,
    /// Producer of `input`.
    pub before: Neighbour,
    /// Sole reader of `output`.
    pub after: Neighbour,
    /// Family the placement points to.
    pub family: Family,
    /// Why the blur cannot be rewritten at all, if so (e.g. dynamic pads).
    pub fixed: Option<String>,
}

/// A depthwise conv that looks like a blur but is not one, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    /// Node name.
    pub node: String,
    /// Why it is not treated as a blur.
    pub reason: String,
}

const ACTIVATIONS: [&str; 13] = [
    "Relu",
    "LeakyRelu",
    "PRelu",
    "Sigmoid",
    "Tanh",
    "Clip",
    "Elu",
    "Selu",
    "Gelu",
    "HardSigmoid",
    "HardSwish",
    "Mish",
    "Softplus",
];

/// Find every blur in `g`, and every blur-like depthwise conv that is not one.
pub fn detect(
    g: &GraphProto,
    base: Option<&Path>,
) -> Result<(Vec<BlurSite>, Vec<Rejected>), ConvertError> {
    let ix = GraphIndex::new(g);
    let mut found = Vec::new();
    let mut rejected = Vec::new();
    for (ni, n) in g.node.iter().enumerate() {
        if n.op_type() != "Conv" || n.input.len() < 2 {
            continue;
        }
        let Some(w) = ix.const_value(g, &n.input[1], base)? else {
            continue;
        };
        if w.dims.len() != 4 || w.dims[1] != 1 {
            continue;
        }
        let c = w.dims[0];
        let group = attr::int(n, "group").unwrap_or(1) as usize;
        if group != c || c == 0 || w.dims[2] * w.dims[3] < 2 {
            continue; // not depthwise, or a 1x1 (pure decimation / scaling)
        }
        let reject = |reason: String| Rejected {
            node: node_label(n),
            reason,
        };
        let bias = match n.input.get(2).filter(|s| !s.is_empty()) {
            Some(b) => match ix.const_value(g, b, base)? {
                Some(t) => Some(t.to_f32()),
                None => {
                    rejected.push(reject("bias is not constant".into()));
                    continue;
                }
            },
            None => None,
        };
        let (kernel, affine) = match classify_weight(&w, bias.as_deref()) {
            Ok(v) => v,
            Err(why) => {
                rejected.push(reject(why));
                continue;
            }
        };
        let geom = match ConvGeom::of(n, Some(&w.dims)) {
            Ok(g) => g,
            Err(why) => {
                rejected.push(reject(format!("blur kernel, but {why}")));
                continue;
            }
        };
        if geom.dilations != [1, 1] {
            rejected.push(reject(format!(
                "blur kernel, but dilations {:?}",
                geom.dilations
            )));
            continue;
        }
        let mut site = BlurSite {
            node: node_label(n),
            pad_node: None,
            input: n.input[0].clone(),
            output: n.output[0].clone(),
            channels: c,
            kernel_size: [kernel.h, kernel.w],
            binomial: kernel.binomial_order(),
            kernel,
            stride: geom.strides,
            pads: geom.pads,
            pad_mode: PadMode::Zero,
            affine,
            before: Neighbour::Boundary,
            after: Neighbour::Boundary,
            family: Family::Other,
            fixed: None,
        };
        // A Pad in front that feeds only this blur.
        if let Some(&pi) = ix.producer.get(&n.input[0]) {
            let p = &g.node[pi];
            if p.op_type() == "Pad" && ix.sole_consumer(&p.output[0]) == Some(ni) {
                match pad_spec(g, &ix, p, base)? {
                    Ok((mode, pads)) => {
                        if mode != PadMode::Zero && geom.pads != [0; 4] {
                            site.fixed = Some(format!(
                                "{} pad followed by zero pads in the blur itself",
                                mode.onnx()
                            ));
                        }
                        site.pad_mode = mode;
                        for (p, q) in site.pads.iter_mut().zip(pads) {
                            *p += q;
                        }
                        site.pad_node = Some(node_label(p));
                        site.input = p.input[0].clone();
                    }
                    Err(why) => {
                        site.pad_node = Some(node_label(p));
                        site.input = p.input[0].clone();
                        site.fixed = Some(why);
                    }
                }
            }
        }
        let pad_index = site
            .pad_node
            .as_ref()
            .and_then(|_| ix.producer.get(&n.input[0]).copied());
        site.before = match ix.producer.get(&site.input) {
            None => Neighbour::Boundary,
            Some(&pi) => {
                let p = &g.node[pi];
                let reader = pad_index.unwrap_or(ni);
                let exclusive = ix.sole_consumer(&site.input) == Some(reader);
                neighbour(g, &ix, p, exclusive, base)?
            }
        };
        site.after = match ix.sole_consumer(&site.output) {
            Some(ci) => neighbour(g, &ix, &g.node[ci], true, base)?,
            None if ix.fan_out(&site.output) > 1 => Neighbour::Shared {
                readers: ix.fan_out(&site.output),
            },
            None => Neighbour::Boundary,
        };
        found.push(site);
    }
    assign_families(&mut found, g, &ix);
    Ok((found, rejected))
}

/// Split a `[C,1,kh,kw]` weight (and bias) into a shared normalised kernel and an
/// optional per-channel affine map, or say why it is no blur.
fn classify_weight(w: &Tensor, bias: Option<&[f32]>) -> Result<(Kernel2d, Option<Affine>), String> {
    let (c, kh, kw) = (w.dims[0], w.dims[2], w.dims[3]);
    let v = w.to_f32();
    let per = kh * kw;
    let sums: Vec<f64> = v
        .chunks_exact(per)
        .map(|k| k.iter().map(|&x| x as f64).sum())
        .collect();
    if let Some(ch) = sums.iter().position(|s| s.abs() < 1e-12) {
        return Err(format!(
            "depthwise {kh}x{kw} kernel of channel {ch} sums to 0"
        ));
    }
    let norm = |ch: usize| -> Vec<f64> {
        v[ch * per..(ch + 1) * per]
            .iter()
            .map(|&x| x as f64 / sums[ch])
            .collect()
    };
    let k0 = norm(0);
    for ch in 1..c {
        let kc = norm(ch);
        let d = k0
            .iter()
            .zip(&kc)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        if d > EPS {
            return Err(format!(
                "depthwise {kh}x{kw} kernels differ between channels 0 and {ch} (by {d:.2e})"
            ));
        }
    }
    if let Some(t) = k0.iter().position(|&t| t < -EPS) {
        return Err(format!(
            "depthwise {kh}x{kw} kernel has a negative tap ({:.4} at {t})",
            k0[t]
        ));
    }
    let pure_scale = sums.iter().all(|s| (s - 1.0).abs() <= EPS);
    let zero_bias = bias.is_none_or(|b| b.iter().all(|&x| x.abs() <= EPS as f32));
    let affine = if pure_scale && zero_bias {
        None
    } else {
        let scale: Vec<f32> = sums.iter().map(|&s| s as f32).collect();
        let bias = bias.map(<[f32]>::to_vec).unwrap_or_else(|| vec![0.0; c]);
        if bias.len() != c {
            return Err(format!("bias has {} values for {c} channels", bias.len()));
        }
        Some(Affine { scale, bias })
    };
    Ok((
        Kernel2d {
            h: kh,
            w: kw,
            taps: k0,
        },
        affine,
    ))
}

/// Constant pads of a `Pad` node: mode and spatial pads (t, l, b, r), or why not usable.
fn pad_spec(
    g: &GraphProto,
    ix: &GraphIndex,
    p: &NodeProto,
    base: Option<&Path>,
) -> Result<Result<(PadMode, [usize; 4]), String>, ConvertError> {
    let mode = attr::string(p, "mode").unwrap_or_else(|| "constant".into());
    let mode = match mode.as_str() {
        "constant" => PadMode::Zero,
        "reflect" => PadMode::Reflect,
        "edge" => PadMode::Edge,
        other => return Ok(Err(format!("Pad mode `{other}` is not supported"))),
    };
    let Some(pads_name) = p.input.get(1) else {
        return Ok(Err("Pad without pads input".into()));
    };
    let Some(pads) = ix.const_value(g, pads_name, base)? else {
        return Ok(Err(format!(
            "Pad `{}` has dynamic pads (`{pads_name}` is computed at run time)",
            node_label(p)
        )));
    };
    let pads = pads.as_i64().map(<[i64]>::to_vec).unwrap_or_default();
    if mode == PadMode::Zero {
        if let Some(cv) = p.input.get(2).filter(|s| !s.is_empty()) {
            match ix.const_value(g, cv, base)? {
                Some(t) if t.to_f32().iter().all(|&x| x == 0.0) => {}
                _ => return Ok(Err("constant Pad with a non-zero or dynamic value".into())),
            }
        }
    }
    if p.input.get(3).is_some_and(|s| !s.is_empty()) {
        let axes = ix
            .const_value(g, &p.input[3], base)?
            .and_then(|t| t.as_i64().map(<[i64]>::to_vec));
        return Ok(match axes.as_deref() {
            Some([2, 3]) | Some([-2, -1]) if pads.len() == 4 && pads.iter().all(|&x| x >= 0) => {
                Ok((
                    mode,
                    [
                        pads[0] as usize,
                        pads[1] as usize,
                        pads[2] as usize,
                        pads[3] as usize,
                    ],
                ))
            }
            _ => Err(format!("Pad axes {axes:?} with pads {pads:?}")),
        });
    }
    Ok(match pads.as_slice() {
        [0, 0, t, l, 0, 0, b, r] if [t, l, b, r].iter().all(|&&x| x >= 0) => {
            Ok((mode, [*t as usize, *l as usize, *b as usize, *r as usize]))
        }
        other => Err(format!(
            "Pad pads {other:?} are not spatial-only and non-negative"
        )),
    })
}

fn neighbour(
    g: &GraphProto,
    ix: &GraphIndex,
    n: &NodeProto,
    exclusive: bool,
    base: Option<&Path>,
) -> Result<Neighbour, ConvertError> {
    if n.op_type() == "Conv" {
        let w = n
            .input
            .get(1)
            .map(|w| ix.const_value(g, w, base))
            .transpose()?
            .flatten();
        if let Ok(geom) = ConvGeom::of(n, w.as_ref().map(|t| t.dims.as_slice())) {
            return Ok(Neighbour::Conv {
                node: node_label(n),
                geom,
                exclusive,
            });
        }
    }
    Ok(Neighbour::Op {
        node: node_label(n),
        op: n.op_type().to_string(),
    })
}

fn is_activation(g: &GraphProto, ix: &GraphIndex, node: &str) -> bool {
    let Some(n) = g.node.iter().find(|n| node_label(n) == node) else {
        return false;
    };
    if ACTIVATIONS.contains(&n.op_type()) {
        return true;
    }
    // PyTorch's GELU (Div → Erf → Add → Mul → Mul) and SiLU (Sigmoid → Mul).
    n.op_type() == "Mul"
        && n.input.iter().any(|i| {
            ix.producer_of(g, i).is_some_and(|p| {
                p.op_type() == "Sigmoid"
                    || (p.op_type() == "Mul"
                        && p.input
                            .iter()
                            .any(|j| ix.producer_of(g, j).is_some_and(|q| q.op_type() == "Add")))
            })
        })
}

fn assign_families(sites: &mut [BlurSite], g: &GraphProto, ix: &GraphIndex) {
    for s in sites.iter_mut() {
        let k = s.kernel_size[0];
        let symmetric = s.pads[0] == s.pads[2] && s.pads[1] == s.pads[3];
        s.family = match (&s.before, &s.after) {
            (Neighbour::Conv { geom, .. }, _) if geom.is_unit_stride() && s.stride != [1, 1] => {
                Family::BlurAfterConv
            }
            _ if s.stride == [1, 1]
                && s.pad_mode == PadMode::Zero
                && matches!(&s.after, Neighbour::Conv { geom, .. } if geom.strides != [1, 1]) =>
            {
                Family::ComposerBlurConv
            }
            (_, Neighbour::Conv { geom, .. }) if geom.kernel == [1, 1] && s.stride != [1, 1] => {
                Family::AntialiasedCnns
            }
            (Neighbour::Op { node, .. }, _) if is_activation(g, ix, node) => {
                if k % 2 == 0 || !symmetric {
                    Family::AntialiasedCnns
                } else {
                    Family::TimmResnetBlur
                }
            }
            _ => Family::Other,
        };
    }
    // A blur after a max-pool belongs to whatever family the rest of the graph is.
    let main = [
        Family::BlurAfterConv,
        Family::AntialiasedCnns,
        Family::TimmResnetBlur,
    ]
    .into_iter()
    .max_by_key(|f| sites.iter().filter(|s| s.family == *f).count())
    .filter(|f| sites.iter().any(|s| s.family == *f));
    for s in sites.iter_mut() {
        if s.family == Family::Other
            && matches!(&s.before, Neighbour::Op { op, .. } if op == "MaxPool")
        {
            s.family = main.unwrap_or(if s.kernel_size[0] % 2 == 0 {
                Family::AntialiasedCnns
            } else {
                Family::TimmResnetBlur
            });
        }
    }
}
