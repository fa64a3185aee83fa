//! The firmware's cycle estimate: instructions counted by class under QEMU
//! (the `insn_count` plugin, `xtask/qemu-plugin/`) weighted by the cycle
//! counts of the cores' Technical Reference Manuals. QEMU counts
//! instructions, not cycles; this is an estimate, labelled as one wherever it
//! is printed, and no substitute for DWT cycles on a board
//! (`cargo xtask fw run --board pico2 --probe`).
//!
//! What the weights model, per class (names as the plugin writes them):
//!
//! | class / event | Cortex-M4 (TRM r0p1, table 3-1) | Cortex-M55 (dual-beat MVE) |
//! |---|---:|---:|
//! | `other` (ALU, SXTB16, PKHBT, SSAT, IT, hints) | 1 | 1 |
//! | `mac` (MUL, MLA, SMLAD, SMLAL, SMULL) | 1 | 1 |
//! | `div` (SDIV, UDIV: 2–12, data dependent) | 7 | 7 |
//! | `load_store` (single LDR/STR) | 2 | 2 |
//! | `mem_follows` (a single load/store right after one) | −1 | −1 |
//! | `ldm_stm` + `transfers` (LDM/STM/PUSH/POP/LDRD/STRD: 1 + N) | 1 + 1 each | 1 + 1 each |
//! | `branch` (taken: 1 + refill; not taken: 1) | 2 | 2 |
//! | `loop_end` (LE, LETP) | – | 0 |
//! | `mve_mem`, `mve_alu` (4 beats, 2 per cycle) | – | 2 |
//! | `mve_overlaps` (vector memory ↔ arithmetic neighbours) | – | −1 |
//!
//! Where the model is coarse, and which way it errs:
//! - Branches: the plugin does not see whether a branch was taken; 2 is a
//!   taken branch with the shortest refill (TRM: 1 + P, P = 1…3). Loops'
//!   back edges are taken, exits are not: close on kernels, low on
//!   branchy code with long refills.
//! - Loads: a load whose result the next instruction uses stalls a cycle
//!   more on both cores; not modelled (low).
//! - Cortex-M55 scalar timings are taken as the M4's (its TRM lists most
//!   integer instructions at 1 cycle and loads at 1–2); the M33 of the
//!   Pico 2 as the M4 (same classes, same counts in its TRM for these).
//! - Helium: every 128-bit vector instruction is 4 beats, and the M55
//!   executes 2 beats a cycle; two neighbouring vector instructions of
//!   different groups (a load/store and an arithmetic one) overlap by
//!   half (the Armv8.1-M beat-wise execution), 1 cycle saved per such pair.
//!   A low-overhead loop's `LE` is not fetched again once the loop is in
//!   the branch cache: 0 cycles.
//! - No wait states, caches or bus contention: flash at core speed, data in
//!   TCM/SRAM (as on the MLPerf Tiny boards; low where flash is slow).

use crate::qemu_plugin::Counts;

/// Per-class cycle weights of one core.
#[derive(Debug, Clone, Copy)]
pub struct CycleModel {
    /// Core name, as printed.
    pub core: &'static str,
    /// What the estimate is applied to (board and clock), as printed.
    pub clock_mhz: f64,
    /// Who runs at that clock.
    pub clock_of: &'static str,
    /// `(class or event, cycles)`; a class absent here is an error when it
    /// occurs (an instruction the core does not have).
    pub weights: &'static [(&'static str, f64)],
}

const SCALAR: [(&str, f64); 8] = [
    ("other", 1.0),
    ("mac", 1.0),
    ("div", 7.0),
    ("load_store", 2.0),
    ("mem_follows", -1.0),
    ("ldm_stm", 1.0),
    ("transfers", 1.0),
    ("branch", 2.0),
];

/// Cortex-M4 timings (DSP extension), applied to the Cortex-M4 of QEMU's
/// MPS2 AN386 and, at its clock, to the Pico 2's Cortex-M33.
pub const CORTEX_M4: CycleModel = CycleModel {
    core: "Cortex-M4 (TRM timings; M33 alike)",
    clock_mhz: 150.0,
    clock_of: "Pico 2 (RP2350, Cortex-M33)",
    weights: &SCALAR,
};

const M55: [(&str, f64); 12] = [
    SCALAR[0],
    SCALAR[1],
    SCALAR[2],
    SCALAR[3],
    SCALAR[4],
    SCALAR[5],
    SCALAR[6],
    SCALAR[7],
    ("loop_end", 0.0),
    ("mve_mem", 2.0),
    ("mve_alu", 2.0),
    ("mve_overlaps", -1.0),
];

/// Cortex-M55 timings (dual-beat Helium).
pub const CORTEX_M55: CycleModel = CycleModel {
    core: "Cortex-M55 (dual-beat Helium)",
    clock_mhz: 400.0,
    clock_of: "a Cortex-M55 at 400 MHz (Alif Ensemble class)",
    weights: &M55,
};

