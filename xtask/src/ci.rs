//! `cargo xtask ci`: everything CI checks, cheapest and fastest-failing first.
//!
//! 1. install what is missing (rustup targets, Debian cross tools, QEMU, libclang), saying so;
//! 2. `cargo fmt --check` and `cargo clippy -D warnings`: host workspace (and the
//!    camera feature; the runtime and converter libraries without their CLI
//!    feature), the firmware for each Cortex-M kernel, every board crate;
//! 3. every host test; libFuzzer on the ONNX loader for 60 s (`fuzz`);
//! 4. on aarch64 under `qemu-aarch64` (static, release profile — the same
//!    build `build-runtime` ships): the runtime's predictions on every 8th
//!    bundled image (equal to x86) and its unit tests, the corruption
//!    fingerprints, the firmware's NEON kernels (plain and with `+dotprod`);
//!    The QEMU instruction-counting plugin of `bench runtime --target aarch64`
//!    on a hand-counted program. On armv7 under `qemu-arm`: the corruption
//!    fingerprints.
//! 5. the firmware demo on both QEMU boards (predictions equal to the host
//!    engine, kernels bit-exact with scalar on the emulated core) and the Pico 2
//!    image and on-target test binary (compiled only);
//! 6. the static `nyquist` binaries for aarch64 and armv7, V4L2 camera included.

use anyhow::Result;

use crate::cross::{cross_cargo, prepare, target};
use crate::fw::{build, check, generate_data, run_qemu, FwModel, BOARDS};
use crate::util::{cargo, ensure_apt, ensure_target, run, run_in};

