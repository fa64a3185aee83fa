//! The whole chain on the bundled model, through the libraries as a program
//! would call them: `pipeline::convert` (auto folding, agreement guard on real
//! images) → `int8::run` (calibrate, quantize, `.nqm`) → NNEF; then every form
//! — original, converted float, NNEF, QDQ on tract's integer path and
//! simulated, the QOperator file, the `.nqm` on the firmware engine's host
//! build — answers the same committed eval images, and each agrees with the
//! form it came from within the bound the product promises for that step.
//! The `nyquist.*` metadata survives every step.

use std::path::Path;

use nyquist_convert::int8::{self, Int8Inputs, Int8Options};
use nyquist_convert::verify::Samples;
use nyquist_convert::{pipeline, BlurMode, Options};
use nyquist_onnx::io::load_model;
use nyquist_quant::QuantOptions;
use nyquist_runtime::engine::{nnef_metadata, onnx_to_nnef, Int8Mode};
use nyquist_runtime::{Engine, ModelInfo, Preprocess};
use nyquist_tests::*;
use prost::Message;

/// Every 8th eval image: 250 images, 25 per class.
const STRIDE: usize = 8;

#[test]
fn bundled_model_agrees_through_every_form() {
    let stem = "resnet18r-blurafterconv";
    let path = bundled(stem);
    let model = load_model(&path).unwrap();
    let original = model.inlined_bytes().unwrap();
    let info = ModelInfo::from_onnx_bytes(&original, &path).unwrap();
    let pre = Preprocess::from_info(&info).unwrap();
    let shape = pre.shape.to_vec();
    let data = eval_set(&info);
    assert_eq!(data.clean.len(), 2000);
    let (inputs, labels) = eval_inputs(&pre, &data, STRIDE);
    assert_eq!(inputs.len(), 250);

    // 1. Blur folding, `auto`, with the agreement guard on the eval images.
    let conv = pipeline::convert(
        &model,
        &Options {
            mode: BlurMode::Auto,
            extra_samples: Some(Samples {
                inputs: inputs.clone(),
                labels: labels.iter().map(|&l| Some(l)).collect(),
                origin: (0..inputs.len()).map(|i| format!("eval #{i}")).collect(),
            }),
            ..Options::default()
        },
    )
    .unwrap();
    assert!(conv.report.passed, "{}", conv.report.summary);
    let (before, after) = (
        conv.report.layers.total_before.macs,
        conv.report.layers.total_after.macs,
    );
    assert!(
        after < before,
        "MACs {before} → {after}: folding saved nothing"
    );
    let guard = conv
        .report
        .guard
        .as_ref()
        .expect("auto guards on real images");
    assert_eq!(guard.images, inputs.len());
    assert!(guard.after >= guard.min_agreement, "{}", guard.line());

    // 2. int8 and the firmware blob, as a library call.
    let calib = pre
        .folder_tensors(&models_dir().join("calib"), 100)
        .unwrap();
    let original_model = model.inlined().unwrap();
    let q = int8::run(
        &Int8Inputs {
            original: &original,
            original_model: &original_model,
            conversion: &conv,
            base_dir: model.base_dir(),
            calib: &calib,
            preprocess: &pre,
            eval: None,
            nqm_check: &inputs,
            names: ["original", "converted", "int8"],
        },
        &Int8Options {
            quant: QuantOptions::default(),
            gate: None,
            repair: false,
            nqm: true,
            board: None,
        },
        |_| {},
    )
    .unwrap();
    assert_eq!(q.refusal(), None);

    // 3. Every form on the same 250 images.
    let label = Path::new("<e2e>");
    let load = |bytes: &[u8]| Engine::from_onnx_bytes(bytes, label, &shape).unwrap();
    let converted = conv.model.encode_to_vec();
    let qdq = q.quantized.qdq.encode_to_vec();
    let qoperator = q.quantized.qlinear.encode_to_vec();
    let dir = tempfile::tempdir().unwrap();
    let nnef_path = dir.path().join("m.nnef.tgz");
    std::fs::write(
        &nnef_path,
        onnx_to_nnef(&converted, label, &shape, &info.props).unwrap(),
    )
    .unwrap();
    let qdq_engine = load(&qdq);
    assert!(qdq_engine.int8.is_some(), "QDQ runs on the integer path");
    let qdq_simulated =
        Engine::from_onnx_bytes_with(&qdq, label, &shape, Int8Mode::Simulate).unwrap();

    let orig_logits = logits(&load(&original), &inputs);
    let conv_logits = logits(&load(&converted), &inputs);
    let nnef_logits = logits(&Engine::load(&nnef_path, &shape).unwrap(), &inputs);
    let p_orig = top1(&orig_logits);
    let p_conv = top1(&conv_logits);
    let p_int = top1(&logits(&qdq_engine, &inputs));
    let p_sim = top1(&logits(&qdq_simulated, &inputs));
    let p_qop = top1(&logits(&load(&qoperator), &inputs));

    // The original answers as recorded on x86-64 (runtime/tests/predictions.rs).
    let recorded: Vec<usize> =
        std::fs::read_to_string(models_dir().join(format!("{stem}.predictions.txt")))
            .unwrap()
            .lines()
            .step_by(STRIDE)
            .map(|l| l.parse().unwrap())
            .collect();
    assert_eq!(p_orig, recorded, "original vs recorded predictions");
    // Folding keeps the predictions (the guard's default bound, 99.5 %).
    let fold = agreement(&p_conv, &p_orig);
    assert!(fold >= 0.995, "converted vs original: {fold}");
    // NNEF is the converted float model, to float rounding.
    assert_eq!(top1(&nnef_logits), p_conv);
    let worst = nnef_logits
        .iter()
        .flatten()
        .zip(conv_logits.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-4, "NNEF vs ONNX logits differ by {worst}");
    // tract's integer kernels agree with the QDQ arithmetic simulated in
    // float, and the QOperator file with the QDQ file.
    assert!(agreement(&p_int, &p_sim) >= 0.99, "integer vs simulated");
    assert!(agreement(&p_qop, &p_int) >= 0.995, "QOperator vs QDQ");
    // int8 costs at most 1.5 points of accuracy here.
    let (acc_f, acc_q) = (accuracy(&p_conv, &labels), accuracy(&p_int, &labels));
    assert!(
        acc_q >= acc_f - 0.015,
        "int8 accuracy {acc_q:.3} vs float {acc_f:.3}"
    );
    // The .nqm blob on the firmware engine (host build) against the QDQ model.
    let (nqm_info, check) = q.section.nqm.as_ref().unwrap();
    assert_eq!(check.samples, inputs.len());
    assert!(
        check.top1_agreement >= 0.99 && check.max_lsb <= check.bound_lsb,
        "{check:?}"
    );
    let blob = q.nqm.as_ref().unwrap();
    let m = nyquist_nqm::Model::from_bytes(blob).unwrap();
    assert_eq!(m.arena_size, nqm_info.arena_size);
    assert_eq!(m.input.len(), inputs[0].len());

    // 4. The metadata survives every step.
    let want = nyquist_props(&info);
    assert!(want.contains_key("nyquist.model.name"), "{want:?}");
    for (form, bytes) in [
        ("converted", &converted),
        ("QDQ", &qdq),
        ("QOperator", &qoperator),
    ] {
        let got = ModelInfo::from_onnx_bytes(bytes, label).unwrap().props;
        assert_eq!(lost_props(&want, &got), Vec::<String>::new(), "{form}");
    }
    let nnef_props = nnef_metadata(&nnef_path).expect("nyquist.json in the archive");
    assert_eq!(lost_props(&want, &nnef_props), Vec::<String>::new(), "NNEF");
}
