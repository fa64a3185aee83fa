//! The deployment estimate of a `.nqm` blob, before anything is flashed:
//! per layer its flash bytes, the arena bytes in use while it runs, its MACs
//! and the instructions each target core is estimated to execute; in total,
//! and against a named board's flash and RAM (a misfit is refused with the
//! numbers).
//!
//! **The instruction model** is fitted to measurement, not written by hand:
//! `cargo xtask fw bench --board qemu-an386 | qemu-an547` records the
//! instructions every layer of the bundled model takes under QEMU on each
//! kernel build (`firmware/bench/<board>.json`, committed); here each op class
//! gets a linear model fitted to those layers by least squares on the
//! features its cost grows with ([`features`]): conv `a·MACs + b·outputs +
//! c·patch bytes`; pointwise and fully connected `a·MACs + b·outputs`;
//! depthwise `a·outputs + b·pixels`; elementwise ops `a·elements + b`.
//! A class with fewer measured layers than terms falls back to one rate
//! (`instructions / first feature`); a class never measured borrows a
//! neighbour's model (grouped → conv, max-pool → pad), said in [`Fit::notes`].
//!
//! **Cycles are not measured here**: QEMU counts instructions. The estimate's
//! milliseconds assume one cycle per instruction (CPI 1), a lower bound on
//! these in-order cores; the MLPerf Tiny anchors are cycles on silicon.

use std::collections::BTreeMap;

use nyquist_nqm::cost::{op_shapes, OpClass, OpShape};
use nyquist_nqm::{Model, OpKind};
use serde::Serialize;

use crate::error::ConvertError;

/// Flash kept for the firmware's code when the model shares the flash with it
/// (the DSP build's `.text` is 37,876 B and `.rodata` without test data a few
/// KiB, `cargo xtask fw bench --board qemu-an386`; 64 KiB leaves room).
pub const CODE_RESERVE: usize = 64 * 1024;
/// RAM kept for the stack and static data besides the arena (measured stack
/// high-water 2,716 B on the M4, 2,740 B on the M55).
pub const STACK_RESERVE: usize = 8 * 1024;

/// A core class the estimate is made for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Core {
    /// Name in tables and JSON.
    pub name: &'static str,
    /// The kernel build (a `fw bench` variant).
    pub kernels: &'static str,
    /// The QEMU board whose measurement the model is fitted to.
    pub measured_on: &'static str,
    /// Clock the milliseconds are given at, MHz.
    pub clock_mhz: f64,
    /// What that clock is.
    pub clock_of: &'static str,
}

/// The cores estimated for: Cortex-M4/M33 with the DSP extension and
/// Cortex-M55 with Helium.
pub const CORES: [Core; 2] = [
    Core {
        name: "cortex-m33-dsp",
        kernels: "dsp",
        measured_on: "qemu-an386",
        clock_mhz: 150.0,
        clock_of: "Raspberry Pi Pico 2 (RP2350)",
    },
    Core {
        name: "cortex-m55-helium",
        kernels: "helium",
        measured_on: "qemu-an547",
        clock_mhz: 400.0,
        clock_of: "a Cortex-M55 at 400 MHz",
    },
];

/// A board a blob can be checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Board {
    /// `--board` name (= the board crate in `firmware/boards`).
    pub name: &'static str,
    /// Index into [`CORES`].
    pub core: usize,
    /// The linker region the model is placed in (`memory.x`).
    pub model_region: &'static str,
    /// Its bytes.
    pub model_region_bytes: usize,
    /// True when code shares that region ([`CODE_RESERVE`] is kept for it).
    pub shares_code: bool,
    /// RAM bytes (`memory.x` region `RAM`).
    pub ram_bytes: usize,
}

/// The boards of `firmware/boards` (their `memory.x`; a test keeps the two in step).
pub const BOARDS: [Board; 3] = [
    Board {
        name: "pico2",
        core: 0,
        model_region: "FLASH",
        model_region_bytes: 4096 * 1024,
        shares_code: true,
        ram_bytes: 512 * 1024,
    },
    Board {
        name: "qemu-an386",
        core: 0,
        model_region: "FLASH",
        model_region_bytes: 4 * 1024 * 1024,
        shares_code: true,
        ram_bytes: 4 * 1024 * 1024,
    },
    Board {
        name: "qemu-an547",
        core: 1,
        model_region: "BRAM",
        model_region_bytes: 1024 * 1024,
        shares_code: false,
        ram_bytes: 512 * 1024,
    },
];

/// The board named `name`.
pub fn board(name: &str) -> Result<Board, ConvertError> {
    BOARDS
        .iter()
        .find(|b| b.name == name)
        .copied()
        .ok_or_else(|| {
            let known: Vec<&str> = BOARDS.iter().map(|b| b.name).collect();
            ConvertError::Usage(format!(
                "--board {name}: unknown board (known: {})",
                known.join(", ")
            ))
        })
}

