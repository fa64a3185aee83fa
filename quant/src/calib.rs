//! Calibration: run the float model through tract with every calibrated
//! activation exposed, in parallel over the calibration images, and turn what
//! was seen into int8 ranges.
//!
//! Two passes: the first records min / max (and per-channel means, for bias
//! correction), the second 2048-bin histograms over [min, max] and [0, max |x|].
//! Range methods:
//!
//! * `minmax` — [min, max];
//! * `percentile:P` — the P-th and (100−P)-th percentiles of the values;
//! * `entropy` — TensorRT's KL-divergence threshold search on the |x| histogram
//!   (2048 bins onto 255 levels for non-negative tensors, 127 per side otherwise);
//! * `mse` — the range (min·α, max·α), α ∈ {0.01 … 1}, that minimises the
//!   expected squared quantization error over the histogram.
//!
//! Every range is widened to contain 0, so zero (padding, ReLU) is exact.

use std::collections::HashMap;
use std::path::Path;

use nyquist_runtime::engine::Engine;
use prost::Message;
use rayon::prelude::*;
use serde::Serialize;

use crate::error::QuantError;
use nyquist_onnx::pb::{ModelProto, ValueInfoProto};

/// Number of histogram bins.
pub const BINS: usize = 2048;

/// How a range is chosen from what calibration saw.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Observed minimum and maximum.
    MinMax,
    /// Percentiles (e.g. 99.99).
    Percentile(f64),
    /// KL-divergence (TensorRT).
    Entropy,
    /// Minimum expected squared error.
    Mse,
}

impl std::str::FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "minmax" => Ok(Method::MinMax),
            "entropy" => Ok(Method::Entropy),
            "mse" => Ok(Method::Mse),
            "percentile" => Ok(Method::Percentile(99.99)),
            p if p.starts_with("percentile:") => p[11..]
                .parse::<f64>()
                .ok()
                .filter(|v| (50.0..=100.0).contains(v))
                .map(Method::Percentile)
                .ok_or_else(|| format!("`{p}`: the percentile must be a number in 50–100")),
            other => Err(format!("unknown calibration method `{other}`; expected minmax, percentile[:P], entropy, mse")),
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Method::MinMax => write!(f, "minmax"),
            Method::Percentile(p) => write!(f, "percentile:{p}"),
            Method::Entropy => write!(f, "entropy"),
            Method::Mse => write!(f, "mse"),
        }
    }
}

/// What calibration saw of one tensor.
#[derive(Debug, Clone, Default)]
pub struct Observer {
    /// Smallest value.
    pub min: f32,
    /// Largest value.
    pub max: f32,
    /// Histogram over [min, max].
    pub hist: Vec<u64>,
    /// Histogram of |x| over [0, max |x|].
    pub abs_hist: Vec<u64>,
    /// Per-channel sums (axis 1 of N, C, … tensors: over everything else).
    pub channel_sum: Vec<f64>,
    /// Values summed into each channel.
    pub channel_count: u64,
}

