//! Clean and corrupted accuracy of a model on a dataset, and its CE / mCE.
//!
//! Work is split per image: load, preprocess geometry, then the clean input and
//! every (corruption, severity) of that image go through the model in one batch.
//! Image `i` is corrupted with seed `seed + i`, so results do not depend on
//! threads or sharding: `--shard k/n` takes the images whose index is `k` mod
//! `n`, and [`merge`] adds the counts of the shards back up.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use nyquist_corrupt::score::{score, Errors, Reference, ALEXNET};
use nyquist_corrupt::{corrupt, Corruption};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::dataset::{Dataset, Item, Layout};
use crate::engine::{argmax, Engine};
use crate::error::{Result, RuntimeError};
use crate::preprocess::Preprocess;

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Corruptions to apply (all 19 by default).
    pub corruptions: Vec<Corruption>,
    /// Severities (1–5).
    pub severities: Vec<u8>,
    /// Only the clean error.
    pub clean_only: bool,
    /// Base seed of the corruptions.
    pub seed: u64,
    /// `(k, n)`: evaluate the images whose index is `k` mod `n`.
    pub shard: Option<(usize, usize)>,
    /// At most this many images (spread evenly over the dataset).
    pub limit: Option<usize>,
    /// Show a progress bar (on a terminal).
    pub progress: bool,
    /// Shift consistency, if asked for.
    pub consistency: Option<Consistency>,
}

/// Shift consistency (Zhang 2019, "Making Convolutional Networks
/// Shift-Invariant Again"): the probability that two random shifts of the
/// same image get the same top-1 class. Each image gets two shifts drawn
/// uniformly from `[−max_shift, max_shift]²` (seeded by the image's index,
/// so shards and threads do not change them); the image moves on its canvas
/// (`pad` geometry) or the crop window moves (`shorter_crop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Consistency {
    /// Largest shift in pixels; `None`: what the geometry allows
    /// ([`Preprocess::max_shift`]: the padding, or half the crop margin).
    pub max_shift: Option<u32>,
    /// Also under every corruption and severity (the two shifted images
    /// corrupted with the same seed): twice the corrupted inferences.
    pub corrupted: bool,
}

/// The two shifts of image `index`.
pub fn shift_pair(seed: u64, index: usize, max_shift: u32) -> [(i32, i32); 2] {
    let mut rng = nyquist_corrupt::rng::Rng::new(
        nyquist_corrupt::rng::splitmix64(seed ^ 0x5368_6966_7443_6f6e).wrapping_add(index as u64),
    );
    let m = max_shift as i64;
    let mut one = || (rng.int(-m, m + 1) as i32, rng.int(-m, m + 1) as i32);
    [one(), one()]
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            corruptions: Corruption::all().collect(),
            severities: vec![1, 2, 3, 4, 5],
            clean_only: false,
            seed: 0,
            shard: None,
            limit: None,
            progress: false,
            consistency: None,
        }
    }
}

/// `[correct, total]`.
pub type Tally = [u64; 2];

/// Correct / total counts per condition.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Clean images.
    pub clean: Tally,
    /// Corruption name → tallies at severities 1–5.
    pub corrupted: BTreeMap<Corruption, [Tally; 5]>,
    /// Shift consistency on clean images: `[same top-1, pairs]`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub consistent: Tally,
    /// Shift consistency under each corruption and severity.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub consistent_corrupted: BTreeMap<Corruption, [Tally; 5]>,
}

fn is_zero(t: &Tally) -> bool {
    t[1] == 0
}

fn add_tallies(
    into: &mut BTreeMap<Corruption, [Tally; 5]>,
    from: &BTreeMap<Corruption, [Tally; 5]>,
) {
    for (c, t) in from {
        let e = into.entry(*c).or_default();
        for s in 0..5 {
            e[s][0] += t[s][0];
            e[s][1] += t[s][1];
        }
    }
}

