//! An index over a `GraphProto`: who produces and who consumes each tensor, and
//! the constant value behind a tensor name (initializer or `Constant` node).
//!
//! Passes mutate the proto and rebuild the index; graphs are small enough that
//! this is cheaper than keeping an incremental structure consistent.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::attr;
use super::pb::{GraphProto, NodeProto, TensorProto};
use super::tensor::Tensor;
use crate::error::OnnxError;

/// Producers, consumers and constants of one graph.
#[derive(Debug, Default)]
pub struct GraphIndex {
    /// Tensor name → index of the node that produces it.
    pub producer: HashMap<String, usize>,
    /// Tensor name → indices of the nodes that read it (one entry per use).
    pub consumers: HashMap<String, Vec<usize>>,
    /// Names of the graph outputs.
    pub outputs: HashSet<String>,
    /// Initializer name → index in `graph.initializer`.
    pub initializer: HashMap<String, usize>,
}

impl GraphIndex {
    /// Index `g`.
    pub fn new(g: &GraphProto) -> Self {
        let mut ix = GraphIndex::default();
        for (i, n) in g.node.iter().enumerate() {
            for o in n.output.iter().filter(|o| !o.is_empty()) {
                ix.producer.insert(o.clone(), i);
            }
            for inp in n.input.iter().filter(|s| !s.is_empty()) {
                ix.consumers.entry(inp.clone()).or_default().push(i);
            }
        }
        ix.outputs = g.output.iter().map(|o| o.name().to_string()).collect();
        ix.initializer = g
            .initializer
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name().to_string(), i))
            .collect();
        ix
    }

    /// Number of uses of `tensor`, a graph output counting as one.
    pub fn fan_out(&self, tensor: &str) -> usize {
        self.consumers.get(tensor).map_or(0, Vec::len) + usize::from(self.outputs.contains(tensor))
    }

    /// The only node reading `tensor`, if exactly one node reads it and it is not a graph output.
    pub fn sole_consumer(&self, tensor: &str) -> Option<usize> {
        match self.consumers.get(tensor).map(Vec::as_slice) {
            Some([one]) if !self.outputs.contains(tensor) => Some(*one),
            _ => None,
        }
    }

    /// The node producing `tensor`, if any.
    pub fn producer_of<'g>(&self, g: &'g GraphProto, tensor: &str) -> Option<&'g NodeProto> {
        self.producer.get(tensor).map(|&i| &g.node[i])
    }

    /// The `TensorProto` behind a constant tensor name: an initializer, or the
    /// `value` of a `Constant` node, looking through `Identity` nodes.
    pub fn const_proto<'g>(&self, g: &'g GraphProto, tensor: &str) -> Option<&'g TensorProto> {
        if let Some(&i) = self.initializer.get(tensor) {
            return Some(&g.initializer[i]);
        }
        let n = self.producer_of(g, tensor)?;
        match n.op_type() {
            "Constant" => attr::get(n, "value").and_then(|a| a.t.as_ref()),
            // PyTorch's exporter shares equal constants through Identity nodes.
            "Identity" => self.const_proto(g, n.input.first()?),
            _ => None,
        }
    }

    /// The value of a constant tensor (initializer or `Constant` node with `value`,
    /// `value_float(s)` or `value_int(s)`, looking through `Identity` nodes), or
    /// `None` if it is not constant.
    pub fn const_value(
        &self,
        g: &GraphProto,
        tensor: &str,
        base: Option<&Path>,
    ) -> Result<Option<Tensor>, OnnxError> {
        if let Some(t) = self.const_proto(g, tensor) {
            return Tensor::from_proto(t, base).map(Some);
        }
        let Some(n) = self.producer_of(g, tensor) else {
            return Ok(None);
        };
        if n.op_type() == "Identity" {
            return match n.input.first() {
                Some(i) => self.const_value(g, i, base),
                None => Ok(None),
            };
        }
        if n.op_type() != "Constant" {
            return Ok(None);
        }
        Ok(if let Some(v) = attr::float(n, "value_float") {
            Some(Tensor::f32(vec![], vec![v]))
        } else if let Some(v) = attr::int(n, "value_int") {
            Some(Tensor::i64(vec![], vec![v]))
        } else if let Some(a) = attr::get(n, "value_floats") {
            Some(Tensor::f32(vec![a.floats.len()], a.floats.clone()))
        } else {
            attr::get(n, "value_ints").map(|a| Tensor::i64(vec![a.ints.len()], a.ints.clone()))
        })
    }
}

/// A display name for a node: its name, else its first output.
pub fn node_label(n: &NodeProto) -> String {
    if !n.name().is_empty() {
        n.name().to_string()
    } else {
        n.output
            .first()
            .cloned()
            .unwrap_or_else(|| format!("<{}>", n.op_type()))
    }
}

/// Generates names not yet used by any tensor, node or initializer of a graph.
#[derive(Debug)]
pub struct Namer {
    taken: HashSet<String>,
}

impl Namer {
    /// Collect every name used in `g`.
    pub fn new(g: &GraphProto) -> Self {
        let mut taken = HashSet::new();
        for n in &g.node {
            taken.insert(n.name().to_string());
            taken.extend(n.input.iter().cloned());
            taken.extend(n.output.iter().cloned());
        }
        taken.extend(g.initializer.iter().map(|t| t.name().to_string()));
        taken.extend(g.input.iter().map(|t| t.name().to_string()));
        taken.extend(g.output.iter().map(|t| t.name().to_string()));
        Namer { taken }
    }

    /// `base`, or `base_2`, `base_3`… whichever is free; reserves it.
    pub fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 2;
        while self.taken.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.taken.insert(name.clone());
        name
    }
}

/// Replace the nodes at `remove` by `insert`, placed where the first removed node
/// was. Keeps every other node in its order, so the graph stays topologically
/// sorted as long as `insert` only reads tensors available at that point.
pub fn splice(g: &mut GraphProto, remove: &[usize], insert: Vec<NodeProto>) {
    let Some(&first) = remove.iter().min() else {
        return;
    };
    let drop: HashSet<usize> = remove.iter().copied().collect();
    let old = std::mem::take(&mut g.node);
    let mut insert = Some(insert);
    for (i, n) in old.into_iter().enumerate() {
        if i == first {
            g.node.extend(insert.take().unwrap_or_default());
        }
        if !drop.contains(&i) {
            g.node.push(n);
        }
    }
}

/// Sort nodes topologically (stable: keeps the original order where it is valid).
/// Fails with the names of the nodes on a cycle or with unresolved inputs.
pub fn toposort(g: &mut GraphProto) -> Result<(), OnnxError> {
    let mut available: HashSet<String> = g.input.iter().map(|i| i.name().to_string()).collect();
    available.extend(g.initializer.iter().map(|t| t.name().to_string()));
    available.insert(String::new());
    let mut pending: Vec<NodeProto> = std::mem::take(&mut g.node);
    while !pending.is_empty() {
        let before = pending.len();
        let mut rest = Vec::new();
        for n in pending {
            if n.input.iter().all(|i| available.contains(i)) {
                available.extend(n.output.iter().cloned());
                g.node.push(n);
            } else {
                rest.push(n);
            }
        }
        if rest.len() == before {
            let names: Vec<String> = rest.iter().take(5).map(node_label).collect();
            return Err(OnnxError::Graph(format!(
                "nodes {names:?} read tensors that no node, input or initializer provides (or form a cycle)"
            )));
        }
        pending = rest;
    }
    Ok(())
}
