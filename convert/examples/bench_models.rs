//! Write the models `cargo xtask bench runtime` times with `nyquist bench` and
//! onnxruntime, into the folder given (default `target/bench-runtime`):
//!
//! * `resnet18_224_plain.onnx` — ResNet-18, 224×224, no blurs (random weights);
//! * `resnet18_224_blurafterconv.onnx` — the same with BlurAfterConv blurs, as exported;
//! * `resnet18_224_blurafterconv.nyq.onnx` — that one after `--fold-blur` (auto);
//! * `resnet18_224.int8.onnx` / `.int8.tract.onnx` — the converted ResNet-18 in
//!   int8 (QDQ and QLinearConv forms), calibrated on seeded uniform-noise images;
//! * `fmnist_32.nyq.onnx` / `.int8.onnx` / `.int8.tract.onnx` — the bundled model
//!   converted, then int8 (QDQ and QLinearConv forms) calibrated on the bundled
//!   calibration images;
//! * `fmnist_32.plain.onnx` — its plain twin (the bundled baseline, BN folded).

use std::path::{Path, PathBuf};

use anyhow::Context;
use nyquist_convert::synth::{resnet, Family, ResNetSpec};
use nyquist_convert::{convert, BlurMode, Options};
use nyquist_onnx as onnx;
use nyquist_onnx::io::write_atomic;
use nyquist_onnx::pb::ModelProto;
use nyquist_quant::{quantize, QuantOptions};
use nyquist_runtime::{dataset, ModelInfo, Preprocess};
use prost::Message;
use rand::{Rng, SeedableRng};

fn converted(m: &onnx::Model, shape: &[usize]) -> anyhow::Result<ModelProto> {
    let opts = Options {
        mode: BlurMode::Auto,
        random_samples: 2,
        input_shape: Some(shape.to_vec()),
        // The benchmark compares the whole cost-chosen plan with the plain
        // twin at equal MACs: the plan the agreement guard keeps on the
        // bundled eval images (99.50 %); the 224 network's weights are
        // random, where the random-input bound (set for trained models)
        // says nothing.
        max_random_deviation: f64::INFINITY,
        ..Options::default()
    };
    Ok(convert(m, &opts)?.model)
}

fn main() -> anyhow::Result<()> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/bench-runtime".into()),
    );
    std::fs::create_dir_all(&out)?;
    let save = |name: &str, bytes: Vec<u8>| {
        write_atomic(&out.join(name), &bytes).with_context(|| name.to_string())
    };
    let shape = [1, 3, 224, 224];
    save(
        "resnet18_224_plain.onnx",
        resnet(&ResNetSpec::imagenet(Family::Plain))
            .proto
            .encode_to_vec(),
    )?;
    let bac = resnet(&ResNetSpec::imagenet(Family::BlurAfterConv));
    save("resnet18_224_blurafterconv.onnx", bac.proto.encode_to_vec())?;
    save(
        "resnet18_224_blurafterconv.nyq.onnx",
        converted(&bac, &shape)?.encode_to_vec(),
    )?;

    let path = Path::new("models/fmnist/resnet18r-blurafterconv.onnx");
    let model = onnx::load_model(path)?;
    let pre = Preprocess::from_info(&ModelInfo::from_onnx_file(path)?)?;
    let calib: Vec<Vec<f32>> = dataset::list_images(Path::new("models/fmnist/calib"))?
        .iter()
        .take(200)
        .map(|p| Ok(pre.tensor(&nyquist_runtime::preprocess::open_image(p)?)))
        .collect::<anyhow::Result<_>>()?;
    let conv = converted(&model, &pre.shape)?;
    let q = quantize(&conv, &calib, &pre.shape, None, &QuantOptions::default())?;
    save("fmnist_32.nyq.onnx", conv.encode_to_vec())?;
    save("fmnist_32.int8.onnx", q.qdq.encode_to_vec())?;
    save("fmnist_32.int8.tract.onnx", q.qlinear.encode_to_vec())?;
    // The plain twin: the bundled baseline (no blurs, ReLU), BN folded.
    let plain = onnx::load_model(Path::new("models/fmnist/resnet18r-baseline.onnx"))?;
    save(
        "fmnist_32.plain.onnx",
        converted(&plain, &pre.shape)?.encode_to_vec(),
    )?;

    // ResNet-18 224 int8: the converted network, calibrated on seeded
    // uniform-noise images (its weights are random too: this model is for speed).
    let conv224 = converted(&bac, &shape)?;
    let n: usize = shape.iter().product();
    let calib224: Vec<Vec<f32>> = (0..8u64)
        .map(|s| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(s);
            (0..n).map(|_| rng.random_range(-2.0f32..2.0)).collect()
        })
        .collect();
    let q224 = quantize(&conv224, &calib224, &shape, None, &QuantOptions::default())?;
    save("resnet18_224.int8.onnx", q224.qdq.encode_to_vec())?;
    save("resnet18_224.int8.tract.onnx", q224.qlinear.encode_to_vec())?;
    println!("wrote 9 models to {}", out.display());
    Ok(())
}
