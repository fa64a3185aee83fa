//! The conversion report: Markdown for people, JSON for programs.

use std::fmt::Write as _;

use prost::Message;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::blur::affine::Hoisted;
use crate::blur::{Rejected, Strategy};
use crate::cost::conv_macs;
use crate::error::ConvertError;
use crate::plan::{BlurMode, Decision, Options};
use crate::verify::EndToEnd;
use nyquist_onnx::conv::ConvGeom;
use nyquist_onnx::error::Located as _;
use nyquist_onnx::graph::{node_label, GraphIndex};
use nyquist_onnx::pb::ModelProto;
use nyquist_onnx::Model;

/// MACs and parameters of one layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LayerCost {
    /// Multiply-accumulates per inference (batch as given).
    pub macs: u64,
    /// Weight and bias elements.
    pub params: u64,
}

/// One row of the per-layer table.
#[derive(Debug, Clone, Serialize)]
pub struct LayerRow {
    /// Node name.
    pub name: String,
    /// Operator (and kernel / stride for convs) before and after.
    pub op: String,
    /// In the original model.
    pub before: Option<LayerCost>,
    /// In the converted model.
    pub after: Option<LayerCost>,
}

/// Per-layer MACs and parameters before and after, with totals.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LayerTable {
    /// Rows in graph order (original layers, then layers that only exist after).
    pub rows: Vec<LayerRow>,
    /// Total of the original.
    pub total_before: LayerCost,
    /// Total of the converted model.
    pub total_after: LayerCost,
}

/// Everything the converter found, decided and measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Input model path.
    pub source: String,
    /// SHA-256 of the input model file.
    pub source_sha256: String,
    /// Default-domain opset.
    pub opset: i64,
    /// Input shape used.
    pub input_shape: Vec<usize>,
    /// `--fold-blur` mode.
    pub mode: BlurMode,
    /// `--tolerance`.
    pub tolerance: f64,
    /// Number of verification samples.
    pub samples: usize,
    /// `Pad` nodes whose computed pads were constant-folded.
    pub pads_folded: Vec<String>,
    /// BatchNormalization nodes folded into convs.
    pub bn_folded: Vec<String>,
    /// BatchNorms separated from blurs and moved into the conv in front.
    pub affine_separated: Vec<Hoisted>,
    /// Blur-like depthwise convs that are not blurs.
    pub rejected: Vec<Rejected>,
    /// Everything else worth saying.
    pub notes: Vec<String>,
    /// One decision per blur.
    pub decisions: Vec<Decision>,
    /// Duplicate nodes merged after rewriting.
    pub merged: Vec<String>,
    /// `(stride-s blur removed, 1×1 conv that now reads the shared stride-1 blur)`.
    pub shared: Vec<(String, String)>,
    /// Per-layer MACs and parameters.
    pub layers: LayerTable,
    /// Whole-model comparison.
    pub end_to_end: Option<EndToEnd>,
    /// The agreement guard of `auto` on real images.
    pub guard: Option<crate::plan::Guard>,
    /// The deviation guard of `auto` without real images.
    pub random_guard: Option<crate::plan::RandomGuard>,
    /// Applied rewrites whose interior deviation exceeds the tolerance.
    pub violations: Vec<String>,
    /// One-line summary.
    pub summary: String,
    /// False if any violation.
    pub passed: bool,
    /// int8 quantization and the robustness gate, when asked for.
    pub quantization: Option<QuantSection>,
}

