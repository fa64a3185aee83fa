//! The bundled models classify the committed evaluation images the same way on
//! every platform: predictions are compared with the ones recorded on x86-64
//! (`NYQUIST_BLESS=1` records them), and CI runs this file on aarch64 under
//! qemu-aarch64 too. Accuracy is also checked against the model cards (the
//! card's figure was measured with onnxruntime by `models/recipe/card.py`;
//! tract must match it within 0.5 points), in the same pass over the images.
//!
//! The int8 model (`resnet18r-blurafterconv.int8.onnx`, QDQ, as the
//! converter writes it) runs through the integer path (`nyquist_runtime::int8`)
//! and is held to onnxruntime's answers on the same file
//! (`*.int8.ort-predictions.txt`, `*.int8.ort-logits.txt`, written by
//! `models/recipe/onnxruntime_reference.py`): top-1 agreement ≥ 99.5 %, and
//! its own x86-64 predictions on every platform.
//!
//! `NYQUIST_PREDICTION_STRIDE=k` checks every k-th image only (CI uses 8 under
//! qemu-aarch64, where one inference takes ~0.3 s); the accuracy check needs
//! all of them.

use std::path::{Path, PathBuf};

use nyquist_runtime::dataset;
use nyquist_runtime::engine::argmax;
use nyquist_runtime::{Engine, ModelInfo, Preprocess};
use rayon::prelude::*;

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/fmnist")
}

fn predictions(stem: &str) -> (Vec<usize>, Vec<usize>) {
    let (outputs, labels) = outputs(stem);
    let preds = outputs.iter().map(|o| argmax(o).unwrap()).collect();
    (preds, labels)
}

/// Logits of every `stride()`-th image, and the labels.
fn outputs(stem: &str) -> (Vec<Vec<f32>>, Vec<usize>) {
    let path = models_dir().join(format!("{stem}.onnx"));
    let info = ModelInfo::from_onnx_file(&path).unwrap();
    let pre = Preprocess::from_info(&info).unwrap();
    let engine = Engine::load(&path, &pre.shape).unwrap();
    let data = dataset::open(
        &models_dir().join("eval"),
        "t10k",
        info.labels().unwrap().as_deref(),
    )
    .unwrap();
    assert_eq!(data.class_match, "by name");
    assert_eq!(data.clean.len(), 2000);
    let preds = data
        .clean
        .par_iter()
        .step_by(stride())
        .map(|it| {
            engine.run(&pre.tensor(&it.source.load().unwrap())).unwrap()[0]
                .data
                .clone()
        })
        .collect();
    let labels = data.clean.iter().step_by(stride()).map(|it| it.label);
    (preds, labels.collect())
}

fn stride() -> usize {
    std::env::var("NYQUIST_PREDICTION_STRIDE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1usize)
        .max(1)
}

fn check(stem: &str) {
    let (preds, labels) = predictions(stem);
    check_recorded(stem, &preds);
    if stride() > 1 {
        return;
    }
    let card: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(models_dir().join(format!("{stem}.card.json"))).unwrap(),
    )
    .unwrap();
    let acc =
        preds.iter().zip(&labels).filter(|(p, l)| p == l).count() as f64 / labels.len() as f64;
    let want_acc = card["eval_subset_accuracy"].as_f64().unwrap();
    assert!(
        (acc - want_acc).abs() <= 0.005,
        "{stem}: accuracy {acc:.4}, model card {want_acc:.4}"
    );
    assert!(
        card["test_accuracy"].as_f64().unwrap() >= 0.90,
        "{stem}: below the 90% target"
    );
}

/// The predictions equal the ones recorded on x86-64 (`NYQUIST_BLESS=1` records).
fn check_recorded(stem: &str, preds: &[usize]) {
    let text: String = preds.iter().map(|p| format!("{p}\n")).collect();
    let file = models_dir().join(format!("{stem}.predictions.txt"));
    if std::env::var_os("NYQUIST_BLESS").is_some() {
        assert_eq!(stride(), 1, "bless with every image");
        std::fs::write(&file, &text).unwrap();
    }
    let want =
        std::fs::read_to_string(&file).expect("recorded predictions (NYQUIST_BLESS=1 on x86-64)");
    let want: Vec<usize> = want
        .lines()
        .step_by(stride())
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(preds.len(), want.len(), "{stem}: image count");
    let differ: Vec<usize> = (0..preds.len()).filter(|&i| preds[i] != want[i]).collect();
    assert!(
        differ.is_empty(),
        "{stem}: {} of {} predictions differ from x86-64, e.g. images {:?}",
        differ.len(),
        preds.len(),
        &differ[..differ.len().min(5)]
    );
}

#[test]
fn blurafterconv_predictions_match_x86() {
    check("resnet18r-blurafterconv");
}

#[test]
fn baseline_predictions_match_x86() {
    check("resnet18r-baseline");
}

/// The int8 model runs on integer kernels (every convolution an int8 matmul
/// or the integer depthwise operator; only the float classifier is a float
/// matmul) and answers as onnxruntime does on the same QDQ file.
#[test]
fn int8_runs_as_integers_and_agrees_with_onnxruntime() {
    let stem = "resnet18r-blurafterconv.int8";
    let path = models_dir().join(format!("{stem}.onnx"));
    let pre = Preprocess::from_info(&ModelInfo::from_onnx_file(&path).unwrap()).unwrap();
    let engine = Engine::load(&path, &pre.shape).unwrap();
    let rewritten = engine.int8.clone().expect("detected as int8");
    assert_eq!(
        (rewritten.convs, rewritten.adds, rewritten.pools),
        (23, 8, 1)
    );
    let k = nyquist_runtime::profile::kernels(&engine);
    assert!(k.int8_matmuls >= 20 && k.float_matmuls <= 1, "{}", k.line());

    let (outputs, _) = outputs(stem);
    let preds: Vec<usize> = outputs.iter().map(|o| argmax(o).unwrap()).collect();
    check_recorded(stem, &preds);
    let ort: Vec<usize> =
        std::fs::read_to_string(models_dir().join(format!("{stem}.ort-predictions.txt")))
            .unwrap()
            .lines()
            .step_by(stride())
            .map(|l| l.parse().unwrap())
            .collect();
    assert_eq!(ort.len(), preds.len());
    let agree = preds.iter().zip(&ort).filter(|(a, b)| a == b).count();
    // ≥ 99.5 % on the whole set; on a stride, allow the same rate rounded up.
    let allowed = (preds.len() as f64 * 0.005).ceil() as usize;
    assert!(
        preds.len() - agree <= allowed,
        "top-1 agrees with onnxruntime on {agree} of {} images (≥ 99.5 % wanted)",
        preds.len()
    );
    // Logits: upstream requantizations may differ by one LSB (rounding of
    // ties, fixed-point multipliers); the effect on the logits stays small.
    let ort_logits: Vec<Vec<f32>> =
        std::fs::read_to_string(models_dir().join(format!("{stem}.ort-logits.txt")))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let (mut worst, mut sum, mut n) = (0f32, 0f32, 0usize);
    for (i, want) in ort_logits.iter().enumerate().step_by(stride()) {
        for (a, b) in outputs[i / stride()].iter().zip(want) {
            worst = worst.max((a - b).abs());
            sum += (a - b).abs();
            n += 1;
        }
    }
    assert!(
        worst <= 0.6 && sum / n as f32 <= 0.1,
        "logits vs onnxruntime: max |Δ| {worst}, mean {}",
        sum / n as f32
    );
}
