//! One blur for both branches of a downsampling block.
//!
//! After commuting, a BlurAfterConv block blurs its input twice: at stride 1 in
//! front of the 3×3 conv (now stride 2) and at stride 2 in front of the 1×1
//! shortcut. With the same kernel and padding, `Blur(s)(x) = Blur(s1)(x)[::s]`, so
//! the shortcut can read the stride-1 blur and take the stride itself:
//! `Blur_B(s) → Conv1x1(s1)` ⇒ `Conv1x1(s)` on the shared `Blur_B(s1)`. Same
//! numbers, one depthwise pass less. Run after [`nyquist_onnx::passes::cse`] has merged
//! identical `Pad` nodes.

use std::path::Path;

use super::detect::{detect, Neighbour};
use crate::error::ConvertError;
use nyquist_onnx::attr;
use nyquist_onnx::graph::node_label;
use nyquist_onnx::pb::GraphProto;

/// Point every eligible 1×1 conv at a shared stride-1 blur; returns `(blur removed, conv)` pairs.
pub(crate) fn share_blurs(
    g: &mut GraphProto,
    base: Option<&Path>,
) -> Result<Vec<(String, String)>, ConvertError> {
    let (sites, _) = detect(g, base)?;
    let mut done = Vec::new();
    for s in sites
        .iter()
        .filter(|s| s.stride != [1, 1] && s.affine.is_none())
    {
        let Neighbour::Conv {
            node: conv,
            geom,
            exclusive: true,
        } = &s.after
        else {
            continue;
        };
        if geom.kernel != [1, 1] || geom.pads != [0; 4] || !geom.is_unit_stride() {
            continue;
        }
        let blur_node = g.node.iter().find(|n| node_label(n) == s.node).cloned();
        let Some(blur_node) = blur_node else { continue };
        // The stride-1 twin: same tensor in (after padding), same kernel, same zero pads.
        let twin = sites.iter().find(|t| {
            t.stride == [1, 1]
                && t.affine.is_none()
                && t.kernel_size == s.kernel_size
                && t.kernel.max_abs_diff(&s.kernel) < 1e-9
                && t.pads == s.pads
                && t.pad_mode == s.pad_mode
                && t.channels == s.channels
                && g.node
                    .iter()
                    .find(|n| node_label(n) == t.node)
                    .is_some_and(|n| n.input[0] == blur_node.input[0])
        });
        let Some(twin) = twin else { continue };
        let Some(ci) = g.node.iter().position(|n| node_label(n) == *conv) else {
            continue;
        };
        let c = &mut g.node[ci];
        c.input[0] = twin.output.clone();
        attr::set(
            c,
            attr::make_ints("strides", &[s.stride[0] as i64, s.stride[1] as i64]),
        );
        done.push((s.node.clone(), conv.clone()));
    }
    if !done.is_empty() {
        nyquist_onnx::graph::toposort(g)?;
    }
    Ok(done)
}
