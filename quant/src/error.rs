//! The quantizer's error type.

use nyquist_onnx::OnnxError;

/// Everything that can go wrong while quantizing a model.
#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    /// The model (a node, tensor or the graph) is not what quantization needs.
    #[error(transparent)]
    Onnx(#[from] OnnxError),
    /// tract could not build or run the model during calibration or analysis
    /// (the runtime's error, with its source chain).
    #[error(transparent)]
    Runtime(#[from] nyquist_runtime::RuntimeError),
    /// The caller asked for something inconsistent.
    #[error("{0}")]
    Usage(String),
}
