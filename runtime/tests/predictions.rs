//! The bundled models classify the committed evaluation images the same way on
//! every platform: predictions are compared with the ones recorded on x86-64
//! (`NYQUIST_BLESS=1` records them), and CI runs this file on aarch64 under
//! qemu-aarch64 too. Accuracy is also checked against the model cards.
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
    let preds = data
        .clean
        .par_iter()
        .step_by(stride())
        .map(|it| {
            argmax(&engine.run(&pre.tensor(&it.source.load().unwrap())).unwrap()[0].data).unwrap()
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
}

#[test]
fn blurafterconv_predictions_match_x86() {
    check("resnet18r-blurafterconv");
}

#[test]
fn baseline_predictions_match_x86() {
    check("resnet18r-baseline");
}
