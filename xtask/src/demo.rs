//! `cargo xtask demo [--calib DIR] [--eval-limit N]`: the main job on the bundled
//! anti-aliased model — fold the blurs, quantize to int8 with the bundled
//! calibration images, run the robustness gate on the bundled evaluation images —
//! and print the final table. Artifacts go to `target/nyquist-demo/`.

use std::process::ExitCode;

use anyhow::{bail, Result};

use crate::util::{cargo, run_code};

/// The bundled anti-aliased model.
pub const MODEL: &str = "models/fmnist/resnet18r-blurafterconv.onnx";
/// The bundled evaluation subset.
pub const EVAL: &str = "models/fmnist/eval";
/// The bundled calibration subset.
pub const CALIB: &str = "models/fmnist/calib";
/// Where the demo writes.
pub const OUT: &str = "target/nyquist-demo";

/// Run the demo; extra arguments (`--calib DIR`, `--eval-limit N`, …) go to the converter.
pub fn run(args: &[String]) -> Result<ExitCode> {
    if !std::path::Path::new(MODEL).exists() {
        bail!("{MODEL} is missing: the bundled model comes with the repository");
    }
    std::fs::create_dir_all(OUT)?;
    let out = format!("{OUT}/resnet18r-blurafterconv.nyq.onnx");
    let mut conv_args: Vec<String> = [
        MODEL,
        "--fold-blur",
        "--quantize",
        "int8",
        "--eval",
        EVAL,
        "--eval-limit",
        "300",
        "-o",
        &out,
        // The tables people want first; the full report is on disk.
        "--print-sections",
        "Blurs,Robustness gate",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if !args.iter().any(|a| a == "--calib") {
        conv_args.extend(["--calib".to_string(), CALIB.to_string()]);
    }
    conv_args.extend(args.iter().cloned());
    eprintln!("xtask demo: blur folding + int8 + robustness gate on {MODEL} (artifacts in {OUT}/)");
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
            .args(&conv_args),
    )?;
    println!("\nfull report: {OUT}/resnet18r-blurafterconv.nyq.report.md");
    Ok(code)
}
