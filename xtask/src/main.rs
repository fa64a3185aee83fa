//! Project automation. `cargo xtask <command>`:
//!
//! | command | what it does |
//! |---|---|
//! | `convert ARGS…` | `nyquist-convert ARGS…` (release build) |
//! | `demo` | the main job on the bundled model and data |
//! | `build-runtime --target aarch64\|armv7` | static `nyquist` for ARM Linux |
//! | `ci` | every check CI runs: fmt, clippy, all tests (host and cross) |
//! | `fw run\|build --board B [--model M] [--probe]` | the firmware demo on a QEMU board or (probe-rs) a Pico 2 |
//! | `fw bench [--board B] [--model M] [--json OUT]` | per-layer instructions and the cycle estimate of every kernel build |
//! | `fw profile --board B [--model M] [--top N]` | instructions by function (per-block counts mapped to the ELF's symbols) |
//! | `fuzz [--seconds N \| --runs N] [--corpus DIR]` | libFuzzer on the ONNX loader, stable toolchain, no sanitizer (CI: 60 s) |
//! | `bench [convert\|quant\|corrupt\|runtime]` | benchmarks, printed as ratios against a baseline from the same run |
//! | `insn-count-check` | build the QEMU instruction-counting plugin and check it on a hand-counted program |
//!
//! Missing tools (rustup targets, Debian packages) are installed on demand, and
//! every installation is announced first.

mod bench;
mod bench_runtime;
mod ci;
mod cross;
mod demo;
mod fuzz;
mod fw;
mod fw_bench;
mod fw_cycles;
mod fw_log;
mod fw_profile;
mod qemu_plugin;
mod util;

use anyhow::{bail, Result};

fn main() -> std::process::ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<std::process::ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = args.split_first() else {
        print_help();
        bail!("no command given");
    };
    util::chdir_to_workspace()?;
    match cmd.as_str() {
        "convert" => util::cargo_run_release("nyquist-convert", "nyquist-convert", rest),
        "demo" => demo::run(rest),
        "fw" => fw::fw(rest).map(|_| std::process::ExitCode::SUCCESS),
        "fuzz" => fuzz::command(rest).map(|_| std::process::ExitCode::SUCCESS),
        "build-runtime" => cross::build_runtime(rest).map(|_| std::process::ExitCode::SUCCESS),
        "ci" => ci::run_ci(rest).map(|_| std::process::ExitCode::SUCCESS),
        "bench" => bench::run_bench(rest).map(|_| std::process::ExitCode::SUCCESS),
        "insn-count-check" => qemu_plugin::self_test(std::path::Path::new("target"))
            .map(|_| std::process::ExitCode::SUCCESS),
        "help" | "--help" | "-h" => {
            print_help();
            Ok(std::process::ExitCode::SUCCESS)
        }
        other => {
            print_help();
            bail!("unknown command `{other}`")
        }
    }
}

fn print_help() {
    eprintln!(
        "usage: cargo xtask <command>\n\n\
         convert MODEL [ARGS]   convert a model (see `cargo xtask convert --help`)\n\
         demo                   fold + int8 + robustness gate on the bundled model, print the tables\n\
         build-runtime --target aarch64|armv7   static `nyquist` for ARM Linux boards\n\
         fw run|build --board qemu-an547|qemu-an386|pico2 [--model bundled|resnet8] [--probe]   firmware demo\n\
         fw bench [--board B] [--model M] [--json OUT]   instructions and cycle estimate per kernel build\n\
         fw profile --board B [--model M] [--top N]   instructions by function\n\
         fuzz [--seconds N | --runs N] [--corpus DIR]   libFuzzer on the ONNX loader (default 60 s)\n\
         ci                     fmt, clippy and every test, as CI runs them\n\
         bench [convert|quant|corrupt] | bench runtime [--target aarch64] [--rounds N] [--json OUT]\n\
         \x20                      benchmarks with ratios against their baseline\n\
         insn-count-check       the QEMU instruction counter on a hand-counted program"
    );
}