/// `correct / total`, `None` for no samples.
fn rate(t: &Tally) -> Option<f64> {
    (t[1] > 0).then(|| t[0] as f64 / t[1] as f64)
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.clean[0] += o.clean[0];
        self.clean[1] += o.clean[1];
        add_tallies(&mut self.corrupted, &o.corrupted);
        self.consistent[0] += o.consistent[0];
        self.consistent[1] += o.consistent[1];
        add_tallies(&mut self.consistent_corrupted, &o.consistent_corrupted);
    }

    /// Top-1 errors.
    pub fn errors(&self) -> Errors {
        let err = |t: &Tally| (t[1] > 0).then(|| 1.0 - t[0] as f64 / t[1] as f64);
        Errors {
            clean: err(&self.clean).unwrap_or(f64::NAN),
            corrupted: self
                .corrupted
                .iter()
                .map(|(c, t)| {
                    (
                        *c,
                        [err(&t[0]), err(&t[1]), err(&t[2]), err(&t[3]), err(&t[4])],
                    )
                })
                .collect(),
        }
    }
}

/// The model a result is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRef {
    /// File name.
    pub path: String,
    /// SHA-256 of the file.
    pub sha256: String,
}

/// The data a result is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataRef {
    /// Path given.
    pub path: String,
    /// `imagefolder`, `idx:<split>`, `imagenet-c`.
    pub layout: String,
    /// Images evaluated (all shards), before corruption.
    pub images: usize,
    /// How class folders were matched to labels.
    pub class_match: String,
    /// Dataset fingerprint.
    pub sha256: String,
}

/// Scores of one corruption in a result file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorruptionResult {
    /// Top-1 error per severity 1–5 (null where not evaluated).
    pub errors: [Option<f64>; 5],
    /// Corruption Error against the reference.
    pub ce: Option<f64>,
    /// Relative Corruption Error.
    pub relative_ce: Option<f64>,
    /// In mCE (one of the 15) or an extra.
    pub benchmark: bool,
}

/// What the CE is normalised by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceRef {
    /// `alexnet` or the reference result file's model.
    pub name: String,
    /// The reference's clean error (so shard files can be merged without it).
    pub clean_error: Option<f64>,
    /// Reference errors per corruption and severity.
    pub errors: BTreeMap<Corruption, [Option<f64>; 5]>,
}

impl ReferenceRef {
    /// AlexNet's published ImageNet-C errors.
    pub fn alexnet() -> Self {
        ReferenceRef {
            name: "alexnet".into(),
            clean_error: Some(nyquist_corrupt::score::ALEXNET_CLEAN),
            errors: ALEXNET.iter().map(|(c, e)| (*c, [Some(*e); 5])).collect(),
        }
    }

    /// The errors of another result.
    pub fn from_result(r: &EvalResult) -> Self {
        ReferenceRef {
            name: r.model.path.clone(),
            clean_error: r.clean_error,
            errors: r.corruptions.iter().map(|(c, s)| (*c, s.errors)).collect(),
        }
    }

    fn as_reference(&self) -> Reference {
        if self.name == "alexnet" {
            Reference::AlexNet
        } else {
            Reference::Model(Errors {
                clean: self.clean_error.unwrap_or(f64::NAN),
                corrupted: self.errors.clone(),
            })
        }
    }
}

/// A result file (`nyquist eval --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalResult {
    /// The model.
    pub model: ModelRef,
    /// The data.
    pub dataset: DataRef,
    /// Corruption seed.
    pub seed: u64,
    /// `k/n` for a shard, null for a whole run or a merge.
    pub shard: Option<String>,
    /// Severities evaluated.
    pub severities: Vec<u8>,
    /// Raw counts (what shards add up).
    pub counts: Counts,
    /// Images that could not be read, and why.
    pub failures: Vec<String>,
    /// Clean top-1 error.
    pub clean_error: Option<f64>,
    /// Per corruption.
    pub corruptions: BTreeMap<Corruption, CorruptionResult>,
    /// mCE (percent) over the benchmark corruptions, null without a reference.
    pub mce: Option<f64>,
    /// Relative mCE (percent).
    pub relative_mce: Option<f64>,
    /// The reference the CEs are against.
    pub reference: Option<ReferenceRef>,
    /// Shift consistency on clean images (0–1), with `--consistency`.
    #[serde(default)]
    pub consistency: Option<f64>,
    /// The largest shift used (pixels).
    #[serde(default)]
    pub max_shift: Option<u32>,
    /// Shift consistency per corruption, averaged over the severities
    /// evaluated (with `--consistency-corrupted`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub consistency_corrupted: BTreeMap<Corruption, f64>,
}

