//! Separate a BatchNorm that an exporter folded into a blur and push it into the
//! conv in front: for `y = Conv_W(x)`, `z = a ⊙ Blur(Pad(y)) + b` equals
//! `Blur(Pad(a ⊙ y + b))` because the blur sums to 1 and reflect/edge padding
//! copies values (per channel). So `W'[o] = a_o·W[o]`, `b'_o = a_o·b_o + β_o`, and
//! the blur becomes a pure blur again. With zero padding the identity holds away
//! from the border only.

use std::path::Path;

use serde::Serialize;

use super::detect::{BlurSite, Neighbour, PadMode};
use crate::error::ConvertError;
use nyquist_onnx::graph::{GraphIndex, Namer};
use nyquist_onnx::pb::GraphProto;
use nyquist_onnx::Tensor;

/// One separated affine map.
#[derive(Debug, Clone, Serialize)]
pub struct Hoisted {
    /// The blur node.
    pub blur: String,
    /// The conv that absorbed the scale and bias.
    pub into: String,
    /// True when exact everywhere (reflect/edge padding), false when exact on the interior only.
    pub exact: bool,
}

/// Blurs whose affine part stayed: `(blur node, why)`.
pub type Refused = Vec<(String, String)>;

/// Move the affine part of every blur that has one into its producer conv.
/// With `exact_only` (`--fold-blur=off`, which must not change the
/// function), a move that is exact on the interior only — zero padding,
/// where the bias would not reach the padded border — is refused.
/// Returns what was moved and, for blurs where it could not be, why.
pub(crate) fn hoist_affine(
    g: &mut GraphProto,
    sites: &[BlurSite],
    base: Option<&Path>,
    exact_only: bool,
) -> Result<(Vec<Hoisted>, Refused), ConvertError> {
    let mut done = Vec::new();
    let mut refused = Vec::new();
    for s in sites {
        let Some(aff) = &s.affine else { continue };
        if exact_only && s.pad_mode == PadMode::Zero {
            refused.push((
                s.node.clone(),
                "kept as it is: its bias cannot move across a zero-padded blur without changing the border, and --fold-blur=off keeps the model's function".into(),
            ));
            continue;
        }
        let conv_name = match &s.before {
            Neighbour::Conv {
                node,
                exclusive: true,
                ..
            } => node.clone(),
            other => {
                refused.push((
                    s.node.clone(),
                    format!(
                        "kernels sum to {:.4}…{:.4} with a bias (a BatchNorm folded into the blur?), and the {} in front cannot absorb it",
                        aff.scale.iter().copied().fold(f32::INFINITY, f32::min),
                        aff.scale.iter().copied().fold(f32::NEG_INFINITY, f32::max),
                        other.describe()
                    ),
                ));
                continue;
            }
        };
        let ix = GraphIndex::new(g);
        let find = |name: &str| {
            g.node
                .iter()
                .position(|n| nyquist_onnx::graph::node_label(n) == name)
        };
        let (Some(ci), Some(bi)) = (find(&conv_name), find(&s.node)) else {
            continue;
        };
        let conv = g.node[ci].clone();
        let Some(w) = ix.const_value(g, &conv.input[1], base)? else {
            refused.push((
                s.node.clone(),
                format!("conv `{conv_name}` has a non-constant weight"),
            ));
            continue;
        };
        let o = w.dims[0];
        if o != s.channels {
            refused.push((
                s.node.clone(),
                format!(
                    "conv `{conv_name}` has {o} outputs, the blur {} channels",
                    s.channels
                ),
            ));
            continue;
        }
        let bias = match conv.input.get(2).filter(|b| !b.is_empty()) {
            Some(b) => match ix.const_value(g, b, base)? {
                Some(t) => t.to_f32(),
                None => {
                    refused.push((
                        s.node.clone(),
                        format!("conv `{conv_name}` has a non-constant bias"),
                    ));
                    continue;
                }
            },
            None => vec![0.0; o],
        };
        let per = w.len() / o;
        let wv = w.to_f32();
        let nw: Vec<f32> = (0..w.len()).map(|i| wv[i] * aff.scale[i / per]).collect();
        let nb: Vec<f32> = (0..o)
            .map(|k| bias[k] * aff.scale[k] + aff.bias[k])
            .collect();
        let mut namer = Namer::new(g);
        let (wn, bn, kn) = (
            namer.fresh(&format!("{conv_name}_w_aff")),
            namer.fresh(&format!("{conv_name}_b_aff")),
            namer.fresh(&format!("{}_kernel", s.node)),
        );
        g.initializer
            .push(Tensor::f32(w.dims.clone(), nw).to_proto(&wn));
        g.initializer.push(Tensor::f32(vec![o], nb).to_proto(&bn));
        g.initializer.push(
            Tensor::f32(
                vec![s.channels, 1, s.kernel.h, s.kernel.w],
                s.kernel.depthwise_weight(s.channels),
            )
            .to_proto(&kn),
        );
        let c = &mut g.node[ci];
        c.input.resize(3, String::new());
        c.input[1] = wn;
        c.input[2] = bn;
        let b = &mut g.node[bi];
        b.input.truncate(2);
        b.input[1] = kn;
        done.push(Hoisted {
            blur: s.node.clone(),
            into: conv_name,
            exact: s.pad_mode != PadMode::Zero,
        });
    }
    Ok((done, refused))
}
