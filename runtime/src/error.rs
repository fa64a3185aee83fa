//! The runtime's error type; every variant names the file or tensor concerned.

use std::path::PathBuf;

/// Errors of the runtime library.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A file could not be read.
    #[error("{}: {io}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error (in the message, not the error chain, so it is said once).
        io: std::io::Error,
    },
    /// A model could not be loaded or prepared.
    #[error("{}: {what}", path.display())]
    Model {
        /// The model file (or a description of the in-memory model).
        path: PathBuf,
        /// What went wrong.
        what: String,
    },
    /// An image could not be decoded.
    #[error("{}: cannot decode image: {what}", path.display())]
    Image {
        /// The image file.
        path: PathBuf,
        /// Decoder message.
        what: String,
    },
    /// A tensor has the wrong shape or type.
    #[error("tensor `{tensor}`: expected {expected}, got {got}")]
    Shape {
        /// Tensor name.
        tensor: String,
        /// What was expected.
        expected: String,
        /// What came.
        got: String,
    },
    /// Metadata or a flag is malformed.
    #[error("{0}")]
    Config(String),
    /// A dataset is malformed.
    #[error("{}: {what}", path.display())]
    Dataset {
        /// The dataset path.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// tract failed while running; its error, with its own chain, is this
    /// one's source.
    #[error("inference: {what}")]
    Run {
        /// What was being done.
        what: &'static str,
        /// tract's (or ndarray's) error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Shorthand result type.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
