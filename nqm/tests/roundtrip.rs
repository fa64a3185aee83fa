//! Encode → decode round trips over random valid models, and the header's
//! fixed offsets against the hand-written table in `header.rs`.

use nyquist_nqm::{
    arena_size, conv_scratch, header::offset, reseal, Consts, Encoder, Error, Header, Interface,
    Model, Op, Tensor, HEADER_LEN, MAGIC, VERSION,
};
use proptest::prelude::*;

/// One op of a random chain, before shapes are known.
#[derive(Debug, Clone)]
enum Step {
    Conv {
        cout: u16,
        k: u8,
        s: u8,
        pad: u8,
        depthwise: bool,
    },
    Pad {
        mode: u8,
        pad: [u8; 4],
    },
    MaxPool {
        k: u8,
        s: u8,
    },
    Lut,
    Add,
    Alias,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1u16..9, 1u8..4, 1u8..3, 0u8..2, any::<bool>()).prop_map(
            |(cout, k, s, pad, depthwise)| {
                Step::Conv {
                    cout,
                    k,
                    s,
                    pad,
                    depthwise,
                }
            }
        ),
        (0u8..3, prop::array::uniform4(0u8..3)).prop_map(|(mode, pad)| Step::Pad { mode, pad }),
        (1u8..3, 1u8..3).prop_map(|(k, s)| Step::MaxPool { k, s }),
        Just(Step::Lut),
        Just(Step::Add),
        Just(Step::Alias),
    ]
}

/// A random but valid model: the ops the encoder was given, in order, and the blob.
struct Built {
    blob: Vec<u8>,
    ops: Vec<Op>,
    tensors: Vec<Tensor>,
    consts: Vec<(std::ops::Range<usize>, Vec<u8>)>,
    io: Interface,
}

