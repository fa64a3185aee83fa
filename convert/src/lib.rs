//! # nyquist-convert
//!
//! Host-side ONNX surgery for anti-aliased ResNets. A model arrives with fixed
//! blur filters at its downsampling points (BlurAfterConv, antialiased-cnns, timm
//! `resnetblur`, Composer `BlurConv2d`); the converter folds BatchNorm, finds the
//! blurs, and folds or commutes them into the neighbouring convs so the network
//! costs what a plain ResNet costs, then verifies the result with tract and
//! writes a report.
//!
//! ```text
//! model.onnx ─ load ─ const-fold pads ─ fold BN ─ detect blurs ─ separate BN from blurs
//!            ─ price + test fold / commute / forward per blur ─ choose ─ apply
//!            ─ merge duplicates ─ share blurs ─ DCE ─ verify ─► model.nyq.onnx + report
//! ```
//!
//! The library entry point is [`pipeline::convert`]; the `nyquist-convert`
//! binary and `cargo xtask convert` wrap it. The bundled BlurAfterConv
//! ResNet-18r with its blurs folded or commuted (checked on random inputs;
//! pass real images in `Options::extra_samples` to guard top-1 agreement):
//!
//! ```
//! use nyquist_onnx::load_model;
//! use nyquist_convert::pipeline::{convert, BlurMode, Options};
//!
//! let model = load_model("../models/fmnist/resnet18r-blurafterconv.onnx".as_ref())?;
//! let conv = convert(&model, &Options { mode: BlurMode::Auto, ..Options::default() })?;
//! assert!(conv.report.passed);
//! let (before, after) = (conv.report.layers.total_before.macs, conv.report.layers.total_after.macs);
//! assert!(after < before, "MACs {before} → {after}");
//! # Ok::<(), nyquist_convert::error::ConvertError>(())
//! ```

// Library code returns errors; tests may unwrap.
#![warn(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod blur;
pub mod cost;
pub mod error;
pub mod gate;
pub mod int8;
pub mod kernel;
pub mod nqm;
pub mod pipeline;
pub mod plan;
pub mod repair;
pub mod report;
pub mod shapes;
pub mod synth;
pub mod verify;

pub use error::ConvertError;
pub use pipeline::{convert, BlurMode, Conversion, Options};
