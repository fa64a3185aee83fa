//! The geometry of an ONNX `Conv` (and of the pooling ops that share its attributes).

use super::attr;
use super::pb::NodeProto;

/// Kernel, stride, padding, dilation and groups of a 2-D `Conv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvGeom {
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Vertical and horizontal stride.
    pub strides: [usize; 2],
    /// Pads in ONNX order: top, left, bottom, right.
    pub pads: [usize; 4],
    /// Vertical and horizontal dilation.
    pub dilations: [usize; 2],
    /// Number of groups.
    pub group: usize,
}

impl ConvGeom {
    /// Read the geometry of a 2-D conv or pool node. `weight_dims` (for `Conv`)
    /// supplies the kernel size when `kernel_shape` is absent. Errors name the
    /// attribute that is not 2-D or that this converter cannot handle.
    pub fn of(node: &NodeProto, weight_dims: Option<&[usize]>) -> Result<ConvGeom, String> {
        let auto_pad = attr::string(node, "auto_pad").unwrap_or_else(|| "NOTSET".into());
        if auto_pad != "NOTSET" && auto_pad != "VALID" {
            return Err(format!(
                "auto_pad={auto_pad} (only explicit pads are rewritten)"
            ));
        }
        let two = |name: &str, default: usize| -> Result<[usize; 2], String> {
            match attr::ints(node, name) {
                None => Ok([default; 2]),
                Some(v) if v.len() == 2 && v.iter().all(|&x| x >= 0) => {
                    Ok([v[0] as usize, v[1] as usize])
                }
                Some(v) => Err(format!("{name}={v:?} is not a 2-D value")),
            }
        };
        let kernel = match (attr::ints(node, "kernel_shape"), weight_dims) {
            (Some(_), _) => two("kernel_shape", 1)?,
            (None, Some(w)) if w.len() == 4 => [w[2], w[3]],
            _ => return Err("no kernel_shape and no 4-D weight".into()),
        };
        let pads = match attr::ints(node, "pads") {
            None => [0; 4],
            Some(v) if v.len() == 4 && v.iter().all(|&x| x >= 0) => {
                [v[0] as usize, v[1] as usize, v[2] as usize, v[3] as usize]
            }
            Some(v) => return Err(format!("pads={v:?} is not 2-D")),
        };
        let pads = if auto_pad == "VALID" { [0; 4] } else { pads };
        let group = attr::int(node, "group").unwrap_or(1);
        if group < 1 {
            return Err(format!("group={group}"));
        }
        Ok(ConvGeom {
            kernel,
            strides: two("strides", 1)?,
            pads,
            dilations: two("dilations", 1)?,
            group: group as usize,
        })
    }

    /// Output size along axis `a` (0 = height, 1 = width) for an input of `n`.
    pub fn out_len(&self, a: usize, n: usize) -> usize {
        let eff = self.dilations[a] * (self.kernel[a] - 1) + 1;
        let padded = n + self.pads[a] + self.pads[a + 2];
        if padded < eff {
            0
        } else {
            (padded - eff) / self.strides[a] + 1
        }
    }

    /// The attributes of a `Conv` with this geometry.
    pub fn to_attrs(&self) -> Vec<super::pb::AttributeProto> {
        let i = |v: &[usize]| v.iter().map(|&x| x as i64).collect::<Vec<_>>();
        vec![
            attr::make_ints("dilations", &i(&self.dilations)),
            attr::make_int("group", self.group as i64),
            attr::make_ints("kernel_shape", &i(&self.kernel)),
            attr::make_ints("pads", &i(&self.pads)),
            attr::make_ints("strides", &i(&self.strides)),
        ]
    }

    /// True for a stride-1, dilation-1 conv.
    pub fn is_unit_stride(&self) -> bool {
        self.strides == [1, 1] && self.dilations == [1, 1]
    }
}
