//! `cargo xtask fw run|bench --board B`: build the firmware demo for a board,
//! run it (QEMU) or flash it (probe-rs), decode its defmt log, and check it.
//!
//! Data first: the bundled model is converted, quantized and exported to
//! `.nqm` (`nyquist-convert --emit nqm`), and `nyquist-fw-testset` picks the test
//! images and records the host engine's predictions; the board image embeds
//! them (`NYQUIST_FW_DATA`). Under QEMU, `-icount shift=0` makes one guest
//! instruction one virtual nanosecond, so the board's SysTick deltas, calibrated
//! against a loop of known length, count instructions per layer.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::qemu_plugin::Counts;
use crate::util::{cargo, cmd, ensure_apt, ensure_target, in_dir, run};

/// One build of a board image: which kernel, compiled for which core.
#[derive(Debug, Clone, Copy)]
pub struct Variant {
    /// Column name in the bench table.
    pub name: &'static str,
    /// Cargo feature of the board crate selecting the kernel (`None`: the portable code).
    pub feature: Option<&'static str>,
    /// `-C target-cpu`; `None` builds for the target's baseline (for
    /// thumbv8m.main: no DSP, no MVE, so LLVM can neither vectorize the scalar
    /// reference with Helium nor form SMLADs in it).
    pub cpu: Option<&'static str>,
}

/// A board the demo builds for.
#[derive(Debug, Clone, Copy)]
pub struct Board {
    /// Name on the command line (= crate name).
    pub name: &'static str,
    /// Rust target.
    pub target: &'static str,
    /// `-C target-cpu`.
    pub cpu: &'static str,
    /// QEMU machine (`None`: real hardware through probe-rs).
    pub qemu: Option<&'static str>,
    /// The builds `fw bench` compares; the last is the one `fw run` uses.
    pub variants: &'static [Variant],
    /// probe-rs `--chip` of a real board.
    pub probe_chip: Option<&'static str>,
}

const SCALAR_V8M: Variant = Variant {
    name: "scalar",
    feature: None,
    cpu: None,
};
const AUTOVEC_M55: Variant = Variant {
    name: "scalar + LLVM MVE",
    feature: None,
    cpu: Some("cortex-m55"),
};
const DSP_M33: Variant = Variant {
    name: "dsp",
    feature: Some("dsp"),
    cpu: Some("cortex-m33"),
};
const HELIUM: Variant = Variant {
    name: "helium",
    feature: Some("helium"),
    cpu: Some("cortex-m55"),
};
const SCALAR_M4: Variant = Variant {
    name: "scalar",
    feature: None,
    cpu: Some("cortex-m4"),
};
const DSP_M4: Variant = Variant {
    name: "dsp",
    feature: Some("dsp"),
    cpu: Some("cortex-m4"),
};

/// Every board.
pub const BOARDS: [Board; 3] = [
    Board {
        name: "qemu-an547",
        target: "thumbv8m.main-none-eabihf",
        cpu: "cortex-m55",
        qemu: Some("mps3-an547"),
        variants: &[SCALAR_V8M, AUTOVEC_M55, DSP_M33, HELIUM],
        probe_chip: None,
    },
    Board {
        name: "qemu-an386",
        target: "thumbv7em-none-eabihf",
        cpu: "cortex-m4",
        qemu: Some("mps2-an386"),
        variants: &[SCALAR_M4, DSP_M4],
        probe_chip: None,
    },
    Board {
        name: "pico2",
        target: "thumbv8m.main-none-eabihf",
        cpu: "cortex-m33",
        qemu: None,
        variants: &[DSP_M33],
        probe_chip: Some("RP235x"),
    },
];

impl Board {
    /// The build `fw run` uses: the board's best kernel.
    pub fn best(&self) -> Variant {
        self.variants[self.variants.len() - 1]
    }
}

