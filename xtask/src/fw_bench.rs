//! `cargo xtask fw bench [--board B] [--model M] [--json OUT]`: per-layer
//! instruction counts of the scalar and the SIMD builds under QEMU, MACs per
//! instruction, the cycle estimate (`fw_cycles`) with the goals and the
//! MLPerf Tiny anchors beside it, flash and RAM.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use nyquist_firmware::{Model, Op};
use nyquist_nqm::cost::{op_shapes, OpShape};
use serde::Serialize;
use serde_json::json;

use crate::fw::{build, check, run_qemu_counted, Board, FwModel};
use crate::fw_cycles::{for_cpu, per_inference, CycleModel};
use crate::fw_log::{of_kind, one, records, Record};

/// Each op of a blob: its name for the table (`conv 3x3 16→32`) and its
/// shape (MACs, outputs, …: the cost model's features).
pub fn layers(blob: &[u8]) -> Result<Vec<(String, OpShape)>> {
    let m = Model::from_bytes(blob).map_err(|e| anyhow::anyhow!("blob: {e}"))?;
    let shapes = op_shapes(&m).map_err(|e| anyhow::anyhow!("blob: {e}"))?;
    m.ops()
        .zip(shapes)
        .map(|(op, shape)| {
            let op = op.map_err(|e| anyhow::anyhow!("{e}"))?;
            let name = match op {
                Op::Conv {
                    input, output, k, ..
                } => {
                    let (x, y) = (
                        m.tensor(input).map_err(|e| anyhow::anyhow!("{e}"))?,
                        m.tensor(output).map_err(|e| anyhow::anyhow!("{e}"))?,
                    );
                    format!("conv {}x{} {}→{}", k[0], k[1], x.c, y.c)
                }
                other => other.kind().name().to_string(),
            };
            Ok((name, shape))
        })
        .collect()
}

/// Per-layer counts of one run, in op order; each layer's op as the board
/// names it must be the blob's op at that index.
fn counts(recs: &[Record], ops: &[(String, OpShape)]) -> Result<Vec<u64>> {
    of_kind(recs, "layer")
        .zip(ops)
        .map(|(r, (name, _))| {
            let op = r.text("op").unwrap_or("?");
            anyhow::ensure!(
                name.starts_with(op),
                "layer {}: the board ran `{op}`, the blob has `{name}`",
                r.num("i")?
            );
            r.num("per_image")
        })
        .collect()
}

/// Sizes of the ELF's sections, by name (read from its section headers).
fn section_sizes(elf: &Path) -> Result<Vec<(String, u64)>> {
    use object::{Object, ObjectSection};
    let bytes = std::fs::read(elf).with_context(|| elf.display().to_string())?;
    let file =
        object::File::parse(&*bytes).with_context(|| format!("{}: not an ELF", elf.display()))?;
    Ok(file
        .sections()
        .filter_map(|s| Some((s.name().ok()?.to_string(), s.size())))
        .collect())
}

