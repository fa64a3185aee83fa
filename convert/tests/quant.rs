//! int8 quantization: the arithmetic against a hand computation, the forms
//! against each other, the GELU / SiLU tables, equalization, and the gate.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::run_tract;
use nyquist_convert::synth::{resnet, Family, ResNetSpec};
use nyquist_convert::verify::Samples;
use nyquist_onnx::attr::{make_int, make_ints, node};
use nyquist_onnx::pb::{
    tensor_shape_proto, type_proto, GraphProto, ModelProto, OperatorSetIdProto, TensorShapeProto,
    TypeProto, ValueInfoProto,
};
use nyquist_onnx::Tensor;
use nyquist_quant::params::{TensorQuant, WeightQuant};
use nyquist_quant::{quantize, Method, QuantOptions};

fn vi(name: &str, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(1),
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| tensor_shape_proto::Dimension {
                            value: Some(tensor_shape_proto::dimension::Value::DimValue(d)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One 3x3 conv, 2 input and 2 output channels whose weights differ by 1000x.
fn one_conv() -> ModelProto {
    let w: Vec<f32> = (0..36)
        .map(|i| {
            if i < 18 {
                (i as f32 - 9.0) / 9.0
            } else {
                (i as f32 - 27.0) / 9000.0
            }
        })
        .collect();
    let g = GraphProto {
        node: vec![node(
            "Conv",
            "conv",
            &["x", "w", "b"],
            &["y"],
            vec![
                make_ints("kernel_shape", &[3, 3]),
                make_ints("pads", &[1, 1, 1, 1]),
                make_int("group", 1),
            ],
        )],
        initializer: vec![
            Tensor::f32(vec![2, 2, 3, 3], w).to_proto("w"),
            Tensor::f32(vec![2], vec![0.25, -0.0005]).to_proto("b"),
        ],
        input: vec![vi("x", &[1, 2, 6, 6])],
        output: vec![vi("y", &[1, 2, 6, 6])],
        ..Default::default()
    };
    ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(17),
        }],
        graph: Some(g),
        ..Default::default()
    }
}

/// The int8 conv computed by hand: quantize x, integer accumulate, rescale with
/// real arithmetic, round, clamp — the reference both onnx forms must meet.
fn hand_int8_conv(
    x: &[f32],
    xq: TensorQuant,
    w: &WeightQuant,
    b: &[f32],
    yq: TensorQuant,
) -> Vec<f32> {
    let xi: Vec<i32> = x
        .iter()
        .map(|&v| xq.quantize(v) as i32 - xq.zero_point as i32)
        .collect();
    let mut out = vec![0f32; 2 * 36];
    for o in 0..2 {
        let bq = (b[o] as f64 / (xq.scale as f64 * w.scales[o] as f64)).round() as i64;
        for y in 0..6i32 {
            for xx in 0..6i32 {
                let mut acc = bq;
                for i in 0..2 {
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let (sy, sx) = (y + ky - 1, xx + kx - 1);
                            if (0..6).contains(&sy) && (0..6).contains(&sx) {
                                acc += xi[i * 36 + sy as usize * 6 + sx as usize] as i64
                                    * w.data[(o * 2 + i) * 9 + (ky * 3 + kx) as usize] as i64;
                            }
                        }
                    }
                }
                let real = acc as f64 * xq.scale as f64 * w.scales[o] as f64;
                let q =
                    ((real / yq.scale as f64).round() + yq.zero_point as f64).clamp(-128.0, 127.0);
                out[o * 36 + y as usize * 6 + xx as usize] =
                    ((q - yq.zero_point as f64) * yq.scale as f64) as f32;
            }
        }
    }
    out
}

