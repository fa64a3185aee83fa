//! `cargo xtask bench runtime [--target aarch64] [--rounds N] [--json OUT]`:
//! the runtime we ship (tract, through `nyquist bench`) against onnxruntime
//! on the same ONNX files — the bundled Fashion-MNIST model (its plain twin,
//! the converted anti-aliased model, its two int8 forms) and ResNet-18 at
//! 224×224 (plain, blurs as exported, converted, int8).
//!
//! * **x86 (this machine)**: batch-1 latency on one thread, in interleaved
//!   rounds (every case once per round, engines alternating), each ratio
//!   taken within a round; the table gives the median of the per-round
//!   ratios and their min–max, and says when the spread is too wide to
//!   conclude. These machines are shared and noisy: a ratio is evidence, a
//!   millisecond figure is not.
//! * **aarch64 (`--target aarch64`)**: instructions per inference under
//!   `qemu-aarch64`, counted by a TCG plugin, for a CPU with dot-product
//!   (`neoverse-n1`: Raspberry Pi 5 / Jetson Orin class) and one without
//!   (`cortex-a72`: Raspberry Pi 4). Steady state: the count of a run with
//!   one inference is subtracted from a run with three, so loading and
//!   optimizing are not counted. **Instruction counts are a proxy for time,
//!   not time**: they ignore the pipeline, caches and memory.
//!
//! onnxruntime comes from its PyPI wheels (`pip download`, no install): the
//! wheel's `libonnxruntime.so` is loaded at run time by a small Rust harness
//! (`xtask/ort-harness`, the `ort` crate with `load-dynamic`), built for the
//! host and for `aarch64-unknown-linux-gnu` and run under `qemu-aarch64` with
//! Debian's aarch64 glibc.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::cross::{cross_cargo, prepare, target};
use crate::qemu_plugin::{self, Counts};
use crate::util::{cargo, ensure_target, run};

const DIR: &str = "target/bench-runtime";
/// The onnxruntime wheel version (its C API must be ≥ the harness's `api-24`).
const ORT_VERSION: &str = "1.28.0";

/// One model file of the comparison.
#[derive(Debug, Clone, Copy)]
struct Case {
    /// File stem in [`DIR`].
    stem: &'static str,
    /// Input shape.
    shape: &'static str,
    /// Which network (`bundled`, `resnet18_224`).
    model: &'static str,
    /// `plain`, `exported`, `converted`.
    variant: &'static str,
    /// `float`, `int8-qdq`, `int8-qlinear`.
    form: &'static str,
}

const CASES: [Case; 9] = [
    Case {
        stem: "fmnist_32.plain",
        shape: "1,1,32,32",
        model: "bundled",
        variant: "plain",
        form: "float",
    },
    Case {
        stem: "fmnist_32.nyq",
        shape: "1,1,32,32",
        model: "bundled",
        variant: "converted",
        form: "float",
    },
    Case {
        stem: "fmnist_32.int8",
        shape: "1,1,32,32",
        model: "bundled",
        variant: "converted",
        form: "int8-qdq",
    },
    Case {
        stem: "fmnist_32.int8.tract",
        shape: "1,1,32,32",
        model: "bundled",
        variant: "converted",
        form: "int8-qlinear",
    },
    Case {
        stem: "resnet18_224_plain",
        shape: "1,3,224,224",
        model: "resnet18_224",
        variant: "plain",
        form: "float",
    },
    Case {
        stem: "resnet18_224_blurafterconv",
        shape: "1,3,224,224",
        model: "resnet18_224",
        variant: "exported",
        form: "float",
    },
    Case {
        stem: "resnet18_224_blurafterconv.nyq",
        shape: "1,3,224,224",
        model: "resnet18_224",
        variant: "converted",
        form: "float",
    },
    Case {
        stem: "resnet18_224.int8",
        shape: "1,3,224,224",
        model: "resnet18_224",
        variant: "converted",
        form: "int8-qdq",
    },
    Case {
        stem: "resnet18_224.int8.tract",
        shape: "1,3,224,224",
        model: "resnet18_224",
        variant: "converted",
        form: "int8-qlinear",
    },
];

