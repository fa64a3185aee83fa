//! `nyquist eval`: clean and corrupted accuracy, CE and mCE; `eval merge` adds
//! shard results up; `eval report` renders result files as Markdown and SVG.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use nyquist_corrupt::Corruption;

use super::model::{batched, ModelArgs};
use crate::cli::eval_report;
use nyquist_runtime::dataset;
use nyquist_runtime::eval::{evaluate, merge, EvalOptions, EvalResult, ModelRef, ReferenceRef};

/// `nyquist eval merge OUT.json SHARD.json…`
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Output result file.
    pub out: PathBuf,
    /// Shard result files (from `--shard k/n` runs).
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
}

/// `nyquist eval report RESULT.json… [--markdown F] [--svg F]`
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Result files (`NAME=path.json` sets the column name).
    #[arg(required = true)]
    pub results: Vec<String>,
    /// Write the Markdown table here (default: stdout).
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Write the SVG plot here.
    #[arg(long)]
    pub svg: Option<PathBuf>,
}

/// Arguments of an evaluation run.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The model and its preprocessing.
    #[command(flatten)]
    pub model: ModelArgs,
    /// ImageFolder, idx folder (with --split) or ImageNet-C layout.
    #[arg(long)]
    pub data: PathBuf,
    /// idx split: t10k or train.
    #[arg(long, default_value = "t10k")]
    pub split: String,
    /// At most this many images, spread evenly over the dataset.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Only the clean error.
    #[arg(long)]
    pub clean_only: bool,
    /// Corruptions (comma separated; default: all 19).
    #[arg(long, value_delimiter = ',')]
    pub corruptions: Option<Vec<String>>,
    /// Severities (comma separated; default 1,2,3,4,5).
    #[arg(long, value_delimiter = ',')]
    pub severities: Option<Vec<u8>>,
    /// CE reference: a result file of the reference model, or `alexnet` (ImageNet models).
    #[arg(long)]
    pub reference: Option<String>,
    /// Evaluate shard k of n (k/n): every n-th image starting at k.
    #[arg(long)]
    pub shard: Option<String>,
    /// Corruption seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write the result as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write a Markdown table.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Shift consistency (Zhang 2019): how often two random shifts of an
    /// image get the same top-1 class (`pad`: the image moves on its
    /// canvas; `shorter_crop`: the crop window moves).
    #[arg(long)]
    pub consistency: bool,
    /// Largest shift in pixels (default: the padding, or half the crop margin).
    #[arg(long, requires = "consistency")]
    pub max_shift: Option<u32>,
    /// Shift consistency under every corruption and severity too (twice the
    /// corrupted inferences).
    #[arg(long, requires = "consistency")]
    pub consistency_corrupted: bool,
    /// Class folders carry no class names the model knows (no labels in the
    /// metadata, no `--labels`): take them in sorted order as class 0, 1, ….
    /// Without this flag such a folder is refused (its error rate would be
    /// meaningless if the order were not the model's).
    #[arg(long)]
    pub sorted_classes: bool,
    /// Write an SVG plot of error by corruption and severity.
    #[arg(long)]
    pub svg: Option<PathBuf>,
}

