//! The part of the graph one blur decision covers, and which of its output
//! positions are *interior* (their receptive field in the region input reads no
//! padding, so every rewrite is exact there) or on the *border band*.

use serde::Serialize;

/// Receptive-field geometry of a region seen as one composite conv.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Footprint {
    /// Composite stride per axis.
    pub stride: [usize; 2],
    /// Composite leading pad per axis (top, left).
    pub pad_begin: [usize; 2],
    /// Composite kernel extent per axis.
    pub kernel: [usize; 2],
}

impl Footprint {
    /// `Conv(k_c, stride 1, pad p_c) → Blur(k_b, stride s, pad p_b)`:
    /// stride `s`, pad `p_b + p_c`, extent `k_c + k_b − 1` (see `crate::kernel`).
    pub fn conv_then_blur(
        conv_k: [usize; 2],
        conv_pad: [usize; 2],
        blur_k: [usize; 2],
        blur_s: [usize; 2],
        blur_pad: [usize; 2],
    ) -> Self {
        Footprint {
            stride: blur_s,
            pad_begin: [blur_pad[0] + conv_pad[0], blur_pad[1] + conv_pad[1]],
            kernel: [conv_k[0] + blur_k[0] - 1, conv_k[1] + blur_k[1] - 1],
        }
    }

    /// `Blur(k_b, stride s, pad p_u) → Conv(k, stride t, pad p_w)`:
    /// stride `s·t`, pad `s·p_w + p_u`, extent `s·(k−1) + k_b`.
    pub fn blur_then_conv(
        blur_k: [usize; 2],
        blur_s: [usize; 2],
        blur_pad: [usize; 2],
        conv_k: [usize; 2],
        conv_s: [usize; 2],
        conv_pad: [usize; 2],
    ) -> Self {
        let f = |a: usize| Axis {
            stride: blur_s[a] * conv_s[a],
            pad: blur_s[a] * conv_pad[a] + blur_pad[a],
            kernel: blur_s[a] * (conv_k[a] - 1) + blur_k[a],
        };
        let (h, w) = (f(0), f(1));
        Footprint {
            stride: [h.stride, w.stride],
            pad_begin: [h.pad, w.pad],
            kernel: [h.kernel, w.kernel],
        }
    }

    /// True if output index `i` along axis `a` reads only real input samples of an
    /// input of length `n`.
    pub(crate) fn is_interior(&self, a: usize, i: usize, n: usize) -> bool {
        let start = (self.stride[a] * i) as isize - self.pad_begin[a] as isize;
        start >= 0 && start as usize + self.kernel[a] <= n
    }

    /// Interior mask over an `out_h × out_w` output for an `in_h × in_w` input.
    pub(crate) fn interior_mask(&self, input_hw: [usize; 2], output_hw: [usize; 2]) -> Vec<bool> {
        let rows: Vec<bool> = (0..output_hw[0])
            .map(|i| self.is_interior(0, i, input_hw[0]))
            .collect();
        let cols: Vec<bool> = (0..output_hw[1])
            .map(|j| self.is_interior(1, j, input_hw[1]))
            .collect();
        rows.iter()
            .flat_map(|&r| cols.iter().map(move |&c| r && c))
            .collect()
    }
}

struct Axis {
    stride: usize,
    pad: usize,
    kernel: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv3_blur3_stride2_has_a_one_pixel_border_on_32() {
        let f = Footprint::conv_then_blur([3, 3], [1, 1], [3, 3], [2, 2], [1, 1]);
        // start = 2i - 2, extent 5: interior iff 1 <= i and 2i + 3 <= 32.
        let rows: Vec<bool> = (0..16).map(|i| f.is_interior(0, i, 32)).collect();
        assert!(!rows[0] && rows[1] && rows[14] && !rows[15]);
        let mask = f.interior_mask([32, 32], [16, 16]);
        assert_eq!(mask.iter().filter(|&&m| m).count(), 14 * 14);
    }

    #[test]
    fn blur_then_1x1_only_border_of_the_blur_pad() {
        let f = Footprint::blur_then_conv([3, 3], [2, 2], [1, 1], [1, 1], [1, 1], [0, 0]);
        assert_eq!(f.kernel, [3, 3]);
        // Output 0 reads the pad; output 7 reads x[13..16], all real: with stride 2
        // the last window of a 16-sample input never reaches the trailing pad.
        assert!(!f.is_interior(0, 0, 16));
        assert!((1..8).all(|i| f.is_interior(0, i, 16)));
        assert!(
            !f.is_interior(0, 7, 15),
            "on 15 samples the last window reads the pad"
        );
    }
}