impl Observer {
    fn first(&mut self, data: &[f32], shape: &[usize]) {
        for &v in data {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        if shape.len() >= 2 {
            let (c, plane) = (shape[1], shape[2..].iter().product::<usize>().max(1));
            self.channel_sum.resize(c, 0.0);
            for (k, chunk) in data.chunks(plane).enumerate() {
                self.channel_sum[k % c] += chunk.iter().map(|&v| v as f64).sum::<f64>();
            }
            self.channel_count += (data.len() / c) as u64;
        }
    }

    fn merge_first(mut self, o: &Observer) -> Observer {
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        if self.channel_sum.len() < o.channel_sum.len() {
            self.channel_sum.resize(o.channel_sum.len(), 0.0);
        }
        for (a, b) in self.channel_sum.iter_mut().zip(&o.channel_sum) {
            *a += b;
        }
        self.channel_count += o.channel_count;
        self
    }

    fn second(&mut self, data: &[f32], lo: f32, hi: f32) {
        let span = (hi - lo).max(f32::MIN_POSITIVE);
        let amax = lo.abs().max(hi.abs()).max(f32::MIN_POSITIVE);
        for &v in data {
            let b = (((v - lo) / span) * BINS as f32) as usize;
            self.hist[b.min(BINS - 1)] += 1;
            let a = ((v.abs() / amax) * BINS as f32) as usize;
            self.abs_hist[a.min(BINS - 1)] += 1;
        }
    }

    /// Per-channel mean (axis 1).
    pub(crate) fn channel_means(&self) -> Vec<f32> {
        let per = self.channel_count.max(1) as f64;
        self.channel_sum.iter().map(|s| (s / per) as f32).collect()
    }

    /// The range `method` picks, widened to contain 0.
    pub fn range(&self, method: Method) -> (f32, f32) {
        let (lo, hi) = match method {
            Method::MinMax => (self.min, self.max),
            Method::Percentile(p) => self.percentiles(p),
            Method::Entropy => self.entropy(),
            Method::Mse => self.mse(),
        };
        (lo.min(0.0), hi.max(0.0))
    }

    fn bin_value(&self, b: f64) -> f32 {
        (self.min as f64 + (self.max as f64 - self.min as f64) * b / BINS as f64) as f32
    }

    fn percentiles(&self, p: f64) -> (f32, f32) {
        let total: u64 = self.hist.iter().sum();
        if total == 0 {
            return (self.min, self.max);
        }
        let q_lo = (1.0 - p / 100.0) * total as f64;
        let q_hi = p / 100.0 * total as f64;
        let mut acc = 0u64;
        let (mut lo, mut hi) = (self.min, self.max);
        let mut lo_set = false;
        for (i, &c) in self.hist.iter().enumerate() {
            acc += c;
            if !lo_set && acc as f64 > q_lo {
                lo = if self.min >= 0.0 {
                    self.min
                } else {
                    self.bin_value(i as f64)
                };
                lo_set = true;
            }
            if acc as f64 >= q_hi {
                hi = self.bin_value(i as f64 + 1.0);
                break;
            }
        }
        (lo, hi)
    }

    /// TensorRT's threshold search: the |x| clip T minimising KL(P ‖ Q).
    fn entropy(&self) -> (f32, f32) {
        let levels = if self.min >= 0.0 { 255 } else { 127 };
        let h = &self.abs_hist;
        let amax = self.min.abs().max(self.max.abs());
        let mut best = (f64::INFINITY, BINS);
        for i in (levels..=BINS).step_by(8) {
            let mut p: Vec<f64> = h[..i].iter().map(|&v| v as f64).collect();
            p[i - 1] += h[i..].iter().sum::<u64>() as f64;
            let mut q = vec![0.0f64; i];
            for j in 0..levels {
                let (s, e) = (
                    j * i / levels,
                    ((j + 1) * i / levels).max(j * i / levels + 1),
                );
                let merged: f64 = h[s..e].iter().map(|&v| v as f64).sum();
                let nonzero = h[s..e].iter().filter(|&&v| v != 0).count();
                if nonzero > 0 {
                    for k in s..e {
                        if h[k] != 0 {
                            q[k] = merged / nonzero as f64;
                        }
                    }
                }
            }
            let (ps, qs): (f64, f64) = (p.iter().sum(), q.iter().sum());
            if ps == 0.0 || qs == 0.0 {
                continue;
            }
            let kl: f64 = p
                .iter()
                .zip(&q)
                .filter(|(a, _)| **a > 0.0)
                .map(|(a, b)| {
                    let (a, b) = (a / ps, (b / qs).max(1e-12));
                    a * (a / b).ln()
                })
                .sum();
            if kl < best.0 {
                best = (kl, i);
            }
        }
        let t = amax * best.1 as f32 / BINS as f32;
        (self.min.max(-t), self.max.min(t))
    }

    fn mse(&self) -> (f32, f32) {
        let centers: Vec<f64> = (0..BINS)
            .map(|b| self.bin_value(b as f64 + 0.5) as f64)
            .collect();
        let mut best = (f64::INFINITY, (self.min, self.max));
        for k in 1..=100 {
            let a = k as f64 / 100.0;
            let (lo, hi) = (
                (self.min as f64 * a).min(0.0),
                (self.max as f64 * a).max(0.0),
            );
            let s = ((hi - lo) / 255.0).max(1e-12);
            let zp = (-128.0 - lo / s).round().clamp(-128.0, 127.0);
            let err: f64 = centers
                .iter()
                .zip(&self.hist)
                .filter(|(_, &c)| c > 0)
                .map(|(&v, &c)| {
                    let q = ((v / s).round() + zp).clamp(-128.0, 127.0);
                    let d = v - (q - zp) * s;
                    c as f64 * d * d
                })
                .sum();
            if err < best.0 {
                best = (err, (lo as f32, hi as f32));
            }
        }
        best.1
    }
}

/// Run `model` on every calibration input and observe `tensors`.
pub(crate) fn observe(
    model: &ModelProto,
    tensors: &[String],
    shape: &[usize],
    inputs: &[Vec<f32>],
    progress: bool,
) -> Result<HashMap<String, Observer>, QuantError> {
    if inputs.is_empty() {
        return Err(QuantError::Usage("no calibration images".into()));
    }
    let mut p = model.clone();
    let g = p.graph.get_or_insert_with(Default::default);
    let mut names: Vec<String> = g.output.iter().map(|o| o.name().to_string()).collect();
    for t in tensors {
        if !names.contains(t) {
            g.output.push(ValueInfoProto {
                name: Some(t.clone()),
                ..Default::default()
            });
            names.push(t.clone());
        }
    }
    let engine = Engine::from_onnx_bytes(&p.encode_to_vec(), Path::new("<calibration>"), shape)
        .map_err(QuantError::from)?;
    let bar = if progress {
        indicatif::ProgressBar::new(2 * inputs.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} calibrate {pos}/{len} [{elapsed_precise}]",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let run = |x: &Vec<f32>| -> Result<Vec<nyquist_runtime::engine::Output>, QuantError> {
        let r = engine.run(x).map_err(QuantError::from);
        bar.inc(1);
        r
    };
    let fresh = || -> Vec<Observer> {
        names
            .iter()
            .map(|_| Observer {
                min: f32::INFINITY,
                max: f32::NEG_INFINITY,
                ..Default::default()
            })
            .collect()
    };
    let first = inputs
        .par_iter()
        .try_fold(fresh, |mut obs, x| {
            for (o, t) in obs.iter_mut().zip(run(x)?) {
                o.first(&t.data, &t.shape);
            }
            Ok::<_, QuantError>(obs)
        })
        .try_reduce(fresh, |a, b| {
            Ok(a.into_iter()
                .zip(&b)
                .map(|(x, y)| x.merge_first(y))
                .collect())
        })?;
    let bounds: Vec<(f32, f32)> = first.iter().map(|o| (o.min, o.max)).collect();
    let empty = || -> Vec<(Vec<u64>, Vec<u64>)> {
        names
            .iter()
            .map(|_| (vec![0u64; BINS], vec![0u64; BINS]))
            .collect()
    };
    let hists = inputs
        .par_iter()
        .try_fold(empty, |mut hs, x| {
            for ((h, t), &(lo, hi)) in hs.iter_mut().zip(run(x)?).zip(&bounds) {
                let mut o = Observer {
                    hist: std::mem::take(&mut h.0),
                    abs_hist: std::mem::take(&mut h.1),
                    ..Default::default()
                };
                o.second(&t.data, lo, hi);
                *h = (o.hist, o.abs_hist);
            }
            Ok::<_, QuantError>(hs)
        })
        .try_reduce(empty, |mut a, b| {
            for (x, y) in a.iter_mut().zip(b) {
                x.0.iter_mut().zip(y.0).for_each(|(p, q)| *p += q);
                x.1.iter_mut().zip(y.1).for_each(|(p, q)| *p += q);
            }
            Ok(a)
        })?;
    bar.finish_and_clear();
    Ok(names
        .into_iter()
        .zip(first.into_iter().zip(hists))
        .map(|(n, (mut o, (h, a)))| {
            o.hist = h;
            o.abs_hist = a;
            (n, o)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(values: &[f32]) -> Observer {
        let mut o = Observer {
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            hist: vec![0; BINS],
            abs_hist: vec![0; BINS],
            ..Default::default()
        };
        o.first(values, &[values.len()]);
        let (lo, hi) = (o.min, o.max);
        o.second(values, lo, hi);
        o
    }

    #[test]
    fn minmax_contains_zero_and_percentile_drops_outliers() {
        let mut v: Vec<f32> = (0..100_000)
            .map(|i| (i % 1000) as f32 / 1000.0 + 1.0)
            .collect();
        v.push(50.0);
        let o = obs(&v);
        assert_eq!(o.range(Method::MinMax), (0.0, 50.0));
        let (lo, hi) = o.range(Method::Percentile(99.9));
        assert_eq!(lo, 0.0);
        assert!(hi < 2.1 && hi > 1.9, "{hi}");
    }

    #[test]
    fn entropy_and_mse_clip_a_long_tail() {
        // Laplace-like: many small values, a few large ones.
        let v: Vec<f32> = (1..200_000)
            .map(|i| {
                let u = i as f32 / 200_000.0;
                -u.ln() * if i % 2 == 0 { 1.0 } else { -1.0 }
            })
            .collect();
        let o = obs(&v);
        let (_, hi_mm) = o.range(Method::MinMax);
        for m in [Method::Entropy, Method::Mse] {
            let (lo, hi) = o.range(m);
            assert!(
                hi < hi_mm * 0.9 && lo < 0.0,
                "{m}: ({lo}, {hi}) vs max {hi_mm}"
            );
        }
    }

    #[test]
    fn method_parsing() {
        assert_eq!(
            "percentile:99.9".parse::<Method>().unwrap(),
            Method::Percentile(99.9)
        );
        assert!("percentile:120".parse::<Method>().is_err());
        assert!("kl".parse::<Method>().unwrap_err().contains("expected"));
    }
}
