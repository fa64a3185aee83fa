//! The portable reference every SIMD kernel is checked against.

use super::RowQuant;

/// `Σ x[i]·w[i]` over the shorter length (wrapping, like the SIMD kernels).
#[inline]
pub fn dot(x: &[i8], w: &[i8]) -> i32 {
    x.iter()
        .zip(w)
        .fold(0i32, |acc, (&a, &b)| acc.wrapping_add(a as i32 * b as i32))
}

/// `[x0·w0, x0·w1, x1·w0, x1·w1]` over the shortest length: two input patches
/// against two weight rows, the register block of every conv.
#[inline]
pub fn dot_2x2(x0: &[i8], x1: &[i8], w0: &[i8], w1: &[i8]) -> [i32; 4] {
    let n = x0.len().min(x1.len()).min(w0.len()).min(w1.len());
    let (x0, x1, w0, w1) = (&x0[..n], &x1[..n], &w0[..n], &w1[..n]);
    [dot(x0, w0), dot(x0, w1), dot(x1, w0), dot(x1, w1)]
}

/// A pixel pair against consecutive weight rows (see [`super::dot_2xn`]):
/// `acc[0][j] = x0·w_j`, `acc[1][j] = x1·w_j`, one [`dot`] at a time.
pub fn dot_2xn(x0: &[i8], x1: &[i8], w: &[i8], acc: &mut [[i32; super::ACC_ROW]; 2]) -> usize {
    let k = x0.len().min(x1.len());
    let m = super::rows_2xn(k, w.len());
    for (j, wj) in w.chunks_exact(k.max(1)).take(m).enumerate() {
        acc[0][j] = dot(&x0[..k], wj);
        acc[1][j] = dot(&x1[..k], wj);
    }
    m
}

/// [`super::dot_3xn`]: every row for every pixel, one 16-byte chunk
/// [`dot`] at a time ([`super::triple::lane_at`]); 0 rows unless `k` is
/// whole chunks and `x` holds three patches.
pub fn dot_3xn(x: &[i8], k: usize, w: &[i8], acc: &mut super::Acc3) -> usize {
    if !super::triple::interleavable(k) || x.len() / super::triple::LANES < k {
        return 0;
    }
    let m = super::rows_2xn(k, w.len());
    for (j, wj) in w.chunks_exact(k).take(m).enumerate() {
        super::triple::triple_row(x, wj, j, acc);
    }
    m
}

/// [`super::copy_rows_lane`]: run by run, chunk by chunk; `false`, nothing
/// written, unless runs are whole chunks, `lane` < 3 and both slices hold
/// what the patch needs.
pub fn copy_rows_lane(dst: &mut [i8], lane: usize, src: &[i8], s: &super::Strided) -> bool {
    use super::triple::{lane_at, CHUNK};
    let fits = super::triple::lane_fits(dst, lane, src, s);
    if fits {
        let per_run = s.run / CHUNK;
        for ky in 0..s.rows {
            for c in 0..per_run {
                let (from, to) = (ky * s.stride + c * CHUNK, lane_at(ky * per_run + c, lane));
                dst[to..to + CHUNK].copy_from_slice(&src[from..from + CHUNK]);
            }
        }
    }
    fits
}

/// [`super::copy_rows_triple`]: [`copy_rows_lane`] for each pixel; `false`,
/// nothing written, unless all three fit.
pub fn copy_rows_triple(dst: &mut [i8], src: [&[i8]; 3], s: &super::Strided) -> bool {
    let fits = src.iter().all(|x| super::triple::lane_fits(dst, 0, x, s));
    if fits {
        for (lane, x) in src.into_iter().enumerate() {
            copy_rows_lane(dst, lane, x, s);
        }
    }
    fits
}

/// [`dot_2xn`] on patches read in place (see [`super::dot_2xn_strided`]):
/// `s.rows` runs of `s.run` bytes, `s.stride` apart, from `x0` and `x1`; no
/// rows (0) when either is too short.
pub fn dot_2xn_strided(
    x0: &[i8],
    x1: &[i8],
    s: &super::Strided,
    w: &[i8],
    acc: &mut [[i32; super::ACC_ROW]; 2],
) -> usize {
    if !s.fits(x0, x1) {
        return 0;
    }
    let k = s.rows * s.run;
    let m = super::rows_2xn(k, w.len());
    for (j, wj) in w.chunks_exact(k.max(1)).take(m).enumerate() {
        let (mut s0, mut s1) = (0i32, 0i32);
        for (r, wr) in wj.chunks_exact(s.run.max(1)).take(s.rows).enumerate() {
            let at = r * s.stride;
            s0 = s0.wrapping_add(dot(&x0[at..at + s.run], wr));
            s1 = s1.wrapping_add(dot(&x1[at..at + s.run], wr));
        }
        acc[0][j] = s0;
        acc[1][j] = s1;
    }
    m
}

