//! The robustness gate: evaluate the original, the converted (float) and the
//! int8 model on the same clean and corrupted images, and fail when int8 loses
//! more than the user allows in clean accuracy or mCE.
//!
//! CE is normalised by the **original** model, so its mCE is 100 by definition
//! and the others read as "percent of the original's corruption error". The
//! gate compares int8 against the converted float model — the step the
//! quantizer is responsible for.

use std::path::PathBuf;
use std::time::Instant;

use nyquist_runtime::dataset::Dataset;
use nyquist_runtime::engine::{argmax, Engine};
use nyquist_runtime::eval::{evaluate, EvalOptions, EvalResult, ModelRef, ReferenceRef};
use nyquist_runtime::Preprocess;
use serde::Serialize;

use crate::error::ConvertError;

/// Gate settings.
#[derive(Debug, Clone)]
pub struct GateOptions {
    /// Evaluation options (corruptions, severities, limit, seed).
    pub eval: EvalOptions,
    /// Largest allowed mCE increase of int8 over float, in points.
    pub mce_tolerance: f64,
    /// Largest allowed clean-accuracy drop of int8 below float, in points.
    pub acc_tolerance: f64,
    /// Largest allowed drop of shift consistency, in points, from the
    /// original to the converted model and from float to int8 (with
    /// `eval.consistency` set).
    pub consistency_tolerance: f64,
    /// Images the consistency is measured on (clean only, two inferences
    /// each, so it can afford more images than the corruptions: one flip in
    /// 60 images is 1.7 points, in 2,000 it is 0.05).
    pub consistency_images: usize,
    /// Evaluate and report, but never fail.
    pub disabled: bool,
}

/// One model's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ModelFigures {
    /// `original`, `converted`, `int8`.
    pub role: String,
    /// File name it will have.
    pub file: String,
    /// Bytes on disk.
    pub size_bytes: usize,
    /// MACs per image.
    pub macs: u64,
    /// Median tract latency, batch 1, one thread, this machine (ms).
    pub latency_ms: f64,
    /// Clean-image top-1 agreement with the original.
    pub top1_agreement: f64,
    /// The evaluation.
    pub eval: EvalResult,
}

/// The gate's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// Passed (or gate disabled).
    pub passed: bool,
    /// Clean accuracy drop int8 vs float, points.
    pub acc_drop: f64,
    /// mCE increase int8 vs float, points.
    pub mce_increase: f64,
    /// Shift-consistency drop original → converted, points.
    pub fold_consistency_drop: Option<f64>,
    /// Shift-consistency drop float → int8, points.
    pub int8_consistency_drop: Option<f64>,
    /// One line for people.
    pub line: String,
}

/// Median latency of `runs` batch-1 inferences.
pub(crate) fn latency_ms(engine: &Engine, runs: usize) -> Result<f64, ConvertError> {
    let x = vec![0.1f32; engine.input_len()];
    engine.run(&x)?;
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let t0 = Instant::now();
            engine.run(&x).map(|_| t0.elapsed().as_secs_f64() * 1e3)
        })
        .collect::<Result<_, _>>()?;
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

/// A model to evaluate: role, output file name, bytes, MACs.
pub struct Candidate<'a> {
    /// Role.
    pub role: &'a str,
    /// File name.
    pub file: String,
    /// Serialized ONNX.
    pub bytes: &'a [u8],
    /// MACs per image.
    pub macs: u64,
}

/// Figures already measured, by role and file content, with the clean
/// predictions the agreement is computed from: a repair re-runs the gate
/// with only the int8 model changed.
#[derive(Debug, Default)]
pub struct GateCache(std::collections::HashMap<CacheKey, Measured>);

/// (role, SHA-256 of the model file).
type CacheKey = (String, String);
/// A model's figures and its clean top-1 predictions.
type Measured = (ModelFigures, Vec<Option<usize>>);

/// Evaluate the candidates (the first is the original, the reference) and decide.
pub fn run(
    models: &[Candidate],
    pre: &Preprocess,
    data: &Dataset,
    opts: &GateOptions,
) -> Result<(Vec<ModelFigures>, Verdict), ConvertError> {
    run_cached(models, pre, data, opts, &mut GateCache::default())
}