/// Run fmt, clippy and the test suites.
pub fn run_ci(_args: &[String]) -> Result<()> {
    let t0 = std::time::Instant::now();
    let mut laps = Vec::new();
    let mut lap = |name: &str| {
        laps.push((name.to_string(), t0.elapsed()));
        step(name);
    };
    let aarch64 = target("aarch64")?;
    let armv7 = target("armv7")?;
    lap("setup");
    prepare(&aarch64, true)?;
    prepare(&armv7, true)?;
    for b in BOARDS {
        ensure_target(b.target)?;
    }
    ensure_apt(&["qemu-system-arm"])?;
    lap("rustfmt");
    run(cargo().args(["fmt", "--all", "--check"]))?;
    run_in("firmware/boards", cargo().args(["fmt", "--all", "--check"]))?;
    run_in(
        "xtask/ort-harness",
        cargo().args(["fmt", "--all", "--check"]),
    )?;
    for fuzz in ["onnx/fuzz", "convert/fuzz"] {
        run_in(fuzz, cargo().args(["fmt", "--all", "--check"]))?;
    }
    lap("clippy");
    let deny = ["--", "-D", "warnings"];
    run(cargo()
        .args(["clippy", "--workspace", "--all-targets"])
        .args(deny))?;
    run(cargo()
        .args(["clippy", "-p", "nyquist-runtime", "--features", "camera"])
        .args(deny))?;
    // The libraries build without their CLIs (no clap, anyhow, plotters);
    // the .nqm crate without its encoder (no alloc, as on the boards).
    for lib in [
        "nyquist-runtime",
        "nyquist-convert",
        "nyquist-onnx",
        "nyquist-quant",
        "nyquist-nqm",
    ] {
        run(cargo()
            .args(["clippy", "-p", lib, "--lib", "--no-default-features"])
            .args(deny))?;
    }
    // The onnxruntime harness of `bench runtime` (its own workspace).
    run_in(
        "xtask/ort-harness",
        cargo()
            .env(
                "CARGO_TARGET_DIR",
                std::fs::canonicalize("target")?.join("ort-harness"),
            )
            .args(["clippy", "--all-targets"])
            .args(deny),
    )?;
    for (t, cpu, kernel) in [
        ("thumbv8m.main-none-eabihf", "cortex-m55", "kernel-helium"),
        ("thumbv7em-none-eabihf", "cortex-m4", "kernel-dsp"),
    ] {
        run(cargo()
            .env("RUSTFLAGS", format!("-C target-cpu={cpu}"))
            .env("CARGO_TARGET_DIR", "target/fw-clippy")
            .args([
                "clippy",
                "-p",
                "nyquist-firmware",
                "--target",
                t,
                "--features",
            ])
            .arg(format!("{kernel},defmt"))
            .args(deny))?;
    }
    run(cargo()
        .env("CARGO_TARGET_DIR", "target/fw-clippy")
        .args([
            "clippy",
            "-p",
            "nyquist-nqm",
            "--target",
            "thumbv7em-none-eabihf",
        ])
        .args(["--features", "defmt"])
        .args(deny))?;
    let data = generate_data(FwModel::Bundled)?;
    for b in BOARDS {
        let mut c = cargo()
            .env("NYQUIST_FW_DATA", &data)
            .env("DEFMT_LOG", "info")
            .env("RUSTFLAGS", format!("-C target-cpu={}", b.cpu))
            .env(
                "CARGO_TARGET_DIR",
                std::fs::canonicalize("target")?.join("fw-clippy"),
            )
            .args(["clippy", "-p", b.name, "--target", b.target]);
        if b.qemu.is_none() {
            // The on-target test binary too (the app library has no host tests).
            c = c.arg("--all-targets");
        } else {
            c = c.args(["-p", "nyquist-app"]);
        }
        run_in("firmware/boards", c.args(deny))?;
    }
    lap("host tests");
    run(cargo().args(["test", "--workspace", "--no-fail-fast"]))?;
    lap("fuzz: onnx_load, 60 s");
    let corpus = crate::util::target_dir()?.join("fuzz").join("ci-corpus");
    crate::fuzz::fuzz(crate::fuzz::Budget::Seconds(60), &corpus)?;
    lap(&format!("{} tests under qemu-aarch64", aarch64.triple));
    let qemu_test = |packages: &[&str], tests: &[&str]| -> Result<()> {
        let mut c = cross_cargo(&aarch64)
            .env("NYQUIST_TEST_RUNNER", "qemu-aarch64")
            .env("NYQUIST_PREDICTION_STRIDE", "8")
            .args(["test", "--release", "--target", aarch64.triple]);
        for p in packages {
            c = c.args(["-p", p]);
        }
        for t in tests {
            c = c.args(["--test", t]);
        }
        run(c.arg("--lib"))
    };
    qemu_test(&["nyquist-runtime"], &["predictions"])?;
    qemu_test(&["nyquist-corrupt"], &["determinism"])?;
    qemu_test(&["nyquist-firmware"], &["kernels"])?;
    run(cargo()
        .env("RUSTFLAGS", "-C target-feature=+dotprod")
        .env("CARGO_TARGET_DIR", "target/aarch64-dotprod")
        .args([
            "test",
            "--release",
            "--target",
            aarch64.triple,
            "-p",
            "nyquist-firmware",
            "--test",
            "kernels",
        ]))?;
    // The instruction counter the aarch64 benchmarks rest on, on a program
    // whose counts are known by hand.
    crate::qemu_plugin::self_test(std::path::Path::new("target"))?;
    lap(&format!("{} tests under qemu-arm", armv7.triple));
    run(cross_cargo(&armv7).args([
        "test",
        "--release",
        "--target",
        armv7.triple,
        "-p",
        "nyquist-corrupt",
        "--test",
        "determinism",
    ]))?;
    lap("firmware on QEMU boards");
    for b in BOARDS {
        let elf = build(&b, &b.best(), &data)?;
        if b.qemu.is_some() {
            let (code, lines) = run_qemu(&b, &elf)?;
            check(&b, code, &lines)?;
        } else {
            println!(
                "{}: built {} and its on-target tests (hardware steps: firmware/README.md)",
                b.name,
                elf.display()
            );
        }
    }
    lap("static binaries (aarch64, armv7)");
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
    lap("done");
    eprintln!("\nxtask ci: all green in {:.0?}", t0.elapsed());
    for w in laps.windows(2) {
        eprintln!("  {:<48} {:>6.0?}", w[0].0, w[1].1 - w[0].1);
    }
    Ok(())
}

fn step(name: &str) {
    eprintln!("\n==> {name}");
}
