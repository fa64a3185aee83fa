//! [`PadBlur`]: a fixed blur with its reflect (or edge) padding as one
//! operator — the lowering of the blurs a converted anti-aliased model keeps.
//!
//! After `nyquist-convert --fold-blur` commutes a blur in front of a strided
//! convolution, the blur is a stride-1 depthwise convolution with the same
//! binomial filter in every channel, fed by a reflect `Pad`. tract runs that
//! as two memory-bound passes (a padded copy, then its depthwise kernel with
//! 9 taps per pixel): under `qemu-aarch64` they cost the bundled model more
//! instructions than its residual adds and pooling together. This operator
//! reads the unpadded input once, resolves the reflection in its index
//! arithmetic, and, when the filter is an outer product `u ⊗ v` (binomial
//! blurs are, exactly), runs it as two 1-D passes (3 + 3 taps instead of 9):
//!
//! ```text
//! t[y][x] = Σ_j v[j] · in[y][r_x(x + j − left)]      rows (interior vectorized, edges reflected)
//! out[y][x] = Σ_i u[i] · t[r_y(y + i − top)][x]      columns (whole rows at a time)
//! ```
//!
//! with `r` the reflection (`1 2 3 4` padded by 2 → `3 2 | 1 2 3 4`) or the
//! edge clamp. The operator takes strides too (tested), but the pass fuses
//! stride-1 blurs only: at stride 2 both passes together do the direct
//! kernel's multiply-adds. Outputs equal the padded depthwise convolution's to float
//! rounding (the sums are reassociated). [`FusePadBlur`] swaps it in before
//! tract's codegen.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::array::{Pad, PadMode};
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec};
use tract_onnx::tract_core::ops::nn::DataFormat;

/// How the border is filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Border {
    /// `3 2 | 1 2 3 4`.
    Reflect,
    /// `1 1 | 1 2 3 4`.
    Edge,
}

impl Border {
    /// The source index of padded position `i` (may be negative or ≥ `n`).
    #[inline]
    fn index(self, i: isize, n: usize) -> usize {
        let n = n as isize;
        let j = match self {
            Border::Edge => i.clamp(0, n - 1),
            Border::Reflect => {
                if n == 1 {
                    0
                } else {
                    let period = 2 * (n - 1);
                    let m = i.rem_euclid(period);
                    if m < n {
                        m
                    } else {
                        period - m
                    }
                }
            }
        };
        j as usize
    }
}

/// The filter: separable (`u ⊗ v`) or a full 2-D kernel.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Column taps `u` (height), row taps `v` (width).
    Separable(Vec<f32>, Vec<f32>),
    /// `kh × kw` taps, row-major.
    Full(Vec<f32>),
}

/// The operator (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct PadBlur {
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Padding top, left, bottom, right.
    pub pad: [usize; 4],
    /// Strides (a blur before a subsampling, as exported, has 2).
    pub stride: [usize; 2],
    /// Border mode.
    pub border: Border,
    /// The taps, shared by every channel.
    pub filter: Filter,
}

impl Eq for PadBlur {}

impl std::hash::Hash for PadBlur {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        (self.kernel, self.pad, self.stride, self.border).hash(h);
    }
}

impl PadBlur {
    /// Output height and width for an `h × w` input.
    pub fn output(&self, h: usize, w: usize) -> [usize; 2] {
        [
            (h + self.pad[0] + self.pad[2] - self.kernel[0]) / self.stride[0] + 1,
            (w + self.pad[1] + self.pad[3] - self.kernel[1]) / self.stride[1] + 1,
        ]
    }

    /// The source row of every (output row, tap) and the source column of
    /// every (output column, tap), reflection resolved: computed once per
    /// input size, shared by every plane.
    pub fn tables(&self, h: usize, w: usize) -> (Vec<usize>, Vec<usize>) {
        let [kh, kw] = self.kernel;
        let [ho, wo] = self.output(h, w);
        let (top, left) = (self.pad[0] as isize, self.pad[1] as isize);
        let rows = (0..ho * kh)
            .map(|i| {
                let y = (i / kh * self.stride[0]) as isize;
                self.border.index(y + (i % kh) as isize - top, h)
            })
            .collect();
        let cols = (0..wo * kw)
            .map(|i| {
                let x = (i / kw * self.stride[1]) as isize;
                self.border.index(x + (i % kw) as isize - left, w)
            })
            .collect();
        (rows, cols)
    }