impl Case {
    fn path(&self) -> PathBuf {
        Path::new(DIR).join(format!("{}.onnx", self.stem))
    }
    fn big(&self) -> bool {
        self.model == "resnet18_224"
    }
    fn label(&self) -> String {
        format!("{} {} {}", self.model, self.variant, self.form)
    }
}

/// The two aarch64 CPU models counted, and what `/proc/cpuinfo` says on
/// such a core (qemu-user shows the host's; onnxruntime's CPU detection
/// crashes on an x86 `/proc/cpuinfo`, tract picks kernels by the part).
const CPUS: [(&str, &str, &str); 2] = [
    (
        "neoverse-n1",
        "with dot-product (Pi 5 / Orin class)",
        "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs\n\
         CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0c\nCPU revision\t: 1\n",
    ),
    (
        "cortex-a72",
        "without dot-product (Pi 4)",
        "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid\n\
         CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n",
    ),
];

/// A `qemu-aarch64 -L` prefix for `cpu`: Debian's aarch64 glibc (for the
/// onnxruntime harness) and a `/proc/cpuinfo` of that core, two per-core
/// entries, one per emulated core of the host's count.
fn sysroot(cpu: &str, cpuinfo: &str) -> Result<PathBuf> {
    let root = std::fs::canonicalize("target")?.join(format!("qemu-sysroot/{cpu}"));
    std::fs::create_dir_all(root.join("proc"))?;
    let lib = root.join("lib");
    if !lib.exists() {
        std::os::unix::fs::symlink("/usr/aarch64-linux-gnu/lib", &lib)?;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let text: String = (0..cores)
        .map(|i| format!("processor\t: {i}\nBogoMIPS\t: 50.00\n{cpuinfo}\n"))
        .collect();
    std::fs::write(root.join("proc/cpuinfo"), text)?;
    Ok(root)
}

/// One aarch64 measurement (a JSON row).
#[derive(Debug, Clone, Serialize)]
struct CountRow {
    model: String,
    variant: String,
    form: String,
    engine: String,
    cpu: String,
    /// Guest instructions per inference (steady state).
    instructions: u64,
    /// The same by class (`sdot`, `smlal`, `fmla`, …).
    classes: BTreeMap<String, u64>,
    /// tract only: instructions per inference by operator of the optimized
    /// plan (`nyquist bench --profile` with markers the plugin counts).
    ops: BTreeMap<String, u64>,
}

/// `nyquist bench` for exactly `runs` batch-1 inferences on one thread, no
/// warm-up, no throughput pass, JSON out: the command line instruction
/// counting runs.
fn nyquist_counted(nyquist: &Path, c: &Case, runs: usize) -> Vec<String> {
    let mut v = vec![
        nyquist.display().to_string(),
        "bench".into(),
        "--model".into(),
    ];
    v.push(c.path().display().to_string());
    for a in ["--input-shape", c.shape, "--threads", "1", "--latency-only"] {
        v.push(a.into());
    }
    for a in ["--warmup", "0", "--json", "--runs"] {
        v.push(a.into());
    }
    v.push(runs.to_string());
    v
}

/// Instructions per tract operator for one inference: `nyquist bench
/// --profile --runs 1` brackets every node with a marker; the second of the
/// two passes (the first warms up) is attributed node by node.
fn op_profile(
    plugin: &Path,
    qemu_args: &[&str],
    nyquist: &Path,
    c: &Case,
) -> Result<BTreeMap<String, u64>> {
    let mut prog = nyquist_counted(nyquist, c, 1);
    prog.push("--profile".into());
    let (counts, stdout) = qemu_plugin::count(
        plugin,
        "qemu-aarch64",
        qemu_args,
        &prog,
        &[("NYQUIST_PROFILE_MARKERS", "1")],
    )?;
    let v: serde_json::Value =
        serde_json::from_slice(&stdout).context("nyquist bench --profile --json")?;
    let nodes = v["profile"]["nodes"].as_array().context("profile nodes")?;
    let regions: Vec<u64> = counts.marks.chunks_exact(2).map(|p| p[1] - p[0]).collect();
    anyhow::ensure!(
        regions.len() >= nodes.len(),
        "{} markers for {} nodes",
        regions.len(),
        nodes.len()
    );
    let mut ops = BTreeMap::new();
    for (n, r) in nodes.iter().zip(&regions[regions.len() - nodes.len()..]) {
        *ops.entry(n["op"].as_str().unwrap_or("?").to_string())
            .or_insert(0) += r;
    }
    Ok(ops)
}

/// One x86 latency ratio (a JSON row).
#[derive(Debug, Clone, Serialize)]
struct RatioRow {
    what: String,
    numerator: String,
    denominator: String,
    rounds: Vec<f64>,
    median: f64,
    min: f64,
    max: f64,
    goal: Option<String>,
    verdict: String,
}

/// Parse `[--target aarch64] [--rounds N] [--json OUT] [--only SUBSTR]`.
struct Args {
    aarch64: bool,
    rounds: usize,
    json: Option<PathBuf>,
    only: Option<String>,
}

fn parse(args: &[String]) -> Result<Args> {
    let mut a = Args {
        aarch64: false,
        rounds: 5,
        json: None,
        only: None,
    };
    let mut it = args.iter();
    while let Some(x) = it.next() {
        match x.as_str() {
            "--target" => match it.next().map(String::as_str) {
                Some("aarch64") => a.aarch64 = true,
                Some("x86_64") | Some("host") => a.aarch64 = false,
                other => bail!("bench runtime: --target aarch64|host, got {other:?}"),
            },
            "--rounds" => {
                a.rounds = it
                    .next()
                    .context("--rounds N")?
                    .parse()
                    .context("--rounds N")?
            }
            "--json" => a.json = Some(it.next().context("--json OUT")?.into()),
            "--only" => a.only = Some(it.next().context("--only SUBSTRING")?.clone()),
            other => bail!("bench runtime: unknown argument `{other}`"),
        }
    }
    Ok(a)
}

/// `cargo xtask bench runtime …`.
pub fn bench_runtime(args: &[String]) -> Result<()> {
    let a = parse(args)?;
    write_models()?;
    let cases: Vec<Case> = CASES
        .iter()
        .copied()
        .filter(|c| a.only.as_ref().is_none_or(|o| c.stem.contains(o.as_str())))
        .collect();
    if a.aarch64 {
        aarch64(&cases, a.json.as_deref())
    } else {
        host(&cases, a.rounds, a.json.as_deref())
    }
}

/// The model files (skipped when they exist and are newer than the bundled model).
fn write_models() -> Result<()> {
    let have_all = CASES.iter().all(|c| c.path().is_file());
    if have_all {
        return Ok(());
    }
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
    ]))
}

