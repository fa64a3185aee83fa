//! Common-subexpression elimination for the nodes the blur rewrites create:
//! two `Pad` or `Conv` nodes reading the same tensors (constants compared by
//! value) with the same attributes compute the same thing, so the second one's
//! readers are pointed at the first one's output.

use std::collections::HashMap;
use std::path::Path;

use prost::Message;

use crate::error::OnnxError;
use crate::graph::{node_label, GraphIndex};
use crate::pb::GraphProto;

const OPS: [&str; 2] = ["Pad", "Conv"];

/// Merge duplicate `Pad` / `Conv` nodes until none is left; returns the names of
/// the nodes removed.
pub fn merge_duplicates(g: &mut GraphProto, base: Option<&Path>) -> Result<Vec<String>, OnnxError> {
    let mut removed = Vec::new();
    loop {
        let ix = GraphIndex::new(g);
        let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut hit = None;
        for (i, n) in g.node.iter().enumerate() {
            if !OPS.contains(&n.op_type())
                || n.output.len() != 1
                || ix.outputs.contains(&n.output[0])
            {
                continue;
            }
            let mut key = n.op_type().as_bytes().to_vec();
            for inp in &n.input {
                key.push(0);
                match ix.const_value(g, inp, base)? {
                    Some(t) => {
                        key.extend(format!("{:?}", t.dims).as_bytes());
                        key.extend(t.to_f32().iter().flat_map(|x| x.to_bits().to_le_bytes()));
                    }
                    None => key.extend(inp.as_bytes()),
                }
            }
            let mut attrs = n.attribute.clone();
            attrs.sort_by(|a, b| a.name.cmp(&b.name));
            for a in attrs {
                key.push(1);
                key.extend(a.encode_to_vec());
            }
            if let Some(&first) = seen.get(&key) {
                hit = Some((first, i));
                break;
            }
            seen.insert(key, i);
        }
        let Some((keep, dup)) = hit else { break };
        let (from, to) = (
            g.node[dup].output[0].clone(),
            g.node[keep].output[0].clone(),
        );
        removed.push(node_label(&g.node[dup]));
        g.node.remove(dup);
        for n in g.node.iter_mut() {
            for i in n.input.iter_mut().filter(|i| **i == from) {
                *i = to.clone();
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::{make_int, node};
    use crate::Tensor;

    #[test]
    fn identical_blurs_on_one_input_are_merged() {
        let mut g = GraphProto {
            initializer: vec![
                Tensor::f32(vec![1, 1, 1, 1], vec![0.5]).to_proto("k1"),
                Tensor::f32(vec![1, 1, 1, 1], vec![0.5]).to_proto("k2"),
                Tensor::f32(vec![1, 1, 1, 1], vec![0.7]).to_proto("k3"),
            ],
            node: vec![
                node(
                    "Conv",
                    "a",
                    &["x", "k1"],
                    &["ya"],
                    vec![make_int("group", 1)],
                ),
                node(
                    "Conv",
                    "b",
                    &["x", "k2"],
                    &["yb"],
                    vec![make_int("group", 1)],
                ),
                node(
                    "Conv",
                    "c",
                    &["x", "k3"],
                    &["yc"],
                    vec![make_int("group", 1)],
                ),
                node("Add", "s", &["yb", "yc"], &["z"], vec![]),
            ],
            ..Default::default()
        };
        assert_eq!(
            merge_duplicates(&mut g, None).unwrap(),
            vec!["b".to_string()]
        );
        assert_eq!(g.node.len(), 3);
        assert_eq!(g.node[2].input, vec!["ya".to_string(), "yc".to_string()]);
    }
}
