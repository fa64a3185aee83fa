//! Nyquist's passes over tract's typed graph, run around tract's own
//! optimizer so that an int8 convolution ends as **one** integer matmul with
//! its requantization fused into the kernel's epilogue.
//!
//! tract fuses a requantization into its int8 matmul kernel only when the
//! weight scale is one number for the whole tensor: a per-channel scale
//! leaves a float `Scale` op (i32 → f32 → i32, per element), a separate zero
//! point correction, and every later clamp, as separate passes over memory.
//! Per-channel weight scales are what keeps int8 accurate, so instead of
//! giving them up, [`PerChannelRequant`] rewrites the `Scale` into integer
//! steps the kernel *can* fuse (per-row multiply and clamps, uniform
//! fixed-point scalers), and [`ScalarZeroPoint`] tells tract that a vector of
//! zero weight zero points is zero.
//!
//! ## Per-channel requantization in fused integer steps
//!
//! The conv's accumulator `acc` (i32) must become `y = round(acc·f_c)` with
//! `f_c = s_x·s_w[c]/s_y`, one factor per output channel `c`. With
//! `f = max f_c`, `F = f·2^h` and `m_c = round(2^(q−h)·f_c/f)`:
//!
//! ```text
//! t   = round(acc · F)                  uniform Q31 scaler (i64 inside: exact, no overflow)
//! t   = clamp(t, −T_c, T_c)             per row,  T_c = ⌈256.5·2^h·f/f_c⌉: beyond it y + z_y saturates anyway
//! t   = t · m_c                         per row,  |t·m_c| ≤ 256.5·2^q < 2^31 for q = 22
//! acc = round(t / 2^q)                  uniform rounding shift
//! ```
//!
//! and tract's own `+ z_y`, clamp and int8 store follow, fused as well. The
//! clamp bounds the product by construction — no overflow whatever the
//! weights — and the two roundings put the result within
//! `2^−(h+1) + 128·2^(h−q)·f/f_c` LSB of the exact value before its own
//! rounding: `h` is chosen per layer to make that worst case smallest
//! (typically below 1/16 LSB), so the fused conv differs from the QDQ
//! reference by at most one LSB, and rarely.

use super::NodePass;
use tract_linalg::mmm::RoundingPolicy;
use tract_linalg::Scaler;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::change_axes::wire_with_rank_broadcast;
use tract_onnx::tract_core::ops::cnn::Conv;
use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;
use tract_onnx::tract_core::ops::math::QScale;
use tract_onnx::tract_core::ops::quant::Scale;

/// Bits of the per-row product's headroom: `|t·m_c| ≤ 256.5·2^Q < 2^31`.
const Q: i32 = 22;

/// Largest |y| (in LSB, before the zero point) that must survive the clamp:
/// with a zero point `z_y` in [−128, 127], `y + z_y` saturates beyond it.
const REACH: f64 = 256.5;

/// The fixed-point plan for one layer's per-channel factors.
#[derive(Debug, Clone, PartialEq)]
pub struct Requant {
    /// Uniform scaler before the per-row steps (`f·2^h`).
    pub hi: f32,
    /// Per-row clamp bound `T_c`.
    pub bound: Vec<i32>,
    /// Per-row multiplier `m_c`.
    pub mult: Vec<i32>,
    /// Final right shift `q`.
    pub shift: i32,
    /// Worst-case error bound (LSB) before the final rounding.
    pub worst_lsb: f64,
}