/// SHA-256 of bytes as hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Report {
    /// An empty report for `model`.
    pub fn new(model: &Model, shape: &[usize], opts: &Options) -> Self {
        let bytes = std::fs::read(&model.path).unwrap_or_else(|_| model.proto.encode_to_vec());
        Report {
            source: model.path.display().to_string(),
            source_sha256: sha256_hex(&bytes),
            opset: model.opset(),
            input_shape: shape.to_vec(),
            mode: opts.mode,
            tolerance: opts.tolerance,
            samples: 0,
            pads_folded: vec![],
            bn_folded: vec![],
            affine_separated: vec![],
            rejected: vec![],
            notes: vec![],
            decisions: vec![],
            merged: vec![],
            shared: vec![],
            layers: LayerTable::default(),
            end_to_end: None,
            guard: None,
            random_guard: None,
            violations: vec![],
            summary: String::new(),
            passed: true,
            quantization: None,
        }
    }

    /// Compute the verdict and the summary line.
    pub fn finish(&mut self, opts: &Options) {
        self.violations = self
            .decisions
            .iter()
            .filter(|d| d.chosen != Strategy::Keep)
            .filter_map(|d| {
                let dev = d.candidate(d.chosen)?.deviation?;
                (dev.interior_rel > opts.tolerance).then(|| {
                    format!(
                        "blur `{}` ({}): interior deviation {:.3e} exceeds tolerance {:.0e}",
                        d.site.node,
                        d.chosen.name(),
                        dev.interior_rel,
                        opts.tolerance
                    )
                })
            })
            .collect();
        self.passed = self.violations.is_empty();
        let count = |s: Strategy| self.decisions.iter().filter(|d| d.chosen == s).count();
        let (b, a) = (self.layers.total_before.macs, self.layers.total_after.macs);
        self.summary = format!(
            "{} blurs: {} folded, {} commuted, {} forward-folded, {} kept; MACs {} -> {} ({:.3}x)",
            self.decisions.len(),
            count(Strategy::Fold),
            count(Strategy::Commute),
            count(Strategy::Forward),
            count(Strategy::Keep),
            b,
            a,
            if b == 0 { 1.0 } else { a as f64 / b as f64 }
        );
    }

    /// JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// The `## title` section of this report's Markdown `md` (as
    /// [`to_markdown`](Self::to_markdown) writes it), without its `###`
    /// subsections; `None` when it has no such section.
    pub fn markdown_section<'a>(md: &'a str, title: &str) -> Option<&'a str> {
        let start = md
            .match_indices("## ")
            .map(|(i, _)| i)
            .find(|&i| (i == 0 || md[..i].ends_with('\n')) && md[i + 3..].starts_with(title))?;
        let body = &md[start..];
        let end = body[3..]
            .find("\n## ")
            .into_iter()
            .chain(body[3..].find("\n### "))
            .min()
            .map_or(body.len(), |e| e + 3);
        Some(&body[..end])
    }

    /// Markdown.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# Nyquist conversion report\n");
        let _ = writeln!(
            s,
            "- source: `{}` (sha256 `{}`), opset {}",
            self.source,
            &self.source_sha256[..16.min(self.source_sha256.len())],
            self.opset
        );
        let _ = writeln!(
            s,
            "- input shape: {:?}; `--fold-blur={:?}`; tolerance {:.0e} (relative, interior)",
            self.input_shape, self.mode, self.tolerance
        );
        let _ = writeln!(s, "- **{}**", self.summary);
        let _ = writeln!(
            s,
            "- verdict: **{}**\n",
            if self.passed { "PASS" } else { "FAIL" }
        );
        for v in &self.violations {
            let _ = writeln!(s, "- FAIL: {v}");
        }
        let _ = writeln!(s, "## Blurs\n");
        let _ = writeln!(s, "| blur | family | kernel | stride | padding | before → after | decision | interior max abs Δ (rel) | border max abs Δ (rel) | MACs keep → chosen | why |");
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|");
        for d in &self.decisions {
            let site = &d.site;
            let kernel = match site.binomial {
                Some(k) => format!("{k}x{k} binomial"),
                None => format!("{}x{}", site.kernel_size[0], site.kernel_size[1]),
            };
            let (dev, cost) = d
                .candidate(d.chosen)
                .map_or((None, None), |c| (c.deviation, c.cost));
            let dev_s = |f: fn(&crate::verify::Deviation) -> (f32, f64)| {
                dev.map_or("–".into(), |d| {
                    let (a, r) = f(&d);
                    format!("{a:.2e} ({r:.1e})")
                })
            };
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {}x{} | {} {:?} | {} → {} | **{}** | {} | {} | {} → {} | {} |",
                site.node,
                site.family,
                kernel,
                site.stride[0],
                site.stride[1],
                site.pad_mode.onnx(),
                site.pads,
                site.before.describe(),
                site.after.describe(),
                d.chosen.name(),
                dev_s(|d| (d.interior_max, d.interior_rel)),
                dev_s(|d| (d.border_max, d.border_rel)),
                d.keep_cost.map_or("–".into(), |c| c.macs.to_string()),
                cost.or(if d.chosen == Strategy::Keep {
                    d.keep_cost
                } else {
                    None
                })
                .map_or("–".into(), |c| c.macs.to_string()),
                d.why.replace('|', "/")
            );
        }
        if self.decisions.is_empty() {
            let _ = writeln!(s, "_no blur found_");
        }
        let _ = writeln!(s, "\n### Candidates\n");
        let _ = writeln!(
            s,
            "| blur | rewrite | MACs | intermediate bytes | interior rel Δ | border rel Δ | note |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|");
        for d in &self.decisions {
            for c in &d.candidates {
                let _ = writeln!(
                    s,
                    "| `{}` | {} | {} | {} | {} | {} | {} |",
                    d.site.node,
                    c.strategy.name(),
                    c.cost.map_or("–".into(), |c| c.macs.to_string()),
                    c.cost.map_or("–".into(), |c| c.bytes.to_string()),
                    c.deviation
                        .map_or("–".into(), |d| format!("{:.1e}", d.interior_rel)),
                    c.deviation
                        .map_or("–".into(), |d| format!("{:.1e}", d.border_rel)),
                    c.unavailable.clone().unwrap_or_default().replace('|', "/")
                );
            }
        }
        if let Some(e) = &self.end_to_end {
            let _ = writeln!(
                s,
                "\n## End to end ({} samples, original vs converted, tract)\n",
                e.samples
            );
            let _ = writeln!(s, "- top-1 agreement: **{:.2}%**", 100.0 * e.top1_agreement);
            let _ = writeln!(
                s,
                "- max |Δ output|: {:.3e} ({:.2e} of the largest output)",
                e.max_abs, e.max_rel
            );
            if let (Some(a), Some(b)) = (e.accuracy_original, e.accuracy_converted) {
                let _ = writeln!(
                    s,
                    "- accuracy on labelled samples: original {:.2}%, converted {:.2}%",
                    100.0 * a,
                    100.0 * b
                );
            }
        }
        if let Some(g) = &self.random_guard {
            let _ = writeln!(s, "- {}", g.line());
        }
        if let Some(g) = &self.guard {
            let _ = writeln!(s, "- {}", g.line());
        }
        let _ = writeln!(s, "\n## Layers\n");
        let _ = writeln!(
            s,
            "| layer | op | MACs before | MACs after | params before | params after |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|");
        let f = |c: Option<LayerCost>, p: bool| {
            c.map_or("–".into(), |c| {
                if p { c.params } else { c.macs }.to_string()
            })
        };
        for r in &self.layers.rows {
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {} | {} | {} |",
                r.name,
                r.op,
                f(r.before, false),
                f(r.after, false),
                f(r.before, true),
                f(r.after, true)
            );
        }
        let (b, a) = (self.layers.total_before, self.layers.total_after);
        let _ = writeln!(
            s,
            "| **total** | | **{}** | **{}** | **{}** | **{}** |",
            b.macs, a.macs, b.params, a.params
        );
        if let Some(q) = &self.quantization {
            s.push_str(&quant_markdown(q));
        }
        let mut other = Vec::new();
        if !self.pads_folded.is_empty() {
            other.push(format!(
                "constant-folded pads of {} Pad nodes",
                self.pads_folded.len()
            ));
        }
        if !self.bn_folded.is_empty() {
            other.push(format!(
                "folded {} BatchNormalization nodes into convs",
                self.bn_folded.len()
            ));
        }
        for h in &self.affine_separated {
            other.push(format!(
                "separated the per-channel scale/bias (exporter-folded BatchNorm) of blur `{}` into conv `{}` ({})",
                h.blur,
                h.into,
                if h.exact { "exact" } else { "exact on the interior" }
            ));
        }
        if !self.merged.is_empty() {
            other.push(format!(
                "merged duplicate nodes: {}",
                self.merged.join(", ")
            ));
        }
        for (b, c) in &self.shared {
            other.push(format!(
                "1x1 conv `{c}` now reads the shared stride-1 blur (removed `{b}`)"
            ));
        }
        for r in &self.rejected {
            other.push(format!("`{}` is not a blur: {}", r.node, r.reason));
        }
        other.extend(self.notes.iter().cloned());
        if !other.is_empty() {
            let _ = writeln!(s, "\n## Other changes and notes\n");
            for o in other {
                let _ = writeln!(s, "- {o}");
            }
        }
        s
    }
}

