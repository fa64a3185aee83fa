//! Nyquist's int8 lowering against tract's own: the same quantized
//! convolutions built in tract's typed graph, optimized once by tract alone
//! (the reference: unfused requantization, tract's `Im2Col`, grouped
//! matmuls) and once with Nyquist's passes and operators, must agree — the
//! packed bytes exactly, the outputs within one LSB.

use tract_linalg::mmm::{EagerPackedInput, PackedMatrixStorage};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::cnn::conv::Im2Col;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
use tract_onnx::tract_core::ops::nn::DataFormat;
use tract_onnx::tract_core::ops::EvalOp;

use super::im2col::{k4_panel, k4_panel_scalar};

/// A quantized convolution case.
#[derive(Debug, Clone, Copy)]
struct Case {
    c_in: usize,
    c_out: usize,
    hw: [usize; 2],
    kernel: [usize; 2],
    stride: usize,
    dilation: usize,
    pad: [usize; 2],
    group: usize,
    per_channel: bool,
}

const CASES: [Case; 9] = [
    // 1×1 with as many output channels as pixels: the channel axis must be
    // told from the pixel axis by position, not by length.
    Case {
        c_in: 8,
        c_out: 16,
        hw: [4, 4],
        kernel: [1, 1],
        stride: 1,
        dilation: 1,
        pad: [0, 0],
        group: 1,
        per_channel: true,
    },
    // 1×1 stride 2: the projection shortcut (tract makes it an einsum).
    Case {
        c_in: 8,
        c_out: 16,
        hw: [8, 8],
        kernel: [1, 1],
        stride: 2,
        dilation: 1,
        pad: [0, 0],
        group: 1,
        per_channel: true,
    },
    // 1×1 stride 1.
    Case {
        c_in: 16,
        c_out: 8,
        hw: [6, 6],
        kernel: [1, 1],
        stride: 1,
        dilation: 1,
        pad: [0, 0],
        group: 1,
        per_channel: true,
    },
    // 3×3 stride 1, pad 1: the bundled model's dense layers.
    Case {
        c_in: 16,
        c_out: 16,
        hw: [12, 12],
        kernel: [3, 3],
        stride: 1,
        dilation: 1,
        pad: [1, 1],
        group: 1,
        per_channel: true,
    },
    // stride 2 after a commuted blur; odd sizes, panels across output lines.
    Case {
        c_in: 8,
        c_out: 24,
        hw: [11, 9],
        kernel: [3, 3],
        stride: 2,
        dilation: 1,
        pad: [1, 0],
        group: 1,
        per_channel: true,
    },
    // The stem: one input channel, k = 9 (not a multiple of 4).
    Case {
        c_in: 1,
        c_out: 16,
        hw: [16, 16],
        kernel: [3, 3],
        stride: 1,
        dilation: 1,
        pad: [1, 1],
        group: 1,
        per_channel: true,
    },
    // Dilation, per-tensor scale.
    Case {
        c_in: 4,
        c_out: 8,
        hw: [10, 10],
        kernel: [3, 3],
        stride: 1,
        dilation: 2,
        pad: [2, 2],
        group: 1,
        per_channel: false,
    },
    // Depthwise (a blur the converter keeps), stride 1, no padding.
    Case {
        c_in: 16,
        c_out: 16,
        hw: [10, 10],
        kernel: [3, 3],
        stride: 1,
        dilation: 1,
        pad: [0, 0],
        group: 16,
        per_channel: true,
    },
    // Depthwise, stride 2, padding.
    Case {
        c_in: 8,
        c_out: 8,
        hw: [9, 9],
        kernel: [5, 5],
        stride: 2,
        dilation: 1,
        pad: [2, 2],
        group: 8,
        per_channel: true,
    },
];

/// Seeded pseudo-random bytes (xorshift).
fn bytes(n: usize, seed: u64) -> Vec<i8> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as i8
        })
        .collect()
}

