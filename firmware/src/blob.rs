//! The `.nqm` blob: little-endian, versioned, CRC-32-checked, read in place.
//!
//! ```text
//! header (64 B)   magic "NQMB", version, lengths, CRC-32 of everything after the
//!                 header, arena and scratch sizes, section offsets, input/output
//!                 tensors and their scale / zero point
//! tensors         16 B each: C, H, W, arena offset, zero point (batch 1, int8,
//!                 stored HWC — channels last, as CMSIS-NN and TFLite Micro)
//! ops             records: kind u8, 0, length u16, then the op's fields
//! data            int8 weights (16-byte aligned), int32 folded biases,
//!                 multipliers and shifts, 256-entry LUTs
//! ```
//!
//! Version 2 stores activations HWC and conv weights `[cout][kh][kw][cin/groups]`
//! (OHWI; depthwise `[kh][kw][c]`), so an im2col patch is `kh·kw` contiguous channel runs and a 1×1 conv
//! reads a pixel's channels in place; version 1 (CHW / OIHW) is refused.
//!
//! [`Model::from_bytes`] checks everything an op will touch — every offset, every
//! shape relation, that an op never writes a tensor it reads — so running a
//! model that loaded can neither panic nor read out of bounds.

use core::ops::Range;

use crate::crc::crc32;

/// File magic.
pub const MAGIC: [u8; 4] = *b"NQMB";
/// The version this engine reads and the converter writes.
pub const VERSION: u16 = 2;
/// Header size.
pub const HEADER_LEN: usize = 64;
/// Tensor record size.
pub const TENSOR_LEN: usize = 16;

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

/// View int8 codes stored as bytes (zero-copy).
pub fn as_i8(b: &[u8]) -> &[i8] {
    bytemuck::cast_slice(b)
}

/// A little-endian reader over a byte slice that never panics.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Read from `b`, starting at 0.
    pub fn new(b: &'a [u8]) -> Self {
        Reader { b, pos: 0 }
    }
    fn take<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let s = self.b.get(self.pos..self.pos + N).ok_or(Error::Truncated)?;
        self.pos += N;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    /// A u8.
    pub fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take::<1>()?[0])
    }
    /// An i8.
    pub fn i8(&mut self) -> Result<i8, Error> {
        Ok(self.take::<1>()?[0] as i8)
    }
    /// A u16.
    pub fn u16(&mut self) -> Result<u16, Error> {
        Ok(u16::from_le_bytes(self.take()?))
    }
    /// A u32.
    pub fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    /// An i32.
    pub fn i32(&mut self) -> Result<i32, Error> {
        Ok(i32::from_le_bytes(self.take()?))
    }
    /// An f32.
    pub fn f32(&mut self) -> Result<f32, Error> {
        Ok(f32::from_le_bytes(self.take()?))
    }
}

/// An activation tensor: `C × H × W` int8 at an arena offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tensor {
    /// Channels.
    pub c: u16,
    /// Height.
    pub h: u16,
    /// Width.
    pub w: u16,
    /// Offset in the arena.
    pub offset: u32,
    /// Zero point.
    pub zero_point: i8,
}

impl Tensor {
    /// Bytes.
    pub fn len(&self) -> usize {
        self.c as usize * self.h as usize * self.w as usize
    }
    /// True when it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Arena range.
    pub fn range(&self) -> Range<usize> {
        self.offset as usize..self.offset as usize + self.len()
    }
}

/// Op kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum OpKind {
    /// 2-D convolution, any kernel / stride / zero padding / groups.
    Conv = 1,
    /// Padding: constant (zero point), reflect, edge.
    Pad = 2,
    /// Max pooling.
    MaxPool = 3,
    /// Global average pooling.
    GlobalAvgPool = 4,
    /// Elementwise add of two tensors (TFLite int8 Add).
    Add = 5,
    /// Fully connected.
    FullyConnected = 6,
    /// 256-entry lookup table (GELU, SiLU, ReLU …).
    Lut = 7,
    /// A reinterpretation (Flatten / Reshape) sharing its input's bytes.
    Alias = 8,
}

impl OpKind {
    /// From the record byte.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => OpKind::Conv,
            2 => OpKind::Pad,
            3 => OpKind::MaxPool,
            4 => OpKind::GlobalAvgPool,
            5 => OpKind::Add,
            6 => OpKind::FullyConnected,
            7 => OpKind::Lut,
            8 => OpKind::Alias,
            _ => return None,
        })
    }
}

