//! `--repair`: when the int8 model fails the robustness gate, keep the
//! fewest layers in float that make it pass.
//!
//! The cheap estimate ranks the layers: each one's *local* SQNR
//! (`quant::analysis::local_costs`: the quantization noise a layer adds
//! itself, its output's noise-to-signal ratio minus its inputs') measured on
//! the gate's own images, clean and corrupted — not on the calibration
//! images, which are exactly what a failing calibration got wrong (a
//! constant calibration set quantizes itself perfectly). Worst first: the
//! layers that damage the signal most, which is where accuracy, CE and
//! consistency go. The measurement confirms: the gate itself, re-run with
//! the first `k` ranked layers excluded from quantization (only the int8
//! model is re-evaluated; the original and converted figures are cached).
//! `k` is found by bisection, assuming more float layers never hurt: first
//! all ranked layers (if even that fails, no subset can pass, and the run
//! says so), then halving the interval — about `log2(n) + 1` gate runs
//! instead of `n`. A short answer (at most [`PRUNE_MAX`] layers) is then
//! pruned: each member is dropped if the gate passes without it.

use std::time::Instant;

use serde::Serialize;

use crate::error::ConvertError;

/// One gate run of the search.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Layers in float.
    pub float_layers: usize,
    /// The gate passed.
    pub passed: bool,
    /// The gate's line.
    pub line: String,
}

/// What the repair did.
#[derive(Debug, Clone, Serialize)]
pub struct Repair {
    /// The gate's line before.
    pub before: String,
    /// The layers kept in float (producing node, SQNR of its int8 output, MACs).
    pub float_layers: Vec<(String, f64, u64)>,
    /// Their share of the model's MACs.
    pub macs_share: f64,
    /// Every gate run of the search.
    pub steps: Vec<Step>,
    /// Seconds the search took.
    pub seconds: f64,
    /// A passing set was found.
    pub passed: bool,
    /// When none can pass: why, in one sentence.
    pub statement: Option<String>,
}

