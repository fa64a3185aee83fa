//! The plan's vocabulary: what the user asks for (`BlurMode`, `Options`),
//! what was considered and decided per blur (`Candidate`, `Decision`) and
//! what the guards did (`Guard` on real images, `RandomGuard` without). `pipeline` makes the plan,
//! `report` writes it; neither needs the other's internals.

use std::str::FromStr;

use serde::Serialize;

use crate::blur::{BlurSite, Strategy};
use crate::cost::Cost;
use crate::error::ConvertError;
use crate::verify::{Deviation, Samples};

/// What `--fold-blur` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BlurMode {
    /// Per blur, the cheapest rewrite within tolerance, or keep.
    Auto,
    /// Fold every blur that follows a stride-1 conv into it.
    Fold,
    /// Commute every blur that follows a stride-1 conv in front of it.
    Commute,
    /// Fold every blur into the conv that reads it.
    Forward,
    /// Leave blurs alone (BN folding and clean-up still run).
    Off,
}

impl BlurMode {
    /// The strategy a forcing mode applies to every blur.
    pub(crate) fn forced(self) -> Option<Strategy> {
        match self {
            BlurMode::Fold => Some(Strategy::Fold),
            BlurMode::Commute => Some(Strategy::Commute),
            BlurMode::Forward => Some(Strategy::Forward),
            BlurMode::Auto | BlurMode::Off => None,
        }
    }
}

/// Conversion options.
#[derive(Debug, Clone)]
pub struct Options {
    /// Blur strategy.
    pub mode: BlurMode,
    /// Largest relative deviation on the interior of a rewritten region.
    pub tolerance: f64,
    /// Number of seeded random inputs to verify on.
    pub random_samples: usize,
    /// Seed of the random inputs.
    pub seed: u64,
    /// Extra real inputs (already preprocessed), e.g. from `--eval DIR`.
    pub extra_samples: Option<Samples>,
    /// Input shape, when the model and its metadata do not fix it.
    pub input_shape: Option<Vec<usize>>,
    /// Only rewrite these blurs (by node name); `None` = all.
    pub only: Option<Vec<String>>,
    /// `auto` only: smallest top-1 agreement with the original on the real
    /// images of `extra_samples` (0–1); a plan below it is walked back.
    pub min_agreement: f64,
    /// `auto` without real images: largest end-to-end max relative logit
    /// deviation on the random inputs; a plan above it is walked back
    /// ([`DEFAULT_MAX_RANDOM_DEVIATION`]; `f64::INFINITY` keeps the
    /// cost-chosen plan unchecked).
    pub max_random_deviation: f64,
}

impl Options {
    /// Refuse values no conversion can honour: a negative or NaN tolerance
    /// or random-input bound (`inf` is a bound: off), an agreement outside
    /// 0–1. [`crate::pipeline::convert`] checks first; a front end may call
    /// it earlier (before loading images).
    pub fn validate(&self) -> Result<(), ConvertError> {
        let bad = |v: f64| v.is_nan() || v < 0.0;
        let usage = |m: String| Err(ConvertError::Usage(m));
        if bad(self.tolerance) {
            return usage(format!(
                "--tolerance must be a non-negative number, got {}",
                self.tolerance
            ));
        }
        if bad(self.max_random_deviation) {
            return usage(format!(
                "--max-random-deviation must be a non-negative number (or inf), got {}",
                self.max_random_deviation
            ));
        }
        if !(0.0..=1.0).contains(&self.min_agreement) {
            return usage(format!(
                "the minimum top-1 agreement is a fraction (0–1; --min-agreement takes percent), got {}",
                self.min_agreement
            ));
        }
        Ok(())
    }
}

/// The default of [`Options::max_random_deviation`], set from a measurement
/// (`models/fmnist/robustness/border_bound.md`, `models/recipe/border_bound.py`):
/// on three trained BlurAfterConv ResNet-18s (32×32 Fashion-MNIST), every
/// walked-back plan whose deviation on the 32 random inputs was ≥ 0.0966
/// agreed with the original on < 99.5 % of the 2,000 eval images, every plan
/// at ≤ 0.0889 on ≥ 99.5 %. Half the smallest breaking value, for margin:
/// three models are a small sample.
pub const DEFAULT_MAX_RANDOM_DEVIATION: f64 = 0.05;

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: BlurMode::Auto,
            tolerance: 1e-4,
            random_samples: 32,
            seed: 0,
            extra_samples: None,
            input_shape: None,
            only: None,
            min_agreement: 0.995,
            max_random_deviation: DEFAULT_MAX_RANDOM_DEVIATION,
        }
    }
}

/// One candidate for one blur.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// The rewrite.
    pub strategy: Strategy,
    /// Its cost over the region, if it could be built.
    pub cost: Option<Cost>,
    /// Measured deviation on the samples, if it could be built and run.
    pub deviation: Option<Deviation>,
    /// Why it is not possible, if so.
    pub unavailable: Option<String>,
}