fn model(c: &Case) -> TractResult<TypedModel> {
    let [h, w] = c.hw;
    let [kh, kw] = c.kernel;
    let mut m = TypedModel::default();
    let x = m.add_source("x", i8::fact([1, c.c_in, h, w]))?;
    let mut k = tract_ndarray::ArrayD::from_shape_vec(
        vec![c.c_out, c.c_in / c.group, kh, kw],
        bytes(c.c_out * c.c_in / c.group * kh * kw, 1)
            .into_iter()
            .map(|v| v.max(-127))
            .collect(),
    )?
    .into_tensor();
    if c.group > 1 {
        // A blur: the same filter in every channel.
        let mut view = k.try_as_plain_ram_mut()?;
        let all = view.as_slice_mut::<i8>()?;
        let first: Vec<i8> = all[..kh * kw].to_vec();
        for ch in all.chunks_mut(kh * kw) {
            ch.copy_from_slice(&first);
        }
    }
    let bias: Vec<i32> = (0..c.c_out as i32).map(|i| (i * 37) % 201 - 100).collect();
    let k_scale: Tensor = if c.per_channel {
        tensor1(
            &(0..c.c_out)
                .map(|i| 0.002 + 0.0007 * i as f32)
                .collect::<Vec<_>>(),
        )
    } else {
        tensor0(0.003f32)
    };
    let consts = [
        k,
        tensor1(&bias),
        tensor0(-7i32),
        tensor0(0.05f32),
        tensor0(0i32),
        k_scale,
        tensor0(3i32),
        tensor0(0.4f32),
    ];
    let mut inputs = vec![x];
    for (i, t) in consts.into_iter().enumerate() {
        inputs.push(m.add_const(format!("c{i}"), t)?);
    }
    let conv = Conv {
        pool_spec: PoolSpec {
            data_format: DataFormat::NCHW,
            kernel_shape: tvec!(kh, kw),
            padding: PaddingSpec::Explicit(tvec!(c.pad[0], c.pad[1]), tvec!(c.pad[0], c.pad[1])),
            dilations: Some(tvec!(c.dilation, c.dilation)),
            strides: Some(tvec!(c.stride, c.stride)),
            input_channels: c.c_in,
            output_channels: c.c_out,
        },
        kernel_fmt: KernelFormat::OIHW,
        group: c.group,
        q_params: Some(i8::datum_type()),
    };
    let y = m.wire_node("conv", conv, &inputs)?;
    m.select_output_outlets(&y)?;
    Ok(m)
}

fn run(m: TypedModel, x: &Tensor) -> TractResult<Tensor> {
    let out = m.into_runnable()?.run(tvec!(x.clone().into()))?;
    Ok(out[0].clone().into_tensor())
}

fn input(c: &Case) -> Tensor {
    let [h, w] = c.hw;
    tract_ndarray::ArrayD::from_shape_vec(vec![1, c.c_in, h, w], bytes(c.c_in * h * w, 7))
        .unwrap()
        .into_tensor()
}

#[test]
fn lowered_convolutions_match_tract_within_one_lsb() {
    for c in CASES {
        let x = input(&c);
        let reference = run(model(&c).unwrap().into_optimized().unwrap(), &x).unwrap();
        let mut ours = model(&c).unwrap();
        super::optimize(&mut ours).unwrap();
        let names: Vec<String> = ours
            .nodes()
            .iter()
            .map(|n| n.op().name().to_string())
            .collect();
        if c.group > 1 {
            assert!(
                names.iter().any(|n| n == "NyquistQDepthwise"),
                "{c:?}: {names:?}"
            );
        } else {
            assert!(
                c.kernel == [1, 1] || names.iter().any(|n| n == "NyquistPackIm2Col"),
                "{c:?}: {names:?}"
            );
            // Requantization fused: no float `Scale` left (tract's 1×1
            // einsum may put the channels on the column axis, where a
            // per-row step cannot go: then the `Scale` stays, unfused).
            assert!(
                c.kernel == [1, 1] || !names.iter().any(|n| n == "Scale"),
                "{c:?}: {names:?}"
            );
        }
        let got = run(ours, &x).unwrap();
        assert_eq!(got.shape(), reference.shape(), "{c:?}");
        let (gv, rv) = (
            got.try_as_plain_ram().unwrap(),
            reference.try_as_plain_ram().unwrap(),
        );
        let (a, b) = (gv.as_slice::<i8>().unwrap(), rv.as_slice::<i8>().unwrap());
        let worst = a
            .iter()
            .zip(b)
            .map(|(&p, &q)| (p as i32 - q as i32).abs())
            .max()
            .unwrap();
        let differ = a.iter().zip(b).filter(|(p, q)| p != q).count();
        if worst > 1 {
            for (i, (p, q)) in a
                .iter()
                .zip(b)
                .enumerate()
                .filter(|(_, (p, q))| (**p as i32 - **q as i32).abs() > 1)
                .take(10)
            {
                eprintln!(
                    "at {i} (ch {}): ours {p} tract {q}",
                    i / (got.shape()[2] * got.shape()[3])
                );
            }
        }
        assert!(worst <= 1, "{c:?}: max |Δ| {worst} LSB");
        assert!(
            differ * 100 <= a.len(),
            "{c:?}: {differ} of {} outputs differ",
            a.len()
        );
    }
}

