//! The demo every board runs: load the embedded `.nqm` model (validated), check
//! the SIMD kernel against the scalar one, classify the embedded test images,
//! compare with the predictions of the host engine, and log per-layer counts,
//! flash and RAM use with defmt. Boards supply a [`Platform`]: a counter
//! (cycles on hardware, instruction-calibrated SysTick under QEMU) and an exit.
#![no_std]

#[cfg(feature = "qemu")]
pub mod qemu;

use nyquist_firmware::kernels::{
    add_row, copy, copy_rows, copy_rows_lane, copy_rows_triple, depthwise_pixel, depthwise_requant,
    dot, dot_2x2, dot_2xn, dot_2xn_strided, dot_3xn, lut, lut_in_place, mac_row, requantize_pair,
    requantize_row, requantize_triple, scalar, AddRow, DwTaps, RowQuant, Strided, ACC_ROW, KERNEL,
};
use nyquist_firmware::{Event, Model, Run};

macro_rules! data {
    ($file:literal) => {
        include_bytes!(concat!(env!("NYQUIST_FW_DATA"), "/", $file))
    };
}

const MODEL_BYTES: &[u8] = data!("model.nqm");
/// Arena bytes the embedded model needs (read from its header at compile time).
pub const ARENA: usize = match nyquist_firmware::nqm::arena_size(MODEL_BYTES) {
    Some(n) => n,
    None => panic!("model.nqm is not an .nqm blob"),
};
/// The model blob, in its own section so boards can place it (QEMU AN547: BRAM).
#[link_section = ".model"]
pub static MODEL: [u8; MODEL_BYTES.len()] = *data!("model.nqm");
/// Test inputs, back to back (`input_len` each).
pub static INPUTS: &[u8] = data!("inputs.bin");
/// Their labels.
pub static LABELS: &[u8] = data!("labels.bin");
/// What the host build of the engine predicts for them.
pub static EXPECTED: &[u8] = data!("expected.bin");

/// Largest number of ops the per-layer table holds.
pub const MAX_OPS: usize = 128;

/// What a board provides.
pub trait Platform {
    /// A free-running counter (wrapping u32).
    fn now(&mut self) -> u32;
    /// Counter units per instruction ×1000 (1000 when the counter counts
    /// instructions or cycles directly); used to report instructions.
    fn milli_units_per_instruction(&mut self) -> u32 {
        1000
    }
    /// What the counter counts.
    fn unit(&self) -> &'static str;
    /// Mark a point of the run for an instruction-counting emulator: the
    /// demo marks the start and end of every inference, and `cargo xtask fw
    /// bench` costs the instructions between by class (the cycle estimate).
    /// Nothing by default (silicon has DWT cycles instead).
    fn mark(&mut self) {}
    /// End the program with a status (0 = success).
    fn exit(&mut self, code: i32) -> !;
}

extern "C" {
    static mut _stack_end: u8;
    static _stack_start: u8;
}

const PAINT: u8 = 0xAA;

/// Fill the unused part of the stack with a pattern, to measure the high-water
/// mark after the run ([`stack_high_water`]). Call it first thing in `main`.
pub fn paint_stack() {
    let sp = cortex_m::register::msp::read() as usize;
    // SAFETY: `_stack_end` (cortex-m-rt) is the lowest stack address; we write
    // only between it and 64 bytes below the current stack pointer, memory no
    // live frame uses, with volatile byte stores.
    unsafe {
        let lo = core::ptr::addr_of_mut!(_stack_end);
        let n = sp.saturating_sub(64).saturating_sub(lo as usize);
        for i in 0..n {
            core::ptr::write_volatile(lo.add(i), PAINT);
        }
    }
}

/// Bytes of stack used since [`paint_stack`]: from the top down to the lowest
/// byte that no longer holds the pattern.
pub fn stack_high_water() -> usize {
    // SAFETY: reads (volatile) between the two cortex-m-rt stack symbols only.
    unsafe {
        let lo = core::ptr::addr_of!(_stack_end);
        let hi = core::ptr::addr_of!(_stack_start);
        let mut p = lo;
        while p < hi && core::ptr::read_volatile(p) == PAINT {
            p = p.add(1);
        }
        hi as usize - p as usize
    }
}