/// Conv / FC constants: ranges in the data section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consts {
    /// int8 weights `[cout][kh][kw][cin/groups]`; depthwise convs (`groups = cin =
    /// cout`) `[kh][kw][cout]`; fully connected `[out][in]`.
    pub weights: Range<usize>,
    /// int32 biases with `−z_x·Σw` folded in.
    pub bias: Range<usize>,
    /// int32 multipliers M0.
    pub mult: Range<usize>,
    /// int32 shifts.
    pub shift: Range<usize>,
}

/// A decoded op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// See [`OpKind::Conv`].
    Conv {
        /// Input tensor.
        input: u16,
        /// Output tensor.
        output: u16,
        /// Groups.
        groups: u16,
        /// Kernel height, width.
        k: [u8; 2],
        /// Stride.
        s: [u8; 2],
        /// Zero padding top, left, bottom, right.
        pad: [u8; 4],
        /// Output clamp.
        act: [i8; 2],
        /// Constants.
        consts: Consts,
    },
    /// See [`OpKind::Pad`].
    Pad {
        /// Input.
        input: u16,
        /// Output.
        output: u16,
        /// 0 constant (zero point), 1 reflect, 2 edge.
        mode: u8,
        /// Top, left, bottom, right.
        pad: [u8; 4],
    },
    /// See [`OpKind::MaxPool`].
    MaxPool {
        /// Input.
        input: u16,
        /// Output.
        output: u16,
        /// Kernel.
        k: [u8; 2],
        /// Stride.
        s: [u8; 2],
        /// Pads (ignored values).
        pad: [u8; 4],
    },
    /// See [`OpKind::GlobalAvgPool`].
    GlobalAvgPool {
        /// Input.
        input: u16,
        /// Output.
        output: u16,
        /// Requantization multiplier and shift.
        mult: [i32; 2],
    },
    /// See [`OpKind::Add`].
    Add {
        /// Inputs.
        inputs: [u16; 2],
        /// Output.
        output: u16,
        /// Left shift of the inputs (20).
        left_shift: u8,
        /// Output clamp.
        act: [i8; 2],
        /// Input 1, input 2 and output (multiplier, shift).
        mult: [[i32; 2]; 3],
    },
    /// See [`OpKind::FullyConnected`].
    FullyConnected {
        /// Input.
        input: u16,
        /// Output.
        output: u16,
        /// Output clamp.
        act: [i8; 2],
        /// Constants.
        consts: Consts,
    },
    /// See [`OpKind::Lut`].
    Lut {
        /// Input.
        input: u16,
        /// Output.
        output: u16,
        /// 256 bytes in the data section.
        table: Range<usize>,
    },
    /// See [`OpKind::Alias`].
    Alias {
        /// Input.
        input: u16,
        /// Output (same bytes).
        output: u16,
    },
}

/// A validated model, borrowing the blob.
#[derive(Debug, Clone)]
pub struct Model<'a> {
    blob: &'a [u8],
    tensors: &'a [u8],
    ops: &'a [u8],
    data: &'a [u8],
    n_tensors: u16,
    n_ops: u16,
    /// Arena bytes needed (scratch included).
    pub arena_size: usize,
    /// Scratch bytes at the end of the arena (conv patches, Add tables; see
    /// [`conv_scratch`], [`ADD_SCRATCH`]).
    pub scratch_len: usize,
    /// The input tensor.
    pub input: Tensor,
    /// The output tensor.
    pub output: Tensor,
    /// Real value of one input step (to quantize camera pixels).
    pub input_scale: f32,
    /// Input zero point.
    pub input_zero_point: i32,
    /// Real value of one output step.
    pub output_scale: f32,
    /// Output zero point.
    pub output_zero_point: i32,
}

fn section(blob: &[u8], off: u32, len: usize) -> Result<&[u8], Error> {
    let off = off as usize;
    blob.get(off..off.checked_add(len).ok_or(Error::OutOfBounds)?)
        .ok_or(Error::OutOfBounds)
}

