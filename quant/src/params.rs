//! Quantization parameters: activation scale / zero point from a range, weights
//! per output channel, int32 biases. The integer requantization arithmetic that
//! consumes them (multiplier + shift, TFLite's MultiplyByQuantizedMultiplier) is
//! written once, in `nyquist_firmware::arith`.

use std::collections::BTreeMap;

use serde::Serialize;

use nyquist_onnx::Tensor;

/// Per-tensor asymmetric int8 quantization of an activation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TensorQuant {
    /// Real value of one step.
    pub scale: f32,
    /// The int8 code of real 0.
    pub zero_point: i8,
    /// Calibrated lower bound (≤ 0).
    pub lo: f32,
    /// Calibrated upper bound (≥ 0).
    pub hi: f32,
}

impl TensorQuant {
    /// `scale = (hi − lo) / 255`, `zero_point = round(−128 − lo / scale)`; the
    /// range is widened to contain 0 first, so 0 is exactly representable.
    pub(crate) fn from_range(lo: f32, hi: f32) -> Self {
        let (lo, hi) = (lo.min(0.0), hi.max(0.0));
        let scale = if hi - lo > 0.0 {
            (hi - lo) / 255.0
        } else {
            1.0 / 255.0
        };
        let zp = (-128.0 - lo / scale).round().clamp(-128.0, 127.0) as i8;
        TensorQuant {
            scale,
            zero_point: zp,
            lo,
            hi,
        }
    }

    /// Quantize a real value.
    pub fn quantize(&self, x: f32) -> i8 {
        ((x / self.scale).round() + self.zero_point as f32).clamp(-128.0, 127.0) as i8
    }

    /// Dequantize a code.
    pub fn dequantize(&self, q: i8) -> f32 {
        (q as i32 - self.zero_point as i32) as f32 * self.scale
    }
}

/// A weight tensor quantized symmetrically per output channel (axis 0).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeightQuant {
    /// Dimensions.
    pub dims: Vec<usize>,
    /// One scale per output channel.
    pub scales: Vec<f32>,
    /// Codes in [−127, 127].
    pub data: Vec<i8>,
}

impl WeightQuant {
    /// Quantize `w` along `axis` (0 for conv `[O, …]` and for a Gemm `[N, K]`
    /// weight, 1 for a `[K, N]` one).
    pub fn per_channel(w: &Tensor, axis: usize) -> Self {
        let v = w.to_f32();
        let channels = w.dims[axis];
        let inner: usize = w.dims[axis + 1..].iter().product();
        let ch = |i: usize| (i / inner) % channels;
        let mut amax = vec![0f32; channels];
        for (i, &x) in v.iter().enumerate() {
            amax[ch(i)] = amax[ch(i)].max(x.abs());
        }
        let scales: Vec<f32> = amax
            .iter()
            .map(|&m| if m > 0.0 { m / 127.0 } else { 1.0 })
            .collect();
        let data = v
            .iter()
            .enumerate()
            .map(|(i, &x)| (x / scales[ch(i)]).round().clamp(-127.0, 127.0) as i8)
            .collect();
        WeightQuant {
            dims: w.dims.clone(),
            scales,
            data,
        }
    }

    /// The dequantized weights.
    pub fn dequantized(&self, axis: usize) -> Vec<f32> {
        let channels = self.dims[axis];
        let inner: usize = self.dims[axis + 1..].iter().product();
        self.data
            .iter()
            .enumerate()
            .map(|(i, &q)| q as f32 * self.scales[(i / inner) % channels])
            .collect()
    }
}

/// `round(b / (s_x · s_w[o]))`, saturated to i32.
pub(crate) fn quantize_bias(b: &[f32], s_x: f32, s_w: &[f32]) -> Vec<i32> {
    b.iter()
        .zip(s_w)
        .map(|(&v, &sw)| {
            (v as f64 / (s_x as f64 * sw as f64))
                .round()
                .clamp(i32::MIN as f64, i32::MAX as f64) as i32
        })
        .collect()
}

/// Everything the quantizer decided.
#[derive(Debug, Clone, Default, Serialize)]
pub struct QParams {
    /// Activation tensor → its quantization (pass-through tensors included).
    pub tensors: BTreeMap<String, TensorQuant>,
    /// Activation tensor → how its range was chosen.
    pub methods: BTreeMap<String, String>,
    /// Weight tensor name → quantized weight.
    pub weights: BTreeMap<String, WeightQuant>,
    /// Op (first node name) → final float bias (after bias correction).
    pub biases: BTreeMap<String, Vec<f32>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_to_scale_and_zero_point() {
        let q = TensorQuant::from_range(-1.0, 3.0);
        assert!((q.scale - 4.0 / 255.0).abs() < 1e-9);
        assert_eq!(q.zero_point, -64); // round(-128 + 63.75)
        assert_eq!(q.quantize(0.0), -64);
        assert!((q.dequantize(q.quantize(1.0)) - 1.0).abs() <= q.scale / 2.0);
        let relu = TensorQuant::from_range(0.0, 6.0);
        assert_eq!(relu.zero_point, -128);
        let pos = TensorQuant::from_range(2.0, 5.0); // widened to contain 0
        assert_eq!(pos.lo, 0.0);
    }

    #[test]
    fn weights_are_symmetric_per_channel() {
        // Values away from rounding ties: 0.51·127 = 64.77 → 65; 0.0101·127/0.02 = 64.1 → 64.
        let w = Tensor::f32(vec![2, 1, 1, 2], vec![0.51, -1.0, 0.02, 0.0101]);
        let q = WeightQuant::per_channel(&w, 0);
        assert_eq!(q.data, vec![65, -127, 127, 64]);
        assert!(
            (q.scales[0] - 1.0 / 127.0).abs() < 1e-9 && (q.scales[1] - 0.02 / 127.0).abs() < 1e-9
        );
        assert_eq!(quantize_bias(&[0.1], 0.5, &[0.01]), vec![20]);
    }
}
