//! Why a blob was refused, or a run could not happen.

use crate::VERSION;

/// Why a blob was refused, or a run could not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error {
    /// Shorter than its header or than `total_len` says.
    Truncated,
    /// Not an `.nqm` blob.
    BadMagic,
    /// Written by a newer (or older) converter.
    UnsupportedVersion(u16),
    /// The CRC-32 does not match: corrupted in storage or transfer.
    BadChecksum {
        /// In the header.
        expected: u32,
        /// Of the bytes.
        actual: u32,
    },
    /// A section, tensor or constant lies outside the blob or the arena.
    OutOfBounds,
    /// An op record is malformed: unknown kind, wrong length, bad index or
    /// inconsistent shapes (the op's index).
    BadOp(u16),
    /// A tensor record is malformed (its index).
    BadTensor(u16),
    /// The arena given to `run` is smaller than the blob needs.
    ArenaTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        given: usize,
    },
    /// The input or output buffer has the wrong length.
    WrongLength {
        /// Bytes expected.
        expected: usize,
        /// Bytes given.
        given: usize,
    },
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Truncated => write!(f, "blob is truncated"),
            Error::BadMagic => write!(f, "not an .nqm blob (bad magic)"),
            Error::UnsupportedVersion(v) => write!(
                f,
                ".nqm version {v} is not supported (this engine reads {VERSION})"
            ),
            Error::BadChecksum { expected, actual } => write!(
                f,
                "CRC-32 mismatch: header says {expected:08x}, data is {actual:08x}"
            ),
            Error::OutOfBounds => {
                write!(f, "a section or tensor lies outside the blob or the arena")
            }
            Error::BadOp(i) => write!(f, "op #{i} is malformed or inconsistent"),
            Error::BadTensor(i) => write!(f, "tensor #{i} is malformed"),
            Error::ArenaTooSmall { needed, given } => {
                write!(f, "arena of {given} bytes; the model needs {needed}")
            }
            Error::WrongLength { expected, given } => {
                write!(f, "buffer of {given} bytes; expected {expected}")
            }
        }
    }
}
