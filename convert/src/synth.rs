//! Synthetic ONNX models for tests and benchmarks: ResNet-18-shaped graphs
//! (BasicBlock [2, 2, 2, 2]) of every blur family, any width and input size,
//! seeded random weights — built the way PyTorch exports them (BN folded into
//! convs or kept as nodes, reflect pads as `Pad` nodes, GELU as the `Erf`
//! arithmetic, `GlobalAveragePool → Flatten → Gemm` head).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::kernel::Kernel2d;
use crate::verify::gaussian;
use nyquist_onnx::attr::{make_float, make_int, make_ints, make_string, node};
use nyquist_onnx::pb::{
    tensor_proto::DataType, tensor_shape_proto, type_proto, GraphProto, ModelProto,
    OperatorSetIdProto, StringStringEntryProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use nyquist_onnx::{Model, Tensor};

/// Where the blurs go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// No blur: plain strided ResNet-18.
    Plain,
    /// Vasconcelos: conv s1 → blur s2 (→ BN → act); shortcut 1×1 s1 → blur; stem max-pool s1 → blur.
    BlurAfterConv,
    /// Zhang: conv s1 → BN → ReLU → reflect pad (1, 2) → 4×4 blur s2 → conv; shortcut blur → 1×1.
    AntialiasedCnns,
    /// timm resnetblur: conv s1 → BN → ReLU → reflect pad 1 → 3×3 blur s2 → conv; shortcut unblurred.
    TimmResnetBlur,
    /// Composer BlurConv2d: 3×3 blur s1 (zero pad 1) in front of every strided conv.
    ComposerBlurConv,
}

/// A ResNet-18-shaped model to build.
#[derive(Debug, Clone, PartialEq)]
pub struct ResNetSpec {
    /// Blur placement.
    pub family: Family,
    /// Channel widths of the four stages.
    pub widths: [usize; 4],
    /// Residual blocks per stage (ResNet-18: 2, 2, 2, 2; a stage with 0
    /// blocks is left out, its width unused).
    pub blocks: [usize; 4],
    /// Input channels.
    pub in_channels: usize,
    /// Input height = width.
    pub size: usize,
    /// Classes.
    pub classes: usize,
    /// 7×7/2 conv + 3×3/2 max-pool stem (else CIFAR-style 3×3/1 conv, no pool).
    pub imagenet_stem: bool,
    /// GELU (as PyTorch exports it) instead of ReLU.
    pub gelu: bool,
    /// Keep BatchNormalization nodes (else BN is folded, as the exporter does).
    pub explicit_bn: bool,
    /// Classifier on the flattened last feature map (`Flatten → Gemm`, as small
    /// LeNet-style heads do) instead of `GlobalAveragePool → Flatten → Gemm`.
    pub flatten_head: bool,
    /// BlurAfterConv blurs padded by the conv's own zeros instead of a
    /// reflect `Pad` (with a folded BatchNorm, the case where moving the
    /// bias across the blur is exact on the interior only).
    pub zero_pad_blurs: bool,
    /// Weight seed.
    pub seed: u64,
}

impl ResNetSpec {
    /// A small model for unit tests: widths 4/8/8/16, 1×16×16 input, CIFAR stem.
    pub fn tiny(family: Family) -> Self {
        ResNetSpec {
            family,
            widths: [4, 8, 8, 16],
            blocks: [2; 4],
            in_channels: 1,
            size: 16,
            classes: 10,
            imagenet_stem: false,
            gelu: family == Family::BlurAfterConv,
            explicit_bn: false,
            flatten_head: false,
            zero_pad_blurs: false,
            seed: 7,
        }
    }

    /// ResNet-18 at 224×224, 1000 classes (the benchmark model).
    pub fn imagenet(family: Family) -> Self {
        ResNetSpec {
            family,
            widths: [64, 128, 256, 512],
            blocks: [2; 4],
            in_channels: 3,
            size: 224,
            classes: 1000,
            imagenet_stem: true,
            gelu: false,
            explicit_bn: false,
            flatten_head: false,
            zero_pad_blurs: false,
            seed: 0,
        }
    }
}

