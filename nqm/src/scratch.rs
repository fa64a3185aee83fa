//! Scratch the engine needs beside the activations; the encoder sizes the
//! arena with these, the decoder checks a blob against them.

/// Scratch bytes a conv needs: three im2col patches (the engine computes
/// output pixels in triples where it can, interleaving their patches, and
/// in pairs otherwise: `nyquist_firmware::kernels::{dot_3xn, dot_2xn}`);
/// none for a depthwise conv (computed in place) or an unpadded 1×1 conv
/// with one group (a pixel's channels are already a contiguous patch).
pub fn conv_scratch(cin: u16, cout: u16, groups: u16, k: [u8; 2], pad: [u8; 4]) -> usize {
    let depthwise = groups == cin && cout == cin;
    let pointwise = k == [1, 1] && pad == [0; 4] && groups == 1;
    if depthwise || pointwise || groups == 0 {
        0
    } else {
        3 * (cin / groups) as usize * k[0] as usize * k[1] as usize
    }
}

/// Scratch bytes that let a residual Add use two 256-entry rescale tables (one
/// per input, plus alignment) instead of two requantizations per element; with
/// less scratch the engine computes them per element, with the same result.
pub const ADD_SCRATCH: usize = 2 * 256 * 4 + 4;
