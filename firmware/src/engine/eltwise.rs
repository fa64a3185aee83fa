//! Elementwise ops: TFLite's int8 Add and the 256-entry lookup table.

use crate::arith::{multiply_by_quantized_multiplier, requantize};
use crate::kernels::{add_row, code_index, AddRow};

/// The residual Add's parameters.
pub(super) struct AddParams {
    /// Zero points of the two inputs.
    pub zero_points: [i32; 2],
    /// Left shift applied to both inputs (TFLite uses 20).
    pub left_shift: u8,
    /// (multiplier, shift) of input 1, input 2, output.
    pub mult: [[i32; 2]; 3],
    /// Output zero point.
    pub out_zp: i32,
    /// Output clamp.
    pub act: [i8; 2],
}

impl AddParams {
    /// Input `i`'s rescaled value for code `v`: `MBQM((v − z_i) << left_shift)`.
    #[inline]
    fn rescale(&self, i: usize, v: i8) -> i32 {
        multiply_by_quantized_multiplier(
            (v as i32 - self.zero_points[i]) << self.left_shift,
            self.mult[i][0],
            self.mult[i][1],
        )
    }

    #[inline]
    fn out(&self, sum: i32) -> i8 {
        requantize(
            sum,
            self.mult[2][0],
            self.mult[2][1],
            self.out_zp,
            self.act[0],
            self.act[1],
        )
    }
}

/// `y = clamp(z_y + MBQM(MBQM(a') + MBQM(b')))`. Each input's rescale depends on
/// its int8 code alone, so with [`nyquist_nqm::ADD_SCRATCH`] bytes of scratch
/// both are tabulated once (512 evaluations instead of two per element); with
/// less the same function runs per element.
pub(super) fn add(a: &[i8], b: &[i8], y: &mut [i8], p: &AddParams, scratch: &mut [i8]) {
    let (_, tables, _) = bytemuck::pod_align_to_mut::<i8, i32>(scratch);
    let tables = tables
        .get_mut(..512)
        .and_then(|t| <&mut [i32; 512]>::try_from(t).ok());
    match tables {
        Some(t) => {
            for v in i8::MIN..=i8::MAX {
                let k = code_index(v);
                t[k] = p.rescale(0, v);
                t[256 + k] = p.rescale(1, v);
            }
            // The build's Add row kernel, with the output's (uniform)
            // multiplier and shift.
            let q = AddRow {
                tables: t,
                mult: p.mult[2][0],
                shift: p.mult[2][1],
                zero_point: p.out_zp,
                act: p.act,
            };
            add_row(a, b, &q, y);
        }
        None => {
            for ((o, &u), &v) in y.iter_mut().zip(a).zip(b) {
                *o = p.out(p.rescale(0, u).wrapping_add(p.rescale(1, v)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    /// The tabulated and the per-element Add agree on every pair of codes.
    #[test]
    fn tables_equal_per_element() {
        let p = AddParams {
            zero_points: [-3, 7],
            left_shift: 20,
            mult: [
                [1_518_500_250, -1],
                [1_200_000_000, -2],
                [1_900_000_000, -17],
            ],
            out_zp: -5,
            act: [-128, 127],
        };
        let a: Vec<i8> = (0..65536).map(|i| (i % 256) as u8 as i8).collect();
        let b: Vec<i8> = (0..65536).map(|i| (i / 256) as u8 as i8).collect();
        let (mut y1, mut y2) = (vec![0i8; a.len()], vec![0i8; a.len()]);
        let mut scratch = vec![0i8; nyquist_nqm::ADD_SCRATCH];
        add(&a, &b, &mut y1, &p, &mut scratch);
        add(&a, &b, &mut y2, &p, &mut []);
        assert_eq!(y1, y2);
        // Hand-checked corner: both inputs at their zero points give z_y.
        let (za, zb) = (p.zero_points[0] as i8, p.zero_points[1] as i8);
        let mut y = [0i8; 1];
        add(&[za], &[zb], &mut y, &p, &mut scratch);
        assert_eq!(y[0] as i32, p.out_zp);
    }
}