impl ResNetSpec {
    /// MLPerf Tiny's image-classification model (mlcommons/tiny,
    /// `resnet_v1_eembc`): 32×32×3 input, a 3×3 conv of 16 filters, three
    /// residual stacks of one basic block each (16, 32, 64 filters; the
    /// second and third stride 2 with a 1×1 stride-2 projection), average
    /// pooling over the 8×8 map, 10 classes; ReLU, no blurs. 12.5 M MACs.
    /// Its weights are seeded, not trained: its shape makes firmware figures
    /// comparable with the published MLPerf Tiny results, its accuracy does
    /// not matter. Seed 1: an untrained net's logits are nearly tied, and on
    /// some seeds (5 of the first 5 tried: one) int8 rounding within 1–2 LSB
    /// flips the top-1 class of a few percent of images, which the `.nqm`
    /// check (≥ 99 % agreement) refuses; seed 1 agrees on all.
    pub fn mlperf_tiny_resnet8() -> Self {
        ResNetSpec {
            family: Family::Plain,
            widths: [16, 32, 64, 64],
            blocks: [1, 1, 1, 0],
            in_channels: 3,
            size: 32,
            classes: 10,
            imagenet_stem: false,
            gelu: false,
            explicit_bn: false,
            flatten_head: false,
            zero_pad_blurs: false,
            seed: 1,
        }
    }
}

struct Builder {
    g: GraphProto,
    rng: ChaCha8Rng,
    n: usize,
    spec: ResNetSpec,
}

impl Builder {
    fn name(&mut self, base: &str) -> String {
        self.n += 1;
        format!("/{base}_{}", self.n)
    }

    fn init(&mut self, base: &str, t: Tensor) -> String {
        let name = self.name(base);
        self.g.initializer.push(t.to_proto(&name));
        name
    }

    fn randn(&mut self, n: usize, std: f32) -> Vec<f32> {
        (0..n).map(|_| gaussian(&mut self.rng) * std).collect()
    }

    fn op(
        &mut self,
        op: &str,
        inputs: &[&str],
        attrs: Vec<nyquist_onnx::pb::AttributeProto>,
    ) -> String {
        let name = self.name(op);
        let out = format!("{name}_output_0");
        self.g.node.push(node(op, &name, inputs, &[&out], attrs));
        out
    }

    /// Conv with random weights (He init), BN folded (random bias) or explicit BN.
    #[allow(clippy::too_many_arguments)] // mirrors nn.Conv2d's own argument list
    fn conv(
        &mut self,
        x: &str,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        pad: usize,
        gain: f32,
    ) -> String {
        let std = gain * (2.0 / (cin * k * k) as f32).sqrt();
        let w = self.randn(cout * cin * k * k, std);
        let w = self.init("w", Tensor::f32(vec![cout, cin, k, k], w));
        let attrs = vec![
            make_ints("dilations", &[1, 1]),
            make_int("group", 1),
            make_ints("kernel_shape", &[k as i64, k as i64]),
            make_ints("pads", &[pad as i64; 4]),
            make_ints("strides", &[stride as i64, stride as i64]),
        ];
        if self.spec.explicit_bn {
            let y = self.op("Conv", &[x, &w], attrs);
            self.bn(&y, cout)
        } else {
            let b = self.randn(cout, 0.1);
            let b = self.init("b", Tensor::f32(vec![cout], b));
            self.op("Conv", &[x, &w, &b], attrs)
        }
    }

    fn bn(&mut self, x: &str, c: usize) -> String {
        let gamma: Vec<f32> = (0..c).map(|_| self.rng.random_range(0.5..1.5)).collect();
        let beta = self.randn(c, 0.1);
        let mean = self.randn(c, 0.1);
        let var: Vec<f32> = (0..c).map(|_| self.rng.random_range(0.5..1.5)).collect();
        let names: Vec<String> = [
            ("gamma", gamma),
            ("beta", beta),
            ("mean", mean),
            ("var", var),
        ]
        .into_iter()
        .map(|(n, v)| self.init(n, Tensor::f32(vec![c], v)))
        .collect();
        self.op(
            "BatchNormalization",
            &[x, &names[0], &names[1], &names[2], &names[3]],
            vec![make_float("epsilon", 1e-5)],
        )
    }

    fn act(&mut self, x: &str) -> String {
        if !self.spec.gelu {
            return self.op("Relu", &[x], vec![]);
        }
        // PyTorch < opset 20: x * 0.5 * (1 + erf(x / sqrt(2)))
        let s2 = self.init("sqrt2", Tensor::f32(vec![], vec![std::f32::consts::SQRT_2]));
        let one = self.init("one", Tensor::f32(vec![], vec![1.0]));
        let half = self.init("half", Tensor::f32(vec![], vec![0.5]));
        let d = self.op("Div", &[x, &s2], vec![]);
        let e = self.op("Erf", &[&d], vec![]);
        let a = self.op("Add", &[&e, &one], vec![]);
        let m = self.op("Mul", &[x, &a], vec![]);
        self.op("Mul", &[&m, &half], vec![])
    }

