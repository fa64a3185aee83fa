//! `cargo xtask bench [convert]`: run the criterion benchmarks and print each
//! result as a ratio against the baseline measured in the same run.

use std::path::Path;

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

const SUITES: &[Suite] = &[Suite {
    name: "convert",
    package: "nyquist-convert",
    bench: "convert",
    group: "resnet18_224_tract",
    baseline: "plain",
    members: &["plain", "exported", "fold", "commute", "auto"],
    goal: "goal: auto <= 1.05x plain; exported is ~1.3x",
}];

/// Run the suites named in `args` (all when none).
pub fn run_bench(args: &[String]) -> Result<()> {
    let picked: Vec<&Suite> = SUITES
        .iter()
        .filter(|s| args.is_empty() || args.iter().any(|a| a == s.name))
        .collect();
    if picked.is_empty() {
        bail!(
            "unknown bench {:?}; known: {}",
            args,
            SUITES.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
        );
    }
    for s in picked {
        run(cargo().args(["bench", "-p", s.package, "--bench", s.bench]))?;
        print_ratios(s)?;
    }
    Ok(())
}

fn mean_ns(group: &str, member: &str) -> Result<f64> {
    let p = Path::new("target/criterion")
        .join(group)
        .join(member)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
    // {"mean":{"confidence_interval":{...},"point_estimate":123.4,...},...}
    let after = text.split("\"mean\"").nth(1).context("no mean")?;
    let pe = after
        .split("\"point_estimate\":")
        .nth(1)
        .context("no point_estimate")?;
    let num: String = pe
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        .collect();
    num.parse()
        .with_context(|| format!("bad number in {}", p.display()))
}

fn print_ratios(s: &Suite) -> Result<()> {
    let base = mean_ns(s.group, s.baseline)?;
    println!(
        "\n{} — ratios against `{}` ({:.2} ms), same run:",
        s.group,
        s.baseline,
        base / 1e6
    );
    for m in s.members {
        let t = mean_ns(s.group, m)?;
        println!("  {m:<10} {:>9.2} ms   {:>5.2}x", t / 1e6, t / base);
    }
    println!("  {}", s.goal);
    Ok(())
}
