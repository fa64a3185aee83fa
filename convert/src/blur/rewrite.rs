//! The three blur rewrites, each built as a [`Rewrite`]: the nodes it removes and
//! the nodes and initializers that replace them. Building a rewrite does not touch
//! the graph, so the planner can price and test every candidate first.
//!
//! * **fold** — `Conv_W(s1) → [Pad] → Blur_B(s)` ⇒ `Conv_{W⊛B}(s)`, zero pads `p_c + p_b`.
//! * **commute** — ⇒ `[Pad] → Blur_B(s1) → Conv_W(s)` on the conv's input; for a 1×1
//!   conv with no pads, `[Pad] → Blur_B(s) → Conv_W(s1)` (same numbers, fewer MACs).
//! * **forward** — `[Pad] → Blur_B(s) → Conv_W(t)` ⇒ `Conv_{W'}(s·t)`, `W'` from
//!   [`crate::kernel::compose`] with step `s`, zero pads `s·p_w + p_u`.
//!
//! All three are exact on the interior of the region (see [`super::region`]).

use std::path::Path;

use serde::Serialize;

use super::detect::{BlurSite, Neighbour, PadMode};
use super::region::Footprint;
use crate::kernel::compose_weight;
use nyquist_onnx::conv::ConvGeom;
use nyquist_onnx::graph::{node_label, GraphIndex, Namer};
use nyquist_onnx::pb::{GraphProto, NodeProto, TensorProto};
use nyquist_onnx::{attr, Tensor};

/// What to do with one blur.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Leave the blur where it is.
    Keep,
    /// Fold the blur into the conv before it.
    Fold,
    /// Move the blur in front of the conv before it, which goes back to its stride.
    Commute,
    /// Fold the blur into the conv after it.
    Forward,
}

impl Strategy {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Keep => "keep",
            Strategy::Fold => "fold",
            Strategy::Commute => "commute",
            Strategy::Forward => "forward",
        }
    }

    /// The rewrites (everything but keep).
    pub const REWRITES: [Strategy; 3] = [Strategy::Fold, Strategy::Commute, Strategy::Forward];
}

/// One candidate rewrite of one blur.
#[derive(Debug, Clone)]
pub struct Rewrite {
    /// Which rewrite.
    pub strategy: Strategy,
    /// The blur node.
    pub blur: String,
    /// Tensor entering the region.
    pub input: String,
    /// Tensor leaving the region.
    pub output: String,
    /// Names of the nodes the region consists of now (replaced by `nodes`).
    pub remove: Vec<String>,
    /// The replacement nodes, in order.
    pub nodes: Vec<NodeProto>,
    /// New initializers the replacement reads.
    pub initializers: Vec<TensorProto>,
    /// Receptive-field geometry of the region (for interior / border).
    pub footprint: Footprint,
}

struct ConvParts {
    node: NodeProto,
    geom: ConvGeom,
    weight: Tensor,
    bias: Option<String>,
}

fn conv_parts(
    g: &GraphProto,
    ix: &GraphIndex,
    name: &str,
    base: Option<&Path>,
) -> Result<ConvParts, String> {
    let node = g
        .node
        .iter()
        .find(|n| node_label(n) == name)
        .ok_or_else(|| format!("conv `{name}` not found"))?
        .clone();
    let weight = ix
        .const_value(g, &node.input[1], base)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("conv `{name}` has a weight computed at run time"))?;
    if weight.dims.len() != 4 {
        return Err(format!("conv `{name}` is not 2-D"));
    }
    let geom =
        ConvGeom::of(&node, Some(&weight.dims)).map_err(|e| format!("conv `{name}`: {e}"))?;
    if geom.dilations != [1, 1] {
        return Err(format!("conv `{name}` is dilated"));
    }
    let bias = node.input.get(2).filter(|b| !b.is_empty()).cloned();
    Ok(ConvParts {
        node,
        geom,
        weight,
        bias,
    })
}

fn usable(site: &BlurSite) -> Result<(), String> {
    if let Some(why) = &site.fixed {
        return Err(why.clone());
    }
    if site.affine.is_some() {
        return Err(
            "the blur carries a per-channel scale and bias that could not be separated".into(),
        );
    }
    Ok(())
}

fn region_nodes(site: &BlurSite, conv: &str, conv_first: bool) -> Vec<String> {
    let mut v = Vec::new();
    if conv_first {
        v.push(conv.to_string());
    }
    v.extend(site.pad_node.clone());
    v.push(site.node.clone());
    if !conv_first {
        v.push(conv.to_string());
    }
    v
}

fn dims4(w: &Tensor) -> [usize; 4] {
    [w.dims[0], w.dims[1], w.dims[2], w.dims[3]]
}

fn conv_node(
    name: &str,
    x: &str,
    w: &str,
    bias: Option<&str>,
    out: &str,
    geom: &ConvGeom,
) -> NodeProto {
    let mut ins = vec![x, w];
    ins.extend(bias);
    attr::node("Conv", name, &ins, &[out], geom.to_attrs())
}