fn build(c: u16, h: u16, w: u16, steps: &[Step], classes: u16, seed: u64) -> Built {
    let mut rng = seed;
    let mut next = move || {
        // SplitMix64: deterministic constants from the case's seed.
        rng = rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut enc = Encoder::new();
    let mut tensors = Vec::new();
    let mut ops = Vec::new();
    let mut consts = Vec::new();
    let mut arena = 0usize;
    let mut scratch = 0usize;
    let mut new_tensor =
        |enc: &mut Encoder, tensors: &mut Vec<Tensor>, c, h, w, at: Option<u32>| {
            let t = Tensor {
                c,
                h,
                w,
                offset: at.unwrap_or(arena as u32),
                zero_point: (next() % 256) as u8 as i8,
            };
            if at.is_none() {
                arena += t.len();
            }
            tensors.push(t);
            enc.tensor(&t).unwrap()
        };
    let data = |enc: &mut Encoder, consts: &mut Vec<_>, bytes: Vec<u8>, align| {
        let r = enc.constants(&bytes, align);
        consts.push((r.clone(), bytes));
        r
    };
    let mut cur = new_tensor(&mut enc, &mut tensors, c, h, w, None);
    let input = cur;
    let requant = |n: usize| -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let (mut b, mut m, mut s) = (vec![], vec![], vec![]);
        for i in 0..n {
            b.extend((i as i32 * 7919 - 3000).to_le_bytes());
            m.extend(((1u32 << 30) + i as u32 * 4099).to_le_bytes());
            s.extend((-(i as i32 % 31)).to_le_bytes());
        }
        (b, m, s)
    };
    for st in steps {
        let x = tensors[cur as usize];
        let op = match *st {
            Step::Conv {
                cout,
                k,
                s,
                pad,
                depthwise,
            } => {
                let (kk, p) = (k.min(x.h as u8 + 2 * pad).min(x.w as u8 + 2 * pad), pad);
                let oh = (x.h + 2 * p as u16 - kk as u16) / s as u16 + 1;
                let ow = (x.w + 2 * p as u16 - kk as u16) / s as u16 + 1;
                let (groups, cout) = if depthwise { (x.c, x.c) } else { (1, cout) };
                let y = new_tensor(&mut enc, &mut tensors, cout, oh, ow, None);
                let patch = (x.c / groups) as usize * kk as usize * kk as usize;
                let w: Vec<u8> = (0..cout as usize * patch)
                    .map(|i| (i * 37 % 251) as u8)
                    .collect();
                let weights = data(&mut enc, &mut consts, w, 16);
                let (b, m, sh) = requant(cout as usize);
                let bias = data(&mut enc, &mut consts, b, 4);
                let mult = data(&mut enc, &mut consts, m, 4);
                let shift = data(&mut enc, &mut consts, sh, 4);
                scratch = scratch.max(conv_scratch(x.c, cout, groups, [kk, kk], [p; 4]));
                let input = cur;
                cur = y;
                Op::Conv {
                    input,
                    output: y,
                    groups,
                    k: [kk, kk],
                    s: [s, s],
                    pad: [p; 4],
                    act: [-128, 127],
                    consts: Consts {
                        weights,
                        bias,
                        mult,
                        shift,
                    },
                }
            }
            Step::Pad { mode, pad } => {
                // Reflect needs every pad below the side it mirrors.
                let pad = if mode == 1 {
                    [
                        pad[0].min(x.h as u8 - 1),
                        pad[1].min(x.w as u8 - 1),
                        pad[2].min(x.h as u8 - 1),
                        pad[3].min(x.w as u8 - 1),
                    ]
                } else {
                    pad
                };
                let oh = x.h + pad[0] as u16 + pad[2] as u16;
                let ow = x.w + pad[1] as u16 + pad[3] as u16;
                let y = new_tensor(&mut enc, &mut tensors, x.c, oh, ow, None);
                let input = cur;
                cur = y;
                Op::Pad {
                    input,
                    output: y,
                    mode,
                    pad,
                }
            }
            Step::MaxPool { k, s } => {
                let k = k.min(x.h as u8).min(x.w as u8);
                let oh = (x.h - k as u16) / s as u16 + 1;
                let ow = (x.w - k as u16) / s as u16 + 1;
                let y = new_tensor(&mut enc, &mut tensors, x.c, oh, ow, None);
                let input = cur;
                cur = y;
                Op::MaxPool {
                    input,
                    output: y,
                    k: [k, k],
                    s: [s, s],
                    pad: [0; 4],
                }
            }
            Step::Lut => {
                let table = data(&mut enc, &mut consts, (0..=255u8).rev().collect(), 4);
                let y = new_tensor(&mut enc, &mut tensors, x.c, x.h, x.w, None);
                let input = cur;
                cur = y;
                Op::Lut {
                    input,
                    output: y,
                    table,
                }
            }
            Step::Add => {
                let y = new_tensor(&mut enc, &mut tensors, x.c, x.h, x.w, None);
                let input = cur;
                cur = y;
                scratch = scratch.max(nyquist_nqm::ADD_SCRATCH);
                Op::Add {
                    inputs: [input, input],
                    output: y,
                    left_shift: 20,
                    act: [-100, 100],
                    mult: [[1 << 30, -1], [1 << 29, 0], [1 << 28, -20]],
                }
            }
            Step::Alias => {
                let y = new_tensor(
                    &mut enc,
                    &mut tensors,
                    x.c * x.h * x.w,
                    1,
                    1,
                    Some(x.offset),
                );
                let input = cur;
                cur = y;
                Op::Alias { input, output: y }
            }
        };
        enc.op(&op).unwrap();
        ops.push(op);
    }
    // Global average pool and a classifier end every model.
    let x = tensors[cur as usize];
    let pooled = new_tensor(&mut enc, &mut tensors, x.c, 1, 1, None);
    let gap = Op::GlobalAvgPool {
        input: cur,
        output: pooled,
        mult: [1 << 30, -3],
    };
    enc.op(&gap).unwrap();
    ops.push(gap);
    let out = new_tensor(&mut enc, &mut tensors, classes, 1, 1, None);
    let w: Vec<u8> = (0..classes as usize * x.c as usize)
        .map(|i| i as u8)
        .collect();
    let weights = data(&mut enc, &mut consts, w, 16);
    let (b, m, sh) = requant(classes as usize);
    let fc = Op::FullyConnected {
        input: pooled,
        output: out,
        act: [-128, 127],
        consts: Consts {
            weights,
            bias: data(&mut enc, &mut consts, b, 4),
            mult: data(&mut enc, &mut consts, m, 4),
            shift: data(&mut enc, &mut consts, sh, 4),
        },
    };
    enc.op(&fc).unwrap();
    ops.push(fc);
    let scratch = scratch.div_ceil(4) * 4;
    let io = Interface {
        input,
        output: out,
        input_scale: 0.02,
        input_zero_point: -3,
        output_scale: 0.125,
        output_zero_point: 7,
        arena_size: arena + scratch,
        scratch_len: scratch,
    };
    let blob = enc.finish(&io).unwrap();
    Built {
        blob,
        ops,
        tensors,
        consts,
        io,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)))]

    /// Whatever the encoder writes, the decoder validates and returns as it
    /// was given: header fields, tensors, ops and constant bytes; and
    /// re-encoding the decoded ops gives the same records.
    #[test]
    fn encode_then_decode_is_the_identity(
        c in 1u16..6, h in 1u16..9, w in 1u16..9,
        steps in prop::collection::vec(step(), 0..7),
        classes in 1u16..12, seed in any::<u64>(),
    ) {
        let b = build(c, h, w, &steps, classes, seed);
        let m = Model::from_bytes(&b.blob).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(m.arena_size, b.io.arena_size);
        prop_assert_eq!(m.scratch_len, b.io.scratch_len);
        prop_assert_eq!(m.input, b.tensors[b.io.input as usize]);
        prop_assert_eq!(m.output, b.tensors[b.io.output as usize]);
        prop_assert_eq!((m.input_scale, m.input_zero_point), (0.02, -3));
        prop_assert_eq!((m.output_scale, m.output_zero_point), (0.125, 7));
        for (i, t) in b.tensors.iter().enumerate() {
            prop_assert_eq!(m.tensor(i as u16).unwrap(), *t);
        }
        let decoded: Vec<Op> = m.ops().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(&decoded, &b.ops);
        for (r, bytes) in &b.consts {
            prop_assert_eq!(m.data(r), &bytes[..]);
        }
        let (mut again, mut first) = (Vec::new(), Vec::new());
        for (a, d) in b.ops.iter().zip(&decoded) {
            a.encode(&mut first).unwrap();
            d.encode(&mut again).unwrap();
        }
        prop_assert_eq!(again, first);
        prop_assert_eq!(arena_size(&b.blob), Some(b.io.arena_size));
    }

    /// One changed byte after the header is caught by the CRC; resealed, the
    /// blob either loads or is refused with an error, never a panic.
    #[test]
    fn a_damaged_body_is_refused(pos in any::<usize>(), val in any::<u8>(), seed in any::<u64>()) {
        let b = build(2, 5, 5, &[Step::Conv { cout: 3, k: 3, s: 2, pad: 1, depthwise: false }, Step::Lut], 4, seed);
        let mut blob = b.blob.clone();
        let p = HEADER_LEN + pos % (blob.len() - HEADER_LEN);
        prop_assume!(blob[p] != val);
        blob[p] = val;
        let refused = matches!(Model::from_bytes(&blob), Err(Error::BadChecksum { .. }));
        prop_assert!(refused);
        reseal(&mut blob);
        let _ = Model::from_bytes(&blob);
    }
}