/// Scratch bytes a conv needs: two im2col patches (the engine computes output
/// pixels in pairs, see [`crate::kernels::dot_2xn`]); none for a depthwise conv
/// (computed in place) or an unpadded 1×1 conv with one group (a pixel's
/// channels are already a contiguous patch).
pub fn conv_scratch(cin: u16, cout: u16, groups: u16, k: [u8; 2], pad: [u8; 4]) -> usize {
    let depthwise = groups == cin && cout == cin;
    let pointwise = k == [1, 1] && pad == [0; 4] && groups == 1;
    if depthwise || pointwise || groups == 0 {
        0
    } else {
        2 * (cin / groups) as usize * k[0] as usize * k[1] as usize
    }
}

/// Scratch bytes that let a residual Add use two 256-entry rescale tables (one
/// per input, plus alignment) instead of two requantizations per element; with
/// less scratch the engine computes them per element, with the same result.
pub const ADD_SCRATCH: usize = 2 * 256 * 4 + 4;

fn disjoint(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.end <= b.start || b.end <= a.start
}

impl<'a> Model<'a> {
    /// Validate `blob` completely and borrow it.
    pub fn from_bytes(blob: &'a [u8]) -> Result<Self, Error> {
        if blob.len() < HEADER_LEN {
            return Err(if blob.len() >= 4 && blob[..4] != MAGIC {
                Error::BadMagic
            } else {
                Error::Truncated
            });
        }
        let mut r = Reader::new(blob);
        if r.take::<4>()? != MAGIC {
            return Err(Error::BadMagic);
        }
        let version = r.u16()?;
        if version != VERSION {
            return Err(Error::UnsupportedVersion(version));
        }
        if r.u16()? as usize != HEADER_LEN {
            return Err(Error::UnsupportedVersion(version));
        }
        let total = r.u32()? as usize;
        if total > blob.len() {
            return Err(Error::Truncated);
        }
        if total < HEADER_LEN {
            return Err(Error::OutOfBounds);
        }
        let blob = &blob[..total];
        let expected = r.u32()?;
        let actual = crc32(&blob[HEADER_LEN..]);
        if expected != actual {
            return Err(Error::BadChecksum { expected, actual });
        }
        let arena_size = r.u32()? as usize;
        let n_tensors = r.u16()?;
        let n_ops = r.u16()?;
        let (t_off, o_off, d_off, d_len) = (r.u32()?, r.u32()?, r.u32()?, r.u32()? as usize);
        let (input_i, output_i) = (r.u16()?, r.u16()?);
        let (input_scale, input_zero_point, output_scale, output_zero_point) =
            (r.f32()?, r.i32()?, r.f32()?, r.i32()?);
        let scratch_len = r.u32()? as usize;
        let tensors = section(blob, t_off, n_tensors as usize * TENSOR_LEN)?;
        if o_off < t_off || d_off < o_off || (d_off as usize) < HEADER_LEN {
            return Err(Error::OutOfBounds);
        }
        let ops = section(blob, o_off, d_off as usize - o_off as usize)?;
        let data = section(blob, d_off, d_len)?;
        if scratch_len > arena_size {
            return Err(Error::OutOfBounds);
        }
        let mut m = Model {
            blob,
            tensors,
            ops,
            data,
            n_tensors,
            n_ops,
            arena_size,
            scratch_len,
            input: Tensor {
                c: 0,
                h: 0,
                w: 0,
                offset: 0,
                zero_point: 0,
            },
            output: Tensor {
                c: 0,
                h: 0,
                w: 0,
                offset: 0,
                zero_point: 0,
            },
            input_scale,
            input_zero_point,
            output_scale,
            output_zero_point,
        };
        let activations = arena_size - scratch_len;
        for i in 0..n_tensors {
            let t = m.tensor(i)?;
            if t.is_empty() || t.range().end > activations {
                return Err(Error::BadTensor(i));
            }
        }
        m.input = m.tensor(input_i)?;
        m.output = m.tensor(output_i)?;
        let mut it = m.op_records();
        while let Some(rec) = it.next_raw() {
            let (i, kind, body) = rec?;
            let op = m.decode(i, kind, body)?;
            m.check_op(i, &op)?;
        }
        // After the last op only alignment padding (zeros, < 16 bytes) may follow.
        let tail = &m.ops[it.pos..];
        if it.index != n_ops || tail.len() >= 16 || tail.iter().any(|&b| b != 0) {
            return Err(Error::BadOp(it.index));
        }
        Ok(m)
    }

