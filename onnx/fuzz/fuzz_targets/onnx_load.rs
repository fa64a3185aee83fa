//! Arbitrary bytes into the converter's ONNX loader (`decode_model`: protobuf,
//! graph checks, attribute bounds) and, when they load, into tensor decoding
//! of every initializer: each must be `Ok` or a clean `Err`, never a panic.
#![no_main]

use std::path::Path;

use nyquist_onnx::io::decode_model;
use nyquist_onnx::Tensor;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(m) = decode_model(data, Path::new("fuzz.onnx")) {
        if let Some(g) = m.proto.graph.as_ref() {
            for t in &g.initializer {
                let _ = Tensor::from_proto(t, None);
            }
        }
    }
});