/// One cost class's fitted model: instructions = Σ coefficient · feature
/// (features in [`features`]' order; trailing zeros when fitted on fewer).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Terms(pub [f64; 3]);

/// The fitted instruction model of one core.
#[derive(Debug, Clone, Serialize)]
pub struct Fit {
    /// The core.
    pub core: Core,
    /// Per class (by name).
    pub classes: BTreeMap<&'static str, Terms>,
    /// Classes that fell back to one rate or borrowed a neighbour's model.
    pub notes: Vec<String>,
    /// Estimated cycles per instruction of the measured network
    /// (`est_cycles / instructions` of the measurement: instructions by
    /// class × Technical Reference Manual cycles, `xtask/src/fw_cycles.rs`);
    /// `None` when the measurement has no cycle estimate.
    pub cycles_per_instruction: Option<f64>,
}

/// The features a class's cost grows with. Conv-like ops: MACs (the dot
/// products), outputs (requantization) and patch bytes (the im2col copy,
/// `pixels · cin/groups · kh · kw = MACs · pixels / outputs`), narrow convs
/// with outputs first; depthwise:
/// outputs and pixels; elementwise: elements and a constant.
pub fn features(class: OpClass, s: &OpShape) -> [f64; 3] {
    let patch = if s.outputs > 0 {
        s.macs as f64 * s.pixels as f64 / s.outputs as f64
    } else {
        0.0
    };
    match class {
        OpClass::Conv | OpClass::Grouped => [s.macs as f64, s.outputs as f64, patch],
        // Outputs first: a model usually has one narrow conv (its stem), and
        // a fit on one layer keeps only the first feature. Over 1–3 input
        // channels the per-output work (requantization, the pixel's patch and
        // call set-up) outweighs the MACs: measured on the bundled 1→16 stem,
        // ResNet-8's 3→16 is predicted 16–17 % under on both cores, where
        // MACs alone put it 140 % over.
        OpClass::ConvNarrow => [s.outputs as f64, s.macs as f64, patch],
        OpClass::Pointwise | OpClass::FullyConnected => [s.macs as f64, s.outputs as f64, 0.0],
        OpClass::Depthwise => [s.outputs as f64, s.pixels as f64, 0.0],
        OpClass::Elementwise(OpKind::GlobalAvgPool) => [s.inputs as f64, 1.0, 0.0],
        OpClass::Elementwise(_) => [s.outputs as f64, 1.0, 0.0],
    }
}

/// The class whose model stands in for one never measured.
fn stand_in(class: &str) -> Option<&'static str> {
    match class {
        "grouped" | "conv-narrow" => Some("conv"),
        "maxpool" => Some("pad"),
        _ => None,
    }
}

const CLASS_NAMES: [&str; 12] = [
    "conv",
    "conv-narrow",
    "pointwise",
    "depthwise",
    "grouped",
    "fc",
    "pad",
    "maxpool",
    "gap",
    "add",
    "lut",
    "alias",
];

/// Least squares over the features that are not all zero (normal
/// equations, Gaussian elimination with partial pivoting). Returns the terms
/// and whether it fell back to fewer features than the class has.
fn least_squares(points: &[([f64; 3], f64)]) -> (Terms, bool) {
    let used: Vec<usize> = (0..3)
        .filter(|&j| points.iter().any(|(x, _)| x[j] != 0.0))
        .collect();
    // All the class's features first; if the points cannot fix them or a
    // coefficient comes out negative, the trailing ones are dropped.
    for n in (1..=used.len()).rev() {
        if points.len() < n {
            continue;
        }
        if let Some(t) = solve(points, &used[..n]) {
            return (t, n < used.len());
        }
    }
    (Terms([0.0; 3]), true)
}

/// Weighted least squares on the features `used`: `None` when singular or a
/// coefficient is negative.
fn solve(points: &[([f64; 3], f64)], used: &[usize]) -> Option<Terms> {
    let n = used.len();
    // Scale each feature to unit size so the system is well conditioned.
    let scale: Vec<f64> = used
        .iter()
        .map(|&j| points.iter().map(|(x, _)| x[j].abs()).fold(0.0, f64::max))
        .collect();
    // Rows weighted by 1/y: relative errors are minimised, so small layers
    // count as much as large ones.
    let mean_y = points.iter().map(|(_, y)| y).sum::<f64>() / points.len().max(1) as f64;
    let mut m = vec![vec![0.0; n + 1]; n];
    for (x, y) in points {
        let w = mean_y / y.max(1.0);
        for r in 0..n {
            let xr = x[used[r]] / scale[r] * w;
            for c in 0..n {
                m[r][c] += xr * x[used[c]] / scale[c] * w;
            }
            m[r][n] += xr * y * w;
        }
    }
    for c in 0..n {
        let p = (c..n).max_by(|&a, &b| m[a][c].abs().total_cmp(&m[b][c].abs()))?;
        m.swap(c, p);
        if m[c][c].abs() <= 1e-9 * m[c][n].abs().max(1e-300) {
            return None;
        }
        for r in 0..n {
            if r != c {
                let f = m[r][c] / m[c][c];
                for k in c..=n {
                    m[r][k] -= f * m[c][k];
                }
            }
        }
    }
    let mut t = [0.0; 3];
    for (r, &j) in used.iter().enumerate() {
        t[j] = m[r][n] / m[r][r] / scale[r];
    }
    t.iter().all(|&v| v >= 0.0).then_some(Terms(t))
}