/// As [`run`], reusing (and filling) `cache`.
pub(crate) fn run_cached(
    models: &[Candidate],
    pre: &Preprocess,
    data: &Dataset,
    opts: &GateOptions,
    cache: &mut GateCache,
) -> Result<(Vec<ModelFigures>, Verdict), ConvertError> {
    let shape = pre.shape.to_vec();
    let conditions = if opts.eval.clean_only {
        0
    } else {
        opts.eval.corruptions.len() * opts.eval.severities.len()
    };
    let mut batch_shape = shape.clone();
    batch_shape[0] = 1 + conditions;
    let mut figures: Vec<ModelFigures> = Vec::new();
    let mut reference: Option<ReferenceRef> = None;
    let mut original_preds: Vec<Option<usize>> = Vec::new();
    // Clean predictions for top-1 agreement: the first images of the eval set.
    let clean: Vec<Vec<f32>> = data
        .clean
        .iter()
        .take(opts.eval.limit.unwrap_or(usize::MAX).min(data.clean.len()))
        .filter_map(|it| it.source.load().ok().map(|img| pre.tensor(&img)))
        .collect();
    for m in models {
        let key = (
            m.role.to_string(),
            ModelRef::of_bytes(&m.file, m.bytes).sha256,
        );
        if let Some((f, preds)) = cache.0.get(&key) {
            if original_preds.is_empty() {
                original_preds = preds.clone();
            }
            if reference.is_none() {
                reference = f.eval.reference.clone();
            }
            figures.push(f.clone());
            continue;
        }
        let label = PathBuf::from(&m.file);
        let engine = Engine::from_onnx_bytes(m.bytes, &label, &shape)?;
        let batched = Engine::from_onnx_bytes(m.bytes, &label, &batch_shape).ok();
        let r = evaluate(
            &engine,
            batched.as_ref(),
            pre,
            data,
            ModelRef::of_bytes(&m.file, m.bytes),
            &EvalOptions {
                consistency: None,
                ..opts.eval.clone()
            },
            reference.clone(),
        )?;
        let preds: Vec<Option<usize>> = engine
            .run_many(&clean)?
            .iter()
            .map(|o| argmax(&o[0].data))
            .collect();
        if original_preds.is_empty() {
            original_preds = preds.clone();
        }
        let agree = preds
            .iter()
            .zip(&original_preds)
            .filter(|(a, b)| a == b && a.is_some())
            .count() as f64
            / preds.len().max(1) as f64;
        let mut r = r;
        if let Some(cons) = opts.eval.consistency {
            let c = evaluate(
                &engine,
                None,
                pre,
                data,
                ModelRef::of_bytes(&m.file, m.bytes),
                &EvalOptions {
                    clean_only: true,
                    limit: Some(opts.consistency_images),
                    consistency: Some(cons),
                    ..opts.eval.clone()
                },
                None,
            )?;
            r.counts.consistent = c.counts.consistent;
            r.max_shift = c.max_shift;
            r.rescore();
        }
        if reference.is_none() {
            // The original against itself: CE 1 everywhere, mCE 100.
            reference = Some(ReferenceRef::from_result(&r));
            r.reference = reference.clone();
            r.rescore();
        }
        let f = ModelFigures {
            role: m.role.into(),
            file: m.file.clone(),
            size_bytes: m.bytes.len(),
            macs: m.macs,
            latency_ms: latency_ms(&engine, 30)?,
            top1_agreement: agree,
            eval: r,
        };
        cache.0.insert(key, (f.clone(), preds));
        figures.push(f);
    }
    let get = |role: &str| figures.iter().find(|f| f.role == role);
    let (Some(float), Some(int8)) = (get("converted").or_else(|| get("original")), get("int8"))
    else {
        return Err(ConvertError::Usage(
            "the gate needs a float and an int8 model".into(),
        ));
    };
    let acc = |f: &ModelFigures| 100.0 * (1.0 - f.eval.clean_error.unwrap_or(1.0));
    let acc_drop = acc(float) - acc(int8);
    let mce_increase = match (int8.eval.mce, float.eval.mce) {
        (Some(a), Some(b)) => a - b,
        _ => 0.0,
    };
    let cons = |f: &ModelFigures| f.eval.consistency.map(|c| 100.0 * c);
    let drop = |a: Option<&ModelFigures>, b: &ModelFigures| match (a.and_then(cons), cons(b)) {
        (Some(x), Some(y)) => Some(x - y),
        _ => None,
    };
    let fold_consistency_drop = get("converted").and_then(|c| drop(get("original"), c));
    let int8_consistency_drop = drop(Some(float), int8);
    let cons_ok = [fold_consistency_drop, int8_consistency_drop]
        .iter()
        .flatten()
        .all(|&d| d <= opts.consistency_tolerance);
    let ok = acc_drop <= opts.acc_tolerance && mce_increase <= opts.mce_tolerance && cons_ok;
    let cons_text = match (cons(int8), cons(float)) {
        (Some(a), Some(b)) => format!(
            "; shift consistency {a:.2}% vs {b:.2}% (drop {:.2} pt{}, allowed {:.2})",
            b - a,
            fold_consistency_drop.map_or(String::new(), |d| format!(", folding {d:.2} pt")),
            opts.consistency_tolerance
        ),
        _ => String::new(),
    };
    let line = format!(
        "gate {}: int8 clean accuracy {:.2}% vs float {:.2}% (drop {:.2} pt, allowed {:.2}); mCE {:.2} vs {:.2} (increase {:.2} pt, allowed {:.2}){cons_text}{}",
        if ok { "PASSED" } else { "FAILED" },
        acc(int8),
        acc(float),
        acc_drop,
        opts.acc_tolerance,
        int8.eval.mce.unwrap_or(f64::NAN),
        float.eval.mce.unwrap_or(f64::NAN),
        mce_increase,
        opts.mce_tolerance,
        if opts.disabled { " — gate disabled (--no-gate)" } else { "" }
    );
    Ok((
        figures,
        Verdict {
            passed: ok || opts.disabled,
            acc_drop,
            fold_consistency_drop,
            int8_consistency_drop,
            mce_increase,
            line,
        },
    ))
}
