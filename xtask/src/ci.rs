//! `cargo xtask ci`: everything CI checks, cheapest and fastest-failing first.
//!
//! 1. install what is missing (rustup targets, Debian cross tools and QEMU), saying so;
//! 2. `cargo fmt --check`, `cargo clippy -D warnings`;
//! 3. every host test;
//! 4. the platform-sensitive suites again on aarch64 (static musl) under `qemu-aarch64`.

use anyhow::Result;

use crate::util::{cargo, ensure_apt, ensure_target, run};

/// The aarch64 Linux target the runtime ships for (Raspberry Pi 4/5, Jetson).
pub const AARCH64: &str = "aarch64-unknown-linux-musl";

/// Debian packages the cross steps need.
pub const CROSS_PACKAGES: &[&str] = &["qemu-user", "gcc-aarch64-linux-gnu"];

/// Run fmt, clippy and the test suites.
pub fn run_ci(_args: &[String]) -> Result<()> {
    let t0 = std::time::Instant::now();
    step("setup");
    ensure_target(AARCH64)?;
    ensure_apt(CROSS_PACKAGES)?;
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
    step("host tests");
    run(cargo().args(["test", "--workspace", "--no-fail-fast"]))?;
    step(&format!("{AARCH64} tests under qemu-aarch64"));
    run(cargo().args([
        "test",
        "--target",
        AARCH64,
        "-p",
        "nyquist-corrupt",
        "--test",
        "determinism",
    ]))?;
    eprintln!("\nxtask ci: all green in {:.0?}", t0.elapsed());
    Ok(())
}

fn step(name: &str) {
    eprintln!("\n==> {name}");
}
