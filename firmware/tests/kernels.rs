//! Every SIMD dot-product kernel this build has is bit-exact with the scalar
//! reference on random lengths (aligned or not, with tails) and values,
//! extremes included, for [`dot`] and the 2×2 block [`dot_2x2`] (and the
//! channel loop, requantization and Add rows). On x86 the build's kernel *is* scalar; CI runs this file
//! on aarch64 under qemu-aarch64 (NEON, and SDOT with `+dotprod`), and the QEMU
//! board self-test does the same for the Cortex-M DSP and Helium kernels.

use nyquist_firmware::arith::requantize;
use nyquist_firmware::kernels::{
    add_row, copy, copy_rows_lane, copy_rows_triple, depthwise_pixel, dot, dot_2x2, dot_2xn,
    dot_2xn_strided, dot_3xn, lut, lut_in_place, mac_row, requantize_row, requantize_triple,
    scalar, AddRow, DwTaps, RowQuant, Strided, ACC_ROW, KERNEL,
};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn build_kernel_equals_scalar(v in proptest::collection::vec((any::<i8>(), any::<i8>()), 0..400), offset in 0usize..16) {
        let (x, w): (Vec<i8>, Vec<i8>) = v.into_iter().unzip();
        let (x, w) = (&x[offset.min(x.len())..], &w[offset.min(w.len())..]);
        prop_assert_eq!(dot(x, w), scalar::dot(x, w), "kernel {}", KERNEL);
    }

    #[test]
    fn build_block_equals_scalar(
        v in proptest::collection::vec(any::<[i8; 4]>(), 0..400),
        offsets in any::<[u8; 4]>(),
    ) {
        let rows: Vec<Vec<i8>> = (0..4).map(|r| v.iter().map(|e| e[r]).collect()).collect();
        let s: Vec<&[i8]> = rows.iter().zip(offsets).map(|(r, o)| &r[(o as usize % 16).min(r.len())..]).collect();
        prop_assert_eq!(dot_2x2(s[0], s[1], s[2], s[3]), scalar::dot_2x2(s[0], s[1], s[2], s[3]), "kernel {}", KERNEL);
    }

    /// The conv's channel loop: patch lengths with and without a 16-byte
    /// multiple (Helium's asm path and its fallback), odd and even row counts,
    /// more weight rows than one call takes, unequal patch lengths.
    #[test]
    fn build_channel_loop_equals_scalar(
        k16 in 0usize..12, odd in 0usize..16, rows in 0usize..70,
        x_extra in 0usize..3, seed in any::<u64>(),
    ) {
        let k = 16 * k16 + if seed % 2 == 0 { 0 } else { odd };
        let mut s = seed | 1;
        let mut next = || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; s as i8 };
        let x0: Vec<i8> = (0..k + x_extra).map(|_| next()).collect();
        let x1: Vec<i8> = (0..k).map(|_| next()).collect();
        let w: Vec<i8> = (0..rows * k + odd).map(|_| next()).collect();
        let (mut got, mut want) = ([[7i32; ACC_ROW]; 2], [[7i32; ACC_ROW]; 2]);
        let m = dot_2xn(&x0, &x1, &w, &mut got);
        prop_assert_eq!(m, scalar::dot_2xn(&x0, &x1, &w, &mut want));
        // w holds `rows` whole rows plus `odd` bytes.
        let whole = match k { 0 => 0, k => rows + odd / k };
        prop_assert_eq!(m, whole.min(ACC_ROW));
        prop_assert_eq!(got, want, "kernel {}", KERNEL);
    }

    /// One depthwise pixel: channel blocks across the 16-wide Helium path and
    /// its tail, channel strides above the block, padded rows, any kernel.
    #[test]
    fn build_depthwise_pixel_equals_scalar(
        n in 0usize..40, extra_c in 0usize..9, kh in 1usize..6, kw in 1usize..6,
        pad in 0usize..9, seed in any::<u64>(),
    ) {
        let c = n + extra_c;
        let t = DwTaps { k: [kh, kw], row: kw * c + pad, c };
        let (nx, nw) = t.spans(n).unwrap();
        let mut s = seed | 1;
        let mut next = || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; s as i8 };
        let x: Vec<i8> = (0..nx).map(|_| next()).collect();
        let w: Vec<i8> = (0..nw).map(|_| next()).collect();
        let (mut got, mut want) = (vec![5i32; n], vec![5i32; n]);
        prop_assert!(depthwise_pixel(&mut got, &x, &w, &t));
        prop_assert!(scalar::depthwise_pixel(&mut want, &x, &w, &t));
        prop_assert_eq!(&got, &want, "kernel {}", KERNEL);
        // One byte short of either span: refused, nothing written.
        let mut untouched = vec![5i32; n];
        if n > 0 {
            prop_assert!(!depthwise_pixel(&mut untouched, &x[..nx - 1], &w, &t));
            prop_assert!(!depthwise_pixel(&mut untouched, &x, &w[..nw - 1], &t));
            prop_assert_eq!(untouched, vec![5i32; n]);
        }
    }

    #[test]
    fn build_copy_and_mac_row_equal_scalar(v in proptest::collection::vec(any::<[i8; 2]>(), 0..300), acc0 in any::<i32>()) {
        let (x, w): (Vec<i8>, Vec<i8>) = v.iter().map(|e| (e[0], e[1])).unzip();
        let (mut a, mut b) = (vec![0i8; x.len()], vec![0i8; x.len()]);
        copy(&mut a, &x);
        scalar::copy(&mut b, &x);
        prop_assert_eq!(&a, &x);
        prop_assert_eq!(a, b);
        let (mut p, mut q) = (vec![acc0; x.len()], vec![acc0; x.len()]);
        mac_row(&mut p, &x, &w);
        scalar::mac_row(&mut q, &x, &w);
        prop_assert_eq!(p, q, "kernel {}", KERNEL);
    }

    /// Over the domain blobs are validated to (shifts in [−31, 30], multipliers
    /// ≥ 0, lo ≤ hi), with accumulators anywhere in i32.
    #[test]
    fn build_requantize_row_equals_scalar(
        rows in proptest::collection::vec((any::<i32>(), -(1i32 << 20)..(1 << 20), 0..i32::MAX, -31i32..=30, any::<bool>()), 0..70),
        zp in -128i32..128,
        act in any::<[i8; 2]>(),
    ) {
        let act = [act[0].min(act[1]), act[0].max(act[1])];
        // Half the rows scaled so the result lands inside the int8 range, where
        // rounding and ties show (unscaled ones mostly saturate).
        let acc: Vec<i32> = rows.iter().map(|r| if r.4 { r.0 >> (24 + r.3).clamp(0, 31) } else { r.0 }).collect();
        let bias: Vec<i32> = rows.iter().map(|r| r.1).collect();
        let mult: Vec<i32> = rows.iter().map(|r| r.2).collect();
        let shift: Vec<i32> = rows.iter().map(|r| r.3).collect();
        let (mut got, mut want) = (vec![0i8; rows.len()], vec![0i8; rows.len()]);
        let q = RowQuant::new(&bias, &mult, &shift, zp, act);
        requantize_row(&acc, &q, &mut got);
        scalar::requantize_row(&acc, &q, &mut want);
        prop_assert_eq!(&got, &want, "kernel {}", KERNEL);
        // A pixel triple's rows (this row, reversed, rotated) through the
        // same constants equal three rows requantized one by one.
        let n = rows.len().min(ACC_ROW);
        let mut tri = [[0i32; ACC_ROW]; 3];
        tri[0][..n].copy_from_slice(&acc[..n]);
        for (d, &a) in tri[1][..n].iter_mut().zip(acc[..n].iter().rev()) {
            *d = a;
        }
        tri[2][..n].copy_from_slice(&acc[..n]);
        tri[2][..n].rotate_left(n / 3);
        let mut out = [[0i8; ACC_ROW]; 3];
        let [o0, o1, o2] = &mut out;
        requantize_triple(&tri, n, &q, [&mut o0[..n], &mut o1[..n], &mut o2[..n]]);
        for (t, o) in tri.iter().zip(&out) {
            let mut one = vec![0i8; n];
            scalar::requantize_row(&t[..n], &q, &mut one);
            prop_assert_eq!(&o[..n], &one[..]);
        }
    }

    /// Patches read in place equal the gathered patch through the scalar
    /// channel loop (the reference's reference), and the build's kernel
    /// equals the scalar one; too-short inputs give no rows.
    #[test]
    fn dot_2xn_strided_equals_the_gathered_patch(
        rows in 0usize..4,
        run in 0usize..40,
        gap in 0usize..9,
        m in 1usize..12,
        seed in any::<u64>(),
        short in any::<bool>(),
    ) {
        let st = Strided { rows, run, stride: run + gap };
        let mut s = seed;
        let mut next = || { s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); (s >> 56) as i8 };
        let span = st.span().unwrap();
        let x0: Vec<i8> = (0..span + 5).map(|_| next()).collect();
        let x1: Vec<i8> = (0..span + 3).map(|_| next()).collect();
        let w: Vec<i8> = (0..m * rows * run).map(|_| next()).collect();
        let x1 = if short && span > 0 { &x1[..span - 1] } else { &x1[..] };
        let (mut got, mut scal) = ([[9i32; ACC_ROW]; 2], [[9i32; ACC_ROW]; 2]);
        let n = dot_2xn_strided(&x0, x1, &st, &w, &mut got);
        let ns = scalar::dot_2xn_strided(&x0, x1, &st, &w, &mut scal);
        prop_assert_eq!(n, ns);
        prop_assert_eq!(got, scal, "kernel {}", KERNEL);
        if short && span > 0 {
            prop_assert_eq!(n, 0);
        } else {
            let gather = |x: &[i8]| -> Vec<i8> {
                (0..rows).flat_map(|r| x[r * st.stride..r * st.stride + run].to_vec()).collect()
            };
            let mut want = [[9i32; ACC_ROW]; 2];
            let nw = scalar::dot_2xn(&gather(&x0), &gather(x1), &w, &mut want);
            prop_assert_eq!(n, nw);
            prop_assert_eq!(&got[0][..n], &want[0][..n]);
            prop_assert_eq!(&got[1][..n], &want[1][..n]);
        }
    }

    /// Pixel triples: patches copied into their lanes (one by one, and all
    /// three at once) land where the layout says — chunk `c` of pixel `i`
    /// at byte `48·c + 16·i` — and the triple channel loop over them equals
    /// three plain dot products per row; patches off whole chunks, short
    /// sources and short buffers are refused, nothing written.
    #[test]
    fn pixel_triples_equal_three_plain_patches(
        rows in 0usize..4,
        chunks in 0usize..5,
        odd in 0usize..16,
        gap in 0usize..40,
        m in 1usize..70,
        seed in any::<u64>(),
        short in 0usize..3,
    ) {
        let run = 16 * chunks + if odd % 4 == 0 { odd } else { 0 };
        let st = Strided { rows, run, stride: run + gap };
        let mut s = seed;
        let mut next = || { s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); (s >> 56) as i8 };
        let span = st.span().unwrap();
        let srcs: Vec<Vec<i8>> = (0..3).map(|_| (0..span + 7).map(|_| next()).collect()).collect();
        let k = rows * run;
        let len = 3 * k - usize::from(short == 1 && k > 0);
        let src0 = if short == 2 && span > 0 { &srcs[0][..span - 1] } else { &srcs[0][..] };
        let fits = run % 16 == 0 && len == 3 * k && src0.len() >= span;
        // The plain patches, gathered by hand.
        let plain: Vec<Vec<i8>> = srcs.iter()
            .map(|x| (0..rows).flat_map(|r| x[r * st.stride..r * st.stride + run].to_vec()).collect())
            .collect();
        let mut want = vec![5i8; len];
        if fits {
            for (i, p) in plain.iter().enumerate() {
                for (c, chunk) in p.chunks(16).enumerate() {
                    want[48 * c + 16 * i..48 * c + 16 * i + 16].copy_from_slice(chunk);
                }
            }
        }
        let mut lanes = vec![5i8; len];
        let mut lanes_scalar = vec![5i8; len];
        let mut ok_all = true;
        for (lane, full) in srcs.iter().enumerate() {
            let src = if lane == 0 { src0 } else { &full[..] };
            let ok = copy_rows_lane(&mut lanes, lane, src, &st);
            prop_assert_eq!(ok, scalar::copy_rows_lane(&mut lanes_scalar, lane, src, &st));
            ok_all &= ok;
        }
        prop_assert_eq!(&lanes, &lanes_scalar);
        let mut three = vec![5i8; len];
        let ok3 = copy_rows_triple(&mut three, [src0, &srcs[1], &srcs[2]], &st);
        prop_assert_eq!(ok3, fits);
        if fits {
            prop_assert!(ok_all);
            prop_assert_eq!(&lanes, &want);
            prop_assert_eq!(&three, &want);
        } else {
            prop_assert_eq!(&three, &vec![5i8; len]);
        }
        // The channel loop over the interleaved patches.
        let w: Vec<i8> = (0..m * k).map(|_| next()).collect();
        let (mut got, mut scal) = ([[9i32; ACC_ROW]; 3], [[9i32; ACC_ROW]; 3]);
        let n = dot_3xn(&want, k, &w, &mut got);
        prop_assert_eq!(n, scalar::dot_3xn(&want, k, &w, &mut scal));
        prop_assert_eq!(got, scal, "kernel {}", KERNEL);
        let takes = k >= 16 && k % 16 == 0 && len >= 3 * k;
        prop_assert_eq!(n, if takes { m.min(ACC_ROW) } else { 0 });
        if takes && fits {
            for (j, wj) in w.chunks(k).take(n).enumerate() {
                for i in 0..3 {
                    prop_assert_eq!(got[i][j], scalar::dot(&plain[i], wj));
                }
            }
        }
    }

    /// The tabulated Add row: random tables (wrapping sums included), every
    /// shift, lengths across the chunk size, unequal input lengths.
    #[test]
    fn build_add_row_equals_scalar(
        table in proptest::collection::vec(any::<i32>(), 512),
        codes in proptest::collection::vec(any::<(i8, i8)>(), 0..100),
        b_short in 0usize..3,
        mult in (1i32 << 30)..i32::MAX,
        shift in -31i32..=30,
        zp in -128i32..128,
        act in any::<[i8; 2]>(),
        scale in 0u32..31,
    ) {
        let act = [act[0].min(act[1]), act[0].max(act[1])];
        let mut tables = [0i32; 512];
        for (t, v) in tables.iter_mut().zip(&table) {
            *t = v >> scale;
        }
        let (a, b): (Vec<i8>, Vec<i8>) = codes.into_iter().unzip();
        let b = &b[..b.len().saturating_sub(b_short)];
        let q = AddRow { tables: &tables, mult, shift, zero_point: zp, act };
        let (mut got, mut want) = (vec![7i8; a.len()], vec![7i8; a.len()]);
        add_row(&a, b, &q, &mut got);
        scalar::add_row(&a, b, &q, &mut want);
        prop_assert_eq!(got, want, "kernel {}", KERNEL);
    }
}

