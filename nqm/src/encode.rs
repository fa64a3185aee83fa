//! The encoder: tensors, ops and constants in, a sealed blob out. The
//! converter's `.nqm` export is written on it; [`crate::Model::from_bytes`]
//! reads back exactly what it wrote (round-trip tests in `tests/roundtrip.rs`).

use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use crate::crc::crc32;
use crate::header::Header;
use crate::record::{Op, Tensor};
use crate::{HEADER_LEN, TENSOR_LEN};

/// A value does not fit the field the format gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    /// The field.
    pub what: &'static str,
    /// The value asked for.
    pub value: usize,
    /// The largest value the field holds.
    pub max: usize,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} does not fit the .nqm format (at most {})",
            self.what, self.value, self.max
        )
    }
}

fn fit<T: TryFrom<usize>>(value: usize, what: &'static str, max: usize) -> Result<T, EncodeError> {
    T::try_from(value).map_err(|_| EncodeError { what, value, max })
}

fn u32_field(value: usize, what: &'static str) -> Result<u32, EncodeError> {
    fit(value, what, u32::MAX as usize)
}

/// The model's interface and memory, written into the header by [`Encoder::finish`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interface {
    /// Index of the input tensor.
    pub input: u16,
    /// Index of the output tensor.
    pub output: u16,
    /// Real value of one input step.
    pub input_scale: f32,
    /// Input zero point.
    pub input_zero_point: i32,
    /// Real value of one output step.
    pub output_scale: f32,
    /// Output zero point.
    pub output_zero_point: i32,
    /// Arena bytes (activations and scratch).
    pub arena_size: usize,
    /// Scratch bytes at the end of the arena.
    pub scratch_len: usize,
}

/// Builds a blob section by section.
#[derive(Debug, Default, Clone)]
pub struct Encoder {
    tensors: Vec<u8>,
    n_tensors: u16,
    ops: Vec<u8>,
    n_ops: u16,
    data: Vec<u8>,
}

impl Encoder {
    /// An empty blob.
    pub fn new() -> Self {
        Self::default()
    }

    /// Op records added so far.
    pub fn op_count(&self) -> u16 {
        self.n_ops
    }

    /// Add a tensor record; returns its index.
    pub fn tensor(&mut self, t: &Tensor) -> Result<u16, EncodeError> {
        let index = self.n_tensors;
        self.n_tensors = fit(index as usize + 1, "tensor count", u16::MAX as usize)?;
        for d in [t.c, t.h, t.w, 0] {
            self.tensors.extend_from_slice(&d.to_le_bytes());
        }
        self.tensors.extend_from_slice(&t.offset.to_le_bytes());
        self.tensors.push(t.zero_point as u8);
        self.tensors.extend_from_slice(&[0; 3]);
        debug_assert_eq!(self.tensors.len(), self.n_tensors as usize * TENSOR_LEN);
        Ok(index)
    }

    /// Append constants to the data section at an `align`-byte boundary
    /// (16 for weights: a kernel's vector loads; 4 for int32 tables); returns
    /// their range, the form ops refer to them by.
    pub fn constants(&mut self, bytes: &[u8], align: usize) -> Range<usize> {
        let align = align.max(1);
        while !self.data.len().is_multiple_of(align) {
            self.data.push(0);
        }
        let start = self.data.len();
        self.data.extend_from_slice(bytes);
        start..self.data.len()
    }

    /// Append little-endian int32s, 4-byte aligned.
    pub fn i32s(&mut self, v: &[i32]) -> Range<usize> {
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.constants(&bytes, 4)
    }

    /// Add an op record.
    pub fn op(&mut self, op: &Op) -> Result<(), EncodeError> {
        self.n_ops = fit(self.n_ops as usize + 1, "op count", u16::MAX as usize)?;
        op.encode(&mut self.ops)
    }

