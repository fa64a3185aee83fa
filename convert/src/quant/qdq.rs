//! The QDQ ONNX form (what onnxruntime's `quantize_static` writes): every
//! quantized activation goes through `QuantizeLinear → DequantizeLinear`,
//! weights are int8 initializers behind a per-channel `DequantizeLinear`
//! (axis 0), biases int32 behind one at scale `s_x·s_w[o]`. A fused ReLU stays in
//! the graph; only its output is quantized, so a runtime can fuse it.

use std::collections::HashSet;
use std::path::Path;

use super::graph::{QGraph, QOp};
use super::params::{quantize_bias, QParams, TensorQuant};
use crate::error::ConvertError;
use crate::onnx::attr::{make_int, node};
use crate::onnx::graph::{node_label, toposort, Namer};
use crate::onnx::pb::{tensor_proto::DataType, ModelProto, NodeProto, TensorProto};

/// An int8 / int32 initializer.
pub fn int_tensor(name: &str, dims: &[usize], data_type: DataType, bytes: Vec<u8>) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: Some(data_type as i32),
        raw_data: Some(bytes),
        ..Default::default()
    }
}

fn f32_tensor(name: &str, v: &[f32]) -> TensorProto {
    crate::onnx::Tensor::f32(vec![v.len()], v.to_vec()).to_proto(name)
}

fn scalar_f32(name: &str, v: f32) -> TensorProto {
    crate::onnx::Tensor::f32(vec![], vec![v]).to_proto(name)
}

fn scalar_i8(name: &str, v: i8) -> TensorProto {
    int_tensor(name, &[], DataType::Int8, vec![v as u8])
}

/// Names of the scale / zero-point initializers of an activation tensor.
pub fn qparam_names(t: &str) -> (String, String) {
    (format!("{t}_scale"), format!("{t}_zero_point"))
}

