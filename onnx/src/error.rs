//! The ONNX layer's error type: every variant names the file, node or tensor at fault.

use std::path::PathBuf;

/// A model file that cannot be read, decoded or understood.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
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
    /// A node that has to be understood is malformed or unsupported.
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
    /// A model file could not be written.
    #[error("{}: {what}", path.display())]
    Output {
        /// The output path.
        path: PathBuf,
        /// What went wrong.
        what: String,
    },
}

impl OnnxError {
    /// An [`OnnxError::Node`] for `node`.
    pub fn node(node: &crate::pb::NodeProto, what: impl Into<String>) -> Self {
        OnnxError::Node {
            node: crate::graph::node_label(node),
            op: node.op_type().to_string(),
            what: what.into(),
        }
    }

    /// An [`OnnxError::Tensor`] for the tensor named `tensor`.
    pub fn tensor(tensor: impl Into<String>, what: impl Into<String>) -> Self {
        OnnxError::Tensor {
            tensor: tensor.into(),
            what: what.into(),
        }
    }

    /// An [`OnnxError::Graph`].
    pub fn graph(what: impl Into<String>) -> Self {
        OnnxError::Graph(what.into())
    }
}

/// The node / tensor / graph constructors for every error type that can hold
/// an [`OnnxError`] (the quantizer's and the converter's): written once here.
/// Bring it into scope with `use nyquist_onnx::error::Located as _;`.
pub trait Located: From<OnnxError> {
    /// A node-level error ([`OnnxError::node`]).
    fn node(node: &crate::pb::NodeProto, what: impl Into<String>) -> Self {
        OnnxError::node(node, what).into()
    }

    /// A tensor-level error ([`OnnxError::tensor`]).
    fn tensor(tensor: impl Into<String>, what: impl Into<String>) -> Self {
        OnnxError::tensor(tensor, what).into()
    }

    /// A graph-level error ([`OnnxError::graph`]).
    fn graph(what: impl Into<String>) -> Self {
        OnnxError::graph(what).into()
    }
}

impl<E: From<OnnxError>> Located for E {}
