//! The NNEF form (`nyquist-convert --emit nnef`): an archive written from the
//! bundled model loads, keeps the `nyquist.*` metadata, and classifies the
//! committed images exactly as the ONNX original; a damaged archive is an error.

use std::path::{Path, PathBuf};

use nyquist_runtime::engine::{argmax, nnef_metadata, onnx_to_nnef};
use nyquist_runtime::{dataset, Engine, ModelInfo, Preprocess};

fn bundled() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/fmnist/resnet18r-blurafterconv.onnx")
}

#[test]
fn nnef_archive_matches_the_onnx_model() {
    let path = bundled();
    let info = ModelInfo::from_onnx_file(&path).unwrap();
    let pre = Preprocess::from_info(&info).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let archive = onnx_to_nnef(&bytes, &path, &pre.shape, &info.props).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let nnef = dir.path().join("m.nnef.tgz");
    std::fs::write(&nnef, &archive).unwrap();

    let meta = nnef_metadata(&nnef).expect("nyquist.json in the archive");
    assert_eq!(meta, info.props, "metadata survives");

    let (a, b) = (
        Engine::load(&path, &pre.shape).unwrap(),
        Engine::load(&nnef, &pre.shape).unwrap(),
    );
    let data = dataset::open(
        &path.parent().unwrap().join("eval"),
        "t10k",
        info.labels().unwrap().as_deref(),
    )
    .unwrap();
    for it in data.clean.iter().step_by(40) {
        let x = pre.tensor(&it.source.load().unwrap());
        let (ya, yb) = (&a.run(&x).unwrap()[0].data, &b.run(&x).unwrap()[0].data);
        assert_eq!(argmax(ya), argmax(yb));
        let worst = ya
            .iter()
            .zip(yb.iter())
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-4, "logits differ by {worst}");
    }
}

#[test]
fn damaged_nnef_archive_is_an_error() {
    let path = bundled();
    let info = ModelInfo::from_onnx_file(&path).unwrap();
    let pre = Preprocess::from_info(&info).unwrap();
    let archive = onnx_to_nnef(
        &std::fs::read(&path).unwrap(),
        &path,
        &pre.shape,
        &info.props,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.nnef.tgz");
    std::fs::write(&cut, &archive[..archive.len() / 2]).unwrap();
    let Err(err) = Engine::load(&cut, &pre.shape) else {
        panic!("a truncated archive must not load");
    };
    assert!(err.to_string().contains("cut.nnef.tgz"), "{err}");
}
