//! Constant folding of the small integer subgraphs that exporters build for `Pad`
//! (PyTorch computes reflect pads with `Constant → ConstantOfShape → Concat →
//! Reshape → Slice → Transpose → Reshape → Cast`). Each `Pad` whose `pads`,
//! `constant_value` or `axes` input can be evaluated gets an initializer instead;
//! the dead subgraph is left for [`super::dce`].

use std::path::Path;

use crate::error::OnnxError;
use crate::graph::{GraphIndex, Namer};
use crate::pb::GraphProto;
use crate::{attr, Tensor};

/// What [`fold_pad_inputs`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ConstFoldReport {
    /// Pad nodes whose inputs were replaced by initializers.
    pub folded: Vec<String>,
    /// Pad nodes whose pads depend on runtime values: `(node, reason)`.
    pub dynamic: Vec<(String, String)>,
}

/// Replace computed inputs of every `Pad` node by initializers where possible.
pub fn fold_pad_inputs(
    g: &mut GraphProto,
    base: Option<&Path>,
) -> Result<ConstFoldReport, OnnxError> {
    let ix = GraphIndex::new(g);
    let mut namer = Namer::new(g);
    let mut report = ConstFoldReport::default();
    let mut new_inits = Vec::new();
    let mut rewires = Vec::new();
    for (ni, n) in g.node.iter().enumerate() {
        if n.op_type() != "Pad" {
            continue;
        }
        let mut folded_any = false;
        for (slot, input) in n.input.iter().enumerate().skip(1) {
            if input.is_empty() || ix.const_proto(g, input).is_some() {
                continue;
            }
            let mut ev = Evaluator {
                g,
                ix: &ix,
                base,
                depth: 0,
            };
            match ev.eval(input) {
                Ok(t) => {
                    let name = namer.fresh(&format!("{}_const", input.trim_start_matches('/')));
                    new_inits.push(t.to_proto(&name));
                    rewires.push((ni, slot, name));
                    folded_any = true;
                }
                Err(why) => report.dynamic.push((
                    crate::graph::node_label(n),
                    format!("input `{input}`: {why}"),
                )),
            }
        }
        if folded_any {
            report.folded.push(crate::graph::node_label(n));
        }
    }
    for (ni, slot, name) in rewires {
        g.node[ni].input[slot] = name;
    }
    g.initializer.extend(new_inits);
    Ok(report)
}

/// The operators [`Evaluator`] computes.
pub const EVALUATED: [&str; 13] = [
    "Identity",
    "Cast",
    "ConstantOfShape",
    "Concat",
    "Reshape",
    "Transpose",
    "Slice",
    "Unsqueeze",
    "Squeeze",
    "Gather",
    "Add",
    "Sub",
    "Mul",
];

/// Evaluates integer subgraphs made of shape-manipulation ops.
pub struct Evaluator<'a> {
    g: &'a GraphProto,
    ix: &'a GraphIndex,
    base: Option<&'a Path>,
    depth: usize,
}

impl<'a> Evaluator<'a> {
    /// An evaluator over `g`.
    pub fn new(g: &'a GraphProto, ix: &'a GraphIndex, base: Option<&'a Path>) -> Self {
        Evaluator {
            g,
            ix,
            base,
            depth: 0,
        }
    }