/// Parse `k/n`.
pub fn parse_shard(s: &str) -> Result<(usize, usize)> {
    let (k, n) = s
        .split_once('/')
        .with_context(|| format!("--shard {s}: expected k/n, e.g. 0/4"))?;
    let (k, n): (usize, usize) = (
        k.trim().parse().context("--shard k")?,
        n.trim().parse().context("--shard n")?,
    );
    if n == 0 || k >= n {
        bail!("--shard {s}: need 0 <= k < n");
    }
    Ok((k, n))
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("{}: cannot write", path.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot write", path.display()))
}

/// Write JSON / Markdown / SVG as asked.
pub fn write_outputs(
    r: &EvalResult,
    json: Option<&Path>,
    md: Option<&Path>,
    svg: Option<&Path>,
) -> Result<()> {
    let name = r.model.path.clone();
    if let Some(p) = json {
        write_text(p, &(serde_json::to_string_pretty(r)? + "\n"))?;
    }
    if let Some(p) = md {
        write_text(p, &nyquist_runtime::eval::markdown_table(&[(&name, r)]))?;
    }
    if let Some(p) = svg {
        eval_report::svg(&[(&name, r)], p)?;
    }
    Ok(())
}

/// Print a one-screen summary.
pub fn summary(r: &EvalResult) -> String {
    let mut s = format!(
        "{}: {} images ({}), clean error {}",
        r.model.path,
        r.dataset.images,
        r.dataset.class_match,
        r.clean_error
            .map_or("–".into(), |e| format!("{:.2}%", 100.0 * e))
    );
    if let Some(m) = r.mce {
        s += &format!(", mCE {m:.1}");
    }
    if let Some(m) = r.relative_mce {
        s += &format!(", relative mCE {m:.1}");
    }
    if let Some(rf) = &r.reference {
        s += &format!(" (reference: {})", rf.name);
    }
    if let Some(c) = r.consistency {
        s += &format!(", shift consistency {:.2}%", 100.0 * c);
    }
    s
}

fn reference(spec: Option<&str>) -> Result<Option<ReferenceRef>> {
    Ok(match spec {
        None => None,
        Some("alexnet") => Some(ReferenceRef::alexnet()),
        Some(p) => Some(ReferenceRef::from_result(&EvalResult::read(Path::new(p))?)),
    })
}

/// Run `nyquist eval merge`.
pub fn run_merge(a: MergeArgs) -> Result<ExitCode> {
    let rs = a
        .shards
        .iter()
        .map(|p| EvalResult::read(p))
        .collect::<Result<Vec<_>, _>>()?;
    let m = merge(&rs)?;
    write_text(&a.out, &(serde_json::to_string_pretty(&m)? + "\n"))?;
    super::out(summary(&m))?;
    Ok(ExitCode::SUCCESS)
}

/// Run `nyquist eval report`.
pub fn run_report(a: ReportArgs) -> Result<ExitCode> {
    let loaded = a
        .results
        .iter()
        .map(|spec| {
            let (name, path) = spec
                .split_once('=')
                .map_or((None, spec.as_str()), |(n, p)| (Some(n.to_string()), p));
            let r = EvalResult::read(Path::new(path))?;
            Ok((name.unwrap_or_else(|| r.model.path.clone()), r))
        })
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<(&str, &EvalResult)> = loaded.iter().map(|(n, r)| (n.as_str(), r)).collect();
    let md = nyquist_runtime::eval::markdown_table(&refs);
    match &a.markdown {
        Some(p) => write_text(p, &md)?,
        None => print!("{md}"),
    }
    if let Some(p) = &a.svg {
        eval_report::svg(&refs, p)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Run `nyquist eval`.
pub fn run(a: EvalArgs) -> Result<ExitCode> {
    let corruptions: Vec<Corruption> = match &a.corruptions {
        Some(v) => v
            .iter()
            .map(|s| s.parse::<Corruption>())
            .collect::<Result<_, _>>()?,
        None => Corruption::all().collect(),
    };
    let severities = a.severities.clone().unwrap_or_else(|| vec![1, 2, 3, 4, 5]);
    if let Some(s) = severities.iter().find(|s| !(1..=5).contains(*s)) {
        bail!("--severities: {s} is outside 1–5");
    }
    let opts = EvalOptions {
        corruptions,
        severities,
        clean_only: a.clean_only,
        seed: a.seed,
        shard: a.shard.as_deref().map(parse_shard).transpose()?,
        limit: a.limit,
        progress: true,
        consistency: a.consistency.then_some(nyquist_runtime::eval::Consistency {
            max_shift: a.max_shift,
            corrupted: a.consistency_corrupted,
        }),
    };
    for out in [&a.json, &a.markdown, &a.svg].into_iter().flatten() {
        let dir = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !dir.is_dir() {
            bail!("{}: folder {} does not exist", out.display(), dir.display());
        }
    }
    let reference = reference(a.reference.as_deref())?;
    let m = a.model.load()?;
    if a.consistency && m.pre.geometry == nyquist_runtime::preprocess::Geometry::Resize {
        bail!(
            "--consistency shifts the image on its canvas (geometry pad) or the crop window (shorter_crop); this model's geometry is resize, which has nothing to shift"
        );
    }
    let data = dataset::open(&a.data, &a.split, m.labels.as_deref())?;
    if data.class_match == dataset::SORTED_ORDER && !a.sorted_classes {
        let why = if m.labels.is_some() {
            "the folder names are not the model's labels"
        } else {
            "the model has no labels in its metadata and no --labels was given"
        };
        bail!(
            "{}: the class folders cannot be matched to the model's classes ({why}); \
             pass --labels FILE, or --sorted-classes if the folders in sorted order are classes 0, 1, 2, …",
            a.data.display()
        );
    }
    let conditions = if opts.clean_only {
        0
    } else {
        opts.corruptions.len() * opts.severities.len()
    };
    let batch = batched(&a.model.model, &m.pre, 1 + conditions);
    let r = evaluate(
        &m.engine,
        batch.as_ref(),
        &m.pre,
        &data,
        ModelRef::of_file(&a.model.model)?,
        &opts,
        reference,
    )?;
    write_outputs(
        &r,
        a.json.as_deref(),
        a.markdown.as_deref(),
        a.svg.as_deref(),
    )?;
    super::out(summary(&r))?;
    if !r.failures.is_empty() {
        for f in &r.failures {
            eprintln!("skipped: {f}");
        }
        return Ok(ExitCode::from(super::SOME_FAILED));
    }
    Ok(ExitCode::SUCCESS)
}
