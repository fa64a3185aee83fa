//! Fold an inference `BatchNormalization` into the `Conv` that feeds it:
//! `W'[o] = W[o]·γ_o/√(σ²_o+ε)`, `b'_o = (b_o − μ_o)·γ_o/√(σ²_o+ε) + β_o`.
//! Exact (up to float rounding) everywhere, borders included.

use std::path::Path;

use crate::error::OnnxError;
use crate::graph::{node_label, GraphIndex, Namer};
use crate::pb::GraphProto;
use crate::{attr, Tensor};

/// Fold every foldable `Conv → BatchNormalization` pair; returns the BN node names folded.
pub fn fold_batchnorm(g: &mut GraphProto, base: Option<&Path>) -> Result<Vec<String>, OnnxError> {
    let mut folded = Vec::new();
    loop {
        let ix = GraphIndex::new(g);
        let Some((ci, bi)) = g.node.iter().enumerate().find_map(|(bi, bn)| {
            if bn.op_type() != "BatchNormalization"
                || bn.output.iter().skip(1).any(|o| !o.is_empty())
            {
                return None;
            }
            if attr::int(bn, "training_mode").unwrap_or(0) != 0 {
                return None;
            }
            let ci = *ix.producer.get(bn.input.first()?)?;
            let conv = &g.node[ci];
            (conv.op_type() == "Conv" && ix.sole_consumer(&conv.output[0]) == Some(bi))
                .then_some((ci, bi))
        }) else {
            break;
        };
        let bn = g.node[bi].clone();
        let conv = g.node[ci].clone();
        let c = |k: usize| -> Result<Vec<f32>, OnnxError> {
            let name = bn
                .input
                .get(k)
                .ok_or_else(|| OnnxError::node(&bn, "missing input"))?;
            ix.const_value(g, name, base)?
                .map(|t| t.to_f32())
                .ok_or_else(|| OnnxError::node(&bn, format!("input `{name}` is not constant")))
        };
        let (gamma, beta, mean, var) = match (c(1), c(2), c(3), c(4)) {
            (Ok(a), Ok(b), Ok(m), Ok(v)) => (a, b, m, v),
            _ => {
                // Non-constant statistics: leave this pair alone and stop looking at it.
                mark_skip(g, bi);
                continue;
            }
        };
        let eps = attr::float(&bn, "epsilon").unwrap_or(1e-5);
        let Some(w) = conv
            .input
            .get(1)
            .and_then(|n| ix.const_value(g, n, base).transpose())
        else {
            mark_skip(g, bi);
            continue;
        };
        let w = w?;
        let o = w.dims[0];
        if [&gamma, &beta, &mean, &var].iter().any(|v| v.len() != o) {
            return Err(OnnxError::node(
                &bn,
                format!(
                    "parameters do not have {o} channels like conv `{}`",
                    node_label(&conv)
                ),
            ));
        }
        let bias = match conv.input.get(2).filter(|s| !s.is_empty()) {
            Some(b) => ix
                .const_value(g, b, base)?
                .ok_or_else(|| OnnxError::node(&conv, "bias is not constant"))?
                .to_f32(),
            None => vec![0.0; o],
        };
        let per = w.len() / o;
        let wv = w.to_f32();
        let mut nw = Vec::with_capacity(wv.len());
        let mut nb = Vec::with_capacity(o);
        for k in 0..o {
            let s = gamma[k] as f64 / (var[k] as f64 + eps as f64).sqrt();
            nw.extend(
                wv[k * per..(k + 1) * per]
                    .iter()
                    .map(|&x| (x as f64 * s) as f32),
            );
            nb.push(((bias[k] as f64 - mean[k] as f64) * s + beta[k] as f64) as f32);
        }
        let mut namer = Namer::new(g);
        let wn = namer.fresh(&format!("{}_w_bn", node_label(&conv)));
        let bn_name = namer.fresh(&format!("{}_b_bn", node_label(&conv)));
        g.initializer
            .push(Tensor::f32(w.dims.clone(), nw).to_proto(&wn));
        g.initializer
            .push(Tensor::f32(vec![o], nb).to_proto(&bn_name));
        let conv_mut = &mut g.node[ci];
        conv_mut.input.resize(3, String::new());
        conv_mut.input[1] = wn;
        conv_mut.input[2] = bn_name;
        conv_mut.output[0] = bn.output[0].clone();
        g.node.remove(bi);
        folded.push(node_label(&bn));
    }
    for n in g.node.iter_mut() {
        attr::remove(n, SKIP);
    }
    Ok(folded)
}

