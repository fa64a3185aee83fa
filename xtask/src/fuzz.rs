//! `cargo xtask fuzz [--seconds N | --runs N] [--corpus DIR]`: libFuzzer on
//! the ONNX loader (`onnx/fuzz`, target `onnx_load`), built on the stable
//! toolchain with libFuzzer's coverage instrumentation and no sanitizer.
//!
//! The loader is safe Rust (`nyquist-onnx` has no `unsafe`), so what a
//! sanitizer adds — detecting memory errors only `unsafe` code can make —
//! buys nothing here, and without it the target runs ≈ 12× faster (≈ 9,000
//! executions/s on the fixtures instead of ≈ 800 under ASan). libFuzzer itself
//! catches what the contract is about: a panic (abort), a hang (`-timeout`),
//! and an unbounded allocation (`-rss_limit_mb`). The build is what
//! cargo-fuzz does without `-Zsanitizer` (`--cfg fuzzing`, `sancov-module`
//! with 8-bit counters, the PC table and compare tracing, debug assertions
//! and overflow checks on), for the host triple so build scripts and proc
//! macros stay uninstrumented. libFuzzer's C++ sources need `g++`.
//!
//! Seeds: the PyTorch fixtures (`convert/tests/fixtures`, read recursively).
//! The corpus folder (default `target/fuzz/corpus/onnx_load`) keeps what a
//! run found for the next one. A crash writes its input to
//! `target/fuzz/artifacts/` and fails the command.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::util::{cargo, cmd, ensure_apt, run, target_dir};

/// libFuzzer's coverage instrumentation without a sanitizer (cargo-fuzz's
/// flags less `-Zsanitizer`).
const FLAGS: &str = "--cfg fuzzing -Cpasses=sancov-module \
    -Cllvm-args=-sanitizer-coverage-level=4 \
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
    -Cllvm-args=-sanitizer-coverage-pc-table \
    -Cllvm-args=-sanitizer-coverage-trace-compares \
    -Cdebug-assertions -Coverflow-checks";

/// How long a run lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    Seconds(u64),
    Runs(u64),
}

/// What a finished run reports (`-print_final_stats=1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    pub executions: u64,
    pub per_second: u64,
    pub new_units: u64,
    pub peak_rss_mb: u64,
}

impl Stats {
    /// The `stat::NAME: VALUE` lines libFuzzer prints at exit.
    pub fn parse(log: &str) -> Result<Stats> {
        let get = |name: &str| -> Result<u64> {
            let key = format!("stat::{name}:");
            let line = log
                .lines()
                .find(|l| l.starts_with(&key))
                .with_context(|| format!("libFuzzer printed no `{key}` line"))?;
            line[key.len()..]
                .trim()
                .parse()
                .with_context(|| format!("`{line}`: not a number"))
        };
        Ok(Stats {
            executions: get("number_of_executed_units")?,
            per_second: get("average_exec_per_sec")?,
            new_units: get("new_units_added")?,
            peak_rss_mb: get("peak_rss_mb")?,
        })
    }
}

/// Build the target; return the binary's path.
pub fn build() -> Result<PathBuf> {
    ensure_apt(&["g++"])?;
    let triple = host_triple()?;
    let dir = target_dir()?.join("fuzz");
    run(cargo()
        .env("RUSTFLAGS", FLAGS)
        .env("CARGO_TARGET_DIR", &dir)
        .args([
            "build",
            "--release",
            "--manifest-path",
            "onnx/fuzz/Cargo.toml",
        ])
        .args(["--bin", "onnx_load", "--target", &triple]))?;
    Ok(dir.join(triple).join("release").join("onnx_load"))
}

fn host_triple() -> Result<String> {
    let v = cmd("rustc").arg("-vV").read()?;
    v.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_string)
        .context("`rustc -vV` names no host")
}

/// Fuzz `onnx_load` for `budget` from `corpus`; fail on any finding.
pub fn fuzz(budget: Budget, corpus: &Path) -> Result<Stats> {
    let bin = build()?;
    let artifacts = target_dir()?.join("fuzz").join("artifacts");
    std::fs::create_dir_all(corpus)?;
    std::fs::create_dir_all(&artifacts)?;
    let limit = match budget {
        Budget::Seconds(s) => format!("-max_total_time={s}"),
        Budget::Runs(n) => format!("-runs={n}"),
    };
    let c = cmd(&bin)
        .arg(corpus)
        .arg("convert/tests/fixtures")
        .args([
            limit.as_str(),
            "-max_len=131072",
            "-rss_limit_mb=2048",
            "-timeout=10",
            "-print_final_stats=1",
        ])
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .ignore_status();
    eprintln!("$ {c}");
    let out = c.output().context("cannot start the fuzz target")?;
    let log = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        bail!(
            "onnx_load: libFuzzer found a failure ({}); the input is in {}:\n{}",
            out.status,
            artifacts.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    let s = Stats::parse(&log)?;
    println!(
        "onnx_load: {} executions ({}/s), {} new corpus units, peak RSS {} MB — no panic, hang or runaway allocation",
        s.executions, s.per_second, s.new_units, s.peak_rss_mb
    );
    Ok(s)
}

/// `cargo xtask fuzz [--seconds N | --runs N] [--corpus DIR]`.
pub fn command(args: &[String]) -> Result<()> {
    let mut budget = Budget::Seconds(60);
    let mut corpus = target_dir()?.join("fuzz").join("corpus").join("onnx_load");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = |flag: &str| -> Result<u64> {
            it.next()
                .and_then(|v| v.parse().ok())
                .with_context(|| format!("{flag} needs a number"))
        };
        match a.as_str() {
            "--seconds" => budget = Budget::Seconds(num("--seconds")?),
            "--runs" => budget = Budget::Runs(num("--runs")?),
            "--corpus" => {
                corpus = PathBuf::from(it.next().context("--corpus needs a folder")?);
            }
            other => {
                bail!("fuzz: unknown argument `{other}` (--seconds N, --runs N, --corpus DIR)")
            }
        }
    }
    fuzz(budget, &corpus).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_stats_are_read() {
        let log = "#447784\tDONE   cov: 1598 ft: 4381\n\
                   stat::number_of_executed_units: 447784\n\
                   stat::average_exec_per_sec:     7340\n\
                   stat::new_units_added:          2069\n\
                   stat::slowest_unit_time_sec:    0\n\
                   stat::peak_rss_mb:              78\n";
        assert_eq!(
            Stats::parse(log).unwrap(),
            Stats {
                executions: 447_784,
                per_second: 7340,
                new_units: 2069,
                peak_rss_mb: 78
            }
        );
        let e = Stats::parse("stat::number_of_executed_units: x\n").unwrap_err();
        assert!(e.to_string().contains("not a number"), "{e}");
        assert!(Stats::parse("").is_err());
    }
}