/// The producer conv of a fold/commute candidate, checked.
fn before_conv(
    g: &GraphProto,
    ix: &GraphIndex,
    site: &BlurSite,
    base: Option<&Path>,
) -> Result<ConvParts, String> {
    usable(site)?;
    let Neighbour::Conv {
        node, exclusive, ..
    } = &site.before
    else {
        return Err(format!(
            "the blur follows {}, not a conv",
            site.before.describe()
        ));
    };
    if !exclusive {
        return Err(format!(
            "the output of conv `{node}` is also read elsewhere"
        ));
    }
    let c = conv_parts(g, ix, node, base)?;
    if c.geom.strides != [1, 1] {
        return Err(format!(
            "conv `{node}` already has stride {:?}",
            c.geom.strides
        ));
    }
    Ok(c)
}

/// Build the fold of `site` into the conv before it.
pub fn fold(
    g: &GraphProto,
    site: &BlurSite,
    base: Option<&Path>,
    namer: &mut Namer,
) -> Result<Rewrite, String> {
    let ix = GraphIndex::new(g);
    let c = before_conv(g, &ix, site, base)?;
    let (w, dims) = compose_weight(&c.weight.to_f32(), dims4(&c.weight), &site.kernel, [1, 1]);
    let wname = namer.fresh(&format!("{}_w_fold", node_label(&c.node)));
    let p = &c.geom.pads;
    let geom = ConvGeom {
        kernel: [dims[2], dims[3]],
        strides: site.stride,
        pads: [
            p[0] + site.pads[0],
            p[1] + site.pads[1],
            p[2] + site.pads[2],
            p[3] + site.pads[3],
        ],
        dilations: [1, 1],
        group: c.geom.group,
    };
    let node = conv_node(
        &node_label(&c.node),
        &c.node.input[0],
        &wname,
        c.bias.as_deref(),
        &site.output,
        &geom,
    );
    Ok(Rewrite {
        strategy: Strategy::Fold,
        blur: site.node.clone(),
        input: c.node.input[0].clone(),
        output: site.output.clone(),
        remove: region_nodes(site, &node_label(&c.node), true),
        nodes: vec![node],
        initializers: vec![Tensor::f32(dims.to_vec(), w).to_proto(&wname)],
        footprint: Footprint::conv_then_blur(
            c.geom.kernel,
            [p[0], p[1]],
            site.kernel_size,
            site.stride,
            [site.pads[0], site.pads[1]],
        ),
    })
}

/// Nodes that pad (if needed) and blur `x` with the site's kernel and padding at `stride`.
fn blur_nodes(
    site: &BlurSite,
    x: &str,
    channels: usize,
    stride: [usize; 2],
    out: &str,
    namer: &mut Namer,
) -> (Vec<NodeProto>, Vec<TensorProto>) {
    let mut nodes = Vec::new();
    let mut inits = Vec::new();
    let kname = namer.fresh(&format!("{}_kernel", site.node));
    inits.push(
        Tensor::f32(
            vec![channels, 1, site.kernel.h, site.kernel.w],
            site.kernel.depthwise_weight(channels),
        )
        .to_proto(&kname),
    );
    let mut geom = ConvGeom {
        kernel: site.kernel_size,
        strides: stride,
        pads: [0; 4],
        dilations: [1, 1],
        group: channels,
    };
    let mut src = x.to_string();
    if site.pad_mode == PadMode::Zero {
        geom.pads = site.pads;
    } else if site.pads != [0; 4] {
        let pname = namer.fresh(&format!("{}_pads", site.node));
        let p = site.pads.map(|v| v as i64);
        inits.push(Tensor::i64(vec![8], vec![0, 0, p[0], p[1], 0, 0, p[2], p[3]]).to_proto(&pname));
        let padded = namer.fresh(&format!("{x}_padded"));
        let pad_node = namer.fresh(&format!("{}_pad", site.node));
        nodes.push(attr::node(
            "Pad",
            &pad_node,
            &[x, &pname],
            &[&padded],
            vec![attr::make_string("mode", site.pad_mode.onnx())],
        ));
        src = padded;
    }
    let bname = namer.fresh(&format!("{}_moved", site.node));
    nodes.push(conv_node(&bname, &src, &kname, None, out, &geom));
    (nodes, inits)
}