impl Repair {
    /// One line for the terminal: what was kept in float, or why nothing can be.
    pub fn summary(&self) -> String {
        match &self.statement {
            Some(st) => format!("repair FAILED: {st}"),
            None => format!(
                "repair: {} layer(s) kept in float ({:.1} % of the MACs; {} gate runs, {:.0} s): {}",
                self.float_layers.len(),
                100.0 * self.macs_share,
                self.steps.len(),
                self.seconds,
                self.float_layers
                    .iter()
                    .map(|l| l.0.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// The gate's line for the model written (the last run of the search).
    pub fn after(&self) -> Option<&str> {
        self.steps.last().map(|s| s.line.as_str())
    }
}

/// Longest bisection answer whose members are each confirmed by a gate run
/// without them (one run per member).
pub const PRUNE_MAX: usize = 6;

/// Search the fewest of `ranked` (node, SQNR dB, MACs; worst first) to keep
/// in float. `attempt(layers)` quantizes with `layers` in float, runs the
/// gate and returns (passed, the gate's line). `total_macs` is the model's.
pub fn search(
    ranked: &[(String, f64, u64)],
    total_macs: u64,
    before: String,
    mut attempt: impl FnMut(&[String]) -> Result<(bool, String), ConvertError>,
) -> Result<Repair, ConvertError> {
    let t0 = Instant::now();
    let mut steps = Vec::new();
    let mut run = |set: &[usize], steps: &mut Vec<Step>| -> Result<bool, ConvertError> {
        let names: Vec<String> = set.iter().map(|&i| ranked[i].0.clone()).collect();
        let (passed, line) = attempt(&names)?;
        steps.push(Step {
            float_layers: set.len(),
            passed,
            line,
        });
        Ok(passed)
    };
    let n = ranked.len();
    let done = |set: &[usize], steps: Vec<Step>, statement: Option<String>| {
        let layers: Vec<(String, f64, u64)> = set.iter().map(|&i| ranked[i].clone()).collect();
        let macs: u64 = layers.iter().map(|l| l.2).sum();
        Repair {
            before: before.clone(),
            float_layers: layers,
            macs_share: macs as f64 / total_macs.max(1) as f64,
            steps,
            seconds: t0.elapsed().as_secs_f64(),
            passed: statement.is_none(),
            statement,
        }
    };
    let all: Vec<usize> = (0..n).collect();
    if n == 0 || !run(&all, &mut steps)? {
        let statement = format!(
            "no subset of float layers can pass the gate: even with all {n} quantized layers in float it fails ({})",
            steps.last().map_or("no layer to keep in float".into(), |s| s.line.clone())
        );
        return Ok(done(&[], steps, Some(statement)));
    }
    // Invariant: the first `lo` ranked layers fail (lo = 0 is the failing
    // model), the first `hi` pass.
    let (mut lo, mut hi) = (0usize, n);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if run(&all[..mid], &mut steps)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    // The ranking is an estimate: with a short list, confirm each member is
    // needed (best-ranked first) and drop those the gate passes without.
    let mut set: Vec<usize> = all[..hi].to_vec();
    if set.len() > 1 && set.len() <= PRUNE_MAX {
        for j in (0..set.len()).rev() {
            let without: Vec<usize> = set.iter().copied().filter(|&i| i != set[j]).collect();
            if run(&without, &mut steps)? {
                set = without;
            }
        }
    }
    // Re-run the answer last, so the caller's state is that model's.
    let last_is_answer = steps
        .last()
        .is_some_and(|s| s.passed && s.float_layers == set.len());
    if !last_is_answer {
        run(&set, &mut steps)?;
    }
    Ok(done(&set, steps, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranked(n: usize) -> Vec<(String, f64, u64)> {
        (0..n).map(|i| (format!("l{i}"), i as f64, 10)).collect()
    }

    #[test]
    fn bisection_finds_the_fewest_layers_in_few_gate_runs() {
        for need in 1..=13 {
            let mut calls = 0;
            let r = search(&ranked(13), 200, "before".into(), |l| {
                calls += 1;
                Ok((l.len() >= need, format!("{} float", l.len())))
            })
            .unwrap();
            assert!(r.passed);
            assert_eq!(r.float_layers.len(), need);
            assert_eq!(r.float_layers[0].0, "l0");
            assert!((r.macs_share - need as f64 * 10.0 / 200.0).abs() < 1e-12);
            // 1 (all) + ⌈log2 13⌉ (bisection) + one per member of a short
            // answer (pruning) + at most 1 (re-run the answer).
            let prune = if (2..=PRUNE_MAX).contains(&need) {
                need
            } else {
                0
            };
            assert!(calls <= 6 + prune, "{need}: {calls} gate runs");
            assert_eq!(r.steps.last().unwrap().float_layers, need);
        }
    }

    #[test]
    fn pruning_drops_layers_the_ranking_put_first_but_the_gate_does_not_need() {
        // Only the fourth-ranked layer matters.
        let r = search(&ranked(10), 100, "before".into(), |l| {
            Ok((l.iter().any(|x| x == "l3"), format!("{l:?}")))
        })
        .unwrap();
        assert!(r.passed);
        let names: Vec<&str> = r.float_layers.iter().map(|l| l.0.as_str()).collect();
        assert_eq!(names, ["l3"]);
        assert!((r.macs_share - 0.1).abs() < 1e-12);
        let last = r.steps.last().unwrap();
        assert!(last.passed && last.line == "[\"l3\"]", "{last:?}");
    }

    #[test]
    fn says_so_when_nothing_passes() {
        let r = search(&ranked(5), 50, "before".into(), |_| {
            Ok((false, "still failing".into()))
        })
        .unwrap();
        assert!(!r.passed);
        assert!(r.float_layers.is_empty());
        let s = r.statement.unwrap();
        assert!(
            s.contains("no subset of float layers can pass") && s.contains("still failing"),
            "{s}"
        );
        assert_eq!(r.steps.len(), 1);
    }
}
