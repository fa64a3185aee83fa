//! The plan's vocabulary: what the user asks for (`BlurMode`, `Options`),
//! what was considered and decided per blur (`Candidate`, `Decision`) and
//! what the agreement guard did (`Guard`). `pipeline` makes the plan,
//! `report` writes it; neither needs the other's internals.

use std::str::FromStr;

use serde::Serialize;

use crate::blur::{BlurSite, Strategy};
use crate::cost::Cost;
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
}

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
    pub(crate) fn candidate(&self, s: Strategy) -> Option<&Candidate> {
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
            if self.walked_back.is_empty() {
                " — kept as chosen".to_string()
            } else {
                format!(
                    "; walked back {} (largest border deviation first) → {:.2} %",
                    self.walked_back
                        .iter()
                        .map(|b| format!("`{b}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    100.0 * self.after
                )
            }
        )
    }
}

/// The note `auto` leaves when it had no real images to check.
pub const NO_REAL_IMAGES: &str = "no real images were checked (pass --eval DIR, or --calib DIR when quantizing): `auto` bounds each rewrite on the interior of random inputs only, and cannot see how the border deviation moves top-1 predictions";