impl EvalResult {
    /// Recompute the derived fields from `counts` and `reference`.
    pub fn rescore(&mut self) {
        let e = self.counts.errors();
        self.clean_error = (self.counts.clean[1] > 0).then_some(e.clean);
        let s = self
            .reference
            .as_ref()
            .map(|r| score(&e, &r.as_reference()));
        let finite = |v: Option<f64>| v.filter(|x| x.is_finite());
        self.corruptions = e
            .corrupted
            .iter()
            .map(|(c, errs)| {
                let cs = s.as_ref().and_then(|s| s.corruptions.get(c));
                (
                    *c,
                    CorruptionResult {
                        errors: *errs,
                        ce: finite(cs.and_then(|x| x.ce)),
                        relative_ce: finite(cs.and_then(|x| x.relative_ce)),
                        benchmark: c.is_benchmark(),
                    },
                )
            })
            .collect();
        self.mce = finite(s.as_ref().and_then(|s| s.mce));
        self.relative_mce = finite(s.as_ref().and_then(|s| s.relative_mce));
        self.consistency = rate(&self.counts.consistent);
        self.consistency_corrupted = self
            .counts
            .consistent_corrupted
            .iter()
            .filter_map(|(c, t)| {
                let rates: Vec<f64> = t.iter().filter_map(rate).collect();
                (!rates.is_empty()).then(|| (*c, rates.iter().sum::<f64>() / rates.len() as f64))
            })
            .collect();
    }

    /// Read a result file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|io| RuntimeError::Io {
            path: path.into(),
            io,
        })?;
        serde_json::from_str(&text).map_err(|e| {
            RuntimeError::Config(format!(
                "{}: not a nyquist eval result: {e}",
                path.display()
            ))
        })
    }
}

impl ModelRef {
    /// The file's name and SHA-256.
    pub fn of_file(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|io| RuntimeError::Io {
            path: path.into(),
            io,
        })?;
        Ok(Self::of_bytes(
            &path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            &bytes,
        ))
    }

    /// A model held in memory.
    pub fn of_bytes(name: &str, bytes: &[u8]) -> Self {
        use sha2::{Digest, Sha256};
        ModelRef {
            path: name.to_string(),
            sha256: Sha256::digest(bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        }
    }
}

/// One image to evaluate: global index, the item, and the condition it is
/// already in (ImageNet-C) or `None` (clean, conditions generated).
type Job<'a> = (usize, &'a Item, Option<(Corruption, u8)>);

/// Append to `out` the model inputs of image number `index` of an
/// evaluation: the clean image, then one corrupted copy per condition in
/// `conditions` — each corrupted after the geometry stage, with the seed
/// `seed + index` (the corruptions are deterministic in it). The one place
/// that turns a dataset image into evaluation inputs: [`evaluate`] and the
/// converter's quantization probes use it.
pub fn image_inputs(
    pre: &Preprocess,
    img: &image::DynamicImage,
    conditions: &[(Corruption, u8)],
    seed: u64,
    index: usize,
    out: &mut Vec<f32>,
) -> std::result::Result<(), nyquist_corrupt::CorruptError> {
    let geo = pre.geometry(img);
    pre.normalize_into(&geo, out);
    for &(c, s) in conditions {
        pre.normalize_into(&corrupt(&geo, c, s, seed.wrapping_add(index as u64))?, out);
    }
    Ok(())
}

fn pick(items: &[Item], limit: Option<usize>) -> Vec<(usize, &Item)> {
    match limit {
        Some(l) if l < items.len() => (0..l)
            .map(|i| i * items.len() / l)
            .map(|i| (i, &items[i]))
            .collect(),
        _ => items.iter().enumerate().collect(),
    }
}

