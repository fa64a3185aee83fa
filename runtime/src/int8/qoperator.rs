//! QDQ → QOperator: the ONNX rewrite that lets tract run an int8 model on
//! int8 tensors from end to end.
//!
//! A QDQ model (what `nyquist-convert --quantize int8` and onnxruntime's
//! `quantize_static` write) expresses every int8 operator as
//! `DequantizeLinear → float op → QuantizeLinear`. tract 0.23 runs that as
//! written — float ops on dequantized tensors — so this rewrite replaces each
//! such chain by the operator that consumes and produces int8 directly:
//!
//! | QDQ chain | becomes | runs in tract as |
//! |---|---|---|
//! | `DQ(x), DQ(w), [DQ(b)] → Conv → [Relu] → Q` | `QLinearConv` | int8 matmul, i32 accumulators, requantization fused into the kernel ([`super::passes`]) |
//! | `DQ(a), DQ(b) → Add → [Relu] → Q` | `com.microsoft.QLinearAdd` | [`super::ops::QAdd`]: one integer pass |
//! | `DQ(x) → GlobalAveragePool → Q` | `com.microsoft.QLinearGlobalAveragePool` | [`super::ops::QGlobalAvgPool`]: integer sums, one rescale |
//! | `DQ(x) → Pad (reflect, edge) / Flatten / Reshape / MaxPool … → Q`, same parameters | the op itself, on int8 | tract's op on i8 |
//!
//! `DQ → smooth activation → Q` (GELU, SiLU …) needs no rewrite: tract turns
//! it into a 256-entry lookup table by itself. A `Relu` folds into the clamp
//! only when the output zero point is −128 (the output range starts at 0,
//! so the clamp *is* the ReLU). Chains that do not match — per-axis activation
//! scales, a float tensor with several consumers, shapes tract cannot check —
//! are left as they are and still run, in float. The result is a valid ONNX
//! model (the `com.microsoft` operators are onnxruntime's contrib operators),
//! so onnxruntime can run the very file tract runs.

use std::collections::HashMap;

use tract_onnx::pb::{self, NodeProto, TensorProto};

/// What the rewrite did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Rewritten {
    /// `QLinearConv` nodes made.
    pub convs: usize,
    /// `QLinearAdd` nodes made.
    pub adds: usize,
    /// `QLinearGlobalAveragePool` nodes made.
    pub pools: usize,
    /// Data-movement operators (pad, flatten, max-pool …) now on int8.
    pub moves: usize,
}

impl Rewritten {
    /// Operators that now run on int8 tensors.
    pub fn total(&self) -> usize {
        self.convs + self.adds + self.pools + self.moves
    }
}

/// True when the model holds `QuantizeLinear` / `DequantizeLinear` nodes (a
/// QDQ model), i.e. when [`rewrite`] can do something.
pub fn is_qdq(model: &pb::ModelProto) -> bool {
    model.graph.as_ref().is_some_and(|g| {
        g.node
            .iter()
            .any(|n| n.op_type == "DequantizeLinear" && n.domain.is_empty())
    })
}

/// Constant (initializer or `Constant` node) values, by tensor name.
struct Consts<'a> {
    inits: HashMap<&'a str, &'a TensorProto>,
}

impl<'a> Consts<'a> {
    fn new(g: &'a pb::GraphProto) -> Self {
        Consts {
            inits: g.initializer.iter().map(|t| (t.name.as_str(), t)).collect(),
        }
    }

    /// Number of elements of a constant (`None` if not a constant).
    fn len(&self, name: &str) -> Option<usize> {
        self.inits
            .get(name)
            .map(|t| t.dims.iter().map(|&d| d.max(0) as usize).product())
    }

    /// The value of a scalar float constant.
    fn value_f32(&self, name: &str) -> Option<u32> {
        let t = self.inits.get(name)?;
        if self.len(name)? != 1 || t.data_type != pb::tensor_proto::DataType::Float as i32 {
            return None;
        }
        match (t.raw_data.get(..4), t.float_data.first()) {
            (Some(b), _) => Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            (None, Some(v)) => Some(v.to_bits()),
            _ => None,
        }
    }