/// MACs and parameters of every Conv / Gemm / MatMul node.
fn layer_costs(
    m: &ModelProto,
    shape: &[usize],
) -> Result<Vec<(String, String, LayerCost)>, ConvertError> {
    let shapes = crate::shapes::infer(&m.encode_to_vec(), shape)?;
    let g = m
        .graph
        .as_ref()
        .ok_or_else(|| ConvertError::graph("no graph"))?;
    let ix = GraphIndex::new(g);
    let mut rows = Vec::new();
    let dims_of = |name: &str| -> Option<Vec<usize>> {
        ix.const_proto(g, name)
            .map(|t| t.dims.iter().map(|&d| d as usize).collect())
            .or_else(|| shapes.get(name).cloned())
    };
    for n in &g.node {
        let params = |k: usize| {
            n.input
                .get(k)
                .filter(|s| !s.is_empty())
                .and_then(|i| ix.const_proto(g, i))
                .map_or(0, |t| t.dims.iter().product::<i64>() as u64)
        };
        let (op, cost) = match n.op_type() {
            "Conv" => {
                let (Some(w), Some(out)) = (
                    n.input.get(1).and_then(|w| dims_of(w)),
                    shapes.get(&n.output[0]),
                ) else {
                    continue;
                };
                let g = ConvGeom::of(n, Some(&w)).ok();
                let op = g.map_or("Conv".into(), |g| {
                    let dw = if g.group > 1 && g.group == w[0] {
                        " dw"
                    } else {
                        ""
                    };
                    format!("Conv{dw} {}x{}/s{}", g.kernel[0], g.kernel[1], g.strides[0])
                });
                (
                    op,
                    LayerCost {
                        macs: conv_macs(out, &w),
                        params: params(1) + params(2),
                    },
                )
            }
            "Gemm" | "MatMul" => {
                let (Some(a), Some(b)) = (
                    n.input.first().and_then(|x| dims_of(x)),
                    n.input.get(1).and_then(|x| dims_of(x)),
                ) else {
                    continue;
                };
                let k = *a.last().unwrap_or(&0);
                let m_ = a.iter().rev().skip(1).product::<usize>();
                let nn = if b.len() >= 2 && b[0] == k {
                    b[1]
                } else {
                    b[0]
                };
                (
                    n.op_type().to_string(),
                    LayerCost {
                        macs: (m_ * k * nn) as u64,
                        params: params(1) + params(2),
                    },
                )
            }
            _ => continue,
        };
        rows.push((node_label(n), op, cost));
    }
    Ok(rows)
}

