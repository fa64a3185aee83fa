//! Loading and saving ONNX model files, with validation on the way in and atomic
//! writes on the way out.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use prost::Message;

use super::graph::node_label;
use super::pb::{tensor_proto::DataLocation, ModelProto};
use super::tensor::{external_location, Tensor};
use crate::error::OnnxError;

/// Lowest and highest default-domain opset the converter understands.
pub const OPSETS: std::ops::RangeInclusive<i64> = 11..=21;

/// A loaded model and where it came from (for external data and messages).
#[derive(Debug, Clone)]
pub struct Model {
    /// The protobuf.
    pub proto: ModelProto,
    /// The file it was read from.
    pub path: PathBuf,
}

impl Model {
    /// Folder holding the model, against which external data is resolved.
    pub fn base_dir(&self) -> Option<&Path> {
        self.path.parent()
    }

    /// The default-domain opset version.
    pub fn opset(&self) -> i64 {
        default_opset(&self.proto).unwrap_or(0)
    }

    /// A copy of the proto with all external tensors inlined as `raw_data`, so it
    /// can be handed to tract or onnxruntime as bytes.
    pub fn inlined(&self) -> Result<ModelProto, OnnxError> {
        let mut p = self.proto.clone();
        if let Some(g) = p.graph.as_mut() {
            for t in g.initializer.iter_mut() {
                if t.data_location() == DataLocation::External {
                    let name = t.name().to_string();
                    *t = Tensor::from_proto(t, self.base_dir())?.to_proto(&name);
                }
            }
        }
        Ok(p)
    }

    /// Serialized bytes of [`Model::inlined`].
    pub fn inlined_bytes(&self) -> Result<Vec<u8>, OnnxError> {
        Ok(self.inlined()?.encode_to_vec())
    }
}

fn default_opset(p: &ModelProto) -> Option<i64> {
    p.opset_import
        .iter()
        .find(|o| o.domain().is_empty() || o.domain() == "ai.onnx")
        .and_then(|o| o.version)
}

/// Read and validate an ONNX model: it must decode, carry a graph whose every
/// node input and graph output is produced by something, and use a default-domain
/// opset in [`OPSETS`].
pub fn load_model(path: &Path) -> Result<Model, OnnxError> {
    let bytes = std::fs::read(path).map_err(|io| OnnxError::Io {
        path: path.to_path_buf(),
        io,
    })?;
    decode_model(&bytes, path)
}

/// [`load_model`] from bytes already in memory; `path` is used for messages and
/// external data.
pub fn decode_model(bytes: &[u8], path: &Path) -> Result<Model, OnnxError> {
    let invalid = |what: String| OnnxError::Invalid {
        path: path.to_path_buf(),
        what,
    };
    if bytes.is_empty() {
        return Err(invalid("the file is empty".into()));
    }
    let proto = ModelProto::decode(bytes).map_err(|e| {
        invalid(format!(
            "not an ONNX protobuf ({e}); is the file truncated or of another format?"
        ))
    })?;
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| invalid("the model has no graph (truncated file?)".into()))?;
    if graph.node.is_empty() {
        return Err(invalid("the graph has no nodes (truncated file?)".into()));
    }
    if graph.input.is_empty() || graph.output.is_empty() {
        return Err(invalid(
            "the graph has no inputs or no outputs (truncated file?)".into(),
        ));
    }
    match default_opset(&proto) {
        Some(v) if OPSETS.contains(&v) => {}
        Some(v) => {
            return Err(invalid(format!(
                "default-domain opset {v} is not supported (supported: {}..={}); re-export the model with an opset in that range",
                OPSETS.start(),
                OPSETS.end()
            )))
        }
        None => return Err(invalid("no default-domain opset_import".into())),
    }
    for n in &graph.node {
        check_attributes(n).map_err(|what| {
            invalid(format!(
                "node `{}` ({}): {what}",
                node_label(n),
                n.op_type()
            ))
        })?;
    }
    let mut available: HashSet<&str> = graph.input.iter().map(|i| i.name()).collect();
    available.extend(graph.initializer.iter().map(|t| t.name()));
    available.insert("");
    for n in &graph.node {
        if let Some(missing) = n.input.iter().find(|i| !available.contains(i.as_str())) {
            return Err(invalid(format!(
                "node `{}` ({}) reads `{missing}`, which no earlier node, input or initializer provides \
                 (graph not topologically sorted, or file truncated)",
                node_label(n),
                n.op_type()
            )));
        }
        available.extend(n.output.iter().map(String::as_str));
    }
    if let Some(o) = graph.output.iter().find(|o| !available.contains(o.name())) {
        return Err(invalid(format!(
            "graph output `{}` is produced by no node (truncated file?)",
            o.name()
        )));
    }
    Ok(Model {
        proto,
        path: path.to_path_buf(),
    })
}

