//! Integer operators tract lacks, and the ONNX parsers that build them:
//! `com.microsoft.QLinearAdd` → [`QAdd`], `com.microsoft.QLinearGlobalAveragePool`
//! → [`QGlobalAvgPool`]. Both read and write int8 tensors; neither goes
//! through float tensors.
//!
//! **Residual add.** With `r_a = s_a/s_y`, `r_b = s_b/s_y` and a shift `k`
//! chosen so that the larger of `M_a = round(r_a·2^k)`, `M_b = round(r_b·2^k)`
//! is below 2^20,
//!
//! ```text
//! y = clamp(round_half_even(((a − z_a)·M_a + (b − z_b)·M_b) / 2^k)  +  z_y,  −128, 127)
//! ```
//!
//! all in i32 (|a − z_a| ≤ 255, so the sum stays below 2^30; the division is
//! a shift and a remainder test): one pass that compilers vectorize (widen,
//! two multiplies, add, shift, compare, narrow). Against the QDQ reference
//! `round((a − z_a)·s_a + (b − z_b)·s_b) / s_y)` it differs only where the
//! exact value lies within 255·2^−21 LSB of a half (the multipliers are
//! rounded): at most one LSB, and rarely.
//!
//! **Global average pool.** Per channel `S = Σ x` in i32, then
//! `y = clamp(round((S − n·z_x)·s_x/(n·s_y)) + z_y)` with `n = H·W`: integer
//! sums, and one rescale per channel (C multiplications per image), exactly
//! the QDQ reference's arithmetic.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::ops::expandable::{expand, Expansion};

/// Read a scalar constant input of an ONNX node being wired.
fn scalar(model: &TypedModel, o: OutletId, what: &str) -> TractResult<f64> {
    let k = model
        .outlet_fact(o)?
        .konst
        .clone()
        .with_context(|| format!("{what} must be a constant"))?;
    ensure!(
        k.len() == 1,
        "{what} must be a scalar (per-tensor quantization)"
    );
    k.cast_to_scalar::<f64>()
}

// ---------------------------------------------------------------- QAdd

/// Requantizing int8 addition (see the module docs for the arithmetic).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QAdd {
    /// Zero points of a, b, y.
    pub z: [i32; 3],
    /// Fixed-point multipliers of a and b.
    pub m: [i32; 2],
    /// Right shift.
    pub shift: u32,
}

impl QAdd {
    /// Parameters from scales and zero points; `None` when the ratios are
    /// out of the fixed-point range (more than 2^20 apart from 1).
    pub fn new(sa: f64, za: i32, sb: f64, zb: i32, sy: f64, zy: i32) -> Option<QAdd> {
        let (ra, rb) = (sa / sy, sb / sy);
        let big = ra.max(rb);
        if !(big.is_finite() && big > 0.0 && ra >= 0.0 && rb >= 0.0) {
            return None;
        }
        // Largest k with big·2^k < 2^20.
        let k = (20.0 - big.log2()).floor() as i32 - 1;
        if !(1..=30).contains(&k) {
            return None;
        }
        let p = (1u64 << k) as f64;
        Some(QAdd {
            z: [za, zb, zy],
            m: [(ra * p).round() as i32, (rb * p).round() as i32],
            shift: k as u32,
        })
    }

    /// One element.
    #[inline(always)]
    pub fn one(&self, a: i8, b: i8) -> i8 {
        let acc = (a as i32 - self.z[0]) * self.m[0] + (b as i32 - self.z[1]) * self.m[1];
        // Round half to even, as QuantizeLinear does: up when the remainder
        // is above one half, or exactly one half and the quotient is odd.
        let q = acc >> self.shift;
        let rem = acc & ((1 << self.shift) - 1);
        let half = 1 << (self.shift - 1);
        let up = (rem > half) | ((rem == half) & (q & 1 == 1));
        ((q + up as i32) + self.z[2]).clamp(-128, 127) as i8
    }

    /// Equal-length slices (the vectorized path).
    pub fn run(&self, a: &[i8], b: &[i8], y: &mut [i8]) {
        for ((y, &a), &b) in y.iter_mut().zip(a).zip(b) {
            *y = self.one(a, b);
        }
    }
}