pub fn board(name: &str) -> Result<Board> {
    BOARDS
        .into_iter()
        .find(|b| b.name == name)
        .with_context(|| format!("unknown board `{name}`; known: qemu-an547, qemu-an386, pico2"))
}

/// The model a board image carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FwModel {
    /// The bundled BlurAfterConv ResNet-18r, folded and quantized.
    Bundled,
    /// MLPerf Tiny's ResNet-8 (seeded weights; `convert/examples/mlperf_resnet8.rs`).
    Resnet8,
}

impl FwModel {
    /// From `--model`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "bundled" => Ok(FwModel::Bundled),
            "resnet8" => Ok(FwModel::Resnet8),
            other => bail!("--model {other}: known models are bundled, resnet8"),
        }
    }

    /// Name in tables and file names.
    pub fn name(self) -> &'static str {
        match self {
            FwModel::Bundled => "bundled",
            FwModel::Resnet8 => "resnet8",
        }
    }
}

/// Convert + quantize + export the model and pick the test images; returns
/// the data folder the boards embed (`target/nyquist-fw/<model>/data`).
pub fn generate_data(model: FwModel) -> Result<PathBuf> {
    let dir = Path::new("target/nyquist-fw").join(model.name());
    std::fs::create_dir_all(&dir)?;
    let data = dir.join("data");
    run(cargo().args(["build", "-q", "-p", "nyquist-convert", "--bins"]))?;
    let bin = crate::util::target_dir()?.join("debug");
    let (source, calib, fold): (PathBuf, PathBuf, &[&str]) = match model {
        FwModel::Bundled => (
            "models/fmnist/resnet18r-blurafterconv.onnx".into(),
            "models/fmnist/calib".into(),
            &["--fold-blur"],
        ),
        FwModel::Resnet8 => {
            let onnx = dir.join("resnet8.onnx");
            let calib = dir.join("calib-rgb");
            run(cargo()
                .args([
                    "run",
                    "-q",
                    "-p",
                    "nyquist-convert",
                    "--example",
                    "mlperf_resnet8",
                    "--",
                ])
                .arg(&onnx)
                .arg(&calib))?;
            (onnx, calib, &[])
        }
    };
    let out = dir.join("model.nyq.onnx");
    run(cmd(bin.join("nyquist-convert"))
        .arg(&source)
        .args(fold)
        .args(["--quantize", "int8", "--calib"])
        .arg(&calib)
        .args(["--no-gate", "--emit", "nqm", "-q", "-o"])
        .arg(&out))?;
    // The converter's blob figures and deployment estimate for `fw bench`,
    // from its JSON report.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("model.nyq.report.json"))?)
            .context("the converter's JSON report")?;
    let nqm_info = report["quantization"]["nqm"][0].clone();
    if !nqm_info.is_object() {
        bail!("the converter's report has no .nqm figures (quantization.nqm)");
    }
    run(cmd(bin.join("nyquist-fw-testset"))
        .arg("--blob")
        .arg(dir.join("model.nqm"))
        .arg("--model")
        .arg(&source)
        .args(["--eval", "models/fmnist/eval", "-o"])
        .arg(&data))?;
    std::fs::write(
        data.join("nqm.json"),
        serde_json::to_string_pretty(&nqm_info)?,
    )?;
    std::fs::write(
        data.join("deployment.json"),
        serde_json::to_string_pretty(&report["quantization"]["deployment"])?,
    )?;
    Ok(std::fs::canonicalize(data)?)
}

