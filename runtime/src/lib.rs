//! # nyquist-runtime
//!
//! tract-backed inference for the models Nyquist produces, on x86 and ARM Linux:
//! load once (ONNX float / QDQ, tract NNEF), optimize once, run many, from many
//! threads; preprocessing and labels come from the model's `nyquist.*` metadata.
//!
//! Data flow: `image file / frame → preprocess::Preprocess (geometry, then
//! normalisation) → engine::Engine → logits → labels`.
//!
//! Classify one image with the bundled model (the model's metadata says how
//! to preprocess and what the classes are called):
//!
//! ```
//! use std::path::Path;
//! use nyquist_runtime::{engine::argmax, preprocess::open_image, Engine, ModelInfo, Preprocess};
//!
//! let model = Path::new("../models/fmnist/resnet18r-blurafterconv.onnx");
//! let info = ModelInfo::from_onnx_file(model)?;
//! let pre = Preprocess::from_info(&info)?;
//! let engine = Engine::load(model, &pre.shape)?;
//! let img = open_image(Path::new("../models/fmnist/eval/bag/t10k-00034.png"))?;
//! let logits = &engine.run(&pre.tensor(&img))?[0].data;
//! let labels = info.labels()?.expect("the bundled model names its classes");
//! assert_eq!(labels[argmax(logits).expect("finite logits")], "bag");
//! # Ok::<(), nyquist_runtime::RuntimeError>(())
//! ```

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