/// The before/after layer table of two models.
pub fn layer_table(
    before: &ModelProto,
    after: &ModelProto,
    shape: &[usize],
) -> Result<LayerTable, ConvertError> {
    let b = layer_costs(before, shape)?;
    let a = layer_costs(after, shape)?;
    let mut t = LayerTable::default();
    for (name, op, c) in &b {
        let after = a.iter().find(|(n, _, _)| n == name);
        let op = match after {
            Some((_, op2, _)) if op2 != op => format!("{op} → {op2}"),
            Some(_) => op.clone(),
            None => format!("{op} → removed"),
        };
        t.rows.push(LayerRow {
            name: name.clone(),
            op,
            before: Some(*c),
            after: after.map(|x| x.2),
        });
    }
    for (name, op, c) in &a {
        if !b.iter().any(|(n, _, _)| n == name) {
            t.rows.push(LayerRow {
                name: name.clone(),
                op: format!("new {op}"),
                before: None,
                after: Some(*c),
            });
        }
    }
    let sum = |v: &[(String, String, LayerCost)]| {
        v.iter().fold(LayerCost::default(), |s, x| LayerCost {
            macs: s.macs + x.2.macs,
            params: s.params + x.2.params,
        })
    };
    t.total_before = sum(&b);
    t.total_after = sum(&a);
    Ok(t)
}