/// Evaluate. `engine` runs batches of `batch` inputs (`None`: one at a time).
pub fn evaluate(
    engine: &Engine,
    batched: Option<&Engine>,
    pre: &Preprocess,
    data: &Dataset,
    model: ModelRef,
    opts: &EvalOptions,
    reference: Option<ReferenceRef>,
) -> Result<EvalResult> {
    let classes = engine
        .run(&vec![0.0; engine.input_len()])?
        .first()
        .map_or(0, |o| o.data.len());
    if data.classes > classes {
        return Err(RuntimeError::Shape {
            tensor: "model output".into(),
            expected: format!("at least {} logits (the dataset's classes)", data.classes),
            got: format!("{classes} logits"),
        });
    }
    let in_shard = |i: usize| opts.shard.is_none_or(|(k, n)| i % n == k);
    let conditions: Vec<(Corruption, u8)> = if opts.clean_only || data.layout == Layout::ImageNetC {
        Vec::new()
    } else {
        opts.corruptions
            .iter()
            .flat_map(|&c| opts.severities.iter().map(move |&s| (c, s)))
            .collect()
    };
    // Jobs: (global index, item, generated conditions) plus ImageNet-C's pre-corrupted files.
    let mut jobs: Vec<Job> = pick(&data.clean, opts.limit)
        .into_iter()
        .map(|(i, it)| (i, it, None))
        .collect();
    let mut offset = data.clean.len();
    for ((c, s), items) in &data.corrupted {
        if opts.corruptions.contains(c) && opts.severities.contains(s) && !opts.clean_only {
            jobs.extend(
                pick(items, opts.limit)
                    .into_iter()
                    .map(|(i, it)| (offset + i, it, Some((*c, *s)))),
            );
        }
        offset += items.len();
    }
    let total_images = jobs.len();
    jobs.retain(|(i, _, _)| in_shard(*i));
    let bar = if opts.progress {
        indicatif::ProgressBar::new(jobs.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} eval {pos}/{len} images [{elapsed_precise} < {eta}] {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let per_image = |&(i, item, pre_corrupted): &Job| -> (Counts, Option<String>) {
        let mut counts = Counts::default();
        let img = match item.source.load() {
            Ok(img) => img,
            Err(e) => return (counts, Some(e.to_string())),
        };
        let mut inputs: Vec<f32> = Vec::with_capacity((1 + conditions.len()) * engine.input_len());
        let gen: &[(Corruption, u8)] = if pre_corrupted.is_some() {
            &[]
        } else {
            &conditions
        };
        if let Err(e) = image_inputs(pre, &img, gen, opts.seed, i, &mut inputs) {
            return (counts, Some(format!("{}: {e}", item.source.describe())));
        }
        let preds = match predict(engine, batched, &inputs) {
            Ok(p) => p,
            Err(e) => return (counts, Some(format!("{}: {e}", item.source.describe()))),
        };
        let ok = |k: usize| u64::from(preds[k] == Some(item.label));
        match pre_corrupted {
            Some((c, s)) => {
                let t = &mut counts.corrupted.entry(c).or_default()[s as usize - 1];
                t[0] += ok(0);
                t[1] += 1;
            }
            None => {
                counts.clean = [ok(0), 1];
                for (k, &(c, s)) in gen.iter().enumerate() {
                    let t = &mut counts.corrupted.entry(c).or_default()[s as usize - 1];
                    t[0] += ok(k + 1);
                    t[1] += 1;
                }
            }
        }
        if let (Some(cons), None) = (opts.consistency, pre_corrupted) {
            if let Err(e) = consistency_of(engine, pre, &img, i, cons, gen, opts, &mut counts) {
                return (counts, Some(format!("{}: {e}", item.source.describe())));
            }
        }
        bar.inc(1);
        (counts, None)
    };
    let results: Vec<(Counts, Option<String>)> = jobs.par_iter().map(per_image).collect();
    bar.finish_and_clear();
    let mut counts = Counts::default();
    let mut failures = Vec::new();
    for (c, f) in results {
        counts.add(&c);
        failures.extend(f);
    }
    let layout = match &data.layout {
        Layout::ImageFolder => "imagefolder".to_string(),
        Layout::Idx { split } => format!("idx:{split}"),
        Layout::ImageNetC => "imagenet-c".to_string(),
    };
    let mut r = EvalResult {
        model,
        dataset: DataRef {
            path: data.root.display().to_string(),
            layout,
            images: total_images,
            class_match: data.class_match.clone(),
            sha256: data.hash.clone(),
        },
        seed: opts.seed,
        shard: opts.shard.map(|(k, n)| format!("{k}/{n}")),
        severities: opts.severities.clone(),
        counts,
        failures,
        clean_error: None,
        corruptions: BTreeMap::new(),
        mce: None,
        relative_mce: None,
        reference,
        consistency: None,
        max_shift: opts.consistency.map(|c| c.max_shift.unwrap_or(0)),
        consistency_corrupted: BTreeMap::new(),
    };
    r.rescore();
    Ok(r)
}

/// Shift consistency of one image: two shifted copies (clean, and under
/// every condition with `cons.corrupted`), agreement of their top-1 classes.
#[allow(clippy::too_many_arguments)] // the per-image state of `evaluate`
fn consistency_of(
    engine: &Engine,
    pre: &Preprocess,
    img: &image::DynamicImage,
    index: usize,
    cons: Consistency,
    conditions: &[(Corruption, u8)],
    opts: &EvalOptions,
    counts: &mut Counts,
) -> Result<()> {
    let rgb_size = (img.width(), img.height());
    let max = cons
        .max_shift
        .or_else(|| pre.max_shift(rgb_size))
        .unwrap_or(0);
    let [a, b] = shift_pair(opts.seed, index, max);
    let (ga, gb) = (pre.geometry_shifted(img, a), pre.geometry_shifted(img, b));
    let mut inputs: Vec<f32> = Vec::new();
    pre.normalize_into(&ga, &mut inputs);
    pre.normalize_into(&gb, &mut inputs);
    let with_corruptions = cons.corrupted;
    if with_corruptions {
        for &(c, s) in conditions {
            let seed = opts.seed.wrapping_add(index as u64);
            let (ca, cb) = (corrupt(&ga, c, s, seed), corrupt(&gb, c, s, seed));
            match (ca, cb) {
                (Ok(x), Ok(y)) => {
                    pre.normalize_into(&x, &mut inputs);
                    pre.normalize_into(&y, &mut inputs);
                }
                (Err(e), _) | (_, Err(e)) => {
                    return Err(RuntimeError::Config(e.to_string()));
                }
            }
        }
    }
    let preds = predict(engine, None, &inputs)?;
    counts.consistent = [u64::from(preds[0] == preds[1]), 1];
    if with_corruptions {
        for (k, &(c, s)) in conditions.iter().enumerate() {
            let t = &mut counts.consistent_corrupted.entry(c).or_default()[s as usize - 1];
            t[0] += u64::from(preds[2 + 2 * k] == preds[3 + 2 * k]);
            t[1] += 1;
        }
    }
    Ok(())
}

/// Top-1 class of every input in `inputs` (concatenated).
fn predict(
    engine: &Engine,
    batched: Option<&Engine>,
    inputs: &[f32],
) -> Result<Vec<Option<usize>>> {
    let one = engine.input_len();
    let n = inputs.len() / one;
    if let Some(b) = batched.filter(|b| b.input_len() == inputs.len()) {
        let out = b.run(inputs)?;
        let logits = &out[0].data;
        let k = logits.len() / n;
        return Ok(logits.chunks(k).map(argmax).collect());
    }
    inputs
        .chunks(one)
        .map(|x| engine.run(x).map(|o| argmax(&o[0].data)))
        .collect()
}

/// Add shard results up into the result of one run over everything.
pub fn merge(shards: &[EvalResult]) -> Result<EvalResult> {
    let first = shards
        .first()
        .ok_or_else(|| RuntimeError::Config("nothing to merge".into()))?;
    let n = first
        .shard
        .as_deref()
        .and_then(|s| s.split('/').nth(1))
        .and_then(|n| n.parse::<usize>().ok())
        .ok_or_else(|| {
            RuntimeError::Config(format!(
                "{}: not a shard result (no `shard: k/n`)",
                first.model.path
            ))
        })?;
    let mut seen = vec![false; n];
    let mut out = first.clone();
    out.counts = Counts::default();
    out.failures.clear();
    for s in shards {
        let same = s.model == first.model
            && s.dataset == first.dataset
            && s.seed == first.seed
            && s.severities == first.severities
            && s.reference == first.reference;
        if !same {
            return Err(RuntimeError::Config(
                "shards differ in model, dataset, seed, severities or reference".into(),
            ));
        }
        let (k, m) = s
            .shard
            .as_deref()
            .and_then(|x| x.split_once('/'))
            .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)))
            .ok_or_else(|| RuntimeError::Config("a result without `shard: k/n`".into()))?;
        if m != n || k >= n || seen[k] {
            return Err(RuntimeError::Config(format!(
                "shard {k}/{m} is duplicated or does not belong to a {n}-way split"
            )));
        }
        seen[k] = true;
        out.counts.add(&s.counts);
        out.failures.extend(s.failures.iter().cloned());
    }
    if let Some(k) = seen.iter().position(|&x| !x) {
        return Err(RuntimeError::Config(format!("shard {k}/{n} is missing")));
    }
    out.shard = None;
    out.rescore();
    Ok(out)
}

