//! The records of a blob: tensors, op kinds, decoded ops, and the
//! little-endian [`Reader`] the decoder is built on.

use core::ops::Range;

use crate::Error;

/// A little-endian reader over a byte slice that never panics.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    b: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    /// Read from `b`, starting at 0.
    pub fn new(b: &'a [u8]) -> Self {
        Reader { b, pos: 0 }
    }
    pub(crate) fn take<const N: usize>(&mut self) -> Result<[u8; N], Error> {
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
    /// Short name, as logs and tables print it: `conv`, `pad`, `maxpool`,
    /// `gap`, `add`, `fc`, `lut`, `alias`.
    pub const fn name(self) -> &'static str {
        match self {
            OpKind::Conv => "conv",
            OpKind::Pad => "pad",
            OpKind::MaxPool => "maxpool",
            OpKind::GlobalAvgPool => "gap",
            OpKind::Add => "add",
            OpKind::FullyConnected => "fc",
            OpKind::Lut => "lut",
            OpKind::Alias => "alias",
        }
    }

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

impl Op {
    /// The record's kind byte.
    pub fn kind(&self) -> OpKind {
        match self {
            Op::Conv { .. } => OpKind::Conv,
            Op::Pad { .. } => OpKind::Pad,
            Op::MaxPool { .. } => OpKind::MaxPool,
            Op::GlobalAvgPool { .. } => OpKind::GlobalAvgPool,
            Op::Add { .. } => OpKind::Add,
            Op::FullyConnected { .. } => OpKind::FullyConnected,
            Op::Lut { .. } => OpKind::Lut,
            Op::Alias { .. } => OpKind::Alias,
        }
    }

    /// The tensors it reads (the second only for Add) and the one it writes.
    pub fn tensors(&self) -> ([Option<u16>; 2], u16) {
        match *self {
            Op::Conv { input, output, .. }
            | Op::Pad { input, output, .. }
            | Op::MaxPool { input, output, .. }
            | Op::GlobalAvgPool { input, output, .. }
            | Op::FullyConnected { input, output, .. }
            | Op::Lut { input, output, .. }
            | Op::Alias { input, output } => ([Some(input), None], output),
            Op::Add { inputs, output, .. } => ([Some(inputs[0]), Some(inputs[1])], output),
        }
    }
}

/// One raw op record: index, kind, body.
pub type RawOp<'a> = (u16, OpKind, &'a [u8]);

/// Iterator over op records.
#[derive(Debug, Clone)]
pub struct OpIter<'a> {
    pub(crate) ops: &'a [u8],
    pub(crate) pos: usize,
    pub(crate) index: u16,
    pub(crate) count: u16,
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
