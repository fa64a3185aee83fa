//! What each op of a blob costs in the units a cost model needs: MACs,
//! output elements, output pixels, constant bytes, and the arena bytes in use
//! while it runs. Shared by the converter's deployment estimate and by
//! `cargo xtask fw bench`, which records measured instructions against the
//! same figures.

use alloc::vec;
use alloc::vec::Vec;

use crate::record::{Op, OpKind};
use crate::scratch::{conv_scratch, ADD_SCRATCH};
use crate::{Error, Model};

/// Ops grouped by how their cost grows: each class has its own cost model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpClass {
    /// Conv with im2col patches (kernel > 1×1 or padded), one group, over a
    /// multiple of 16 input channels: patches of whole 16-byte vectors, which
    /// the Helium engine computes in pixel triples.
    Conv,
    /// The same over input channels not a multiple of 16 (a stem over 1 or
    /// 3 channels): patches off whole vectors, computed in pixel pairs.
    ConvNarrow,
    /// Unpadded 1×1 conv, one group (reads pixels in place).
    Pointwise,
    /// Depthwise conv (groups = channels in = channels out).
    Depthwise,
    /// Grouped conv that is neither of the above.
    Grouped,
    /// Fully connected.
    FullyConnected,
    /// Elementwise or data movement: pad, max-pool, global average pool, add,
    /// lookup table, alias.
    Elementwise(OpKind),
}

impl OpClass {
    /// Every class (elementwise ones for the ops that are elementwise).
    pub const ALL: [OpClass; 12] = [
        OpClass::Conv,
        OpClass::ConvNarrow,
        OpClass::Pointwise,
        OpClass::Depthwise,
        OpClass::Grouped,
        OpClass::FullyConnected,
        OpClass::Elementwise(OpKind::Pad),
        OpClass::Elementwise(OpKind::MaxPool),
        OpClass::Elementwise(OpKind::GlobalAvgPool),
        OpClass::Elementwise(OpKind::Add),
        OpClass::Elementwise(OpKind::Lut),
        OpClass::Elementwise(OpKind::Alias),
    ];

    /// The class a [`name`](Self::name) names (`None`: no class is called so).
    pub fn from_name(name: &str) -> Option<OpClass> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Short name: `conv`, `conv-narrow`, `pointwise`, `depthwise`, `grouped`, `fc`, or the op's name.
    pub const fn name(self) -> &'static str {
        match self {
            OpClass::Conv => "conv",
            OpClass::ConvNarrow => "conv-narrow",
            OpClass::Pointwise => "pointwise",
            OpClass::Depthwise => "depthwise",
            OpClass::Grouped => "grouped",
            OpClass::FullyConnected => "fc",
            OpClass::Elementwise(k) => k.name(),
        }
    }
}

/// One op's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpShape {
    /// The op.
    pub kind: OpKind,
    /// Its cost class.
    pub class: OpClass,
    /// Multiply-accumulates (conv, fc; 0 otherwise).
    pub macs: u64,
    /// Output elements.
    pub outputs: u64,
    /// Output pixels (H × W of the output).
    pub pixels: u64,
    /// Input elements (the first input).
    pub inputs: u64,
    /// Bytes of its constants in the data section (weights, biases,
    /// multipliers, shifts, tables).
    pub const_bytes: usize,
    /// Arena bytes in use while it runs: every tensor alive at this op
    /// (overlaps counted once) plus the scratch this op uses.
    pub arena_bytes: usize,
}

/// Bytes covered by a set of ranges (overlaps once).
fn union_len(ranges: &mut [(usize, usize)]) -> usize {
    ranges.sort_unstable();
    let (mut total, mut end) = (0usize, 0usize);
    for &(s, e) in ranges.iter() {
        if e > end {
            total += e - s.max(end);
            end = e;
        }
    }
    total
}

/// The shape of every op of `m`, in order.
pub fn op_shapes(m: &Model<'_>) -> Result<Vec<OpShape>, Error> {
    let n_tensors = m.n_tensors() as usize;
    // Lifetimes: the op that writes each tensor, the last op that reads it.
    let mut born = vec![i32::MAX; n_tensors];
    let mut dies = vec![i32::MIN; n_tensors];
    let at = |t: u16| -> Result<usize, Error> {
        ((t as usize) < n_tensors)
            .then_some(t as usize)
            .ok_or(Error::BadTensor(t))
    };
    born[at(m.input_index())?] = -1;
    for (k, op) in m.ops().enumerate() {
        let (ins, o) = op?.tensors();
        let o = at(o)?;
        born[o] = born[o].min(k as i32);
        for i in ins.into_iter().flatten() {
            let i = at(i)?;
            dies[i] = dies[i].max(k as i32);
        }
    }
    dies[at(m.output_index())?] = i32::MAX;
    let mut out = Vec::with_capacity(m.n_ops() as usize);
    for (k, op) in m.ops().enumerate() {
        let op = op?;
        let (ins, o) = op.tensors();
        let (x, y) = (m.tensor(ins[0].unwrap_or(o))?, m.tensor(o)?);
        let const_bytes = match &op {
            Op::Conv { consts, .. } | Op::FullyConnected { consts, .. } => {
                consts.weights.len() + consts.bias.len() + consts.mult.len() + consts.shift.len()
            }
            Op::Lut { table, .. } => table.len(),
            _ => 0,
        };
        let (class, macs, scratch) = match &op {
            Op::Conv {
                groups, k: kk, pad, ..
            } => {
                let g = (*groups).max(1);
                let macs = y.len() as u64 * (x.c / g) as u64 * kk[0] as u64 * kk[1] as u64;
                let class = if g == 1 && *kk == [1, 1] && *pad == [0; 4] {
                    OpClass::Pointwise
                } else if g == 1 && !x.c.is_multiple_of(16) {
                    OpClass::ConvNarrow
                } else if g == 1 {
                    OpClass::Conv
                } else if g == x.c && y.c == x.c {
                    OpClass::Depthwise
                } else {
                    OpClass::Grouped
                };
                (class, macs, conv_scratch(x.c, y.c, *groups, *kk, *pad))
            }
            Op::FullyConnected { .. } => (OpClass::FullyConnected, (x.len() * y.len()) as u64, 0),
            Op::Add { .. } => (OpClass::Elementwise(OpKind::Add), 0, ADD_SCRATCH),
            other => (OpClass::Elementwise(other.kind()), 0, 0),
        };
        let mut ranges = Vec::new();
        for t in 0..n_tensors {
            if born[t] <= k as i32 && k as i32 <= dies[t] {
                let r = m.tensor(t as u16)?.range();
                ranges.push((r.start, r.end));
            }
        }
        out.push(OpShape {
            kind: op.kind(),
            class,
            macs,
            outputs: y.len() as u64,
            pixels: y.h as u64 * y.w as u64,
            inputs: x.len() as u64,
            const_bytes,
            arena_bytes: union_len(&mut ranges) + scratch.min(m.scratch_len),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::OpClass;

    #[test]
    fn class_names_round_trip_and_are_distinct() {
        for c in OpClass::ALL {
            assert_eq!(OpClass::from_name(c.name()), Some(c), "{}", c.name());
        }
        for (i, a) in OpClass::ALL.iter().enumerate() {
            for b in &OpClass::ALL[i + 1..] {
                assert_ne!(a.name(), b.name());
            }
        }
        assert_eq!(OpClass::from_name("fc"), Some(OpClass::FullyConnected));
        assert_eq!(OpClass::from_name("conv2d"), None);
    }
}