/// Build a board image in one variant; returns the ELF's path.
pub fn build(b: &Board, v: &Variant, data: &Path) -> Result<PathBuf> {
    ensure_target(b.target)?;
    let slug: String = v
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let target_dir = std::fs::canonicalize("target")?.join(format!("fw-{slug}"));
    let flags = v
        .cpu
        .map(|c| format!("-C target-cpu={c}"))
        .unwrap_or_default();
    let mut c = cargo()
        .env("NYQUIST_FW_DATA", data)
        .env("DEFMT_LOG", "info")
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("RUSTFLAGS", flags)
        .args([
            "build",
            "--release",
            "-p",
            b.name,
            "--target",
            b.target,
            "--no-default-features",
        ]);
    if let Some(f) = v.feature {
        c = c.args(["--features", f]);
    }
    if b.qemu.is_none() {
        // Real boards also have on-target tests (embedded-test): link them too.
        c = c.args(["--bins", "--tests"]);
    }
    let _d = in_dir("firmware/boards");
    run(c)?;
    Ok(target_dir.join(b.target).join("release").join(b.name))
}

/// Decode defmt frames with the ELF's table.
pub fn decode(elf: &[u8], bytes: &[u8]) -> Result<Vec<String>> {
    let table = defmt_decoder::Table::parse(elf)?.context("the ELF has no defmt table")?;
    let mut dec = table.new_stream_decoder();
    dec.received(bytes);
    let mut lines = Vec::new();
    loop {
        match dec.decode() {
            Ok(frame) => lines.push(frame.display(false).to_string()),
            Err(defmt_decoder::DecodeError::UnexpectedEof) => break,
            Err(defmt_decoder::DecodeError::Malformed) => {
                bail!("malformed defmt frame after {} lines", lines.len())
            }
        }
    }
    Ok(lines)
}

/// `qemu-system-arm` arguments for a board (the image follows as `-kernel`):
/// semihosting for the log and the exit and, with `icount`, `-icount
/// shift=0` so that SysTick counts instructions. (Under icount QEMU runs a
/// block again when an instruction touches a device mid-block, which the
/// plugin counts twice: leave it off where exact counts matter.)
pub fn qemu_args(b: &Board, icount: bool) -> Result<Vec<&'static str>> {
    let machine = b.qemu.context("not a QEMU board")?;
    let mut args = vec![
        "-M",
        machine,
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        "none",
        "-semihosting-config",
        "enable=on,target=native",
    ];
    if icount {
        args.extend(["-icount", "shift=0"]);
    }
    Ok(args)
}

/// Run an image under QEMU; returns (exit code, decoded log lines).
pub fn run_qemu(b: &Board, elf_path: &Path) -> Result<(i32, Vec<String>)> {
    ensure_apt(&["qemu-system-arm"])?;
    let out = cmd("qemu-system-arm")
        .args(qemu_args(b, true)?)
        .arg("-kernel")
        .arg(elf_path)
        .quiet()
        .ignore_status()
        .output()
        .context("qemu-system-arm")?;
    let elf = std::fs::read(elf_path)?;
    let lines = decode(&elf, &out.stdout)?;
    Ok((out.status.code().unwrap_or(-1), lines))
}

/// Run an image under QEMU with the instruction-counting plugin: the
/// decoded log lines and the counts by class, with a snapshot at each of
/// the demo's markers (start and end of every inference). The image must
/// exit 0.
pub fn run_qemu_counted(
    b: &Board,
    elf_path: &Path,
    plugin: &Path,
) -> Result<(Vec<String>, Counts)> {
    ensure_apt(&["qemu-system-arm"])?;
    let (counts, stdout) = crate::qemu_plugin::count(
        plugin,
        "qemu-system-arm",
        &qemu_args(b, true)?,
        &["-kernel".into(), elf_path.display().to_string()],
        &[],
    )?;
    let elf = std::fs::read(elf_path)?;
    Ok((decode(&elf, &stdout)?, counts))
}

