//! # nyquist-firmware
//!
//! A `no_std`, allocation-free int8 engine for `.nqm` blobs: the last stage of
//! Nyquist's data flow, on Cortex-M microcontrollers (and, with the same code,
//! on the host, where the converter uses it to check every blob it writes).
//!
//! ```text
//! model.nqm (flash) ─ Model::from_bytes (validates everything) ─ Model::run(arena, input, output)
//! ```
//!
//! * [`arith`]: the int8 requantization arithmetic (TFLite / CMSIS-NN compatible);
//! * [`nqm`] (the `nyquist-nqm` crate, re-exported): the `.nqm` format and its validation;
//! * [`engine`]: the ops (conv of any kernel / stride / padding / groups, pad,
//!   max / global average pool, add, fully connected, lookup tables);
//! * [`kernels`]: the int8 dot product and its 2×2 block — scalar, Cortex-M DSP, Helium, NEON;
//! * [`layout`]: activations are HWC (channels last); CHW → HWC for host tools.
#![no_std]
#![warn(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

#[cfg(test)]
extern crate std;

pub mod arith;
pub mod engine;
pub mod kernels;
pub mod layout;

pub use engine::{Event, Run};
pub use nyquist_nqm as nqm;
pub use nyquist_nqm::{Error, Model, Op, OpKind, Tensor};