/// The decision for one blur.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// The blur.
    pub site: BlurSite,
    /// Cost of keeping it (over the chosen region; fold/commute region when none).
    pub keep_cost: Option<Cost>,
    /// Every rewrite considered.
    pub candidates: Vec<Candidate>,
    /// What was done.
    pub chosen: Strategy,
    /// Why.
    pub why: String,
}

impl Decision {
    /// The candidate for a strategy.
    pub fn candidate(&self, s: Strategy) -> Option<&Candidate> {
        self.candidates.iter().find(|c| c.strategy == s)
    }
}

impl BlurMode {
    /// Every mode, as `--fold-blur` spells it.
    pub const NAMES: [&'static str; 5] = ["auto", "fold", "commute", "forward", "off"];
}

impl FromStr for BlurMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "auto" => BlurMode::Auto,
            "fold" => BlurMode::Fold,
            "commute" => BlurMode::Commute,
            "forward" => BlurMode::Forward,
            "off" => BlurMode::Off,
            other => {
                return Err(format!(
                    "unknown blur mode `{other}` (one of: {})",
                    BlurMode::NAMES.join(", ")
                ))
            }
        })
    }
}

/// What the agreement guard found (`auto` with real images).
#[derive(Debug, Clone, Serialize)]
pub struct Guard {
    /// Real images checked.
    pub images: usize,
    /// `--min-agreement` (0–1).
    pub min_agreement: f64,
    /// Top-1 agreement with the original of the cost-chosen plan (0–1).
    pub before: f64,
    /// Of the plan written.
    pub after: f64,
    /// Blurs whose rewrite was walked back, in order.
    pub walked_back: Vec<String>,
}

impl Guard {
    /// One line: the check, and what it walked back.
    pub fn line(&self) -> String {
        format!(
            "agreement guard (`auto`, {} real images, --min-agreement {:.2} %): the cost-chosen plan agreed on {:.2} %{}",
            self.images,
            100.0 * self.min_agreement,
            100.0 * self.before,
            walk_back_text(&self.walked_back, &format!("{:.2} %", 100.0 * self.after))
        )
    }
}

/// What the random-input guard found (`auto` without real images).
#[derive(Debug, Clone, Serialize)]
pub struct RandomGuard {
    /// Random inputs compared.
    pub samples: usize,
    /// `--max-random-deviation`.
    pub max_deviation: f64,
    /// End-to-end max relative logit deviation of the cost-chosen plan.
    pub before: f64,
    /// Of the plan written.
    pub after: f64,
    /// Blurs whose rewrite was walked back, in order.
    pub walked_back: Vec<String>,
}

impl RandomGuard {
    /// One line: the check, and what it walked back.
    pub fn line(&self) -> String {
        format!(
            "random-input guard (`auto`, no real images, {} random inputs, --max-random-deviation {}): the cost-chosen plan deviated by {:.4} (max relative logit){}",
            self.samples,
            self.max_deviation,
            self.before,
            walk_back_text(&self.walked_back, &format!("{:.4}", self.after))
        )
    }
}

/// The end of a guard's line: what it walked back and where that left the
/// plan (`after`, formatted), or that the plan was kept.
fn walk_back_text(walked_back: &[String], after: &str) -> String {
    if walked_back.is_empty() {
        return " — kept as chosen".to_string();
    }
    let names: Vec<String> = walked_back.iter().map(|b| format!("`{b}`")).collect();
    format!(
        "; walked back {} (largest border deviation first) → {after}",
        names.join(", ")
    )
}

/// The note `auto` leaves when it had no real images to check.
pub const NO_REAL_IMAGES: &str = "no real images were checked (pass --eval DIR, or --calib DIR when quantizing): `auto` bounded each rewrite on the interior of random inputs and the whole plan's deviation on them (--max-random-deviation, set from trained models), but cannot see how the border deviation moves top-1 predictions on this model's data";

#[cfg(test)]
mod validate_tests {
    use super::*;

    #[test]
    fn validate_refuses_what_no_conversion_can_honour() {
        assert!(Options::default().validate().is_ok());
        let off = Options {
            max_random_deviation: f64::INFINITY,
            ..Options::default()
        };
        assert!(off.validate().is_ok());
        for (opts, flag) in [
            (
                Options {
                    max_random_deviation: -0.1,
                    ..Options::default()
                },
                "--max-random-deviation",
            ),
            (
                Options {
                    max_random_deviation: f64::NAN,
                    ..Options::default()
                },
                "--max-random-deviation",
            ),
            (
                Options {
                    tolerance: -1.0,
                    ..Options::default()
                },
                "--tolerance",
            ),
            (
                Options {
                    min_agreement: 99.5,
                    ..Options::default()
                },
                "percent",
            ),
        ] {
            match opts.validate() {
                Err(ConvertError::Usage(m)) => assert!(m.contains(flag), "{m}"),
                other => panic!("expected a usage error naming {flag}, got {other:?}"),
            }
        }
    }
}
