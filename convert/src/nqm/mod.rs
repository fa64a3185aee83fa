//! Export an int8 model to the firmware's `.nqm` blob, and check the blob by
//! running it through the host build of the firmware engine against the QDQ
//! model in tract.
//!
//! Integer forms (docs/architecture.md, "int8 arithmetic"): conv / FC biases are
//! `round(b / (s_x·s_w[o])) − z_x·Σ w_q[o]` (the input zero point folded in, so
//! the kernel is a plain int8 dot product), multipliers and shifts come from
//! [`nyquist_firmware::arith::quantize_multiplier`], residual adds use TFLite's
//! `left_shift = 20` scheme, smooth activations become 256-entry tables.

// Per-channel loops index several parallel arrays by one channel number.
#![allow(clippy::needless_range_loop)]

pub mod deploy;
pub mod plan;

use std::collections::HashMap;
use std::path::Path;

use nyquist_firmware::arith::{quantize_multiplier, round_half_away};
use nyquist_firmware::Run;
use nyquist_nqm::{conv_scratch, Consts, Encoder, Interface, Op, Tensor, ADD_SCRATCH};
use serde::Serialize;

use crate::error::ConvertError;
use nyquist_onnx::attr;
use nyquist_onnx::conv::ConvGeom;
use nyquist_onnx::error::Located as _;
use nyquist_onnx::graph::{node_label, GraphIndex};
use nyquist_onnx::pb::{GraphProto, ModelProto};
use nyquist_quant::graph::{Fused, QGraph, QOp};
use nyquist_quant::params::{QParams, TensorQuant, WeightQuant};

/// What the export produced.
#[derive(Debug, Clone, Serialize)]
pub struct NqmInfo {
    /// Blob bytes.
    pub size: usize,
    /// Arena bytes (activations + conv patch scratch).
    pub arena_size: usize,
    /// Activation peak of the planner.
    pub activation_peak: usize,
    /// The lower bound: most bytes of tensors alive at one op.
    pub lower_bound: usize,
    /// Conv patch scratch.
    pub scratch: usize,
    /// Ops in the blob.
    pub ops: usize,
    /// Weight bytes.
    pub weight_bytes: usize,
}

fn refuse(what: String) -> ConvertError {
    ConvertError::Usage(format!("cannot export .nqm: {what}"))
}

fn encode_error(e: nyquist_nqm::EncodeError) -> ConvertError {
    refuse(e.to_string())
}

/// The record's byte-wide geometry fields (kernel, stride, pads): refused,
/// naming the node, when a value does not fit the format's `u8`.
fn geometry_u8<const N: usize>(
    v: [usize; N],
    node: &str,
    what: &str,
) -> Result<[u8; N], ConvertError> {
    let mut out = [0u8; N];
    for (o, &x) in out.iter_mut().zip(&v) {
        *o = u8::try_from(x).map_err(|_| {
            refuse(format!(
                "`{node}`: {what} {v:?} do not fit the format's bytes (at most 255)"
            ))
        })?;
    }
    Ok(out)
}

/// A `u16` field (tensor dims, groups): refused when it does not fit.
fn field_u16(x: usize, node: &str, what: &str) -> Result<u16, ConvertError> {
    u16::try_from(x).map_err(|_| {
        refuse(format!(
            "`{node}`: {what} {x} does not fit the format's u16"
        ))
    })
}

fn act_range(f: Fused, q: &TensorQuant) -> [i8; 2] {
    match f {
        Fused::None => [-128, 127],
        Fused::Relu => [q.quantize(0.0), 127],
        Fused::Clip(lo, hi) => [q.quantize(lo.max(q.lo)), q.quantize(hi.min(q.hi))],
    }
}

fn mult_shift(real: f64) -> (i32, i32) {
    quantize_multiplier(real)
}

