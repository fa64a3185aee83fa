//! tract inference: load once, optimize once, run many times from many threads
//! (the optimized plan is shared; every run has its own state).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use tract_onnx::prelude::*;

use crate::error::{Result, RuntimeError};

/// One output tensor of a run, as f32.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// A loaded, optimized model.
#[derive(Clone)]
pub struct Engine {
    plan: Arc<TypedSimplePlan>,
    /// The concrete input shape the plan was optimized for.
    pub input_shape: Vec<usize>,
    /// Where the model came from (for messages).
    pub source: PathBuf,
    /// For an int8 model run as integers: the operators the QDQ → QOperator
    /// rewrite made (all zero for a model already in QOperator form);
    /// `None` for a float model, or with [`Int8Mode::Simulate`].
    pub int8: Option<crate::int8::Rewritten>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("source", &self.source)
            .field("input_shape", &self.input_shape)
            .finish()
    }
}

/// How an int8 model (QDQ or QOperator) runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Int8Mode {
    /// Lowered to integer operators and int8 matmul kernels
    /// ([`crate::int8`]): what the runtime ships and `nyquist` runs.
    #[default]
    Integer,
    /// As written: tract's float operators between the `QuantizeLinear` /
    /// `DequantizeLinear` pairs — the ONNX definition of a QDQ model, the
    /// reference other int8 implementations (the firmware blob) are held to.
    Simulate,
}

/// Model file formats the runtime loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// ONNX protobuf (float, QDQ or QLinear int8).
    Onnx,
    /// tract NNEF archive (`.nnef.tgz` / `.nnef.tar`) or folder.
    Nnef,
}

impl Format {
    /// Guess from the file name.
    pub fn of(path: &Path) -> Format {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if name.ends_with(".nnef.tgz")
            || name.ends_with(".nnef.tar")
            || name.ends_with(".nnef")
            || path.is_dir()
        {
            Format::Nnef
        } else {
            Format::Onnx
        }
    }
}

fn model_err(path: &Path, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Model {
        path: path.into(),
        what: format!("{e:#}"),
    }
}

/// Run a tract model-building step so that a panic inside tract becomes an
/// error naming the model. tract is not hardened against hostile graphs: its
/// shape algebra can panic on a malformed one (an integer overflow in
/// `TDim::cost` was seen with one conv's `pads` changed so that a residual
/// `Add`'s operands disagree — found by the converter's mutation test).
pub fn catch_tract<T>(label: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let why = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(model_err(
            label,
            format!("tract failed on this graph (it panicked: {why}); the model is malformed"),
        ))
    })
}

/// Largest tensor a model may produce, in elements (1 GiB of f32): far
/// above any edge classifier, far below what would exhaust a host.
pub const MAX_TENSOR_ELEMENTS: usize = 1 << 28;

