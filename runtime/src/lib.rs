//! # nyquist-runtime
//!
//! tract-backed inference for the models Nyquist produces, on x86 and ARM Linux:
//! load once (ONNX float / QDQ, tract NNEF), optimize once, run many, from many
//! threads; preprocessing and labels come from the model's `nyquist.*` metadata.
//!
//! Data flow: `image file / frame → preprocess::Preprocess (geometry, then
//! normalisation) → engine::Engine → logits → labels`.

// Library code returns errors; tests may unwrap.
#![warn(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod blur;
#[cfg(feature = "camera")]
pub mod camera;
pub mod dataset;
pub mod engine;
pub mod error;
pub mod eval;
pub mod frames;
pub mod int8;
pub mod meta;
pub mod preprocess;
pub mod profile;

pub use engine::Engine;
pub use error::RuntimeError;
pub use meta::ModelInfo;
pub use preprocess::Preprocess;