    /// Assemble header, tensors, ops and data (16-byte aligned) and seal the
    /// blob with its CRC-32.
    pub fn finish(self, io: &Interface) -> Result<Vec<u8>, EncodeError> {
        let t_off = HEADER_LEN;
        let o_off = t_off + self.tensors.len();
        let d_unaligned = o_off + self.ops.len();
        let pad = (16 - d_unaligned % 16) % 16;
        let d_off = d_unaligned + pad;
        let total = d_off + self.data.len();
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&[0; HEADER_LEN]);
        out.extend_from_slice(&self.tensors);
        out.extend_from_slice(&self.ops);
        out.resize(d_off, 0);
        out.extend_from_slice(&self.data);
        let header = Header {
            total_len: u32_field(total, "blob length")?,
            crc: crc32(&out[HEADER_LEN..]),
            arena_size: u32_field(io.arena_size, "arena size")?,
            n_tensors: self.n_tensors,
            n_ops: self.n_ops,
            tensors_offset: t_off as u32,
            ops_offset: u32_field(o_off, "op section offset")?,
            data_offset: u32_field(d_off, "data section offset")?,
            data_len: u32_field(self.data.len(), "data section length")?,
            input: io.input,
            output: io.output,
            input_scale: io.input_scale,
            input_zero_point: io.input_zero_point,
            output_scale: io.output_scale,
            output_zero_point: io.output_zero_point,
            scratch_len: u32_field(io.scratch_len, "scratch size")?,
        };
        out[..HEADER_LEN].copy_from_slice(&header.to_bytes());
        Ok(out)
    }
}

impl Op {
    /// Append the op's record (kind, 0, length, fields) to `out`. Constants
    /// are stored by the start of their range; the decoder derives each
    /// range's length from the tensors' shapes.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut b: Vec<u8> = Vec::new();
        let u16s = |b: &mut Vec<u8>, v: &[u16]| v.iter().for_each(|x| b.extend(x.to_le_bytes()));
        let i8s = |b: &mut Vec<u8>, v: &[i8]| b.extend(v.iter().map(|&x| x as u8));
        let i32s = |b: &mut Vec<u8>, v: &[i32]| v.iter().for_each(|x| b.extend(x.to_le_bytes()));
        let starts = |b: &mut Vec<u8>, rs: &[&Range<usize>]| -> Result<(), EncodeError> {
            for r in rs {
                b.extend(u32_field(r.start, "constant offset")?.to_le_bytes());
            }
            Ok(())
        };
        match self {
            Op::Conv {
                input,
                output,
                groups,
                k,
                s,
                pad,
                act,
                consts: c,
            } => {
                u16s(&mut b, &[*input, *output, *groups]);
                b.extend(k);
                b.extend(s);
                b.extend(pad);
                i8s(&mut b, act);
                starts(&mut b, &[&c.weights, &c.bias, &c.mult, &c.shift])?;
            }
            Op::Pad {
                input,
                output,
                mode,
                pad,
            } => {
                u16s(&mut b, &[*input, *output]);
                b.push(*mode);
                b.extend(pad);
            }
            Op::MaxPool {
                input,
                output,
                k,
                s,
                pad,
            } => {
                u16s(&mut b, &[*input, *output]);
                b.extend(k);
                b.extend(s);
                b.extend(pad);
            }
            Op::GlobalAvgPool {
                input,
                output,
                mult,
            } => {
                u16s(&mut b, &[*input, *output]);
                i32s(&mut b, mult);
            }
            Op::Add {
                inputs,
                output,
                left_shift,
                act,
                mult,
            } => {
                u16s(&mut b, &[inputs[0], inputs[1], *output]);
                b.push(*left_shift);
                i8s(&mut b, act);
                for m in mult {
                    i32s(&mut b, m);
                }
            }
            Op::FullyConnected {
                input,
                output,
                act,
                consts: c,
            } => {
                u16s(&mut b, &[*input, *output]);
                i8s(&mut b, act);
                starts(&mut b, &[&c.weights, &c.bias, &c.mult, &c.shift])?;
            }
            Op::Lut {
                input,
                output,
                table,
            } => {
                u16s(&mut b, &[*input, *output]);
                starts(&mut b, &[table])?;
            }
            Op::Alias { input, output } => u16s(&mut b, &[*input, *output]),
        }
        let len: u16 = fit(b.len() + 4, "op record length", u16::MAX as usize)?;
        out.push(self.kind() as u8);
        out.push(0);
        out.extend(len.to_le_bytes());
        out.extend(b);
        Ok(())
    }
}
