//! `nyquist.*` metadata: what a model file says about its input, preprocessing and
//! labels. The keys (written by `models/recipe/export.py`, kept by the converter):
//!
//! | key | value |
//! |---|---|
//! | `nyquist.schema` | `1` |
//! | `nyquist.labels` | JSON array of class names in index order |
//! | `nyquist.input.name` | the graph input the image goes to |
//! | `nyquist.input.shape` | `N,C,H,W` |
//! | `nyquist.input.color` | `gray`, `rgb` or `bgr` |
//! | `nyquist.input.geometry` | `pad`, `resize` or `shorter_crop` |
//! | `nyquist.input.resize_shorter` | pixels, for `shorter_crop` |
//! | `nyquist.input.pad_value` | 0–255, for `pad` |
//! | `nyquist.input.mean`, `nyquist.input.std` | per channel, comma separated, on pixels / 255 |

use std::collections::BTreeMap;
use std::path::Path;

use prost::Message;

use crate::error::{Result, RuntimeError};

/// What the runtime knows about a model before running it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelInfo {
    /// All `metadata_props` of the model.
    pub props: BTreeMap<String, String>,
    /// Graph inputs (name, dims; `None` for a symbolic dim).
    pub inputs: Vec<(String, Vec<Option<usize>>)>,
    /// Graph output names.
    pub outputs: Vec<String>,
}

impl ModelInfo {
    /// Read the metadata and I/O signature of an ONNX model file.
    pub fn from_onnx_file(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|io| RuntimeError::Io {
            path: path.into(),
            io,
        })?;
        Self::from_onnx_bytes(&bytes, path)
    }

    /// As [`ModelInfo::from_onnx_file`], from bytes; `path` is for messages.
    pub fn from_onnx_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let proto = tract_onnx::pb::ModelProto::decode(bytes).map_err(|e| RuntimeError::Model {
            path: path.into(),
            what: format!("not an ONNX model ({e})"),
        })?;
        let graph = proto.graph.as_ref().ok_or_else(|| RuntimeError::Model {
            path: path.into(),
            what: "no graph".into(),
        })?;
        let inits: std::collections::HashSet<&str> =
            graph.initializer.iter().map(|t| t.name.as_str()).collect();
        let inputs = graph
            .input
            .iter()
            .filter(|i| !inits.contains(i.name.as_str()))
            .map(|i| {
                let dims = i
                    .r#type
                    .as_ref()
                    .and_then(|t| t.value.as_ref())
                    .map(|tract_onnx::pb::type_proto::Value::TensorType(t)| t)
                    .and_then(|t| t.shape.as_ref())
                    .map(|s| {
                        s.dim
                            .iter()
                            .map(|d| match d.value {
                                Some(
                                    tract_onnx::pb::tensor_shape_proto::dimension::Value::DimValue(
                                        v,
                                    ),
                                ) if v > 0 => Some(v as usize),
                                _ => None,
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                (i.name.clone(), dims)
            })
            .collect();
        Ok(ModelInfo {
            props: proto
                .metadata_props
                .iter()
                .map(|p| (p.key.clone(), p.value.clone()))
                .collect(),
            inputs,
            outputs: graph.output.iter().map(|o| o.name.clone()).collect(),
        })
    }

    /// A property.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.props.get(key).map(String::as_str)
    }

    /// Class labels from `nyquist.labels`, if present and well-formed.
    pub fn labels(&self) -> Result<Option<Vec<String>>> {
        match self.get("nyquist.labels") {
            None => Ok(None),
            Some(s) => serde_json::from_str(s).map(Some).map_err(|e| {
                RuntimeError::Config(format!(
                    "metadata nyquist.labels is not a JSON array of strings: {e}"
                ))
            }),
        }
    }

    /// The input shape: `nyquist.input.shape`, else the graph's first input with a
    /// symbolic batch set to 1.
    pub fn input_shape(&self) -> Result<Vec<usize>> {
        if let Some(s) = self.get("nyquist.input.shape") {
            return parse_list(s, "nyquist.input.shape");
        }
        let (name, dims) = self
            .inputs
            .first()
            .ok_or_else(|| RuntimeError::Config("the model has no input".into()))?;
        dims.iter()
            .enumerate()
            .map(|(i, d)| match (i, d) {
                (_, Some(v)) => Ok(*v),
                (0, None) => Ok(1),
                _ => Err(RuntimeError::Config(format!(
                    "input `{name}` has a symbolic dimension {i}; give the shape with --input-shape"
                ))),
            })
            .collect()
    }
}

/// Parse `"a,b,c"` into numbers.
pub fn parse_list<T: std::str::FromStr>(s: &str, what: &str) -> Result<Vec<T>> {
    s.split(',')
        .map(|p| {
            p.trim().parse::<T>().map_err(|_| {
                RuntimeError::Config(format!(
                    "{what}: `{s}` is not a comma-separated list of numbers"
                ))
            })
        })
        .collect()
}

/// Read labels from a text file (one per line) or a JSON array.
pub fn read_labels(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|io| RuntimeError::Io {
        path: path.into(),
        io,
    })?;
    if text.trim_start().starts_with('[') {
        serde_json::from_str(&text).map_err(|e| {
            RuntimeError::Config(format!(
                "{}: not a JSON array of strings: {e}",
                path.display()
            ))
        })
    } else {
        Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect())
    }
}
