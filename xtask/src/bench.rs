//! `cargo xtask bench [convert|quant|corrupt|runtime]`: run the criterion
//! benchmarks and print each result as a ratio against the baseline measured
//! in the same run; `runtime` compares `nyquist bench` with onnxruntime.

use anyhow::{bail, Context, Result};

use crate::util::{cargo, run};

/// Benchmarks, their baseline and the goal printed beside the ratios.
struct Suite {
    name: &'static str,
    package: &'static str,
    bench: &'static str,
    group: &'static str,
    baseline: &'static str,
    members: &'static [&'static str],
    goal: &'static str,
}

const SUITES: &[Suite] = &[
    Suite {
        name: "convert",
        package: "nyquist-convert",
        bench: "convert",
        group: "resnet18_224_tract",
        baseline: "plain",
        members: &["plain", "exported", "fold", "commute", "auto"],
        goal: "goal: auto <= 1.05x plain; exported is ~1.3x",
    },
    Suite {
        name: "quant",
        package: "nyquist-convert",
        bench: "quant",
        group: "fmnist_32",
        baseline: "float",
        members: &["float", "qdq", "qlinear"],
        goal: "bundled model; goal: int8 >= 2x faster than float",
    },
    Suite {
        name: "corrupt",
        package: "nyquist-corrupt",
        bench: "corrupt",
        group: "all_19x5",
        baseline: "one_thread",
        members: &["one_thread", "rayon"],
        goal: "one sweep = 4 photographs x 19 corruptions x 5 severities",
    },
];

/// Run the suites named in `args` (all when none).
pub fn run_bench(args: &[String]) -> Result<()> {
    if args.first().is_some_and(|a| a == "runtime") {
        return crate::bench_runtime::bench_runtime(&args[1..]);
    }
    let known: Vec<&str> = SUITES.iter().map(|s| s.name).chain(["runtime"]).collect();
    if let Some(bad) = args.iter().find(|a| !known.contains(&a.as_str())) {
        bail!("unknown bench `{bad}`; known: {}", known.join(", "));
    }
    let wants = |n: &str| args.is_empty() || args.iter().any(|a| a == n);
    let picked: Vec<&Suite> = SUITES.iter().filter(|s| wants(s.name)).collect();
    for s in picked {
        run(cargo().args(["bench", "-p", s.package, "--bench", s.bench]))?;
        print_ratios(s)?;
        if s.name == "quant" {
            print_group("resnet18_224", "float", &["float", "qdq", "qlinear"], "ResNet-18 224x224 BlurAfterConv (auto-converted); goal: int8 >= 2x faster than float")?;
            python_onnxruntime()?;
        }
        if s.name == "corrupt" {
            print_group(
                "gaussian_224",
                "direct_2d",
                &["direct_2d", "separable"],
                "separable Gaussian (sigma 3) vs direct 2-D",
            )?;
            python_corrupt()?;
        }
    }
    if wants("runtime") {
        crate::bench_runtime::bench_runtime(&[])?;
    }
    Ok(())
}

fn mean_ns(group: &str, member: &str) -> Result<f64> {
    // Criterion writes under cargo's target directory.
    let p = crate::util::target_dir()?
        .join("criterion")
        .join(group)
        .join(member)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))?;
    v["mean"]["point_estimate"]
        .as_f64()
        .with_context(|| format!("{}: no mean.point_estimate", p.display()))
}

fn print_ratios(s: &Suite) -> Result<()> {
    print_group(s.group, s.baseline, s.members, s.goal)
}

fn print_group(group: &str, baseline: &str, members: &[&str], note: &str) -> Result<()> {
    let base = mean_ns(group, baseline)?;
    println!(
        "\n{group} — ratios against `{baseline}` ({:.2} ms), same run:",
        base / 1e6
    );
    for m in members {
        let t = mean_ns(group, m)?;
        println!("  {m:<10} {:>9.2} ms   {:>5.2}x", t / 1e6, t / base);
    }
    println!("  {note}");
    Ok(())
}

/// Run a Python helper script (`NYQUIST_PYTHON`, default `python3`) and return
/// its stdout; `None` (with a line saying why) when Python or the package it
/// times is missing, so comparison columns are optional.
pub fn python(args: &[&str], what: &str) -> Option<serde_json::Value> {
    let python = std::env::var("NYQUIST_PYTHON").unwrap_or_else(|_| "python3".into());
    match crate::util::cmd(&python)
        .args(args)
        .quiet()
        .ignore_status()
        .output()
    {
        Ok(o) if o.status.success() => match serde_json::from_slice(&o.stdout) {
            Ok(v) => Some(v),
            Err(e) => {
                println!("\n{what}: skipped (its script printed no JSON: {e})");
                None
            }
        },
        Ok(o) => {
            println!(
                "\n{what}: skipped ({})",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            None
        }
        Err(e) => {
            println!(
                "\n{what}: skipped ({python}: {e}); set NYQUIST_PYTHON to a Python that has it"
            );
            None
        }
    }
}

/// Time Python's imagecorruptions on the same sweep, if it is installed.
fn python_corrupt() -> Result<()> {
    let Some(v) = python(
        &["corrupt/benches/imagecorruptions_time.py"],
        "imagecorruptions",
    ) else {
        return Ok(());
    };
    let secs = v["seconds_per_sweep"]
        .as_f64()
        .context("imagecorruptions_time.py: no seconds_per_sweep")?;
    let one = mean_ns("all_19x5", "one_thread")? / 1e9;
    let par = mean_ns("all_19x5", "rayon")? / 1e9;
    println!("\nimagecorruptions (Python): {secs:.3} s per sweep");
    println!(
        "  nyquist-corrupt one thread: {:.1}x its throughput",
        secs / one
    );
    println!(
        "  nyquist-corrupt all cores:  {:.1}x its throughput   (goal >= 20x)",
        secs / par
    );
    Ok(())
}

/// Time onnxruntime on the files the quant bench wrote, if it is installed.
fn python_onnxruntime() -> Result<()> {
    let Some(v) = python(
        &["convert/benches/onnxruntime_time.py", "target/bench-quant"],
        "onnxruntime",
    ) else {
        return Ok(());
    };
    println!(
        "\nonnxruntime on the same files (batch 1, median), and tract's time as a ratio of it:"
    );
    for row in v.as_array().into_iter().flatten() {
        let (Some(name), Some(threads), Some(ort)) = (
            row["model"].as_str(),
            row["config"].as_str(),
            row["median_ms"].as_f64(),
        ) else {
            continue;
        };
        let Some((group, form)) = name.split_once('.') else {
            continue;
        };
        let tract = mean_ns(group, form).map(|t| t / 1e6).unwrap_or(f64::NAN);
        println!("  {group:<13} {form:<8} ORT {threads} thr {ort:>8.3} ms   tract (1 thr) {tract:>8.3} ms   tract/ORT {:>5.2}x", tract / ort);
    }
    Ok(())
}
