//! Numerical verification with tract: inputs to test on, tensors captured from a
//! model run, the isolated check of one rewrite against the original region, and
//! the end-to-end comparison of two models.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use nyquist_runtime::engine::{argmax, Engine, Output};
use prost::Message;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::blur::region::Footprint;
use crate::blur::Rewrite;
use crate::error::ConvertError;
use nyquist_onnx::error::Located as _;
use nyquist_onnx::graph::GraphIndex;
use nyquist_onnx::pb::{
    tensor_proto::DataType, tensor_shape_proto, type_proto, GraphProto, ModelProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};

/// Inputs a model is checked on.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    /// One input tensor per sample (row-major, the model's input shape).
    pub inputs: Vec<Vec<f32>>,
    /// The label of each sample when known.
    pub labels: Vec<Option<usize>>,
    /// Where each sample came from (`random #i` or a file path).
    pub origin: Vec<String>,
}

impl Samples {
    /// `n` inputs of i.i.d. N(0, 1) values from a ChaCha8 stream seeded with `seed`
    /// (N(0, 1) is what normalised images look like to the first layer).
    pub fn random(n: usize, len: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let inputs = (0..n)
            .map(|_| (0..len).map(|_| gaussian(&mut rng)).collect())
            .collect();
        Samples {
            inputs,
            labels: vec![None; n],
            origin: (0..n).map(|i| format!("random #{i}")).collect(),
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.inputs.len()
    }

    /// True if there is none.
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }

    /// Append other samples.
    pub fn extend(&mut self, other: Samples) {
        self.inputs.extend(other.inputs);
        self.labels.extend(other.labels);
        self.origin.extend(other.origin);
    }
}

/// A standard normal sample (Box–Muller), as f32.
pub fn gaussian(rng: &mut impl Rng) -> f32 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

/// Tensors captured by [`capture`]: by name, one output per sample.
pub type Captured = HashMap<String, Vec<Output>>;

/// Run `proto` on every sample and return the named tensors (graph outputs are
/// added for them), per sample.
pub fn capture(
    proto: &ModelProto,
    names: &[String],
    input_shape: &[usize],
    samples: &Samples,
) -> Result<Captured, ConvertError> {
    let mut p = proto.clone();
    let g = p.graph.get_or_insert_with(Default::default);
    let existing: HashSet<String> = g.output.iter().map(|o| o.name().to_string()).collect();
    let mut order: Vec<String> = g.output.iter().map(|o| o.name().to_string()).collect();
    for n in names {
        if !existing.contains(n) && !order.contains(n) {
            g.output.push(ValueInfoProto {
                name: Some(n.clone()),
                ..Default::default()
            });
            order.push(n.clone());
        }
    }
    let engine = Engine::from_onnx_bytes(
        &p.encode_to_vec(),
        Path::new("<model under verification>"),
        input_shape,
    )
    .map_err(ConvertError::from)?;
    let runs = engine
        .run_many(&samples.inputs)
        .map_err(ConvertError::from)?;
    let mut out: HashMap<String, Vec<Output>> = HashMap::new();
    for run in runs {
        for (name, t) in order.iter().zip(run) {
            out.entry(name.clone()).or_default().push(t);
        }
    }
    Ok(out)
}

/// Largest differences between a tensor and its reference, split into the
/// interior and the border band of the region's output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Deviation {
    /// max |Δ| over interior positions.
    pub interior_max: f32,
    /// max |Δ| over border positions.
    pub border_max: f32,
    /// max |reference| (the scale the relative figures use).
    pub reference_max: f32,
    /// `interior_max / reference_max`.
    pub interior_rel: f64,
    /// `border_max / reference_max`.
    pub border_rel: f64,
    /// Fraction of output positions that are interior.
    pub interior_fraction: f64,
}

impl Deviation {
    /// Compare NCHW tensors position by position; `mask[h*W + w]` is true for interior.
    pub fn of(got: &[Output], want: &[Output], mask: Option<&[bool]>) -> Result<Deviation, String> {
        let mut d = Deviation::default();
        let mut interior = 0usize;
        let mut total = 0usize;
        for (g, w) in got.iter().zip(want) {
            if g.shape != w.shape {
                return Err(format!(
                    "shape {:?} where the original has {:?}",
                    g.shape, w.shape
                ));
            }
            let plane = if w.shape.len() == 4 {
                w.shape[2] * w.shape[3]
            } else {
                w.data.len()
            };
            for (i, (a, b)) in g.data.iter().zip(&w.data).enumerate() {
                let diff = (a - b).abs();
                let inside = mask.is_none_or(|m| m.get(i % plane).copied().unwrap_or(true));
                if inside {
                    d.interior_max = d.interior_max.max(diff);
                    interior += 1;
                } else {
                    d.border_max = d.border_max.max(diff);
                }
                total += 1;
                d.reference_max = d.reference_max.max(b.abs());
            }
        }
        let scale = d.reference_max.max(f32::MIN_POSITIVE) as f64;
        d.interior_rel = d.interior_max as f64 / scale;
        d.border_rel = d.border_max as f64 / scale;
        d.interior_fraction = if total == 0 {
            0.0
        } else {
            interior as f64 / total as f64
        };
        Ok(d)
    }
}