    /// Blur with stride; `pads` = (top/left, bottom/right); `reflect` emits a Pad node.
    #[allow(clippy::too_many_arguments)] // one flag per way exporters differ
    fn blur(
        &mut self,
        x: &str,
        c: usize,
        k: usize,
        stride: usize,
        pads: (usize, usize),
        reflect: bool,
        affine: bool,
    ) -> String {
        let ker = Kernel2d::binomial(k);
        let mut w = ker.depthwise_weight(c);
        let mut inputs = vec![];
        let bias = if affine {
            // An exporter-folded BatchNorm: per-channel scale and bias.
            let scale: Vec<f32> = (0..c).map(|_| self.rng.random_range(0.5..1.5)).collect();
            for (ch, s) in scale.iter().enumerate() {
                for t in &mut w[ch * k * k..(ch + 1) * k * k] {
                    *t *= s;
                }
            }
            let b = self.randn(c, 0.1);
            Some(self.init("blur_b", Tensor::f32(vec![c], b)))
        } else {
            None
        };
        let wn = self.init("blur", Tensor::f32(vec![c, 1, k, k], w));
        let (mut src, mut conv_pads) = (
            x.to_string(),
            [pads.0 as i64, pads.0 as i64, pads.1 as i64, pads.1 as i64],
        );
        if reflect {
            let p = self.init(
                "pads",
                Tensor::i64(
                    vec![8],
                    vec![
                        0,
                        0,
                        pads.0 as i64,
                        pads.0 as i64,
                        0,
                        0,
                        pads.1 as i64,
                        pads.1 as i64,
                    ],
                ),
            );
            src = self.op("Pad", &[x, &p], vec![make_string("mode", "reflect")]);
            conv_pads = [0; 4];
        }
        inputs.push(src.as_str());
        inputs.push(wn.as_str());
        if let Some(b) = &bias {
            inputs.push(b);
        }
        let attrs = vec![
            make_ints("dilations", &[1, 1]),
            make_int("group", c as i64),
            make_ints("kernel_shape", &[k as i64, k as i64]),
            make_ints("pads", &conv_pads),
            make_ints("strides", &[stride as i64, stride as i64]),
        ];
        self.op("Conv", &inputs, attrs)
    }

    fn block(&mut self, x: &str, cin: usize, cout: usize, stride: usize) -> String {
        let fam = self.spec.family;
        let down = stride != 1;
        let main = if !down || fam == Family::Plain {
            let y = self.conv(x, cin, cout, 3, stride, 1, 1.0);
            let y = self.act(&y);
            self.conv(&y, cout, cout, 3, 1, 1, 0.5)
        } else {
            match fam {
                Family::BlurAfterConv => {
                    let y = self.conv(x, cin, cout, 3, 1, 1, 1.0);
                    let reflect = !self.spec.zero_pad_blurs;
                    let y = self.blur(&y, cout, 3, stride, (1, 1), reflect, !self.spec.explicit_bn);
                    let y = self.act(&y);
                    self.conv(&y, cout, cout, 3, 1, 1, 0.5)
                }
                Family::AntialiasedCnns | Family::TimmResnetBlur => {
                    let y = self.conv(x, cin, cout, 3, 1, 1, 1.0);
                    let y = self.act(&y);
                    let (k, pads) = if fam == Family::AntialiasedCnns {
                        (4, (1, 2))
                    } else {
                        (3, (1, 1))
                    };
                    let y = self.blur(&y, cout, k, stride, pads, true, false);
                    self.conv(&y, cout, cout, 3, 1, 1, 0.5)
                }
                Family::ComposerBlurConv => {
                    let y = self.blur(x, cin, 3, 1, (1, 1), false, false);
                    let y = self.conv(&y, cin, cout, 3, stride, 1, 1.0);
                    let y = self.act(&y);
                    self.conv(&y, cout, cout, 3, 1, 1, 0.5)
                }
                Family::Plain => unreachable!("handled above"),
            }
        };
        let short = if !down && cin == cout {
            x.to_string()
        } else if !down
            || matches!(
                fam,
                Family::Plain | Family::TimmResnetBlur | Family::ComposerBlurConv
            )
        {
            self.conv(x, cin, cout, 1, stride, 0, 1.0)
        } else if fam == Family::BlurAfterConv {
            let y = self.conv(x, cin, cout, 1, 1, 0, 1.0);
            let reflect = !self.spec.zero_pad_blurs;
            self.blur(&y, cout, 3, stride, (1, 1), reflect, !self.spec.explicit_bn)
        } else {
            let y = self.blur(x, cin, 4, stride, (1, 2), true, false);
            self.conv(&y, cin, cout, 1, 1, 0, 1.0)
        };
        let s = self.op("Add", &[&main, &short], vec![]);
        self.act(&s)
    }
}

