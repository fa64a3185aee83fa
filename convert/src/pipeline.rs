//! The conversion pipeline: prepare (constant-fold pads, fold BN, separate BN
//! folded into blurs), detect blurs, price and test every rewrite, choose per
//! blur, apply, clean up (merge duplicates, share blurs, drop dead nodes), and
//! verify the result end to end.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use prost::Message;

use crate::blur::{self, rewrite, BlurSite, Rewrite, Strategy};
use crate::cost::{region_cost, Cost};
use crate::error::ConvertError;
pub use crate::plan::{
    BlurMode, Candidate, Decision, Guard, Options, RandomGuard, DEFAULT_MAX_RANDOM_DEVIATION,
    NO_REAL_IMAGES,
};
use crate::report::{layer_table, Report};
use crate::verify::{self, Samples};
use nyquist_onnx::error::Located as _;
use nyquist_onnx::graph::{toposort, GraphIndex, Namer};
use nyquist_onnx::passes::{const_fold, cse, dce, fold_bn};
use nyquist_onnx::pb::{ModelProto, StringStringEntryProto};
use nyquist_onnx::{Model, Tensor};

/// A converted model and its report.
#[derive(Debug, Clone)]
pub struct Conversion {
    /// The converted model.
    pub model: ModelProto,
    /// Everything found, decided and measured.
    pub report: Report,
}

/// Resolve the input shape: options, then `nyquist.input.shape`, then the graph
/// input with a symbolic batch set to 1.
pub fn input_shape(model: &Model, opts: &Options) -> Result<Vec<usize>, ConvertError> {
    if let Some(s) = &opts.input_shape {
        return Ok(s.clone());
    }
    let info = nyquist_runtime::ModelInfo::from_onnx_bytes(&model.inlined_bytes()?, &model.path)
        .map_err(|e| nyquist_onnx::OnnxError::Invalid {
            path: model.path.clone(),
            what: e.to_string(),
        })?;
    info.input_shape()
        .map_err(|e| ConvertError::Usage(format!("{}: {e}", model.path.display())))
}

