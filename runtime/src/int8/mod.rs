//! Integer inference in tract, end to end.
//!
//! An int8 ONNX model — QDQ, as the converter and onnxruntime write it, or
//! the QOperator form — is detected at load (no flag) and lowered so that
//! tract runs it on int8 tensors from the first convolution to the
//! classifier's input:
//!
//! 1. [`qoperator`]: the ONNX rewrite `DQ → op → Q` ⇒ `QLinearConv`,
//!    `QLinearAdd`, `QLinearGlobalAveragePool` (smooth activations already
//!    become tract lookup tables);
//! 2. [`ops`]: the integer add and pooling operators tract lacks, parsed from
//!    onnxruntime's `com.microsoft` contrib operators;
//! 3. [`passes`]: typed-graph passes around tract's optimizer that fuse
//!    per-channel requantization into the int8 matmul kernels;
//! 4. [`im2col`]: a packing operator that writes the int8 matmul's input
//!    panels in one pass (tract's writes the dot-product layout byte by byte);
//! 5. [`depthwise`]: depthwise convolutions (the blurs a converted model
//!    keeps) as one direct integer pass instead of C one-row matmuls.
//!
//! What ran how is visible in `nyquist bench` (int8 vs float matmuls, kernel
//! names) and `nyquist bench --profile`.

pub mod depthwise;
pub mod im2col;
pub mod ops;
pub mod passes;
pub mod qoperator;

#[cfg(test)]
mod tests;

pub use qoperator::Rewritten;

use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::optim::{OptimizerSession, TypedPass};

/// True when the model has int8 operators (QDQ pairs or QOperator nodes).
pub fn is_int8(model: &ModelProto) -> bool {
    qoperator::is_qdq(model)
        || model.graph.as_ref().is_some_and(|g| {
            g.node.iter().any(|n| {
                matches!(
                    n.op_type.as_str(),
                    "QLinearConv" | "QLinearMatMul" | "QLinearAdd" | "QLinearGlobalAveragePool"
                )
            })
        })
}

/// tract's ONNX framework with Nyquist's integer operators registered.
pub fn framework() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    ops::register(&mut onnx);
    onnx
}

/// A graph rewrite offered every node in evaluation order; the first patch
/// it returns is applied (then the pass runs again, until no node matches).
pub(crate) trait NodeRewrite: std::fmt::Debug + Clone + Send + Sync + 'static {
    /// The patch for `node`, if the rewrite applies there.
    fn patch(&self, model: &TypedModel, node: &TypedNode) -> TractResult<Option<TypedModelPatch>>;
}

/// A [`NodeRewrite`] as one of tract's optimizer passes.
#[derive(Debug, Clone)]
pub(crate) struct NodePass<R>(pub R);

impl<R: NodeRewrite> TypedPass for NodePass<R> {
    fn reset(&mut self) -> TractResult<()> {
        Ok(())
    }

    fn next(
        &mut self,
        _session: &mut OptimizerSession,
        model: &TypedModel,
    ) -> TractResult<Option<TypedModelPatch>> {
        for id in model.eval_order()? {
            if let Some(patch) = self.0.patch(model, model.node(id))? {
                return Ok(Some(patch));
            }
        }
        Ok(None)
    }
}

/// Optimize a typed int8 model: tract's optimizer with Nyquist's passes.
pub fn optimize(model: &mut TypedModel) -> TractResult<()> {
    passes::optimize(model)?;
    im2col::replace(model)
}