    /// The value of tensor `name`, or why it is not a compile-time constant.
    pub fn eval(&mut self, name: &str) -> Result<Tensor, String> {
        if let Some(t) = self
            .ix
            .const_value(self.g, name, self.base)
            .map_err(|e| e.to_string())?
        {
            return Ok(t);
        }
        let n = self
            .ix
            .producer_of(self.g, name)
            .ok_or_else(|| format!("`{name}` is a graph input"))?;
        if !EVALUATED.contains(&n.op_type()) {
            return Err(format!(
                "`{name}` comes from {}, which is not evaluated at conversion time",
                n.op_type()
            ));
        }
        self.depth += 1;
        if self.depth > 64 {
            return Err("subgraph too deep".into());
        }
        let mut ins = Vec::new();
        for i in &n.input {
            ins.push(if i.is_empty() {
                None
            } else {
                Some(self.eval(i)?)
            });
        }
        self.depth -= 1;
        let int = |t: &Option<Tensor>| -> Result<Vec<i64>, String> {
            let t = t.as_ref().ok_or("missing input")?;
            t.as_i64()
                .map(<[i64]>::to_vec)
                .ok_or_else(|| "float tensor in an integer subgraph".into())
        };
        let get = |k: usize| ins.get(k).cloned().flatten();
        let op = n.op_type();
        let x = || get(0).ok_or_else(|| format!("{op} without input"));
        match op {
            "Identity" => x(),
            "Cast" => {
                let to = attr::int(n, "to").unwrap_or(0);
                // 6 INT32, 7 INT64, 2 UINT8, 3 INT8, 5 INT16, 9 BOOL, 12 UINT32, 13 UINT64
                if ![2, 3, 5, 6, 7, 9, 12, 13].contains(&to) {
                    return Err(format!("Cast to data type {to}"));
                }
                let t = x()?;
                let v = t.as_i64().ok_or("Cast of a float tensor")?.to_vec();
                Ok(Tensor::i64(t.dims, v))
            }
            "ConstantOfShape" => {
                let shape: Vec<usize> = int(&get(0))?.iter().map(|&d| d.max(0) as usize).collect();
                let value = match attr::get(n, "value").and_then(|a| a.t.as_ref()) {
                    Some(t) => Tensor::from_proto(t, self.base).map_err(|e| e.to_string())?,
                    None => Tensor::i64(vec![1], vec![0]),
                };
                let v = *value
                    .as_i64()
                    .and_then(|v| v.first())
                    .ok_or("non-integer ConstantOfShape")?;
                Ok(Tensor::i64(shape.clone(), vec![v; shape.iter().product()]))
            }
            "Concat" => {
                let axis = attr::int(n, "axis").unwrap_or(0);
                let parts: Vec<Tensor> = ins.iter().flatten().cloned().collect();
                if parts.iter().any(|t| t.dims.len() != 1) || (axis != 0 && axis != -1) {
                    return Err("Concat of non-1-D tensors".into());
                }
                let mut v = Vec::new();
                for p in &parts {
                    v.extend_from_slice(p.as_i64().ok_or("float Concat")?);
                }
                Ok(Tensor::i64(vec![v.len()], v))
            }
            "Reshape" => {
                let t = x()?;
                let shape = int(&get(1))?;
                let total = t.len();
                let known: usize = shape
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| {
                        if d == 0 {
                            t.dims.get(i).copied().unwrap_or(1)
                        } else if d < 0 {
                            1
                        } else {
                            d as usize
                        }
                    })
                    .product();
                let dims: Vec<usize> = shape
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| match d {
                        0 => t.dims.get(i).copied().unwrap_or(1),
                        d if d < 0 => total / known.max(1),
                        d => d as usize,
                    })
                    .collect();
                if dims.iter().product::<usize>() != total {
                    return Err(format!("Reshape {:?} -> {shape:?}", t.dims));
                }
                let v = int(&Some(t))?;
                Ok(Tensor::i64(dims, v))
            }
            "Transpose" => {
                let t = x()?;
                let r = t.dims.len();
                let perm: Vec<usize> = attr::ints(n, "perm")
                    .map(|p| p.iter().map(|&a| a as usize).collect())
                    .unwrap_or_else(|| (0..r).rev().collect());
                transpose(&t, &perm)
            }
            "Slice" => {
                let t = x()?;
                slice(
                    &t,
                    &int(&get(1))?,
                    &int(&get(2))?,
                    get(3).map(|a| int(&Some(a))).transpose()?,
                    get(4).map(|a| int(&Some(a))).transpose()?,
                )
            }
            "Unsqueeze" | "Squeeze" => {
                let t = x()?;
                let axes = match get(1) {
                    Some(a) => int(&Some(a))?,
                    None => attr::ints(n, "axes").unwrap_or_default(),
                };
                let mut dims = t.dims.clone();
                if op == "Unsqueeze" {
                    let r = (dims.len() + axes.len()) as i64;
                    let mut ax: Vec<usize> = axes
                        .iter()
                        .map(|&a| (if a < 0 { a + r } else { a }) as usize)
                        .collect();
                    ax.sort_unstable();
                    for a in ax {
                        dims.insert(a.min(dims.len()), 1);
                    }
                } else {
                    dims.retain(|&d| d != 1);
                }
                let v = int(&Some(t))?;
                Ok(Tensor::i64(dims, v))
            }
            "Gather" => {
                let t = x()?;
                let idx = int(&get(1))?;
                if t.dims.len() != 1 {
                    return Err("Gather on a non-1-D tensor".into());
                }
                let data = int(&Some(t.clone()))?;
                let n = data.len() as i64;
                let v = idx
                    .iter()
                    .map(|&i| {
                        data.get((if i < 0 { i + n } else { i }) as usize)
                            .copied()
                            .ok_or("Gather index out of range")
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let dims = get(1).map(|i| i.dims).unwrap_or_default();
                Ok(Tensor::i64(dims, v))
            }
            "Add" | "Sub" | "Mul" => {
                let (a, b) = (int(&get(0))?, int(&get(1))?);
                let (da, db) = (
                    get(0).map(|t| t.dims).unwrap_or_default(),
                    get(1).map(|t| t.dims).unwrap_or_default(),
                );
                let (dims, n) = if a.len() >= b.len() {
                    (da, a.len())
                } else {
                    (db, b.len())
                };
                if a.len() != n && a.len() != 1 || b.len() != n && b.len() != 1 {
                    return Err(format!("{op} with incompatible shapes"));
                }
                let at = |v: &[i64], i: usize| if v.len() == 1 { v[0] } else { v[i] };
                let f = |p: i64, q: i64| match op {
                    "Add" => p.wrapping_add(q),
                    "Sub" => p.wrapping_sub(q),
                    _ => p.wrapping_mul(q),
                };
                Ok(Tensor::i64(
                    dims,
                    (0..n).map(|i| f(at(&a, i), at(&b, i))).collect(),
                ))
            }
            other => Err(format!(
                "`{name}` comes from {other}, which is not evaluated at conversion time"
            )),
        }
    }
}