/// `cargo xtask fw run|bench|build --board B [--model M] [--probe] [--json OUT]`.
pub fn fw(args: &[String]) -> Result<()> {
    let (command, rest) = args.split_first().context(
        "usage: cargo xtask fw run|bench|build|profile --board BOARD [--model bundled|resnet8] [--probe] [--json OUT] [--top N]",
    )?;
    let mut name = None;
    let mut probe = false;
    let mut model = None;
    let mut json = None;
    let mut top = None;
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--board" => name = it.next().cloned(),
            "--probe" => probe = true,
            "--model" => model = Some(FwModel::parse(it.next().map_or("", String::as_str))?),
            "--json" => json = Some(PathBuf::from(it.next().context("--json needs a file")?)),
            "--top" => {
                top = Some(
                    it.next()
                        .and_then(|n| n.parse().ok())
                        .context("--top needs a number")?,
                )
            }
            other => bail!("fw: unknown argument `{other}`"),
        }
    }
    anyhow::ensure!(
        top.is_none() || command == "profile",
        "--top is for `fw profile`"
    );
    if command == "bench" {
        // Every QEMU board and both models unless named.
        let boards: Vec<Board> = match &name {
            Some(n) => vec![board(n)?],
            None => BOARDS.into_iter().filter(|b| b.qemu.is_some()).collect(),
        };
        let models = match model {
            Some(m) => vec![m],
            None => vec![FwModel::Bundled, FwModel::Resnet8],
        };
        let mut rows = Vec::new();
        for m in &models {
            let data = generate_data(*m)?;
            for b in &boards {
                rows.extend(crate::fw_bench::bench(b, &data, *m)?);
            }
        }
        crate::fw_bench::summary(&rows);
        if let Some(path) = json {
            crate::util::write_atomic(&path, serde_json::to_string_pretty(&rows)? + "\n")?;
            println!("wrote {} ({} rows)", path.display(), rows.len());
        }
        return Ok(());
    }
    anyhow::ensure!(json.is_none(), "--json is for `fw bench`");
    let model = model.unwrap_or(FwModel::Bundled);
    let b = board(name.as_deref().context("fw needs --board")?)?;
    let data = generate_data(model)?;
    match command.as_str() {
        "build" => {
            let elf = build(&b, &b.best(), &data)?;
            println!("built {}", elf.display());
            Ok(())
        }
        "run" if probe || b.qemu.is_none() => {
            let chip = b.probe_chip.with_context(|| {
                format!(
                    "{} is a QEMU machine; --probe needs a real board (pico2)",
                    b.name
                )
            })?;
            let elf = build(&b, &b.best(), &data)?;
            run(cmd("probe-rs").args(["run", "--chip", chip]).arg(&elf))
                .context("probe-rs (install it with `cargo install probe-rs-tools`; needs the board attached through a debug probe)")
        }
        "run" => {
            let elf = build(&b, &b.best(), &data)?;
            let (code, lines) = run_qemu(&b, &elf)?;
            for l in &lines {
                println!("{l}");
            }
            check(&b, code, &lines)
        }
        "profile" => crate::fw_profile::profile(&b, &data, model, top.unwrap_or(25)),
        other => bail!("fw: unknown command `{other}` (run, bench, build, profile)"),
    }
}

/// The demo passed: exit 0, the kernel self-test clean, every prediction
/// equal to the host engine's (read from the board's records, `fw_log`).
pub fn check(b: &Board, code: i32, lines: &[String]) -> Result<()> {
    let recs = crate::fw_log::records(lines);
    let mut images = 0usize;
    let mut differ = 0usize;
    for r in crate::fw_log::of_kind(&recs, "image") {
        images += 1;
        differ += usize::from(r.num("predicted")? != r.num("host")?);
    }
    let mismatches = crate::fw_log::one(&recs, "selftest")?.num("mismatches")?;
    if code != 0 || images == 0 || differ > 0 || mismatches > 0 {
        bail!(
            "{}: exit code {code}, kernel self-test {mismatches} mismatches, {images} images, {differ} predictions differ from the host engine",
            b.name
        );
    }
    println!(
        "{}: {images} images classified, all equal to the host engine's predictions",
        b.name
    );
    Ok(())
}