fn value_info(name: &str, dims: &[Option<usize>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| tensor_shape_proto::Dimension {
            value: Some(match d {
                Some(v) => tensor_shape_proto::dimension::Value::DimValue(*v as i64),
                None => tensor_shape_proto::dimension::Value::DimParam("batch".into()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Build the model (opset 17, input `input` `[batch, C, S, S]`, output `logits`).
pub fn resnet(spec: &ResNetSpec) -> Model {
    let mut b = Builder {
        g: GraphProto {
            name: Some("nyquist-synth".into()),
            ..Default::default()
        },
        rng: ChaCha8Rng::seed_from_u64(spec.seed),
        n: 0,
        spec: spec.clone(),
    };
    let w = spec.widths;
    let mut x = if spec.imagenet_stem {
        let y = b.conv("input", spec.in_channels, w[0], 7, 2, 3, 1.0);
        let y = b.act(&y);
        // Composer blurs only in front of strided convs: its max-pool stays strided.
        let pool_stride = if matches!(spec.family, Family::Plain | Family::ComposerBlurConv) {
            2
        } else {
            1
        };
        let (k, pads) = if spec.family == Family::AntialiasedCnns {
            (2, [0i64, 0, 1, 1])
        } else {
            (3, [1i64; 4])
        };
        let y = b.op(
            "MaxPool",
            &[&y],
            vec![
                make_ints("kernel_shape", &[k, k]),
                make_ints("pads", &pads),
                make_ints("strides", &[pool_stride, pool_stride]),
            ],
        );
        match spec.family {
            Family::Plain | Family::ComposerBlurConv => y,
            Family::AntialiasedCnns => b.blur(&y, w[0], 4, 2, (1, 2), true, false),
            _ => b.blur(&y, w[0], 3, 2, (1, 1), true, false),
        }
    } else {
        let y = b.conv("input", spec.in_channels, w[0], 3, 1, 1, 1.0);
        b.act(&y)
    };
    let mut cin = w[0];
    for (i, &cout) in w.iter().enumerate() {
        for j in 0..spec.blocks[i] {
            let stride = if i > 0 && j == 0 { 2 } else { 1 };
            x = b.block(&x, cin, cout, stride);
            cin = cout;
        }
    }
    let (p, k) = if spec.flatten_head {
        // Each stage after the first that has blocks halves the map.
        let downs = (1..4).filter(|&i| spec.blocks[i] > 0).count();
        let side = spec
            .size
            .div_ceil((if spec.imagenet_stem { 4 } else { 1 }) << downs);
        (x, cin * side * side)
    } else {
        (b.op("GlobalAveragePool", &[&x], vec![]), cin)
    };
    let f = b.op("Flatten", &[&p], vec![make_int("axis", 1)]);
    let fw = b.randn(spec.classes * k, (1.0 / k as f32).sqrt());
    let fw = b.init("fc_w", Tensor::f32(vec![spec.classes, k], fw));
    let fb = b.init(
        "fc_b",
        Tensor::f32(vec![spec.classes], vec![0.0; spec.classes]),
    );
    let name = b.name("Gemm");
    b.g.node.push(node(
        "Gemm",
        &name,
        &[&f, &fw, &fb],
        &["logits"],
        vec![
            make_float("alpha", 1.0),
            make_float("beta", 1.0),
            make_int("transB", 1),
        ],
    ));
    b.g.input.push(value_info(
        "input",
        &[
            None,
            Some(spec.in_channels),
            Some(spec.size),
            Some(spec.size),
        ],
    ));
    b.g.output
        .push(value_info("logits", &[None, Some(spec.classes)]));
    let proto = ModelProto {
        ir_version: Some(8),
        producer_name: Some("nyquist-synth".into()),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(17),
        }],
        graph: Some(b.g),
        metadata_props: vec![StringStringEntryProto {
            key: Some("nyquist.input.shape".into()),
            value: Some(format!(
                "1,{},{},{}",
                spec.in_channels, spec.size, spec.size
            )),
        }],
        ..Default::default()
    };
    Model {
        proto,
        path: std::path::PathBuf::from(format!("synth-{:?}.onnx", spec.family).to_lowercase()),
    }
}