/// A small LCG for the kernel self-test.
fn lcg(s: &mut u32) -> i8 {
    *s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
    (*s >> 24) as i8
}

/// The pixel-triple kernels against the scalar reference: [`dot_3xn`] on 9
/// shapes (odd and even row counts, more rows than one call takes, one
/// chunk, weights ending the slice or with slack; patches not whole chunks
/// and a short buffer refused), [`copy_rows_lane`] in each lane and
/// [`copy_rows_triple`] on 6 (two refused). `w`: 1,200 random bytes.
#[inline(never)] // its buffers must not sit in `selftest`'s frame
fn selftest_triples(w: &[i8; 1200]) -> u32 {
    let mut bad = 0;
    for (k, rows, slack, x_len) in [
        (16, 70, 0, 48),
        (16, 7, 2, 48),
        (32, 3, 0, 96),
        (48, 5, 2, 144),
        (144, 8, 0, 432),
        (144, 1, 2, 432),
        (288, 3, 0, 864),
        (27, 4, 0, 81),
        (144, 2, 0, 431),
    ] {
        let x = &w[300..300 + x_len];
        let ws = &w[..(rows * k + slack).min(1200)];
        let (mut got, mut want) = ([[1i32; ACC_ROW]; 3], [[1i32; ACC_ROW]; 3]);
        let m = dot_3xn(x, k, ws, &mut got);
        bad += u32::from(m != scalar::dot_3xn(x, k, ws, &mut want));
        let refused = k % 16 != 0 || x_len < 3 * k;
        bad += u32::from((m == 0) != refused || got != want);
    }
    for (rows, run, stride, short) in [
        (3, 48, 80, 0),
        (3, 96, 96, 0),
        (2, 192, 200, 0),
        (1, 64, 64, 0),
        (3, 40, 80, 0),
        (3, 48, 80, 1),
    ] {
        let st = Strided { rows, run, stride };
        let span = (rows - 1) * stride + run;
        let len = 3 * rows * run - short;
        let fits = run % 16 == 0 && short == 0;
        let (mut got, mut want) = ([7i8; 1152], [7i8; 1152]);
        for lane in 0..3 {
            let src = &w[lane * 100..lane * 100 + span];
            let ok = copy_rows_lane(&mut got[..len], lane, src, &st);
            bad += u32::from(ok != scalar::copy_rows_lane(&mut want[..len], lane, src, &st));
            bad += u32::from(ok != fits || got != want);
        }
        let src = [0, 1, 2].map(|i| &w[i * 150..i * 150 + span]);
        let (mut got3, mut want3) = ([9i8; 1152], [9i8; 1152]);
        let ok = copy_rows_triple(&mut got3[..len], src, &st);
        bad += u32::from(ok != scalar::copy_rows_triple(&mut want3[..len], src, &st));
        bad += u32::from(ok != fits || got3 != want3);
    }
    bad
}

