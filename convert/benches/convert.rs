//! tract latency of a 224×224, 64-wide ResNet-18 with BlurAfterConv blurs as
//! exported, after `fold`, `commute` and `auto`, and of the same network with no
//! blur at all (the baseline). `cargo xtask bench convert` prints the ratios.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use nyquist_convert::synth::{resnet, Family, ResNetSpec};
use nyquist_convert::verify::Samples;
use nyquist_convert::{convert, BlurMode, Options};
use nyquist_runtime::Engine;
use prost::Message;

fn engines() -> Vec<(&'static str, Engine)> {
    let shape = [1, 3, 224, 224];
    let plain = resnet(&ResNetSpec::imagenet(Family::Plain));
    let aa = resnet(&ResNetSpec::imagenet(Family::BlurAfterConv));
    let opts = |mode| Options {
        mode,
        random_samples: 2,
        // Untrained weights: the cost-chosen plan, not the random-input
        // guard's walk-back (its bound is set for trained models).
        max_random_deviation: f64::INFINITY,
        ..Options::default()
    };
    let mut v = vec![
        ("plain", plain.proto.encode_to_vec()),
        ("exported", aa.proto.encode_to_vec()),
    ];
    for (name, mode) in [
        ("fold", BlurMode::Fold),
        ("commute", BlurMode::Commute),
        ("auto", BlurMode::Auto),
    ] {
        let c = convert(&aa, &opts(mode)).expect("conversion");
        eprintln!("{name}: {}", c.report.summary);
        v.push((name, c.model.encode_to_vec()));
    }
    v.into_iter()
        .map(|(n, b)| {
            (
                n,
                Engine::from_onnx_bytes(&b, Path::new(n), &shape).expect("tract"),
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let engines = engines();
    let x = Samples::random(1, 3 * 224 * 224, 1).inputs.remove(0);
    let mut g = c.benchmark_group("resnet18_224_tract");
    g.sample_size(20);
    for (name, e) in &engines {
        g.bench_function(*name, |b| b.iter(|| e.run(&x).expect("run")));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
