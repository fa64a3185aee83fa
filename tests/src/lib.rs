//! Shared helpers of the end-to-end tests (`tests/tests/*.rs`): where the
//! bundled models and data are, and how a model's answers on them are
//! collected and compared. The tests themselves check that the crates agree
//! with each other — convert → runtime → firmware — on the committed data.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nyquist_runtime::dataset::{self, Dataset};
use nyquist_runtime::engine::argmax;
use nyquist_runtime::{Engine, ModelInfo, Preprocess};
use rayon::prelude::*;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository")
        .to_path_buf()
}

/// `models/fmnist`: the bundled models, cards, eval and calibration images.
pub fn models_dir() -> PathBuf {
    root().join("models/fmnist")
}

/// A bundled model file by stem (`resnet18r-blurafterconv`).
pub fn bundled(stem: &str) -> PathBuf {
    models_dir().join(format!("{stem}.onnx"))
}

/// A model's card (`<stem>.card.json`).
pub fn card(stem: &str) -> serde_json::Value {
    let p = models_dir().join(format!("{stem}.card.json"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The committed evaluation set (2,000 images, 200 per class), its classes
/// matched to the model's labels.
pub fn eval_set(info: &ModelInfo) -> Dataset {
    let labels = info.labels().expect("labels in the metadata");
    dataset::open(&models_dir().join("eval"), "t10k", labels.as_deref())
        .expect("models/fmnist/eval")
}

/// Every `stride`-th eval image, preprocessed, with its label.
pub fn eval_inputs(pre: &Preprocess, data: &Dataset, stride: usize) -> (Vec<Vec<f32>>, Vec<usize>) {
    data.clean
        .par_iter()
        .step_by(stride)
        .map(|it| (pre.tensor(&it.source.load().expect("eval image")), it.label))
        .unzip()
}

/// Logits of `engine` on every input.
pub fn logits(engine: &Engine, inputs: &[Vec<f32>]) -> Vec<Vec<f32>> {
    inputs
        .par_iter()
        .map(|x| engine.run(x).expect("inference")[0].data.clone())
        .collect()
}

/// Top-1 classes of a batch of logits.
pub fn top1(logits: &[Vec<f32>]) -> Vec<usize> {
    logits.iter().map(|l| argmax(l).expect("logits")).collect()
}

/// Fraction of positions where `a` and `b` agree.
pub fn agreement(a: &[usize], b: &[usize]) -> f64 {
    assert_eq!(a.len(), b.len(), "compared answers of different lengths");
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64
}

/// Fraction of `preds` equal to `labels`.
pub fn accuracy(preds: &[usize], labels: &[usize]) -> f64 {
    agreement(preds, labels)
}

/// The model's `nyquist.*` metadata, the keys every derived form must keep.
pub fn nyquist_props(info: &ModelInfo) -> BTreeMap<String, String> {
    info.props
        .iter()
        .filter(|(k, _)| k.starts_with("nyquist."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Keys of `want` that `got` lacks or changes (empty when all survive).
pub fn lost_props(want: &BTreeMap<String, String>, got: &BTreeMap<String, String>) -> Vec<String> {
    want.iter()
        .filter(|(k, v)| got.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .collect()
}
