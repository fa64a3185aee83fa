//! The converter on damaged models: structured mutations of real PyTorch
//! exports (the fixtures) — attributes rewritten with small, negative and
//! huge values, tensor dims and data changed, nodes dropped or retyped — go
//! through loading and every `--fold-blur` mode. Each must end in `Ok` or a
//! clean `Err`, never a panic. (The libFuzzer harness for the same contract
//! is `convert/fuzz`; this stable proptest runs on every CI run.)

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use common::fixtures_dir;
use nyquist_convert::{convert, BlurMode, Options};
use nyquist_onnx::io::decode_model;
use nyquist_onnx::pb::ModelProto;
use proptest::prelude::*;
use prost::Message;

/// One structured change.
#[derive(Debug, Clone)]
enum Mutation {
    /// Set every int of attribute `a` of node `n` to `v`.
    Attr { n: usize, a: usize, v: i64 },
    /// Set dim `d` of initializer `t` to `v`.
    Dim { t: usize, d: usize, v: i64 },
    /// Drop initializer data bytes from `t` (keep the first `keep`).
    Data { t: usize, keep: usize },
    /// Remove node `n`.
    Drop { n: usize },
    /// Change node `n`'s op type.
    Retype { n: usize, op: &'static str },
    /// Swap two inputs of node `n`.
    Swap { n: usize },
}

const VALUES: [i64; 9] = [0, 1, 2, 3, -1, -7, 5, 1 << 20, i64::MAX];
const OPS: [&str; 6] = [
    "Conv",
    "Pad",
    "Add",
    "MaxPool",
    "Gemm",
    "BatchNormalization",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<usize>(), 0..VALUES.len()).prop_map(|(n, a, v)| Mutation::Attr {
            n,
            a,
            v: VALUES[v]
        }),
        (any::<usize>(), any::<usize>(), 0..VALUES.len()).prop_map(|(t, d, v)| Mutation::Dim {
            t,
            d,
            v: VALUES[v]
        }),
        (any::<usize>(), 0usize..64).prop_map(|(t, keep)| Mutation::Data { t, keep }),
        any::<usize>().prop_map(|n| Mutation::Drop { n }),
        (any::<usize>(), 0..OPS.len()).prop_map(|(n, o)| Mutation::Retype { n, op: OPS[o] }),
        any::<usize>().prop_map(|n| Mutation::Swap { n }),
    ]
}

fn apply(m: &mut ModelProto, mu: &Mutation) {
    let g = m.graph.as_mut().unwrap();
    let (nodes, inits) = (g.node.len(), g.initializer.len());
    match *mu {
        Mutation::Attr { n, a, v } => {
            let node = &mut g.node[n % nodes];
            if !node.attribute.is_empty() {
                let k = a % node.attribute.len();
                let at = &mut node.attribute[k];
                at.i = at.i.map(|_| v);
                for x in at.ints.iter_mut() {
                    *x = v;
                }
            }
        }
        Mutation::Dim { t, d, v } => {
            let t = &mut g.initializer[t % inits];
            if !t.dims.is_empty() {
                let k = d % t.dims.len();
                t.dims[k] = v;
            }
        }
        Mutation::Data { t, keep } => {
            let t = &mut g.initializer[t % inits];
            if let Some(r) = t.raw_data.as_mut() {
                r.truncate(keep);
            }
            t.float_data.truncate(keep);
        }
        Mutation::Drop { n } => {
            g.node.remove(n % nodes);
        }
        Mutation::Retype { n, op } => g.node[n % nodes].op_type = Some(op.into()),
        Mutation::Swap { n } => {
            let node = &mut g.node[n % nodes];
            if node.input.len() >= 2 {
                node.input.swap(0, 1);
            }
        }
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures_dir().join(name).join("model.onnx")).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24),
        ..ProptestConfig::default()
    })]
    #[test]
    fn damaged_models_fail_cleanly(
        which in 0usize..2,
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let name = ["blurafterconv_cifar", "antialiased_cnns"][which];
        let mut m = ModelProto::decode(fixture(name).as_slice()).unwrap();
        for mu in &mutations {
            apply(&mut m, mu);
        }
        let bytes = m.encode_to_vec();
        if std::env::var_os("MUTATED_TRACE").is_some() {
            eprintln!("case: {name} {mutations:?}");
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let Ok(model) = decode_model(&bytes, Path::new("mutated.onnx")) else {
                return;
            };
            for mode in [BlurMode::Off, BlurMode::Auto, BlurMode::Fold, BlurMode::Commute, BlurMode::Forward] {
                let _ = convert(&model, &Options { mode, random_samples: 2, ..Options::default() });
            }
        }));
        prop_assert!(outcome.is_ok(), "{name} with {mutations:?} panicked");
    }
}

/// Found by `convert/fuzz` (`convert_modes`): a fixture whose reflect pads are
/// computed by a constant subgraph, mutated so the pads come out huge. The
/// first inference asked for 54 GB; now the engine refuses the model when it
/// is built (`nyquist_runtime::engine::MAX_TENSOR_ELEMENTS`).
#[test]
fn computed_pads_that_would_need_54_gb_are_refused() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions/computed_pads_54gb.onnx");
    let bytes = std::fs::read(&path).unwrap();
    let model = decode_model(&bytes, &path).unwrap();
    let Err(e) = convert(
        &model,
        &Options {
            random_samples: 1,
            ..Options::default()
        },
    ) else {
        panic!("converted a model whose pads need 54 GB");
    };
    let msg = e.to_string();
    assert!(msg.contains("more than 268435456"), "{msg}");
}