// ---------------------------------------------------------------- onnxruntime

/// Download (once) the onnxruntime wheel for `platform` and extract its
/// `libonnxruntime.so`; returns the library path.
fn onnxruntime_lib(platform: &str) -> Result<PathBuf> {
    let dir = PathBuf::from(format!("target/onnxruntime/{ORT_VERSION}-{platform}"));
    let lib = dir.join(format!("libonnxruntime.so.{ORT_VERSION}"));
    if lib.is_file() {
        return Ok(lib);
    }
    std::fs::create_dir_all(&dir)?;
    let python = std::env::var("NYQUIST_PYTHON").unwrap_or_else(|_| "python3".into());
    eprintln!("xtask: downloading the onnxruntime {ORT_VERSION} wheel for {platform} from PyPI (the library only; nothing is installed)");
    run(crate::util::cmd(&python)
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
        ])
        .args(["--platform", platform, "--python-version", "3.11"])
        .arg(format!("onnxruntime=={ORT_VERSION}"))
        .arg("-d")
        .arg(&dir))?;
    let wheel = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .context("pip downloaded no wheel")?;
    run(crate::util::cmd(&python)
        .args(["-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); n = [m for m in z.namelist() if m.endswith(sys.argv[2])][0]; open(sys.argv[3], 'wb').write(z.read(n))"])
        .arg(&wheel)
        .arg(format!("capi/libonnxruntime.so.{ORT_VERSION}"))
        .arg(&lib))?;
    Ok(lib)
}