/// Per-output-channel integer constants of a conv / FC layer (docs/architecture.md,
/// "int8 arithmetic", written once here for both): the bias in accumulator
/// units with the input zero point folded in, `b_q − z_x·Σw`, and the
/// multiplier and shift of `s_x·s_w[o] / s_y`. `wsum(o)` is channel `o`'s
/// weight sum.
fn channel_requant(
    channels: usize,
    bias: &[f32],
    xq: &TensorQuant,
    wq: &WeightQuant,
    yq: &TensorQuant,
    wsum: impl Fn(usize) -> i64,
) -> (Vec<i32>, Vec<i32>, Vec<i32>) {
    let (mut b, mut m, mut s) = (Vec::new(), Vec::new(), Vec::new());
    for o in 0..channels {
        let acc_scale = xq.scale as f64 * wq.scales[o] as f64;
        let bq = round_half_away(bias[o] as f64 / acc_scale) as i64;
        b.push(
            (bq - xq.zero_point as i64 * wsum(o)).clamp(i32::MIN as i64, i32::MAX as i64) as i32,
        );
        let (mm, ss) = mult_shift(acc_scale / yq.scale as f64);
        m.push(mm);
        s.push(ss);
    }
    (b, m, s)
}

/// Export `qg` / `qp` (the quantizer's view of `float`) as an `.nqm` blob.
pub fn export(
    float: &ModelProto,
    qg: &QGraph,
    qp: &QParams,
    shape: &[usize],
    base: Option<&Path>,
) -> Result<(Vec<u8>, NqmInfo), ConvertError> {
    if !qg.float_nodes.is_empty() {
        return Err(refuse(format!(
            "the engine has no float fallback; these nodes are not int8: {}",
            qg.float_summary()
        )));
    }
    let g: &GraphProto = float
        .graph
        .as_ref()
        .ok_or_else(|| ConvertError::graph("no graph"))?;
    let ix = GraphIndex::new(g);
    let shapes = crate::shapes::infer(&prost::Message::encode_to_vec(float), shape)?;
    // Tensors: the input and every op output.
    let mut names: Vec<String> = vec![qg.input.clone()];
    names.extend(qg.ops.iter().map(|o| o.output().to_string()));
    if names.len() > usize::from(u16::MAX) {
        return Err(refuse(format!(
            "{} tensors; the format indexes at most {}",
            names.len(),
            u16::MAX
        )));
    }
    let index: HashMap<&str, u16> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i as u16))
        .collect();
    let dims = |t: &str| -> Result<[usize; 3], ConvertError> {
        let d = shapes
            .get(t)
            .ok_or_else(|| ConvertError::tensor(t, "no shape"))?;
        match d.as_slice() {
            [1, c, h, w] => Ok([*c, *h, *w]),
            [1, c] => Ok([*c, 1, 1]),
            [1, c, 1] => Ok([*c, 1, 1]),
            other => Err(refuse(format!(
                "tensor `{t}` has shape {other:?}; the engine takes batch-1 CHW or vectors"
            ))),
        }
    };
    let q = |t: &str| -> Result<TensorQuant, ConvertError> {
        qp.tensors
            .get(t)
            .copied()
            .ok_or_else(|| ConvertError::tensor(t, "not quantized"))
    };
    let tid = |t: &str| -> Result<u16, ConvertError> {
        index
            .get(t)
            .copied()
            .ok_or_else(|| refuse(format!("tensor `{t}` is produced by no exported op")))
    };
    // Lifetimes, with aliases sharing one buffer.
    let mut group: Vec<usize> = (0..names.len()).collect();
    for op in &qg.ops {
        if let QOp::PassThrough {
            kind,
            input,
            output,
            ..
        } = op
        {
            if !matches!(kind.as_str(), "Pad" | "MaxPool") {
                let (a, b) = (tid(input)? as usize, tid(output)? as usize);
                group[b] = group[a];
            }
        }
    }
    let mut first = vec![i64::MAX; names.len()];
    let mut last = vec![i64::MIN; names.len()];
    first[0] = -1;
    for (k, op) in qg.ops.iter().enumerate() {
        let o = group[tid(op.output())? as usize];
        first[o] = first[o].min(k as i64);
        for i in op.inputs() {
            let gi = group[tid(i)? as usize];
            last[gi] = last[gi].max(k as i64);
        }
    }
    let out_group = group[tid(&qg.output)? as usize];
    last[out_group] = i64::MAX;
    let sizes: Vec<usize> = names
        .iter()
        .map(|n| dims(n).map(|d| d.iter().product()))
        .collect::<Result<_, _>>()?;
    let roots: Vec<usize> = (0..names.len()).filter(|&i| group[i] == i).collect();
    let buffers: Vec<plan::Buffer> = roots
        .iter()
        .map(|&r| plan::Buffer {
            size: sizes[r],
            first: first[r],
            last: last[r].max(first[r]),
        })
        .collect();
    let (offs, peak) = plan::place(&buffers, 4);
    let lower = plan::lower_bound(&buffers);
    let offset_of: HashMap<usize, usize> = roots.iter().zip(&offs).map(|(&r, &o)| (r, o)).collect();
    let mut w = Encoder::new();
    for (i, n) in names.iter().enumerate() {
        let [c, h, wd] = dims(n)?;
        let offset = offset_of[&group[i]];
        w.tensor(&Tensor {
            c: field_u16(c, n, "channels")?,
            h: field_u16(h, n, "height")?,
            w: field_u16(wd, n, "width")?,
            offset: u32::try_from(offset)
                .map_err(|_| refuse(format!("`{n}`: arena offset {offset} over 4 GiB")))?,
            zero_point: q(n)?.zero_point,
        })
        .map_err(encode_error)?;
    }
    let mut scratch = 0usize;
    let mut weight_bytes = 0usize;
    for op in &qg.ops {
        match op {
            QOp::Conv {
                nodes,
                input,
                output,
                weight,
                geom,
                fused,
                ..
            } => {
                let wq = &qp.weights[weight];
                let (xq, yq) = (q(qg.root(input))?, q(output)?);
                let bias = &qp.biases[&nodes[0]];
                let cout = wq.dims[0];
                let per = wq.data.len() / cout;
                let (b, m, s) = channel_requant(cout, bias, &xq, wq, &yq, |o| {
                    wq.data[o * per..(o + 1) * per]
                        .iter()
                        .map(|&v| v as i64)
                        .sum()
                });
                if wq.dims.len() != 4 {
                    return Err(refuse(format!("conv `{}` is not 2-D", nodes[0])));
                }
                let (xd, yd) = (dims(qg.root(input))?, dims(output)?);
                let depthwise = geom.group == xd[0] && xd[0] == yd[0];
                let weights = w.constants(&engine_weights(&wq.data, &wq.dims, depthwise), 16);
                weight_bytes += wq.data.len();
                let (bias, mult, shift) = (w.i32s(&b), w.i32s(&m), w.i32s(&s));
                let ConvGeom {
                    kernel,
                    strides,
                    pads,
                    dilations,
                    group: groups,
                } = geom.clone();
                if dilations != [1, 1] {
                    return Err(refuse(format!("conv `{}` is dilated", nodes[0])));
                }
                let k8 = geometry_u8([kernel[0], kernel[1]], &nodes[0], "kernel")?;
                let s8 = geometry_u8([strides[0], strides[1]], &nodes[0], "strides")?;
                let p8 = geometry_u8([pads[0], pads[1], pads[2], pads[3]], &nodes[0], "pads")?;
                let g16 = field_u16(groups, &nodes[0], "groups")?;
                scratch = scratch.max(conv_scratch(
                    field_u16(xd[0], &nodes[0], "input channels")?,
                    field_u16(yd[0], &nodes[0], "output channels")?,
                    g16,
                    k8,
                    p8,
                ));
                w.op(&Op::Conv {
                    input: tid(input)?,
                    output: tid(output)?,
                    groups: g16,
                    k: k8,
                    s: s8,
                    pad: p8,
                    act: act_range(*fused, &yq),
                    consts: Consts {
                        weights,
                        bias,
                        mult,
                        shift,
                    },
                })
                .map_err(encode_error)?;
            }
            QOp::Gemm {
                nodes,
                input,
                output,
                weight,
                trans_b,
                fused,
                ..
            } => {
                let wq = &qp.weights[weight];
                let (xq, yq) = (q(qg.root(input))?, q(output)?);
                let bias = &qp.biases[&nodes[0]];
                let (n, k) = if *trans_b {
                    (wq.dims[0], wq.dims[1])
                } else {
                    (wq.dims[1], wq.dims[0])
                };
                let at = |o: usize, i: usize| {
                    if *trans_b {
                        wq.data[o * k + i]
                    } else {
                        wq.data[i * n + o]
                    }
                };
                // The engine's input bytes are HWC; ONNX flattened CHW. Column
                // `j = p·c + ch` of the blob is ONNX column `ch·(h·w) + p`.
                let [c, h, wd] = dims(qg.root(input))?;
                let column = |j: usize| {
                    if c * h * wd == k && h * wd > 1 {
                        (j % c) * (h * wd) + j / c
                    } else {
                        j
                    }
                };
                let rows: Vec<u8> = (0..n)
                    .flat_map(|o| (0..k).map(move |j| at(o, column(j)) as u8))
                    .collect();
                let (b, m, s) = channel_requant(n, bias, &xq, wq, &yq, |o| {
                    (0..k).map(|i| at(o, i) as i64).sum()
                });
                let weights = w.constants(&rows, 16);
                weight_bytes += rows.len();
                let (bias, mult, shift) = (w.i32s(&b), w.i32s(&m), w.i32s(&s));
                w.op(&Op::FullyConnected {
                    input: tid(input)?,
                    output: tid(output)?,
                    act: act_range(*fused, &yq),
                    consts: Consts {
                        weights,
                        bias,
                        mult,
                        shift,
                    },
                })
                .map_err(encode_error)?;
            }
            QOp::Add {
                inputs,
                output,
                fused,
                ..
            } => {
                let (qa, qb, qy) = (q(qg.root(&inputs[0]))?, q(qg.root(&inputs[1]))?, q(output)?);
                scratch = scratch.max(ADD_SCRATCH);
                let twice = 2.0 * (qa.scale.max(qb.scale) as f64);
                let ls = 20u8;
                let ma = mult_shift(qa.scale as f64 / twice);
                let mb = mult_shift(qb.scale as f64 / twice);
                let mo = mult_shift(twice / ((1u64 << ls) as f64 * qy.scale as f64));
                w.op(&Op::Add {
                    inputs: [tid(&inputs[0])?, tid(&inputs[1])?],
                    output: tid(output)?,
                    left_shift: ls,
                    act: act_range(*fused, &qy),
                    mult: [[ma.0, ma.1], [mb.0, mb.1], [mo.0, mo.1]],
                })
                .map_err(encode_error)?;
            }
            QOp::Lut {
                kind,
                input,
                output,
                ..
            } => {
                let table = lut(|x| kind.eval(x), &q(qg.root(input))?, &q(output)?);
                let table = w.constants(&table, 4);
                w.op(&Op::Lut {
                    input: tid(input)?,
                    output: tid(output)?,
                    table,
                })
                .map_err(encode_error)?;
            }
            QOp::Clamp {
                input,
                output,
                fused,
                ..
            } => {
                let (lo, hi) = match fused {
                    Fused::Relu => (0.0, f32::MAX),
                    Fused::Clip(lo, hi) => (*lo, *hi),
                    Fused::None => (f32::MIN, f32::MAX),
                };
                let table = lut(
                    |x| x.clamp(lo as f64, hi as f64),
                    &q(qg.root(input))?,
                    &q(output)?,
                );
                let table = w.constants(&table, 4);
                w.op(&Op::Lut {
                    input: tid(input)?,
                    output: tid(output)?,
                    table,
                })
                .map_err(encode_error)?;
            }
            QOp::GlobalAveragePool { input, output, .. } => {
                let (qx, qy) = (q(qg.root(input))?, q(output)?);
                let [_, h, wd] = dims(input)?;
                let (mm, ss) = mult_shift(qx.scale as f64 / ((h * wd) as f64 * qy.scale as f64));
                w.op(&Op::GlobalAvgPool {
                    input: tid(input)?,
                    output: tid(output)?,
                    mult: [mm, ss],
                })
                .map_err(encode_error)?;
            }
            QOp::PassThrough {
                nodes,
                kind,
                input,
                output,
            } => {
                let n = g
                    .node
                    .iter()
                    .find(|n| node_label(n) == nodes[0])
                    .ok_or_else(|| ConvertError::graph(format!("node `{}` vanished", nodes[0])))?;
                let (input, output) = (tid(input)?, tid(output)?);
                let op = match kind.as_str() {
                    "Pad" => {
                        let mode = match attr::string(n, "mode").as_deref() {
                            Some("reflect") => 1u8,
                            Some("edge") => 2,
                            _ => 0,
                        };
                        let pads = n
                            .input
                            .get(1)
                            .and_then(|p| ix.const_value(g, p, base).ok().flatten())
                            .and_then(|t| t.as_i64().map(<[i64]>::to_vec));
                        let p = match pads.as_deref() {
                            Some([0, 0, t, l, 0, 0, b, r])
                                if [*t, *l, *b, *r].iter().all(|&v| (0..=255).contains(&v)) =>
                            {
                                [*t as u8, *l as u8, *b as u8, *r as u8]
                            }
                            other => {
                                return Err(refuse(format!(
                                    "Pad `{}` with pads {other:?}",
                                    nodes[0]
                                )))
                            }
                        };
                        Op::Pad {
                            input,
                            output,
                            mode,
                            pad: p,
                        }
                    }
                    "MaxPool" => {
                        let geom = ConvGeom::of(n, None)
                            .map_err(|e| refuse(format!("MaxPool `{}`: {e}", nodes[0])))?;
                        let (k, st, p) = (geom.kernel, geom.strides, geom.pads);
                        Op::MaxPool {
                            input,
                            output,
                            k: geometry_u8([k[0], k[1]], &nodes[0], "kernel")?,
                            s: geometry_u8([st[0], st[1]], &nodes[0], "strides")?,
                            pad: geometry_u8([p[0], p[1], p[2], p[3]], &nodes[0], "pads")?,
                        }
                    }
                    _ => Op::Alias { input, output },
                };
                w.op(&op).map_err(encode_error)?;
            }
        }
    }
    let scratch = scratch.div_ceil(4) * 4;
    let arena = peak + scratch;
    let (qi, qo) = (q(&qg.input)?, q(&qg.output)?);
    let n_ops = w.op_count() as usize;
    let blob = w
        .finish(&Interface {
            input: tid(&qg.input)?,
            output: tid(&qg.output)?,
            input_scale: qi.scale,
            input_zero_point: qi.zero_point as i32,
            output_scale: qo.scale,
            output_zero_point: qo.zero_point as i32,
            arena_size: arena,
            scratch_len: scratch,
        })
        .map_err(encode_error)?;
    let info = NqmInfo {
        size: blob.len(),
        arena_size: arena,
        activation_peak: peak,
        lower_bound: lower,
        scratch,
        ops: n_ops,
        weight_bytes,
    };
    Ok((blob, info))
}

