//! Bytes → model → the whole pass pipeline in every `--fold-blur` mode
//! (tract shape inference, blur detection, rewrites, verification): `Ok` or a
//! clean `Err`, never a panic. Seed it with the fixtures
//! (`convert/tests/fixtures/*/model.onnx`); most mutations fail in the loader,
//! the rest reach the passes.
#![no_main]

use std::path::Path;

use nyquist_convert::{convert, BlurMode, Options};
use nyquist_onnx::io::decode_model;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(model) = decode_model(data, Path::new("fuzz.onnx")) else {
        return;
    };
    for mode in [
        BlurMode::Off,
        BlurMode::Auto,
        BlurMode::Fold,
        BlurMode::Commute,
        BlurMode::Forward,
    ] {
        let _ = convert(
            &model,
            &Options {
                mode,
                random_samples: 1,
                ..Options::default()
            },
        );
    }
});