/// `out[i] = clamp(z + MBQM(acc[i] + bias[i], mult[i], shift[i]), act)` over
/// the shortest length: the requantization of one output pixel's channels
/// ([`crate::arith::requantize`]).
#[inline]
pub fn requantize_row(acc: &[i32], q: &RowQuant, out: &mut [i8]) {
    let consts = q.bias.iter().zip(q.mult).zip(q.shift);
    for ((o, &a), ((&b, &m), &s)) in out.iter_mut().zip(acc).zip(consts) {
        *o = crate::arith::requantize(a.wrapping_add(b), m, s, q.zero_point, q.act[0], q.act[1]);
    }
}

/// [`super::requantize_pair`]: [`requantize_row`] on each pixel's row.
pub fn requantize_pair(
    acc: &[[i32; super::ACC_ROW]; 2],
    n: usize,
    q: &RowQuant,
    out: [&mut [i8]; 2],
) {
    let n = n.min(super::ACC_ROW);
    for (a, o) in acc.iter().zip(out) {
        requantize_row(&a[..n], q, o);
    }
}

/// [`super::requantize_triple`]: [`requantize_row`] on each pixel's row.
pub fn requantize_triple(acc: &super::Acc3, n: usize, q: &RowQuant, out: [&mut [i8]; 3]) {
    let n = n.min(super::ACC_ROW);
    for (a, o) in acc.iter().zip(out) {
        requantize_row(&a[..n], q, o);
    }
}

/// [`super::depthwise_requant`]: [`depthwise_pixel`], then
/// [`requantize_row`].
pub fn depthwise_requant(
    acc: &mut [i32],
    x: &[i8],
    w: &[i8],
    t: &super::DwTaps,
    q: &RowQuant,
    out: &mut [i8],
) -> bool {
    let ok = depthwise_pixel(acc, x, w, t);
    if ok {
        requantize_row(acc, q, out);
    }
    ok
}

/// [`super::add_row`]: per element, the two table entries summed (wrapping)
/// and requantized ([`crate::arith::requantize`]), over the shortest length.
pub fn add_row(a: &[i8], b: &[i8], q: &super::AddRow, out: &mut [i8]) {
    let (ta, tb) = q.tables.split_at(256);
    for ((o, &u), &v) in out.iter_mut().zip(a).zip(b) {
        let sum = ta[super::code_index(u)].wrapping_add(tb[super::code_index(v)]);
        *o = crate::arith::requantize(sum, q.mult, q.shift, q.zero_point, q.act[0], q.act[1]);
    }
}

/// `dst[i] = src[i]` over the shorter length (im2col runs, padding rows).
#[inline]
pub fn copy(dst: &mut [i8], src: &[i8]) {
    let n = dst.len().min(src.len());
    dst[..n].copy_from_slice(&src[..n]);
}

/// [`super::copy_rows`]: run by run; `false`, nothing written, when either
/// slice is too short.
pub fn copy_rows(dst: &mut [i8], src: &[i8], s: &super::Strided) -> bool {
    let fits = s.span().is_some_and(|n| src.len() >= n)
        && s.rows.checked_mul(s.run).is_some_and(|n| dst.len() >= n);
    if fits {
        for ky in 0..s.rows {
            let at = ky * s.stride;
            dst[ky * s.run..(ky + 1) * s.run].copy_from_slice(&src[at..at + s.run]);
        }
    }
    fits
}

/// [`super::depthwise_pixel`]: tap by tap, each a [`mac_row`] over the channels.
pub fn depthwise_pixel(acc: &mut [i32], x: &[i8], w: &[i8], t: &super::DwTaps) -> bool {
    let n = acc.len();
    if !t.fits(n, x, w) {
        return false;
    }
    let [kh, kw] = t.k;
    acc.fill(0);
    for ky in 0..kh {
        for kx in 0..kw {
            let (xo, wo) = (ky * t.row + kx * t.c, (ky * kw + kx) * t.c);
            mac_row(acc, &x[xo..xo + n], &w[wo..wo + n]);
        }
    }
    true
}

/// `acc[i] += x[i]·w[i]` (wrapping) over the shortest length: one tap of a
/// depthwise conv across a run of channels.
#[inline]
pub fn mac_row(acc: &mut [i32], x: &[i8], w: &[i8]) {
    for ((a, &u), &v) in acc.iter_mut().zip(x).zip(w) {
        *a = a.wrapping_add(u as i32 * v as i32);
    }
}

/// [`super::lut`]: `y[i] = table[x[i] + 128]` over the shorter length. Not
/// inlined: inside the engine's op loop, LLVM compiled this loop to one
/// more instruction per byte or not depending on unrelated changes
/// elsewhere in that function (measured).
#[inline(never)]
pub fn lut(x: &[i8], y: &mut [i8], table: &[i8; 256]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = table[super::code_index(v)];
    }
}

/// [`super::lut_in_place`]: `x[i] = table[x[i] + 128]`. Not inlined, as
/// [`lut`].
#[inline(never)]
pub fn lut_in_place(x: &mut [i8], table: &[i8; 256]) {
    for v in x {
        *v = table[super::code_index(*v)];
    }
}