/// The small model holding just the nodes of `rw`, reading `rw.input`.
fn region_model(
    source: &ModelProto,
    rw: &Rewrite,
    x_shape: &[usize],
) -> Result<ModelProto, ConvertError> {
    let g = source
        .graph
        .as_ref()
        .ok_or_else(|| ConvertError::graph("no graph"))?;
    let ix = GraphIndex::new(g);
    let mut inits = rw.initializers.clone();
    let mut have: HashSet<String> = inits.iter().map(|t| t.name().to_string()).collect();
    have.insert(rw.input.clone());
    have.insert(String::new());
    for n in &rw.nodes {
        for i in &n.input {
            if !have.contains(i) {
                let t = ix.const_value(g, i, None)?.ok_or_else(|| {
                    ConvertError::graph(format!(
                        "region of blur `{}` reads `{i}`, which is not constant",
                        rw.blur
                    ))
                })?;
                inits.push(t.to_proto(i));
                have.insert(i.clone());
            }
        }
        have.extend(n.output.iter().cloned());
    }
    let dims = x_shape
        .iter()
        .map(|&d| tensor_shape_proto::Dimension {
            value: Some(tensor_shape_proto::dimension::Value::DimValue(d as i64)),
            ..Default::default()
        })
        .collect();
    let input = ValueInfoProto {
        name: Some(rw.input.clone()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto { dim: dims }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    Ok(ModelProto {
        ir_version: source.ir_version,
        opset_import: source.opset_import.clone(),
        graph: Some(GraphProto {
            name: Some("region".into()),
            node: rw.nodes.clone(),
            initializer: inits,
            input: vec![input],
            output: vec![ValueInfoProto {
                name: Some(rw.output.clone()),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// Run the replacement nodes of `rw` on the captured region inputs `xs` and
/// compare with the captured region outputs `zs` of the original model.
pub(crate) fn check_rewrite(
    source: &ModelProto,
    rw: &Rewrite,
    xs: &[Output],
    zs: &[Output],
) -> Result<Deviation, ConvertError> {
    let x_shape = &xs
        .first()
        .ok_or_else(|| ConvertError::graph("no samples"))?
        .shape;
    let m = region_model(source, rw, x_shape)?;
    let engine = Engine::from_onnx_bytes(
        &m.encode_to_vec(),
        Path::new(&format!("<region of {}>", rw.blur)),
        x_shape,
    )
    .map_err(ConvertError::from)?;
    let inputs: Vec<Vec<f32>> = xs.iter().map(|x| x.data.clone()).collect();
    let got: Vec<Output> = engine
        .run_many(&inputs)
        .map_err(ConvertError::from)?
        .into_iter()
        .map(|mut v| v.remove(0))
        .collect();
    let z_shape = &zs[0].shape;
    let mask = mask_for(&rw.footprint, x_shape, z_shape);
    Deviation::of(&got, zs, mask.as_deref())
        .map_err(|e| ConvertError::graph(format!("rewrite of blur `{}`: {e}", rw.blur)))
}

/// Interior mask for a region with 4-D input and output.
pub fn mask_for(f: &Footprint, x: &[usize], z: &[usize]) -> Option<Vec<bool>> {
    (x.len() == 4 && z.len() == 4).then(|| f.interior_mask([x[2], x[3]], [z[2], z[3]]))
}

/// How two whole models compare on the samples.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EndToEnd {
    /// Number of samples.
    pub samples: usize,
    /// max |Δ| over the first output.
    pub max_abs: f32,
    /// `max_abs / max |original output|`.
    pub max_rel: f64,
    /// Fraction of samples whose argmax agrees.
    pub top1_agreement: f64,
    /// Accuracy of the original on labelled samples, if any.
    pub accuracy_original: Option<f64>,
    /// Accuracy of the converted model on labelled samples, if any.
    pub accuracy_converted: Option<f64>,
}

/// Compare the first outputs of two models sample by sample.
pub fn end_to_end(
    a: &[Output],
    b: &[Output],
    labels: &[Option<usize>],
) -> Result<EndToEnd, String> {
    let d = Deviation::of(b, a, None)?;
    let n = a.len();
    let tops: Vec<(Option<usize>, Option<usize>)> = a
        .iter()
        .zip(b)
        .map(|(x, y)| (argmax(&x.data), argmax(&y.data)))
        .collect();
    let agree = tops.iter().filter(|(x, y)| x.is_some() && x == y).count();
    let labelled: Vec<(usize, usize)> = labels
        .iter()
        .enumerate()
        .filter_map(|(i, l)| l.map(|l| (i, l)))
        .collect();
    let acc = |converted: bool| {
        (!labelled.is_empty()).then(|| {
            labelled
                .iter()
                .filter(|(i, l)| (if converted { tops[*i].1 } else { tops[*i].0 }) == Some(*l))
                .count() as f64
                / labelled.len() as f64
        })
    };
    Ok(EndToEnd {
        samples: n,
        max_abs: d.interior_max,
        max_rel: d.interior_rel,
        top1_agreement: if n == 0 { 1.0 } else { agree as f64 / n as f64 },
        accuracy_original: acc(false),
        accuracy_converted: acc(true),
    })
}
