//! The converter's error type: every variant names the file, node or tensor at
//! fault. Problems with the model itself are the ONNX layer's
//! [`OnnxError`] (through [`ConvertError::Onnx`]);
//! [`Located`](nyquist_onnx::error::Located)'s `node`, `tensor` and `graph`
//! make them where blur surgery finds them (`ConvertError::graph("…")`).

use std::path::PathBuf;

use nyquist_onnx::OnnxError;

/// Everything that can go wrong while converting a model.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The model could not be read, or a node, tensor or the graph is
    /// malformed or unsupported.
    #[error(transparent)]
    Onnx(#[from] OnnxError),
    /// int8 quantization failed (its error names the node or tensor).
    #[error(transparent)]
    Quant(#[from] nyquist_quant::QuantError),
    /// tract refused or failed (shape inference on an ONNX graph); its
    /// error, with its own chain, is this one's source.
    #[error("tract: {what}")]
    Tract {
        /// What was being done.
        what: &'static str,
        /// tract's (or the protobuf decoder's) error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The runtime could not load or run a model, or read an image (its
    /// error, with its own source chain, is kept as this one's source).
    #[error(transparent)]
    Runtime(#[from] nyquist_runtime::RuntimeError),
    /// A corruption could not be applied.
    #[error(transparent)]
    Corrupt(#[from] nyquist_corrupt::CorruptError),
    /// An output could not be written.
    #[error("{}: {what}", path.display())]
    Output {
        /// The output path.
        path: PathBuf,
        /// What went wrong.
        what: String,
    },
    /// The user asked for something inconsistent.
    #[error("{0}")]
    Usage(String),
}

/// Shorthand result type.
pub type Result<T, E = ConvertError> = std::result::Result<T, E>;
