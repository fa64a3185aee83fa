//! The random source of every corruption: ChaCha8 (platform-independent stream)
//! with distributions built from IEEE arithmetic and `libm`, so draws are
//! bit-identical on x86, ARM and Cortex-M alike.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// SplitMix64 finaliser (seed mixing).
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Deterministic random numbers.
#[derive(Debug, Clone)]
pub struct Rng {
    inner: ChaCha8Rng,
    spare: Option<f64>,
}

impl Rng {
    /// A stream for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng {
            inner: ChaCha8Rng::seed_from_u64(seed),
            spare: None,
        }
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn uniform01(&mut self) -> f64 {
        (self.inner.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform01()
    }

    /// Uniform integer in [lo, hi) (hi > lo), without modulo bias.
    pub fn int(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (hi - lo) as u64;
        let zone = u64::MAX - (u64::MAX % span);
        loop {
            let v = self.inner.next_u64();
            if v < zone {
                return lo + (v % span) as i64;
            }
        }
    }

    /// Standard normal (Marsaglia polar method).
    pub fn normal(&mut self) -> f64 {
        if let Some(s) = self.spare.take() {
            return s;
        }
        loop {
            let u = 2.0 * self.uniform01() - 1.0;
            let v = 2.0 * self.uniform01() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let m = libm::sqrt(-2.0 * libm::log(s) / s);
                self.spare = Some(v * m);
                return u * m;
            }
        }
    }

    /// Normal with mean and standard deviation.
    pub fn gauss(&mut self, mean: f64, std: f64) -> f64 {
        mean + std * self.normal()
    }

    /// Poisson(λ): Knuth's product method below 10, Hörmann's PTRS above.
    pub fn poisson(&mut self, lam: f64) -> f64 {
        if lam <= 0.0 {
            return 0.0;
        }
        if lam < 10.0 {
            let l = libm::exp(-lam);
            let mut k = 0.0;
            let mut p = self.uniform01();
            while p > l {
                k += 1.0;
                p *= self.uniform01();
            }
            return k;
        }
        // W. Hörmann, "The transformed rejection method for generating Poisson
        // random variables", 1993 (the algorithm numpy uses for λ ≥ 10).
        let slam = libm::sqrt(lam);
        let loglam = libm::log(lam);
        let b = 0.931 + 2.53 * slam;
        let a = -0.059 + 0.02483 * b;
        let invalpha = 1.1239 + 1.1328 / (b - 3.4);
        let vr = 0.9277 - 3.6224 / (b - 2.0);
        loop {
            let u = self.uniform01() - 0.5;
            let v = self.uniform01();
            let us = 0.5 - u.abs();
            let k = libm::floor((2.0 * a / us + b) * u + lam + 0.43);
            if us >= 0.07 && v <= vr {
                return k;
            }
            if k < 0.0 || (us < 0.013 && v > us) {
                continue;
            }
            if libm::log(v) + libm::log(invalpha) - libm::log(a / (us * us) + b)
                <= -lam + k * loglam - libm::lgamma(k + 1.0)
            {
                return k;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let m = xs.iter().sum::<f64>() / n;
        (m, xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n)
    }

    #[test]
    fn normal_and_poisson_have_the_right_moments() {
        let mut r = Rng::new(1);
        let xs: Vec<f64> = (0..200_000).map(|_| r.normal()).collect();
        let (m, v) = moments(&xs);
        assert!(m.abs() < 0.01 && (v - 1.0).abs() < 0.01, "{m} {v}");
        for lam in [0.5, 3.0, 12.0, 60.0] {
            let xs: Vec<f64> = (0..100_000).map(|_| r.poisson(lam)).collect();
            let (m, v) = moments(&xs);
            assert!(
                (m - lam).abs() < 0.02 * lam.max(1.0) && (v - lam).abs() < 0.05 * lam.max(1.0),
                "λ={lam}: {m} {v}"
            );
        }
    }

    #[test]
    fn same_seed_same_stream() {
        let a: Vec<f64> = {
            let mut r = Rng::new(9);
            (0..10).map(|_| r.normal()).collect()
        };
        let b: Vec<f64> = {
            let mut r = Rng::new(9);
            (0..10).map(|_| r.normal()).collect()
        };
        assert_eq!(a, b);
    }
}