fn strides_of(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

fn transpose(t: &Tensor, perm: &[usize]) -> Result<Tensor, String> {
    let r = t.dims.len();
    if perm.len() != r || (0..r).any(|a| !perm.contains(&a)) {
        return Err(format!("Transpose perm {perm:?} for rank {r}"));
    }
    let v = t.as_i64().ok_or("float Transpose")?;
    let dims: Vec<usize> = perm.iter().map(|&p| t.dims[p]).collect();
    let src = strides_of(&t.dims);
    let dst = strides_of(&dims);
    let out = (0..t.len())
        .map(|flat| {
            let off: usize = (0..r)
                .map(|a| (flat / dst[a]) % dims[a] * src[perm[a]])
                .sum();
            v[off]
        })
        .collect();
    Ok(Tensor::i64(dims, out))
}

fn slice(
    t: &Tensor,
    starts: &[i64],
    ends: &[i64],
    axes: Option<Vec<i64>>,
    steps: Option<Vec<i64>>,
) -> Result<Tensor, String> {
    let r = t.dims.len();
    let axes: Vec<usize> = axes
        .unwrap_or_else(|| (0..starts.len() as i64).collect())
        .iter()
        .map(|&a| (if a < 0 { a + r as i64 } else { a }) as usize)
        .collect();
    let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
    // Per axis, the list of source indices kept.
    let mut keep: Vec<Vec<usize>> = t.dims.iter().map(|&d| (0..d).collect()).collect();
    for (k, &a) in axes.iter().enumerate() {
        let d = *t.dims.get(a).ok_or("Slice axis out of range")? as i64;
        let step = steps[k];
        if step == 0 {
            return Err("Slice step 0".into());
        }
        let clamp = |x: i64, lo: i64, hi: i64| x.max(lo).min(hi);
        let norm = |x: i64| if x < 0 { x.saturating_add(d) } else { x };
        let (s, e) = if step > 0 {
            (clamp(norm(starts[k]), 0, d), clamp(norm(ends[k]), 0, d))
        } else {
            (
                clamp(norm(starts[k]), -1, d - 1),
                clamp(norm(ends[k]), -1, d - 1),
            )
        };
        let mut idx = Vec::new();
        let mut i = s;
        while (step > 0 && i < e) || (step < 0 && i > e) {
            idx.push(i as usize);
            i += step;
        }
        keep[a] = idx;
    }
    let v = t.as_i64().ok_or("float Slice")?;
    let src = strides_of(&t.dims);
    let dims: Vec<usize> = keep.iter().map(Vec::len).collect();
    let dst = strides_of(&dims);
    let total: usize = dims.iter().product();
    let out = (0..total)
        .map(|flat| {
            let off: usize = (0..r)
                .map(|a| keep[a][(flat / dst[a]) % dims[a]] * src[a])
                .sum();
            v[off]
        })
        .collect();
    Ok(Tensor::i64(dims, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::{make_ints, node};

    fn c(name: &str, dims: Vec<usize>, v: Vec<i64>) -> crate::pb::TensorProto {
        Tensor::i64(dims, v).to_proto(name)
    }

    /// PyTorch's reflect-pad subgraph for F.pad(x, (1, 2, 3, 4)) on a 4-D input:
    /// the expected ONNX pads are [0, 0, 3, 1, 0, 0, 4, 2].
    #[test]
    fn pytorch_reflect_pad_subgraph_evaluates_to_onnx_pads() {
        let g = GraphProto {
            initializer: vec![
                c("p", vec![4], vec![1, 2, 3, 4]),
                c("len", vec![1], vec![4]),
                c("shape2", vec![2], vec![-1, 2]),
                c("st", vec![1], vec![-1]),
                c("en", vec![1], vec![-9223372036854775807]),
                c("ax", vec![1], vec![0]),
                c("sp", vec![1], vec![-1]),
                c("flat", vec![1], vec![-1]),
            ],
            node: vec![
                node("ConstantOfShape", "z", &["len"], &["zeros"], vec![]),
                node(
                    "Concat",
                    "cat",
                    &["p", "zeros"],
                    &["cat"],
                    vec![crate::attr::make_int("axis", 0)],
                ),
                node("Reshape", "r1", &["cat", "shape2"], &["r1"], vec![]),
                node(
                    "Slice",
                    "sl",
                    &["r1", "st", "en", "ax", "sp"],
                    &["sl"],
                    vec![],
                ),
                node(
                    "Transpose",
                    "tr",
                    &["sl"],
                    &["tr"],
                    vec![make_ints("perm", &[1, 0])],
                ),
                node("Reshape", "r2", &["tr", "flat"], &["r2"], vec![]),
                node(
                    "Cast",
                    "cast",
                    &["r2"],
                    &["pads"],
                    vec![crate::attr::make_int("to", 7)],
                ),
            ],
            ..Default::default()
        };
        let ix = GraphIndex::new(&g);
        let t = Evaluator::new(&g, &ix, None).eval("pads").unwrap();
        assert_eq!(t.as_i64().unwrap(), &[0, 0, 3, 1, 0, 0, 4, 2]);
    }

    #[test]
    fn shape_of_a_graph_input_is_dynamic() {
        let mut g = GraphProto::default();
        g.input.push(crate::pb::ValueInfoProto {
            name: Some("x".into()),
            ..Default::default()
        });
        g.node = vec![node("Shape", "s", &["x"], &["s"], vec![])];
        let ix = GraphIndex::new(&g);
        let e = Evaluator::new(&g, &ix, None).eval("s").unwrap_err();
        assert!(e.contains("Shape"), "{e}");
    }
}