/// The committed measurements (`cargo xtask fw bench` writes them).
fn measurement(board: &str) -> Option<&'static str> {
    match board {
        "qemu-an386" => Some(include_str!("../../../firmware/bench/qemu-an386.json")),
        "qemu-an547" => Some(include_str!("../../../firmware/bench/qemu-an547.json")),
        _ => None,
    }
}

/// Fit `core`'s instruction model to its committed measurement.
pub fn fit(core: &Core) -> Result<Fit, ConvertError> {
    let bad = |what: String| {
        ConvertError::Usage(format!("firmware/bench/{}.json: {what}", core.measured_on))
    };
    let text = measurement(core.measured_on).ok_or_else(|| bad("no measurement".into()))?;
    let doc: serde_json::Value =
        serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let variant = doc["variants"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["kernels"] == core.kernels))
        .ok_or_else(|| bad(format!("no `{}` variant", core.kernels)))?;
    let mut points: BTreeMap<String, Vec<([f64; 3], f64)>> = BTreeMap::new();
    for l in variant["layers"].as_array().into_iter().flatten() {
        let num = |k: &str| l[k].as_u64().unwrap_or(0);
        let class = l["class"].as_str().unwrap_or("?").to_string();
        let shape = OpShape {
            kind: OpKind::Alias,
            class: OpClass::Conv,
            macs: num("macs"),
            outputs: num("outputs"),
            pixels: num("pixels"),
            inputs: num("inputs"),
            const_bytes: 0,
            arena_bytes: 0,
        };
        let c =
            OpClass::from_name(&class).ok_or_else(|| bad(format!("unknown class `{class}`")))?;
        points
            .entry(class)
            .or_default()
            .push((features(c, &shape), num("instructions") as f64));
    }
    let mut classes = BTreeMap::new();
    let mut notes = Vec::new();
    for name in CLASS_NAMES.iter() {
        if let Some(p) = points.get(*name) {
            let (t, one_rate) = least_squares(p);
            if one_rate {
                notes.push(format!(
                    "{name}: fitted on fewer features than its model has ({} layers measured)",
                    p.len()
                ));
            }
            classes.insert(*name, t);
        }
    }
    for name in CLASS_NAMES.iter() {
        if !classes.contains_key(name) {
            if let Some(t) = stand_in(name).and_then(|s| classes.get(s)).copied() {
                notes.push(format!(
                    "{name}: not measured, uses {}'s model",
                    stand_in(name).unwrap_or("?")
                ));
                classes.insert(*name, t);
            }
        }
    }
    let cycles_per_instruction = match (
        variant["est_cycles"].as_f64(),
        variant["instructions"].as_f64(),
    ) {
        (Some(c), Some(i)) if i > 0.0 => Some(c / i),
        _ => None,
    };
    Ok(Fit {
        core: *core,
        classes,
        notes,
        cycles_per_instruction,
    })
}

impl Fit {
    /// Estimated instructions of one op (`None`: its class was never measured).
    pub fn instructions(&self, s: &OpShape) -> Option<f64> {
        let t = self.classes.get(s.class.name())?;
        let f = features(s.class, s);
        Some(t.0.iter().zip(f).map(|(c, x)| c * x).sum())
    }
}

/// One layer of the estimate.
#[derive(Debug, Clone, Serialize)]
pub struct LayerEstimate {
    /// Op index.
    pub index: usize,
    /// Cost class (`conv`, `depthwise`, `lut`, …).
    pub op: &'static str,
    /// Multiply-accumulates.
    pub macs: u64,
    /// Flash bytes of its constants.
    pub flash_bytes: usize,
    /// Arena bytes in use while it runs.
    pub arena_bytes: usize,
    /// Estimated instructions per core, in [`CORES`] order.
    pub instructions: Vec<u64>,
}