/// Conv weights `[O][I][KH][KW]` (ONNX) in the engine's order: `[O][KH][KW][I]`
/// (OHWI), or `[KH][KW][O]` for a depthwise conv (`I = 1`, one group per channel).
fn engine_weights(data: &[i8], dims: &[usize], depthwise: bool) -> Vec<u8> {
    let (o, i, kh, kw) = (dims[0], dims[1], dims[2], dims[3]);
    let mut out = vec![0u8; data.len()];
    for a in 0..o {
        for b in 0..i {
            for y in 0..kh {
                for x in 0..kw {
                    let to = if depthwise {
                        (y * kw + x) * o + a
                    } else {
                        ((a * kh + y) * kw + x) * i + b
                    };
                    out[to] = data[((a * i + b) * kh + y) * kw + x] as u8;
                }
            }
        }
    }
    out
}

/// `table[q + 128] = quantize_out(f(dequantize_in(q)))`: exact for int8 input.
pub fn lut(f: impl Fn(f64) -> f64, qi: &TensorQuant, qo: &TensorQuant) -> Vec<u8> {
    (-128i32..=127)
        .map(|v| {
            let x = (v - qi.zero_point as i32) as f64 * qi.scale as f64;
            let y = f(x);
            ((round_half_away(y / qo.scale as f64) + qo.zero_point as f64).clamp(-128.0, 127.0)
                as i8) as u8
        })
        .collect()
}