/// Build the commute of `site` with the conv before it.
pub fn commute(
    g: &GraphProto,
    site: &BlurSite,
    base: Option<&Path>,
    namer: &mut Namer,
) -> Result<Rewrite, String> {
    let ix = GraphIndex::new(g);
    let c = before_conv(g, &ix, site, base)?;
    let x = c.node.input[0].clone();
    let channels = c.weight.dims[1] * c.geom.group;
    let blurred = namer.fresh(&format!("{x}_blurred"));
    let pointwise = c.geom.kernel == [1, 1] && c.geom.pads == [0; 4];
    let (blur_stride, conv_geom) = if pointwise {
        (site.stride, c.geom.clone())
    } else {
        (
            [1, 1],
            ConvGeom {
                strides: site.stride,
                ..c.geom.clone()
            },
        )
    };
    let (mut nodes, initializers) = blur_nodes(site, &x, channels, blur_stride, &blurred, namer);
    nodes.push(conv_node(
        &node_label(&c.node),
        &blurred,
        &c.node.input[1],
        c.bias.as_deref(),
        &site.output,
        &conv_geom,
    ));
    let p = &c.geom.pads;
    Ok(Rewrite {
        strategy: Strategy::Commute,
        blur: site.node.clone(),
        input: x,
        output: site.output.clone(),
        remove: region_nodes(site, &node_label(&c.node), true),
        nodes,
        initializers,
        footprint: Footprint::conv_then_blur(
            c.geom.kernel,
            [p[0], p[1]],
            site.kernel_size,
            site.stride,
            [site.pads[0], site.pads[1]],
        ),
    })
}

/// Build the forward fold of `site` into the conv after it.
pub fn forward(
    g: &GraphProto,
    site: &BlurSite,
    base: Option<&Path>,
    namer: &mut Namer,
) -> Result<Rewrite, String> {
    usable(site)?;
    let ix = GraphIndex::new(g);
    let Neighbour::Conv { node, .. } = &site.after else {
        return Err(format!(
            "the blur is read by {}, not by one conv",
            site.after.describe()
        ));
    };
    let c = conv_parts(g, &ix, node, base)?;
    if c.node.input[0] != site.output {
        return Err(format!(
            "the blur output is not the data input of conv `{node}`"
        ));
    }
    let s = site.stride;
    let (w, dims) = compose_weight(&c.weight.to_f32(), dims4(&c.weight), &site.kernel, s);
    let wname = namer.fresh(&format!("{node}_w_fwd"));
    let (pw, pu) = (&c.geom.pads, &site.pads);
    let geom = ConvGeom {
        kernel: [dims[2], dims[3]],
        strides: [s[0] * c.geom.strides[0], s[1] * c.geom.strides[1]],
        pads: [
            s[0] * pw[0] + pu[0],
            s[1] * pw[1] + pu[1],
            s[0] * pw[2] + pu[2],
            s[1] * pw[3] + pu[3],
        ],
        dilations: [1, 1],
        group: c.geom.group,
    };
    let out = c.node.output[0].clone();
    let new = conv_node(node, &site.input, &wname, c.bias.as_deref(), &out, &geom);
    Ok(Rewrite {
        strategy: Strategy::Forward,
        blur: site.node.clone(),
        input: site.input.clone(),
        output: out,
        remove: region_nodes(site, node, false),
        nodes: vec![new],
        initializers: vec![Tensor::f32(dims.to_vec(), w).to_proto(&wname)],
        footprint: Footprint::blur_then_conv(
            site.kernel_size,
            s,
            [pu[0], pu[1]],
            c.geom.kernel,
            c.geom.strides,
            [pw[0], pw[1]],
        ),
    })
}

/// Build the rewrite `strategy` of `site` (not `Keep`).
pub fn build(
    strategy: Strategy,
    g: &GraphProto,
    site: &BlurSite,
    base: Option<&Path>,
    namer: &mut Namer,
) -> Result<Rewrite, String> {
    match strategy {
        Strategy::Fold => fold(g, site, base, namer),
        Strategy::Commute => commute(g, site, base, namer),
        Strategy::Forward => forward(g, site, base, namer),
        Strategy::Keep => Err("keep is not a rewrite".into()),
    }
}

/// The original nodes of the region a rewrite replaces, as a rewrite of its own
/// (strategy `Keep`), for pricing and for the local reference run.
pub(crate) fn keep_of(g: &GraphProto, rw: &Rewrite) -> Rewrite {
    let nodes = rw
        .remove
        .iter()
        .filter_map(|n| g.node.iter().find(|m| node_label(m) == *n).cloned())
        .collect();
    Rewrite {
        strategy: Strategy::Keep,
        nodes,
        initializers: Vec::new(),
        ..rw.clone()
    }
}

/// Apply a rewrite to the graph: remove its region, insert the replacement where
/// the region started, add its initializers.
pub fn apply(g: &mut GraphProto, rw: &Rewrite) -> Result<(), String> {
    let idx: Vec<usize> = rw
        .remove
        .iter()
        .map(|n| {
            g.node
                .iter()
                .position(|m| node_label(m) == *n)
                .ok_or_else(|| format!("node `{n}` is gone (overlapping rewrites?)"))
        })
        .collect::<Result<_, _>>()?;
    nyquist_onnx::graph::splice(g, &idx, rw.nodes.clone());
    g.initializer.extend(rw.initializers.iter().cloned());
    Ok(())
}