/// Run the bench: every variant of the board, per-layer instructions, MACs per
/// instruction, flash and RAM.
pub fn bench(b: &Board, data: &Path, model: FwModel) -> Result<Vec<Row>> {
    if b.qemu.is_none() {
        anyhow::bail!(
            "fw bench counts instructions under QEMU; on {} use `cargo xtask fw run --board {} --probe`, which logs DWT cycles per layer",
            b.name,
            b.name
        );
    }
    let blob = std::fs::read(data.join("model.nqm"))?;
    let ops = layers(&blob)?;
    let mut logs = Vec::new();
    let mut elfs = Vec::new();
    let cycles = for_cpu(b.cpu).with_context(|| format!("no cycle model for {}", b.cpu))?;
    let plugin = crate::qemu_plugin::build("qemu-system-arm", &crate::util::target_dir()?)?;
    let mut rows = Vec::new();
    let macs: u64 = ops.iter().map(|(_, s)| s.macs).sum();
    for v in b.variants {
        let elf = build(b, v, data)?;
        let (log, plugin_counts) = run_qemu_counted(b, &elf, &plugin)?;
        check(b, 0, &log)?;
        let per = per_inference(&plugin_counts)?;
        let est = cycles.cycles(&per)?;
        rows.push(Row {
            model: model.name().into(),
            board: b.name.into(),
            core: cycles.core.into(),
            kernels: v.name.into(),
            macs,
            instructions: per.instructions,
            est_cycles: est.round() as u64,
            clock_mhz: cycles.clock_mhz,
            est_ms: cycles.ms(est),
            classes: per.classes.clone(),
            events: per.events.clone(),
        });
        let recs = records(&log);
        logs.push(counts(&recs, &ops)?);
        elfs.push((elf, recs));
    }
    let names: Vec<&str> = b.variants.iter().map(|v| v.name).collect();
    let best = names.len() - 1;
    println!(
        "\n{} ({}), model {} — instructions per image under QEMU (-icount shift=0)\n",
        b.name,
        b.cpu,
        model.name()
    );
    println!(
        "| layer | op | MACs | {} | {} instr/MAC | {} vs {} |",
        names.join(" | "),
        names[best],
        names[best],
        names[0]
    );
    println!("|---:|---|---:|{}---:|---:|", "---:|".repeat(names.len()));
    let mut conv = vec![0u64; names.len()];
    let mut conv_macs = 0u64;
    for (i, (name, shape)) in ops.iter().enumerate() {
        let mac = &shape.macs;
        let row: Vec<u64> = logs
            .iter()
            .map(|l| l.get(i).copied().unwrap_or(0))
            .collect();
        if *mac > 0 {
            conv_macs += mac;
            for (c, r) in conv.iter_mut().zip(&row) {
                *c += r;
            }
        }
        let per = if *mac > 0 {
            format!("{:.3}", row[best] as f64 / *mac as f64)
        } else {
            "–".into()
        };
        let cells: Vec<String> = row.iter().map(u64::to_string).collect();
        println!(
            "| {i} | {name} | {mac} | {} | {per} | {:.2}× |",
            cells.join(" | "),
            row[0] as f64 / row[best].max(1) as f64
        );
    }
    let totals: Vec<u64> = elfs
        .iter()
        .map(|(_, r)| one(r, "total")?.num("per_image"))
        .collect::<Result<_>>()?;
    let bold = |v: &[u64]| {
        v.iter()
            .map(|x| format!("**{x}**"))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    println!(
        "| | **conv + fc** | **{conv_macs}** | {} | **{:.3}** | **{:.2}×** |",
        bold(&conv),
        conv[best] as f64 / conv_macs.max(1) as f64,
        conv[0] as f64 / conv[best].max(1) as f64
    );
    println!(
        "| | **whole network** | | {} | **{:.3}** | **{:.2}×** |",
        bold(&totals),
        totals[best] as f64 / conv_macs.max(1) as f64,
        totals[0] as f64 / totals[best].max(1) as f64
    );
    let est: Vec<u64> = rows.iter().map(|r| r.est_cycles).collect();
    write_measurement(b, model, &names, &ops, &logs, &totals, &est)?;
    compare_with_estimate(b, data, names[best], totals[best])?;
    print_cycles(&cycles, &rows, model);
    let (elf, recs) = &elfs[best];
    let ram = one(recs, "ram")?;
    let secs = section_sizes(elf)?;
    let get = |n: &str| {
        secs.iter()
            .filter(|(k, _)| k == n)
            .map(|(_, v)| *v)
            .sum::<u64>()
    };
    println!(
        "\nflash ({}): code {} B (.text), constants {} B (.rodata), model {} B (.model)",
        names[best],
        get(".text"),
        get(".rodata"),
        get(".model")
    );
    println!(
        "ram ({}): arena {} B, stack high-water {} B (painted), static data {} B (.data + .bss, arena included)",
        names[best],
        ram.num("arena")?,
        ram.num("stack_high_water")?,
        get(".data") + get(".bss") + get(".uninit")
    );
    // The converter's figures for the same blob (`quantization.nqm` of its report).
    let nqm: serde_json::Value = std::fs::read_to_string(data.join("nqm.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let n = |k: &str| nqm[k].as_u64().unwrap_or(0);
    println!(
        "converter: blob {} B, arena {} B (activations {} B, lifetime lower bound {} B, scratch {} B)",
        n("size"),
        n("arena_size"),
        n("activation_peak"),
        n("lower_bound"),
        n("scratch")
    );
    Ok(rows)
}

/// One row of `fw bench --json`: a whole network on one core with one
/// kernel build, per inference.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `bundled` or `resnet8`.
    pub model: String,
    /// QEMU board.
    pub board: String,
    /// The core whose timings the estimate uses.
    pub core: String,
    /// Kernel build (`scalar`, `dsp`, `helium`, ...).
    pub kernels: String,
    /// Multiply-accumulates of the network.
    pub macs: u64,
    /// Instructions executed between the inference's markers (plugin).
    pub instructions: u64,
    /// Estimated cycles (instructions by class × TRM cycles; `fw_cycles`).
    pub est_cycles: u64,
    /// The clock the milliseconds are for.
    pub clock_mhz: f64,
    /// Estimated milliseconds at `clock_mhz`.
    pub est_ms: f64,
    /// Instructions by class.
    pub classes: BTreeMap<String, u64>,
    /// Events (`transfers`, `mem_follows`, `mve_overlaps`).
    pub events: BTreeMap<String, u64>,
}

impl Row {
    /// `x` (instructions or cycles) per multiply-accumulate.
    fn per_mac(&self, x: u64) -> f64 {
        x as f64 / self.macs.max(1) as f64
    }
}

/// Goals of issue #14 (instructions per MAC, whole network) by kernels.
fn goal(kernels: &str) -> Option<f64> {
    match kernels {
        "dsp" => Some(1.6),
        "helium" => Some(0.22),
        _ => None,
    }
}

/// The cycle-estimate table of one board and model, with the anchors.
fn print_cycles(m: &CycleModel, rows: &[Row], model: FwModel) {
    println!(
        "\nCycle estimate, {} — instructions by class × TRM cycles (xtask/src/fw_cycles.rs); an estimate, not a measurement\n",
        m.core
    );
    println!(
        "| kernels | instructions | instr/MAC | goal instr/MAC | est. cycles | est. cycles/MAC | est. ms at {} MHz ({}) |",
        m.clock_mhz, m.clock_of
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let per = |x: u64| r.per_mac(x);
        let goal = goal(&r.kernels).map_or("–".into(), |g| {
            let met = if per(r.instructions) <= g {
                "met"
            } else {
                "not met"
            };
            format!("≤ {g} ({met})")
        });
        println!(
            "| {} | {} | {:.3} | {goal} | {} | {:.3} | {:.2} |",
            r.kernels,
            r.instructions,
            per(r.instructions),
            r.est_cycles,
            per(r.est_cycles),
            r.est_ms
        );
    }
    if model == FwModel::Resnet8 {
        println!("\nMLPerf Tiny anchors for ResNet-8 (12.5 M MACs; cycles on silicon, v1.1/v1.2 closed division):");
        println!(
            "- Cortex-M4 at 120 MHz, STMicroelectronics X-CUBE-AI: 165.1 ms ≈ 1.58 cycles/MAC"
        );
        println!("- Cortex-M33 at 160 MHz, Plumerai: 104.3 ms ≈ 1.33 cycles/MAC");
        println!("- Cortex-M85 at 480 MHz, TFLM + CMSIS-NN: 8.5 ms ≈ 0.33 cycles/MAC");
    }
}

/// Every row of a `fw bench` run, one line each.
pub fn summary(rows: &[Row]) {
    println!("\n## fw bench summary (per inference; cycles estimated, see above)\n");
    println!("| model | board | kernels | MACs | instructions | instr/MAC | est. cycles | est. cycles/MAC | est. ms |");
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let per = |x: u64| r.per_mac(x);
        println!(
            "| {} | {} | {} | {} | {} | {:.3} | {} | {:.3} | {:.2} at {} MHz |",
            r.model,
            r.board,
            r.kernels,
            r.macs,
            r.instructions,
            per(r.instructions),
            r.est_cycles,
            per(r.est_cycles),
            r.est_ms,
            r.clock_mhz
        );
    }
}

/// Where `fw bench` records a board's measurement (committed). The bundled
/// model's (`<board>.json`) is what the converter's deployment estimate is
/// fitted to (`convert/src/nqm/deploy.rs`); ResNet-8's (`<board>-resnet8.json`)
/// checks that estimate on a network it was not fitted to.
pub fn measurement_path(board: &str, model: FwModel) -> std::path::PathBuf {
    let name = match model {
        FwModel::Bundled => format!("{board}.json"),
        other => format!("{board}-{}.json", other.name()),
    };
    crate::util::root().join("firmware/bench").join(name)
}

/// The converter's estimate for this blob (its report, saved with the board
/// data) against the instructions just measured.
fn compare_with_estimate(b: &Board, data: &Path, kernels: &str, measured: u64) -> Result<()> {
    let dep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("deployment.json"))?)
            .context("deployment.json")?;
    let est = dep["cores"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["core"]["measured_on"] == b.name && c["core"]["kernels"] == kernels);
    if let Some(c) = est {
        let e = c["instructions"].as_u64().unwrap_or(0);
        println!(
            "converter's deployment estimate ({}): {e} instructions per image vs {measured} measured ({:+.1} %)",
            c["core"]["name"].as_str().unwrap_or("?"),
            100.0 * (e as f64 / measured.max(1) as f64 - 1.0)
        );
    }
    Ok(())
}