    /// One `h × w` plane into `out` (`ho × wo`), with the [`PadBlur::tables`]
    /// for this size; `t` is scratch.
    pub fn plane(
        &self,
        x: &[f32],
        h: usize,
        w: usize,
        tables: &(Vec<usize>, Vec<usize>),
        out: &mut [f32],
        t: &mut Vec<f32>,
    ) {
        let [kh, kw] = self.kernel;
        let [ho, wo] = self.output(h, w);
        let (rows, cols) = tables;
        match &self.filter {
            Filter::Separable(u, v) => {
                // Rows: every input row, horizontally filtered to wo columns.
                t.resize(h * wo, 0.0);
                for (src, dst) in x.chunks_exact(w).zip(t.chunks_exact_mut(wo)) {
                    self.row(src, v, cols, dst);
                }
                // Columns: output row y mixes the (reflected) rows of its taps.
                for (y, dst) in out.chunks_exact_mut(wo).enumerate().take(ho) {
                    let src = |i: usize| &t[rows[y * kh + i] * wo..][..wo];
                    match u[..] {
                        [a, b, c] => {
                            let (r0, r1, r2) = (src(0), src(1), src(2));
                            for (((d, &p), &q), &r) in dst.iter_mut().zip(r0).zip(r1).zip(r2) {
                                *d = a * p + b * q + c * r;
                            }
                        }
                        _ => {
                            dst.fill(0.0);
                            for (i, &ui) in u.iter().enumerate() {
                                for (d, &s) in dst.iter_mut().zip(src(i)) {
                                    *d += ui * s;
                                }
                            }
                        }
                    }
                }
            }
            Filter::Full(k) => {
                for (y, dst) in out.chunks_exact_mut(wo).enumerate().take(ho) {
                    for (xo, d) in dst.iter_mut().enumerate() {
                        let mut acc = 0.0;
                        for i in 0..kh {
                            let r = rows[y * kh + i];
                            for j in 0..kw {
                                acc += k[i * kw + j] * x[r * w + cols[xo * kw + j]];
                            }
                        }
                        *d = acc;
                    }
                }
            }
        }
    }

    /// One row filtered horizontally: the interior (no reflection) as plain
    /// shifted multiply-adds, the few border columns through `cols`.
    fn row(&self, src: &[f32], v: &[f32], cols: &[usize], dst: &mut [f32]) {
        let w = src.len();
        let kw = v.len();
        let wo = dst.len();
        let (left, sx) = (self.pad[1], self.stride[1]);
        // Output columns whose taps all fall inside [0, w): xo·s ≥ left and
        // xo·s + kw − 1 − left ≤ w − 1.
        let lo = left.div_ceil(sx).min(wo);
        let hi = (w + left + 1).saturating_sub(kw).div_ceil(sx);
        let hi = hi.clamp(lo, wo);
        let n = hi - lo;
        match (v, sx) {
            (&[a, b, c], 1) => {
                let s = &src[lo - left..];
                let (s0, s1, s2) = (&s[..n], &s[1..n + 1], &s[2..n + 2]);
                for (((d, &p), &q), &r) in dst[lo..hi].iter_mut().zip(s0).zip(s1).zip(s2) {
                    *d = a * p + b * q + c * r;
                }
            }
            _ => {
                for (xo, d) in dst[lo..hi].iter_mut().enumerate() {
                    let start = (lo + xo) * sx - left;
                    *d = v
                        .iter()
                        .zip(&src[start..start + kw])
                        .map(|(&vj, &s)| vj * s)
                        .sum();
                }
            }
        }
        for xo in (0..lo).chain(hi..wo) {
            dst[xo] = v
                .iter()
                .zip(&cols[xo * kw..][..kw])
                .map(|(&vj, &c)| vj * src[c])
                .sum();
        }
    }
}

impl Op for PadBlur {
    fn name(&self) -> StaticName {
        "NyquistPadBlur".into()
    }
    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{}x{} {:?} pad {:?} {}",
            self.kernel[0],
            self.kernel[1],
            self.border,
            self.pad,
            if matches!(self.filter, Filter::Separable(..)) {
                "separable"
            } else {
                "full"
            }
        )])
    }
    op_as_typed_op!();
}

