//! `cargo xtask ci`: everything CI checks, cheapest and fastest-failing first.
//!
//! 1. install what is missing (rustup targets, Debian cross tools, QEMU, libclang), saying so;
//! 2. `cargo fmt --check`, `cargo clippy -D warnings` (host, and the camera feature);
//! 3. every host test;
//! 4. the platform-sensitive suites on aarch64 (static musl, release profile — the
//!    same build `build-runtime` ships) under `qemu-aarch64`: runtime predictions
//!    and eval, corruption fingerprints;
//! 5. the static `nyquist` binaries for aarch64 and armv7, V4L2 camera included.

use anyhow::Result;

use crate::cross::{cross_cargo, prepare, target};
use crate::util::{cargo, run};

/// Run fmt, clippy and the test suites.
pub fn run_ci(_args: &[String]) -> Result<()> {
    let t0 = std::time::Instant::now();
    let aarch64 = target("aarch64")?;
    let armv7 = target("armv7")?;
    step("setup");
    prepare(&aarch64, true)?;
    prepare(&armv7, true)?;
    step("rustfmt");
    run(cargo().args(["fmt", "--all", "--check"]))?;
    step("clippy");
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(cargo().args([
        "clippy",
        "-p",
        "nyquist-runtime",
        "--features",
        "camera",
        "--",
        "-D",
        "warnings",
    ]))?;
    step("host tests");
    run(cargo().args(["test", "--workspace", "--no-fail-fast"]))?;
    let lap = t0.elapsed();
    step(&format!("{} tests under qemu-aarch64", aarch64.triple));
    run(cross_cargo(&aarch64)
        .env("NYQUIST_TEST_RUNNER", "qemu-aarch64")
        .args([
            "test",
            "--release",
            "--target",
            aarch64.triple,
            "-p",
            "nyquist-runtime",
            "-p",
            "nyquist-corrupt",
            "--lib",
            "--tests",
        ]))?;
    step("static binaries (aarch64, armv7)");
    for t in [aarch64, armv7] {
        run(cross_cargo(&t).args([
            "build",
            "--release",
            "--target",
            t.triple,
            "-p",
            "nyquist-runtime",
            "--bin",
            "nyquist",
            "--features",
            "camera",
        ]))?;
    }
    eprintln!(
        "\nxtask ci: all green in {:.0?} (host part {:.0?})",
        t0.elapsed(),
        lap
    );
    Ok(())
}

fn step(name: &str) {
    eprintln!("\n==> {name}");
}
