//! [`Model`]: a blob validated completely and borrowed in place.

use core::ops::Range;

use crate::crc::crc32;
use crate::header::Header;
use crate::record::{Consts, Op, OpIter, OpKind, Reader, Tensor};
use crate::scratch::conv_scratch;
use crate::{Error, HEADER_LEN, TENSOR_LEN};

/// A validated model, borrowing the blob.
#[derive(Debug, Clone)]
pub struct Model<'a> {
    blob: &'a [u8],
    tensors: &'a [u8],
    ops: &'a [u8],
    data: &'a [u8],
    n_tensors: u16,
    n_ops: u16,
    input_index: u16,
    output_index: u16,
    /// Arena bytes needed (scratch included).
    pub arena_size: usize,
    /// Scratch bytes at the end of the arena (conv patches, Add tables; see
    /// [`crate::conv_scratch`], [`crate::ADD_SCRATCH`]).
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

/// Output height and width of a window (conv, max-pool) of kernel `k`,
/// stride `s` (non-zero) and padding top, left, bottom, right over `x`;
/// `None` when the kernel is larger than the padded input.
fn window_output(x: Tensor, k: [u8; 2], s: [u8; 2], pad: [u8; 4]) -> Option<[usize; 2]> {
    let side = |n: u16, lo: u8, hi: u8, k: u8, s: u8| {
        Some((n as usize + lo as usize + hi as usize).checked_sub(k as usize)? / s as usize + 1)
    };
    Some([
        side(x.h, pad[0], pad[2], k[0], s[0])?,
        side(x.w, pad[1], pad[3], k[1], s[1])?,
    ])
}

fn disjoint(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.end <= b.start || b.end <= a.start
}

impl<'a> Model<'a> {
    /// Validate `blob` completely and borrow it.
    pub fn from_bytes(blob: &'a [u8]) -> Result<Self, Error> {
        let h = Header::parse(blob)?;
        let total = h.total_len as usize;
        if total > blob.len() {
            return Err(Error::Truncated);
        }
        if total < HEADER_LEN {
            return Err(Error::OutOfBounds);
        }
        let blob = &blob[..total];
        let actual = crc32(&blob[HEADER_LEN..]);
        if h.crc != actual {
            return Err(Error::BadChecksum {
                expected: h.crc,
                actual,
            });
        }
        let arena_size = h.arena_size as usize;
        let (n_tensors, n_ops) = (h.n_tensors, h.n_ops);
        let (t_off, o_off, d_off, d_len) = (
            h.tensors_offset,
            h.ops_offset,
            h.data_offset,
            h.data_len as usize,
        );
        let (input_i, output_i) = (h.input, h.output);
        let (input_scale, input_zero_point, output_scale, output_zero_point) = (
            h.input_scale,
            h.input_zero_point,
            h.output_scale,
            h.output_zero_point,
        );
        let scratch_len = h.scratch_len as usize;
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
            input_index: input_i,
            output_index: output_i,
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

    /// Number of tensors.
    pub fn n_tensors(&self) -> u16 {
        self.n_tensors
    }

    /// Index of the input tensor.
    pub fn input_index(&self) -> u16 {
        self.input_index
    }

    /// Index of the output tensor.
    pub fn output_index(&self) -> u16 {
        self.output_index
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
                let [oh, ow] = window_output(x, *k, *s, *pad).ok_or(bad)?;
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
                let [oh, ow] = window_output(x, *k, *s, *pad).ok_or(bad)?;
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