/// The SIMD kernels of this build against the scalar reference: [`dot`],
/// [`dot_2x2`], [`copy`], [`mac_row`], [`lut`] and [`lut_in_place`] on every
/// length 0..300 at shifting
/// offsets, [`dot_2xn`] on 16 shapes, [`dot_2xn_strided`] on 6, the
/// pixel-triple kernels ([`selftest_triples`]),
/// [`copy_rows`] on 8 (two of them refused),
/// [`depthwise_pixel`] on 7, [`depthwise_requant`] on 6, [`requantize_row`], [`requantize_pair`] and [`requantize_triple`]
/// on random accumulators with every shift the blob format allows (half the
/// rows right shifts only, the kernels' shorter path), [`add_row`]
/// on random tables (extremes included) with every shift and on right-shift
/// outputs landing in range (ties of both signs). Returns the number
/// of mismatching cases.
#[inline(never)] // its buffers must not sit in `run`'s frame (stack measurement)
pub fn selftest() -> u32 {
    let mut seed = 12345u32;
    let mut rows = [[0i8; 300]; 4];
    let mut bad = 0;
    for len in 0..300usize {
        for r in rows.iter_mut() {
            for v in r[..len].iter_mut() {
                *v = lcg(&mut seed);
            }
        }
        let off = len % 7;
        // Different offsets: unequal lengths too (kernels use the shortest).
        let s: [&[i8]; 4] = [0, 1, 2, 3].map(|i| &rows[i][((off + i) % 7).min(len)..len]);
        bad += u32::from(dot(s[0], s[1]) != scalar::dot(s[0], s[1]));
        bad +=
            u32::from(dot_2x2(s[0], s[1], s[2], s[3]) != scalar::dot_2x2(s[0], s[1], s[2], s[3]));
        let (mut c1, mut c2) = ([0i8; 300], [0i8; 300]);
        copy(&mut c1[..s[2].len()], s[2]);
        scalar::copy(&mut c2[..s[2].len()], s[2]);
        bad += u32::from(c1 != c2);
        let (mut m1, mut m2) = ([0i32; 300], [0i32; 300]);
        for (i, (a, b)) in m1.iter_mut().zip(m2.iter_mut()).enumerate() {
            (*a, *b) = (i as i32 * 977 - 140_000, i as i32 * 977 - 140_000);
        }
        mac_row(&mut m1[..len], s[0], s[1]);
        scalar::mac_row(&mut m2[..len], s[0], s[1]);
        bad += u32::from(m1 != m2);
        // Table lookups, into another buffer and in place.
        let mut table = [0i8; 256];
        for (i, t) in table.iter_mut().enumerate() {
            *t = (i as i8).wrapping_mul(37).wrapping_add(len as i8);
        }
        let (mut l1, mut l2) = ([0i8; 300], [0i8; 300]);
        lut(s[3], &mut l1[..s[3].len()], &table);
        scalar::lut(s[3], &mut l2[..s[3].len()], &table);
        bad += u32::from(l1 != l2);
        let (mut i1, mut i2) = (l1, l1);
        lut_in_place(&mut i1[..len], &table);
        scalar::lut_in_place(&mut i2[..len], &table);
        bad += u32::from(i1 != i2);
    }
    // The conv's channel loop: Helium's asm path (k a multiple of 16) and its
    // fallback, odd and even row counts, and more rows than one call takes;
    // on DSP, patches not a multiple of 4 long (the padded last step, the
    // rows that cannot pad, k < 4, a partial last chunk), each with weight
    // rows ending the slice and with two bytes of slack after them.
    let mut w = [0i8; 1200];
    for v in w.iter_mut() {
        *v = lcg(&mut seed);
    }
    let shapes = [
        (16, 70),
        (16, 7),
        (48, 3),
        (144, 8),
        (144, 1),
        (9, 5),
        (20, 4),
        (27, 5),
        (27, 16),
        (3, 9),
        (1, 6),
        (2, 7),
        (258, 4),
        (260, 4),
        (300, 3),
        (0, 3),
    ];
    for (k, rows) in shapes {
        for slack in [0, 2] {
            let (x0, x1) = (&w[600..600 + k], &w[900..900 + k]);
            let ws = &w[..(rows * k + slack).min(1200)];
            let (mut got, mut want) = ([[1i32; ACC_ROW]; 2], [[1i32; ACC_ROW]; 2]);
            let m = dot_2xn(x0, x1, ws, &mut got);
            bad += u32::from(m != scalar::dot_2xn(x0, x1, ws, &mut want));
            bad += u32::from(got != want);
        }
    }
    bad += selftest_triples(&w);
    // Patches read in place: kernel rows of whole words (16- and 64-channel
    // 3×3 rows, the latter over two chunks), a row length not a multiple of
    // 4 (the scalar path), strides past the row, odd row counts.
    for (rows, run, stride, m) in [
        (3, 48, 80, 16),
        (3, 48, 48, 7),
        (3, 192, 200, 3),
        (1, 64, 64, 5),
        (3, 9, 15, 4),
        (2, 20, 28, 9),
    ] {
        let st = Strided { rows, run, stride };
        let (x0, x1) = (&w[..700], &w[300..1000]);
        let ws = &w[100..100 + (m * rows * run).min(1100)];
        let (mut got, mut want) = ([[1i32; ACC_ROW]; 2], [[1i32; ACC_ROW]; 2]);
        let n = dot_2xn_strided(x0, x1, &st, ws, &mut got);
        bad += u32::from(n != scalar::dot_2xn_strided(x0, x1, &st, ws, &mut want));
        bad += u32::from(n == 0 || got != want);
    }
    // Interior patches copied row by row: whole vectors (16-, 32- and
    // 64-channel 3×3 rows), a run off whole vectors, stride equal to the run,
    // one row, a source or destination one byte short (refused, unwritten).
    for (rows, run, stride, short) in [
        (3, 48, 80, 0),
        (3, 96, 96, 0),
        (3, 192, 200, 0),
        (1, 64, 64, 0),
        (3, 27, 40, 0),
        (2, 20, 28, 0),
        (3, 48, 80, 1),
        (3, 48, 80, 2),
    ] {
        let st = Strided { rows, run, stride };
        let span = (rows - 1) * stride + run;
        let src = &w[..if short == 1 { span - 1 } else { span }];
        let len = rows * run - if short == 2 { 1 } else { 0 };
        let (mut got, mut want) = ([7i8; 600], [7i8; 600]);
        let ok = copy_rows(&mut got[..len], src, &st);
        bad += u32::from(ok != scalar::copy_rows(&mut want[..len], src, &st));
        bad += u32::from(ok != (short == 0) || got != want);
    }
    // Depthwise pixels: the 16-wide asm path, its scalar tail, channel strides
    // above the block, padded rows, kernels of several shapes.
    for (n, c, k, pad) in [
        (16, 16, [3, 3], 0),
        (32, 48, [3, 3], 5),
        (40, 48, [3, 3], 3),
        (20, 20, [1, 1], 0),
        (16, 16, [5, 3], 7),
        (4, 8, [2, 2], 0),
        (0, 16, [3, 3], 0),
    ] {
        let t = DwTaps {
            k,
            row: k[1] * c + pad,
            c,
        };
        let (mut got, mut want) = ([3i32; 40], [3i32; 40]);
        let ok = depthwise_pixel(&mut got[..n], &w[100..], &w[700..], &t);
        bad += u32::from(ok != scalar::depthwise_pixel(&mut want[..n], &w[100..], &w[700..], &t));
        bad += u32::from(!ok || got != want);
    }
    let word = |s: &mut u32| {
        let hi = lcg(s) as u8 as u32;
        let lo = lcg(s) as u8 as u32;
        (hi << 24 | lo << 16 | (lcg(s) as u8 as u32) << 8 | lcg(s) as u8 as u32) as i32
    };
    // Depthwise pixels requantized in the same call: Helium's 3×3 groups in
    // the common case (one, three, two of a wider layer), a row that is not
    // (clamp top below 127), a 5×3 kernel, a part group; results scaled to
    // land mostly inside the int8 range.
    let (mut dbias, mut dmult, mut dshift) = ([0i32; 64], [0i32; 64], [0i32; 64]);
    let consts = dbias
        .iter_mut()
        .zip(dmult.iter_mut())
        .zip(dshift.iter_mut());
    for (i, ((b, m), s)) in consts.enumerate() {
        // Multipliers near 2^-7 and shifts of 1 or 2: rounding ties often.
        *b = word(&mut seed) >> 20;
        *m = (1 << 24) + (word(&mut seed) & 0xf_ffff);
        *s = -1 - (i as i32 % 2);
    }
    for (n, c, k, pad, top) in [
        (16, 16, [3, 3], 0, 127),
        (48, 48, [3, 3], 5, 127),
        (32, 48, [3, 3], 3, 127),
        (16, 16, [3, 3], 0, 100),
        (16, 16, [5, 3], 7, 127),
        (20, 20, [3, 3], 0, 127),
    ] {
        let t = DwTaps {
            k,
            row: k[1] * c + pad,
            c,
        };
        let q = RowQuant::new(&dbias[..n], &dmult[..n], &dshift[..n], -3, [-120, top]);
        let (mut a1, mut a2) = ([0i32; 64], [0i32; 64]);
        let (mut o1, mut o2) = ([0i8; 64], [0i8; 64]);
        let (x, ws) = (&w[100..], &w[700..]);
        let ok = depthwise_requant(&mut a1[..n], x, ws, &t, &q, &mut o1[..n]);
        bad +=
            u32::from(ok != scalar::depthwise_requant(&mut a2[..n], x, ws, &t, &q, &mut o2[..n]));
        bad += u32::from(!ok || o1 != o2);
    }
    for round in 0..64 {
        // Rounds from 32 on: every shift right and the clamp's top at 127,
        // the rows kernels may take a shorter path on (`RowQuant::right_only`).
        let right = round >= 32;
        let mut acc = [0i32; 67];
        let mut bias = [0i32; 67];
        let mut mult = [0i32; 67];
        let mut shift = [0i32; 67];
        for i in 0..67 {
            shift[i] = if right {
                -1 - (i as i32 + round) % 31
            } else {
                (i as i32 + round) % 62 - 31
            };
            // Scale so most results land inside the int8 range (not clamped),
            // where rounding, ties and the nudge for negatives show.
            acc[i] = word(&mut seed) >> (24 + shift[i]).clamp(0, 31);
            bias[i] = if round % 2 == 0 { 0 } else { acc[i] / 3 };
            mult[i] = if round % 3 == 0 {
                1 << 30
            } else {
                (word(&mut seed) & i32::MAX) | (1 << 30)
            };
        }
        if round < 4 {
            // The extremes: SRDHM's one saturating case (i32::MIN · i32::MIN,
            // clamped high where a wrap would clamp low), its neighbours (the
            // DSP rounding division's overflowing sum among them), and
            // negative multipliers (outside the blob contract, still exact).
            let cases = [
                (i32::MIN, i32::MIN),
                (i32::MIN, i32::MAX),
                (i32::MAX, i32::MIN),
                (i32::MIN + 1, i32::MIN),
                (i32::MAX, i32::MAX),
                (-77_777, -1 << 30),
            ];
            for (i, (a, m)) in cases.into_iter().enumerate() {
                (acc[i], bias[i], mult[i], shift[i]) = (a, 0, m, -(round * 3));
            }
        } else if right && round < 40 {
            // The extremes a right-shift row can hold: the largest products
            // of either sign, a rounded sum that overflows (x near 2^31,
            // right ≥ 2), a zero multiplier.
            let cases = [
                (i32::MAX, i32::MAX, -2),
                (i32::MIN, i32::MAX, -2),
                (i32::MAX, i32::MAX, -1),
                (i32::MIN, i32::MAX, -31),
                (i32::MAX, 0, -5),
                (i32::MIN + 1, 1 << 30, -1),
            ];
            for (i, (a, m, s)) in cases.into_iter().enumerate() {
                (acc[i], bias[i], mult[i], shift[i]) = (a, 0, m, (s - (round - 32)).max(-31));
            }
        }
        let n = 67 - (round as usize % 5);
        let (mut got, mut want) = ([0i8; 67], [0i8; 67]);
        let act = [-100 + round as i8, if right { 127 } else { 90 }];
        let q = RowQuant::new(&bias[..n], &mult[..n], &shift[..n], round - 32, act);
        bad += u32::from(right != q.right_only());
        requantize_row(&acc[..n], &q, &mut got[..n]);
        scalar::requantize_row(&acc[..n], &q, &mut want[..n]);
        bad += u32::from(got != want);
        // A pixel pair's two rows (the second the first reversed) through the
        // same constants, up to a block, lengths off whole vectors.
        let m = n.min(ACC_ROW) - round as usize % 3;
        let mut pair = [[0i32; ACC_ROW]; 2];
        pair[0][..m].copy_from_slice(&acc[..m]);
        for (d, &a) in pair[1][..m].iter_mut().zip(acc[..m].iter().rev()) {
            *d = a;
        }
        let ([mut g0, mut g1], [mut w0, mut w1]) = ([[0i8; ACC_ROW]; 2], [[0i8; ACC_ROW]; 2]);
        requantize_pair(&pair, m, &q, [&mut g0[..m], &mut g1[..m]]);
        scalar::requantize_pair(&pair, m, &q, [&mut w0[..m], &mut w1[..m]]);
        bad += u32::from(g0 != w0 || g1 != w1);
        // A pixel triple's rows: the pair's and the row rotated by a third.
        let [p0, p1] = pair;
        let mut tri = [p0, p1, p0];
        tri[2][..m].rotate_left(m / 3);
        let mut got3 = [[0i8; ACC_ROW]; 3];
        let mut want3 = got3;
        let [g0, g1, g2] = &mut got3;
        requantize_triple(&tri, m, &q, [&mut g0[..m], &mut g1[..m], &mut g2[..m]]);
        let [w0, w1, w2] = &mut want3;
        scalar::requantize_triple(&tri, m, &q, [&mut w0[..m], &mut w1[..m], &mut w2[..m]]);
        bad += u32::from(got3 != want3);
        // A slice of the row keeps the finding and stays exact.
        if let Some(part) = q.rows(3..n - 2) {
            bad += u32::from(part.right_only() != right);
            requantize_row(&acc[3..n - 2], &part, &mut got[3..n - 2]);
            bad += u32::from(got != want);
        }
    }
    // The tabulated Add: every code of both inputs against random tables
    // (scaled like real rescales, plus i32 extremes whose sums wrap and hit
    // SRDHM's saturation) and every shift, odd and even lengths.
    let mut tables = [0i32; 512];
    let (mut a, mut b) = ([0i8; 259], [0i8; 259]);
    // Rounds from 62 on: right-shift outputs with the clamp's top at 127 (the
    // Helium vector path) whose sums land in range, so rounding ties of
    // either sign show.
    for round in 0..74i32 {
        let in_range = round >= 62;
        let shift = if in_range { -1 - round % 4 } else { round - 31 };
        for (i, t) in tables.iter_mut().enumerate() {
            *t = match (i + round as usize) % 97 {
                _ if in_range => word(&mut seed) >> 24,
                0 => i32::MIN,
                1 => i32::MAX,
                _ => word(&mut seed) >> (round % 9),
            };
        }
        for (i, (u, v)) in a.iter_mut().zip(b.iter_mut()).enumerate() {
            *u = (i as u8).wrapping_add(round as u8) as i8;
            *v = lcg(&mut seed);
        }
        let q = AddRow {
            tables: &tables,
            mult: if in_range {
                1 << 30
            } else if round % 5 == 0 {
                i32::MIN
            } else {
                (word(&mut seed) & i32::MAX) | (1 << 30)
            },
            shift,
            zero_point: (round % 11) - 5,
            act: if in_range {
                [-128, 127]
            } else {
                [-128 + (round % 3) as i8 * 20, 127 - (round % 4) as i8 * 10]
            },
        };
        let n = 259 - (round as usize % 4);
        let (mut got, mut want) = ([0i8; 259], [0i8; 259]);
        add_row(&a[..n], &b[..n], &q, &mut got[..n]);
        scalar::add_row(&a[..n], &b[..n], &q, &mut want[..n]);
        bad += u32::from(got != want);
    }
    bad
}

