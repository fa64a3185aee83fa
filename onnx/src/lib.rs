//! # nyquist-onnx
//!
//! The ONNX layer of the converter: the protobuf types (generated from the
//! vendored `proto/onnx.proto`), model files in and out with their bounds
//! checks, tensors, attributes, the graph index every pass works on, and the
//! graph passes that prepare a model for surgery and clean up after it
//! (constant folding, BatchNorm folding, CSE, DCE). It knows nothing about
//! blurs, quantization or tract: `nyquist-convert` (blur surgery) and
//! `nyquist-quant` (int8) build on it.
//!
//! ```text
//! bytes ─ io::decode_model (bounds, external data) ─► pb::ModelProto ─ graph::GraphIndex
//!       ─ passes::{const_fold, fold_bn, cse, dce} ─ io::save_model (temp file + rename)
//! ```
//!
//! A model, built by hand, through the file round trip:
//!
//! ```
//! use nyquist_onnx::{attr, io, pb};
//!
//! let vi = |n: &str| pb::ValueInfoProto { name: Some(n.into()), ..Default::default() };
//! let g = pb::GraphProto {
//!     node: vec![attr::node("Relu", "relu", &["x"], &["y"], vec![])],
//!     input: vec![vi("x")],
//!     output: vec![vi("y")],
//!     ..Default::default()
//! };
//! let opset = pb::OperatorSetIdProto { domain: Some(String::new()), version: Some(13) };
//! let model = pb::ModelProto { graph: Some(g), opset_import: vec![opset], ..Default::default() };
//! let dir = std::env::temp_dir().join(format!("nyquist-onnx-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let path = dir.join("relu.onnx");
//! io::save_model(&model, &path, None)?;
//! let back = io::load_model(&path)?;
//! assert_eq!(back.proto.graph.as_ref().map(|g| g.node.len()), Some(1));
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// Safe Rust only: the fuzz target runs without a sanitizer (fuzz/README.md).
#![forbid(unsafe_code)]
// Library code returns errors; tests may unwrap.
#![warn(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod attr;
pub mod conv;
pub mod error;
pub mod graph;
pub mod io;
pub mod passes;
pub mod tensor;

/// Types generated from the vendored `proto/onnx.proto` (ONNX 1.23, proto2).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
}

pub use error::OnnxError;
pub use graph::GraphIndex;
pub use io::{load_model, save_model, Model};
pub use tensor::Tensor;