/// Run the whole conversion.
pub fn convert(model: &Model, opts: &Options) -> Result<Conversion, ConvertError> {
    opts.validate()?;
    let base = model.base_dir().map(PathBuf::from);
    let base = base.as_deref();
    let shape = input_shape(model, opts)?;
    let original = model.inlined()?;
    let mut report = Report::new(model, &shape, opts);

    // Prepare.
    let mut prepared = original.clone();
    let g = prepared
        .graph
        .as_mut()
        .ok_or_else(|| ConvertError::graph("no graph"))?;
    let live_before = dce::liveness(g);
    let cf = const_fold::fold_pad_inputs(g, base)?;
    report.pads_folded = cf.folded;
    for (node, why) in cf.dynamic {
        report
            .notes
            .push(format!("Pad `{node}`: {why}; blurs behind it are kept"));
    }
    report.bn_folded = fold_bn::fold_batchnorm(g, base)?;
    dce::remove_dead(g, &live_before);
    let (sites, rejected) = blur::detect(g, base)?;
    report.rejected = rejected;
    // Only the blurs that may be rewritten get their affine moved (the move
    // is exact on the interior only for zero-padded blurs).
    let sites: Vec<BlurSite> = sites
        .into_iter()
        .filter(|s| opts.only.as_ref().is_none_or(|o| o.contains(&s.node)))
        .collect();
    let (hoisted, refused) =
        blur::affine::hoist_affine(g, &sites, base, opts.mode == BlurMode::Off)?;
    for h in hoisted.iter().filter(|h| !h.exact) {
        report.notes.push(format!(
            "blur `{}`: its BatchNorm bias moved into `{}` across a zero-padded blur — exact on the interior only; the end-to-end border deviation includes it",
            h.blur, h.into
        ));
    }
    report.affine_separated = hoisted;
    for (node, why) in refused {
        report.notes.push(format!("blur `{node}`: {why}"));
    }
    dce::remove_dead(g, &live_before);
    let (sites, _) = blur::detect(g, base)?;
    let unsupported = unsupported_ops(g);
    if !unsupported.is_empty() {
        report.notes.push(format!(
            "operators the passes do not rewrite (left untouched): {}",
            unsupported.join(", ")
        ));
    }

    // Candidates and their costs.
    let prepared_bytes = prepared.encode_to_vec();
    let shapes = crate::shapes::infer(&prepared_bytes, &shape)?;
    let pg = prepared
        .graph
        .as_ref()
        .ok_or_else(|| ConvertError::graph("no graph"))?;
    let mut namer = Namer::new(pg);
    let mut built: Vec<Vec<(Strategy, Result<Rewrite, String>)>> = Vec::new();
    for site in &sites {
        let selected = opts.only.as_ref().is_none_or(|o| o.contains(&site.node));
        let mut v = Vec::new();
        for s in Strategy::REWRITES {
            let r = if opts.mode == BlurMode::Off {
                Err("--fold-blur=off".to_string())
            } else if !selected {
                Err("not selected by --only-blur".to_string())
            } else {
                rewrite::build(s, pg, site, base, &mut namer)
            };
            v.push((s, r));
        }
        built.push(v);
    }

    // Samples and captured region tensors.
    let mut samples = Samples::random(opts.random_samples, shape.iter().product(), opts.seed);
    if let Some(extra) = &opts.extra_samples {
        samples.extend(extra.clone());
    }
    if samples.is_empty() {
        return Err(ConvertError::Usage(
            "no samples to verify on (--samples 0 and no --eval)".into(),
        ));
    }
    let mut wanted: Vec<String> = Vec::new();
    for rw in built.iter().flatten().filter_map(|(_, r)| r.as_ref().ok()) {
        wanted.push(rw.input.clone());
        wanted.push(rw.output.clone());
    }
    wanted.sort();
    wanted.dedup();
    let captured = verify::capture(&prepared, &wanted, &shape, &samples)?;

    // Price and test.
    let pix = GraphIndex::new(pg);
    let lookup_in = |extra: &[nyquist_onnx::pb::TensorProto], name: &str| -> Option<Tensor> {
        extra
            .iter()
            .find(|t| t.name() == name)
            .and_then(|t| Tensor::from_proto(t, None).ok())
            .or_else(|| pix.const_value(pg, name, base).ok().flatten())
    };
    let mut decisions = Vec::new();
    for (site, cands) in sites.iter().zip(built) {
        let mut candidates = Vec::new();
        let mut keep_costs: HashMap<Strategy, Cost> = HashMap::new();
        let mut rewrites: HashMap<Strategy, Rewrite> = HashMap::new();
        for (s, r) in cands {
            match r {
                Err(why) => candidates.push(Candidate {
                    strategy: s,
                    cost: None,
                    deviation: None,
                    unavailable: Some(why),
                }),
                Ok(rw) => {
                    let x_shape = shapes.get(&rw.input).cloned().unwrap_or_default();
                    let cost = region_cost(
                        &rw.nodes,
                        &|n| lookup_in(&rw.initializers, n),
                        &rw.input,
                        &x_shape,
                        &rw.output,
                    );
                    let keep = rewrite::keep_of(pg, &rw);
                    let kc = region_cost(
                        &keep.nodes,
                        &|n| lookup_in(&[], n),
                        &rw.input,
                        &x_shape,
                        &rw.output,
                    );
                    let dev = verify::check_rewrite(
                        &prepared,
                        &rw,
                        &captured[&rw.input],
                        &captured[&rw.output],
                    );
                    match (cost, kc, dev) {
                        (Ok(c), Ok(k), Ok(d)) => {
                            keep_costs.insert(s, k);
                            candidates.push(Candidate {
                                strategy: s,
                                cost: Some(c),
                                deviation: Some(d),
                                unavailable: None,
                            });
                            rewrites.insert(s, rw);
                        }
                        (c, k, d) => {
                            let why = [c.err(), k.err(), d.err().map(|e| e.to_string())]
                                .into_iter()
                                .flatten()
                                .collect::<Vec<_>>()
                                .join("; ");
                            candidates.push(Candidate {
                                strategy: s,
                                cost: None,
                                deviation: None,
                                unavailable: Some(why),
                            });
                        }
                    }
                }
            }
        }
        let (chosen, why) = if opts.only.as_ref().is_none_or(|o| o.contains(&site.node)) {
            choose(opts, &candidates, &keep_costs)
        } else {
            (Strategy::Keep, "kept: not selected by --only-blur".into())
        };
        let keep_cost = keep_costs
            .get(&chosen)
            .or_else(|| keep_costs.get(&Strategy::Commute))
            .or_else(|| keep_costs.values().next())
            .copied();
        decisions.push((
            Decision {
                site: site.clone(),
                keep_cost,
                candidates,
                chosen,
                why,
            },
            rewrites,
        ));
    }

    let mut converted = apply_plan(&prepared, &mut decisions, &live_before, base, &mut report)?;

    // The guards (`auto`): the plan is bounded on the interior only, and on
    // small feature maps the border band is most of the map. With real
    // images top-1 must agree with the original on them; without, the whole
    // plan's deviation on the random inputs must stay within a bound. If
    // not, walk the plan back one rewrite at a time, largest border
    // deviation first.
    let out_name = original
        .graph
        .as_ref()
        .and_then(|g| g.output.first())
        .map(|o| o.name().to_string())
        .unwrap_or_default();
    let real = opts.extra_samples.as_ref().map_or(0, Samples::len);
    let capture_out =
        |m: &ModelProto| verify::capture(m, std::slice::from_ref(&out_name), &shape, &samples);
    let a = capture_out(&original)?;
    // The converted model's outputs on every sample: the guard measures its
    // agreement on the real ones, and the end-to-end check reuses the last
    // capture instead of running the final model again.
    let mut b_conv = None;
    let agreement_on_real = |b: &verify::Captured| -> Result<f64, ConvertError> {
        let from = samples.len() - real;
        verify::end_to_end(&a[&out_name][from..], &b[&out_name][from..], &[])
            .map(|e| e.top1_agreement)
            .map_err(ConvertError::graph)
    };
    // Walk the plan back one rewrite at a time, largest border deviation
    // first, until `holds(measure(converted model's outputs))`; returns the
    // measure before and after and the blurs walked back. `why` explains a
    // walked-back blur: (measure, decision, its border deviation).
    let border = |d: &Decision| {
        d.candidate(d.chosen)
            .and_then(|c| c.deviation)
            .map_or(0.0, |dev| dev.border_rel)
    };
    let mut walk_back = |measure: &dyn Fn(&verify::Captured) -> Result<f64, ConvertError>,
                         holds: &dyn Fn(f64) -> bool,
                         why: &dyn Fn(f64, &Decision, f64) -> String|
     -> Result<(f64, f64, Vec<String>), ConvertError> {
        let b = capture_out(&converted)?;
        let before = measure(&b)?;
        b_conv = Some(b);
        let (mut now, mut walked) = (before, Vec::new());
        let mut order: Vec<usize> = (0..decisions.len())
            .filter(|&i| decisions[i].0.chosen != Strategy::Keep)
            .collect();
        order.sort_by(|&x, &y| border(&decisions[y].0).total_cmp(&border(&decisions[x].0)));
        for i in order {
            if holds(now) {
                break;
            }
            let d = &mut decisions[i].0;
            d.why = why(now, d, border(d));
            walked.push(d.site.node.clone());
            d.chosen = Strategy::Keep;
            converted = apply_plan(&prepared, &mut decisions, &live_before, base, &mut report)?;
            let b = capture_out(&converted)?;
            now = measure(&b)?;
            b_conv = Some(b);
        }
        Ok((before, now, walked))
    };
    if opts.mode == BlurMode::Auto && real == 0 {
        // No real images: bound the whole plan's deviation on the random
        // inputs instead (a proxy measured on trained models, see
        // `DEFAULT_MAX_RANDOM_DEVIATION`).
        let bound = opts.max_random_deviation;
        if bound.is_finite() {
            let deviation = |b: &verify::Captured| -> Result<f64, ConvertError> {
                verify::end_to_end(&a[&out_name], &b[&out_name], &[])
                    .map(|e| e.max_rel)
                    .map_err(ConvertError::graph)
            };
            let (before, after, walked_back) = walk_back(
                &deviation,
                &|x| x <= bound,
                &|x, d, bd| {
                    format!(
                    "kept by the random-input guard (no real images): with this plan the end-to-end deviation on {} random inputs was {x:.4} (> --max-random-deviation {bound}); its {} had the largest border deviation left ({bd:.2e})",
                    samples.len(),
                    d.chosen.name(),
                )
                },
            )?;
            report.random_guard = Some(RandomGuard {
                samples: samples.len(),
                max_deviation: bound,
                before,
                after,
                walked_back,
            });
        }
        report.notes.push(NO_REAL_IMAGES.into());
    } else if opts.mode == BlurMode::Auto {
        let min = opts.min_agreement;
        let (before, after, walked_back) = walk_back(
            &agreement_on_real,
            &|x| x >= min,
            &|x, d, bd| {
                format!(
                "kept by the agreement guard: with this plan top-1 agreed with the original on {:.2} % of {real} real images (< --min-agreement {:.2} %); its {} had the largest border deviation left ({bd:.2e})",
                100.0 * x,
                100.0 * min,
                d.chosen.name(),
            )
            },
        )?;
        report.guard = Some(Guard {
            images: real,
            min_agreement: min,
            before,
            after,
            walked_back,
        });
    }
    let decisions: Vec<Decision> = decisions.into_iter().map(|(d, _)| d).collect();

    // Verify end to end (original, not prepared, as the reference).
    let b = match b_conv {
        Some(b) => b,
        None => capture_out(&converted)?,
    };
    report.end_to_end = Some(
        verify::end_to_end(&a[&out_name], &b[&out_name], &samples.labels)
            .map_err(ConvertError::graph)?,
    );
    report.samples = samples.len();
    report.layers = layer_table(&original, &converted, &shape)?;
    report.decisions = decisions;
    report.finish(opts);
    add_provenance(&mut converted, model, &report);
    Ok(Conversion {
        model: converted,
        report,
    })
}