impl Op for QAdd {
    fn name(&self) -> StaticName {
        "NyquistQAdd".into()
    }
    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "z {:?} m {:?} >> {}",
            self.z, self.m, self.shift
        )])
    }
    op_as_typed_op!();
}

impl EvalOp for QAdd {
    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (a, b) = (&inputs[0], &inputs[1]);
        if a.shape() == b.shape() {
            let mut y = Tensor::zero::<i8>(a.shape())?;
            {
                let (av, bv) = (a.try_as_plain_ram()?, b.try_as_plain_ram()?);
                let mut yv = y.try_as_plain_ram_mut()?;
                self.run(
                    av.as_slice::<i8>()?,
                    bv.as_slice::<i8>()?,
                    yv.as_slice_mut::<i8>()?,
                );
            }
            return Ok(tvec!(y.into_tvalue()));
        }
        let shape = tract_onnx::tract_core::broadcast::multi_broadcast(&[a.shape(), b.shape()])?;
        let (av, bv) = (
            a.to_plain_array_view::<i8>()?,
            b.to_plain_array_view::<i8>()?,
        );
        let mut y = tract_ndarray::ArrayD::<i8>::zeros(&*shape);
        tract_ndarray::Zip::from(&mut y)
            .and_broadcast(&av)
            .and_broadcast(&bv)
            .for_each(|y, &a, &b| *y = self.one(a, b));
        Ok(tvec!(y.into_tvalue()))
    }
    op_out_of_plan!();
}

impl TypedOp for QAdd {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let shape = tract_onnx::tract_core::broadcast::multi_broadcast(&[
            inputs[0].shape.to_tvec(),
            inputs[1].shape.to_tvec(),
        ])?;
        Ok(tvec!(i8::datum_type().fact(shape)))
    }
    as_op!();
}

/// The ONNX `com.microsoft.QLinearAdd` node (8 inputs).
#[derive(Debug, Clone)]
struct QLinearAdd;

impl Expansion for QLinearAdd {
    fn name(&self) -> StaticName {
        "QLinearAdd".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 8)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
        s.equals(&inputs[3].datum_type, &outputs[0].datum_type)?;
        s.given_2(&inputs[0].shape, &inputs[3].shape, move |s, a, b| {
            let c = tract_onnx::tract_core::broadcast::multi_broadcast(&[a, b])?;
            s.equals(&outputs[0].shape, c)
        })
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let dt = model.outlet_fact(inputs[0])?.datum_type;
        ensure!(
            dt == i8::datum_type() && model.outlet_fact(inputs[3])?.datum_type == dt,
            "{prefix}: QLinearAdd on int8 tensors only (got {dt:?})"
        );
        let sa = scalar(model, inputs[1], "QLinearAdd A_scale")?;
        let za = scalar(model, inputs[2], "QLinearAdd A_zero_point")? as i32;
        let sb = scalar(model, inputs[4], "QLinearAdd B_scale")?;
        let zb = scalar(model, inputs[5], "QLinearAdd B_zero_point")? as i32;
        let sy = scalar(model, inputs[6], "QLinearAdd C_scale")?;
        let zy = scalar(model, inputs[7], "QLinearAdd C_zero_point")? as i32;
        match QAdd::new(sa, za, sb, zb, sy, zy) {
            Some(op) => model.wire_node(prefix, op, &[inputs[0], inputs[3]]),
            None => wire_float_add(prefix, model, inputs, [sa, sb, sy], [za, zb, zy]),
        }
    }
}

/// Scales too far apart for the fixed-point form: dequantize, add, quantize
/// (tract's own ops).
fn wire_float_add(
    prefix: &str,
    model: &mut TypedModel,
    inputs: &[OutletId],
    s: [f64; 3],
    z: [i32; 3],
) -> TractResult<TVec<OutletId>> {
    use tract_onnx::tract_core::ops::quant::{quantize_linear_i8, DequantizeLinearF32};
    let a = model.wire_node(
        format!("{prefix}.dq_a"),
        DequantizeLinearF32 {
            scale: s[0] as f32,
            zero_point: z[0],
        },
        &[inputs[0]],
    )?[0];
    let b = model.wire_node(
        format!("{prefix}.dq_b"),
        DequantizeLinearF32 {
            scale: s[1] as f32,
            zero_point: z[1],
        },
        &[inputs[3]],
    )?[0];
    let sum = model.wire_node(
        format!("{prefix}.add"),
        TypedBinOp(Box::new(tract_onnx::tract_core::ops::math::Add), None),
        &[a, b],
    )?[0];
    model.wire_node(
        format!("{prefix}.q"),
        quantize_linear_i8(1.0 / s[2] as f32, z[2].clamp(-128, 127) as i8),
        &[sum],
    )
}

