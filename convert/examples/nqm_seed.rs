//! Write a small valid `.nqm` blob (the tiny synthetic BlurAfterConv ResNet,
//! converted, int8-quantized on seeded random inputs, exported): the seed of
//! the firmware loader's fuzz corpus (`firmware/fuzz`).
//!
//! `cargo run -p nyquist-convert --example nqm_seed -- firmware/fuzz/seeds/tiny.nqm`

use nyquist_convert::nqm::export;
use nyquist_convert::synth::{resnet, Family, ResNetSpec};
use nyquist_convert::verify::Samples;
use nyquist_convert::{convert, BlurMode, Options};
use nyquist_quant::{quantize, QuantOptions};

fn main() -> anyhow::Result<()> {
    let out = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: nqm_seed OUT.nqm"))?;
    let spec = ResNetSpec {
        in_channels: 3,
        widths: [4, 4, 4, 8],
        size: 8,
        ..ResNetSpec::tiny(Family::BlurAfterConv)
    };
    let shape = vec![1, spec.in_channels, spec.size, spec.size];
    let c = convert(
        &resnet(&spec),
        &Options {
            mode: BlurMode::Auto,
            random_samples: 2,
            input_shape: Some(shape.clone()),
            ..Options::default()
        },
    )?;
    let n = shape.iter().product();
    let q = quantize(
        &c.model,
        &Samples::random(16, n, 1).inputs,
        &shape,
        None,
        &QuantOptions::default(),
    )?;
    let (blob, info) = export(&q.float, &q.graph, &q.params, &shape, None)?;
    nyquist_onnx::io::write_atomic(std::path::Path::new(&out), &blob)?;
    println!(
        "{out}: {} bytes, {} ops, arena {} bytes",
        blob.len(),
        info.ops,
        info.arena_size
    );
    Ok(())
}
