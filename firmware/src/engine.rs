//! Running a validated [`Model`]: one pass over the ops, every tensor a slice of
//! the caller's arena, no allocation. Op semantics follow TFLite's int8
//! reference kernels (DESIGN.md, "int8 arithmetic").

use core::ops::Range;

use crate::arith::{multiply_by_quantized_multiplier, requantize};
use crate::blob::{Consts, Error, Model, Op, OpKind};
use crate::kernels::dot;

/// Progress events for instrumentation (per-layer cycle or instruction counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Op `index` of `kind` is about to run.
    Start(u16, OpKind),
    /// Op `index` finished.
    End(u16, OpKind),
}

fn kind_of(op: &Op) -> OpKind {
    match op {
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

fn i32_at(b: &[u8], i: usize) -> i32 {
    b.get(4 * i..4 * i + 4)
        .map_or(0, |s| i32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

struct Quant<'a> {
    weights: &'a [i8],
    bias: &'a [u8],
    mult: &'a [u8],
    shift: &'a [u8],
}

impl<'m> Model<'m> {
    fn quant(&self, c: &Consts) -> Quant<'m> {
        Quant {
            weights: bytemuck::cast_slice(self.data(&c.weights)),
            bias: self.data(&c.bias),
            mult: self.data(&c.mult),
            shift: self.data(&c.shift),
        }
    }

    /// Run on `input` (int8, the input tensor's CHW layout), writing the output
    /// tensor to `output`. `arena` needs [`Model::arena_size`] bytes.
    pub fn run(&self, arena: &mut [i8], input: &[i8], output: &mut [i8]) -> Result<(), Error> {
        self.run_with(arena, input, output, |_| {})
    }

    /// [`Model::run`], calling `hook` before and after every op.
    pub fn run_with(
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
            let (i, kind) = (i as u16, kind_of(&op));
            hook(Event::Start(i, kind));
            self.exec(i, &op, acts, scratch).ok_or(Error::BadOp(i))?;
            hook(Event::End(i, kind));
        }
        output.copy_from_slice(acts.get(self.output.range()).ok_or(Error::OutOfBounds)?);
        Ok(())
    }

    fn exec(&self, _i: u16, op: &Op, acts: &mut [i8], scratch: &mut [i8]) -> Option<()> {
        let t = |k: u16| self.tensor(k).ok();
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
                let q = self.quant(consts);
                let g = *groups as usize;
                let (cin_g, cout_g) = (x.c as usize / g, y.c as usize / g);
                let (kh, kw) = (k[0] as usize, k[1] as usize);
                let plen = cin_g * kh * kw;
                let patch = scratch.get_mut(..plen)?;
                let (xh, xw, oh, ow) = (x.h as isize, x.w as isize, y.h as usize, y.w as usize);
                let zp = x.zero_point;
                let out_zp = y.zero_point as i32;
                for oy in 0..oh {
                    for ox in 0..ow {
                        for grp in 0..g {
                            let mut p = 0;
                            for ci in 0..cin_g {
                                let plane = &xin[(grp * cin_g + ci) * (xh * xw) as usize..]
                                    [..(xh * xw) as usize];
                                for ky in 0..kh {
                                    let iy = (oy * s[0] as usize + ky) as isize - pad[0] as isize;
                                    for kx in 0..kw {
                                        let ix =
                                            (ox * s[1] as usize + kx) as isize - pad[1] as isize;
                                        patch[p] = if iy >= 0 && iy < xh && ix >= 0 && ix < xw {
                                            plane[(iy * xw + ix) as usize]
                                        } else {
                                            zp
                                        };
                                        p += 1;
                                    }
                                }
                            }
                            for oc in 0..cout_g {
                                let o = grp * cout_g + oc;
                                let acc = i32_at(q.bias, o)
                                    .wrapping_add(dot(patch, &q.weights[o * plen..(o + 1) * plen]));
                                yout[(o * oh + oy) * ow + ox] = requantize(
                                    acc,
                                    i32_at(q.mult, o),
                                    i32_at(q.shift, o),
                                    out_zp,
                                    act[0],
                                    act[1],
                                );
                            }
                        }
                    }
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
                let q = self.quant(consts);
                let k = x.len();
                for (o, v) in yout.iter_mut().enumerate() {
                    let acc =
                        i32_at(q.bias, o).wrapping_add(dot(xin, &q.weights[o * k..(o + 1) * k]));
                    *v = requantize(
                        acc,
                        i32_at(q.mult, o),
                        i32_at(q.shift, o),
                        y.zero_point as i32,
                        act[0],
                        act[1],
                    );
                }
            }
            Op::Pad {
                input,
                output,
                mode,
                pad,
            } => {
                let (x, y) = (t(*input)?, t(*output)?);
                let (xin, yout) = io(acts, x.range(), y.range())?;
                let (h, w) = (x.h as isize, x.w as isize);
                let fold = |i: isize, n: isize| -> Option<isize> {
                    match mode {
                        1 => Some(if i < 0 {
                            -i
                        } else if i >= n {
                            2 * n - 2 - i
                        } else {
                            i
                        }),
                        2 => Some(i.clamp(0, n - 1)),
                        _ => (0..n).contains(&i).then_some(i),
                    }
                };
                let (oh, ow) = (y.h as usize, y.w as usize);
                for c in 0..x.c as usize {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let iy = fold(oy as isize - pad[0] as isize, h);
                            let ix = fold(ox as isize - pad[1] as isize, w);
                            yout[(c * oh + oy) * ow + ox] = match (iy, ix) {
                                (Some(iy), Some(ix)) => {
                                    *xin.get(c * (h * w) as usize + (iy * w + ix) as usize)?
                                }
                                _ => x.zero_point,
                            };
                        }
                    }
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
                let (xin, yout) = io(acts, x.range(), y.range())?;
                let (h, w, oh, ow) = (x.h as isize, x.w as isize, y.h as usize, y.w as usize);
                for c in 0..x.c as usize {
                    let plane = &xin[c * (h * w) as usize..][..(h * w) as usize];
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let mut m = i8::MIN;
                            for ky in 0..k[0] as isize {
                                let iy = (oy * s[0] as usize) as isize + ky - pad[0] as isize;
                                for kx in 0..k[1] as isize {
                                    let ix = (ox * s[1] as usize) as isize + kx - pad[1] as isize;
                                    if iy >= 0 && iy < h && ix >= 0 && ix < w {
                                        m = m.max(plane[(iy * w + ix) as usize]);
                                    }
                                }
                            }
                            yout[(c * oh + oy) * ow + ox] = m;
                        }
                    }
                }
            }
            Op::GlobalAvgPool {
                input,
                output,
                mult,
            } => {
                let (x, y) = (t(*input)?, t(*output)?);
                let (xin, yout) = io(acts, x.range(), y.range())?;
                let hw = x.h as usize * x.w as usize;
                let zi = x.zero_point as i32;
                for (c, v) in yout.iter_mut().enumerate() {
                    let acc: i32 = xin[c * hw..(c + 1) * hw]
                        .iter()
                        .map(|&a| a as i32 - zi)
                        .sum();
                    *v = requantize(acc, mult[0], mult[1], y.zero_point as i32, i8::MIN, i8::MAX);
                }
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
                let (za, zb) = (a.zero_point as i32, b.zero_point as i32);
                for ((v, &p), &q) in yout.iter_mut().zip(xa).zip(xb) {
                    let sa = multiply_by_quantized_multiplier(
                        (p as i32 - za) << left_shift,
                        mult[0][0],
                        mult[0][1],
                    );
                    let sb = multiply_by_quantized_multiplier(
                        (q as i32 - zb) << left_shift,
                        mult[1][0],
                        mult[1][1],
                    );
                    *v = requantize(
                        sa.wrapping_add(sb),
                        mult[2][0],
                        mult[2][1],
                        y.zero_point as i32,
                        act[0],
                        act[1],
                    );
                }
            }
            Op::Lut {
                input,
                output,
                table,
            } => {
                let (x, y) = (t(*input)?, t(*output)?);
                let lut: &[i8] = bytemuck::cast_slice(self.data(table));
                if lut.len() != 256 {
                    return None;
                }
                if x.offset == y.offset {
                    for v in acts.get_mut(y.range())? {
                        *v = lut[(*v as u8 ^ 0x80) as usize];
                    }
                } else {
                    let (xin, yout) = io(acts, x.range(), y.range())?;
                    for (v, &a) in yout.iter_mut().zip(xin) {
                        *v = lut[(a as u8 ^ 0x80) as usize];
                    }
                }
            }
            Op::Alias { .. } => {}
        }
        Some(())
    }
}
