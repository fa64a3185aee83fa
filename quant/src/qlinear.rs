//! The QOperator form for tract and onnxruntime: the QDQ model with every
//! `DequantizeLinear → op → QuantizeLinear` chain replaced by the operator
//! that runs on int8 tensors — `QLinearConv`, onnxruntime's contrib
//! `QLinearAdd` and `QLinearGlobalAveragePool`, data-movement ops on int8.
//!
//! The rewrite itself belongs to the runtime (`nyquist_runtime::int8::qoperator`,
//! which applies it to any int8 model it loads); the converter writes its
//! result as `*.int8.tract.onnx`, so the file on disk is what both engines run.

use prost::Message;

use crate::error::QuantError;
use nyquist_onnx::error::Located as _;
use nyquist_onnx::pb::ModelProto;

pub use nyquist_runtime::int8::Rewritten;

/// The QOperator form of a QDQ model, and what the rewrite made.
pub(crate) fn from_qdq(qdq: &ModelProto) -> Result<(ModelProto, Rewritten), QuantError> {
    let decode_err = |e: prost::DecodeError| QuantError::graph(format!("ONNX re-encoding: {e}"));
    let mut t = tract_onnx::pb::ModelProto::decode(&qdq.encode_to_vec()[..]).map_err(decode_err)?;
    let done = nyquist_runtime::int8::qoperator::rewrite(&mut t);
    let m = ModelProto::decode(&t.encode_to_vec()[..]).map_err(decode_err)?;
    Ok((m, done))
}