impl EvalOp for PadBlur {
    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let shape = x.shape();
        ensure!(shape.len() == 4, "PadBlur: NCHW input, got {shape:?}");
        let (nc, h, w) = (shape[0] * shape[1], shape[2], shape[3]);
        let [ho, wo] = self.output(h, w);
        let mut y = Tensor::zero::<f32>(&[shape[0], shape[1], ho, wo])?;
        {
            let xv = x.try_as_plain_ram()?;
            let xs = xv.as_slice::<f32>()?;
            let mut yv = y.try_as_plain_ram_mut()?;
            let ys = yv.as_slice_mut::<f32>()?;
            let mut t = Vec::new();
            let tables = self.tables(h, w);
            for (src, dst) in xs
                .chunks_exact(h * w)
                .zip(ys.chunks_exact_mut(ho * wo))
                .take(nc)
            {
                self.plane(src, h, w, &tables, dst, &mut t);
            }
        }
        Ok(tvec!(y.into_tvalue()))
    }
    op_out_of_plan!();
}

impl TypedOp for PadBlur {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let s = inputs[0].shape.to_tvec();
        ensure!(s.len() == 4, "PadBlur: NCHW input");
        let (h, w) = (s[2].to_usize()?, s[3].to_usize()?);
        let [ho, wo] = self.output(h, w).map(|d| d.to_dim());
        Ok(tvec!(f32::datum_type().fact([
            s[0].clone(),
            s[1].clone(),
            ho,
            wo
        ])))
    }
    as_op!();
}

/// `k` (`kh × kw`) as `u ⊗ v` when it is one (to 1e-6 relative), the
/// column of largest norm carrying the scale.
fn separate(k: &[f32], kh: usize, kw: usize) -> Option<(Vec<f32>, Vec<f32>)> {
    let max = k.iter().fold(0f32, |m, v| m.max(v.abs()));
    if max == 0.0 {
        return None;
    }
    // Row of the largest element: v = that row / its pivot; u = column at pivot.
    let p = k.iter().position(|v| v.abs() == max)?;
    let (pr, pc) = (p / kw, p % kw);
    let v: Vec<f32> = (0..kw).map(|j| k[pr * kw + j] / k[p]).collect();
    let u: Vec<f32> = (0..kh).map(|i| k[i * kw + pc]).collect();
    let ok = (0..kh).all(|i| (0..kw).all(|j| (u[i] * v[j] - k[i * kw + j]).abs() <= 1e-6 * max));
    ok.then_some((u, v))
}

/// The fused operator for `pad → conv` when `conv` is a stride-1,
/// dilation-1, bias-free depthwise float convolution with one filter for
/// every channel and no padding of its own, and `pad` pads only H and W.
fn build(
    model: &TypedModel,
    pad_node: &TypedNode,
    conv_node: &TypedNode,
) -> TractResult<Option<PadBlur>> {
    let (Some(pad), Some(conv)) = (pad_node.op_as::<Pad>(), conv_node.op_as::<Conv>()) else {
        return Ok(None);
    };
    let border = match pad.mode {
        PadMode::Reflect => Border::Reflect,
        PadMode::Edge => Border::Edge,
        PadMode::Constant(_) => return Ok(None),
    };
    let ps = &conv.pool_spec;
    let c = ps.input_channels;
    let x = model.outlet_fact(pad_node.inputs[0])?;
    if conv.q_params.is_some()
        || x.datum_type != f32::datum_type()
        || x.rank() != 4
        || pad.pads.len() != 4
        || pad.pads[0] != (0, 0)
        || pad.pads[1] != (0, 0)
        || ps.data_format != DataFormat::NCHW
        || conv.kernel_fmt != KernelFormat::OIHW
        || conv.group != c
        || ps.output_channels != c
        || ps.kernel_shape.len() != 2
        // At stride 2 the separable passes do as many multiply-adds as the
        // direct 9 taps (every input row is filtered): measured under
        // qemu-aarch64, fusing there saved nothing, so tract keeps those.
        || ps.strides().iter().any(|&s| s != 1)
        || ps.dilations().iter().any(|&d| d != 1)
        || !matches!(&ps.padding, PaddingSpec::Valid)
            && !matches!(&ps.padding, PaddingSpec::Explicit(b, a) if b.iter().chain(a.iter()).all(|&p| p == 0))
    {
        return Ok(None);
    }
    let [kh, kw] = [ps.kernel_shape[0], ps.kernel_shape[1]];
    let Some(kernel) = model.outlet_fact(conv_node.inputs[1])?.konst.clone() else {
        return Ok(None);
    };
    if let Some(bias) = conv_node.inputs.get(2) {
        let zero = model.outlet_fact(*bias)?.konst.as_ref().is_some_and(|b| {
            b.cast_to::<f32>()
                .ok()
                .and_then(|b| {
                    b.try_as_plain_ram().ok().map(|v| {
                        v.as_slice::<f32>()
                            .map(|s| s.iter().all(|&z| z == 0.0))
                            .unwrap_or(false)
                    })
                })
                .unwrap_or(false)
        });
        if !zero {
            return Ok(None);
        }
    }
    let kernel = kernel.cast_to::<f32>()?.into_owned();
    let view = kernel.try_as_plain_ram()?;
    let k = view.as_slice::<f32>()?;
    if k.len() != c * kh * kw {
        return Ok(None);
    }
    let first = &k[..kh * kw];
    if !k.chunks_exact(kh * kw).all(|ch| ch == first) {
        return Ok(None);
    }
    // Reflection needs more input than padding on each side.
    let Some(dims) = x.shape.as_concrete() else {
        return Ok(None);
    };
    let [(top, bottom), (left, right)] = [pad.pads[2], pad.pads[3]];
    if border == Border::Reflect && (top.max(bottom) >= dims[2] || left.max(right) >= dims[3]) {
        return Ok(None);
    }
    let filter = match separate(first, kh, kw) {
        Some((u, v)) => Filter::Separable(u, v),
        None => Filter::Full(first.to_vec()),
    };
    Ok(Some(PadBlur {
        kernel: [kh, kw],
        pad: [top, left, bottom, right],
        stride: [ps.strides()[0], ps.strides()[1]],
        border,
        filter,
    }))
}

