//! The cost model the planner ranks rewrites with.
//!
//! `score = MACs + BYTE_WEIGHT × bytes`, where `bytes` counts every f32 tensor a
//! region materializes between its input and output (4 bytes per element
//! written; reading it back is part of the consumer's work). `BYTE_WEIGHT = 1`:
//! an intermediate element costs about as much as four multiply-accumulates of a
//! vectorized conv — a 3×3 depthwise blur is memory-bound, a conv is not. The
//! benchmark (`cargo xtask bench convert`) measures what the model only estimates.

use std::collections::HashMap;

use serde::Serialize;

use nyquist_onnx::conv::ConvGeom;
use nyquist_onnx::pb::NodeProto;
use nyquist_onnx::Tensor;

/// Weight of one intermediate byte relative to one MAC.
pub const BYTE_WEIGHT: f64 = 1.0;

/// Work of a region or a layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Cost {
    /// Multiply-accumulates.
    pub macs: u64,
    /// Bytes of intermediate tensors written.
    pub bytes: u64,
}

impl Cost {
    /// The scalar the planner minimises.
    pub fn score(&self) -> f64 {
        self.macs as f64 + BYTE_WEIGHT * self.bytes as f64
    }
}

impl std::ops::Add for Cost {
    type Output = Cost;
    fn add(self, o: Cost) -> Cost {
        Cost {
            macs: self.macs + o.macs,
            bytes: self.bytes + o.bytes,
        }
    }
}

/// MACs of a `Conv` producing `out` (`[N, C_out, H, W]`) with weight dims
/// `[C_out, C_in/g, kh, kw]`.
pub fn conv_macs(out: &[usize], weight: &[usize]) -> u64 {
    (out.iter().product::<usize>() * weight[1..].iter().product::<usize>()) as u64
}

/// Cost of running `nodes` (`Pad` and `Conv` only) from `input` (of `input_shape`)
/// to `output`. `lookup` resolves constant tensors (weights, pads) by name.
pub(crate) fn region_cost(
    nodes: &[NodeProto],
    lookup: &dyn Fn(&str) -> Option<Tensor>,
    input: &str,
    input_shape: &[usize],
    output: &str,
) -> Result<Cost, String> {
    let mut shapes: HashMap<&str, Vec<usize>> = HashMap::new();
    shapes.insert(input, input_shape.to_vec());
    let mut cost = Cost::default();
    for n in nodes {
        let x = shapes
            .get(n.input[0].as_str())
            .cloned()
            .ok_or_else(|| format!("no shape for `{}`", n.input[0]))?;
        if x.len() != 4 {
            return Err(format!("`{}` is not 4-D", n.input[0]));
        }
        let out = match n.op_type() {
            "Pad" => {
                let pads = lookup(&n.input[1])
                    .and_then(|t| t.as_i64().map(<[i64]>::to_vec))
                    .ok_or("pads not constant")?;
                if pads.len() != 8 {
                    return Err("pads not 4-D".into());
                }
                (0..4)
                    .map(|a| (x[a] as i64 + pads[a] + pads[a + 4]).max(0) as usize)
                    .collect::<Vec<_>>()
            }
            "Conv" => {
                let w = lookup(&n.input[1]).ok_or("conv weight not constant")?;
                let g = ConvGeom::of(n, Some(&w.dims))?;
                let out = vec![x[0], w.dims[0], g.out_len(0, x[2]), g.out_len(1, x[3])];
                cost.macs += conv_macs(&out, &w.dims);
                out
            }
            other => return Err(format!("{other} in a blur region")),
        };
        if n.output[0] != output {
            cost.bytes += 4 * out.iter().product::<usize>() as u64;
        }
        shapes.insert(n.output[0].as_str(), out);
    }
    if !shapes.contains_key(output) {
        return Err(format!("region does not produce `{output}`"));
    }
    Ok(cost)
}