/// Apply the chosen rewrites to a copy of `prepared` and clean up. Two
/// rewrites replacing the same node: the larger saving wins, the other blur
/// is kept (its decision says so).
fn apply_plan(
    prepared: &ModelProto,
    decisions: &mut [(Decision, HashMap<Strategy, Rewrite>)],
    live_before: &dce::Liveness,
    base: Option<&std::path::Path>,
    report: &mut Report,
) -> Result<ModelProto, ConvertError> {
    let mut order: Vec<usize> = (0..decisions.len()).collect();
    let saving = |d: &Decision| -> f64 {
        match (d.keep_cost, d.candidate(d.chosen).and_then(|c| c.cost)) {
            (Some(k), Some(c)) => k.score() - c.score(),
            _ => 0.0,
        }
    };
    order.sort_by(|&a, &b| saving(&decisions[b].0).total_cmp(&saving(&decisions[a].0)));
    let mut claimed: HashMap<String, String> = HashMap::new();
    let mut converted = prepared.clone();
    let cg = converted
        .graph
        .as_mut()
        .ok_or_else(|| ConvertError::graph("no graph"))?;
    for i in order {
        let (d, rws) = &mut decisions[i];
        if d.chosen == Strategy::Keep {
            continue;
        }
        let rw = &rws[&d.chosen];
        if let Some(other) = rw.remove.iter().find_map(|n| claimed.get(n)) {
            d.why = format!(
                "kept: its {} would replace nodes that blur `{other}`'s rewrite already replaces",
                d.chosen.name()
            );
            d.chosen = Strategy::Keep;
            continue;
        }
        for n in &rw.remove {
            claimed.insert(n.clone(), d.site.node.clone());
        }
        rewrite::apply(cg, rw).map_err(ConvertError::graph)?;
    }
    report.merged = cse::merge_duplicates(cg, base)?;
    report.shared = blur::share::share_blurs(cg, base)?;
    dce::remove_dead(cg, live_before);
    toposort(cg)?;
    Ok(converted)
}

