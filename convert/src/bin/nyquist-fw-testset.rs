//! `nyquist-fw-testset`: the data a firmware board image embeds — the `.nqm`
//! blob, a few quantized test images per class, their labels and what the host
//! build of the firmware engine predicts for them (the boards must agree).
//!
//! `nyquist-fw-testset --blob m.nqm --model m.onnx --eval DIR [--per-class 2] -o OUT`
//! writes `OUT/model.nqm`, `OUT/inputs.bin`, `OUT/labels.bin`, `OUT/expected.bin`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Parser;
use nyquist_firmware::layout::chw_to_hwc;
use nyquist_firmware::{Model, Run};
use nyquist_onnx::io::write_atomic;
use nyquist_runtime::{dataset, ModelInfo, Preprocess};

/// Build the test data a firmware image embeds.
#[derive(Debug, Parser)]
#[command(name = "nyquist-fw-testset", version, about)]
struct Args {
    /// The `.nqm` blob.
    #[arg(long)]
    blob: PathBuf,
    /// The ONNX model it came from (preprocessing and labels).
    #[arg(long)]
    model: PathBuf,
    /// Labelled images (ImageFolder).
    #[arg(long)]
    eval: PathBuf,
    /// Images per class.
    #[arg(long, default_value_t = 2)]
    per_class: usize,
    /// Output folder (created).
    #[arg(short, long)]
    output: PathBuf,
}

fn main() -> Result<()> {
    let a = Args::parse();
    let blob = std::fs::read(&a.blob).with_context(|| a.blob.display().to_string())?;
    let m = Model::from_bytes(&blob).map_err(|e| anyhow::anyhow!("{}: {e}", a.blob.display()))?;
    let info = ModelInfo::from_onnx_file(&a.model)?;
    let pre = Preprocess::from_info(&info)?;
    let data = dataset::open(&a.eval, "t10k", info.labels()?.as_deref())?;
    if pre.shape.iter().product::<usize>() != m.input.len() {
        bail!(
            "{} takes {} input values, {} gives {:?}",
            a.blob.display(),
            m.input.len(),
            a.model.display(),
            pre.shape
        );
    }
    let mut taken = vec![0usize; data.classes.max(1)];
    let (mut inputs, mut labels, mut expected) = (Vec::new(), Vec::new(), Vec::new());
    let mut arena = vec![0i8; m.arena_size];
    let mut out = vec![0i8; m.output.len()];
    for it in &data.clean {
        if taken.get(it.label).is_none_or(|&n| n >= a.per_class) {
            continue;
        }
        taken[it.label] += 1;
        let x = pre.tensor(&it.source.load()?);
        let chw: Vec<i8> = x
            .iter()
            .map(|&v| {
                ((v / m.input_scale).round() as i32 + m.input_zero_point).clamp(-128, 127) as i8
            })
            .collect();
        let mut q = vec![0i8; chw.len()];
        chw_to_hwc(
            &chw,
            m.input.c as usize,
            m.input.h as usize,
            m.input.w as usize,
            &mut q,
        )
        .context("input shape")?;
        m.run(&mut arena, &q, &mut out)
            .map_err(|e| anyhow::anyhow!("host engine: {e}"))?;
        let pred = out
            .iter()
            .enumerate()
            .max_by_key(|(i, v)| (**v, std::cmp::Reverse(*i)))
            .map_or(0, |(i, _)| i);
        inputs.extend(q.iter().map(|&v| v as u8));
        labels.push(it.label as u8);
        expected.push(pred as u8);
    }
    std::fs::create_dir_all(&a.output)?;
    write_atomic(&a.output.join("model.nqm"), &blob)?;
    write_atomic(&a.output.join("inputs.bin"), &inputs)?;
    write_atomic(&a.output.join("labels.bin"), &labels)?;
    write_atomic(&a.output.join("expected.bin"), &expected)?;
    println!(
        "{} test images ({} per class), host engine agrees with the labels on {}",
        labels.len(),
        a.per_class,
        labels.iter().zip(&expected).filter(|(l, e)| l == e).count()
    );
    Ok(())
}
