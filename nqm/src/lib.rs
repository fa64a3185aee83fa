//! # nyquist-nqm
//!
//! The `.nqm` blob, Nyquist's int8 model format for microcontrollers, owned in
//! one place: the converter encodes with it (feature `alloc`), the firmware
//! engine and the boards decode with it (`no_std`, no allocation, zero-copy),
//! the fuzz targets and tests damage and reseal blobs with it.
//!
//! ```text
//! header (64 B)   magic "NQMB", version, lengths, CRC-32 of everything after the
//!                 header, arena and scratch sizes, section offsets, input/output
//!                 tensors and their scale / zero point        (see Header)
//! tensors         16 B each: C, H, W, 0, arena offset u32, zero point i8, 3 × 0
//!                 (batch 1, int8, stored HWC — channels last, as CMSIS-NN and
//!                 TFLite Micro)                                (see Tensor)
//! ops             records: kind u8, 0, length u16, then the op's fields (see Op)
//! data            int8 weights (16-byte aligned), int32 folded biases,
//!                 multipliers and shifts, 256-entry LUTs
//! ```
//!
//! Version 2 stores activations HWC and conv weights `[cout][kh][kw][cin/groups]`
//! (OHWI; depthwise `[kh][kw][c]`), so an im2col patch is `kh·kw` contiguous
//! channel runs and a 1×1 conv reads a pixel's channels in place; version 1
//! (CHW / OIHW) is refused.
//!
//! [`Model::from_bytes`] checks everything an op will touch — every offset,
//! every shape relation, that an op never writes a tensor it reads — so an
//! engine running a model that loaded can neither panic nor read out of bounds.
//! The arithmetic the constants encode is in `docs/architecture.md`
//! ("int8 arithmetic").
#![no_std]
#![warn(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

#[cfg(feature = "alloc")]
extern crate alloc;

#[cfg(feature = "alloc")]
pub mod cost;
pub mod crc;
#[cfg(feature = "alloc")]
mod encode;
mod error;
pub mod header;
mod model;
mod record;
mod scratch;

#[cfg(feature = "alloc")]
pub use encode::{EncodeError, Encoder, Interface};
pub use error::Error;
pub use header::{arena_size, reseal, Header};
pub use model::Model;
pub use record::{Consts, Op, OpIter, OpKind, RawOp, Reader, Tensor};
pub use scratch::{conv_scratch, ADD_SCRATCH};

/// File magic.
pub const MAGIC: [u8; 4] = *b"NQMB";
/// The version this crate reads and writes.
pub const VERSION: u16 = 2;
/// Header size.
pub const HEADER_LEN: usize = 64;
/// Tensor record size.
pub const TENSOR_LEN: usize = 16;

/// View int8 codes stored as bytes (zero-copy).
pub fn as_i8(b: &[u8]) -> &[i8] {
    bytemuck::cast_slice(b)
}