/// Pick a strategy for one blur.
fn choose(
    opts: &Options,
    cands: &[Candidate],
    keep: &HashMap<Strategy, Cost>,
) -> (Strategy, String) {
    if let Some(forced) = opts.mode.forced() {
        return match cands.iter().find(|c| c.strategy == forced) {
            Some(c) if c.unavailable.is_none() => {
                (forced, format!("--fold-blur={}", forced.name()))
            }
            Some(c) => (
                Strategy::Keep,
                format!(
                    "kept: {} impossible ({})",
                    forced.name(),
                    c.unavailable.clone().unwrap_or_default()
                ),
            ),
            None => (Strategy::Keep, "kept".into()),
        };
    }
    if opts.mode == BlurMode::Off {
        return (Strategy::Keep, "kept: --fold-blur=off".into());
    }
    let mut best: Option<(&Candidate, Cost, f64)> = None;
    let mut notes = Vec::new();
    for c in cands {
        let (Some(cost), Some(dev)) = (c.cost, c.deviation) else {
            notes.push(format!(
                "{}: {}",
                c.strategy.name(),
                c.unavailable.clone().unwrap_or_default()
            ));
            continue;
        };
        let Some(k) = keep.get(&c.strategy) else {
            continue;
        };
        if dev.interior_rel > opts.tolerance {
            notes.push(format!(
                "{}: interior deviation {:.2e} > tolerance {:.0e}",
                c.strategy.name(),
                dev.interior_rel,
                opts.tolerance
            ));
            continue;
        }
        let ratio = cost.score() / k.score().max(1.0);
        if ratio >= 1.0 {
            notes.push(format!(
                "{}: costs {:.2}x keeping the blur",
                c.strategy.name(),
                ratio
            ));
            continue;
        }
        if best.is_none_or(|(_, _, r)| ratio < r) {
            best = Some((c, cost, ratio));
        }
    }
    match best {
        Some((c, cost, ratio)) => (
            c.strategy,
            format!(
                "cheapest within tolerance: {:.2}x the cost of keeping ({} MACs)",
                ratio, cost.macs
            ),
        ),
        None => (
            Strategy::Keep,
            format!(
                "kept: {}",
                if notes.is_empty() {
                    "no rewrite applies".into()
                } else {
                    notes.join("; ")
                }
            ),
        ),
    }
}