/// The whole estimate.
#[derive(Debug, Clone, Serialize)]
pub struct Deployment {
    /// Per layer.
    pub layers: Vec<LayerEstimate>,
    /// Blob bytes (flash for the model).
    pub blob_bytes: usize,
    /// Bytes of the blob that are not layer constants (header, tensor and op
    /// records, alignment).
    pub format_bytes: usize,
    /// Arena bytes the blob asks for.
    pub arena_bytes: usize,
    /// Largest arena bytes in use at one layer.
    pub peak_arena_bytes: usize,
    /// MACs per image.
    pub macs: u64,
    /// Per core: name, estimated instructions per image, milliseconds at its
    /// clock with one cycle per instruction (a lower bound).
    pub cores: Vec<CoreTotal>,
    /// How the models were fitted, and their fallbacks.
    pub notes: Vec<String>,
}

/// One core's total.
#[derive(Debug, Clone, Serialize)]
pub struct CoreTotal {
    /// The core.
    pub core: Core,
    /// Estimated instructions per image.
    pub instructions: u64,
    /// Milliseconds per image at `core.clock_mhz`, CPI 1 (lower bound).
    pub ms_lower_bound: f64,
    /// Estimated cycles per image: the instructions × the measured network's
    /// estimated cycles per instruction ([`Fit::cycles_per_instruction`]).
    pub est_cycles: Option<u64>,
    /// `est_cycles` in milliseconds at `core.clock_mhz`.
    pub est_ms: Option<f64>,
}

/// Estimate `blob` for every core of [`CORES`].
pub fn estimate(blob: &[u8]) -> Result<Deployment, ConvertError> {
    let m = Model::from_bytes(blob)
        .map_err(|e| ConvertError::Usage(format!("blob does not load: {e}")))?;
    let shapes = op_shapes(&m).map_err(|e| ConvertError::Usage(format!("blob: {e}")))?;
    let fits: Vec<Fit> = CORES.iter().map(fit).collect::<Result<_, _>>()?;
    let mut layers = Vec::with_capacity(shapes.len());
    for (index, s) in shapes.iter().enumerate() {
        let instructions = fits
            .iter()
            .map(|f| {
                f.instructions(s).map(|x| x.round() as u64).ok_or_else(|| {
                    ConvertError::Usage(format!(
                        "op #{index} ({}): no measured model for {}",
                        s.class.name(),
                        f.core.name
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        layers.push(LayerEstimate {
            index,
            op: s.class.name(),
            macs: s.macs,
            flash_bytes: s.const_bytes,
            arena_bytes: s.arena_bytes,
            instructions,
        });
    }
    let consts: usize = layers.iter().map(|l| l.flash_bytes).sum();
    let cores = fits
        .iter()
        .enumerate()
        .map(|(c, f)| {
            let instructions: u64 = layers.iter().map(|l| l.instructions[c]).sum();
            let est_cycles = f
                .cycles_per_instruction
                .map(|cpi| (instructions as f64 * cpi).round() as u64);
            CoreTotal {
                core: f.core,
                instructions,
                ms_lower_bound: instructions as f64 / (f.core.clock_mhz * 1e3),
                est_cycles,
                est_ms: est_cycles.map(|c| c as f64 / (f.core.clock_mhz * 1e3)),
            }
        })
        .collect();
    let notes = fits
        .iter()
        .flat_map(|f| f.notes.iter().map(move |n| format!("{}: {n}", f.core.name)))
        .collect();
    Ok(Deployment {
        peak_arena_bytes: layers.iter().map(|l| l.arena_bytes).max().unwrap_or(0),
        macs: layers.iter().map(|l| l.macs).sum(),
        format_bytes: blob.len().saturating_sub(consts),
        blob_bytes: blob.len(),
        arena_bytes: m.arena_size,
        layers,
        cores,
        notes,
    })
}

impl Deployment {
    /// Why the blob does not fit `board`, with the numbers (`None`: it fits).
    pub fn misfit(&self, board: &Board) -> Option<String> {
        let reserve = if board.shares_code { CODE_RESERVE } else { 0 };
        let flash_room = board.model_region_bytes.saturating_sub(reserve);
        let ram_need = self.arena_bytes + STACK_RESERVE;
        let mut why = Vec::new();
        if self.blob_bytes > flash_room {
            why.push(format!(
                "the blob is {} B; {} {} has {} B for it ({} B{})",
                self.blob_bytes,
                board.name,
                board.model_region,
                flash_room,
                board.model_region_bytes,
                if reserve > 0 {
                    format!(" less {reserve} B kept for code")
                } else {
                    String::new()
                }
            ));
        }
        if ram_need > board.ram_bytes {
            why.push(format!(
                "the arena is {} B, + {STACK_RESERVE} B for stack and statics = {ram_need} B; {} has {} B of RAM",
                self.arena_bytes, board.name, board.ram_bytes
            ));
        }
        (!why.is_empty()).then(|| format!("does not fit {}: {}", board.name, why.join("; ")))
    }
}
