//! Helpers shared by the converter's integration tests.
#![allow(dead_code, missing_docs)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use nyquist_convert::blur::region::Footprint;
use nyquist_convert::blur::{detect, BlurSite, Neighbour, Strategy};
use nyquist_convert::verify::mask_for;
use nyquist_convert::{convert, BlurMode, Options};
use nyquist_onnx::graph::node_label;
use nyquist_onnx::pb::{ModelProto, TensorProto, ValueInfoProto};
use nyquist_onnx::Model;
use nyquist_onnx::Tensor;
use nyquist_runtime::engine::{Engine, Output};
use prost::Message;

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn read_tensor(path: &Path) -> (String, Tensor) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let p = TensorProto::decode(&bytes[..]).expect("TensorProto");
    (
        p.name().to_string(),
        Tensor::from_proto(&p, None).expect("tensor"),
    )
}

/// onnxruntime's reference tensors of a fixture: logits and every Conv output.
pub struct Fixture {
    pub name: String,
    pub model: PathBuf,
    pub input: Tensor,
    pub logits: Tensor,
    pub tensors: HashMap<String, Tensor>,
}

pub fn fixtures() -> Vec<Fixture> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v.into_iter()
        .map(|d| {
            let mut tensors = HashMap::new();
            let mut files: Vec<PathBuf> = std::fs::read_dir(d.join("tensors"))
                .expect("tensors")
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            files.sort();
            for f in files {
                let (n, t) = read_tensor(&f);
                tensors.insert(n, t);
            }
            Fixture {
                name: d.file_name().unwrap().to_string_lossy().into_owned(),
                model: d.join("model.onnx"),
                input: read_tensor(&d.join("input_0.pb")).1,
                logits: read_tensor(&d.join("output_0.pb")).1,
                tensors,
            }
        })
        .collect()
}

/// Run a model with tract on a whole batch, exposing extra tensors as outputs.
pub fn run_tract(proto: &ModelProto, input: &Tensor, extra: &[String]) -> HashMap<String, Output> {
    let mut p = proto.clone();
    let g = p.graph.as_mut().unwrap();
    let mut names: Vec<String> = g.output.iter().map(|o| o.name().to_string()).collect();
    for e in extra {
        if !names.contains(e) {
            g.output.push(ValueInfoProto {
                name: Some(e.clone()),
                ..Default::default()
            });
            names.push(e.clone());
        }
    }
    let engine = Engine::from_onnx_bytes(&p.encode_to_vec(), Path::new("test"), &input.dims)
        .expect("tract loads the model");
    let out = engine
        .run(input.as_f32().unwrap())
        .expect("tract runs the model");
    names.into_iter().zip(out).collect()
}

/// max |a − b| / max |b|, over positions where `mask` (per H×W plane) is true.
pub fn rel_dev(a: &[f32], b: &[f32], plane: usize, mask: Option<&[bool]>) -> f64 {
    assert_eq!(a.len(), b.len(), "sizes differ");
    let scale = b.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-12) as f64;
    let mut d = 0f32;
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if mask.is_none_or(|m| m[i % plane]) {
            d = d.max((x - y).abs());
        }
    }
    d as f64 / scale
}

/// Region output tensor and interior footprint of a rewrite of `site`.
pub fn region_of(site: &BlurSite, s: Strategy) -> Option<(String, Footprint)> {
    match (s, &site.before, &site.after) {
        (Strategy::Fold | Strategy::Commute, Neighbour::Conv { geom, .. }, _) => Some((
            site.output.clone(),
            Footprint::conv_then_blur(
                geom.kernel,
                [geom.pads[0], geom.pads[1]],
                site.kernel_size,
                site.stride,
                [site.pads[0], site.pads[1]],
            ),
        )),
        (Strategy::Forward, _, Neighbour::Conv { node, geom, .. }) => Some((
            node.clone(),
            Footprint::blur_then_conv(
                site.kernel_size,
                site.stride,
                [site.pads[0], site.pads[1]],
                geom.kernel,
                geom.strides,
                [geom.pads[0], geom.pads[1]],
            ),
        )),
        _ => None,
    }
}

