//! The QOperator form for tract: every `DequantizeLinear → Conv [→ Relu] →
//! QuantizeLinear` of the QDQ model becomes one `QLinearConv` on int8 tensors
//! (per-channel weight scales, int32 bias), which tract runs as an integer
//! matmul. Everything else (residual adds, GELU tables, pooling, the classifier)
//! stays as in the QDQ model: dequantize, float op, quantize.

use crate::error::ConvertError;
use crate::onnx::attr::node;
use crate::onnx::graph::{node_label, GraphIndex};
use crate::onnx::pb::ModelProto;
use crate::passes::dce;

/// Rewrite QDQ convs into `QLinearConv`; returns the model and how many convs became int8.
pub fn from_qdq(qdq: &ModelProto) -> Result<(ModelProto, usize), ConvertError> {
    let mut m = qdq.clone();
    let g = m
        .graph
        .as_mut()
        .ok_or_else(|| ConvertError::Graph("no graph".into()))?;
    let before = dce::liveness(g);
    let mut count = 0;
    loop {
        let ix = GraphIndex::new(g);
        let dq_of = |t: &str| {
            ix.producer_of(g, t)
                .filter(|n| n.op_type() == "DequantizeLinear")
        };
        let mut found = None;
        for (ci, c) in g.node.iter().enumerate() {
            if c.op_type() != "Conv" {
                continue;
            }
            let (Some(dx), Some(dw)) = (dq_of(&c.input[0]), c.input.get(1).and_then(|w| dq_of(w)))
            else {
                continue;
            };
            let db = c.input.get(2).filter(|b| !b.is_empty()).map(|b| dq_of(b));
            if matches!(db, Some(None)) {
                continue;
            }
            // Conv → Q, or Conv → Relu → Q.
            let mut tail = vec![ci];
            let mut out = c.output[0].clone();
            if let Some(ri) = ix
                .sole_consumer(&out)
                .filter(|&r| g.node[r].op_type() == "Relu")
            {
                tail.push(ri);
                out = g.node[ri].output[0].clone();
            }
            let Some(qi) = ix
                .sole_consumer(&out)
                .filter(|&q| g.node[q].op_type() == "QuantizeLinear")
            else {
                continue;
            };
            tail.push(qi);
            let q = &g.node[qi];
            let mut inputs: Vec<String> = vec![
                dx.input[0].clone(),
                dx.input[1].clone(),
                dx.input[2].clone(),
                dw.input[0].clone(),
                dw.input[1].clone(),
                dw.input[2].clone(),
                q.input[1].clone(),
                q.input[2].clone(),
            ];
            if let Some(Some(b)) = db {
                inputs.push(b.input[0].clone());
            }
            let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            let new = node(
                "QLinearConv",
                &node_label(c),
                &refs,
                &[&q.output[0]],
                c.attribute.clone(),
            );
            found = Some((tail, new));
            break;
        }
        let Some((tail, new)) = found else { break };
        crate::onnx::graph::splice(g, &tail, vec![new]);
        count += 1;
    }
    dce::remove_dead(g, &before);
    crate::onnx::graph::toposort(g)?;
    Ok((m, count))
}