/// Largest kernel, stride, dilation or pad accepted (no image model comes near).
pub const MAX_WINDOW: i64 = 1 << 16;
/// Largest tensor rank accepted in an axis or permutation attribute.
pub const MAX_RANK: i64 = 16;

/// Bounds on the integer attributes that size what tract builds, checked
/// before tract sees the graph: tract's shape inference allocates by them
/// (a `Transpose` with `perm = [2^63 − 1, …]` made it allocate 8 GiB, found by
/// the mutation test), so a malformed value must be an error here.
fn check_attributes(n: &crate::pb::NodeProto) -> Result<(), String> {
    for a in &n.attribute {
        let vals: Vec<i64> = a.ints.iter().copied().chain(a.i).collect();
        let bad = |lo: i64, hi: i64| vals.iter().find(|&&v| v < lo || v > hi).copied();
        let out_of = match a.name() {
            "kernel_shape" | "strides" | "dilations" => {
                bad(1, MAX_WINDOW).map(|v| (v, 1, MAX_WINDOW))
            }
            "pads" | "output_padding" => bad(0, MAX_WINDOW).map(|v| (v, 0, MAX_WINDOW)),
            "group" => bad(1, MAX_WINDOW).map(|v| (v, 1, MAX_WINDOW)),
            "perm" => bad(0, MAX_RANK - 1).map(|v| (v, 0, MAX_RANK - 1)),
            "axis" | "axes" => bad(-MAX_RANK, MAX_RANK - 1).map(|v| (v, -MAX_RANK, MAX_RANK - 1)),
            _ => None,
        };
        if let Some((v, lo, hi)) = out_of {
            return Err(format!(
                "attribute `{}` = {v} is outside [{lo}, {hi}]",
                a.name()
            ));
        }
        if a.name() == "perm" {
            let mut seen = vals.clone();
            seen.sort_unstable();
            if seen.iter().enumerate().any(|(i, &v)| v != i as i64) {
                return Err(format!("attribute `perm` = {vals:?} is not a permutation"));
            }
        }
    }
    Ok(())
}