#[test]
fn extremes() {
    for len in [0, 1, 3, 4, 15, 16, 17, 31, 32, 33, 255, 1024, 4097] {
        for (a, b) in [(-128i8, -128i8), (127, -128), (-128, 127), (127, 127)] {
            let (x, w) = (vec![a; len], vec![b; len]);
            assert_eq!(
                dot(&x, &w),
                a as i32 * b as i32 * len as i32,
                "len {len} ({a}, {b}) with {KERNEL}"
            );
            let want = a as i32 * b as i32 * len as i32;
            let aa = a as i32 * a as i32 * len as i32;
            let bb = b as i32 * b as i32 * len as i32;
            assert_eq!(
                dot_2x2(&x, &w, &x, &w),
                [aa, want, want, bb],
                "len {len} with {KERNEL}"
            );
        }
    }
}

/// Hand-computed: x0 = 1s, x1 = −2s, row j all `j − 20`, so `acc[0][j] =
/// k·(j − 20)` and `acc[1][j] = −2k·(j − 20)`; 67 rows offered, 64 taken.
#[test]
fn channel_loop_hand_computed() {
    for k in [9usize, 16, 144] {
        let (x0, x1) = (vec![1i8; k], vec![-2i8; k]);
        let w: Vec<i8> = (0..67).flat_map(|j| vec![j as i8 - 20; k]).collect();
        for build in [dot_2xn, scalar::dot_2xn] {
            let mut acc = [[0i32; ACC_ROW]; 2];
            assert_eq!(build(&x0, &x1, &w, &mut acc), ACC_ROW);
            for (j, (&a0, &a1)) in acc[0].iter().zip(&acc[1]).enumerate() {
                let e = k as i32 * (j as i32 - 20);
                assert_eq!([a0, a1], [e, -2 * e], "k {k} row {j} with {KERNEL}");
            }
        }
    }
}

