//! Kernel algebra for moving a fixed blur across a convolution.
//!
//! ONNX `Conv` is a cross-correlation: `y[j] = Σ_k W[k]·x[s·j − p + k]`. Writing a
//! blur `B` (stride `s_b`, pad `p_b`) after a conv `W` (stride 1, pad `p_c`):
//!
//! ```text
//! z[i] = Σ_b B[b]·y[s_b·i − p_b + b] = Σ_{b,k} B[b]·W[k]·x[s_b·i − (p_b + p_c) + b + k]
//! ```
//!
//! so `Conv_W(s1) → Blur_B(s)` is one conv with stride `s`, pads `p_c + p_b` and
//! kernel `W'[m] = Σ_{k+b=m} W[k]·B[b]` (the *fold*, [`compose`] with step 1).
//! A blur *before* a conv with stride `t` and pad `p_w`:
//!
//! ```text
//! z[i] = Σ_k W[k]·u[t·i − p_w + k],  u[j] = Σ_b B[b]·x[s·j − p_u + b]
//!      = Σ_{k,b} W[k]·B[b]·x[s·t·i − (s·p_w + p_u) + s·k + b]
//! ```
//!
//! is one conv with stride `s·t`, pads `s·p_w + p_u` and kernel
//! `W'[m] = Σ_{s·k+b=m} W[k]·B[b]` of size `s·(k−1) + b` (the *forward fold*,
//! [`compose`] with step `s`). Both identities hold exactly wherever no padding is
//! read; near the borders the padded values differ (see `blur::border`).

/// A 2-D blur kernel, row-major, `h × w`.
#[derive(Debug, Clone, PartialEq)]
pub struct Kernel2d {
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// `h·w` taps, row-major.
    pub taps: Vec<f64>,
}

impl Kernel2d {
    /// The normalised `k × k` binomial kernel: outer product of `C(k−1, j)`, sum 1.
    pub fn binomial(k: usize) -> Self {
        let mut row = vec![1.0f64; k];
        for j in 1..k {
            row[j] = row[j - 1] * (k - j) as f64 / j as f64;
        }
        let s: f64 = row.iter().sum();
        let taps = row
            .iter()
            .flat_map(|a| row.iter().map(move |b| a * b / (s * s)))
            .collect();
        Kernel2d { h: k, w: k, taps }
    }

    /// If the kernel is a normalised binomial of its size, that size.
    pub(crate) fn binomial_order(&self) -> Option<usize> {
        (self.h == self.w && Kernel2d::binomial(self.h).max_abs_diff(self) < 1e-5).then_some(self.h)
    }

    /// Largest absolute tap difference with another kernel of the same size
    /// (`inf` if the sizes differ).
    pub(crate) fn max_abs_diff(&self, other: &Kernel2d) -> f64 {
        if self.h != other.h || self.w != other.w {
            return f64::INFINITY;
        }
        self.taps
            .iter()
            .zip(&other.taps)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
    }

    /// The taps as `f32`, repeated for `channels` depthwise channels
    /// (`[C,1,h,w]` layout).
    pub fn depthwise_weight(&self, channels: usize) -> Vec<f32> {
        let one: Vec<f32> = self.taps.iter().map(|&t| t as f32).collect();
        one.iter()
            .copied()
            .cycle()
            .take(one.len() * channels)
            .collect()
    }
}

/// Compose a conv kernel `w` (`kh × kw`) with a blur `b` placed at `step` spacing:
/// `out[m] = Σ_{step·k + j = m} w[k]·b[j]` (per axis), of size `step[0]·(kh−1) + b.h`
/// by `step[1]·(kw−1) + b.w`. `step = 1` is the fold (full convolution of `w` and `b`),
/// `step = s` the forward fold through a stride-`s` blur. Accumulates in f64.
pub fn compose(
    w: &[f32],
    kh: usize,
    kw: usize,
    b: &Kernel2d,
    step: [usize; 2],
) -> (Vec<f32>, usize, usize) {
    assert_eq!(w.len(), kh * kw, "kernel size");
    let oh = step[0] * (kh - 1) + b.h;
    let ow = step[1] * (kw - 1) + b.w;
    let mut out = vec![0.0f64; oh * ow];
    for ky in 0..kh {
        for kx in 0..kw {
            let wk = w[ky * kw + kx] as f64;
            for by in 0..b.h {
                for bx in 0..b.w {
                    out[(step[0] * ky + by) * ow + step[1] * kx + bx] += wk * b.taps[by * b.w + bx];
                }
            }
        }
    }
    (out.into_iter().map(|x| x as f32).collect(), oh, ow)
}