    /// The value of a scalar int8 (or uint8) constant.
    fn scalar_i8(&self, name: &str) -> Option<i32> {
        let t = self.inits.get(name)?;
        if self.len(name)? != 1 {
            return None;
        }
        match pb::tensor_proto::DataType::try_from(t.data_type).ok()? {
            pb::tensor_proto::DataType::Int8 => match (t.raw_data.first(), t.int32_data.first()) {
                (Some(&b), _) => Some(b as i8 as i32),
                (None, Some(&v)) => Some(v),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Index of a graph: who produces and who consumes each tensor.
struct Index {
    producer: HashMap<String, usize>,
    consumers: HashMap<String, Vec<usize>>,
    outputs: Vec<String>,
}

impl Index {
    fn new(g: &pb::GraphProto) -> Self {
        let mut producer = HashMap::new();
        let mut consumers: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, n) in g.node.iter().enumerate() {
            for o in &n.output {
                producer.insert(o.clone(), i);
            }
            for inp in n.input.iter().filter(|s| !s.is_empty()) {
                consumers.entry(inp.clone()).or_default().push(i);
            }
        }
        Index {
            producer,
            consumers,
            outputs: g.output.iter().map(|o| o.name.clone()).collect(),
        }
    }

    /// The node that is the only reader of `t` (and `t` is no graph output).
    fn sole_consumer(&self, t: &str) -> Option<usize> {
        if self.outputs.iter().any(|o| o == t) {
            return None;
        }
        match self.consumers.get(t).map(Vec::as_slice) {
            Some([one]) => Some(*one),
            _ => None,
        }
    }
}

/// A per-tensor `DequantizeLinear` feeding `t`: (int8 input, scale, zero point).
fn dq_per_tensor(g: &pb::GraphProto, ix: &Index, c: &Consts, t: &str) -> Option<[String; 3]> {
    let n = &g.node[*ix.producer.get(t)?];
    if n.op_type != "DequantizeLinear" || !n.domain.is_empty() || n.input.len() < 3 {
        return None;
    }
    (c.len(&n.input[1]) == Some(1) && c.scalar_i8(&n.input[2]).is_some())
        .then(|| [n.input[0].clone(), n.input[1].clone(), n.input[2].clone()])
}

/// Any `DequantizeLinear` feeding `t` (weights may be per-axis).
fn dq_any(g: &pb::GraphProto, ix: &Index, t: &str) -> Option<[String; 3]> {
    let n = &g.node[*ix.producer.get(t)?];
    (n.op_type == "DequantizeLinear" && n.domain.is_empty() && n.input.len() >= 3)
        .then(|| [n.input[0].clone(), n.input[1].clone(), n.input[2].clone()])
}

/// From the float output `out` of an op: an optional foldable `Relu`, then
/// the per-tensor `QuantizeLinear`. Returns (nodes to remove after the op,
/// y scale, y zero point, the int8 output name).
fn tail(
    g: &pb::GraphProto,
    ix: &Index,
    c: &Consts,
    out: &str,
) -> Option<(Vec<usize>, String, String, String)> {
    let mut nodes = vec![];
    let mut t = out.to_string();
    let mut relu = false;
    if let Some(r) = ix
        .sole_consumer(&t)
        .filter(|&r| g.node[r].op_type == "Relu")
    {
        nodes.push(r);
        t = g.node[r].output[0].clone();
        relu = true;
    }
    let q = ix
        .sole_consumer(&t)
        .filter(|&q| g.node[q].op_type == "QuantizeLinear")?;
    let qn = &g.node[q];
    if qn.input.len() < 3 || c.len(&qn.input[1]) != Some(1) {
        return None;
    }
    let zy = c.scalar_i8(&qn.input[2])?;
    // A ReLU is the clamp itself only when the output starts at zero.
    if relu && zy != -128 {
        return None;
    }
    nodes.push(q);
    Some((
        nodes,
        qn.input[1].clone(),
        qn.input[2].clone(),
        qn.output[0].clone(),
    ))
}

fn node(op: &str, domain: &str, name: &str, inputs: Vec<String>, output: String) -> NodeProto {
    NodeProto {
        input: inputs,
        output: vec![output],
        name: name.to_string(),
        op_type: op.to_string(),
        domain: domain.to_string(),
        ..Default::default()
    }
}

/// One match: the nodes it replaces and the node it becomes.
struct Match {
    remove: Vec<usize>,
    new: NodeProto,
    kind: usize,
}

fn find_match(g: &pb::GraphProto, ix: &Index, c: &Consts) -> Option<Match> {
    for (i, n) in g.node.iter().enumerate() {
        if !n.domain.is_empty() {
            continue;
        }
        match n.op_type.as_str() {
            "Conv" => {
                let Some(x) = dq_per_tensor(g, ix, c, &n.input[0]) else {
                    continue;
                };
                let Some(w) = n.input.get(1).and_then(|w| dq_any(g, ix, w)) else {
                    continue;
                };
                // Weights and bias must be constants (a runtime-computed
                // weight is not a QLinearConv).
                if c.len(&w[0]).is_none() {
                    continue;
                }
                let b = match n.input.get(2).filter(|b| !b.is_empty()) {
                    None => None,
                    Some(b) => match dq_any(g, ix, b) {
                        Some(b) if c.len(&b[0]).is_some() => Some(b),
                        _ => continue,
                    },
                };
                let Some((mut rm, sy, zy, y)) = tail(g, ix, c, &n.output[0]) else {
                    continue;
                };
                let mut inputs = vec![
                    x[0].clone(),
                    x[1].clone(),
                    x[2].clone(),
                    w[0].clone(),
                    w[1].clone(),
                    w[2].clone(),
                    sy,
                    zy,
                ];
                if let Some(b) = b {
                    inputs.push(b[0].clone());
                }
                let mut new = node("QLinearConv", "", &n.name, inputs, y);
                new.attribute = n.attribute.clone();
                rm.insert(0, i);
                return Some(Match {
                    remove: rm,
                    new,
                    kind: 0,
                });
            }
            "Add" => {
                let (Some(a), Some(b)) = (
                    dq_per_tensor(g, ix, c, &n.input[0]),
                    dq_per_tensor(g, ix, c, &n.input[1]),
                ) else {
                    continue;
                };
                let Some((mut rm, sy, zy, y)) = tail(g, ix, c, &n.output[0]) else {
                    continue;
                };
                let inputs = vec![
                    a[0].clone(),
                    a[1].clone(),
                    a[2].clone(),
                    b[0].clone(),
                    b[1].clone(),
                    b[2].clone(),
                    sy,
                    zy,
                ];
                rm.insert(0, i);
                return Some(Match {
                    remove: rm,
                    new: node("QLinearAdd", "com.microsoft", &n.name, inputs, y),
                    kind: 1,
                });
            }
            "GlobalAveragePool" => {
                let Some(x) = dq_per_tensor(g, ix, c, &n.input[0]) else {
                    continue;
                };
                let Some((rm_tail, sy, zy, y)) = tail(g, ix, c, &n.output[0]) else {
                    continue;
                };
                // No ReLU after a pool in the patterns we fold.
                if rm_tail.len() != 1 {
                    continue;
                }
                let inputs = vec![x[0].clone(), x[1].clone(), x[2].clone(), sy, zy];
                let mut new = node(
                    "QLinearGlobalAveragePool",
                    "com.microsoft",
                    &n.name,
                    inputs,
                    y,
                );
                new.attribute.push(pb::AttributeProto {
                    name: "channels_last".into(),
                    r#type: pb::attribute_proto::AttributeType::Int as i32,
                    i: 0,
                    ..Default::default()
                });
                let mut rm = rm_tail;
                rm.insert(0, i);
                return Some(Match {
                    remove: rm,
                    new,
                    kind: 2,
                });
            }
            op if PASS_THROUGH.contains(&op) => {
                // A data-movement op between a DQ and a Q with the same
                // parameters moves int8 values as it moves floats.
                let Some(x) = dq_per_tensor(g, ix, c, &n.input[0]) else {
                    continue;
                };
                let Some((rm_tail, sy, zy, y)) = tail(g, ix, c, &n.output[0]) else {
                    continue;
                };
                let same = rm_tail.len() == 1
                    && c.value_f32(&x[1]) == c.value_f32(&sy)
                    && c.scalar_i8(&x[2]) == c.scalar_i8(&zy);
                let padding_ok = op != "Pad" || {
                    let mode = n
                        .attribute
                        .iter()
                        .find(|a| a.name == "mode")
                        .map(|a| String::from_utf8_lossy(&a.s).into_owned())
                        .unwrap_or_else(|| "constant".into());
                    mode == "reflect" || mode == "edge"
                };
                if !same || !padding_ok {
                    continue;
                }
                let mut new = n.clone();
                new.input[0] = x[0].clone();
                new.output = vec![y];
                let mut rm = rm_tail;
                rm.insert(0, i);
                return Some(Match {
                    remove: rm,
                    new,
                    kind: 3,
                });
            }
            _ => {}
        }
    }
    None
}

/// Operators that only move values: between a `DequantizeLinear` and a
/// `QuantizeLinear` with equal parameters they run on the int8 tensor as
/// they are (`Pad` only in reflect and edge modes).
const PASS_THROUGH: [&str; 8] = [
    "Pad",
    "Flatten",
    "Reshape",
    "Squeeze",
    "Unsqueeze",
    "Transpose",
    "MaxPool",
    "Identity",
];

/// Remove nodes whose outputs nobody reads (dequantizations the rewrite
/// left without a reader), repeatedly.
fn remove_dead(g: &mut pb::GraphProto) {
    loop {
        let ix = Index::new(g);
        let before = g.node.len();
        g.node.retain(|n| {
            n.output
                .iter()
                .any(|o| ix.consumers.contains_key(o) || ix.outputs.contains(o))
        });
        if g.node.len() == before {
            break;
        }
    }
    let ix = Index::new(g);
    g.initializer
        .retain(|t| ix.consumers.contains_key(&t.name) || ix.outputs.contains(&t.name));
}

/// Rewrite a QDQ model's chains into QOperator nodes (see the module docs).
/// The node order stays topological: each new node takes the place of the
/// chain's first node, whose inputs were all available there.
pub fn rewrite(model: &mut pb::ModelProto) -> Rewritten {
    let mut done = Rewritten::default();
    let Some(g) = model.graph.as_mut() else {
        return done;
    };
    loop {
        let m = {
            let ix = Index::new(g);
            let c = Consts::new(g);
            find_match(g, &ix, &c)
        };
        let Some(m) = m else { break };
        match m.kind {
            0 => done.convs += 1,
            1 => done.adds += 1,
            2 => done.pools += 1,
            _ => done.moves += 1,
        }
        let first = m.remove[0];
        g.node[first] = m.new;
        let mut rest = m.remove[1..].to_vec();
        rest.sort_unstable_by(|a, b| b.cmp(a));
        for r in rest {
            g.node.remove(r);
        }
    }
    remove_dead(g);
    if done.adds + done.pools > 0
        && !model
            .opset_import
            .iter()
            .any(|o| o.domain == "com.microsoft")
    {
        model.opset_import.push(pb::OperatorSetIdProto {
            domain: "com.microsoft".into(),
            version: 1,
        });
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init_f32(name: &str, v: &[f32]) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: if v.len() == 1 {
                vec![]
            } else {
                vec![v.len() as i64]
            },
            data_type: pb::tensor_proto::DataType::Float as i32,
            float_data: v.to_vec(),
            ..Default::default()
        }
    }

    fn init_i8(name: &str, v: &[i8]) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: if v.len() == 1 {
                vec![]
            } else {
                vec![v.len() as i64]
            },
            data_type: pb::tensor_proto::DataType::Int8 as i32,
            raw_data: v.iter().map(|&b| b as u8).collect(),
            ..Default::default()
        }
    }