/// Hand-computed depthwise pixel: a 3×3 binomial blur (1 2 1 / 2 4 2 / 1 2 1)
/// over 20 channels of a 4-pixel-wide image whose channel i holds the value
/// i − 10 at every pixel: each sum is 16·(i − 10).
#[test]
fn depthwise_pixel_hand_computed() {
    let (c, width) = (20usize, 4usize);
    let x: Vec<i8> = (0..3 * width)
        .flat_map(|_| (0..c).map(|i| i as i8 - 10))
        .collect();
    let w: Vec<i8> = [1i8, 2, 1, 2, 4, 2, 1, 2, 1]
        .iter()
        .flat_map(|&k| vec![k; c])
        .collect();
    let t = DwTaps {
        k: [3, 3],
        row: width * c,
        c,
    };
    for build in [depthwise_pixel, scalar::depthwise_pixel] {
        let mut acc = [0i32; 20];
        assert!(build(&mut acc, &x, &w, &t));
        let want: Vec<i32> = (0..c as i32).map(|i| 16 * (i - 10)).collect();
        assert_eq!(acc.to_vec(), want, "with {KERNEL}");
    }
}

/// Rounding ties, both signs, every shift: the cases where a rounding-shift
/// instruction and gemmlowp's ties-away-from-zero differ without the nudge.
#[test]
fn requantize_row_ties() {
    let mut acc = Vec::new();
    let mut shift = Vec::new();
    for s in -31..=30 {
        for a in [
            1i32,
            -1,
            3,
            -3,
            5,
            -5,
            1 << 20,
            -(1 << 20),
            (1 << 20) + (1 << 19),
            -(1 << 20) - (1 << 19),
            i32::MAX,
            i32::MIN,
        ] {
            acc.push(a);
            shift.push(s);
        }
    }
    let n = acc.len();
    let (bias, mult) = (vec![0; n], vec![1 << 30; n]);
    let mut got = vec![0i8; n];
    let q = RowQuant::new(&bias, &mult, &shift, 3, [-128, 127]);
    requantize_row(&acc, &q, &mut got);
    for i in 0..n {
        assert_eq!(
            got[i],
            requantize(acc[i], mult[i], shift[i], 3, -128, 127),
            "acc {} shift {} with {KERNEL}",
            acc[i],
            shift[i]
        );
    }
    let one = RowQuant::new(&[0], &[1 << 30], &[-1], 0, [-128, 127]);
    // Hand-computed: 5 · 2^30 / 2^31 = 2.5 → 3 (SRDHM ties up), then / 2^1 → 1.5 → 2.
    requantize_row(&[5], &one, &mut got[..1]);
    assert_eq!(got[0], 2);
    // −5 · 2^30 / 2^31 = −2.5 → −2, then / 2 = −1 exactly.
    requantize_row(&[-5], &one, &mut got[..1]);
    assert_eq!(got[0], -1);
    // −6 · 2^30 / 2^31 = −3, / 2 = −1.5 → −2 (ties away from zero).
    requantize_row(&[-6], &one, &mut got[..1]);
    assert_eq!(got[0], -2);
}