// ---------------------------------------------------------------- QGlobalAvgPool

/// int8 global average pooling over the spatial axes of an NCHW tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct QGlobalAvgPool {
    /// Input zero point.
    pub zx: i32,
    /// Output zero point.
    pub zy: i32,
    /// `s_x / s_y`.
    pub ratio: f64,
}

impl Eq for QGlobalAvgPool {}

impl std::hash::Hash for QGlobalAvgPool {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        (self.zx, self.zy, self.ratio.to_bits()).hash(h)
    }
}

impl QGlobalAvgPool {
    /// Pool `x` (`channels` planes of `n` values each) into `y`.
    pub fn run(&self, x: &[i8], n: usize, y: &mut [i8]) {
        let r = self.ratio / n as f64;
        for (plane, y) in x.chunks_exact(n.max(1)).zip(y) {
            let s: i32 = plane.iter().map(|&v| v as i32).sum::<i32>() - n as i32 * self.zx;
            let v = (s as f64 * r).round_ties_even() as i32 + self.zy;
            *y = v.clamp(-128, 127) as i8;
        }
    }
}

impl Op for QGlobalAvgPool {
    fn name(&self) -> StaticName {
        "NyquistQGlobalAvgPool".into()
    }
    op_as_typed_op!();
}

impl EvalOp for QGlobalAvgPool {
    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let shape = x.shape();
        ensure!(
            shape.len() >= 3,
            "QLinearGlobalAveragePool: NCHW input, got {shape:?}"
        );
        let n: usize = shape[2..].iter().product();
        let mut out_shape: TVec<usize> = shape.into();
        for d in out_shape[2..].iter_mut() {
            *d = 1;
        }
        let mut y = Tensor::zero::<i8>(&out_shape)?;
        {
            let xv = x.try_as_plain_ram()?;
            let mut yv = y.try_as_plain_ram_mut()?;
            self.run(xv.as_slice::<i8>()?, n, yv.as_slice_mut::<i8>()?);
        }
        Ok(tvec!(y.into_tvalue()))
    }
    op_out_of_plan!();
}

impl TypedOp for QGlobalAvgPool {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let mut shape = inputs[0].shape.to_tvec();
        for d in shape[2..].iter_mut() {
            *d = 1.to_dim();
        }
        Ok(tvec!(i8::datum_type().fact(shape)))
    }
    as_op!();
}

/// The ONNX `com.microsoft.QLinearGlobalAveragePool` node (NCHW).
#[derive(Debug, Clone)]
struct QLinearGlobalAveragePool;

impl Expansion for QLinearGlobalAveragePool {
    fn name(&self) -> StaticName {
        "QLinearGlobalAveragePool".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 5)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
        s.equals(&inputs[0].rank, &outputs[0].rank)?;
        s.given(&inputs[0].shape, move |s, shape| {
            let mut out = shape.clone();
            for d in out.iter_mut().skip(2) {
                *d = 1.to_dim();
            }
            s.equals(&outputs[0].shape, out)
        })
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        ensure!(
            model.outlet_fact(inputs[0])?.datum_type == i8::datum_type(),
            "{prefix}: QLinearGlobalAveragePool on int8 tensors only"
        );
        let sx = scalar(model, inputs[1], "QLinearGlobalAveragePool x_scale")?;
        let zx = scalar(model, inputs[2], "QLinearGlobalAveragePool x_zero_point")? as i32;
        let sy = scalar(model, inputs[3], "QLinearGlobalAveragePool y_scale")?;
        let zy = scalar(model, inputs[4], "QLinearGlobalAveragePool y_zero_point")? as i32;
        model.wire_node(
            prefix,
            QGlobalAvgPool {
                zx,
                zy,
                ratio: sx / sy,
            },
            &[inputs[0]],
        )
    }
}