/// The model for a QEMU board's core (`-C target-cpu` of the board).
pub fn for_cpu(cpu: &str) -> Option<CycleModel> {
    match cpu {
        "cortex-m4" => Some(CORTEX_M4),
        "cortex-m55" => Some(CORTEX_M55),
        _ => None,
    }
}

impl CycleModel {
    /// Estimated cycles of `c`; an error names a class this core cannot
    /// execute (or the plugin added one the model does not know).
    pub fn cycles(&self, c: &Counts) -> anyhow::Result<f64> {
        let weight = |k: &str| self.weights.iter().find(|(n, _)| *n == k).map(|w| w.1);
        let mut total = 0.0;
        for (k, n) in c.classes.iter().chain(&c.events) {
            match weight(k) {
                Some(w) => total += w * *n as f64,
                None if *n == 0 => {}
                None => anyhow::bail!("{}: no cycle weight for `{k}` ({n} counted)", self.core),
            }
        }
        Ok(total.max(0.0))
    }

    /// Milliseconds at the model's clock.
    pub fn ms(&self, cycles: f64) -> f64 {
        cycles / (self.clock_mhz * 1e3)
    }
}

/// The counts of one inference: the sum of the regions between the
/// markers' pairs (start, end of each image), divided by their number.
pub fn per_inference(c: &Counts) -> anyhow::Result<Counts> {
    let m = &c.mark_counts;
    anyhow::ensure!(
        !m.is_empty() && m.len().is_multiple_of(2),
        "{} markers; expected a start and an end per image",
        m.len()
    );
    let mut sum = Counts::default();
    for pair in m.chunks_exact(2) {
        let d = pair[1].minus(&pair[0]);
        sum.instructions += d.instructions;
        for (k, v) in d.classes.iter() {
            *sum.classes.entry(k.clone()).or_insert(0) += v;
        }
        for (k, v) in d.events.iter() {
            *sum.events.entry(k.clone()).or_insert(0) += v;
        }
    }
    Ok(sum.per((m.len() / 2) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn counts(classes: &[(&str, u64)], events: &[(&str, u64)]) -> Counts {
        let map = |v: &[(&str, u64)]| -> BTreeMap<String, u64> {
            v.iter().map(|(k, n)| (k.to_string(), *n)).collect()
        };
        Counts {
            instructions: classes.iter().map(|c| c.1).sum(),
            classes: map(classes),
            events: map(events),
            ..Counts::default()
        }
    }

    #[test]
    fn m4_weights_a_dsp_inner_loop_by_hand() {
        // Two LDR (pipelined: 2 + 1), two SXTB16 + two SXTAB16 (4), four
        // SMLAD (4), one PUSH of 3 (1 + 3), one taken branch (2): 17 cycles.
        let c = counts(
            &[
                ("load_store", 2),
                ("other", 4),
                ("mac", 4),
                ("ldm_stm", 1),
                ("branch", 1),
            ],
            &[("mem_follows", 1), ("transfers", 3)],
        );
        assert_eq!(CORTEX_M4.cycles(&c).unwrap(), 17.0);
        assert!((CORTEX_M4.ms(150_000.0) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn m55_overlaps_vector_pairs_and_m4_refuses_helium() {
        // VLDRB, VMLADAVA, VLDRB, VMLADAVA, LETP: 4 × 2 − 3 overlaps + 0 = 5.
        let c = counts(
            &[("mve_mem", 2), ("mve_alu", 2), ("loop_end", 1)],
            &[("mve_overlaps", 3)],
        );
        assert_eq!(CORTEX_M55.cycles(&c).unwrap(), 5.0);
        let err = CORTEX_M4.cycles(&c).unwrap_err().to_string();
        assert!(err.contains("loop_end") || err.contains("mve_"), "{err}");
    }

    #[test]
    fn per_inference_averages_marker_pairs() {
        let at = |n: u64, mac: u64| counts(&[("other", n - mac), ("mac", mac)], &[]);
        let c = Counts {
            mark_counts: vec![at(10, 0), at(110, 50), at(200, 50), at(320, 110)],
            ..Counts::default()
        };
        let p = per_inference(&c).unwrap();
        // (100 + 120) / 2 instructions, (50 + 60) / 2 MACs
        assert_eq!(p.instructions, 110);
        assert_eq!(p.get("mac"), 55);
        let odd = Counts {
            mark_counts: vec![at(10, 0)],
            ..Counts::default()
        };
        assert!(per_inference(&odd).is_err());
    }

    #[test]
    fn boards_have_models() {
        assert_eq!(for_cpu("cortex-m4").unwrap().clock_mhz, 150.0);
        assert_eq!(for_cpu("cortex-m55").unwrap().clock_mhz, 400.0);
        assert!(for_cpu("cortex-m33").is_none());
    }
}
