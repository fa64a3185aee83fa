//! The converter on models exported by real PyTorch, checked against
//! onnxruntime's outputs of the *original* model (committed by
//! `models/recipe/make_fixtures.py`).

mod common;

use common::*;
use nyquist_convert::blur::{detect, Neighbour, Strategy};
use nyquist_convert::{convert, BlurMode};
use nyquist_onnx::load_model;

const TOL: f64 = 1e-4;

/// BN folding, pad folding and separating exporter-folded BN from blurs are exact.
#[test]
fn preparation_alone_matches_onnxruntime() {
    for f in fixtures() {
        let m = load_model(&f.model).unwrap();
        let c = convert(&m, &opts(BlurMode::Off, &f.input.dims)).unwrap();
        let out = run_tract(&c.model, &f.input, &[]);
        let d = rel_dev(
            &out["logits"].data,
            f.logits.as_f32().unwrap(),
            usize::MAX,
            None,
        );
        assert!(
            d < TOL,
            "{}: prepared model deviates from onnxruntime by {d:.2e}",
            f.name
        );
    }
}

/// Every applicable rewrite, applied alone, reproduces onnxruntime's tensor of the
/// original model on the interior of its region.
#[test]
fn every_rewrite_matches_onnxruntime_on_the_interior() {
    let mut checked = 0;
    for f in fixtures() {
        let m = load_model(&f.model).unwrap();
        checked += check_every_rewrite(&m, &f.input, TOL, &|name| f.tensors.get(name).cloned());
    }
    assert!(checked >= 20, "only {checked} rewrites checked");
}

/// `auto` on BlurAfterConv leaves no blur behind a stride-1 conv, cuts MACs,
/// and the converted model still classifies like onnxruntime's original.
#[test]
fn auto_removes_every_blur_after_a_stride_1_conv() {
    for f in fixtures()
        .into_iter()
        .filter(|f| f.name.starts_with("blurafterconv"))
    {
        let m = load_model(&f.model).unwrap();
        let c = convert(&m, &opts(BlurMode::Auto, &f.input.dims)).unwrap();
        let (after, _) = detect(c.model.graph.as_ref().unwrap(), None).unwrap();
        let left: Vec<_> = after
            .iter()
            .filter(|s| {
                s.stride != [1, 1]
                    && matches!(&s.before, Neighbour::Conv { geom, .. } if geom.is_unit_stride())
            })
            .map(|s| s.node.clone())
            .collect();
        assert!(
            left.is_empty(),
            "{}: blurs still after stride-1 convs: {left:?}",
            f.name
        );
        let r = &c.report;
        assert!(
            r.layers.total_after.macs < r.layers.total_before.macs,
            "{}: MACs did not drop",
            f.name
        );
        let kept: Vec<_> = r
            .decisions
            .iter()
            .filter(|d| d.chosen == Strategy::Keep)
            .map(|d| d.site.before.describe())
            .collect();
        assert!(
            kept.iter().all(|k| k == "MaxPool"),
            "{}: kept blurs not after max-pool: {kept:?}",
            f.name
        );
        let out = run_tract(&c.model, &f.input, &[]);
        let classes = *f.logits.dims.last().unwrap();
        let a = argmax_rows(&out["logits"].data, classes);
        let b = argmax_rows(f.logits.as_f32().unwrap(), classes);
        let agree = a.iter().zip(&b).filter(|(x, y)| x == y).count();
        assert!(
            agree * 4 >= 3 * a.len(),
            "{}: top-1 agreement {agree}/{}",
            f.name,
            a.len()
        );
    }
}

/// Each family is recognised as such.
#[test]
fn families_are_recognised() {
    use nyquist_convert::blur::Family::*;
    let expect = [
        ("antialiased_cnns", AntialiasedCnns),
        ("blurafterconv_cifar", BlurAfterConv),
        ("blurafterconv_imagenet", BlurAfterConv),
        ("composer_blurconv", ComposerBlurConv),
        ("timm_resnetblur", TimmResnetBlur),
    ];
    for (name, fam) in expect {
        let m = load_model(&fixtures_dir().join(name).join("model.onnx")).unwrap();
        let (sites, rejected) = detect(m.proto.graph.as_ref().unwrap(), None).unwrap();
        assert!(rejected.is_empty(), "{name}: {rejected:?}");
        assert!(
            sites.iter().all(|s| s.family == fam),
            "{name}: {:?}",
            sites
                .iter()
                .map(|s| (&s.node, s.family))
                .collect::<Vec<_>>()
        );
    }
}