/// Register the parsers with a tract ONNX framework.
pub fn register(onnx: &mut tract_onnx::Onnx) {
    onnx.op_register
        .insert("QLinearAdd", |_ctx, _node| Ok((expand(QLinearAdd), vec![])));
    onnx.op_register
        .insert("QLinearGlobalAveragePool", |_ctx, node| {
            let channels_last = node
                .attribute
                .iter()
                .find(|a| a.name == "channels_last")
                .is_some_and(|a| a.i != 0);
            if channels_last {
                bail!("QLinearGlobalAveragePool: channels_last=1 is not supported");
            }
            Ok((expand(QLinearGlobalAveragePool), vec![]))
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The QDQ reference: dequantize, add in f64, quantize (round half to even).
    fn reference(a: i8, b: i8, s: [f64; 3], z: [i32; 3]) -> i8 {
        let v = (a as i32 - z[0]) as f64 * s[0] + (b as i32 - z[1]) as f64 * s[1];
        ((v / s[2]).round_ties_even() as i32 + z[2]).clamp(-128, 127) as i8
    }

    #[test]
    fn qadd_equals_the_qdq_reference_except_at_ties() {
        let cases = [
            ([0.02, 0.03, 0.04], [-3, 10, -128]),
            ([0.1, 0.001, 0.05], [0, -128, 5]),
            ([0.0123, 0.0456, 0.0234], [17, -20, 3]),
        ];
        for (s, z) in cases {
            let op = QAdd::new(s[0], z[0], s[1], z[1], s[2], z[2]).unwrap();
            for a in -128..=127i32 {
                for b in -128..=127i32 {
                    let (got, want) = (op.one(a as i8, b as i8), reference(a as i8, b as i8, s, z));
                    let v = ((a - z[0]) as f64 * s[0] + (b - z[1]) as f64 * s[1]) / s[2];
                    let near_tie = ((v - v.floor()) - 0.5).abs() < 1e-4;
                    if near_tie {
                        assert!(
                            (got as i32 - want as i32).abs() <= 1,
                            "{a} {b} {s:?}: {got} vs {want}"
                        );
                    } else {
                        assert_eq!(got, want, "{a} {b} {s:?} (value {v})");
                    }
                }
            }
        }
    }

    #[test]
    fn qadd_hand_computed() {
        // s_a = s_b = s_y / 2, zero points 0: y = round((a + b) / 2), halves to even.
        let op = QAdd::new(0.5, 0, 0.5, 0, 1.0, 0).unwrap();
        assert_eq!(op.one(3, 4), 4); // 3.5 → 4
        assert_eq!(op.one(2, 3), 2); // 2.5 → 2
        assert_eq!(op.one(-3, -4), -4); // −3.5 → −4
        assert_eq!(op.one(100, 100), 100);
        assert_eq!(op.one(127, 127), 127);
        // Saturation, and the output zero point.
        let op = QAdd::new(1.0, 0, 1.0, 0, 1.0, 10).unwrap();
        assert_eq!(op.one(100, 100), 127);
        assert_eq!(op.one(-100, -100), -128);
        assert_eq!(op.one(1, 2), 13);
    }

    #[test]
    fn gap_hand_computed() {
        // Two channels of four values: means 2.5 and −1, scales equal.
        let op = QGlobalAvgPool {
            zx: 0,
            zy: 0,
            ratio: 1.0,
        };
        let mut y = [0i8; 2];
        op.run(&[1, 2, 3, 4, -1, -1, -1, -1], 4, &mut y);
        assert_eq!(y, [2, -1]); // 2.5 rounds to even
                                // Zero points and a scale ratio: x = q + 3 (z_x = −3), y = 2·mean − 5.
        let op = QGlobalAvgPool {
            zx: -3,
            zy: -5,
            ratio: 2.0,
        };
        op.run(&[-3, -1, 1, 3, 0, 0, 0, 0], 4, &mut y);
        assert_eq!(y, [2 * 3 - 5, 2 * 3 - 5]);
    }
}
