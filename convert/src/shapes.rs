//! Tensor shapes from tract's shape inference, keyed by ONNX tensor name.

use std::collections::HashMap;

use prost::Message;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;
use tract_onnx::tract_hir::internal::DimLike;

use crate::error::ConvertError;

/// Infer the concrete shape of every tensor of an (inlined) ONNX model for the
/// given input shape. Tensors whose shape tract cannot make concrete are absent.
pub fn infer(
    model_bytes: &[u8],
    input_shape: &[usize],
) -> Result<HashMap<String, Vec<usize>>, ConvertError> {
    nyquist_runtime::engine::catch_tract(std::path::Path::new("<shape inference>"), || {
        Ok(infer_unguarded(model_bytes, input_shape))
    })
    .map_err(ConvertError::Runtime)?
}

fn infer_unguarded(
    model_bytes: &[u8],
    input_shape: &[usize],
) -> Result<HashMap<String, Vec<usize>>, ConvertError> {
    let tract_err = |e: TractError| ConvertError::Tract {
        what: "shape inference",
        source: e.into(),
    };
    let proto =
        tract_onnx::pb::ModelProto::decode(model_bytes).map_err(|e| ConvertError::Tract {
            what: "shape inference: decoding the model",
            source: Box::new(e),
        })?;
    let parsed = tract_onnx::onnx().parse(&proto, None).map_err(tract_err)?;
    let mut model = parsed
        .model
        .with_input_fact(0, f32::fact(input_shape).into())
        .map_err(tract_err)?;
    model.analyse(false).map_err(tract_err)?;
    let mut out = HashMap::new();
    for (name, outlet) in parsed.outlets_by_name {
        let Ok(fact) = model.outlet_fact(outlet) else {
            continue;
        };
        if let Some(dims) = fact.shape.concretize() {
            if let Some(d) = dims
                .iter()
                .map(|d| d.to_usize().ok())
                .collect::<Option<Vec<usize>>>()
            {
                out.insert(name, d);
            }
        }
    }
    Ok(out)
}