/// Refuse a model whose typed graph has a tensor beyond
/// [`MAX_TENSOR_ELEMENTS`] before anything runs: a malformed `Pad`, `Resize`
/// or `ConstantOfShape` would otherwise ask the allocator for gigabytes (a
/// fuzzed model's computed pads did: 54 GB at the first inference).
fn check_sizes(model: &TypedModel, label: &Path) -> Result<()> {
    for node in &model.nodes {
        for (slot, out) in node.outputs.iter().enumerate() {
            let Some(dims) = out.fact.shape.as_concrete() else {
                continue;
            };
            let n = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            if n.is_none_or(|n| n > MAX_TENSOR_ELEMENTS) {
                return Err(model_err(
                    label,
                    format!(
                        "node `{}` output {slot} would hold {dims:?} elements, more than {MAX_TENSOR_ELEMENTS}; the model is malformed",
                        node.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

impl Engine {
    /// Load and optimize a model file. `input_shape` fixes the input (batch
    /// included); ONNX models need it unless their input is fully static.
    pub fn load(path: &Path, input_shape: &[usize]) -> Result<Self> {
        match Format::of(path) {
            Format::Onnx => {
                let bytes = std::fs::read(path).map_err(|io| RuntimeError::Io {
                    path: path.into(),
                    io,
                })?;
                Self::from_onnx_bytes(&bytes, path, input_shape)
            }
            Format::Nnef => {
                let model = nnef_framework().model_for_path(path).map_err(|e| {
                    model_err(path, format!("not a readable tract NNEF model: {e:#}"))
                })?;
                Self::from_typed(model, path, input_shape)
            }
        }
    }

    /// Load an ONNX model from memory; `label` names it in messages. An int8
    /// model (QDQ or QOperator) is detected and lowered to integer operators
    /// ([`crate::int8`]).
    pub fn from_onnx_bytes(bytes: &[u8], label: &Path, input_shape: &[usize]) -> Result<Self> {
        Self::from_onnx_bytes_with(bytes, label, input_shape, Int8Mode::Integer)
    }

    /// As [`Engine::from_onnx_bytes`], choosing how an int8 model runs.
    pub fn from_onnx_bytes_with(
        bytes: &[u8],
        label: &Path,
        input_shape: &[usize],
        mode: Int8Mode,
    ) -> Result<Self> {
        catch_tract(label, || Self::load_onnx(bytes, label, input_shape, mode))
    }

    fn load_onnx(
        bytes: &[u8],
        label: &Path,
        input_shape: &[usize],
        mode: Int8Mode,
    ) -> Result<Self> {
        let mut proto = <tract_onnx::pb::ModelProto as prost::Message>::decode(bytes)
            .map_err(|e| model_err(label, format!("not a loadable ONNX model: {e}")))?;
        let int8 = (mode == Int8Mode::Integer && crate::int8::is_int8(&proto))
            .then(|| crate::int8::qoperator::rewrite(&mut proto));
        let model = crate::int8::framework()
            .model_for_proto_model(&proto)
            .map_err(|e| model_err(label, format!("not a loadable ONNX model: {e:#}")))?;
        let model = model
            .with_input_fact(0, f32::fact(input_shape).into())
            .and_then(|m| m.into_typed())
            .map_err(|e| {
                model_err(
                    label,
                    format!("input shape {input_shape:?} does not fit the model: {e:#}"),
                )
            })?;
        let mut e = Self::from_typed_with(model, label, input_shape, int8.is_some())?;
        e.int8 = int8;
        Ok(e)
    }

    fn from_typed(model: TypedModel, label: &Path, input_shape: &[usize]) -> Result<Self> {
        Self::from_typed_with(model, label, input_shape, false)
    }

    fn from_typed_with(
        mut model: TypedModel,
        label: &Path,
        input_shape: &[usize],
        int8: bool,
    ) -> Result<Self> {
        let fact = model.input_fact(0).map_err(|e| model_err(label, e))?;
        if let Some(dims) = fact.shape.as_concrete() {
            if dims != input_shape {
                return Err(RuntimeError::Shape {
                    tensor: format!("{} input", label.display()),
                    expected: format!("{dims:?} (the model's)"),
                    got: format!("{input_shape:?}"),
                });
            }
        }
        check_sizes(&model, label)?;
        let optimized = if int8 {
            crate::int8::optimize(&mut model).map(|_| model)
        } else {
            crate::blur::optimize(&mut model).map(|_| model)
        };
        let plan = optimized
            .and_then(|m| m.into_runnable())
            .map_err(|e| model_err(label, format!("cannot optimize: {e:#}")))?;
        Ok(Engine {
            plan,
            input_shape: input_shape.to_vec(),
            source: label.to_path_buf(),
            int8: None,
        })
    }

    /// The optimized plan (for profiling and kernel reports).
    pub fn plan(&self) -> &Arc<TypedSimplePlan> {
        &self.plan
    }

    /// Number of input elements one run takes.
    pub fn input_len(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// Run once on `input` (row-major, [`Engine::input_shape`]).
    pub fn run(&self, input: &[f32]) -> Result<Vec<Output>> {
        if input.len() != self.input_len() {
            return Err(RuntimeError::Shape {
                tensor: "input".into(),
                expected: format!("{:?} = {} values", self.input_shape, self.input_len()),
                got: format!("{} values", input.len()),
            });
        }
        let t = tract_ndarray::ArrayD::from_shape_vec(self.input_shape.clone(), input.to_vec())
            .map_err(|e| RuntimeError::Run {
                what: "shaping the input",
                source: Box::new(e),
            })?;
        let out = self
            .plan
            .run(tvec!(Tensor::from(t).into()))
            .map_err(|e| RuntimeError::Run {
                what: "running the plan",
                source: e.into(),
            })?;
        out.into_iter()
            .map(|v| {
                let t = v
                    .into_tensor()
                    .cast_to::<f32>()
                    .map_err(|e| RuntimeError::Run {
                        what: "reading an output as f32",
                        source: e.into(),
                    })?
                    .into_owned();
                let shape = t.shape().to_vec();
                let data = t
                    .to_plain_array_view::<f32>()
                    .map_err(|e| RuntimeError::Run {
                        what: "reading an output as f32",
                        source: e.into(),
                    })?
                    .iter()
                    .copied()
                    .collect();
                Ok(Output { shape, data })
            })
            .collect()
    }

    /// Run on many inputs in parallel (rayon), results in input order.
    pub fn run_many(&self, inputs: &[Vec<f32>]) -> Result<Vec<Vec<Output>>> {
        inputs.par_iter().map(|x| self.run(x)).collect()
    }
}

/// Index of the largest value (first on ties); `None` for an empty slice or NaN.
pub fn argmax(v: &[f32]) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &x) in v.iter().enumerate() {
        if x.is_nan() {
            return None;
        }
        if best.is_none_or(|(_, b)| x > b) {
            best = Some((i, x));
        }
    }
    best.map(|(i, _)| i)
}

/// The `nyquist.json` metadata file inside a tract NNEF archive (written by the
/// converter so an NNEF model is as self-describing as its ONNX original).
pub fn nnef_metadata(path: &Path) -> Option<std::collections::BTreeMap<String, String>> {
    let bytes = if path.is_dir() {
        return std::fs::read_to_string(path.join("nyquist.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
    } else {
        std::fs::read(path).ok()?
    };
    let reader: Box<dyn std::io::Read> = if bytes.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(&bytes[..]))
    } else {
        Box::new(&bytes[..])
    };
    let mut ar = tar::Archive::new(reader);
    for entry in ar.entries().ok()? {
        let mut e = entry.ok()?;
        let is_meta = e
            .path()
            .ok()
            .is_some_and(|p| p.file_name().is_some_and(|n| n == "nyquist.json"));
        if is_meta {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).ok()?;
            return serde_json::from_str(&s).ok();
        }
    }
    None
}

/// The instruction set tract detected and the matmul kernels it can pick from on
/// this CPU (f32, and int8 with i32 accumulation), e.g. to confirm that an
/// aarch64 build uses its NEON (and dot-product) kernels.
pub fn kernel_summary() -> String {
    let isa = tract_linalg::isa::native();
    let ks = tract_linalg::mmm_routines::runnable_for(&isa);
    let names = |dt: DatumType| {
        ks.iter()
            .filter(|k| k.internal_type() == dt)
            .map(|k| k.name().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "{isa:?} | f32: {} | int8 (i32 accumulators): {}",
        names(f32::datum_type()),
        names(i32::datum_type())
    )
}

/// Serialize an ONNX model (typed by tract for `input_shape`, not yet
/// decluttered: tract 0.23.9 has no NNEF form for the fused `GeluExact`, nor for
/// `QuantizeLinearI8`, so int8 models cannot be written) as a tract
/// NNEF archive (`.nnef.tgz`), with `props` (the ONNX `metadata_props`) stored
/// as `nyquist.json` beside the graph. Loading it skips ONNX parsing and type
/// inference: the fast-loading form for devices.
pub fn onnx_to_nnef(
    onnx: &[u8],
    label: &Path,
    input_shape: &[usize],
    props: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    let model = tract_onnx::onnx()
        .model_for_read(&mut &onnx[..])
        .and_then(|m| m.with_input_fact(0, f32::fact(input_shape).into()))
        .and_then(|m| m.into_typed())
        .map_err(|e| model_err(label, format!("cannot prepare for NNEF: {e:#}")))?;
    let nnef = nnef_framework();
    let tar = nnef
        .write_to_tar(&model, Vec::new())
        .map_err(|e| model_err(label, format!("cannot write NNEF: {e:#}")))?;
    // Re-pack with nyquist.json added, gzip-compressed.
    let mut out = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let io = |e: std::io::Error| model_err(label, format!("NNEF archive: {e}"));
    let mut ar = tar::Archive::new(&tar[..]);
    for entry in ar.entries().map_err(io)? {
        let mut e = entry.map_err(io)?;
        let mut header = e.header().clone();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).map_err(io)?;
        let path = e.path().map_err(io)?.into_owned();
        header.set_mtime(0);
        out.append_data(&mut header, path, &data[..]).map_err(io)?;
    }
    let meta = serde_json::to_vec_pretty(props).map_err(|e| model_err(label, e))?;
    let mut h = tar::Header::new_gnu();
    h.set_size(meta.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    out.append_data(&mut h, "nyquist.json", &meta[..])
        .map_err(io)?;
    out.into_inner().and_then(|gz| gz.finish()).map_err(io)
}

/// tract's NNEF framework with its ONNX operator extensions.
fn nnef_framework() -> tract_nnef::framework::Nnef {
    tract_nnef::nnef().with_onnx()
}