    /// The raw blob.
    pub fn bytes(&self) -> &'a [u8] {
        self.blob
    }

    /// Number of ops.
    pub fn n_ops(&self) -> u16 {
        self.n_ops
    }

    /// Tensor `i`.
    pub fn tensor(&self, i: u16) -> Result<Tensor, Error> {
        if i >= self.n_tensors {
            return Err(Error::BadTensor(i));
        }
        let mut r = Reader::new(&self.tensors[i as usize * TENSOR_LEN..]);
        let (c, h, w, _) = (r.u16()?, r.u16()?, r.u16()?, r.u16()?);
        let offset = r.u32()?;
        let zero_point = r.i8()?;
        Ok(Tensor {
            c,
            h,
            w,
            offset,
            zero_point,
        })
    }

    /// The data-section bytes of `r` (validated at load).
    pub fn data(&self, r: &Range<usize>) -> &'a [u8] {
        self.data.get(r.clone()).unwrap_or(&[])
    }

    /// Iterate over the op records.
    pub fn op_records(&self) -> OpIter<'a> {
        OpIter {
            ops: self.ops,
            pos: 0,
            index: 0,
            count: self.n_ops,
        }
    }

    /// The decoded ops, in order (all validated at load).
    pub fn ops(&self) -> impl Iterator<Item = Result<Op, Error>> + '_ {
        let mut it = self.op_records();
        core::iter::from_fn(move || {
            it.next_raw()
                .map(|r| r.and_then(|(i, k, b)| self.decode(i, k, b)))
        })
    }

    fn consts(&self, r: &mut Reader, i: u16, cout: usize, wlen: usize) -> Result<Consts, Error> {
        let mut range = |len: usize| -> Result<Range<usize>, Error> {
            let off = r.u32()? as usize;
            let end = off.checked_add(len).ok_or(Error::BadOp(i))?;
            if end > self.data.len() {
                return Err(Error::OutOfBounds);
            }
            Ok(off..end)
        };
        Ok(Consts {
            weights: range(wlen)?,
            bias: range(4 * cout)?,
            mult: range(4 * cout)?,
            shift: range(4 * cout)?,
        })
    }

    /// All shifts of a per-channel table in [−31, 30], multipliers non-negative.
    fn check_requant(&self, c: &Consts) -> bool {
        let ok_shift = self
            .data(&c.shift)
            .chunks_exact(4)
            .all(|b| (-31..=30).contains(&i32::from_le_bytes([b[0], b[1], b[2], b[3]])));
        let ok_mult = self
            .data(&c.mult)
            .chunks_exact(4)
            .all(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) >= 0);
        ok_shift && ok_mult
    }

    /// Decode and validate one op (shapes, ranges, no in-place aliasing).
    fn check_op(&self, i: u16, op: &Op) -> Result<(), Error> {
        let bad = Error::BadOp(i);
        let requant_ok = |m: &[i32; 2]| m[0] >= 0 && (-31..=30).contains(&m[1]);
        let act = match op {
            Op::Conv { act, .. } | Op::Add { act, .. } | Op::FullyConnected { act, .. } => *act,
            _ => [i8::MIN, i8::MAX],
        };
        if act[0] > act[1] {
            return Err(bad);
        }
        match op {
            Op::Conv { consts, .. } | Op::FullyConnected { consts, .. }
                if !self.check_requant(consts) =>
            {
                return Err(bad)
            }
            Op::GlobalAvgPool { mult, .. } if !requant_ok(mult) => return Err(bad),
            Op::Add { mult, .. } if !mult.iter().all(requant_ok) => return Err(bad),
            _ => {}
        }
        let t = |k: u16| self.tensor(k).map_err(|_| bad);
        match op {
            Op::Conv {
                input,
                output,
                groups,
                k,
                s,
                pad,
                consts,
                ..
            } => {
                let (x, y) = (t(*input)?, t(*output)?);
                let g = *groups as usize;
                if g == 0
                    || !(x.c as usize).is_multiple_of(g)
                    || !(y.c as usize).is_multiple_of(g)
                    || k[0] == 0
                    || k[1] == 0
                    || s[0] == 0
                    || s[1] == 0
                {
                    return Err(bad);
                }
                let oh = (x.h as usize + pad[0] as usize + pad[2] as usize)
                    .checked_sub(k[0] as usize)
                    .ok_or(bad)?
                    / s[0] as usize
                    + 1;
                let ow = (x.w as usize + pad[1] as usize + pad[3] as usize)
                    .checked_sub(k[1] as usize)
                    .ok_or(bad)?
                    / s[1] as usize
                    + 1;
                let patch = x.c as usize / g * k[0] as usize * k[1] as usize;
                if oh != y.h as usize
                    || ow != y.w as usize
                    || consts.weights.len() != y.c as usize * patch
                    || conv_scratch(x.c, y.c, *groups, *k, *pad) > self.scratch_len
                    || !disjoint(&x.range(), &y.range())
                {
                    return Err(bad);
                }
            }
            Op::Pad {
                input,
                output,
                mode,
                pad,
            } => {
                let (x, y) = (t(*input)?, t(*output)?);
                let ok_shape = y.c == x.c
                    && y.h as usize == x.h as usize + pad[0] as usize + pad[2] as usize
                    && y.w as usize == x.w as usize + pad[1] as usize + pad[3] as usize;
                // Reflect needs the mirrored index inside the input.
                let ok_reflect = *mode != 1
                    || (pad[0].max(pad[2]) < x.h.min(255) as u8
                        && pad[1].max(pad[3]) < x.w.min(255) as u8);
                if *mode > 2 || !ok_shape || !ok_reflect || !disjoint(&x.range(), &y.range()) {
                    return Err(bad);
                }
            }
            Op::MaxPool {
                input,
                output,
                k,
                s,
                pad,
            } => {
                let (x, y) = (t(*input)?, t(*output)?);
                if k[0] == 0
                    || k[1] == 0
                    || s[0] == 0
                    || s[1] == 0
                    || x.c != y.c
                    || pad[0] >= k[0]
                    || pad[1] >= k[1]
                    || pad[2] >= k[0]
                    || pad[3] >= k[1]
                {
                    return Err(bad);
                }
                let oh = (x.h as usize + pad[0] as usize + pad[2] as usize)
                    .checked_sub(k[0] as usize)
                    .ok_or(bad)?
                    / s[0] as usize
                    + 1;
                let ow = (x.w as usize + pad[1] as usize + pad[3] as usize)
                    .checked_sub(k[1] as usize)
                    .ok_or(bad)?
                    / s[1] as usize
                    + 1;
                if oh != y.h as usize || ow != y.w as usize || !disjoint(&x.range(), &y.range()) {
                    return Err(bad);
                }
            }
            Op::GlobalAvgPool { input, output, .. } => {
                let (x, y) = (t(*input)?, t(*output)?);
                if y.c != x.c || y.h != 1 || y.w != 1 || !disjoint(&x.range(), &y.range()) {
                    return Err(bad);
                }
            }
            Op::Add {
                inputs,
                output,
                left_shift,
                ..
            } => {
                let (a, b, y) = (t(inputs[0])?, t(inputs[1])?, t(*output)?);
                let same = |p: Tensor, q: Tensor| p.c == q.c && p.h == q.h && p.w == q.w;
                if !same(a, y)
                    || !same(b, y)
                    || *left_shift > 20
                    || !disjoint(&a.range(), &y.range())
                    || !disjoint(&b.range(), &y.range())
                {
                    return Err(bad);
                }
            }
            Op::FullyConnected {
                input,
                output,
                consts,
                ..
            } => {
                let (x, y) = (t(*input)?, t(*output)?);
                if consts.weights.len() != x.len() * y.len()
                    || x.len() > self.scratch_len.max(x.len())
                    || !disjoint(&x.range(), &y.range())
                {
                    return Err(bad);
                }
            }
            Op::Lut {
                input,
                output,
                table,
            } => {
                let (x, y) = (t(*input)?, t(*output)?);
                if x.len() != y.len() || table.len() != 256 {
                    return Err(bad);
                }
            }
            Op::Alias { input, output } => {
                let (x, y) = (t(*input)?, t(*output)?);
                if x.len() != y.len() || x.offset != y.offset {
                    return Err(bad);
                }
            }
        }
        Ok(())
    }

    /// Decode the op record at `index` (validated at load).
    pub fn decode(&self, index: u16, kind: OpKind, body: &'a [u8]) -> Result<Op, Error> {
        let bad = Error::BadOp(index);
        let mut r = Reader::new(body);
        let op = match kind {
            OpKind::Conv => {
                let (input, output, groups) = (r.u16()?, r.u16()?, r.u16()?);
                let k = [r.u8()?, r.u8()?];
                let s = [r.u8()?, r.u8()?];
                let pad = [r.u8()?, r.u8()?, r.u8()?, r.u8()?];
                let act = [r.i8()?, r.i8()?];
                let (x, y) = (
                    self.tensor(input).map_err(|_| bad)?,
                    self.tensor(output).map_err(|_| bad)?,
                );
                let g = (groups as usize).max(1);
                let wlen = y.c as usize * (x.c as usize / g) * k[0] as usize * k[1] as usize;
                let consts = self.consts(&mut r, index, y.c as usize, wlen)?;
                Op::Conv {
                    input,
                    output,
                    groups,
                    k,
                    s,
                    pad,
                    act,
                    consts,
                }
            }
            OpKind::Pad => Op::Pad {
                input: r.u16()?,
                output: r.u16()?,
                mode: r.u8()?,
                pad: [r.u8()?, r.u8()?, r.u8()?, r.u8()?],
            },
            OpKind::MaxPool => Op::MaxPool {
                input: r.u16()?,
                output: r.u16()?,
                k: [r.u8()?, r.u8()?],
                s: [r.u8()?, r.u8()?],
                pad: [r.u8()?, r.u8()?, r.u8()?, r.u8()?],
            },
            OpKind::GlobalAvgPool => Op::GlobalAvgPool {
                input: r.u16()?,
                output: r.u16()?,
                mult: [r.i32()?, r.i32()?],
            },
            OpKind::Add => {
                let inputs = [r.u16()?, r.u16()?];
                let output = r.u16()?;
                let left_shift = r.u8()?;
                let act = [r.i8()?, r.i8()?];
                let mut mult = [[0i32; 2]; 3];
                for m in mult.iter_mut() {
                    *m = [r.i32()?, r.i32()?];
                }
                Op::Add {
                    inputs,
                    output,
                    left_shift,
                    act,
                    mult,
                }
            }
            OpKind::FullyConnected => {
                let (input, output) = (r.u16()?, r.u16()?);
                let act = [r.i8()?, r.i8()?];
                let (x, y) = (
                    self.tensor(input).map_err(|_| bad)?,
                    self.tensor(output).map_err(|_| bad)?,
                );
                let consts = self.consts(&mut r, index, y.len(), x.len() * y.len())?;
                Op::FullyConnected {
                    input,
                    output,
                    act,
                    consts,
                }
            }
            OpKind::Lut => {
                let (input, output) = (r.u16()?, r.u16()?);
                let off = r.u32()? as usize;
                if off.checked_add(256).is_none_or(|e| e > self.data.len()) {
                    return Err(Error::OutOfBounds);
                }
                Op::Lut {
                    input,
                    output,
                    table: off..off + 256,
                }
            }
            OpKind::Alias => Op::Alias {
                input: r.u16()?,
                output: r.u16()?,
            },
        };
        if r.pos != body.len() {
            return Err(bad);
        }
        Ok(op)
    }
}

/// One raw op record: index, kind, body.
pub type RawOp<'a> = (u16, OpKind, &'a [u8]);

/// Iterator over op records.
#[derive(Debug, Clone)]
pub struct OpIter<'a> {
    ops: &'a [u8],
    pos: usize,
    index: u16,
    count: u16,
}

impl<'a> OpIter<'a> {
    /// The next raw record: `(index, kind, body)`.
    pub fn next_raw(&mut self) -> Option<Result<RawOp<'a>, Error>> {
        if self.index >= self.count {
            return None;
        }
        let i = self.index;
        let rec = (|| {
            let mut r = Reader::new(&self.ops[self.pos..]);
            let kind = OpKind::from_u8(r.u8()?).ok_or(Error::BadOp(i))?;
            r.u8()?;
            let len = r.u16()? as usize;
            if len < 4 {
                return Err(Error::BadOp(i));
            }
            let body = self
                .ops
                .get(self.pos + 4..self.pos + len)
                .ok_or(Error::BadOp(i))?;
            self.pos += len;
            Ok((i, kind, body))
        })();
        if rec.is_err() {
            self.pos = self.ops.len();
            self.count = self.index;
        }
        self.index += 1;
        Some(rec)
    }
}