fn quant_markdown(q: &QuantSection) -> String {
    let mut s = String::new();
    let r = &q.report;
    let _ = writeln!(s, "\n## int8 quantization\n");
    let _ = writeln!(
        s,
        "- {} calibration images, activation ranges by `{}`; per-channel symmetric int8 weights, per-tensor asymmetric int8 activations, int32 bias",
        r.calibration_images, r.method
    );
    let _ = writeln!(
        s,
        "- bias correction: {} ops; cross-layer equalization: {} pairs",
        r.bias_corrected.len(),
        r.equalized.len()
    );
    let _ = writeln!(
        s,
        "- lookup-table activations: {}",
        if r.luts.is_empty() {
            "none".into()
        } else {
            format!(
                "{} ({})",
                r.luts.len(),
                r.luts
                    .iter()
                    .map(|l| l.1.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    let _ = writeln!(
        s,
        "- QOperator form (`*.int8.tract.onnx`, what the runtime runs for any int8 model): {} QLinearConv, {} QLinearAdd, {} QLinearGlobalAveragePool, {} data-movement ops on int8",
        r.qoperators.convs, r.qoperators.adds, r.qoperators.pools, r.qoperators.moves
    );
    if !r.float_nodes.is_empty() {
        let _ = writeln!(
            s,
            "- left in float: {}",
            r.float_nodes
                .iter()
                .map(|(n, w)| format!("`{n}` ({w})"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let _ = writeln!(s, "- artifacts: {}", q.files.join(", "));
    let _ = writeln!(
        s,
        "\n<details><summary>activation ranges ({} tensors)</summary>\n",
        r.tensors.len()
    );
    let _ = writeln!(s, "| tensor | method | lo | hi | scale | zero point |");
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|");
    for (t, (m, lo, hi, sc, zp)) in &r.tensors {
        let _ = writeln!(s, "| `{t}` | {m} | {lo:.4} | {hi:.4} | {sc:.6} | {zp} |");
    }
    let _ = writeln!(s, "\n</details>");
    if !r.layers.is_empty() {
        let _ = writeln!(
            s,
            "\n### Per-layer quantization error (worst first)\n\n\
             SQNR of each int8 tensor against float on the first {} calibration images \
             (the int8 model as deployed: upstream error included), the share of \
             calibration values its range clips, and its producer's weight SQNR.\n",
            nyquist_quant::analysis::SQNR_IMAGES.min(r.calibration_images)
        );
        let _ = writeln!(
            s,
            "| tensor | op | SQNR dB | range | clipped % | weight SQNR dB |"
        );
        let _ = writeln!(s, "|---|---|---:|---|---:|---:|");
        for l in &r.layers {
            let _ = writeln!(
                s,
                "| `{}` | `{}` | {:.1} | [{:.3}, {:.3}] | {:.3} | {} |",
                l.tensor,
                l.op,
                l.sqnr_db,
                l.range.0,
                l.range.1,
                100.0 * l.clipped,
                l.weight_sqnr_db.map_or("–".into(), |w| format!("{w:.1}"))
            );
        }
    }
    // The gate's figures (absent with --no-gate or without --eval).
    if !q.figures.is_empty() {
        gate_markdown(q, &mut s);
    }
    if let Some(r) = &q.repair {
        let _ = writeln!(s, "\n### Repair (`--repair`)\n");
        let _ = writeln!(s, "- before: {}", r.before);
        match &r.statement {
            Some(st) => {
                let _ = writeln!(s, "- **{st}**");
            }
            None => {
                let _ = writeln!(
                    s,
                    "- **{} layers kept in float** ({:.1} % of the MACs), found in {} gate runs, {:.0} s",
                    r.float_layers.len(),
                    100.0 * r.macs_share,
                    r.steps.len(),
                    r.seconds
                );
                if let Some(a) = r.after() {
                    let _ = writeln!(s, "- after: {a}\n");
                }
                let _ = writeln!(
                    s,
                    "Ranked by each layer's local SQNR on the gate's images, clean and corrupted (the noise it adds itself; `quant::analysis::local_costs`), worst first; the gate confirmed the set.\n"
                );
                let _ = writeln!(s, "| layer in float | local SQNR dB | MACs |");
                let _ = writeln!(s, "|---|---:|---:|");
                for (n, q, m) in &r.float_layers {
                    let _ = writeln!(s, "| `{n}` | {q:.1} | {m} |");
                }
            }
        }
        let _ = writeln!(s, "\n| float layers tried | gate |\n|---:|---|");
        for st in &r.steps {
            let _ = writeln!(s, "| {} | {} |", st.float_layers, st.line.replace('|', "/"));
        }
    }
    if let Some((info, check)) = &q.nqm {
        let _ = writeln!(s, "\n## Firmware blob (.nqm)\n");
        let _ = writeln!(
            s,
            "- {} bytes ({} of int8 weights), {} ops",
            info.size, info.weight_bytes, info.ops
        );
        let _ = writeln!(
            s,
            "- arena {} bytes: activations {} (lifetime lower bound {}) + conv patch scratch {}",
            info.arena_size, info.activation_peak, info.lower_bound, info.scratch
        );
        let _ = writeln!(
            s,
            "- host build of the firmware engine vs the QDQ model in tract on {} images: top-1 agreement {:.2}%, max |Δ logit| {} LSB (bound {}), mean {:.3} LSB",
            check.samples,
            100.0 * check.top1_agreement,
            check.max_lsb,
            check.bound_lsb,
            check.mean_lsb
        );
    }
    if let Some(d) = &q.deployment {
        s.push_str(&deployment_markdown(d, q.board.as_ref()));
    }
    s
}

/// The robustness gate's table, chart and verdict.
fn gate_markdown(q: &QuantSection, s: &mut String) {
    let _ = writeln!(
        *s,
        "\n## Robustness gate (CE normalised by the original model)\n"
    );
    let _ = writeln!(*s, "| model | file | clean acc % | mCE | relative mCE | shift consistency % | top-1 agreement % | size KiB | MACs | tract latency ms |");
    let _ = writeln!(*s, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for f in &q.figures {
        let _ = writeln!(
            s,
            "| {} | `{}` | {:.2} | {} | {} | {} | {:.2} | {:.0} | {} | {:.3} |",
            f.role,
            f.file,
            100.0 * (1.0 - f.eval.clean_error.unwrap_or(1.0)),
            f.eval.mce.map_or("–".into(), |v| format!("{v:.2}")),
            f.eval
                .relative_mce
                .map_or("–".into(), |v| format!("{v:.2}")),
            f.eval
                .consistency
                .map_or("–".into(), |v| format!("{:.2}", 100.0 * v)),
            100.0 * f.top1_agreement,
            f.size_bytes as f64 / 1024.0,
            f.macs,
            f.latency_ms
        );
    }
    // Per corruption: the same table `nyquist eval` writes.
    let columns: Vec<(&str, &nyquist_runtime::eval::EvalResult)> = q
        .figures
        .iter()
        .map(|f| (f.role.as_str(), &f.eval))
        .collect();
    let _ = write!(*s, "\n{}", nyquist_runtime::eval::markdown_table(&columns));
    if let Some(svg) = q.files.iter().find(|f| f.ends_with(".svg")) {
        let _ = writeln!(*s, "\n![CE per corruption]({svg})");
    }
    if let Some(v) = &q.verdict {
        let _ = writeln!(*s, "\n**{}**", v.line);
    }
}

/// The deployment estimate as Markdown: totals per core, the board check,
/// then per layer.
fn deployment_markdown(
    d: &crate::nqm::deploy::Deployment,
    board: Option<&(crate::nqm::deploy::Board, Option<String>)>,
) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "\n### Deployment estimate\n");
    let _ = writeln!(
        s,
        "Flash {} B ({} B of it header, records and alignment), arena {} B (at most {} B in use at one layer), {} MACs per image.\n",
        d.blob_bytes, d.format_bytes, d.arena_bytes, d.peak_arena_bytes, d.macs
    );
    let _ = writeln!(
        s,
        "| core | kernels | est. instructions / image | ms at clock, CPI 1 (lower bound) | est. cycles / image | est. ms | clock |\n|---|---|---:|---:|---:|---:|---|"
    );
    for c in &d.cores {
        let opt = |v: Option<String>| v.unwrap_or_else(|| "–".into());
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.1} | {} | {} | {} MHz ({}) |",
            c.core.name,
            c.core.kernels,
            c.instructions,
            c.ms_lower_bound,
            opt(c.est_cycles.map(|x| x.to_string())),
            opt(c.est_ms.map(|x| format!("{x:.1}"))),
            c.core.clock_mhz,
            c.core.clock_of
        );
    }
    let _ = writeln!(
        s,
        "\nInstructions are a model fitted to `cargo xtask fw bench` measurements under QEMU (`firmware/bench/*.json`), not cycles; the lower-bound milliseconds assume one cycle per instruction. Estimated cycles scale the instructions by the measured network's estimated cycles per instruction (instructions counted by class under QEMU, weighted by the cores' Technical Reference Manual cycle counts: an estimate, not a measurement).{}",
        if d.notes.is_empty() {
            String::new()
        } else {
            format!(" Fit notes: {}.", d.notes.join("; "))
        }
    );
    if let Some((b, why)) = board {
        let _ = writeln!(
            s,
            "\nBoard `{}`: {}",
            b.name,
            why.as_deref().unwrap_or("fits (flash and RAM)")
        );
    }
    let names: Vec<&str> = d.cores.iter().map(|c| c.core.name).collect();
    let _ = writeln!(
        s,
        "\n| layer | op | MACs | flash B | arena in use B | {} |\n|---:|---|---:|---:|---:|{}",
        names.join(" | "),
        "---:|".repeat(names.len())
    );
    for l in &d.layers {
        let est: Vec<String> = l.instructions.iter().map(u64::to_string).collect();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            l.index,
            l.op,
            l.macs,
            l.flash_bytes,
            l.arena_bytes,
            est.join(" | ")
        );
    }
    s
}

/// The quantization part of the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QuantSection {
    /// What the quantizer did.
    pub report: nyquist_quant::QuantReport,
    /// Per-model figures from the gate.
    pub figures: Vec<crate::gate::ModelFigures>,
    /// The verdict (absent without `--eval`).
    pub verdict: Option<crate::gate::Verdict>,
    /// Artifact names.
    pub files: Vec<String>,
    /// The firmware blob and its check against the QDQ model, with `--emit nqm`.
    pub nqm: Option<(crate::nqm::NqmInfo, crate::nqm::NqmCheck)>,
    /// What `--repair` did.
    pub repair: Option<crate::repair::Repair>,
    /// The deployment estimate of the `.nqm` blob, with `--emit nqm`.
    pub deployment: Option<crate::nqm::deploy::Deployment>,
    /// The board it was checked against (`--board`), and why it does not fit.
    pub board: Option<(crate::nqm::deploy::Board, Option<String>)>,
}

#[cfg(test)]
mod section_tests {
    use super::Report;

    #[test]
    fn markdown_section_stops_at_the_next_section_or_subsection() {
        let md = "# R\n\n- x\n## Blurs\n\n| a |\n### Candidates\n\nc\n## Layers\n\nl\n## Robustness gate (CE)\n\ng\n";
        assert_eq!(
            Report::markdown_section(md, "Blurs"),
            Some("## Blurs\n\n| a |")
        );
        assert_eq!(
            Report::markdown_section(md, "Robustness gate"),
            Some("## Robustness gate (CE)\n\ng\n")
        );
        // A `###` heading is not a section, and a title must start the line.
        assert_eq!(Report::markdown_section(md, "Candidates"), None);
        assert_eq!(Report::markdown_section("x ## Blurs", "Blurs"), None);
    }
}
