//! [`QDepthwise`]: int8 depthwise convolution (one filter per channel) as
//! one direct pass.
//!
//! tract runs a quantized convolution with `group = C` as C separate
//! im2col + matmul pairs with one output row each, followed by unfused
//! per-channel requantization ops — under `qemu-aarch64` the three depthwise
//! blurs a converted anti-aliased model keeps cost more instructions than
//! all its dense convolutions. This operator computes them directly:
//!
//! ```text
//! x'  = x − z_x                                   (i16 plane, zero padding = z_x)
//! acc = b[c] + Σ_ky Σ_kx w[c, ky, kx] · x'[c, y·s + ky·d, x·s + kx·d]   (i32)
//! y   = clamp(z_y + round_half_even(acc · f_c), −128, 127),   f_c = s_x·s_w[c]/s_y
//! ```
//!
//! Integer accumulation; the rescale is one f32 multiply per output (as
//! onnxruntime's requantization does): |acc| < 2^24 for kernels up to 22×22,
//! so `acc` is exact in f32 and the product is within 2^−23 of the real
//! value relative — the rounding differs from exact arithmetic only within
//! 3·10^−5 LSB of a tie. One pass over each output row, vectorized along it.
//!
//! [`Depthwise`] (a pass run before tract's codegen) swaps it in for every
//! quantized `Conv` whose group equals its input and output channels.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat};
use tract_onnx::tract_core::ops::nn::DataFormat;

/// The operator (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct QDepthwise {
    /// Input shape N, C, H, W.
    pub input: [usize; 4],
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Strides.
    pub strides: [usize; 2],
    /// Dilations.
    pub dilations: [usize; 2],
    /// Zero padding before (top, left).
    pub pad: [usize; 2],
    /// Output height and width.
    pub output: [usize; 2],
    /// Weights, `[C, kh, kw]`, as i16.
    pub weights: Vec<i16>,
    /// Bias per channel.
    pub bias: Vec<i32>,
    /// Requantization factor `s_x·s_w[c]/s_y` per channel.
    pub requant: Vec<f32>,
    /// Input and output zero points.
    pub z: [i32; 2],
}

impl QDepthwise {
    /// Run on one NCHW int8 tensor.
    pub fn run(&self, x: &[i8], y: &mut [i8]) {
        let [n, c, h, w] = self.input;
        let [kh, kw] = self.kernel;
        let [ho, wo] = self.output;
        let [sh, sw] = self.strides;
        let [dh, dw] = self.dilations;
        // The padded plane of one channel, zero point removed.
        let hp = ((ho - 1) * sh + (kh - 1) * dh + 1).max(self.pad[0] + h);
        let wp = ((wo - 1) * sw + (kw - 1) * dw + 1).max(self.pad[1] + w);
        let mut plane = vec![0i16; hp * wp];
        let mut acc = vec![0i32; wo];
        let mut tap = vec![0i16; wo];
        for b in 0..n {
            for ch in 0..c {
                let src = &x[(b * c + ch) * h * w..][..h * w];
                for (yy, line) in src.chunks_exact(w).enumerate() {
                    let dst = &mut plane[(yy + self.pad[0]) * wp + self.pad[1]..][..w];
                    for (d, &v) in dst.iter_mut().zip(line) {
                        *d = v as i16 - self.z[0] as i16;
                    }
                }
                let wts = &self.weights[ch * kh * kw..][..kh * kw];
                let out = &mut y[(b * c + ch) * ho * wo..][..ho * wo];
                for (yo, out_row) in out.chunks_exact_mut(wo).enumerate() {
                    acc.fill(self.bias[ch]);
                    for ky in 0..kh {
                        let row = &plane[(yo * sh + ky * dh) * wp..][..wp];
                        for kx in 0..kw {
                            let wgt = wts[ky * kw + kx] as i32;
                            let start = kx * dw;
                            if sw == 1 {
                                for (a, &v) in acc.iter_mut().zip(&row[start..start + wo]) {
                                    *a += wgt * v as i32;
                                }
                            } else {
                                for (t, v) in tap.iter_mut().zip(row[start..].iter().step_by(sw)) {
                                    *t = *v;
                                }
                                for (a, &v) in acc.iter_mut().zip(&tap) {
                                    *a += wgt * v as i32;
                                }
                            }
                        }
                    }
                    let (f, z) = (self.requant[ch], self.z[1] as f32);
                    for (o, &a) in out_row.iter_mut().zip(&acc) {
                        *o = ((a as f32 * f).round_ties_even() + z).clamp(-128.0, 127.0) as i8;
                    }
                }
            }
        }
    }
}