/// Write `proto` to `path` atomically (temporary file in the same folder, then
/// rename): a failed run never leaves a half-written model. External data files
/// referenced by the model are copied next to `path` when it goes to another
/// folder than `source_dir`.
pub fn save_model(
    proto: &ModelProto,
    path: &Path,
    source_dir: Option<&Path>,
) -> Result<(), OnnxError> {
    let dir = parent_dir(path);
    if !dir.is_dir() {
        return Err(OnnxError::Output {
            path: path.to_path_buf(),
            what: format!("folder {} does not exist", dir.display()),
        });
    }
    if let (Some(src), Some(g)) = (source_dir, proto.graph.as_ref()) {
        let same = std::fs::canonicalize(src).ok() == std::fs::canonicalize(dir).ok();
        if !same {
            let files: HashSet<String> = g
                .initializer
                .iter()
                .filter(|t| t.data_location() == DataLocation::External)
                .filter_map(|t| external_location(t).map(|l| l.0))
                .collect();
            for f in files {
                let bytes = std::fs::read(src.join(&f)).map_err(|io| OnnxError::Io {
                    path: src.join(&f),
                    io,
                })?;
                write_atomic(&dir.join(&f), &bytes)?;
            }
        }
    }
    write_atomic(path, &proto.encode_to_vec())
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Write bytes to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OnnxError> {
    let out = |what: String| OnnxError::Output {
        path: path.to_path_buf(),
        what,
    };
    let dir = parent_dir(path);
    if !dir.is_dir() {
        return Err(out(format!("folder {} does not exist", dir.display())));
    }
    let file_name = path
        .file_name()
        .ok_or_else(|| out("not a file path".into()))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        out(format!("cannot write: {e}"))
    })?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        out(format!("cannot rename into place: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::{GraphProto, OperatorSetIdProto, ValueInfoProto};

    /// `y = x · fc_w`: one node, one initializer with raw data, opset 13.
    fn sample() -> ModelProto {
        let vi = |n: &str| ValueInfoProto {
            name: Some(n.into()),
            ..Default::default()
        };
        let w = crate::Tensor::f32(vec![4, 3], (0..12).map(|i| i as f32 * 0.5).collect());
        ModelProto {
            ir_version: Some(8),
            opset_import: vec![OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(13),
            }],
            graph: Some(GraphProto {
                name: Some("sample".into()),
                node: vec![crate::attr::node(
                    "MatMul",
                    "fc",
                    &["x", "fc_w"],
                    &["y"],
                    vec![],
                )],
                initializer: vec![w.to_proto("fc_w")],
                input: vec![vi("x")],
                output: vec![vi("y")],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn round_trip_is_byte_identical() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.onnx");
        let mut proto = sample();
        proto
            .metadata_props
            .push(super::super::pb::StringStringEntryProto {
                key: Some("nyquist.labels".into()),
                value: Some("[\"a\"]".into()),
            });
        let bytes = proto.encode_to_vec();
        std::fs::write(&p, &bytes).unwrap();
        let m = load_model(&p).unwrap();
        let out = dir.path().join("o.onnx");
        save_model(&m.proto, &out, m.base_dir()).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), bytes);
    }

    #[test]
    fn truncated_and_foreign_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = sample().encode_to_vec();
        for cut in [0, 1, 17, bytes.len() / 3, bytes.len() / 2, bytes.len() - 7] {
            let p = dir.path().join(format!("cut{cut}.onnx"));
            std::fs::write(&p, &bytes[..cut]).unwrap();
            let e = load_model(&p)
                .expect_err("truncated model must not load")
                .to_string();
            assert!(
                e.contains(&format!("cut{cut}.onnx")),
                "error names the file: {e}"
            );
        }
        let p = dir.path().join("pic.onnx");
        std::fs::write(&p, b"\x89PNG\r\n\x1a\n not a model").unwrap();
        assert!(load_model(&p).is_err());
    }

    #[test]
    fn unsupported_opset_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut proto = sample();
        proto.opset_import[0].version = Some(9);
        let p = dir.path().join("old.onnx");
        std::fs::write(&p, proto.encode_to_vec()).unwrap();
        let e = load_model(&p).unwrap_err().to_string();
        assert!(e.contains("opset 9"), "{e}");
    }

    #[test]
    fn external_data_is_kept_and_copied_next_to_the_output() {
        use super::super::pb::{tensor_proto::DataLocation, StringStringEntryProto};
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        let mut proto = sample();
        let g = proto.graph.as_mut().unwrap();
        // Move the classifier weight to an external file.
        let t = g
            .initializer
            .iter_mut()
            .find(|t| t.name().contains("fc_w"))
            .unwrap();
        let raw = t.raw_data.take().unwrap();
        std::fs::write(src.path().join("weights.bin"), &raw).unwrap();
        t.data_location = Some(DataLocation::External as i32);
        let kv = |k: &str, v: String| StringStringEntryProto {
            key: Some(k.into()),
            value: Some(v),
        };
        t.external_data = vec![
            kv("location", "weights.bin".into()),
            kv("length", raw.len().to_string()),
        ];
        let p = src.path().join("m.onnx");
        std::fs::write(&p, proto.encode_to_vec()).unwrap();
        let m = load_model(&p).unwrap();
        // Inlining for tract reads the file; the proto itself keeps the reference.
        let inlined = m.inlined().unwrap();
        let it = inlined
            .graph
            .unwrap()
            .initializer
            .into_iter()
            .find(|t| t.name().contains("fc_w"))
            .unwrap();
        assert_eq!(it.raw_data.as_deref(), Some(&raw[..]));
        let out = dst.path().join("o.onnx");
        save_model(&m.proto, &out, m.base_dir()).unwrap();
        assert_eq!(std::fs::read(dst.path().join("weights.bin")).unwrap(), raw);
        assert_eq!(std::fs::read(&out).unwrap(), proto.encode_to_vec());
    }

    #[test]
    fn saving_into_a_missing_folder_fails_without_output() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("nope").join("m.onnx");
        let e = save_model(&sample(), &out, None).unwrap_err().to_string();
        assert!(e.contains("does not exist"), "{e}");
        assert!(!out.exists());
    }
}