/// Run the demo with `arena` (at least [`ARENA`] bytes) and end via `p.exit`.
pub fn run<P: Platform>(p: &mut P, arena: &mut [i8]) -> ! {
    // Lines of the form `KIND key=value …` are records `cargo xtask fw` reads
    // (xtask/src/fw_log.rs); other lines are for people.
    defmt::info!("nyquist firmware demo: kernel {=str}", KERNEL);
    let bad = selftest();
    if bad == 0 {
        defmt::info!("kernel self-test: {=str} bit-exact with scalar (dot, dot_2x2, copy, mac_row, lut, lut_in_place: 300 lengths; dot_2xn: 16 shapes; dot_2xn_strided: 6; dot_3xn: 9 shapes; copy_rows_lane and copy_rows_triple: 6; copy_rows: 8; depthwise_pixel: 7 shapes; depthwise_requant: 6; requantize_row, requantize_pair and requantize_triple: 64 rows, 32 of them right shifts only; add_row: 74 rows)", KERNEL);
        defmt::info!("selftest mismatches=0");
    } else {
        defmt::error!("kernel self-test: {=u32} mismatches", bad);
        defmt::error!("selftest mismatches={=u32}", bad);
    }
    // Measure the stack of inference alone, not of the self-test's buffers.
    paint_stack();
    let model = match Model::from_bytes(&MODEL) {
        Ok(m) => m,
        Err(e) => {
            defmt::error!("model blob refused: {}", e);
            p.exit(2)
        }
    };
    let n = model.input.len();
    let images = INPUTS.len() / n.max(1);
    defmt::info!(
        "model bytes={=usize} ops={=u16} arena={=usize} images={=usize}",
        MODEL.len(),
        model.n_ops(),
        model.arena_size,
        images
    );
    let mut per_op = [0u64; MAX_OPS];
    let mut out = [0i8; 16];
    let outs = model.output.len().min(16);
    let mut agree = 0usize;
    let mut correct = 0usize;
    let mut total: u64 = 0;
    for k in 0..images {
        let input = nyquist_firmware::nqm::as_i8(&INPUTS[k * n..(k + 1) * n]);
        p.mark();
        let mut last = p.now();
        let t0 = last;
        let r = model.run_with(arena, input, &mut out[..outs], |e| {
            let now = p.now();
            if let Event::End(i, _) = e {
                if let Some(slot) = per_op.get_mut(i as usize) {
                    *slot += now.wrapping_sub(last) as u64;
                }
            }
            last = now;
        });
        total += p.now().wrapping_sub(t0) as u64;
        p.mark();
        if let Err(e) = r {
            defmt::error!("inference failed on image {=usize}: {}", k, e);
            p.exit(2);
        }
        let pred = argmax(&out[..outs]);
        let (exp, label) = (EXPECTED[k] as usize, LABELS[k] as usize);
        agree += usize::from(pred == exp);
        correct += usize::from(pred == label);
        defmt::info!(
            "image k={=usize} predicted={=usize} host={=usize} label={=usize}",
            k,
            pred,
            exp,
            label
        );
    }
    let mpi = p.milli_units_per_instruction().max(1) as u64;
    defmt::info!("counter units_per_kinstr={=u64}", mpi);
    for (i, op) in model.ops().enumerate() {
        let kind = op.map_or("?", |o| o.kind().name());
        let per_image = per_op[i.min(MAX_OPS - 1)] * 1000 / mpi / images.max(1) as u64;
        defmt::info!(
            "layer i={=usize} op={=str} per_image={=u64} unit={=str}",
            i,
            kind,
            per_image,
            p.unit()
        );
    }
    defmt::info!(
        "total per_image={=u64} unit={=str}",
        total * 1000 / mpi / images.max(1) as u64,
        p.unit()
    );
    defmt::info!(
        "ram arena={=usize} stack_high_water={=usize}",
        model.arena_size,
        stack_high_water()
    );
    defmt::info!(
        "summary images={=usize} host_equal={=usize} correct={=usize}",
        images,
        agree,
        correct
    );
    p.exit(if agree == images && bad == 0 { 0 } else { 1 })
}

/// Number of embedded test images for `model`'s input size.
pub fn n_images(model: &Model) -> usize {
    INPUTS.len() / model.input.len().max(1)
}

/// Classify embedded test image `k` (argmax of the output, lowest index on ties).
pub fn classify(
    model: &Model,
    arena: &mut [i8],
    k: usize,
) -> Result<usize, nyquist_firmware::Error> {
    let n = model.input.len();
    let input = INPUTS
        .get(k * n..(k + 1) * n)
        .ok_or(nyquist_firmware::Error::OutOfBounds)?;
    let mut out = [0i8; 16];
    let outs = model.output.len().min(16);
    model.run(arena, nyquist_firmware::nqm::as_i8(input), &mut out[..outs])?;
    Ok(argmax(&out[..outs]))
}

fn argmax(v: &[i8]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}