/// Operators outside what the converter reasons about (reported, never changed).
fn unsupported_ops(g: &nyquist_onnx::pb::GraphProto) -> Vec<String> {
    const KNOWN: [&str; 30] = [
        "Conv",
        "Pad",
        "BatchNormalization",
        "Relu",
        "Add",
        "Mul",
        "Div",
        "Erf",
        "Sigmoid",
        "MaxPool",
        "AveragePool",
        "GlobalAveragePool",
        "Flatten",
        "Gemm",
        "MatMul",
        "Identity",
        "Constant",
        "Reshape",
        "Concat",
        "Slice",
        "Transpose",
        "Cast",
        "ConstantOfShape",
        "Shape",
        "Gather",
        "Unsqueeze",
        "Squeeze",
        "Clip",
        "Sub",
        "Softmax",
    ];
    let mut v: Vec<String> = g
        .node
        .iter()
        .map(|n| n.op_type().to_string())
        .filter(|o| !KNOWN.contains(&o.as_str()))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    v.sort();
    v
}

fn add_provenance(m: &mut ModelProto, src: &Model, report: &Report) {
    let mut set = |k: &str, v: String| {
        m.metadata_props.retain(|p| p.key() != k);
        m.metadata_props.push(StringStringEntryProto {
            key: Some(k.into()),
            value: Some(v),
        });
    };
    set(
        "nyquist.convert.tool",
        format!("nyquist-convert {}", env!("CARGO_PKG_VERSION")),
    );
    set(
        "nyquist.convert.source",
        format!(
            "{} sha256:{}",
            src.path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            report.source_sha256
        ),
    );
    set("nyquist.convert.blur", report.summary.clone());
    if let Some(e) = &report.end_to_end {
        set(
            "nyquist.convert.verified",
            format!(
                "{} samples, top-1 agreement {:.4}, max rel output deviation {:.2e}",
                e.samples, e.top1_agreement, e.max_rel
            ),
        );
    }
}