/// Apply [`compose`] to every `[o, i]` slice of a `[O, I, kh, kw]` conv weight.
pub fn compose_weight(
    w: &[f32],
    dims: [usize; 4],
    b: &Kernel2d,
    step: [usize; 2],
) -> (Vec<f32>, [usize; 4]) {
    let [o, i, kh, kw] = dims;
    let mut out = Vec::new();
    let (mut oh, mut ow) = (0, 0);
    for slice in w.chunks_exact(kh * kw).take(o * i) {
        let (k, h, wd) = compose(slice, kh, kw, b, step);
        out.extend(k);
        (oh, ow) = (h, wd);
    }
    (out, [o, i, oh, ow])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn binomial_taps_match_the_published_rows() {
        let k3 = Kernel2d::binomial(3);
        let expect = [1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0].map(|x| x / 16.0);
        assert!(k3
            .taps
            .iter()
            .zip(expect)
            .all(|(a, b)| (a - b).abs() < 1e-15));
        let k4 = Kernel2d::binomial(4);
        assert!((k4.taps[0] - 1.0 / 64.0).abs() < 1e-15 && (k4.taps[5] - 9.0 / 64.0).abs() < 1e-15);
        let k5 = Kernel2d::binomial(5);
        assert!((k5.taps[12] - 36.0 / 256.0).abs() < 1e-15);
        assert_eq!(k5.binomial_order(), Some(5));
    }

    #[test]
    fn fold_of_a_3x3_with_the_3x3_binomial_is_5x5() {
        // A single centre tap composed with B is B itself, padded into 5x5.
        let mut w = vec![0.0f32; 9];
        w[4] = 1.0;
        let (k, h, wd) = compose(&w, 3, 3, &Kernel2d::binomial(3), [1, 1]);
        assert_eq!((h, wd), (5, 5));
        assert_eq!(k[6], 1.0 / 16.0); // (1,1) = B[0][0]
        assert_eq!(k[12], 4.0 / 16.0); // centre
        assert_eq!(k[0], 0.0);
    }

    #[test]
    fn forward_fold_of_a_1x1_is_the_blur_and_of_a_3x3_is_7x7_at_stride_2() {
        let b = Kernel2d::binomial(3);
        let (k, h, _) = compose(&[2.0], 1, 1, &b, [2, 2]);
        assert_eq!(h, 3);
        assert!(k
            .iter()
            .zip(&b.taps)
            .all(|(x, t)| (*x as f64 - 2.0 * t).abs() < 1e-7));
        let (_, h, w) = compose(&[1.0; 9], 3, 3, &b, [2, 2]);
        assert_eq!((h, w), (7, 7));
    }

    /// 1-D reference: run the two ops in sequence on a long signal (no padding
    /// touched) and compare with the composed kernel.
    fn sequential_1d(x: &[f64], w: &[f64], b: &[f64], s_blur: usize, blur_first: bool) -> Vec<f64> {
        let corr = |x: &[f64], k: &[f64], s: usize| -> Vec<f64> {
            (0..=(x.len() - k.len()) / s)
                .map(|i| k.iter().enumerate().map(|(j, kj)| kj * x[s * i + j]).sum())
                .collect()
        };
        if blur_first {
            corr(&corr(x, b, s_blur), w, 1)
        } else {
            corr(&corr(x, w, 1), b, s_blur)
        }
    }

    proptest! {
        #[test]
        fn compose_equals_running_the_two_ops(
            w in proptest::collection::vec(-1.0f64..1.0, 1..5),
            x in proptest::collection::vec(-1.0f64..1.0, 40..60),
            bk in 2usize..6,
            s in 1usize..3,
        ) {
            // The 1-D binomial row: the first row of the 2-D kernel, renormalised.
            let b2 = Kernel2d::binomial(bk);
            let row_sum: f64 = b2.taps[..bk].iter().sum();
            let b: Vec<f64> = b2.taps[..bk].iter().map(|t| t / row_sum).collect();
            let b1 = Kernel2d { h: 1, w: bk, taps: b.clone() };
            let wf: Vec<f32> = w.iter().map(|&v| v as f32).collect();
            let wd: Vec<f64> = wf.iter().map(|&v| v as f64).collect();
            let xd: Vec<f64> = x.iter().map(|&v| v as f32 as f64).collect();
            // fold: conv then blur(stride s) == one conv of compose(step 1) at stride s
            let (k, _, kw) = compose(&wf, 1, w.len(), &b1, [1, 1]);
            let want = sequential_1d(&xd, &wd, &b, s, false);
            let kd: Vec<f64> = k.iter().map(|&v| v as f64).collect();
            let got: Vec<f64> = (0..want.len()).map(|i| (0..kw).map(|j| kd[j] * xd[s * i + j]).sum()).collect();
            for (g, e) in got.iter().zip(&want) { prop_assert!((g - e).abs() < 1e-5, "fold {g} vs {e}"); }
            // forward fold: blur(stride s) then conv == one conv of compose(step s) at stride s
            let (k, _, kw) = compose(&wf, 1, w.len(), &b1, [1, s]);
            let want = sequential_1d(&xd, &wd, &b, s, true);
            let kd: Vec<f64> = k.iter().map(|&v| v as f64).collect();
            let got: Vec<f64> = (0..want.len()).map(|i| (0..kw).map(|j| kd[j] * xd[s * i + j]).sum()).collect();
            for (g, e) in got.iter().zip(&want) { prop_assert!((g - e).abs() < 1e-5, "forward {g} vs {e}"); }
        }
    }
}