#[test]
fn header_fields_sit_at_the_documented_offsets() {
    let h = Header {
        total_len: 0x1122_3344,
        crc: 0x5566_7788,
        arena_size: 0x99AA_BBCC,
        n_tensors: 0x0102,
        n_ops: 0x0304,
        tensors_offset: 64,
        ops_offset: 0x0506_0708,
        data_offset: 0x090A_0B0C,
        data_len: 0x0D0E_0F10,
        input: 0x1112,
        output: 0x1314,
        input_scale: 0.5,
        input_zero_point: -2,
        output_scale: 0.25,
        output_zero_point: 9,
        scratch_len: 0x1516_1718,
    };
    let b = h.to_bytes();
    assert_eq!(&b[..4], &MAGIC);
    assert_eq!(b[4..6], VERSION.to_le_bytes());
    assert_eq!(b[6..8], 64u16.to_le_bytes());
    assert_eq!(b[offset::TOTAL_LEN..][..4], 0x1122_3344u32.to_le_bytes());
    assert_eq!(b[offset::CRC..][..4], 0x5566_7788u32.to_le_bytes());
    assert_eq!(b[offset::ARENA_SIZE..][..4], 0x99AA_BBCCu32.to_le_bytes());
    assert_eq!(b[40..42], 0x1112u16.to_le_bytes());
    assert_eq!(b[44..48], 0.5f32.to_le_bytes());
    assert_eq!(b[60..64], 0x1516_1718u32.to_le_bytes());
    assert_eq!(Header::parse(&b).unwrap(), h);
    // The boards read the arena size at compile time.
    const BLOB: [u8; 64] = {
        let mut b = [0u8; 64];
        b[0] = b'N';
        b[1] = b'Q';
        b[2] = b'M';
        b[3] = b'B';
        b[16] = 0x34;
        b[17] = 0x12;
        b
    };
    const ARENA: Option<usize> = arena_size(&BLOB);
    assert_eq!(ARENA, Some(0x1234));
    assert_eq!(arena_size(&[0; 64]), None);
    assert_eq!(arena_size(b"NQMB"), None);
}

#[test]
fn short_and_foreign_blobs_are_refused() {
    assert_eq!(Header::parse(b"NQ").unwrap_err(), Error::Truncated);
    assert_eq!(Header::parse(&[0; 10]).unwrap_err(), Error::BadMagic);
    let mut b = [0u8; 64];
    b[..4].copy_from_slice(&MAGIC);
    b[4] = 1;
    assert_eq!(Header::parse(&b).unwrap_err(), Error::UnsupportedVersion(1));
}