#[test]
fn per_channel_int8_conv_matches_the_hand_computation() {
    let m = one_conv();
    let calib = Samples::random(16, 72, 3).inputs;
    let q = quantize(
        &m,
        &calib,
        &[1, 2, 6, 6],
        None,
        &QuantOptions {
            method: Method::MinMax,
            ..QuantOptions::default()
        },
    )
    .unwrap();
    assert_eq!(q.report.qlinear_convs, 1);
    let (xq, yq) = (q.params.tensors["x"], q.params.tensors["y"]);
    let w = &q.params.weights["w"];
    assert!(
        w.scales[0] / w.scales[1] > 500.0,
        "per-channel scales: {:?}",
        w.scales
    );
    let x = Tensor::f32(
        vec![1, 2, 6, 6],
        Samples::random(1, 72, 77).inputs.remove(0),
    );
    let want = hand_int8_conv(x.as_f32().unwrap(), xq, w, &q.params.biases["conv"], yq);
    for (form, model) in [("QDQ", &q.qdq), ("QLinearConv", &q.qlinear)] {
        let got = &run_tract(model, &x, &[])["y"].data;
        for (i, (g, e)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - e).abs() <= yq.scale * 1.001,
                "{form}: output {i} is {g}, hand-computed {e} (scale {})",
                yq.scale
            );
        }
    }
    // Channel 1's weights keep 7 bits of precision; one per-tensor scale would flush them to 0.
    assert!(
        w.data[18..].iter().filter(|&&v| v.abs() >= 64).count() >= 8,
        "{:?}",
        &w.data[18..]
    );
}

#[test]
fn quantized_resnets_track_the_float_model_and_gelu_becomes_a_table() {
    for (family, gelu) in [(Family::BlurAfterConv, true), (Family::Plain, false)] {
        let spec = ResNetSpec {
            gelu,
            ..ResNetSpec::tiny(family)
        };
        let m = resnet(&spec).proto;
        let calib = Samples::random(48, 256, 5).inputs;
        let q = quantize(&m, &calib, &[1, 1, 16, 16], None, &QuantOptions::default()).unwrap();
        let gelus = m
            .graph
            .as_ref()
            .unwrap()
            .node
            .iter()
            .filter(|n| n.op_type() == "Erf")
            .count();
        assert_eq!(q.report.luts.len(), gelus, "{family:?}");
        assert!(
            q.report.float_nodes.is_empty(),
            "{:?}",
            q.report.float_nodes
        );
        let x = Tensor::f32(
            vec![4, 1, 16, 16],
            Samples::random(4, 256, 9).inputs.concat(),
        );
        let f = &run_tract(&m, &x, &[])["logits"].data;
        let scale = f.iter().fold(0f32, |a, v| a.max(v.abs()));
        for (form, model) in [("QDQ", &q.qdq), ("QLinearConv", &q.qlinear)] {
            let g = &run_tract(model, &x, &[])["logits"].data;
            let err = g.iter().zip(f).fold(0f32, |a, (p, q)| a.max((p - q).abs()));
            assert!(
                err < 0.1 * scale,
                "{family:?} {form}: max |Δ logits| {err} vs scale {scale}"
            );
        }
    }
}

#[test]
fn equalization_is_exact_through_relu() {
    let spec = ResNetSpec {
        gelu: false,
        ..ResNetSpec::tiny(Family::Plain)
    };
    let m = resnet(&spec).proto;
    let calib = Samples::random(8, 256, 5).inputs;
    let q = quantize(
        &m,
        &calib,
        &[1, 1, 16, 16],
        None,
        &QuantOptions {
            equalize: true,
            ..QuantOptions::default()
        },
    )
    .unwrap();
    assert!(q.report.equalized.len() >= 8, "{:?}", q.report.equalized);
    let x = Tensor::f32(
        vec![2, 1, 16, 16],
        Samples::random(2, 256, 1).inputs.concat(),
    );
    let a = &run_tract(&m, &x, &[])["logits"].data;
    let b = &run_tract(&q.float, &x, &[])["logits"].data;
    assert!(
        a.iter()
            .zip(b)
            .all(|(p, q)| (p - q).abs() < 1e-3 * (1.0 + p.abs())),
        "{a:?} {b:?}"
    );
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn convert(args: &[&str]) -> (Option<i32>, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_nyquist-convert"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// `args` with the output `from` replaced by `to`, and `extra` appended.
fn moved<'a>(args: &[&'a str], from: &Path, to: &'a Path, extra: &'a str) -> Vec<&'a str> {
    args.iter()
        .map(|&a| {
            if Path::new(a) == from {
                to.to_str().unwrap()
            } else {
                a
            }
        })
        .chain([extra])
        .collect()
}