fn pct(v: Option<f64>) -> String {
    v.map_or("–".into(), |x| format!("{:.1}", 100.0 * x))
}

/// The evaluation table people read, written once for every tool that shows
/// one (`nyquist eval`, the converter's robustness gate): one row per
/// corruption (mean error over the evaluated severities, CE), the clean
/// error, mCE and relative mCE, shift consistency when measured; one column
/// pair per result (`name`, result).
pub fn markdown_table(results: &[(&str, &EvalResult)]) -> String {
    let mut s = String::new();
    let _ = write!(s, "| corruption |");
    for (name, _) in results {
        let _ = write!(s, " {name} error % | {name} CE % |");
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "|---|{}", "---:|---:|".repeat(results.len()));
    let _ = write!(s, "| **clean** |");
    for (_, r) in results {
        let _ = write!(s, " {} | |", pct(r.clean_error));
    }
    let _ = writeln!(s);
    for c in Corruption::all() {
        if !results.iter().any(|(_, r)| r.corruptions.contains_key(&c)) {
            continue;
        }
        let _ = write!(
            s,
            "| {}{} |",
            c.name(),
            if c.is_benchmark() { "" } else { " (extra)" }
        );
        for (_, r) in results {
            match r.corruptions.get(&c) {
                Some(x) => {
                    let evaluated: Vec<f64> = x.errors.iter().flatten().copied().collect();
                    let mean = (!evaluated.is_empty())
                        .then(|| evaluated.iter().sum::<f64>() / evaluated.len() as f64);
                    let _ = write!(
                        s,
                        " {} | {} |",
                        pct(mean),
                        x.ce.map_or("–".into(), |v| format!("{:.1}", 100.0 * v))
                    );
                }
                None => {
                    let _ = write!(s, " – | – |");
                }
            }
        }
        let _ = writeln!(s);
    }
    let _ = write!(s, "| **mCE** (relative) |");
    for (_, r) in results {
        let _ = write!(
            s,
            " | **{}** ({}) |",
            r.mce.map_or("–".into(), |v| format!("{v:.1}")),
            r.relative_mce.map_or("–".into(), |v| format!("{v:.1}"))
        );
    }
    let _ = writeln!(s);
    if results.iter().any(|(_, r)| r.consistency.is_some()) {
        let _ = write!(s, "| **shift consistency %** (clean) |");
        for (_, r) in results {
            let _ = write!(s, " **{}** | |", pct(r.consistency));
        }
        let _ = writeln!(s);
        for c in Corruption::all() {
            if !results
                .iter()
                .any(|(_, r)| r.consistency_corrupted.contains_key(&c))
            {
                continue;
            }
            let _ = write!(s, "| consistency under {} |", c.name());
            for (_, r) in results {
                let _ = write!(s, " {} | |", pct(r.consistency_corrupted.get(&c).copied()));
            }
            let _ = writeln!(s);
        }
    }
    s
}

#[cfg(test)]
mod consistency_tests {
    use super::*;

    #[test]
    fn shift_pairs_are_seeded_and_bounded() {
        let a = shift_pair(0, 17, 2);
        assert_eq!(a, shift_pair(0, 17, 2));
        assert_ne!(shift_pair(0, 17, 2), shift_pair(0, 18, 2));
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..2000 {
            for (dx, dy) in shift_pair(3, i, 2) {
                assert!((-2..=2).contains(&dx) && (-2..=2).contains(&dy));
                seen.insert((dx, dy));
            }
        }
        assert_eq!(seen.len(), 25, "every shift in the 5 × 5 window occurs");
        assert_eq!(shift_pair(1, 5, 0), [(0, 0), (0, 0)]);
    }
}
