//! The converter's error type: every variant names the file, node or tensor at fault.

use std::path::PathBuf;

/// Everything that can go wrong while converting a model.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// A file could not be read.
    #[error("{}: cannot read: {io}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error (in the message, not the error chain, so it is said once).
        io: std::io::Error,
    },
    /// A file was read but is not a usable ONNX model.
    #[error("{}: {what}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        what: String,
    },
    /// A node the converter has to understand is malformed or unsupported.
    #[error("node `{node}` ({op}): {what}")]
    Node {
        /// Node name.
        node: String,
        /// Operator type.
        op: String,
        /// What is wrong.
        what: String,
    },
    /// A tensor could not be decoded.
    #[error("tensor `{tensor}`: {what}")]
    Tensor {
        /// Tensor name.
        tensor: String,
        /// What is wrong.
        what: String,
    },
    /// The graph as a whole is inconsistent.
    #[error("graph: {0}")]
    Graph(String),
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

impl ConvertError {
    /// A [`ConvertError::Node`] for `node`.
    pub fn node(node: &crate::onnx::pb::NodeProto, what: impl Into<String>) -> Self {
        ConvertError::Node {
            node: crate::onnx::graph::node_label(node),
            op: node.op_type().to_string(),
            what: what.into(),
        }
    }
}

/// Shorthand result type.
pub type Result<T, E = ConvertError> = std::result::Result<T, E>;
