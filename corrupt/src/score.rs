//! Corruption Error scoring (Hendrycks & Dietterich 2019).
//!
//! `CE_c = Σ_s E(f, s, c) / Σ_s E(ref, s, c)`; `mCE = 100 × mean_c CE_c` over the
//! 15 benchmark corruptions; relative CE uses `E − E_clean` in numerator and
//! denominator. Extras are scored but never enter mCE.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Corruption;

/// AlexNet's ImageNet-C top-1 errors, mean over the five severities, and its
/// clean error — the published normalisers for ImageNet models.
pub const ALEXNET: [(Corruption, f64); 15] = [
    (Corruption::GaussianNoise, 0.886428),
    (Corruption::ShotNoise, 0.894468),
    (Corruption::ImpulseNoise, 0.922640),
    (Corruption::DefocusBlur, 0.819880),
    (Corruption::GlassBlur, 0.826268),
    (Corruption::MotionBlur, 0.785948),
    (Corruption::ZoomBlur, 0.798360),
    (Corruption::Snow, 0.866816),
    (Corruption::Frost, 0.826572),
    (Corruption::Fog, 0.819324),
    (Corruption::Brightness, 0.564592),
    (Corruption::Contrast, 0.853204),
    (Corruption::ElasticTransform, 0.646056),
    (Corruption::Pixelate, 0.717840),
    (Corruption::JpegCompression, 0.606500),
];

/// AlexNet's clean ImageNet top-1 error (for relative mCE against AlexNet).
pub const ALEXNET_CLEAN: f64 = 0.4348;

/// Per-corruption errors of one model: `errors[s-1]` is the top-1 error at severity `s`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Errors {
    /// Clean top-1 error.
    pub clean: f64,
    /// Corruption → errors at severities 1–5 (`None` where not evaluated).
    pub corrupted: BTreeMap<Corruption, [Option<f64>; 5]>,
}

/// What a model is normalised by.
#[derive(Debug, Clone, PartialEq)]
pub enum Reference {
    /// AlexNet's published numbers (mean error per corruption, applied to every severity).
    AlexNet,
    /// Another model's errors.
    Model(Errors),
}

impl Reference {
    /// Σ over the given severities of the reference error, and of (error − clean).
    fn sums(&self, c: Corruption, sev: &[usize]) -> Option<(f64, f64)> {
        match self {
            Reference::AlexNet => {
                let e = ALEXNET.iter().find(|(k, _)| *k == c)?.1;
                Some((e * sev.len() as f64, (e - ALEXNET_CLEAN) * sev.len() as f64))
            }
            Reference::Model(r) => {
                let errs = r.corrupted.get(&c)?;
                let mut s = 0.0;
                let mut rel = 0.0;
                for &i in sev {
                    let e = errs[i]?;
                    s += e;
                    rel += e - r.clean;
                }
                Some((s, rel))
            }
        }
    }
}

/// Scores of one corruption.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorruptionScore {
    /// Top-1 error per severity (1–5), `None` where not evaluated.
    pub errors: [Option<f64>; 5],
    /// Mean error over the evaluated severities.
    pub mean_error: f64,
    /// Corruption Error against the reference.
    pub ce: Option<f64>,
    /// Relative Corruption Error.
    pub relative_ce: Option<f64>,
}

/// Scores of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Clean error.
    pub clean_error: f64,
    /// Per corruption.
    pub corruptions: BTreeMap<Corruption, CorruptionScore>,
    /// mCE in percent over the benchmark corruptions that were evaluated and
    /// have a reference.
    pub mce: Option<f64>,
    /// Relative mCE in percent.
    pub relative_mce: Option<f64>,
    /// How many of the 15 entered mCE.
    pub mce_corruptions: usize,
}

/// Score `e` against `reference`. Only severities evaluated for both enter a CE.
pub fn score(e: &Errors, reference: &Reference) -> Scores {
    let mut corruptions = BTreeMap::new();
    let mut ces = Vec::new();
    let mut rels = Vec::new();
    for (&c, errs) in &e.corrupted {
        let sev: Vec<usize> = (0..5).filter(|&i| errs[i].is_some()).collect();
        let sum: f64 = sev.iter().filter_map(|&i| errs[i]).sum();
        let rel_sum: f64 = sev
            .iter()
            .filter_map(|&i| errs[i])
            .map(|x| x - e.clean)
            .sum();
        let (ce, rce) = match reference.sums(c, &sev) {
            Some((r, rr)) if !sev.is_empty() && r > 0.0 => {
                (Some(sum / r), (rr.abs() > 0.0).then(|| rel_sum / rr))
            }
            _ => (None, None),
        };
        if c.is_benchmark() {
            if let Some(v) = ce {
                ces.push(v);
            }
            if let Some(v) = rce {
                rels.push(v);
            }
        }
        let mean_error = if sev.is_empty() {
            0.0
        } else {
            sum / sev.len() as f64
        };
        corruptions.insert(
            c,
            CorruptionScore {
                errors: *errs,
                mean_error,
                ce,
                relative_ce: rce,
            },
        );
    }
    let mean = |v: &[f64]| (!v.is_empty()).then(|| 100.0 * v.iter().sum::<f64>() / v.len() as f64);
    Scores {
        clean_error: e.clean,
        mce: mean(&ces),
        relative_mce: mean(&rels),
        mce_corruptions: ces.len(),
        corruptions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model with AlexNet's own errors has CE 1 everywhere and mCE 100.
    #[test]
    fn alexnet_against_itself_is_100() {
        let mut e = Errors {
            clean: ALEXNET_CLEAN,
            ..Default::default()
        };
        for (c, err) in ALEXNET {
            e.corrupted.insert(c, [Some(err); 5]);
        }
        let s = score(&e, &Reference::AlexNet);
        assert!((s.mce.unwrap() - 100.0).abs() < 1e-9);
        assert!((s.relative_mce.unwrap() - 100.0).abs() < 1e-9);
        assert_eq!(s.mce_corruptions, 15);
    }

    /// Hand-computed: errors (0.2, 0.3) vs reference (0.4, 0.6) → CE 0.5;
    /// clean 0.1 vs 0.2 → relative (0.1+0.2)/(0.2+0.4) = 0.5.
    #[test]
    fn hand_computed_ce_and_relative_ce() {
        let mk = |clean, a, b| Errors {
            clean,
            corrupted: [(Corruption::Fog, [Some(a), Some(b), None, None, None])]
                .into_iter()
                .collect(),
        };
        let s = score(&mk(0.1, 0.2, 0.3), &Reference::Model(mk(0.2, 0.4, 0.6)));
        let f = &s.corruptions[&Corruption::Fog];
        assert!((f.ce.unwrap() - 0.5).abs() < 1e-12);
        assert!((f.relative_ce.unwrap() - 0.5).abs() < 1e-12);
        assert!((s.mce.unwrap() - 50.0).abs() < 1e-9);
    }

    #[test]
    fn extras_do_not_enter_mce() {
        let e = Errors {
            clean: 0.1,
            corrupted: [(Corruption::Spatter, [Some(0.5); 5])]
                .into_iter()
                .collect(),
        };
        let s = score(&e, &Reference::Model(e.clone()));
        assert_eq!(s.mce, None);
        assert_eq!(s.corruptions[&Corruption::Spatter].ce, Some(1.0));
    }
}