/// What `RowQuant::new` finds, and that a slice keeps it: the DSP build's
/// shorter requantization path is taken only on rows it vouches for.
#[test]
fn row_quant_right_only() {
    let (bias, mult) = ([0; 4], [1 << 30, 0, i32::MAX, 1 << 30]);
    let right = [-1, -31, -7, -2];
    assert!(RowQuant::new(&bias, &mult, &right, 0, [-128, 127]).right_only());
    assert!(RowQuant::new(&bias, &mult, &right, 5, [5, 127]).right_only());
    // An upper clamp below 127 (a fused ReLU6), a shift ≥ 0, a negative
    // multiplier: the general path.
    assert!(!RowQuant::new(&bias, &mult, &right, 0, [0, 100]).right_only());
    let left = [-1, 0, -7, -2];
    assert!(!RowQuant::new(&bias, &mult, &left, 0, [-128, 127]).right_only());
    let negative = [1 << 30, -1, 1, 1];
    assert!(!RowQuant::new(&bias, &negative, &right, 0, [-128, 127]).right_only());
    // A slice keeps the finding (conservatively for the left-shift row:
    // entries 2..4 alone would qualify, the layer's scan did not).
    let q = RowQuant::new(&bias, &mult, &left, 0, [-128, 127]);
    assert!(!q.rows(2..4).unwrap().right_only());
    let q = RowQuant::new(&bias, &mult, &right, 0, [-128, 127]);
    assert!(q.rows(1..3).unwrap().right_only());
    assert!(q.rows(3..5).is_none());
    let mut out = [0i8; 2];
    requantize_row(&[1 << 20, -(1 << 20)], &q.rows(2..4).unwrap(), &mut out);
    assert_eq!(
        out.to_vec(),
        [(1 << 20, i32::MAX, -7), (-(1 << 20), 1 << 30, -2)]
            .map(|(a, m, s)| requantize(a, m, s, 0, -128, 127))
            .to_vec()
    );
}

/// Table lookups against the table read by hand: every code, into another
/// buffer and in place, unequal lengths.
#[test]
fn lut_reads_code_plus_128() {
    let table: [i8; 256] = core::array::from_fn(|i| (i as i8).wrapping_mul(-3));
    let x: Vec<i8> = (-128i16..128).map(|v| v as i8).rev().collect();
    let mut y = vec![5i8; 300];
    lut(&x, &mut y, &table);
    for (i, &v) in x.iter().enumerate() {
        assert_eq!(
            y[i],
            table[(v as i16 + 128) as usize],
            "code {v} with {KERNEL}"
        );
    }
    assert!(
        y[256..].iter().all(|&v| v == 5),
        "past the input: untouched"
    );
    let mut z = x.clone();
    lut_in_place(&mut z, &table);
    assert_eq!(z, y[..256]);
}
