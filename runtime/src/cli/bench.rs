//! `nyquist bench`: load time, latency percentiles at batch 1, throughput with
//! all threads, peak RSS, the matmul kernels the plan holds (int8 or float),
//! and with `--profile` where the time goes, operator by operator.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use rayon::prelude::*;
use serde::Serialize;

use super::model::ModelArgs;

/// `nyquist bench --model M …`
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The model.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Timed batch-1 runs.
    #[arg(long, default_value_t = 200)]
    pub runs: usize,
    /// Untimed warm-up runs.
    #[arg(long, default_value_t = 20)]
    pub warmup: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Skip the all-threads throughput pass: exactly `warmup + runs`
    /// inferences (for instruction counting under QEMU).
    #[arg(long)]
    pub latency_only: bool,
    /// Time every node of the optimized plan and print the time per operator.
    #[arg(long)]
    pub profile: bool,
}

/// What `nyquist bench` measures.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    /// Model file.
    pub model: String,
    /// Seconds to load and optimize.
    pub load_s: f64,
    /// Latency percentiles (ms), batch 1, one run at a time.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Images per second with every worker thread busy (`None` with `--latency-only`).
    pub throughput_ips: Option<f64>,
    /// Worker threads.
    pub threads: usize,
    /// Peak resident set size (MiB), from /proc/self/status.
    pub peak_rss_mib: Option<f64>,
    /// tract's matmul kernels for this CPU.
    pub kernels: String,
    /// The matmuls of this model's plan: how many run in int8, which kernels.
    pub plan_kernels: nyquist_runtime::profile::Kernels,
    /// Time per operator (with `--profile`).
    pub profile: Option<nyquist_runtime::profile::Profile>,
}

/// Peak RSS in MiB (Linux).
pub fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = s
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// Run the benchmark.
pub fn run(a: BenchArgs) -> Result<ExitCode> {
    let m = a.model.load()?;
    let x = vec![0.25f32; m.engine.input_len()];
    for _ in 0..a.warmup {
        m.engine.run(&x)?;
    }
    let mut lat: Vec<f64> = Vec::with_capacity(a.runs);
    for _ in 0..a.runs {
        let t0 = Instant::now();
        m.engine.run(&x)?;
        lat.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize];
    let threads = rayon::current_num_threads();
    let throughput = if a.latency_only {
        None
    } else {
        let n = (a.runs).max(threads * 8);
        let t0 = Instant::now();
        (0..n)
            .into_par_iter()
            .try_for_each(|_| m.engine.run(&x).map(|_| ()))?;
        Some(n as f64 / t0.elapsed().as_secs_f64())
    };
    let profile = if a.profile {
        Some(nyquist_runtime::profile::profile(
            &m.engine,
            &x,
            a.runs.clamp(1, 200),
        )?)
    } else {
        None
    };
    let r = BenchResult {
        model: a.model.model.display().to_string(),
        load_s: m.load_seconds,
        p50_ms: pct(0.5),
        p90_ms: pct(0.9),
        p99_ms: pct(0.99),
        throughput_ips: throughput,
        threads,
        peak_rss_mib: peak_rss_mib(),
        kernels: nyquist_runtime::engine::kernel_summary(),
        plan_kernels: nyquist_runtime::profile::kernels(&m.engine),
        profile,
    };
    if a.json {
        super::out(serde_json::to_string_pretty(&r)?)?;
    } else {
        super::out(format!("model       {}", r.model))?;
        super::out(format!("load        {:.3} s", r.load_s))?;
        super::out(format!(
            "latency     p50 {:.3} ms   p90 {:.3} ms   p99 {:.3} ms   (batch 1, {} runs)",
            r.p50_ms, r.p90_ms, r.p99_ms, a.runs
        ))?;
        if let Some(t) = r.throughput_ips {
            super::out(format!(
                "throughput  {t:.1} images/s on {} threads",
                r.threads
            ))?;
        }
        if let Some(rss) = r.peak_rss_mib {
            super::out(format!("peak RSS    {rss:.1} MiB"))?;
        }
        super::out(format!("kernels     {}", r.kernels))?;
        super::out(format!("this model  {}", r.plan_kernels.line()))?;
        if let Some(p) = &r.profile {
            super::out(format!(
                "profile     {:.3} ms per inference, summed over {} nodes:",
                p.total_ms,
                p.nodes.len()
            ))?;
            for o in &p.ops {
                super::out(format!(
                    "  {:<28} {:>4} nodes {:>9.3} ms {:>6.1} %",
                    o.op,
                    o.nodes,
                    o.ms,
                    o.share * 100.0
                ))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