    fn n(op: &str, inputs: &[&str], output: &str) -> NodeProto {
        node(
            op,
            "",
            output,
            inputs.iter().map(|s| s.to_string()).collect(),
            output.into(),
        )
    }

    /// x → Q → DQ → Conv(w, b) → [Relu] → Q(zy) → DQ → Add(skip) → Q → DQ → GAP → Q → DQ → out
    fn graph(relu: bool, zy: i8) -> pb::ModelProto {
        let mut nodes = vec![
            n("QuantizeLinear", &["x", "sx", "zx"], "xq"),
            n("DequantizeLinear", &["xq", "sx", "zx"], "xd"),
            n("DequantizeLinear", &["wq", "sw", "zw"], "wd"),
            n("DequantizeLinear", &["bq", "sb", "zb"], "bd"),
            n("Conv", &["xd", "wd", "bd"], "c"),
        ];
        let conv_out = if relu {
            nodes.push(n("Relu", &["c"], "r"));
            "r"
        } else {
            "c"
        };
        nodes.extend([
            n("QuantizeLinear", &[conv_out, "sy", "zy"], "cq"),
            n("DequantizeLinear", &["cq", "sy", "zy"], "cd"),
            n("Add", &["cd", "xd"], "a"),
            n("QuantizeLinear", &["a", "sa", "za"], "aq"),
            n("DequantizeLinear", &["aq", "sa", "za"], "ad"),
            n("GlobalAveragePool", &["ad"], "g"),
            n("QuantizeLinear", &["g", "sg", "zg"], "gq"),
            n("DequantizeLinear", &["gq", "sg", "zg"], "out"),
        ]);
        pb::ModelProto {
            graph: Some(pb::GraphProto {
                node: nodes,
                initializer: vec![
                    init_f32("sx", &[0.1]),
                    init_i8("zx", &[3]),
                    init_i8("wq", &[1, 2, 3, 4]),
                    init_f32("sw", &[0.01, 0.02, 0.03, 0.04]),
                    init_i8("zw", &[0, 0, 0, 0]),
                    init_i8("bq", &[0, 0, 0, 0]),
                    init_f32("sb", &[0.001, 0.002, 0.003, 0.004]),
                    init_i8("zb", &[0, 0, 0, 0]),
                    init_f32("sy", &[0.2]),
                    init_i8("zy", &[zy]),
                    init_f32("sa", &[0.3]),
                    init_i8("za", &[-5]),
                    init_f32("sg", &[0.05]),
                    init_i8("zg", &[1]),
                ],
                output: vec![pb::ValueInfoProto {
                    name: "out".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn ops(m: &pb::ModelProto) -> Vec<String> {
        m.graph
            .as_ref()
            .unwrap()
            .node
            .iter()
            .map(|n| n.op_type.clone())
            .collect()
    }

    #[test]
    fn chains_become_qoperators() {
        let mut m = graph(true, -128);
        assert!(is_qdq(&m));
        let done = rewrite(&mut m);
        assert_eq!((done.convs, done.adds, done.pools), (1, 1, 1));
        assert_eq!(
            ops(&m),
            [
                "QuantizeLinear",
                "QLinearConv",
                "QLinearAdd",
                "QLinearGlobalAveragePool",
                "DequantizeLinear"
            ]
        );
        let g = m.graph.as_ref().unwrap();
        let conv = &g.node[1];
        assert_eq!(
            conv.input,
            ["xq", "sx", "zx", "wq", "sw", "zw", "sy", "zy", "bq"]
        );
        assert_eq!(conv.output, ["cq"]);
        assert_eq!(
            g.node[2].input,
            ["cq", "sy", "zy", "xq", "sx", "zx", "sa", "za"]
        );
        assert_eq!(g.node[2].domain, "com.microsoft");
        assert!(m.opset_import.iter().any(|o| o.domain == "com.microsoft"));
        // Dead dequantizations and the float weights' scales of the bias are gone.
        assert!(!g.initializer.iter().any(|t| t.name == "sb"));
    }

    #[test]
    fn relu_folds_only_when_the_clamp_is_the_relu() {
        // z_y = −128: the output range starts at 0, the clamp is the ReLU.
        let mut m = graph(true, -128);
        assert_eq!(rewrite(&mut m).convs, 1);
        // Any other zero point: the ReLU would be lost, so no QLinearConv.
        let mut m = graph(true, 0);
        let done = rewrite(&mut m);
        assert_eq!(done.convs, 0);
        assert!(ops(&m).contains(&"Relu".to_string()));
        // Without a ReLU the zero point does not matter.
        let mut m = graph(false, 0);
        assert_eq!(rewrite(&mut m).convs, 1);
    }

    #[test]
    fn a_float_tensor_read_twice_is_not_folded() {
        let mut m = graph(false, 0);
        // The conv's float output also feeds the graph output.
        m.graph.as_mut().unwrap().output.push(pb::ValueInfoProto {
            name: "c".into(),
            ..Default::default()
        });
        assert_eq!(rewrite(&mut m).convs, 0);
    }
}