const GATE: [&str; 8] = [
    "--consistency-images",
    "600",
    "--eval-limit",
    "60",
    "--corruptions",
    "gaussian_noise,fog",
    "--severities",
    "1,4",
];

#[test]
fn gate_passes_on_the_bundled_model_and_fails_on_constant_calibration() {
    let model = root().join("models/fmnist/resnet18r-blurafterconv.onnx");
    let (calib, eval) = (
        root().join("models/fmnist/calib"),
        root().join("models/fmnist/eval"),
    );
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("m.nyq.onnx");
    let mut args = vec![
        model.to_str().unwrap(),
        "--fold-blur",
        "--quantize",
        "int8",
        "--calib",
        calib.to_str().unwrap(),
        "--calib-limit",
        "100",
        "--eval",
        eval.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-q",
    ];
    args.extend(GATE);
    let (code, text) = convert(&args);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("gate PASSED"), "{text}");
    assert_eq!(
        files(d.path()),
        [
            "m.ce.svg",
            "m.int8.onnx",
            "m.int8.tract.onnx",
            "m.nyq.onnx",
            "m.nyq.report.json",
            "m.nyq.report.md"
        ]
    );
    let md = std::fs::read_to_string(d.path().join("m.nyq.report.md")).unwrap();
    assert!(
        md.contains("## Robustness gate")
            && md.contains("| int8 |")
            && md.contains("Gelu")
            && md.contains("shift consistency %")
            && md.contains("Per-layer quantization error"),
        "{md}"
    );
    assert!(text.contains("shift consistency"), "{text}");
    // The same run held to an impossible consistency tolerance fails on it.
    let d3 = tempfile::tempdir().unwrap();
    let out3 = d3.path().join("m.nyq.onnx");
    let strict = moved(&args, &out, &out3, "--consistency-tolerance=-100");
    let (code, text) = convert(&strict);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("gate FAILED") && text.contains("shift consistency"),
        "{text}"
    );

    // A calibration set of constant images squeezes every range to nothing.
    let bad = tempfile::tempdir().unwrap();
    for i in 0..20 {
        image::GrayImage::from_pixel(28, 28, image::Luma([128]))
            .save(bad.path().join(format!("c{i}.png")))
            .unwrap();
    }
    let d2 = tempfile::tempdir().unwrap();
    let out2 = d2.path().join("m.nyq.onnx");
    let mut args = vec![
        model.to_str().unwrap(),
        "--fold-blur",
        "--quantize",
        "int8",
        "--calib",
        bad.path().to_str().unwrap(),
        "--eval",
        eval.to_str().unwrap(),
        "-o",
        out2.to_str().unwrap(),
        "-q",
    ];
    args.extend(GATE);
    let (code, text) = convert(&args);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("gate FAILED"), "{text}");
    assert_eq!(
        files(d2.path()),
        ["m.ce.svg", "m.nyq.report.json", "m.nyq.report.md"],
        "no model written"
    );

    // `--repair` keeps layers in float until the same run passes. The stem
    // conv must be among them: constant calibration squeezes the image's
    // range to one value, and only a float stem leaves the image unquantized.
    let d4 = tempfile::tempdir().unwrap();
    let out4 = d4.path().join("m.nyq.onnx");
    let repair = moved(&args, &out2, &out4, "--repair");
    let (code, text) = convert(&repair);
    assert_eq!(code, Some(0), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("repair: "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("kept in float") && line.contains("/stem/stem.0/Conv"),
        "{line}"
    );
    assert!(text.contains("gate PASSED"), "{text}");
    assert!(files(d4.path()).contains(&"m.int8.tract.onnx".to_string()));
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d4.path().join("m.nyq.report.json")).unwrap(),
    )
    .unwrap();
    let r = &json["quantization"]["repair"];
    assert_eq!(r["passed"], true, "{r}");
    let steps = r["steps"].as_array().unwrap();
    assert!(!steps[0]["line"].as_str().unwrap().is_empty());
    assert!(steps.last().unwrap()["passed"].as_bool().unwrap());
    let share = r["macs_share"].as_f64().unwrap();
    assert!(share > 0.0 && share < 1.0, "{share}");
    let md = std::fs::read_to_string(d4.path().join("m.nyq.report.md")).unwrap();
    assert!(
        md.contains("### Repair") && md.contains("- before: gate FAILED"),
        "{md}"
    );
}

