//! The QDQ ONNX form (what onnxruntime's `quantize_static` writes): every
//! quantized activation goes through `QuantizeLinear → DequantizeLinear`,
//! weights are int8 initializers behind a per-channel `DequantizeLinear`
//! (axis 0), biases int32 behind one at scale `s_x·s_w[o]`. A fused ReLU stays in
//! the graph; only its output is quantized, so a runtime can fuse it.

use std::collections::HashSet;
use std::path::Path;

use super::graph::{QGraph, Weighted};
use super::params::{quantize_bias, QParams, TensorQuant};
use crate::error::QuantError;
use nyquist_onnx::attr::{make_int, node};
use nyquist_onnx::error::Located as _;
use nyquist_onnx::graph::{node_label, toposort, Namer};
use nyquist_onnx::pb::{tensor_proto::DataType, ModelProto, NodeProto, TensorProto};

/// An int8 / int32 initializer.
pub(crate) fn int_tensor(
    name: &str,
    dims: &[usize],
    data_type: DataType,
    bytes: Vec<u8>,
) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: Some(data_type as i32),
        raw_data: Some(bytes),
        ..Default::default()
    }
}

fn f32_tensor(name: &str, v: &[f32]) -> TensorProto {
    nyquist_onnx::Tensor::f32(vec![v.len()], v.to_vec()).to_proto(name)
}

fn scalar_f32(name: &str, v: f32) -> TensorProto {
    nyquist_onnx::Tensor::f32(vec![], vec![v]).to_proto(name)
}

fn scalar_i8(name: &str, v: i8) -> TensorProto {
    int_tensor(name, &[], DataType::Int8, vec![v as u8])
}

/// Names of the scale / zero-point initializers of an activation tensor.
pub(crate) fn qparam_names(t: &str) -> (String, String) {
    (format!("{t}_scale"), format!("{t}_zero_point"))
}

/// Build the QDQ model. `float` is the model that was calibrated.
pub fn build(
    float: &ModelProto,
    qg: &QGraph,
    qp: &QParams,
    base: Option<&Path>,
) -> Result<ModelProto, QuantError> {
    let opset = float
        .opset_import
        .iter()
        .find(|o| o.domain().is_empty() || o.domain() == "ai.onnx")
        .and_then(|o| o.version)
        .unwrap_or(0);
    if opset < 13 {
        return Err(QuantError::Usage(format!("int8 quantization writes per-channel QuantizeLinear (opset 13+); the model is opset {opset}")));
    }
    let mut m = float.clone();
    let g = m
        .graph
        .as_mut()
        .ok_or_else(|| QuantError::graph("no graph"))?;
    let before = nyquist_onnx::passes::dce::liveness(g);
    let mut namer = Namer::new(g);
    let mut new_nodes: Vec<NodeProto> = Vec::new();
    // Weights and biases.
    for op in &qg.ops {
        let Some(Weighted {
            first,
            input,
            weight,
            bias,
            axis,
        }) = op.weighted()
        else {
            continue;
        };
        let wq = qp
            .weights
            .get(weight)
            .ok_or_else(|| QuantError::tensor(weight, "no quantized weight"))?;
        let n = g
            .node
            .iter()
            .position(|n| node_label(n) == *first)
            .ok_or_else(|| QuantError::graph(format!("node `{first}` vanished")))?;
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
            let fb = qp
                .biases
                .get(first)
                .ok_or_else(|| QuantError::tensor(b, "no bias"))?;
            let sx = qp
                .tensors
                .get(qg.root(input))
                .map(|t| t.scale)
                .ok_or_else(|| QuantError::tensor(input, "not calibrated"))?;
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
    nyquist_onnx::passes::dce::remove_dead(g, &before);
    let _ = base;
    Ok(m)
}
