//! The committed reference models still do what their model cards say: accuracy
//! on the committed evaluation subset with tract equals the card's figure
//! (measured with onnxruntime by `models/recipe/card.py`) within 0.5 points.

use std::path::{Path, PathBuf};

use nyquist_runtime::dataset;
use nyquist_runtime::eval::{evaluate, EvalOptions, ModelRef};
use nyquist_runtime::{Engine, ModelInfo, Preprocess};

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/fmnist")
}

fn card(stem: &str) -> serde_json::Value {
    let p = models_dir().join(format!("{stem}.card.json"));
    serde_json::from_str(
        &std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
    )
    .unwrap()
}

fn check(stem: &str) {
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
    let opts = EvalOptions {
        clean_only: true,
        ..EvalOptions::default()
    };
    let r = evaluate(
        &engine,
        None,
        &pre,
        &data,
        ModelRef::of_file(&path).unwrap(),
        &opts,
        None,
    )
    .unwrap();
    let acc = 1.0 - r.clean_error.unwrap();
    let want = card(stem)["eval_subset_accuracy"]
        .as_f64()
        .expect("card has eval_subset_accuracy");
    assert!(
        (acc - want).abs() <= 0.005,
        "{stem}: tract accuracy {acc:.4} vs model card {want:.4}"
    );
    assert!(
        card(stem)["test_accuracy"].as_f64().unwrap() >= 0.90,
        "{stem}: below the 90% target"
    );
}

#[test]
fn blurafterconv_matches_its_card() {
    check("resnet18r-blurafterconv");
}

#[test]
fn baseline_matches_its_card() {
    check("resnet18r-baseline");
}