/// Write the per-layer instructions of every variant with each layer's
/// shape, and each variant's whole-network cycle estimate.
fn write_measurement(
    b: &Board,
    model: FwModel,
    names: &[&str],
    ops: &[(String, OpShape)],
    logs: &[Vec<u64>],
    totals: &[u64],
    est_cycles: &[u64],
) -> Result<()> {
    let variants: Vec<serde_json::Value> = names
        .iter()
        .zip(logs)
        .zip(totals.iter().zip(est_cycles))
        .map(|((kernels, counts), (total, est))| {
            let layers: Vec<serde_json::Value> = ops
                .iter()
                .zip(counts)
                .map(|((name, s), n)| {
                    json!({
                        "name": name,
                        "class": s.class.name(),
                        "macs": s.macs,
                        "outputs": s.outputs,
                        "pixels": s.pixels,
                        "inputs": s.inputs,
                        "instructions": n,
                    })
                })
                .collect();
            json!({
                "kernels": kernels,
                "instructions": total,
                "est_cycles": est,
                "layers": layers,
            })
        })
        .collect();
    let doc = json!({
        "board": b.name,
        "cpu": b.cpu,
        "unit": "instructions per image, QEMU -icount shift=0; est_cycles: instructions by class × TRM cycles (xtask/src/fw_cycles.rs), whole network",
        "model": match model {
            FwModel::Bundled => "models/fmnist/resnet18r-blurafterconv.onnx, --fold-blur, int8",
            FwModel::Resnet8 => "MLPerf Tiny ResNet-8 (convert/examples/mlperf_resnet8.rs, seeded), int8",
        },
        "variants": variants,
    });
    let path = measurement_path(b.name, model);
    crate::util::write_atomic(&path, serde_json::to_string_pretty(&doc)? + "\n")?;
    println!("wrote {}", path.display());
    Ok(())
}
