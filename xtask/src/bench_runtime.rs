//! `cargo xtask bench runtime`: `nyquist bench` (tract) against onnxruntime on
//! the same ONNX files, on this machine: ResNet-18 224×224 float (plain, with
//! BlurAfterConv blurs as exported, and after `--fold-blur`) and the bundled
//! Fashion-MNIST model (float and its two int8 forms). tract runs a batch-1
//! inference on one thread; onnxruntime is timed with 1 and 2 intra-op threads,
//! and on one thread without its NCHWc layout transform (the main source of
//! its lead on x86).

use std::collections::HashMap;
use std::process::Command;

use anyhow::{Context, Result};

use crate::util::{cargo, run};

const DIR: &str = "target/bench-runtime";

/// (file stem, input shape, what it is).
const MODELS: [(&str, &str, &str); 6] = [
    (
        "resnet18_224_plain",
        "1,3,224,224",
        "ResNet-18 224, plain, float",
    ),
    (
        "resnet18_224_blurafterconv",
        "1,3,224,224",
        "ResNet-18 224, blurs as exported, float",
    ),
    (
        "resnet18_224_blurafterconv.nyq",
        "1,3,224,224",
        "ResNet-18 224, blurs folded (auto), float",
    ),
    (
        "fmnist_32.nyq",
        "1,1,32,32",
        "bundled model, converted, float",
    ),
    ("fmnist_32.int8", "1,1,32,32", "bundled model, int8 QDQ"),
    (
        "fmnist_32.int8.tract",
        "1,1,32,32",
        "bundled model, int8 QLinearConv",
    ),
];

/// `nyquist bench --json` median latency (ms) and the kernels line.
fn nyquist_p50(stem: &str, shape: &str) -> Result<(f64, String)> {
    let model = format!("{DIR}/{stem}.onnx");
    let out = Command::new("target/release/nyquist")
        .args([
            "bench",
            "--model",
            &model,
            "--input-shape",
            shape,
            "--threads",
            "1",
            "--json",
        ])
        .args(["--runs", if shape.ends_with("224") { "60" } else { "400" }])
        .output()
        .context("target/release/nyquist")?;
    anyhow::ensure!(
        out.status.success(),
        "nyquist bench {model}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("nyquist bench --json")?;
    let p50 = v["p50_ms"].as_f64().context("p50_ms")?;
    Ok((p50, v["kernels"].as_str().unwrap_or("").to_string()))
}

/// onnxruntime medians: stem → [1 thread, 2 threads, 1 thread without the
/// NCHWc layout transform] in ms (empty when not installed).
fn onnxruntime() -> HashMap<String, [f64; 3]> {
    let Some(text) = crate::bench::python(
        &["convert/benches/onnxruntime_time.py", DIR, "--nchw"],
        "onnxruntime",
    ) else {
        return HashMap::new();
    };
    let mut m: HashMap<String, [f64; 3]> = HashMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [stem, config, ms] = f[..] else { continue };
        let Ok(ms) = ms.parse::<f64>() else { continue };
        let slot = match config {
            "1" => 0,
            "2" => 1,
            "nchw" => 2,
            _ => continue,
        };
        m.entry(stem.to_string()).or_insert([f64::NAN; 3])[slot] = ms;
    }
    m
}

/// Run the comparison and print the table.
pub fn bench_runtime() -> Result<()> {
    run(cargo().args([
        "build",
        "--release",
        "-q",
        "-p",
        "nyquist-runtime",
        "--bin",
        "nyquist",
    ]))?;
    run(cargo().args([
        "run",
        "--release",
        "-q",
        "-p",
        "nyquist-convert",
        "--example",
        "bench_models",
        "--",
        DIR,
    ]))?;
    let ort = onnxruntime();
    let mut kernels = String::new();
    println!("\nbatch-1 median latency, same ONNX files; ratio = nyquist / onnxruntime (< 1: nyquist faster)\n");
    println!("| model | nyquist (tract, 1 thread) | onnxruntime 1 thread | ratio | onnxruntime 2 threads | ratio | onnxruntime 1 thread, no NCHWc | ratio |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (stem, shape, what) in MODELS {
        let (p50, k) = nyquist_p50(stem, shape)?;
        kernels = k;
        let [o1, o2, o3] = ort.get(stem).copied().unwrap_or([f64::NAN; 3]);
        println!(
            "| {what} | {p50:.3} ms | {o1:.3} ms | {:.2}× | {o2:.3} ms | {:.2}× | {o3:.3} ms | {:.2}× |",
            p50 / o1,
            p50 / o2,
            p50 / o3
        );
    }
    println!("\ntract kernels on this machine: {kernels}");
    println!("goal: ≤ 1.0× onnxruntime on float, faster on int8");
    println!("\"no NCHWc\": onnxruntime at ORT_ENABLE_EXTENDED, i.e. without its NCHWc blocked-layout convolutions");
    Ok(())
}