impl Eq for QDepthwise {}

impl std::hash::Hash for QDepthwise {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        (self.input, self.kernel, &self.weights, &self.bias, self.z).hash(h);
        for f in &self.requant {
            f.to_bits().hash(h);
        }
    }
}

impl Op for QDepthwise {
    fn name(&self) -> StaticName {
        "NyquistQDepthwise".into()
    }
    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{}x{} s{:?} d{:?} pad {:?} on {:?}",
            self.kernel[0], self.kernel[1], self.strides, self.dilations, self.pad, self.input
        )])
    }
    op_as_typed_op!();
}

impl EvalOp for QDepthwise {
    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let [n, c, _, _] = self.input;
        let [ho, wo] = self.output;
        let mut y = Tensor::zero::<i8>(&[n, c, ho, wo])?;
        {
            let xv = inputs[0].try_as_plain_ram()?;
            let mut yv = y.try_as_plain_ram_mut()?;
            self.run(xv.as_slice::<i8>()?, yv.as_slice_mut::<i8>()?);
        }
        Ok(tvec!(y.into_tvalue()))
    }
    op_out_of_plan!();
}

impl TypedOp for QDepthwise {
    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let [n, c, _, _] = self.input;
        Ok(tvec!(i8::datum_type().fact([
            n,
            c,
            self.output[0],
            self.output[1]
        ])))
    }
    as_op!();
}

fn konst(model: &TypedModel, o: OutletId) -> Option<Arc<Tensor>> {
    model.outlet_fact(o).ok()?.konst.clone()
}

fn values<T: Datum + Copy>(t: &Tensor) -> TractResult<Vec<T>> {
    let t = t.cast_to::<T>()?.into_owned();
    Ok(t.try_as_plain_ram()?.as_slice::<T>()?.to_vec())
}

