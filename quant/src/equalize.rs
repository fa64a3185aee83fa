//! Cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization"): for
//! `Conv₁ → ReLU → Conv₂` with nothing else reading in between, rescale each
//! channel `i` of Conv₁'s output by `1/s_i` and Conv₂'s matching input channel by
//! `s_i`, with `s_i = √(r₁ᵢ / r₂ᵢ)` (r: the channel's max |weight|), so both
//! layers' per-channel ranges meet in the middle. Exact because ReLU is
//! positively homogeneous — and inapplicable through GELU or SiLU, which are not.

use std::path::Path;

use super::graph::{Fused, QGraph, QOp};
use crate::error::QuantError;
use nyquist_onnx::graph::{GraphIndex, Namer};
use nyquist_onnx::pb::GraphProto;
use nyquist_onnx::Tensor;

/// Equalize every eligible pair in place; returns the pairs, as (conv₁, conv₂) node names.
pub fn equalize(
    g: &mut GraphProto,
    qg: &QGraph,
    base: Option<&Path>,
) -> Result<Vec<(String, String)>, QuantError> {
    let mut pairs = Vec::new();
    for a in &qg.ops {
        let QOp::Conv {
            nodes: na,
            output: oa,
            weight: wa,
            bias: ba,
            fused: Fused::Relu,
            geom: ga,
            ..
        } = a
        else {
            continue;
        };
        let readers: Vec<&QOp> = qg
            .ops
            .iter()
            .filter(|o| o.inputs().contains(&oa.as_str()))
            .collect();
        let [QOp::Conv {
            nodes: nb,
            weight: wb,
            geom: gb,
            ..
        }] = readers.as_slice()
        else {
            continue;
        };
        if ga.group != 1 || gb.group != 1 || GraphIndex::new(g).fan_out(oa) != 1 {
            continue;
        }
        let ix = GraphIndex::new(g);
        let (Some(w1), Some(w2)) = (ix.const_value(g, wa, base)?, ix.const_value(g, wb, base)?)
        else {
            continue;
        };
        let b1 = match ba {
            Some(b) => ix.const_value(g, b, base)?.map(|t| t.to_f32()),
            None => None,
        };
        let c = w1.dims[0];
        if w2.dims[1] != c {
            continue;
        }
        let (v1, mut v2) = (w1.to_f32(), w2.to_f32());
        let per1 = v1.len() / c;
        let k2: usize = w2.dims[2..].iter().product();
        let r1: Vec<f32> = (0..c)
            .map(|i| {
                v1[i * per1..(i + 1) * per1]
                    .iter()
                    .fold(0f32, |m, x| m.max(x.abs()))
            })
            .collect();
        let mut r2 = vec![0f32; c];
        for (j, x) in v2.iter().enumerate() {
            let i = (j / k2) % c;
            r2[i] = r2[i].max(x.abs());
        }
        let s: Vec<f32> = (0..c)
            .map(|i| {
                if r1[i] > 0.0 && r2[i] > 0.0 {
                    (r1[i] / r2[i]).sqrt()
                } else {
                    1.0
                }
            })
            .collect();
        let nv1: Vec<f32> = v1
            .iter()
            .enumerate()
            .map(|(j, x)| x / s[j / per1])
            .collect();
        for (j, x) in v2.iter_mut().enumerate() {
            *x *= s[(j / k2) % c];
        }
        let mut namer = Namer::new(g);
        let (n1, n2) = (
            namer.fresh(&format!("{wa}_cle")),
            namer.fresh(&format!("{wb}_cle")),
        );
        g.initializer
            .push(Tensor::f32(w1.dims.clone(), nv1).to_proto(&n1));
        g.initializer
            .push(Tensor::f32(w2.dims.clone(), v2).to_proto(&n2));
        let set_input = |g: &mut GraphProto, node: &str, k: usize, v: &str| {
            if let Some(n) = g
                .node
                .iter_mut()
                .find(|n| nyquist_onnx::graph::node_label(n) == node)
            {
                n.input[k] = v.to_string();
            }
        };
        set_input(g, &na[0], 1, &n1);
        set_input(g, &nb[0], 1, &n2);
        if let (Some(b), Some(bv)) = (ba, b1) {
            let nb1 = namer.fresh(&format!("{b}_cle"));
            g.initializer.push(
                Tensor::f32(vec![c], bv.iter().zip(&s).map(|(x, si)| x / si).collect())
                    .to_proto(&nb1),
            );
            set_input(g, &na[0], 2, &nb1);
        }
        pairs.push((na[0].clone(), nb[0].clone()));
    }
    Ok(pairs)
}