/// Build the QDQ model. `float` is the model that was calibrated.
pub fn build(
    float: &ModelProto,
    qg: &QGraph,
    qp: &QParams,
    base: Option<&Path>,
) -> Result<ModelProto, ConvertError> {
    let opset = float
        .opset_import
        .iter()
        .find(|o| o.domain().is_empty() || o.domain() == "ai.onnx")
        .and_then(|o| o.version)
        .unwrap_or(0);
    if opset < 13 {
        return Err(ConvertError::Usage(format!("int8 quantization writes per-channel QuantizeLinear (opset 13+); the model is opset {opset}")));
    }
    let mut m = float.clone();
    let g = m
        .graph
        .as_mut()
        .ok_or_else(|| ConvertError::Graph("no graph".into()))?;
    let before = crate::passes::dce::liveness(g);
    let mut namer = Namer::new(g);
    let mut new_nodes: Vec<NodeProto> = Vec::new();
    // Weights and biases.
    for op in &qg.ops {
        let (first, input, weight, bias, axis) = match op {
            QOp::Conv {
                nodes,
                input,
                weight,
                bias,
                ..
            } => (&nodes[0], input, weight, bias, 0usize),
            QOp::Gemm {
                nodes,
                input,
                weight,
                bias,
                trans_b,
                ..
            } => (&nodes[0], input, weight, bias, if *trans_b { 0 } else { 1 }),
            _ => continue,
        };
        let wq = qp.weights.get(weight).ok_or_else(|| ConvertError::Tensor {
            tensor: weight.clone(),
            what: "no quantized weight".into(),
        })?;
        let n = g
            .node
            .iter()
            .position(|n| node_label(n) == *first)
            .ok_or_else(|| ConvertError::Graph(format!("node `{first}` vanished")))?;
        let wname = namer.fresh(&format!("{weight}_quantized"));
        let ws = namer.fresh(&format!("{weight}_scale"));
        let wz = namer.fresh(&format!("{weight}_zero_point"));
        let wdq = namer.fresh(&format!("{weight}_dequantized"));
        g.initializer.push(int_tensor(
            &wname,
            &wq.dims,
            DataType::Int8,
            wq.data.iter().map(|&v| v as u8).collect(),
        ));
        g.initializer.push(f32_tensor(&ws, &wq.scales));
        g.initializer.push(int_tensor(
            &wz,
            &[wq.scales.len()],
            DataType::Int8,
            vec![0; wq.scales.len()],
        ));
        new_nodes.push(node(
            "DequantizeLinear",
            &namer.fresh(&format!("{weight}_DequantizeLinear")),
            &[&wname, &ws, &wz],
            &[&wdq],
            vec![make_int("axis", axis as i64)],
        ));
        g.node[n].input[1] = wdq;
        if let Some(b) = bias {
            let fb = qp.biases.get(first).ok_or_else(|| ConvertError::Tensor {
                tensor: b.clone(),
                what: "no bias".into(),
            })?;
            let sx = qp
                .tensors
                .get(qg.root(input))
                .map(|t| t.scale)
                .ok_or_else(|| ConvertError::Tensor {
                    tensor: input.clone(),
                    what: "not calibrated".into(),
                })?;
            let bq = quantize_bias(fb, sx, &wq.scales);
            let bs: Vec<f32> = wq.scales.iter().map(|&s| sx * s).collect();
            let (bn, bsn, bzn, bdq) = (
                namer.fresh(&format!("{b}_quantized")),
                namer.fresh(&format!("{b}_scale")),
                namer.fresh(&format!("{b}_zero_point")),
                namer.fresh(&format!("{b}_dequantized")),
            );
            g.initializer.push(int_tensor(
                &bn,
                &[bq.len()],
                DataType::Int32,
                bq.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ));
            g.initializer.push(f32_tensor(&bsn, &bs));
            g.initializer.push(int_tensor(
                &bzn,
                &[bq.len()],
                DataType::Int32,
                vec![0; 4 * bq.len()],
            ));
            new_nodes.push(node(
                "DequantizeLinear",
                &namer.fresh(&format!("{b}_DequantizeLinear")),
                &[&bn, &bsn, &bzn],
                &[&bdq],
                vec![make_int("axis", 0)],
            ));
            g.node[n].input[2] = bdq;
        }
    }
    // Activations: Q → DQ after every quantized tensor.
    let outputs: HashSet<String> = g.output.iter().map(|o| o.name().to_string()).collect();
    let mut acts: Vec<&String> = qp.tensors.keys().collect();
    acts.sort();
    for t in acts {
        let tq: &TensorQuant = &qp.tensors[t];
        let (sn, zn) = qparam_names(t);
        let (sn, zn) = (namer.fresh(&sn), namer.fresh(&zn));
        g.initializer.push(scalar_f32(&sn, tq.scale));
        g.initializer.push(scalar_i8(&zn, tq.zero_point));
        let is_out = outputs.contains(t);
        let src = if is_out {
            // Keep the graph output's name on the dequantized value.
            let f = namer.fresh(&format!("{t}_float"));
            for n in g.node.iter_mut() {
                for o in n.output.iter_mut().filter(|o| *o == t) {
                    *o = f.clone();
                }
            }
            f
        } else {
            t.clone()
        };
        let q = namer.fresh(&format!("{t}_quantized"));
        let dq = if is_out {
            t.clone()
        } else {
            namer.fresh(&format!("{t}_dequantized"))
        };
        for n in g.node.iter_mut() {
            for i in n.input.iter_mut().filter(|i| **i == src) {
                *i = dq.clone();
            }
        }
        new_nodes.push(node(
            "QuantizeLinear",
            &namer.fresh(&format!("{t}_QuantizeLinear")),
            &[&src, &sn, &zn],
            &[&q],
            vec![],
        ));
        new_nodes.push(node(
            "DequantizeLinear",
            &namer.fresh(&format!("{t}_DequantizeLinear")),
            &[&q, &sn, &zn],
            &[&dq],
            vec![],
        ));
    }
    g.node.extend(new_nodes);
    toposort(g)?;
    // The float weights and biases are now read by nobody.
    crate::passes::dce::remove_dead(g, &before);
    let _ = base;
    Ok(m)
}
