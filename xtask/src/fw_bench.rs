//! `cargo xtask fw bench --board B`: per-layer instruction counts of the scalar
//! and the SIMD build under QEMU, MACs per instruction, flash and RAM.

use std::path::Path;

use anyhow::{Context, Result};
use nyquist_firmware::{Model, Op};
use nyquist_nqm::cost::{op_shapes, OpShape};
use serde_json::json;

use crate::fw::{build, check, run_qemu, Board, FwModel};
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

/// Sizes of the loaded ELF sections, by name.
fn section_sizes(elf: &Path) -> Result<Vec<(String, u64)>> {
    let out = std::process::Command::new("size")
        .args(["-A"])
        .arg(elf)
        .output()
        .context("`size` (binutils)")?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && f[0].starts_with('.'))
                .then(|| (f[0].to_string(), f[1].parse().unwrap_or(0)))
        })
        .collect())
}

/// Run the bench: every variant of the board, per-layer instructions, MACs per
/// instruction, flash and RAM.
pub fn bench(b: &Board, data: &Path, model: FwModel) -> Result<()> {
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
    for v in b.variants {
        let elf = build(b, v, data)?;
        let (code, log) = run_qemu(b, &elf)?;
        check(b, code, &log)?;
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
    write_measurement(b, model, &names, &ops, &logs, &totals)?;
    compare_with_estimate(b, data, names[best], totals[best])?;
    if model == FwModel::Resnet8 {
        let macs: u64 = ops.iter().map(|(_, s)| s.macs).sum();
        let per_mac = totals[best] as f64 / macs.max(1) as f64;
        println!(
            "\nMLPerf Tiny anchors (cycles on silicon; these are instructions, and a cycle is never less than an instruction):"
        );
        println!(
            "- ResNet-8, Cortex-M4 at 120 MHz, best v1.1/v1.2 closed results (X-CUBE-AI, Plumerai): ≈ 165 ms for 12.5 M MACs ≈ 1.6 cycles/MAC"
        );
        println!("- Cortex-M85, TFLM + CMSIS-NN: ≈ 0.33 cycles/MAC");
        println!(
            "- here, {} on {}: {} MACs, {} instructions = {per_mac:.3} instructions/MAC (≥ that many cycles/MAC)",
            names[best], b.cpu, macs, totals[best]
        );
    }
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
    Ok(())
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

/// Write the per-layer instructions of every variant with each layer's shape.
fn write_measurement(
    b: &Board,
    model: FwModel,
    names: &[&str],
    ops: &[(String, OpShape)],
    logs: &[Vec<u64>],
    totals: &[u64],
) -> Result<()> {
    let variants: Vec<serde_json::Value> = names
        .iter()
        .zip(logs)
        .zip(totals)
        .map(|((kernels, counts), total)| {
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
            json!({ "kernels": kernels, "instructions": total, "layers": layers })
        })
        .collect();
    let doc = json!({
        "board": b.name,
        "cpu": b.cpu,
        "unit": "instructions per image, QEMU -icount shift=0",
        "model": match model {
            FwModel::Bundled => "models/fmnist/resnet18r-blurafterconv.onnx, --fold-blur, int8",
            FwModel::Resnet8 => "MLPerf Tiny ResNet-8 (convert/examples/mlperf_resnet8.rs, seeded), int8",
        },
        "variants": variants,
    });
    let path = measurement_path(b.name, model);
    std::fs::create_dir_all(path.parent().context("measurement folder")?)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(&doc)? + "\n")?;
    std::fs::rename(&tmp, &path)?;
    println!("wrote {}", path.display());
    Ok(())
}
