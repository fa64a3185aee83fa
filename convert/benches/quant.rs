//! tract latency of the float model against its int8 forms (QDQ, which tract
//! runs as float convs; QLinearConv, which runs on tract's int8 kernels), for
//! the bundled Fashion-MNIST model and a 224×224 BlurAfterConv ResNet-18
//! (random weights, calibrated on random inputs). The models are also written
//! to `target/bench-quant/` so `cargo xtask bench quant` can time onnxruntime
//! on the same files.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion};
use nyquist_convert::synth::{resnet, Family, ResNetSpec};
use nyquist_convert::verify::Samples;
use nyquist_convert::{convert, BlurMode, Options};
use nyquist_onnx as onnx;
use nyquist_quant::{quantize, QuantOptions};
use nyquist_runtime::{dataset, Engine, ModelInfo, Preprocess};
use prost::Message;

fn out_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-quant");
    std::fs::create_dir_all(&d).expect("target/bench-quant");
    d
}

fn forms(
    name: &str,
    model: &onnx::Model,
    calib: &[Vec<f32>],
    shape: &[usize],
) -> Vec<(String, Engine)> {
    let c = convert(
        model,
        &Options {
            mode: BlurMode::Auto,
            random_samples: 2,
            input_shape: Some(shape.to_vec()),
            // The cost-chosen plan (see benches/convert.rs).
            max_random_deviation: f64::INFINITY,
            ..Options::default()
        },
    )
    .expect("convert");
    let q = quantize(&c.model, calib, shape, None, &QuantOptions::default()).expect("quantize");
    let mut v = Vec::new();
    for (form, proto) in [
        ("float", &c.model),
        ("qdq", &q.qdq),
        ("qlinear", &q.qlinear),
    ] {
        let bytes = proto.encode_to_vec();
        std::fs::write(out_dir().join(format!("{name}.{form}.onnx")), &bytes).expect("write");
        v.push((
            form.to_string(),
            Engine::from_onnx_bytes(&bytes, Path::new(form), shape).expect("tract"),
        ));
    }
    v
}

fn bench(c: &mut Criterion) {
    // The bundled model, calibrated on the bundled images.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = root.join("models/fmnist/resnet18r-blurafterconv.onnx");
    let model = onnx::load_model(&path).expect("bundled model");
    let info = ModelInfo::from_onnx_file(&path).expect("metadata");
    let pre = Preprocess::from_info(&info).expect("preprocess");
    let calib: Vec<Vec<f32>> = dataset::list_images(&root.join("models/fmnist/calib"))
        .expect("calib")
        .iter()
        .take(200)
        .map(|p| pre.tensor(&nyquist_runtime::preprocess::open_image(p).expect("image")))
        .collect();
    let fm = forms("fmnist_32", &model, &calib, &pre.shape);
    // ResNet-18 at 224, random weights, random calibration.
    let big = resnet(&ResNetSpec::imagenet(Family::BlurAfterConv));
    let shape = [1, 3, 224, 224];
    let rc = Samples::random(8, 3 * 224 * 224, 3).inputs;
    let rn = forms("resnet18_224", &big, &rc, &shape);
    for (group, engines, n) in [
        ("fmnist_32", &fm, 32 * 32),
        ("resnet18_224", &rn, 3 * 224 * 224),
    ] {
        let x = Samples::random(1, n, 11).inputs.remove(0);
        let mut g = c.benchmark_group(group);
        g.sample_size(if n > 10_000 { 20 } else { 100 });
        for (form, e) in engines {
            g.bench_function(form.as_str(), |b| b.iter(|| e.run(&x).expect("run")));
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
