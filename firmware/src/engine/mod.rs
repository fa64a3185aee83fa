//! Running a validated [`Model`]: one pass over the ops, every tensor an HWC
//! slice of the caller's arena, no allocation. Op semantics follow TFLite's int8
//! reference kernels (docs/architecture.md, "int8 arithmetic"); the loops live in
//! [`conv`] (conv, depthwise, fully connected), [`pool`] (pad, max / average
//! pool) and [`eltwise`] (add, lookup table).

use core::ops::Range;

use nyquist_nqm::{Consts, Error, Model, Op, OpKind};

/// Progress events for instrumentation (per-layer cycle or instruction counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Op `index` of `kind` is about to run.
    Start(u16, OpKind),
    /// Op `index` finished.
    End(u16, OpKind),
}

/// `(input, output)` views of disjoint arena ranges (checked at load).
fn io(arena: &mut [i8], input: Range<usize>, output: Range<usize>) -> Option<(&[i8], &mut [i8])> {
    if input.start >= output.end {
        let (lo, hi) = arena.split_at_mut(input.start);
        Some((hi.get(..input.len())?, lo.get_mut(output)?))
    } else {
        let (lo, hi) = arena.split_at_mut(output.start);
        Some((lo.get(input)?, hi.get_mut(..output.len())?))
    }
}

/// Two inputs and an output; the inputs may overlap each other, not the output.
fn io2<'a>(
    arena: &'a mut [i8],
    a: Range<usize>,
    b: Range<usize>,
    out: Range<usize>,
) -> Option<(&'a [i8], &'a [i8], &'a mut [i8])> {
    let (left, rest) = arena.split_at_mut(out.start);
    let (mid, right) = rest.split_at_mut(out.len().min(rest.len()));
    let (left, right): (&'a [i8], &'a [i8]) = (left, right);
    let pick = move |r: Range<usize>| -> Option<&'a [i8]> {
        if r.end <= out.start {
            left.get(r)
        } else {
            right.get(r.start.checked_sub(out.end)?..r.end.checked_sub(out.end)?)
        }
    };
    Some((pick(a)?, pick(b)?, mid))
}

mod conv;
mod eltwise;
mod pool;

use conv::{Geom, Quant};
use eltwise::AddParams;

/// Running a validated [`Model`]: the engine's side of the `.nqm` format
/// (the format itself, and its validation, are `nyquist-nqm`'s).
pub trait Run {
    /// Run on `input` (int8, the input tensor's HWC layout, as every op), writing the output
    /// tensor to `output`. `arena` needs [`Model::arena_size`] bytes.
    fn run(&self, arena: &mut [i8], input: &[i8], output: &mut [i8]) -> Result<(), Error> {
        self.run_with(arena, input, output, |_| {})
    }

    /// [`Run::run`], calling `hook` before and after every op.
    fn run_with(
        &self,
        arena: &mut [i8],
        input: &[i8],
        output: &mut [i8],
        hook: impl FnMut(Event),
    ) -> Result<(), Error>;
}

fn quant<'m>(m: &Model<'m>, c: &Consts) -> Quant<'m> {
    Quant::new(
        bytemuck::cast_slice(m.data(&c.weights)),
        m.data(&c.bias),
        m.data(&c.mult),
        m.data(&c.shift),
    )
}

impl Run for Model<'_> {
    fn run_with(
        &self,
        arena: &mut [i8],
        input: &[i8],
        output: &mut [i8],
        mut hook: impl FnMut(Event),
    ) -> Result<(), Error> {
        if arena.len() < self.arena_size {
            return Err(Error::ArenaTooSmall {
                needed: self.arena_size,
                given: arena.len(),
            });
        }
        if input.len() != self.input.len() {
            return Err(Error::WrongLength {
                expected: self.input.len(),
                given: input.len(),
            });
        }
        if output.len() != self.output.len() {
            return Err(Error::WrongLength {
                expected: self.output.len(),
                given: output.len(),
            });
        }
        let (acts, scratch) =
            arena[..self.arena_size].split_at_mut(self.arena_size - self.scratch_len);
        acts.get_mut(self.input.range())
            .ok_or(Error::OutOfBounds)?
            .copy_from_slice(input);
        for (i, op) in self.ops().enumerate() {
            let op = op?;
            let (i, kind) = (i as u16, op.kind());
            hook(Event::Start(i, kind));
            exec(self, &op, acts, scratch).ok_or(Error::BadOp(i))?;
            hook(Event::End(i, kind));
        }
        output.copy_from_slice(acts.get(self.output.range()).ok_or(Error::OutOfBounds)?);
        Ok(())
    }
}

