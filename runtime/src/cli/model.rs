//! Options shared by every subcommand that loads a model, and the loading itself:
//! preprocessing and labels come from the model's metadata unless a flag says
//! otherwise.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use nyquist_runtime::engine::{Engine, Format};
use nyquist_runtime::meta::{read_labels, ModelInfo};
use nyquist_runtime::preprocess::Preprocess;

/// How to load and feed a model.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Model file: ONNX (float, QDQ, int8) or tract NNEF (.nnef.tgz).
    #[arg(long)]
    pub model: PathBuf,
    /// Labels file (one per line, or a JSON array); default: the model's metadata.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Input shape N,C,H,W (default: metadata, then the model's input).
    #[arg(long, value_delimiter = ',')]
    pub input_shape: Option<Vec<usize>>,
    /// Channel layout: gray, rgb, bgr.
    #[arg(long)]
    pub color: Option<String>,
    /// Geometry: pad, resize, shorter_crop.
    #[arg(long)]
    pub geometry: Option<String>,
    /// Shorter side before the centre crop (geometry shorter_crop).
    #[arg(long)]
    pub resize_shorter: Option<u32>,
    /// Per-channel mean on pixels/255, comma separated.
    #[arg(long, value_delimiter = ',')]
    pub mean: Option<Vec<f32>>,
    /// Per-channel std on pixels/255, comma separated.
    #[arg(long, value_delimiter = ',')]
    pub std: Option<Vec<f32>>,
}

/// A model ready to run, with its preprocessing and labels.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Batch-1 engine.
    pub engine: Engine,
    /// Preprocessing.
    pub pre: Preprocess,
    /// Class names, if known.
    pub labels: Option<Vec<String>>,
    /// Seconds to load and optimize.
    pub load_seconds: f64,
}

impl ModelArgs {
    /// Metadata of the model file (empty for NNEF, which carries none).
    pub fn info(&self) -> Result<ModelInfo> {
        if !self.model.exists() {
            anyhow::bail!("{}: no such model file", self.model.display());
        }
        match Format::of(&self.model) {
            Format::Onnx => Ok(ModelInfo::from_onnx_file(&self.model)?),
            Format::Nnef => Ok(nnef_info(&self.model)),
        }
    }

    /// Preprocessing: metadata, then flags on top.
    pub fn preprocess(&self, info: &ModelInfo) -> Result<Preprocess> {
        let mut info = info.clone();
        let mut set = |k: &str, v: String| {
            info.props.insert(k.into(), v);
        };
        if let Some(s) = &self.input_shape {
            set(
                "nyquist.input.shape",
                s.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
        if let Some(c) = &self.color {
            set("nyquist.input.color", c.clone());
        }
        if let Some(g) = &self.geometry {
            set("nyquist.input.geometry", g.clone());
        }
        if let Some(r) = self.resize_shorter {
            set("nyquist.input.resize_shorter", r.to_string());
        }
        if let Some(m) = &self.mean {
            set(
                "nyquist.input.mean",
                m.iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
        if let Some(s) = &self.std {
            set(
                "nyquist.input.std",
                s.iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
        let p = Preprocess::from_info(&info)
            .with_context(|| format!("{}: preprocessing", self.model.display()))?;
        Ok(p)
    }

    /// Labels: `--labels`, else metadata.
    pub fn labels(&self, info: &ModelInfo) -> Result<Option<Vec<String>>> {
        match &self.labels {
            Some(p) => Ok(Some(read_labels(p)?)),
            None => Ok(info.labels()?),
        }
    }

    /// Load, optimize and describe the model.
    pub fn load(&self) -> Result<Loaded> {
        let info = self.info()?;
        let pre = self.preprocess(&info)?;
        let labels = self.labels(&info)?;
        let t0 = std::time::Instant::now();
        let engine = Engine::load(&self.model, &pre.shape)?;
        Ok(Loaded {
            engine,
            pre,
            labels,
            load_seconds: t0.elapsed().as_secs_f64(),
        })
    }
}

/// An engine for a batch of `n` inputs, when the model's batch is not fixed.
pub fn batched(model: &Path, pre: &Preprocess, n: usize) -> Option<Engine> {
    let mut shape = pre.shape.to_vec();
    shape[0] = n;
    Engine::load(model, &shape).ok()
}

/// NNEF archives written by the converter carry the ONNX metadata as
/// `nyquist.json` beside the graph; read it if present.
fn nnef_info(path: &Path) -> ModelInfo {
    nyquist_runtime::engine::nnef_metadata(path)
        .map(|props| ModelInfo {
            props,
            ..Default::default()
        })
        .unwrap_or_default()
}
