//! ONNX in and out: the protobuf types, model files, tensors, attributes and the
//! graph index that every pass works on.

pub mod attr;
pub mod conv;
pub mod graph;
pub mod io;
pub mod tensor;

/// Types generated from the vendored `proto/onnx.proto` (ONNX 1.23, proto2).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
}

pub use graph::GraphIndex;
pub use io::{load_model, save_model, Model};
pub use tensor::Tensor;