const SKIP: &str = "__nyquist_skip_bn";

fn mark_skip(g: &mut GraphProto, bi: usize) {
    // Make the BN unmatchable for the rest of this pass (removed before returning).
    attr::set(&mut g.node[bi], attr::make_int("training_mode", 1));
    attr::set(&mut g.node[bi], attr::make_int(SKIP, 1));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::node;

    #[test]
    fn folded_conv_matches_hand_computed_values() {
        let mut g = GraphProto {
            initializer: vec![
                Tensor::f32(vec![2, 1, 1, 1], vec![2.0, -1.0]).to_proto("w"),
                Tensor::f32(vec![2], vec![0.5, 0.0]).to_proto("b"),
                Tensor::f32(vec![2], vec![3.0, 1.0]).to_proto("gamma"),
                Tensor::f32(vec![2], vec![1.0, -2.0]).to_proto("beta"),
                Tensor::f32(vec![2], vec![0.5, 4.0]).to_proto("mean"),
                Tensor::f32(vec![2], vec![4.0, 0.25]).to_proto("var"),
            ],
            node: vec![
                node("Conv", "c", &["x", "w", "b"], &["y"], vec![]),
                node(
                    "BatchNormalization",
                    "bn",
                    &["y", "gamma", "beta", "mean", "var"],
                    &["z"],
                    vec![crate::attr::make_float("epsilon", 0.0)],
                ),
            ],
            ..Default::default()
        };
        assert_eq!(
            fold_batchnorm(&mut g, None).unwrap(),
            vec!["bn".to_string()]
        );
        assert_eq!(g.node.len(), 1);
        assert_eq!(g.node[0].output[0], "z");
        let ix = GraphIndex::new(&g);
        let w = ix
            .const_value(&g, &g.node[0].input[1], None)
            .unwrap()
            .unwrap()
            .to_f32();
        let b = ix
            .const_value(&g, &g.node[0].input[2], None)
            .unwrap()
            .unwrap()
            .to_f32();
        // channel 0: s = 3/2 → w 3, b (0.5-0.5)*1.5+1 = 1; channel 1: s = 1/0.5 = 2 → w -2, b (0-4)*2-2 = -10
        assert_eq!(w, vec![3.0, -2.0]);
        assert_eq!(b, vec![1.0, -10.0]);
    }

    #[test]
    fn conv_with_two_readers_is_left_alone() {
        let inits = ["w", "gamma", "beta", "mean", "var"];
        let mut g = GraphProto {
            initializer: inits
                .iter()
                .map(|n| Tensor::f32(vec![1, 1, 1, 1], vec![1.0]).to_proto(n))
                .collect(),
            ..Default::default()
        };
        g.node = vec![
            node("Conv", "c", &["x", "w"], &["y"], vec![]),
            node(
                "BatchNormalization",
                "bn",
                &["y", "gamma", "beta", "mean", "var"],
                &["z"],
                vec![],
            ),
            node("Relu", "r", &["y"], &["q"], vec![]),
        ];
        assert!(fold_batchnorm(&mut g, None).unwrap().is_empty());
        assert_eq!(g.node.len(), 3);
        assert!(g
            .node
            .iter()
            .all(|n| n.attribute.iter().all(|a| a.name() != SKIP)));
    }
}