pub fn argmax_rows(t: &[f32], classes: usize) -> Vec<usize> {
    t.chunks(classes)
        .map(|r| nyquist_runtime::engine::argmax(r).unwrap())
        .collect()
}

/// Options for `mode` on inputs of `shape` (batch 1), 4 random samples.
/// These tests check the cost-chosen plan itself (untrained weights, whose
/// end-to-end deviation says nothing about real images), so the random-input
/// guard is off; `tests/synth.rs` tests the guard on its own.
pub fn opts(mode: BlurMode, shape: &[usize]) -> Options {
    Options {
        mode,
        random_samples: 4,
        input_shape: Some([&[1], &shape[1..]].concat()),
        max_random_deviation: f64::INFINITY,
        ..Options::default()
    }
}

/// Apply every applicable rewrite of every blur alone and compare the region's
/// output with `reference(tensor name)` (the original model's value) on the
/// interior. Returns how many rewrites were checked.
pub fn check_every_rewrite(
    m: &Model,
    input: &Tensor,
    tol: f64,
    reference: &dyn Fn(&str) -> Option<Tensor>,
) -> usize {
    let name = m.path.display().to_string();
    let mut checked = 0;
    let shapes = nyquist_convert::shapes::infer(&m.inlined_bytes().unwrap(), &input.dims).unwrap();
    // Blurs as the rewrites see them: after pads are folded and BN separated.
    let prepared = convert(m, &opts(BlurMode::Off, &input.dims)).unwrap().model;
    let (sites, _) = detect(prepared.graph.as_ref().unwrap(), None).unwrap();
    assert!(!sites.is_empty(), "{name}: no blur found");
    for site in &sites {
        for s in Strategy::REWRITES {
            let Some((region_out, fp)) = region_of(site, s) else {
                continue;
            };
            let mode = match s {
                Strategy::Fold => BlurMode::Fold,
                Strategy::Commute => BlurMode::Commute,
                _ => BlurMode::Forward,
            };
            let mut o = opts(mode, &input.dims);
            o.only = Some(vec![site.node.clone()]);
            o.tolerance = 1.0; // measured here, independently
            let c = convert(m, &o).unwrap();
            let d = c
                .report
                .decisions
                .iter()
                .find(|d| d.site.node == site.node)
                .unwrap();
            if d.chosen != s {
                continue; // not applicable here (e.g. the conv output is shared)
            }
            let g = c.model.graph.as_ref().unwrap();
            let out_name = if s == Strategy::Forward {
                g.node
                    .iter()
                    .find(|n| node_label(n) == region_out)
                    .map(|n| n.output[0].clone())
                    .unwrap()
            } else {
                region_out.clone()
            };
            let want = reference(&out_name)
                .unwrap_or_else(|| panic!("{name}: no reference for `{out_name}`"));
            let got = &run_tract(&c.model, input, std::slice::from_ref(&out_name))[&out_name];
            let x_name = match (s, &site.before) {
                (Strategy::Forward, _) => site.input.clone(),
                (_, Neighbour::Conv { node, .. }) => prepared
                    .graph
                    .as_ref()
                    .unwrap()
                    .node
                    .iter()
                    .find(|n| node_label(n) == *node)
                    .unwrap()
                    .input[0]
                    .clone(),
                _ => unreachable!("fold/commute need a conv before"),
            };
            let x = &shapes[&x_name];
            let mask = mask_for(&fp, x, &want.dims).unwrap();
            if !mask.iter().any(|&m| m) {
                continue; // a tiny feature map: every output touches the padding
            }
            let plane = want.dims[2] * want.dims[3];
            let dev = rel_dev(&got.data, want.as_f32().unwrap(), plane, Some(&mask));
            assert!(
                dev < tol,
                "{name}: {} of blur `{}` deviates {dev:.2e} from the reference on the interior",
                s.name(),
                site.node
            );
            checked += 1;
        }
    }
    checked
}
