//! `nyquist bench`: load time, latency percentiles at batch 1, throughput with
//! all threads, peak RSS, and the matmul kernel tract picked on this CPU.

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
    /// Images per second with every worker thread busy.
    pub throughput_ips: f64,
    /// Worker threads.
    pub threads: usize,
    /// Peak resident set size (MiB), from /proc/self/status.
    pub peak_rss_mib: Option<f64>,
    /// tract's matmul kernels for this CPU.
    pub kernels: String,
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
    let n = (a.runs).max(threads * 8);
    let t0 = Instant::now();
    (0..n)
        .into_par_iter()
        .try_for_each(|_| m.engine.run(&x).map(|_| ()))?;
    let throughput = n as f64 / t0.elapsed().as_secs_f64();
    let r = BenchResult {
        model: a.model.model.display().to_string(),
        load_s: m.load_seconds,
        p50_ms: pct(0.5),
        p90_ms: pct(0.9),
        p99_ms: pct(0.99),
        throughput_ips: throughput,
        threads,
        peak_rss_mib: peak_rss_mib(),
        kernels: crate::engine::kernel_summary(),
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
        super::out(format!(
            "throughput  {:.1} images/s on {} threads",
            r.throughput_ips, r.threads
        ))?;
        if let Some(rss) = r.peak_rss_mib {
            super::out(format!("peak RSS    {rss:.1} MiB"))?;
        }
        super::out(format!("kernels     {}", r.kernels))?;
    }
    Ok(ExitCode::SUCCESS)
}