fn exec(m: &Model<'_>, op: &Op, acts: &mut [i8], scratch: &mut [i8]) -> Option<()> {
    let t = |k: u16| m.tensor(k).ok();
    match op {
        Op::Conv {
            input,
            output,
            groups,
            k,
            s,
            pad,
            act,
            consts,
        } => {
            let (x, y) = (t(*input)?, t(*output)?);
            let (xin, yout) = io(acts, x.range(), y.range())?;
            let q = quant(m, consts);
            let g = Geom {
                groups: *groups as usize,
                k: [k[0] as usize, k[1] as usize],
                s: [s[0] as usize, s[1] as usize],
                pad: [pad[0] as usize, pad[1] as usize],
                act: *act,
            };
            if *groups == x.c && y.c == x.c {
                conv::depthwise(&x, &y, xin, yout, &q, &g)
            } else {
                conv::conv(&x, &y, xin, yout, &q, &g, scratch)
            }
        }
        Op::FullyConnected {
            input,
            output,
            act,
            consts,
        } => {
            let (x, y) = (t(*input)?, t(*output)?);
            let (xin, yout) = io(acts, x.range(), y.range())?;
            conv::fully_connected(xin, yout, &quant(m, consts), y.zero_point as i32, *act)
        }
        Op::Pad {
            input,
            output,
            mode,
            pad,
        } => {
            let (x, y) = (t(*input)?, t(*output)?);
            let (xin, yout) = io(acts, x.range(), y.range())?;
            pool::pad(&x, &y, xin, yout, *mode, *pad)
        }
        Op::MaxPool {
            input,
            output,
            k,
            s,
            pad,
        } => {
            let (x, y) = (t(*input)?, t(*output)?);
            let (xin, yout) = io(acts, x.range(), y.range())?;
            pool::max_pool(&x, &y, xin, yout, *k, *s, *pad)
        }
        Op::GlobalAvgPool {
            input,
            output,
            mult,
        } => {
            let (x, y) = (t(*input)?, t(*output)?);
            let (xin, yout) = io(acts, x.range(), y.range())?;
            pool::global_avg_pool(&x, &y, xin, yout, *mult)
        }
        Op::Add {
            inputs,
            output,
            left_shift,
            act,
            mult,
        } => {
            let (a, b, y) = (t(inputs[0])?, t(inputs[1])?, t(*output)?);
            let (xa, xb, yout) = io2(acts, a.range(), b.range(), y.range())?;
            let p = AddParams {
                zero_points: [a.zero_point as i32, b.zero_point as i32],
                left_shift: *left_shift,
                mult: *mult,
                out_zp: y.zero_point as i32,
                act: *act,
            };
            eltwise::add(xa, xb, yout, &p, scratch);
            Some(())
        }
        Op::Lut {
            input,
            output,
            table,
        } => {
            let (x, y) = (t(*input)?, t(*output)?);
            let lut: &[i8; 256] = bytemuck::cast_slice(m.data(table)).try_into().ok()?;
            if x.offset == y.offset {
                crate::kernels::lut_in_place(acts.get_mut(y.range())?, lut);
            } else {
                let (xin, yout) = io(acts, x.range(), y.range())?;
                crate::kernels::lut(xin, yout, lut);
            }
            Some(())
        }
        Op::Alias { .. } => Some(()),
    }
}