impl Requant {
    /// Plan the steps for factors `f_c` (all > 0); `None` for an empty or
    /// non-positive set.
    pub fn plan(factors: &[f32]) -> Option<Requant> {
        let f: Vec<f64> = factors.iter().map(|&v| v as f64).collect();
        let fmax = f.iter().copied().fold(0f64, f64::max);
        let fmin = f.iter().copied().fold(f64::INFINITY, f64::min);
        if f.is_empty() || fmin <= 0.0 || !fmax.is_finite() {
            return None;
        }
        let ratio = fmax / fmin;
        // h: largest allowed keeps F = f·2^h below 1; minimize the worst error.
        let hmax = (-fmax.log2()).floor().clamp(0.0, 20.0) as i32;
        let err = |h: i32| {
            let e1 = 0.5f64.powi(h + 1);
            let e2 = 128.0 * ratio * 2f64.powi(h - Q);
            e1 + e2
        };
        let h = (0..=hmax.min(Q)).min_by(|&a, &b| err(a).total_cmp(&err(b)))?;
        let scale = 2f64.powi(Q - h) / fmax;
        let mult: Vec<i32> = f.iter().map(|&fc| (fc * scale).round() as i32).collect();
        let bound: Vec<i32> = f
            .iter()
            .map(|&fc| {
                (REACH * 2f64.powi(h) * fmax / fc)
                    .ceil()
                    .min(i32::MAX as f64) as i32
            })
            .collect();
        // The products stay below 2^31 by construction; check it anyway.
        let ok = mult
            .iter()
            .zip(&bound)
            .all(|(&m, &t)| (m as i64 * t as i64) < (1i64 << 31) && m > 0);
        ok.then(|| Requant {
            hi: (fmax * 2f64.powi(h)) as f32,
            bound,
            mult,
            shift: Q,
            worst_lsb: err(h),
        })
    }

    /// The steps on one accumulator (the reference the fused kernel matches).
    pub fn apply(&self, acc: i32, row: usize) -> i32 {
        let t = scale_even(acc, self.hi as f64);
        let t = t.clamp(-self.bound[row], self.bound[row]);
        let p = t * self.mult[row];
        rounding_shift_even(p, self.shift)
    }
}

/// `round_half_even(x·s)` in f64 (exact for the magnitudes involved).
fn scale_even(x: i32, s: f64) -> i32 {
    (x as f64 * s).round_ties_even() as i32
}

/// `round_half_even(x / 2^k)`.
fn rounding_shift_even(x: i32, k: i32) -> i32 {
    (x as f64 / 2f64.powi(k)).round_ties_even() as i32
}

fn konst(model: &TypedModel, o: OutletId) -> Option<Arc<Tensor>> {
    model.outlet_fact(o).ok()?.konst.clone()
}

/// Before codegen: a quantized `Conv` whose weight zero point is a vector of
/// zeros gets a scalar zero instead, so tract drops the zero-point
/// correction (and the column sums it needs) entirely.
#[derive(Debug, Clone, Default)]
pub struct ScalarZeroPoint;

impl super::NodeRewrite for ScalarZeroPoint {
    fn patch(&self, model: &TypedModel, node: &TypedNode) -> TractResult<Option<TypedModelPatch>> {
        let Some(conv) = node.op_as::<Conv>() else {
            return Ok(None);
        };
        if conv.q_params.is_none() || node.inputs.len() != 9 {
            return Ok(None);
        }
        let Some(k0) = konst(model, node.inputs[5]) else {
            return Ok(None);
        };
        if k0.len() <= 1 {
            return Ok(None);
        }
        let k0 = k0.cast_to::<i32>()?.into_owned();
        let zeros = k0
            .try_as_plain_ram()?
            .as_slice::<i32>()?
            .iter()
            .all(|&v| v == 0);
        if !zeros {
            return Ok(None);
        }
        let mut patch = TypedModelPatch::new(format!("nyquist: scalar k0 for {}", node.name));
        let mut inputs = node
            .inputs
            .iter()
            .map(|&i| patch.tap_model(model, i))
            .collect::<TractResult<TVec<_>>>()?;
        let zero = Tensor::zero_scalar_dt(model.outlet_fact(node.inputs[5])?.datum_type)?;
        inputs[5] = patch.add_const(format!("{}.k0_scalar", node.name), zero)?;
        let out = patch.wire_node(&node.name, conv.clone(), &inputs)?;
        patch.shunt_outside(model, node.id.into(), out[0])?;
        Ok(Some(patch))
    }
}

/// During codegen: a per-channel `Scale` on i32 accumulators becomes the
/// fusable integer steps of the module docs.
#[derive(Debug, Clone, Default)]
pub struct PerChannelRequant;