/// Build the harness for `triple` (`None`: the host); returns the binary.
fn harness(triple: Option<&str>) -> Result<PathBuf> {
    let target_dir = std::fs::canonicalize("target")?.join("ort-harness");
    let mut c = cargo()
        .env("CARGO_TARGET_DIR", &target_dir)
        .args(["build", "--release", "-q"]);
    if let Some(t) = triple {
        ensure_target(t)?;
        c = c.args(["--target", t]).env(
            format!("CARGO_TARGET_{}_LINKER", t.to_uppercase().replace('-', "_")),
            "aarch64-linux-gnu-gcc",
        );
    }
    let _d = crate::util::in_dir("xtask/ort-harness");
    run(c)?;
    Ok(match triple {
        Some(t) => target_dir.join(t).join("release/nyquist-ort-harness"),
        None => target_dir.join("release/nyquist-ort-harness"),
    })
}

// ---------------------------------------------------------------- host (x86)

fn nyquist_latency(bin: &Path, c: &Case, runs: usize) -> Result<f64> {
    let out = crate::util::cmd(bin)
        .args(["bench", "--model"])
        .arg(c.path())
        .args([
            "--input-shape",
            c.shape,
            "--threads",
            "1",
            "--latency-only",
            "--json",
        ])
        .args([
            "--runs",
            &runs.to_string(),
            "--warmup",
            &(runs / 10 + 2).to_string(),
        ])
        .quiet()
        .ignore_status()
        .output()
        .with_context(|| bin.display().to_string())?;
    anyhow::ensure!(
        out.status.success(),
        "nyquist bench {}: {}",
        c.stem,
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("nyquist bench --json")?;
    v["p50_ms"].as_f64().context("p50_ms")
}

fn ort_latency(harness: &Path, lib: &Path, c: &Case, runs: usize, level: &str) -> Result<f64> {
    let out = crate::util::cmd(harness)
        .arg(lib)
        .arg(c.path())
        .args([c.shape, &runs.to_string(), "--level", level])
        .quiet()
        .ignore_status()
        .output()
        .with_context(|| harness.display().to_string())?;
    anyhow::ensure!(
        out.status.success(),
        "onnxruntime harness {}: {}",
        c.stem,
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("harness JSON")?;
    v["median_ms"].as_f64().context("median_ms")
}

/// Median and range of per-round ratios, with a verdict against `goal`
/// (`ratio ≤ goal`).
fn summarize(
    what: String,
    num: String,
    den: String,
    rounds: Vec<f64>,
    goal: Option<f64>,
) -> RatioRow {
    let mut s = rounds.clone();
    s.sort_by(f64::total_cmp);
    let median = s.get(s.len() / 2).copied().unwrap_or(f64::NAN);
    let (min, max) = (
        s.first().copied().unwrap_or(f64::NAN),
        s.last().copied().unwrap_or(f64::NAN),
    );
    let verdict = match goal {
        None => String::new(),
        Some(g) if max <= g => "met".into(),
        Some(g) if min > g => "not met".into(),
        Some(g) if median <= g => "met at the median; spread too wide to conclude".into(),
        Some(_) => "not met at the median; spread too wide to conclude".into(),
    };
    RatioRow {
        what,
        numerator: num,
        denominator: den,
        rounds,
        median,
        min,
        max,
        goal: goal.map(|g| format!("≤ {g:.2}×")),
        verdict,
    }
}

fn host(cases: &[Case], rounds: usize, json: Option<&Path>) -> Result<()> {
    run(cargo().args([
        "build",
        "--release",
        "-q",
        "-p",
        "nyquist-runtime",
        "--bin",
        "nyquist",
    ]))?;
    let bin = crate::util::target_dir()?.join("release/nyquist");
    let lib = onnxruntime_lib("manylinux_2_27_x86_64")?;
    let harness = harness(None)?;
    // ms[case][engine] per round
    let mut tract: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut ort: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    // onnxruntime without its NCHWc layout transform (ORT_ENABLE_EXTENDED):
    // most of its float lead on x86 is that transform.
    let mut ort_nchw: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for r in 0..rounds {
        eprintln!("round {}/{rounds}", r + 1);
        for (i, c) in cases.iter().enumerate() {
            let runs = if c.big() { 40 } else { 400 };
            // Alternate which engine goes first, round by round and case by case.
            let ort_first = (r + i) % 2 == 1;
            if ort_first {
                ort.entry(c.stem)
                    .or_default()
                    .push(ort_latency(&harness, &lib, c, runs, "all")?);
            }
            tract
                .entry(c.stem)
                .or_default()
                .push(nyquist_latency(&bin, c, runs)?);
            if !ort_first {
                ort.entry(c.stem)
                    .or_default()
                    .push(ort_latency(&harness, &lib, c, runs, "all")?);
            }
            ort_nchw
                .entry(c.stem)
                .or_default()
                .push(ort_latency(&harness, &lib, c, runs, "extended")?);
        }
    }
    let med = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        s[s.len() / 2]
    };
    println!("\n## x86-64, this machine: batch-1 latency, 1 thread, {rounds} interleaved rounds\n");
    println!("| model | variant | form | nyquist (tract) median ms | onnxruntime median ms | tract / onnxruntime (per-round median, min–max) | onnxruntime without NCHWc, ms | tract / it |");
    println!("|---|---|---|---:|---:|---:|---:|---:|");
    let mut rows = Vec::new();
    for c in cases {
        let (t, o) = (&tract[c.stem], &ort[c.stem]);
        let ratios: Vec<f64> = t.iter().zip(o).map(|(a, b)| a / b).collect();
        let row = summarize(
            format!("{} tract / onnxruntime", c.label()),
            format!("tract {}", c.stem),
            format!("onnxruntime {}", c.stem),
            ratios,
            None,
        );
        let on = &ort_nchw[c.stem];
        let rn: Vec<f64> = t.iter().zip(on).map(|(a, b)| a / b).collect();
        println!(
            "| {} | {} | {} | {:.3} | {:.3} | {:.2}× ({:.2}–{:.2}) | {:.3} | {:.2}× |",
            c.model,
            c.variant,
            c.form,
            med(t),
            med(o),
            row.median,
            row.min,
            row.max,
            med(on),
            med(&rn)
        );
        rows.push(row);
    }
    println!("\nratios within each round (median of rounds, min–max):\n");
    println!("| comparison | engine | ratio | goal | verdict |");
    println!("|---|---|---:|---|---|");
    let find = |model: &str, variant: &str, form: &str| {
        cases
            .iter()
            .find(|c| c.model == model && c.variant == variant && c.form == form)
    };
    for model in ["bundled", "resnet18_224"] {
        let pairs = [
            (
                "converted float / plain float",
                find(model, "converted", "float"),
                find(model, "plain", "float"),
                Some(1.05),
            ),
            (
                "int8 QDQ / converted float",
                find(model, "converted", "int8-qdq"),
                find(model, "converted", "float"),
                Some(0.8),
            ),
            (
                "int8 QLinearConv / converted float",
                find(model, "converted", "int8-qlinear"),
                find(model, "converted", "float"),
                Some(0.8),
            ),
        ];
        for (what, num, den, goal) in pairs {
            let (Some(num), Some(den)) = (num, den) else {
                continue;
            };
            for (engine, m, g) in [("tract", &tract, goal), ("onnxruntime", &ort, None)] {
                let r: Vec<f64> = m[num.stem]
                    .iter()
                    .zip(&m[den.stem])
                    .map(|(a, b)| a / b)
                    .collect();
                let row = summarize(
                    format!("{model}: {what} ({engine})"),
                    num.stem.into(),
                    den.stem.into(),
                    r,
                    g,
                );
                println!(
                    "| {model}: {what} | {engine} | {:.2}× ({:.2}–{:.2}) | {} | {} |",
                    row.median,
                    row.min,
                    row.max,
                    row.goal.clone().unwrap_or_default(),
                    row.verdict
                );
                rows.push(row);
            }
        }
    }
    println!("\n\"spread too wide to conclude\": the goal lies inside the min–max of the per-round ratios.");
    if let Some(p) = json {
        crate::util::write_atomic(p, serde_json::to_string_pretty(&rows)?)?;
        println!("wrote {}", p.display());
    }
    Ok(())
}

// ---------------------------------------------------------------- aarch64

fn aarch64(cases: &[Case], json: Option<&Path>) -> Result<()> {
    let t = target("aarch64")?;
    prepare(&t, false)?;
    run(cross_cargo(&t).args([
        "build",
        "--release",
        "-q",
        "--target",
        t.triple,
        "-p",
        "nyquist-runtime",
        "--bin",
        "nyquist",
    ]))?;
    let nyquist = crate::util::target_dir()?.join(format!("{}/release/nyquist", t.triple));
    let lib = onnxruntime_lib("manylinux_2_27_aarch64")?;
    let harness = harness(Some("aarch64-unknown-linux-gnu"))?;
    let plugin = qemu_plugin::build("qemu-user", Path::new("target"))?;
    let mut rows: Vec<CountRow> = Vec::new();
    for (cpu, _, cpuinfo) in CPUS {
        let root = sysroot(cpu, cpuinfo)?;
        let root = root.display().to_string();
        for c in cases {
            for engine in ["tract", "onnxruntime"] {
                let prog = |n: usize| -> Vec<String> {
                    if engine == "tract" {
                        nyquist_counted(&nyquist, c, n)
                    } else {
                        vec![
                            harness.display().to_string(),
                            lib.display().to_string(),
                            c.path().display().to_string(),
                            c.shape.into(),
                            n.to_string(),
                        ]
                    }
                };
                let qemu_args = ["-L", root.as_str(), "-cpu", cpu];
                let (one, _) =
                    qemu_plugin::count(&plugin, "qemu-aarch64", &qemu_args, &prog(1), &[])?;
                let (three, _) =
                    qemu_plugin::count(&plugin, "qemu-aarch64", &qemu_args, &prog(3), &[])?;
                let per: Counts = three.minus(&one).per(2);
                eprintln!(
                    "{cpu:<12} {:<40} {engine:<12} {:>14} instructions per inference",
                    c.label(),
                    per.instructions
                );
                let ops = if engine == "tract" {
                    op_profile(&plugin, &qemu_args, &nyquist, c)?
                } else {
                    BTreeMap::new()
                };
                rows.push(CountRow {
                    model: c.model.into(),
                    variant: c.variant.into(),
                    form: c.form.into(),
                    engine: engine.into(),
                    cpu: cpu.into(),
                    instructions: per.instructions,
                    classes: per.classes,
                    ops,
                });
            }
        }
    }
    print_counts(&rows);
    if let Some(p) = json {
        crate::util::write_atomic(p, serde_json::to_string_pretty(&rows)?)?;
        println!("wrote {}", p.display());
    }
    Ok(())
}

fn print_counts(rows: &[CountRow]) {
    let get = |model: &str, variant: &str, form: &str, engine: &str, cpu: &str| {
        rows.iter()
            .find(|r| {
                r.model == model
                    && r.variant == variant
                    && r.form == form
                    && r.engine == engine
                    && r.cpu == cpu
            })
            .map(|r| r.instructions as f64)
    };
    println!("\n## aarch64 under qemu-aarch64: instructions per inference (steady state)\n");
    println!("Instruction counts are a proxy for time, not time: they ignore the pipeline, the caches and the memory system.\n");
    for (cpu, what, _) in CPUS {
        println!("### `-cpu {cpu}` ({what})\n");
        println!("| model | variant | form | tract (M instr.) | of which int8 dot / widening MACs | onnxruntime (M instr.) | tract / onnxruntime | goal |");
        println!("|---|---|---|---:|---:|---:|---:|---|");
        for r in rows.iter().filter(|r| r.cpu == cpu && r.engine == "tract") {
            let ort = get(&r.model, &r.variant, &r.form, "onnxruntime", cpu);
            let int8 = r.classes.get("sdot").copied().unwrap_or(0)
                + r.classes.get("smlal").copied().unwrap_or(0);
            let t = r.instructions as f64;
            println!(
                "| {} | {} | {} | {:.1} | {:.1} % | {} | {} | ≤ 1.20× |",
                r.model,
                r.variant,
                r.form,
                t / 1e6,
                100.0 * int8 as f64 / t.max(1.0),
                ort.map_or("—".into(), |o| format!("{:.1}", o / 1e6)),
                ort.map_or("—".into(), |o| format!("{:.2}×", t / o)),
            );
        }
        println!();
        println!("| ratio (tract) | model | value | goal |");
        println!("|---|---|---:|---|");
        let int8_goal = if cpu == "neoverse-n1" { 0.5 } else { 0.8 };
        for model in ["bundled", "resnet18_224"] {
            let float = get(model, "converted", "float", "tract", cpu);
            for (form, label) in [
                ("int8-qdq", "int8 QDQ / float"),
                ("int8-qlinear", "int8 QLinearConv / float"),
            ] {
                if let (Some(f), Some(q)) = (float, get(model, "converted", form, "tract", cpu)) {
                    println!(
                        "| {label} | {model} | {:.2}× | ≤ {int8_goal:.2}× ({}) |",
                        q / f,
                        if q / f <= int8_goal { "met" } else { "not met" }
                    );
                }
            }
            if let (Some(c), Some(p)) = (float, get(model, "plain", "float", "tract", cpu)) {
                println!(
                    "| converted / plain (float) | {model} | {:.2}× | ≤ 1.05× ({}) |",
                    c / p,
                    if c / p <= 1.05 { "met" } else { "not met" }
                );
            }
        }
        println!();
    }
    // Where tract's instructions go, operator by operator.
    for model in ["bundled", "resnet18_224"] {
        let cols: Vec<&CountRow> = ["plain float", "converted float", "converted int8-qdq"]
            .iter()
            .filter_map(|k| {
                let (v, f) = k.split_once(' ').unwrap_or((k, ""));
                rows.iter().find(|r| {
                    r.cpu == CPUS[0].0
                        && r.engine == "tract"
                        && r.model == model
                        && r.variant == v
                        && r.form == f
                })
            })
            .collect();
        if cols.is_empty() {
            continue;
        }
        let mut ops: Vec<(&String, u64)> = cols
            .iter()
            .flat_map(|r| r.ops.iter().map(|(k, v)| (k, *v)))
            .collect();
        ops.sort_by_key(|o| std::cmp::Reverse(o.1));
        let mut names: Vec<&String> = vec![];
        for (k, _) in ops {
            if !names.contains(&k) {
                names.push(k);
            }
        }
        println!(
            "#### {model}, tract on `-cpu {}`: instructions per inference by operator (M)\n",
            CPUS[0].0
        );
        println!(
            "| operator | {} |",
            cols.iter()
                .map(|r| format!("{} {}", r.variant, r.form))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        println!("|---|{}", "---:|".repeat(cols.len()));
        for k in names.iter().take(12) {
            println!(
                "| {k} | {} |",
                cols.iter()
                    .map(|r| r
                        .ops
                        .get(*k)
                        .map_or("—".into(), |v| format!("{:.2}", *v as f64 / 1e6)))
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
        }
        println!();
    }
}