#[test]
fn nqm_export_refuses_float_layers_by_name() {
    let model = root().join("models/fmnist/resnet18r-blurafterconv.onnx");
    let calib = root().join("models/fmnist/calib");
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("m.nyq.onnx");
    let (code, text) = convert(&[
        model.to_str().unwrap(),
        "--fold-blur",
        "--quantize",
        "int8",
        "--calib",
        calib.to_str().unwrap(),
        "--calib-limit",
        "8",
        "--no-gate",
        "--exclude",
        "/fc/Gemm",
        "--emit",
        "nqm",
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("cannot export .nqm") && text.contains("`/fc/Gemm` (kept in float"),
        "{text}"
    );
    assert!(!files(d.path())
        .iter()
        .any(|f| f.ends_with(".onnx") || f.ends_with(".nqm")));
}

#[test]
fn quantization_input_errors_are_clear() {
    let model = root().join("models/fmnist/resnet18r-blurafterconv.onnx");
    let m = model.to_str().unwrap();
    let eval = root().join("models/fmnist/eval");
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("o.nyq.onnx");
    let o = out.to_str().unwrap();
    let (code, text) = convert(&[
        m,
        "--quantize",
        "int8",
        "--eval",
        eval.to_str().unwrap(),
        "-o",
        o,
    ]);
    assert_eq!(code, Some(1));
    assert!(text.contains("needs --calib"), "{text}");
    let empty = tempfile::tempdir().unwrap();
    let (code, text) = convert(&[
        m,
        "--quantize",
        "int8",
        "--calib",
        empty.path().to_str().unwrap(),
        "--no-gate",
        "-o",
        o,
    ]);
    assert_eq!(code, Some(1));
    assert!(text.contains("no images"), "{text}");
    let rgb = tempfile::tempdir().unwrap();
    image::RgbImage::from_pixel(28, 28, image::Rgb([10, 200, 30]))
        .save(rgb.path().join("color.png"))
        .unwrap();
    let (code, text) = convert(&[
        m,
        "--quantize",
        "int8",
        "--calib",
        rgb.path().to_str().unwrap(),
        "--no-gate",
        "-o",
        o,
    ]);
    assert_eq!(code, Some(1));
    assert!(
        text.contains("color.png") && text.contains("3 channel"),
        "{text}"
    );
    let (code, text) = convert(&[
        m,
        "--quantize",
        "int8",
        "--calib",
        rgb.path().to_str().unwrap(),
        "--no-gate",
        "--mce-tolerance=-1",
        "-o",
        o,
    ]);
    assert_eq!(code, Some(1));
    assert!(text.contains("non-negative"), "{text}");
    assert!(files(d.path()).is_empty(), "{:?}", files(d.path()));
}

/// The per-layer table: every calibrated tensor, worst first, weights'
/// SQNR for every conv; and the input's SQNR as the uniform quantizer's
/// noise (Δ²/12) predicts it — an analytic reference.
#[test]
fn per_layer_error_table_ranks_tensors_and_matches_quantization_noise() {
    let spec = ResNetSpec::tiny(Family::BlurAfterConv);
    let m = resnet(&spec).proto;
    let calib = Samples::random(32, 256, 5).inputs;
    let q = quantize(
        &m,
        &calib,
        &[1, 1, 16, 16],
        None,
        &QuantOptions {
            method: Method::MinMax,
            ..QuantOptions::default()
        },
    )
    .unwrap();
    let layers = &q.report.layers;
    assert!(layers.len() >= 10, "{} rows", layers.len());
    assert!(layers.windows(2).all(|w| w[0].sqnr_db <= w[1].sqnr_db));
    let convs = q
        .graph
        .ops
        .iter()
        .filter(|o| matches!(o, nyquist_quant::QOp::Conv { .. }))
        .count();
    let with_weights = layers.iter().filter(|l| l.weight_sqnr_db.is_some()).count();
    assert!(with_weights >= convs / 2, "{with_weights} of {convs}");
    for l in layers {
        assert!(l.sqnr_db > 5.0, "{l:?}");
        // minmax ranges clip nothing (histogram resolution aside).
        assert!(l.clipped < 1e-3, "{l:?}");
        if let Some(w) = l.weight_sqnr_db {
            assert!(w > 25.0, "{l:?}");
        }
    }
    // The input: min-max range, uniform noise of power Δ²/12.
    let input = layers
        .iter()
        .find(|l| l.tensor == "input")
        .expect("input row");
    let step = (input.range.1 - input.range.0) as f64 / 255.0;
    let power: f64 = calib
        .iter()
        .flatten()
        .map(|&v| (v as f64).powi(2))
        .sum::<f64>()
        / calib.iter().map(Vec::len).sum::<usize>() as f64;
    let predicted = 10.0 * (power / (step * step / 12.0)).log10();
    assert!(
        (input.sqnr_db - predicted).abs() < 1.0,
        "input SQNR {:.2} dB, Δ²/12 predicts {predicted:.2} dB",
        input.sqnr_db
    );
}

/// The int8 branch as a library call, without the CLI: quantize the bundled
/// model, gate it on a few eval images, encode the `.nqm` blob; every
/// artifact comes back in memory and the blob loads in the engine.
#[test]
fn int8_branch_runs_as_a_library_call() {
    use nyquist_convert::gate::GateOptions;
    use nyquist_convert::int8::{self, Int8Inputs, Int8Options};
    use nyquist_convert::{pipeline, BlurMode, Options};
    use nyquist_corrupt::Corruption;
    use nyquist_runtime::eval::EvalOptions;
    use nyquist_runtime::{dataset, ModelInfo, Preprocess};

    let path = root().join("models/fmnist/resnet18r-blurafterconv.onnx");
    let model = nyquist_onnx::io::load_model(&path).unwrap();
    let bytes = model.inlined_bytes().unwrap();
    let info = ModelInfo::from_onnx_bytes(&bytes, &path).unwrap();
    let pre = Preprocess::from_info(&info).unwrap();
    let conv = pipeline::convert(
        &model,
        &Options {
            mode: BlurMode::Off,
            random_samples: 2,
            ..Options::default()
        },
    )
    .unwrap();
    let calib = pre
        .folder_tensors(&root().join("models/fmnist/calib"), 40)
        .unwrap();
    let data = dataset::open(
        &root().join("models/fmnist/eval"),
        "t10k",
        info.labels().unwrap().as_deref(),
    )
    .unwrap();
    let gate = GateOptions {
        eval: EvalOptions {
            corruptions: vec![Corruption::GaussianNoise],
            severities: vec![3],
            limit: Some(40),
            ..EvalOptions::default()
        },
        mce_tolerance: 100.0,
        acc_tolerance: 100.0,
        consistency_tolerance: 100.0,
        consistency_images: 0,
        disabled: false,
    };
    let original_model = model.inlined().unwrap();
    let inputs = Int8Inputs {
        original: &bytes,
        original_model: &original_model,
        conversion: &conv,
        base_dir: model.base_dir(),
        calib: &calib,
        preprocess: &pre,
        eval: Some(&data),
        nqm_check: &calib,
        names: ["a.onnx", "b.onnx", "c.onnx"],
    };
    let opts = Int8Options {
        quant: QuantOptions::default(),
        gate: Some(gate),
        repair: false,
        nqm: true,
        board: None,
    };
    let mut lines = Vec::new();
    let out = int8::run(&inputs, &opts, |l| lines.push(l.to_string())).unwrap();
    assert!(lines.is_empty(), "no repair, no progress lines: {lines:?}");
    let verdict = out.section.verdict.as_ref().unwrap();
    assert!(verdict.passed, "{}", verdict.line);
    let roles: Vec<&str> = out
        .section
        .figures
        .iter()
        .map(|f| f.role.as_str())
        .collect();
    assert_eq!(roles, ["original", "converted", "int8"]);
    let files: Vec<&str> = out
        .section
        .figures
        .iter()
        .map(|f| f.file.as_str())
        .collect();
    assert_eq!(files, ["a.onnx", "b.onnx", "c.onnx"]);
    let blob = out.nqm.as_ref().unwrap();
    let m = nyquist_nqm::Model::from_bytes(blob).unwrap();
    assert_eq!(m.input.len(), 32 * 32);
    let (_, check) = out.section.nqm.as_ref().unwrap();
    assert_eq!(check.samples, 40);
    assert!(check.top1_agreement >= 0.99, "{check:?}");
    assert_eq!(out.refusal(), None);

    // Without evaluation images the gate cannot run: refused by name.
    let err = int8::run(
        &Int8Inputs {
            eval: None,
            ..inputs
        },
        &opts,
        |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("--eval"), "{err}");
}

/// `--emit nqm` prints and writes the deployment estimate; `--board` checks
/// the blob against a board and an unknown board is refused before any work.
#[test]
fn nqm_export_writes_the_deployment_estimate_and_checks_the_board() {
    let model = root().join("models/fmnist/resnet18r-blurafterconv.onnx");
    let calib = root().join("models/fmnist/calib");
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("m.nyq.onnx");
    let args = |board: &'static str| -> Vec<String> {
        [
            model.to_str().unwrap(),
            "--fold-blur",
            "--quantize",
            "int8",
            "--calib",
            calib.to_str().unwrap(),
            "--calib-limit",
            "8",
            "--no-gate",
            "--emit",
            "nqm",
            "--board",
            board,
            "-o",
            out.to_str().unwrap(),
            "-q",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run = |a: Vec<String>| convert(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let (code, text) = run(args("esp32"));
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("--board esp32: unknown board") && text.contains("pico2"),
        "{text}"
    );
    let (code, text) = run(args("pico2"));
    assert_eq!(code, Some(0), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("deploy estimate:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("cortex-m33-dsp")
            && line.contains("cortex-m55-helium")
            && line.ends_with("fits pico2"),
        "{line}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("m.nyq.report.json")).unwrap())
            .unwrap();
    let dep = &json["quantization"]["deployment"];
    let blob = std::fs::metadata(d.path().join("m.nqm")).unwrap().len();
    assert_eq!(dep["blob_bytes"].as_u64(), Some(blob));
    assert_eq!(dep["layers"].as_array().unwrap().len(), 54);
    // The bundled model's DSP estimate is near what the board measured
    // (firmware/bench/qemu-an386.json, written by `cargo xtask fw bench`),
    // and its cycle estimate scales it by that run's cycles per instruction.
    let bench: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("firmware/bench/qemu-an386.json")).unwrap(),
    )
    .unwrap();
    let dsp = bench["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["kernels"] == "dsp")
        .unwrap();
    let measured = dsp["instructions"].as_f64().unwrap();
    let m33 = dep["cores"][0]["instructions"].as_f64().unwrap();
    assert!((m33 / measured - 1.0).abs() < 0.05, "{m33} vs {measured}");
    let cpi = dsp["est_cycles"].as_f64().unwrap() / measured;
    let cycles = dep["cores"][0]["est_cycles"].as_f64().unwrap();
    assert!((cycles / (m33 * cpi) - 1.0).abs() < 1e-6, "{cycles}");
    let md = std::fs::read_to_string(d.path().join("m.nyq.report.md")).unwrap();
    assert!(
        md.contains("### Deployment estimate") && md.contains("Board `pico2`: fits"),
        "{md}"
    );
}