impl super::NodeRewrite for PerChannelRequant {
    fn patch(&self, model: &TypedModel, node: &TypedNode) -> TractResult<Option<TypedModelPatch>> {
        let Some(bin) = node.op_as::<TypedBinOp>() else {
            return Ok(None);
        };
        if !bin.0.is::<Scale>() || node.inputs.len() != 2 {
            return Ok(None);
        }
        if model.outlet_fact(node.inputs[1])?.datum_type != i32::datum_type() {
            return Ok(None);
        }
        let Some(factor) = konst(model, node.inputs[0]) else {
            return Ok(None);
        };
        if factor.len() <= 1 {
            return Ok(None);
        }
        let f = factor.cast_to::<f32>()?.into_owned();
        let Some(plan) = Requant::plan(f.try_as_plain_ram()?.as_slice::<f32>()?) else {
            return Ok(None);
        };
        // tract puts a reshape (group removal) between the matmul and the
        // scale; a per-row step fuses only right after the matmul, so
        // the steps go before that reshape, along the matmul's row axis.
        let Some((src, shape, reshape)) = hoist_point(model, node.inputs[1], factor.shape())?
        else {
            return Ok(None);
        };
        let per_row = |v: &[i32]| -> TractResult<Tensor> {
            let mut t = tensor1(v);
            t.set_shape(&shape)?;
            Ok(t)
        };
        let name = &node.name;
        let mut patch = TypedModelPatch::new(format!("nyquist: fused per-channel requant {name}"));
        let x = patch.tap_model(model, src)?;
        let scaler = |s: f32| {
            ElementWiseOp(
                Box::new(QScale {
                    scaler: Scaler::new(s, RoundingPolicy::Even),
                }),
                None,
            )
        };
        let mut w = patch.wire_node(format!("{name}.nyq_hi"), scaler(plan.hi), &[x])?[0];
        let hi = patch.add_const(format!("{name}.nyq_bound"), per_row(&plan.bound)?)?;
        let neg: Vec<i32> = plan.bound.iter().map(|b| -b).collect();
        let lo = patch.add_const(format!("{name}.nyq_neg_bound"), per_row(&neg)?)?;
        let m = patch.add_const(format!("{name}.nyq_mult"), per_row(&plan.mult)?)?;
        w = wire_with_rank_broadcast(
            format!("{name}.nyq_min"),
            &mut patch,
            tract_onnx::tract_core::ops::math::min(),
            &[w, hi],
        )?[0];
        w = wire_with_rank_broadcast(
            format!("{name}.nyq_max"),
            &mut patch,
            tract_onnx::tract_core::ops::math::max(),
            &[w, lo],
        )?[0];
        w = wire_with_rank_broadcast(
            format!("{name}.nyq_mul"),
            &mut patch,
            tract_onnx::tract_core::ops::math::mul(),
            &[w, m],
        )?[0];
        w = patch.wire_node(
            format!("{name}.nyq_shift"),
            scaler(0.5f32.powi(plan.shift)),
            &[w],
        )?[0];
        if let Some((rname, op)) = reshape {
            w = patch.wire_node(rname, op, &[w])?[0];
        }
        patch.shunt_outside(model, node.id.into(), w)?;
        Ok(Some(patch))
    }
}

/// Where the per-row steps go for a scale of shape `factor` applied to
/// `input`: right after the matmul that produces it, before the one reshape
/// tract puts in between, and only if the factor's channel axis *is* the
/// matmul's row axis there. Returns the outlet to tap, the shape of the
/// per-row constants (1 everywhere but the row axis), and the reshape to
/// re-apply after the steps (name and op).
#[allow(clippy::type_complexity)]
fn hoist_point(
    model: &TypedModel,
    input: OutletId,
    factor: &[usize],
) -> TractResult<Option<(OutletId, TVec<usize>, Option<(String, Box<dyn TypedOp>)>)>> {
    use tract_onnx::tract_core::ops::change_axes::{AxisOp, IntoShape};
    use tract_onnx::tract_core::ops::matmul::optimized::OptMatMul;
    // The channel axis of the scaled tensor: the factor's one non-unit axis,
    // right-aligned (broadcasting).
    let Some(after) = model
        .outlet_fact(input)?
        .shape
        .as_concrete()
        .map(|d| d.to_vec())
    else {
        return Ok(None);
    };
    let channels: usize = factor.iter().product();
    let non_unit: Vec<usize> = (0..factor.len()).filter(|&i| factor[i] != 1).collect();
    let ([axis], true) = (&non_unit[..], factor.len() <= after.len()) else {
        return Ok(None);
    };
    let ca = after.len() - factor.len() + axis;
    // The matmul's row axis, if it holds the same elements: same length and
    // the same number of elements in front of it (a reshape only regroups).
    let row_shape = |mm: &OptMatMul, fact: &TypedFact| -> Option<TVec<usize>> {
        let ra = mm.c_m_axis?;
        let dims = fact.shape.as_concrete()?;
        let before = |d: &[usize], a: usize| d[..a].iter().product::<usize>();
        (dims.get(ra) == Some(&channels) && before(dims, ra) == before(&after, ca)).then(|| {
            let mut s: TVec<usize> = tvec![1; dims.len()];
            s[ra] = channels;
            s
        })
    };
    let node = model.node(input.node);
    if let Some(mm) = node.op_as::<OptMatMul>() {
        return Ok(row_shape(mm, model.outlet_fact(input)?).map(|s| (input, s, None)));
    }
    let reshape: Box<dyn TypedOp> = if let Some(op) = node.op_as::<IntoShape>() {
        Box::new(op.clone())
    } else if let Some(op) = node.op_as::<AxisOp>() {
        Box::new(op.clone())
    } else {
        return Ok(None);
    };
    if node.outputs[0].successors.len() != 1 {
        return Ok(None);
    }
    let before = node.inputs[0];
    let Some(mm) = model.node(before.node).op_as::<OptMatMul>() else {
        return Ok(None);
    };
    Ok(row_shape(mm, model.outlet_fact(before)?)
        .map(|s| (before, s, Some((node.name.clone(), reshape)))))
}

