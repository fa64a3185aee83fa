//! Where the time of one inference goes: tract's optimized plan, node by node
//! (each node's evaluation timed over several runs), and which matrix-multiply
//! kernels the plan holds — integer (i32 accumulators, int8 operands) or float.
//!
//! This is the measurement behind `nyquist bench --profile` and the "which
//! kernels ran" line of `nyquist bench`: a model that was meant to run as int8
//! but shows only f32 matmuls is dequantizing somewhere.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::matmul::optimized::OptMatMul;
use tract_onnx::tract_core::plan::SimpleState;

use crate::engine::Engine;
use crate::error::{Result, RuntimeError};

/// One node of the optimized plan and its time per inference.
#[derive(Debug, Clone, Serialize)]
pub struct NodeTime {
    /// Node name in the plan (ONNX node name, possibly with a tract suffix).
    pub name: String,
    /// tract operator (`OptMatMul`, `Im2Col`, `DepthWise`, …).
    pub op: String,
    /// Median milliseconds per inference.
    pub ms: f64,
}

/// The time of one operator kind, summed over its nodes.
#[derive(Debug, Clone, Serialize)]
pub struct OpTime {
    /// tract operator.
    pub op: String,
    /// Nodes of that operator in the plan.
    pub nodes: usize,
    /// Milliseconds per inference, summed over the nodes.
    pub ms: f64,
    /// Share of the total.
    pub share: f64,
}

/// A per-node profile of one model.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    /// Every evaluated node, in plan order.
    pub nodes: Vec<NodeTime>,
    /// Time per operator kind, largest first.
    pub ops: Vec<OpTime>,
    /// Sum of the node medians (ms).
    pub total_ms: f64,
}

/// The matrix multiplications of a plan, by accumulator type and kernel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Kernels {
    /// Matmul nodes accumulating in i32 (int8 operands).
    pub int8_matmuls: usize,
    /// Matmul nodes accumulating in f32 (or f16).
    pub float_matmuls: usize,
    /// Kernel name → number of matmul nodes that can use it.
    pub by_kernel: BTreeMap<String, usize>,
}

impl Kernels {
    /// One line for people: `int8 (i32 acc): 21 matmuls · float: 0 · kernels: …`.
    pub fn line(&self) -> String {
        let names = self
            .by_kernel
            .iter()
            .map(|(k, n)| format!("{k}×{n}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "int8 (i32 accumulators): {} matmuls · float: {} matmuls · kernels: {names}",
            self.int8_matmuls, self.float_matmuls
        )
    }
}

/// Count the plan's matmuls by type and kernel.
pub fn kernels(engine: &Engine) -> Kernels {
    let mut k = Kernels::default();
    for node in engine.plan().model().nodes() {
        let Some(mm) = node.op_as::<OptMatMul>() else {
            continue;
        };
        let Some(first) = mm.mmm.first() else {
            continue;
        };
        if first.internal_type() == i32::datum_type() {
            k.int8_matmuls += 1;
        } else {
            k.float_matmuls += 1;
        }
        for m in &mm.mmm {
            *k.by_kernel.entry(m.name().to_string()).or_default() += 1;
        }
    }
    k
}

/// An instruction-count marker for the QEMU plugin of `cargo xtask bench`
/// (`hint #100`, an unallocated hint: a NOP on every Armv8 core). Emitted
/// before and after each node when `NYQUIST_PROFILE_MARKERS=1`, so that
/// under `qemu-aarch64` the plugin attributes instructions to nodes.
#[inline(always)]
fn marker() {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: `hint #100` is in the architected NOP hint space (unallocated
    // hints execute as NOP): it reads and writes no register, flag or memory.
    unsafe {
        core::arch::asm!("hint #100", options(nomem, nostack, preserves_flags));
    }
}

/// Time every node of `engine`'s plan over `runs` inferences on `input`
/// (after one untimed run) and report the medians.
pub fn profile(engine: &Engine, input: &[f32], runs: usize) -> Result<Profile> {
    let plan = engine.plan();
    let x: Tensor =
        tract_ndarray::ArrayD::from_shape_vec(engine.input_shape.clone(), input.to_vec())
            .map_err(|e| RuntimeError::Run {
                what: "shaping the input",
                source: Box::new(e),
            })?
            .into();
    let mut samples: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    let mut state = SimpleState::new(plan).map_err(|e| RuntimeError::Run {
        what: "preparing the plan's state",
        source: e.into(),
    })?;
    let markers = std::env::var_os("NYQUIST_PROFILE_MARKERS").is_some_and(|v| v == "1");
    for run in 0..=runs.max(1) {
        let timed = run > 0;
        state
            .run_plan_with_eval(tvec!(x.clone().into()), |ctx, op_state, node, inputs| {
                if markers {
                    marker();
                }
                let t0 = Instant::now();
                let r = tract_onnx::tract_core::plan::eval(ctx, op_state, node, inputs);
                if markers {
                    marker();
                }
                if timed {
                    samples
                        .entry(node.id)
                        .or_default()
                        .push(t0.elapsed().as_secs_f64() * 1e3);
                }
                r
            })
            .map_err(|e| RuntimeError::Run {
                what: "running the plan node by node",
                source: e.into(),
            })?;
    }
    let model = plan.model();
    let nodes: Vec<NodeTime> = samples
        .into_iter()
        .map(|(id, mut v)| {
            v.sort_by(f64::total_cmp);
            let node = model.node(id);
            NodeTime {
                name: node.name.clone(),
                op: node.op().name().to_string(),
                ms: v[v.len() / 2],
            }
        })
        .collect();
    let total_ms: f64 = nodes.iter().map(|n| n.ms).sum();
    let mut by_op: BTreeMap<&str, (usize, f64)> = BTreeMap::new();
    for n in &nodes {
        let e = by_op.entry(&n.op).or_default();
        e.0 += 1;
        e.1 += n.ms;
    }
    let mut ops: Vec<OpTime> = by_op
        .into_iter()
        .map(|(op, (nodes, ms))| OpTime {
            op: op.to_string(),
            nodes,
            ms,
            share: if total_ms > 0.0 { ms / total_ms } else { 0.0 },
        })
        .collect();
    ops.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    Ok(Profile {
        nodes,
        ops,
        total_ms,
    })
}
