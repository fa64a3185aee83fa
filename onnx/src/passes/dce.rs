//! Dead-code elimination limited to what the converter made dead: nodes and
//! initializers that are no longer read by anything, unless they were already
//! dead in the user's model (those stay untouched).

use std::collections::HashSet;

use crate::pb::{GraphProto, NodeProto};

/// A snapshot of which nodes (keyed by first output) and initializers exist and
/// which of them are live (reachable backwards from the graph outputs).
#[derive(Debug, Clone, Default)]
pub struct Liveness {
    live_nodes: HashSet<String>,
    dead_nodes: HashSet<String>,
    live_inits: HashSet<String>,
    dead_inits: HashSet<String>,
}

/// Take a [`Liveness`] snapshot of `g`.
pub fn liveness(g: &GraphProto) -> Liveness {
    let mut needed: HashSet<String> = g.output.iter().map(|o| o.name().to_string()).collect();
    let mut live = Liveness::default();
    for n in g.node.iter().rev() {
        if n.output.iter().any(|o| needed.contains(o)) {
            live.live_nodes.insert(key(n));
            needed.extend(n.input.iter().cloned());
        } else {
            live.dead_nodes.insert(key(n));
        }
    }
    for t in &g.initializer {
        let set = if needed.contains(t.name()) {
            &mut live.live_inits
        } else {
            &mut live.dead_inits
        };
        set.insert(t.name().to_string());
    }
    live
}

fn key(n: &NodeProto) -> String {
    n.output.first().cloned().unwrap_or_default()
}

/// Remove every node and initializer that is dead now and was not already dead
/// in `before`. Returns how many nodes and initializers went.
pub fn remove_dead(g: &mut GraphProto, before: &Liveness) -> (usize, usize) {
    let now = liveness(g);
    let graph_inputs: HashSet<String> = g.input.iter().map(|i| i.name().to_string()).collect();
    let n0 = g.node.len();
    g.node
        .retain(|n| now.live_nodes.contains(&key(n)) || before.dead_nodes.contains(&key(n)));
    let i0 = g.initializer.len();
    g.initializer.retain(|t| {
        now.live_inits.contains(t.name())
            || before.dead_inits.contains(t.name())
            || graph_inputs.contains(t.name())
    });
    (n0 - g.node.len(), i0 - g.initializer.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::node;
    use crate::pb::ValueInfoProto;
    use crate::Tensor;

    #[test]
    fn only_newly_dead_code_is_removed() {
        let mut g = GraphProto::default();
        g.output.push(ValueInfoProto {
            name: Some("y".into()),
            ..Default::default()
        });
        g.initializer = vec![
            Tensor::f32(vec![1], vec![1.0]).to_proto("w"),
            Tensor::f32(vec![1], vec![1.0]).to_proto("unused"),
        ];
        g.node = vec![
            node("Relu", "dead_already", &["x"], &["d"], vec![]),
            node("Mul", "m", &["x", "w"], &["t"], vec![]),
            node("Relu", "r", &["t"], &["y"], vec![]),
        ];
        let before = liveness(&g);
        g.node[2].input[0] = "x".into(); // the Mul and `w` become dead
        g.initializer
            .push(Tensor::f32(vec![1], vec![2.0]).to_proto("created_then_replaced"));
        let (n, i) = remove_dead(&mut g, &before);
        assert_eq!((n, i), (1, 2));
        let names: Vec<_> = g.node.iter().map(|n| n.name().to_string()).collect();
        assert_eq!(names, ["dead_already", "r"]);
        assert_eq!(g.initializer.len(), 1);
        assert_eq!(g.initializer[0].name(), "unused");
    }
}