/// tract's optimizer with Nyquist's int8 passes in place: the zero-point
/// pass before codegen, the requantization pass right after it (before
/// tract's fusion pass absorbs the new steps into the matmuls).
pub fn optimize(model: &mut TypedModel) -> TractResult<()> {
    use tract_onnx::tract_core::optim::Optimizer;
    // Before tract's declutter (which turns 1×1 convolutions into einsums):
    // constants folded, then the convolution-level rewrites.
    let mut pre = Optimizer::prop_consts();
    pre.add_pass(1, Box::new(NodePass(ScalarZeroPoint)));
    pre.add_pass(2, Box::new(NodePass(super::depthwise::Depthwise)));
    pre.optimize(model)?;
    model.declutter()?;
    let mut opt = Optimizer::codegen();
    // After `codegen` (index 2 of tract's list), before its fusion pass.
    opt.add_pass(3, Box::new(NodePass(PerChannelRequant)));
    opt.optimize(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(acc: i32, f: f32) -> f64 {
        acc as f64 * f as f64
    }

    #[test]
    fn plan_stays_within_its_error_bound_and_never_overflows() {
        for factors in [
            vec![1e-3f32, 2e-3, 5e-4, 1.1e-3],
            vec![3e-4, 3e-4 * 900.0 / 1000.0, 3e-6], // a near-dead channel: ratio 100
            vec![0.02, 0.0002],
            vec![2.3e-5; 4],
        ] {
            let p = Requant::plan(&factors).unwrap();
            assert!(p.worst_lsb < 0.3, "{factors:?}: {}", p.worst_lsb);
            for (c, &f) in factors.iter().enumerate() {
                // Across the whole useful range, and far into saturation.
                let useful = (130.0 / f as f64) as i64;
                for acc in (-4 * useful..=4 * useful).step_by((useful as usize / 500).max(1)) {
                    let acc = acc.clamp(i32::MIN as i64 + 1, i32::MAX as i64) as i32;
                    let got = p.apply(acc, c);
                    let want = exact(acc, f);
                    if want.abs() <= 256.0 {
                        assert!(
                            (got as f64 - want).abs() <= 0.5 + p.worst_lsb,
                            "{factors:?} c={c} acc={acc}: {got} vs {want}"
                        );
                    } else {
                        // Saturating: same side, beyond int8 whatever the zero point.
                        assert!(
                            got.signum() == want.signum() as i32 && got.abs() >= 256,
                            "{acc}: {got}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn extreme_accumulators_do_not_wrap() {
        let p = Requant::plan(&[1e-3, 1e-5]).unwrap();
        for acc in [i32::MAX, i32::MIN + 1, 1 << 30, -(1 << 30)] {
            for c in 0..2 {
                let y = p.apply(acc, c);
                assert_eq!(y.signum(), acc.signum());
                assert!(y.abs() >= 256);
            }
        }
    }
}