/// The packed bytes of [`super::im2col::PackIm2Col`] equal tract's `Im2Col`'s.
#[test]
fn packing_writes_the_bytes_tract_writes() {
    for c in CASES.iter().filter(|c| c.group == 1 && c.kernel != [1, 1]) {
        let model = model(c).unwrap().into_optimized().unwrap();
        let node = model
            .nodes()
            .iter()
            .find(|n| n.op_is::<Im2Col>())
            .expect("tract packs with Im2Col");
        let op = node.op_as::<Im2Col>().unwrap();
        let ours = super::im2col::replacement(&model, node, op)
            .unwrap()
            .expect("covered");
        let pad = model
            .outlet_fact(node.inputs[1])
            .unwrap()
            .konst
            .clone()
            .unwrap();
        let inputs = || tvec!(input(c).into_tvalue(), pad.clone().into_tvalue());
        let a = op.eval_out_of_plan(inputs()).unwrap().unwrap();
        let b = ours.eval_out_of_plan(inputs()).unwrap().unwrap();
        // The bytes the kernel reads: per panel, K rows of r lanes (K padded
        // to 4 for the dot-product layout). tract leaves the padding record
        // some kernels have after them uninitialized, so it is not compared.
        let (r, len) = match ours.panels {
            super::im2col::Panels::Plain { r, len, .. } => (r, len),
            super::im2col::Panels::K4 { r, len, .. } => (r, len),
        };
        let k = c.c_in / c.group * c.kernel[0] * c.kernel[1];
        let k = match ours.panels {
            super::im2col::Panels::Plain { .. } => k,
            super::im2col::Panels::K4 { .. } => k.div_ceil(4) * 4,
        };
        let bytes = |t: &TValue| -> Vec<u8> {
            let s = t.try_storage_as::<PackedMatrixStorage>().unwrap();
            s.values()
                .iter()
                .flat_map(|v| {
                    let e = v.downcast_ref::<EagerPackedInput>().unwrap();
                    e.packed
                        .as_bytes()
                        .chunks(len)
                        .flat_map(|panel| panel[..k * r].to_vec())
                        .collect::<Vec<u8>>()
                })
                .collect()
        };
        let (a, b) = (bytes(&a[0]), bytes(&b[0]));
        assert_eq!(a.len(), b.len(), "{c:?}");
        let first = a.iter().zip(&b).position(|(p, q)| p != q);
        assert!(first.is_none(), "{c:?}: bytes differ from offset {first:?}");
    }
}

/// The SIMD panel writer equals its scalar twin.
#[test]
fn k4_panel_simd_equals_scalar() {
    let src = bytes(4096, 3);
    for (k, base) in [(4usize, 0usize), (36, 5), (9, 100), (72, 17)] {
        let koff4: Vec<usize> = (0..k.div_ceil(4) * 4).map(|i| (i * 37) % 2000).collect();
        let kmax = *koff4.iter().max().unwrap();
        let (mut a, mut b) = (vec![0i8; koff4.len() * 16], vec![0i8; koff4.len() * 16]);
        k4_panel::<8>(&src, &koff4, kmax, base, &mut a);
        k4_panel_scalar::<8>(&src, &koff4, base, &mut b);
        assert_eq!(a, b);
        k4_panel::<16>(&src, &koff4, kmax, base, &mut a);
        k4_panel_scalar::<16>(&src, &koff4, base, &mut b);
        assert_eq!(a, b);
    }
}