/// Before codegen: `Pad (reflect / edge) → depthwise blur` ⇒ [`PadBlur`].
#[derive(Debug, Clone, Default)]
pub struct FusePadBlur;

impl crate::int8::NodeRewrite for FusePadBlur {
    fn patch(&self, model: &TypedModel, node: &TypedNode) -> TractResult<Option<TypedModelPatch>> {
        if !node.op_is::<Conv>() {
            return Ok(None);
        }
        let pad_node = model.node(node.inputs[0].node);
        if pad_node.outputs[0].successors.len() != 1 {
            return Ok(None);
        }
        let Some(op) = build(model, pad_node, node)? else {
            return Ok(None);
        };
        let mut patch = TypedModelPatch::new(format!("nyquist: fused pad and blur {}", node.name));
        let x = patch.tap_model(model, pad_node.inputs[0])?;
        let y = patch.wire_node(&node.name, op, &[x])?[0];
        patch.shunt_outside(model, node.id.into(), y)?;
        Ok(Some(patch))
    }
}

/// tract's optimizer for a float model, with the pad + blur fusion before
/// codegen.
pub fn optimize(model: &mut TypedModel) -> TractResult<()> {
    use tract_onnx::tract_core::optim::Optimizer;
    model.declutter()?;
    let mut opt = Optimizer::codegen();
    opt.add_pass(0, Box::new(crate::int8::NodePass(FusePadBlur)));
    opt.optimize(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflection_and_edge_indices() {
        // 1 2 3 4 reflected by 2: 3 2 | 1 2 3 4 | 3 2
        let r: Vec<usize> = (-2..6).map(|i| Border::Reflect.index(i, 4)).collect();
        assert_eq!(r, [2, 1, 0, 1, 2, 3, 2, 1]);
        let e: Vec<usize> = (-2..6).map(|i| Border::Edge.index(i, 4)).collect();
        assert_eq!(e, [0, 0, 0, 1, 2, 3, 3, 3]);
    }

    #[test]
    fn binomial_filters_separate_exactly() {
        let b = [1.0f32, 2.0, 1.0];
        let k: Vec<f32> = (0..9).map(|i| b[i / 3] * b[i % 3] / 16.0).collect();
        let (u, v) = separate(&k, 3, 3).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                assert_eq!(u[i] * v[j], k[i * 3 + j]);
            }
        }
        assert!(separate(&[1.0, 0.0, 0.0, 1.0], 2, 2).is_none());
    }

    /// Against a hand-written reflect-pad-then-convolve on a ramp.
    #[test]
    fn equals_pad_then_convolve() {
        let (h, w) = (5, 7);
        let x: Vec<f32> = (0..h * w).map(|i| ((i * 37) % 11) as f32 - 3.0).collect();
        let b = [1.0f32, 4.0, 6.0, 4.0, 1.0];
        let k: Vec<f32> = (0..25).map(|i| b[i / 5] * b[i % 5] / 256.0).collect();
        for (border, pad, stride) in [
            (Border::Reflect, [2, 2, 2, 2], [1, 1]),
            (Border::Edge, [1, 3, 2, 0], [1, 1]),
            (Border::Reflect, [2, 1, 2, 2], [2, 2]),
            (Border::Edge, [0, 2, 1, 2], [2, 3]),
        ] {
            for filter in [Filter::Full(k.clone()), {
                let (u, v) = separate(&k, 5, 5).unwrap();
                Filter::Separable(u, v)
            }] {
                let op = PadBlur {
                    kernel: [5, 5],
                    pad,
                    stride,
                    border,
                    filter,
                };
                let [ho, wo] = op.output(h, w);
                let mut got = vec![0.0; ho * wo];
                op.plane(&x, h, w, &op.tables(h, w), &mut got, &mut Vec::new());
                for yo in 0..ho {
                    for xo in 0..wo {
                        let mut want = 0.0;
                        for i in 0..5 {
                            for j in 0..5 {
                                let r = border
                                    .index((yo * stride[0] + i) as isize - pad[0] as isize, h);
                                let c = border
                                    .index((xo * stride[1] + j) as isize - pad[1] as isize, w);
                                want += k[i * 5 + j] * x[r * w + c];
                            }
                        }
                        let g = got[yo * wo + xo];
                        assert!(
                            (g - want).abs() <= 1e-5,
                            "{border:?} ({yo},{xo}): {g} vs {want}"
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod graph_tests {
    use super::*;
    use tract_onnx::tract_core::ops::cnn::PoolSpec;

    /// `x → Pad(reflect) → depthwise blur` optimized by tract alone and with
    /// the fusion: the same values, and the fused plan has no `Pad` left.
    #[test]
    fn fused_graph_matches_tract() {
        for (c, h, w, pad, stride) in [(4usize, 9usize, 11usize, 1usize, 1usize), (3, 6, 6, 2, 1)] {
            let k = 2 * pad + 1;
            let mut m = TypedModel::default();
            let x = m.add_source("x", f32::fact([1, c, h, w])).unwrap();
            let p = m
                .wire_node(
                    "pad",
                    Pad {
                        pads: vec![(0, 0), (0, 0), (pad, pad), (pad, pad)],
                        mode: PadMode::Reflect,
                    },
                    &[x],
                )
                .unwrap()[0];
            let b: Vec<f32> = (0..k).map(|i| [1.0, 2.0, 1.0, 4.0, 6.0][i % 5]).collect();
            let taps: Vec<f32> = (0..c * k * k)
                .map(|i| b[(i / k) % k] * b[i % k] / 64.0)
                .collect();
            let kernel = tract_ndarray::ArrayD::from_shape_vec(vec![c, 1, k, k], taps)
                .unwrap()
                .into_tensor();
            let kk = m.add_const("k", kernel).unwrap();
            let bias = m.add_const("b", tensor1(&vec![0f32; c])).unwrap();
            let conv = Conv {
                pool_spec: PoolSpec {
                    data_format: DataFormat::NCHW,
                    kernel_shape: tvec!(k, k),
                    padding: PaddingSpec::Valid,
                    dilations: None,
                    strides: Some(tvec!(stride, stride)),
                    input_channels: c,
                    output_channels: c,
                },
                kernel_fmt: KernelFormat::OIHW,
                group: c,
                q_params: None,
            };
            let y = m.wire_node("blur", conv, &[p, kk, bias]).unwrap();
            m.select_output_outlets(&y).unwrap();
            let input: Tensor = tract_ndarray::ArrayD::from_shape_vec(
                vec![1, c, h, w],
                (0..c * h * w)
                    .map(|i| ((i * 13) % 17) as f32 - 8.0)
                    .collect(),
            )
            .unwrap()
            .into();
            let run = |m: TypedModel| {
                let y = m
                    .into_runnable()
                    .unwrap()
                    .run(tvec!(input.clone().into()))
                    .unwrap();
                let y = y[0].clone().into_tensor();
                y.try_as_plain_ram()
                    .unwrap()
                    .as_slice::<f32>()
                    .unwrap()
                    .to_vec()
            };
            let want = run(m.clone().into_optimized().unwrap());
            let mut ours = m.clone();
            optimize(&mut ours).unwrap();
            assert!(ours.nodes().iter().any(|n| n.op_is::<PadBlur>()));
            assert!(!ours.nodes().iter().any(|n| n.op_is::<Pad>()));
            let got = run(ours);
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{g} vs {w}");
            }
        }
    }
}
