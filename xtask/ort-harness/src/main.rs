//! `nyquist-ort-harness LIB MODEL SHAPE ITERATIONS [--level all|extended]`:
//! load onnxruntime from `LIB` (a `libonnxruntime.so`), open `MODEL` with one
//! intra-op thread and no spinning, run `ITERATIONS` batch-1 inferences on a
//! constant input of `SHAPE` (`1,3,224,224`), and print one JSON line:
//! `{"iterations": N, "median_ms": …, "top1": …}`.
//!
//! `cargo xtask bench runtime` runs it beside `nyquist bench` on the same
//! files: timed on x86 (interleaved rounds), and under `qemu-aarch64` with the
//! instruction-counting plugin, where the count of a run with fewer iterations
//! is subtracted so that loading is not counted.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::Tensor;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [lib, model, shape, iters, rest @ ..] = &args[..] else {
        bail!("usage: nyquist-ort-harness LIB MODEL SHAPE ITERATIONS [--level all|extended]");
    };
    let shape: Vec<usize> = shape
        .split(',')
        .map(|d| d.trim().parse().context("SHAPE: comma-separated integers"))
        .collect::<Result<_>>()?;
    let iters: usize = iters.parse().context("ITERATIONS")?;
    let level = match rest {
        [] => GraphOptimizationLevel::All,
        [flag, v] if flag == "--level" && v == "all" => GraphOptimizationLevel::All,
        [flag, v] if flag == "--level" && v == "extended" => GraphOptimizationLevel::Level2,
        other => bail!("unknown arguments {other:?}"),
    };
    let env = ort::init_from(lib)
        .with_context(|| format!("loading onnxruntime from {lib}"))?
        .build()
        .map_err(|e| anyhow::anyhow!("onnxruntime environment: {e}"))?;
    let e = |e: ort::Error<ort::session::builder::SessionBuilder>| anyhow::anyhow!("{model}: {e}");
    let mut session = Session::builder(&env)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .with_optimization_level(level)
        .map_err(e)?
        .with_intra_threads(1)
        .map_err(e)?
        .with_inter_threads(1)
        .map_err(e)?
        .with_intra_op_spinning(false)
        .map_err(e)?
        .commit_from_file(model)
        .map_err(|e| anyhow::anyhow!("{model}: {e}"))?;
    let n: usize = shape.iter().product();
    let input = vec![0.25f32; n];
    let mut times = Vec::with_capacity(iters);
    let mut top1 = None;
    for _ in 0..iters {
        let x = Tensor::from_array((shape.clone(), input.clone().into_boxed_slice()))
            .map_err(|e| anyhow::anyhow!("input: {e}"))?;
        let t0 = Instant::now();
        let out = session
            .run(ort::inputs![x])
            .map_err(|e| anyhow::anyhow!("{model}: {e}"))?;
        times.push(t0.elapsed().as_secs_f64() * 1e3);
        let (_, y) = out[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| anyhow::anyhow!("output: {e}"))?;
        top1 = y
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i);
    }
    times.sort_by(f64::total_cmp);
    let median = times.get(times.len() / 2).copied().unwrap_or(f64::NAN);
    println!(
        "{{\"iterations\": {iters}, \"median_ms\": {median}, \"top1\": {}}}",
        top1.map_or("null".into(), |t| t.to_string())
    );
    Ok(())
}