/// How a blob compares with the QDQ model it was made from.
#[derive(Debug, Clone, Serialize)]
pub struct NqmCheck {
    /// Inputs compared.
    pub samples: usize,
    /// Fraction whose top-1 class agrees.
    pub top1_agreement: f64,
    /// Largest |Δ| of an output code, in LSB of the output scale.
    pub max_lsb: i32,
    /// Mean |Δ| over all output codes, in LSB.
    pub mean_lsb: f64,
    /// The bound the check enforces.
    pub bound_lsb: i32,
}

/// The per-logit bound [`verify`] enforces, in output LSB.
pub const LSB_BOUND: i32 = 4;

/// Run `blob` through the host build of the firmware engine and the QDQ model
/// through tract on the same (preprocessed, float) inputs; compare output codes.
pub fn verify(
    blob: &[u8],
    qdq: &ModelProto,
    inputs: &[Vec<f32>],
    shape: &[usize],
) -> Result<NqmCheck, ConvertError> {
    use nyquist_firmware::layout::chw_to_hwc;
    use nyquist_firmware::Model;
    use rayon::prelude::*;
    let m = Model::from_bytes(blob)
        .map_err(|e| ConvertError::Usage(format!("exported blob does not load: {e}")))?;
    // The reference is the QDQ model as ONNX defines it (float operators
    // between quantize / dequantize), not the runtime's integer lowering.
    let engine = nyquist_runtime::Engine::from_onnx_bytes_with(
        &prost::Message::encode_to_vec(qdq),
        Path::new("<qdq>"),
        shape,
        nyquist_runtime::engine::Int8Mode::Simulate,
    )
    .map_err(ConvertError::from)?;
    let (si, zi, so, zo) = (
        m.input_scale,
        m.input_zero_point,
        m.output_scale,
        m.output_zero_point,
    );
    let results: Vec<(Vec<i8>, Vec<i32>)> = inputs
        .par_iter()
        .map(|x| {
            let chw: Vec<i8> = x
                .iter()
                .map(|&v| ((v / si).round() as i32 + zi).clamp(-128, 127) as i8)
                .collect();
            let mut xq = vec![0i8; chw.len()];
            let (c, h, wd) = (m.input.c as usize, m.input.h as usize, m.input.w as usize);
            chw_to_hwc(&chw, c, h, wd, &mut xq).ok_or_else(|| {
                ConvertError::Usage(format!(
                    "input has {} values, the blob takes {c}×{h}×{wd}",
                    chw.len()
                ))
            })?;
            let mut arena = vec![0i8; m.arena_size];
            let mut out = vec![0i8; m.output.len()];
            m.run(&mut arena, &xq, &mut out)
                .map_err(|e| ConvertError::Usage(format!("firmware engine: {e}")))?;
            let f = engine.run(x).map_err(ConvertError::from)?;
            let codes: Vec<i32> = f[0]
                .data
                .iter()
                .map(|&v| (v / so).round() as i32 + zo)
                .collect();
            Ok((out, codes))
        })
        .collect::<Result<_, ConvertError>>()?;
    let argmax_i = |v: &[i32]| {
        v.iter()
            .enumerate()
            .max_by_key(|(i, x)| (**x, std::cmp::Reverse(*i)))
            .map(|(i, _)| i)
    };
    let mut agree = 0;
    let (mut max, mut sum, mut n) = (0i32, 0i64, 0usize);
    for (a, b) in &results {
        let a32: Vec<i32> = a.iter().map(|&v| v as i32).collect();
        if argmax_i(&a32) == argmax_i(b) {
            agree += 1;
        }
        for (x, y) in a32.iter().zip(b) {
            let d = (x - y).abs();
            max = max.max(d);
            sum += d as i64;
            n += 1;
        }
    }
    Ok(NqmCheck {
        samples: results.len(),
        top1_agreement: agree as f64 / results.len().max(1) as f64,
        max_lsb: max,
        mean_lsb: sum as f64 / n.max(1) as f64,
        bound_lsb: LSB_BOUND,
    })
}
