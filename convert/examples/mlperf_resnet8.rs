//! Write MLPerf Tiny's ResNet-8 (`synth::ResNetSpec::mlperf_tiny_resnet8`,
//! seeded weights) as ONNX with the `nyquist.*` preprocessing of the bundled
//! data — Fashion-MNIST images as 3-channel 32×32 (gray replicated, zero
//! padded) — so the converter can calibrate it on `models/fmnist/calib` and
//! the firmware demo can run it on the committed eval images. Its accuracy
//! is chance (untrained); its shape is the point: `cargo xtask fw bench
//! --model resnet8` measures the firmware on the model MLPerf Tiny publishes.
//!
//!     cargo run -p nyquist-convert --example mlperf_resnet8 -- OUT.onnx [CALIB_DIR]
//!
//! With `CALIB_DIR`, the first 100 calibration images of `models/fmnist/calib`
//! are written there as RGB PNGs (the converter refuses to calibrate an RGB
//! model on grayscale images).

use nyquist_convert::synth::{resnet, ResNetSpec};
use nyquist_onnx::pb::StringStringEntryProto;
use prost::Message;

fn main() -> anyhow::Result<()> {
    let out = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: mlperf_resnet8 OUT.onnx"))?;
    let mut m = resnet(&ResNetSpec::mlperf_tiny_resnet8());
    let labels = r#"["tshirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot"]"#;
    m.proto.metadata_props = [
        ("nyquist.schema", "1"),
        ("nyquist.labels", labels),
        ("nyquist.input.name", "input"),
        ("nyquist.input.shape", "1,3,32,32"),
        ("nyquist.input.color", "rgb"),
        ("nyquist.input.geometry", "pad"),
        ("nyquist.input.pad_value", "0"),
        ("nyquist.input.mean", "0.2860,0.2860,0.2860"),
        ("nyquist.input.std", "0.3530,0.3530,0.3530"),
        (
            "nyquist.input.source",
            "28x28 grayscale as RGB, zero-padded 2 px to 32x32",
        ),
        ("nyquist.model.name", "mlperf-tiny-resnet8"),
        ("nyquist.model.variant", "plain (seeded weights, untrained)"),
    ]
    .iter()
    .map(|(k, v)| StringStringEntryProto {
        key: Some(k.to_string()),
        value: Some(v.to_string()),
    })
    .collect();
    if let Some(dir) = std::env::args().nth(2) {
        let dir = std::path::Path::new(&dir);
        std::fs::create_dir_all(dir)?;
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/fmnist/calib");
        let mut files: Vec<_> = std::fs::read_dir(&src)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "png"))
            .collect();
        files.sort();
        for f in files.iter().take(100) {
            let rgb = image::open(f)?.to_rgb8();
            rgb.save(dir.join(f.file_name().unwrap_or_default()))?;
        }
    }
    let tmp = format!("{out}.tmp");
    std::fs::write(&tmp, m.proto.encode_to_vec())?;
    std::fs::rename(&tmp, &out)?;
    println!("wrote {out}");
    Ok(())
}
