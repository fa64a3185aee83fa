//! `cargo xtask demo`: the main job on the bundled model and data.

use std::process::ExitCode;

use anyhow::{bail, Result};

use crate::util::{cargo, run_code};

/// The bundled anti-aliased model.
pub const MODEL: &str = "models/fmnist/resnet18r-blurafterconv.onnx";
/// The bundled evaluation subset.
pub const EVAL: &str = "models/fmnist/eval";
/// Where the demo writes.
pub const OUT: &str = "target/nyquist-demo";

/// Convert the bundled model with `--fold-blur` and verify on the eval images.
pub fn run(_args: &[String]) -> Result<ExitCode> {
    if !std::path::Path::new(MODEL).exists() {
        bail!("{MODEL} is missing: the bundled model comes with the repository");
    }
    std::fs::create_dir_all(OUT)?;
    let out = format!("{OUT}/resnet18r-blurafterconv.nyq.onnx");
    let code = run_code(
        cargo()
            .args([
                "run",
                "--quiet",
                "--release",
                "-p",
                "nyquist-convert",
                "--bin",
                "nyquist-convert",
                "--",
            ])
            .args([
                MODEL,
                "--fold-blur",
                "--eval",
                EVAL,
                "--eval-limit",
                "2000",
                "-o",
                &out,
            ]),
    )?;
    let report = format!("{OUT}/resnet18r-blurafterconv.nyq.report.md");
    if let Ok(md) = std::fs::read_to_string(&report) {
        println!("\n{md}");
    }
    Ok(code)
}