/// The operator for one quantized depthwise `Conv`, when every parameter is
/// a constant and the layout is NCHW / OIHW.
fn build(model: &TypedModel, node: &TypedNode, conv: &Conv) -> TractResult<Option<QDepthwise>> {
    let ps = &conv.pool_spec;
    let x = model.outlet_fact(node.inputs[0])?;
    let Some(shape) = x.shape.as_concrete() else {
        return Ok(None);
    };
    let c = ps.input_channels;
    if conv.q_params != Some(i8::datum_type())
        || x.datum_type != i8::datum_type()
        || node.inputs.len() != 9
        || ps.data_format != DataFormat::NCHW
        || conv.kernel_fmt != KernelFormat::OIHW
        || shape.len() != 4
        || ps.kernel_shape.len() != 2
        || conv.group != c
        || ps.output_channels != c
        || c < 2
    {
        return Ok(None);
    }
    let consts: Option<Vec<Arc<Tensor>>> =
        node.inputs[1..].iter().map(|&i| konst(model, i)).collect();
    let Some(k) = consts else {
        return Ok(None);
    };
    let (kernel, bias, x0, xs, k0, ks, y0, ys) =
        (&k[0], &k[1], &k[2], &k[3], &k[4], &k[5], &k[6], &k[7]);
    let [kh, kw] = [ps.kernel_shape[0], ps.kernel_shape[1]];
    if kernel.len() != c * kh * kw || values::<i32>(k0)?.iter().any(|&v| v != 0) {
        return Ok(None);
    }
    let weights: Vec<i16> = values::<i32>(kernel)?.iter().map(|&v| v as i16).collect();
    let bias: Vec<i32> = match bias.len() {
        1 => vec![values::<i32>(bias)?[0]; c],
        n if n == c => values::<i32>(bias)?,
        _ => return Ok(None),
    };
    let (sx, sy) = (values::<f32>(xs)?[0] as f64, values::<f32>(ys)?[0] as f64);
    let sw = values::<f32>(ks)?;
    let sw: Vec<f64> = match sw.len() {
        1 => vec![sw[0] as f64; c],
        n if n == c => sw.iter().map(|&v| v as f64).collect(),
        _ => return Ok(None),
    };
    let requant: Vec<f32> = sw.iter().map(|s| (sx * s / sy) as f32).collect();
    if requant.iter().any(|f| !(f.is_finite() && *f > 0.0)) || kh * kw > 484 {
        return Ok(None);
    }
    let dims = ps.computed_padding(&shape[2..]);
    Ok(Some(QDepthwise {
        input: [shape[0], shape[1], shape[2], shape[3]],
        kernel: [kh, kw],
        strides: [ps.strides()[0], ps.strides()[1]],
        dilations: [ps.dilations()[0], ps.dilations()[1]],
        pad: [dims[0].pad_before, dims[1].pad_before],
        output: [dims[0].convoluted, dims[1].convoluted],
        weights,
        bias,
        requant,
        z: [values::<i32>(x0)?[0], values::<i32>(y0)?[0]],
    }))
}

/// Before codegen: quantized depthwise `Conv` → [`QDepthwise`].
#[derive(Debug, Clone, Default)]
pub struct Depthwise;

impl super::NodeRewrite for Depthwise {
    fn patch(&self, model: &TypedModel, node: &TypedNode) -> TractResult<Option<TypedModelPatch>> {
        let Some(conv) = node.op_as::<Conv>() else {
            return Ok(None);
        };
        let Some(op) = build(model, node, conv)? else {
            return Ok(None);
        };
        if op.output_facts(&[])?[0].shape != node.outputs[0].fact.shape {
            return Ok(None);
        }
        let mut patch = TypedModelPatch::new(format!("nyquist: int8 depthwise {}", node.name));
        let x = patch.tap_model(model, node.inputs[0])?;
        let y = patch.wire_node(&node.name, op, &[x])?[0];
        patch.shunt_outside(model, node.id.into(), y)?;
        Ok(Some(patch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-computed: a 3×3 box filter of ones on a 4×4 ramp, zero padding 1.
    #[test]
    fn hand_computed_box_filter() {
        let op = QDepthwise {
            input: [1, 1, 4, 4],
            kernel: [3, 3],
            strides: [1, 1],
            dilations: [1, 1],
            pad: [1, 1],
            output: [4, 4],
            weights: vec![1; 9],
            bias: vec![0],
            requant: vec![1.0],
            z: [0, 0],
        };
        let x: Vec<i8> = (0..16).collect();
        let mut y = vec![0i8; 16];
        op.run(&x, &mut y);
        // Corner (0,0): 0+1+4+5 = 10; centre (1,1): 0+1+2+4+5+6+8+9+10 = 45.
        assert_eq!(y[0], 10);
        assert_eq!(y[5], 45);
        // Saturation at the bottom right: 10+11+14+15 = 50.
        assert_eq!(y[15], 50);
        // With zero points: x stored as x − 3 (z_x = −3), y = sum + 7.
        let op = QDepthwise { z: [-3, 7], ..op };
        let xq: Vec<i8> = x.iter().map(|&v| v - 3).collect();
        op.run(&xq, &mut y);
        assert_eq!(y[0], 17);
        assert_eq!(y[5], 52);
    }
}
